"""Held-out loss in bits per byte, comparable across tokenizers.

For a masked diffusion model the negative ELBO bounds -log p(response | prompt):
E_t[ w(t) Σ_masked CE ] with w(t) = 1/t (linear schedule). We estimate it on a fixed,
stratified grid of K timesteps with a fixed seed, so the figure is deterministic, and
divide the total (in bits) by the UTF-8 bytes of the supervised text. Different
tokenizers split the same text differently; bytes are what they share.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from tide.distill.noise import diffusion_weight, token_ce


@torch.no_grad()
def bits_per_byte(forward: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
                  batches: list[dict], n_bytes: int, *, mask_id: int, grid: int = 8,
                  seed: int = 0) -> float:
    """Negative-ELBO bits per byte over ``batches`` (dicts with input_ids, labels, valid).

    ``forward(x_t, x_0, key_valid) -> logits [B, L, V]`` is the model's diffusion forward.
    """
    gen = torch.Generator().manual_seed(seed)
    total_nats = 0.0
    for batch in batches:
        x0, labels, valid = batch["input_ids"], batch["labels"], batch["valid"]
        for k in range(grid):
            t = torch.full((x0.shape[0],), (k + 0.5) / grid)
            masked = (torch.rand(x0.shape, generator=gen) < t[:, None]) & (labels != -100)
            logits = forward(x0.masked_fill(masked, mask_id), x0, valid).float()
            ce = token_ce(logits, labels)  # [B, L]
            total_nats += float((ce * masked * diffusion_weight(t)[:, None]).sum()) / grid
    if n_bytes <= 0:
        raise ValueError("bits_per_byte: the held-out set has no supervised bytes")
    return total_nats / math.log(2) / n_bytes
