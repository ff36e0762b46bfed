"""Models: masks, the BD3LM student, teacher adapters, builders and loaders.

Imports only torch and transformers, so it runs on a GPU machine without the workflow stack.
"""

from tide.models.build import (
    build_dense,
    build_moe,
    load_student,
    load_teacher,
    load_teacher_model,
)
from tide.models.llada2 import LLaDA2MoeConfig, LLaDA2MoeForCausalLM
from tide.models.masks import bd3lm_mask, block_causal_mask, to_model_mask
from tide.models.student import (
    A2DQwen3Config,
    A2DQwen3LMHeadModel,
    bd3lm_logits,
    student_from_causal,
)
from tide.models.teachers import Teacher

__all__ = [
    "A2DQwen3Config", "A2DQwen3LMHeadModel", "LLaDA2MoeConfig", "LLaDA2MoeForCausalLM",
    "Teacher", "bd3lm_logits", "bd3lm_mask", "block_causal_mask", "build_dense", "build_moe",
    "load_student", "load_teacher", "load_teacher_model", "student_from_causal", "to_model_mask",
]
