"""Attention masks for the BD3LM student, the sampler and both teachers.

All builders return a boolean tensor where True means "query may attend to key".
``to_model_mask`` turns it into what a transformers attention implementation expects,
because the implementations disagree: ``sdpa`` takes a boolean mask, ``eager`` *adds*
the mask to the scores, so a boolean mask there is silently wrong (notes/probes.md).
Flex attention needs a BlockMask, not a dense tensor; it is not allowed on this path.
"""

from __future__ import annotations

import torch

#: attention implementations whose mask handling is tested behaviourally (tests/test_masks.py)
ALLOWED_ATTN_IMPLEMENTATIONS = ("sdpa", "eager")


def bd3lm_mask(length: int, block_size: int, *, xt_first: bool = True,
               device: torch.device | str | None = None) -> torch.Tensor:
    """BD3LM mask over a concatenated [x_t ; x_0] (or [x_0 ; x_t]) sequence of 2L tokens.

    docs/method.md §E1: with h = "is clean x_0", b = block index inside its half,
    allowed(q, k) = [same half ∧ b(q) = b(k)] ∨ [q in x_t ∧ k in x_0 ∧ b(k) < b(q)]
                    ∨ [q in x_0 ∧ k in x_0 ∧ b(k) ≤ b(q)].
    x_t sees its own block bidirectionally and clean earlier blocks; x_0 is block-causal.
    ``xt_first=False`` gives the teacher layout [x_0 ; x_t] (docs/method.md §1.4, `x0_xt`).
    Returns bool [2L, 2L].
    """
    idx = torch.arange(2 * length, device=device)
    first_half = idx < length
    is_x0 = ~first_half if xt_first else first_half  # [2L]
    blk = (idx % length) // block_size  # [2L] block index inside its own half
    q_x0, k_x0 = is_x0[:, None], is_x0[None, :]
    q_b, k_b = blk[:, None], blk[None, :]
    same_block_same_half = (q_x0 == k_x0) & (q_b == k_b)
    xt_to_clean_past = ~q_x0 & k_x0 & (k_b < q_b)
    clean_block_causal = q_x0 & k_x0 & (k_b <= q_b)
    return same_block_same_half | xt_to_clean_past | clean_block_causal


def with_key_padding(mask: torch.Tensor, key_valid: torch.Tensor) -> torch.Tensor:
    """Combine a [Q, K] (or [B, Q, K]) mask with a [B, K] key-validity mask -> [B, 1, Q, K].

    Padding rows (queries) keep at least their own position visible, so softmax never sees
    an all-masked row (docs/method.md §7: -inf rows give NaN).
    """
    if mask.dim() == 2:
        mask = mask.unsqueeze(0)
    out = mask & key_valid[:, None, :].bool()  # [B, Q, K]
    q = out.shape[-2]
    if q == out.shape[-1]:
        eye = torch.eye(q, dtype=torch.bool, device=out.device)
        out = out | (eye & ~out.any(-1, keepdim=True))
    return out.unsqueeze(1)


def bidirectional_mask(key_valid: torch.Tensor) -> torch.Tensor:
    """Full bidirectional attention that blocks only padding (LLaDA2 teacher, §1.4). [B,1,L,L]."""
    length = key_valid.shape[1]
    full = torch.ones(length, length, dtype=torch.bool, device=key_valid.device)
    return with_key_padding(full, key_valid)


def block_causal_mask(block_ids: torch.Tensor, key_valid: torch.Tensor) -> torch.Tensor:
    """Sampler mask (docs/method.md §E2.3a): allowed(q,k) ⇔ bid(k) ≤ bid(q), pads excluded.

    ``block_ids`` [B, L] physical block index of each position; returns [B, 1, L, L].
    """
    allowed = block_ids[:, None, :] <= block_ids[:, :, None]  # [B, Q, K]
    return with_key_padding(allowed, key_valid)


def to_model_mask(mask: torch.Tensor, attn_implementation: str, dtype: torch.dtype) -> torch.Tensor:
    """Turn a boolean [B|1, 1, Q, K] mask into what a transformers decoder expects.

    transformers returns an already prepared 4-D mask as-is instead of building its causal
    mask, so this overrides causality exactly as the authors' dict mask does for WeDLM
    (docs/method.md §1.4); a 4-D tensor also works for models (Qwen3-MoE) that take no dict.
    """
    if mask.dim() == 2:
        mask = mask[None, None]
    if attn_implementation == "sdpa":
        m = mask
    elif attn_implementation == "eager":
        # eager adds the mask to the scores: use 0 / a large finite negative, never a bool
        m = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
        m.masked_fill_(~mask, torch.finfo(dtype).min)
    else:
        raise ValueError(
            f"attn_implementation: expected one of {ALLOWED_ATTN_IMPLEMENTATIONS}, "
            f"found {attn_implementation!r}"
        )
    return m
