"""Stand-in checkpoints in the real repositories' formats (tiny sizes, random weights).

Each function writes one repository's files into a directory: ``config.json`` with the
real model type and the fields the workflow reads (vocabulary rows, special ids, auto_map
where the real repository has remote code), ``model.safetensors``, the tokenizer files and
any modelling file. Sizes are tiny except the embedding rows, which keep the real
vocabulary so the special ids are the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tide.rehearsal import tokenizers as T

DIMS = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            head_dim=8, intermediate_size=64)
MARK = {"tide_rehearsal_standin": True}

# The student's modelling file, written here: dllm's a2d-qwen3 is a Qwen3 decoder whose
# layers take the caller's 4-D mask (no causal mask); registered under its own model type.
A2D_QWEN3_MODELING = '''"""a2d-qwen3 (rehearsal stand-in, written for tide): Qwen3 weights, no causal mask."""
import transformers


class A2DQwen3Config(transformers.Qwen3Config):
    model_type = "a2d-qwen3"


class A2DQwen3LMHeadModel(transformers.Qwen3ForCausalLM):
    """Every layer uses the caller's 4-D attention mask (a 4-D mask replaces the causal one)."""

    config_class = A2DQwen3Config
'''
A2D_AUTO_MAP = {"AutoConfig": "modeling_qwen3.A2DQwen3Config",
                "AutoModel": "modeling_qwen3.A2DQwen3LMHeadModel",
                "AutoModelForMaskedLM": "modeling_qwen3.A2DQwen3LMHeadModel"}

# LLaDA2-MoE remote code stand-in. Its imports are those of the published file (transformers
# 4.57 era): under transformers 5 the import of ``is_torch_fx_available`` fails first, as the
# real one does; the workflow loads these weights through the package's native class.
LLADA2_CONFIGURATION = '''"""LLaDA2-MoE configuration (rehearsal stand-in, written for tide)."""
from transformers.configuration_utils import PretrainedConfig


class LLaDA2MoeConfig(PretrainedConfig):
    model_type = "llada2_moe"

    def __init__(self, vocab_size=157184, hidden_size=32, intermediate_size=64,
                 num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 head_dim=None, hidden_act="silu", use_qkv_bias=False, use_qk_norm=True,
                 use_bias=False, rms_norm_eps=1e-6, tie_word_embeddings=False,
                 max_position_embeddings=4096, rope_theta=600000.0, rope_scaling=None,
                 partial_rotary_factor=0.5, num_experts=4, num_shared_experts=1,
                 num_experts_per_tok=2, n_group=2, topk_group=1, routed_scaling_factor=2.5,
                 moe_intermediate_size=16, first_k_dense_replace=1, score_function="sigmoid",
                 moe_router_enable_expert_bias=True, pad_token_id=156892, **kwargs):
        for k, v in list(locals().items()):
            if k not in ("self", "kwargs", "__class__", "pad_token_id", "tie_word_embeddings"):
                setattr(self, k, v)
        self.head_dim = head_dim or hidden_size // num_attention_heads
        super().__init__(pad_token_id=pad_token_id, tie_word_embeddings=tie_word_embeddings,
                         **kwargs)
'''
LLADA2_MODELING = '''"""LLaDA2-MoE modelling (rehearsal stand-in, written for tide).

Imports what the published modeling_llada2_moe.py imports, in its order, so this file
fails under transformers 5 exactly where the real one does (``is_torch_fx_available``).
Mask contract of the published code: the model prepares its 4-D mask itself
(``_prepare_4d_causal_attention_mask[_for_sdpa]``); a caller's 4-D mask must be a 1/0
keep-mask to survive its eager inversion.
"""
import torch
from torch import nn
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_attn_mask_utils import (
    _prepare_4d_causal_attention_mask,
    _prepare_4d_causal_attention_mask_for_sdpa,
)
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
from transformers.modeling_utils import PreTrainedModel
from transformers.utils.import_utils import is_torch_fx_available
from .configuration_llada2_moe import LLaDA2MoeConfig

ROPE_INIT_FUNCTIONS["default"]  # removed in transformers 5, looked up by the real file


class LLaDA2MoeModelLM(PreTrainedModel):
    config_class = LLaDA2MoeConfig
