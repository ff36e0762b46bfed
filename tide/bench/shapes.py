"""Model shapes the benchmarks build (random weights, from configs, no download).

Three presets, each naming every shape it builds so a figure can always be traced to one:

- ``gpu``: the paper's shapes — Qwen3-0.6B (AR baseline and BD3LM student), WeDLM-8B
  (teacher B, a dense Qwen3-8B-like decoder), LLaDA2.0-mini (teacher A, a 16B MoE with
  ~1.4B active, approximated by a Qwen3-MoE of 256 experts, top 8). bf16.
- ``cpu``: the same families scaled down so a 2-core CPU measures them in minutes; the
  student is the sampler target's stated shape (hidden 512, 8 layers).
- ``quick``: tiny shapes for tests and smoke runs (seconds).
"""

from __future__ import annotations

import torch

from tide.models.build import build_dense, build_moe, init_on
from tide.models.student import student_from_causal

QWEN3_06B = dict(vocab_size=151936, hidden_size=1024, num_hidden_layers=28, num_attention_heads=16,
                 num_key_value_heads=8, head_dim=128, intermediate_size=3072,
                 tie_word_embeddings=True)

CPU_STUDENT = {"name": "scaled student: hidden 512, 8 layers, vocab 4096",
               "vocab_size": 4096, "hidden_size": 512, "num_hidden_layers": 8,
               "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 64,
               "intermediate_size": 1536, "tie_word_embeddings": True}

PRESETS: dict[str, dict[str, dict]] = {
    "gpu": {
        "student": {"name": "Qwen3-0.6B shape", **QWEN3_06B},
        "ar": {"name": "Qwen3-0.6B shape", **QWEN3_06B},
        "teacher_b": {"name": "WeDLM-8B shape (Qwen3-8B dense)", "vocab_size": 151936,
                      "hidden_size": 4096, "num_hidden_layers": 36, "num_attention_heads": 32,
                      "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 12288,
                      "tie_word_embeddings": False},
        "teacher_a": {"name": "LLaDA2.0-mini-like MoE (16B total, 256 experts top-8)",
                      "vocab_size": 157184, "hidden_size": 2048, "num_hidden_layers": 20,
                      "num_attention_heads": 16, "num_key_value_heads": 4, "head_dim": 128,
                      "intermediate_size": 5120, "num_experts": 256, "num_experts_per_tok": 8,
                      "moe_intermediate_size": 512, "tie_word_embeddings": False},
    },
    "cpu": {
        "student": CPU_STUDENT,
        "ar": {**CPU_STUDENT, "name": "scaled AR (= student shape): hidden 512, 8 layers, vocab 4096"},
        "teacher_b": {"name": "scaled WeDLM-like dense: hidden 768, 12 layers, vocab 4096",
                      "vocab_size": 4096, "hidden_size": 768, "num_hidden_layers": 12,
                      "num_attention_heads": 12, "num_key_value_heads": 4, "head_dim": 64,
                      "intermediate_size": 2304, "tie_word_embeddings": True},
        "teacher_a": {"name": "scaled LLaDA2-like MoE: hidden 512, 8 layers, 16 experts top-2",
                      "vocab_size": 4096, "hidden_size": 512, "num_hidden_layers": 8,
                      "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 64,
                      "intermediate_size": 1536, "num_experts": 16, "num_experts_per_tok": 2,
                      "moe_intermediate_size": 768, "tie_word_embeddings": True},
    },
    "quick": {
        "student": {"name": "tiny: hidden 64, 2 layers, vocab 256", "vocab_size": 256,
                    "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                    "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 128,
                    "tie_word_embeddings": True},
        "ar": {"name": "tiny AR: hidden 64, 2 layers, vocab 256", "vocab_size": 256,
               "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
               "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 128,
               "tie_word_embeddings": True},
        "teacher_b": {"name": "tiny dense: hidden 96, 2 layers, vocab 256", "vocab_size": 256,
                      "hidden_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
                      "num_key_value_heads": 2, "head_dim": 24, "intermediate_size": 192,
                      "tie_word_embeddings": True},
        "teacher_a": {"name": "tiny MoE: hidden 64, 2 layers, 4 experts top-2", "vocab_size": 256,
                      "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                      "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 128,
                      "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 64,
                      "tie_word_embeddings": True},
    },
}


def build(preset: str, model_id: str, *, device: torch.device, dtype: torch.dtype,
          attn_implementation: str = "sdpa", seed: int = 0, max_positions: int = 4096):
    """A random-weight model of ``PRESETS[preset][model_id]``, eval mode, on ``device``.

    Built by the workflow's own factory (tide.models.build): ``ar`` and ``teacher_b`` dense
    Qwen3 decoders, ``teacher_a`` a Qwen3-MoE, ``student`` a dense decoder converted to
    ``a2d-qwen3`` (mask id = last vocabulary id), as the workflow makes its student.
    """
    spec = dict(PRESETS[preset][model_id])
    spec.pop("name")
    vocab = spec.pop("vocab_size")
    kw = dict(max_positions=max_positions, attn_implementation=attn_implementation, seed=seed,
              pad_token_id=0, eos_token_id=1, bos_token_id=None)
    with init_on(device, dtype):
        model = (build_moe if "num_experts" in spec else build_dense)(vocab, spec, **kw)
        if model_id == "student":
            model = student_from_causal(model, block_size=32, mask_token_id=vocab - 1,
                                        attn_implementation=attn_implementation)
    return model.to(dtype).eval()


def shape_name(preset: str, model_id: str) -> str:
    return PRESETS[preset][model_id]["name"]
