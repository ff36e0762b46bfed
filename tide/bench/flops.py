"""Model FLOPs of the student's BD3LM training step, for MFU (model FLOPs utilisation).

A forward of the [x_t ; x_0] layout (T = 2L tokens per row, B rows) costs, in FLOPs
(one multiply-add = 2):

* the decoder's matmuls: 2 · T · B · N_layers, N_layers = every layer matrix's entries
  (q, k, v, o projections and the SwiGLU gate/up/down; norms are not matmuls);
* attention: QKᵀ and AV, 2 · 2 · B · heads · head_dim · T² per layer — the full T × T
  grid, because SDPA with a dense mask computes every score (the BD3LM mask keeps ~40 %;
  flex_attention with a BlockMask skips empty blocks, so its MFU reads low by that much);
* the LM head on the x_t half only (``logits_to_keep``): 2 · B · L · hidden · V.

Backward = 2 × forward, so a training step is 3 × forward. MFU = step FLOPs / seconds /
the GPU's dense peak for the dtype the matmuls run in (bf16 for a bf16 student).
tests/test_bench.py checks the forward and backward against PyTorch's FlopCounterMode.
"""

from __future__ import annotations


def student_step_flops(config, batch: int, length: int) -> dict[str, float]:
    """FLOPs of forward + backward for ``batch`` rows of ``length`` student tokens."""
    h, n_layers = config.hidden_size, config.num_hidden_layers
    heads, kv = config.num_attention_heads, config.num_key_value_heads
    hd = getattr(config, "head_dim", None) or h // heads
    inter, vocab = config.intermediate_size, config.vocab_size
    T = 2 * length
    layer_matrix = h * heads * hd + 2 * h * kv * hd + heads * hd * h + 3 * h * inter
    fwd = {"matmul": 2.0 * batch * T * n_layers * layer_matrix,
           "attention": 4.0 * batch * heads * hd * T * T * n_layers,
           "lm_head": 2.0 * batch * length * h * vocab}
    out = {k: 3 * v for k, v in fwd.items()}
    out["forward"] = sum(fwd.values())
    out["total"] = 3 * out["forward"]
    return out