'''
LLADA2_AUTO_MAP = {"AutoConfig": "configuration_llada2_moe.LLaDA2MoeConfig",
                   "AutoModel": "modeling_llada2_moe.LLaDA2MoeModel",
                   "AutoModelForCausalLM": "modeling_llada2_moe.LLaDA2MoeModelLM"}


def _save_tokenizer(tok, out: Path) -> None:
    tok.save_pretrained(out)


def _seeded(seed: int) -> None:
    torch.manual_seed(seed)


def qwen3_causal(out: Path, tok, *, seed: int = 0, vocab_rows: int = T.QWEN3_EMBED_ROWS,
                 extra: dict | None = None, auto_map: dict | None = None,
                 model_type: str | None = None, architectures: list[str] | None = None) -> None:
    """A tiny Qwen3 decoder saved as ``Qwen/Qwen3-0.6B`` is (native, tied embeddings)."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    _seeded(seed)
    cfg = Qwen3Config(vocab_size=vocab_rows, tie_word_embeddings=True, max_position_embeddings=4096,
                      rope_theta=1000000.0, bos_token_id=T.QWEN3_FIRST_SPECIAL,
                      eos_token_id=T.QWEN3_FIRST_SPECIAL + 2, **DIMS)
    Qwen3ForCausalLM(cfg).save_pretrained(out, safe_serialization=True)
    _save_tokenizer(tok, out)
    cfg_path = out / "config.json"
    data = json.loads(cfg_path.read_text())
    data.update(MARK)
    data.update(extra or {})
    if model_type:
        data["model_type"] = model_type
    if architectures:
        data["architectures"] = architectures
    if auto_map:
        data["auto_map"] = auto_map
    cfg_path.write_text(json.dumps(data, indent=2, sort_keys=True))


def a2d_student(out: Path, tok, *, seed: int = 1) -> None:
    """``dllm-hub/Qwen3-0.6B-diffusion-bd3lm-v0.1`` as released: ``a2d-qwen3``, auto_map +
    modelling file, no ``mask_token_id`` and no ``block_size`` in the config."""
    qwen3_causal(out, tok, seed=seed, model_type="a2d-qwen3",
                 architectures=["A2DQwen3LMHeadModel"], auto_map=A2D_AUTO_MAP)
    (out / "modeling_qwen3.py").write_text(A2D_QWEN3_MODELING)


def wedlm(out: Path, tok, *, seed: int = 2) -> None:
    """``tencent/WeDLM-8B-Instruct``: Qwen3-architecture weights [I], own chat template."""
    qwen3_causal(out, tok, seed=seed, extra={"mask_token_id": T.WEDLM_MASK_ID})


def llada2_state_dict(hf_cfg: dict, seed: int) -> dict[str, torch.Tensor]:
    """Random weights under the published LLaDA2-MoE parameter names and shapes."""
    g = torch.Generator().manual_seed(seed)
    h, v, hd = hf_cfg["hidden_size"], hf_cfg["vocab_size"], hf_cfg["head_dim"]
    nh, kv = hf_cfg["num_attention_heads"], hf_cfg["num_key_value_heads"]

    def w(*shape):
        return torch.randn(*shape, generator=g) * 0.02

    sd = {"model.word_embeddings.weight": w(v, h), "model.norm.weight": torch.ones(h),
          "lm_head.weight": w(v, h)}
    for i in range(hf_cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        sd[p + "input_layernorm.weight"] = torch.ones(h)
        sd[p + "post_attention_layernorm.weight"] = torch.ones(h)
        sd[p + "attention.query_key_value.weight"] = w((nh + 2 * kv) * hd, h)
        sd[p + "attention.query_layernorm.weight"] = torch.ones(hd)
        sd[p + "attention.key_layernorm.weight"] = torch.ones(hd)
        sd[p + "attention.dense.weight"] = w(h, nh * hd)
        if i < hf_cfg["first_k_dense_replace"]:
            mlps = {"mlp.": hf_cfg["intermediate_size"]}
        else:
            sd[p + "mlp.gate.weight"] = w(hf_cfg["num_experts"], h)
            sd[p + "mlp.gate.expert_bias"] = torch.zeros(hf_cfg["num_experts"])
            mlps = {f"mlp.experts.{e}.": hf_cfg["moe_intermediate_size"]
                    for e in range(hf_cfg["num_experts"])}
            mlps["mlp.shared_experts."] = (hf_cfg["moe_intermediate_size"]
                                           * hf_cfg["num_shared_experts"])
        for q, inter in mlps.items():
            sd[p + q + "gate_proj.weight"] = w(inter, h)
            sd[p + q + "up_proj.weight"] = w(inter, h)
            sd[p + q + "down_proj.weight"] = w(h, inter)
    return sd


def llada2(out: Path, tok, *, seed: int = 3) -> None:
    """``inclusionAI/LLaDA2.0-mini``: ``llada2_moe`` with auto_map and remote code, MoE,
    own tokenizer (mask 156895, 157184 embedding rows), random weights."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    hf_cfg = {"architectures": ["LLaDA2MoeModelLM"], "auto_map": LLADA2_AUTO_MAP,
           "model_type": "llada2_moe", "vocab_size": T.LLADA2_EMBED_ROWS,
           "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
           "hidden_act": "silu", "use_qkv_bias": False, "use_qk_norm": True, "use_bias": False,
           "rms_norm_eps": 1e-6, "tie_word_embeddings": False, "max_position_embeddings": 4096,
           "rope_theta": 600000.0, "rope_scaling": None, "partial_rotary_factor": 0.5,
           "num_experts": 4, "num_shared_experts": 1, "num_experts_per_tok": 2, "n_group": 2,
           "topk_group": 1, "routed_scaling_factor": 2.5, "moe_intermediate_size": 16,
           "first_k_dense_replace": 1, "score_function": "sigmoid",
           "moe_router_enable_expert_bias": True, "pad_token_id": T.LLADA2_FIRST_SPECIAL,
           "eos_token_id": tok.eos_token_id, "torch_dtype": "bfloat16", **MARK}
    sd = llada2_state_dict(hf_cfg, seed)
    save_file({k: t.contiguous() for k, t in sd.items()}, str(out / "model.safetensors"),
              metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(hf_cfg, indent=2, sort_keys=True))
    (out / "configuration_llada2_moe.py").write_text(LLADA2_CONFIGURATION)
    (out / "modeling_llada2_moe.py").write_text(LLADA2_MODELING)
    _save_tokenizer(tok, out)
