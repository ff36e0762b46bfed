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


# ------------------------------------------------------------------ per example, with intervals
# The held-out table (tide.heldout_eval, tide.report.heldout) needs each figure per held-out
# example, so that intervals can be taken over examples and two models compared pairwise on
# the same examples and the same noise.


def grid_masks(labels: torch.Tensor, grid: int, gen: torch.Generator):
    """Yield (t [B], masked [B, L]) for the K grid timesteps t_k = (k + 0.5)/K of one batch.

    The masks are drawn from ``gen`` in a fixed order, so every model scored with the same
    seed sees exactly the same noised inputs (paired comparisons).
    """
    for k in range(grid):
        t = torch.full((labels.shape[0],), (k + 0.5) / grid)
        yield t, (torch.rand(labels.shape, generator=gen) < t[:, None]) & (labels != -100)


@torch.no_grad()
def nll_per_example(forward: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
                    batches: list[dict], *, mask_id: int, grid: int = 8,
                    seed: int = 0) -> list[float]:
    """Negative ELBO in nats of each example: (1/K) Σ_k w(t_k) Σ_masked CE (same noise as
    :func:`bits_per_byte`; its total divided by ln 2 and the bytes is that figure)."""
    gen = torch.Generator().manual_seed(seed)
    out: list[float] = []
    for batch in batches:
        x0, labels, valid = batch["input_ids"], batch["labels"], batch["valid"]
        per = torch.zeros(x0.shape[0], dtype=torch.float64)
        for t, masked in grid_masks(labels, grid, gen):
            logits = forward(x0.masked_fill(masked, mask_id), x0, valid).float()
            ce = torch.nn.functional.cross_entropy(
                logits.transpose(1, 2), labels.clamp_min(0), reduction="none")  # [B, L]
            per += (ce * masked * diffusion_weight(t)[:, None]).sum(1).double() / grid
        out += per.tolist()
    return out


def token_kl_rows(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """KL(p_teacher ‖ p_student) per row at temperature 1, logits [N, V] -> [N] nats."""
    log_p = torch.log_softmax(teacher_logits.float(), -1)
    log_q = torch.log_softmax(student_logits.float(), -1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def binary_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(Bern(p) ‖ Bern(q)) = p log(p/q) + (1-p) log((1-p)/(1-q)), elementwise, nats."""
    p, q = p.double(), q.double()
    return p * (p.log() - q.log()) + (1 - p) * (torch.log1p(-p) - torch.log1p(-q))


def ratio(num, den) -> float:
    """Σ num / Σ den (a ratio of sums: bits per byte, nats per masked token)."""
    d = float(sum(den))
    return float(sum(num)) / d if d > 0 else float("nan")


def bootstrap_ratio(num, den, *, other=None, n_boot: int = 2000, seed: int = 0,
                    level: float = 0.95) -> tuple[float, float, float]:
    """(point, lo, hi): Σnum/Σden and its percentile bootstrap interval over examples.

    With ``other`` = (num2, den2) on the same examples, the figure is the paired difference
    Σnum/Σden − Σnum2/Σden2, resampling the examples jointly (same noise, same examples).
    """
    num_t = torch.tensor(num, dtype=torch.float64)
    den_t = torch.tensor(den, dtype=torch.float64)
    n = num_t.numel()
    if n == 0 or den_t.shape != num_t.shape:
        raise ValueError(f"bootstrap_ratio: expected equal, non-empty per-example lists, found "
                         f"{n} and {den_t.numel()}")

    def stat(idx):
        s = num_t[idx].sum(-1) / den_t[idx].sum(-1)
        if other is not None:
            s = s - other_num[idx].sum(-1) / other_den[idx].sum(-1)
        return s

    if other is not None:
        other_num = torch.tensor(other[0], dtype=torch.float64)
        other_den = torch.tensor(other[1], dtype=torch.float64)
        if other_num.numel() != n:
            raise ValueError(f"bootstrap_ratio: paired lists differ in length ({n} vs "
                             f"{other_num.numel()}); score both on the same held-out examples")
    point = float(stat(torch.arange(n)))
    gen = torch.Generator().manual_seed(seed)
    boots = stat(torch.randint(0, n, (n_boot, n), generator=gen))
    lo, hi = torch.quantile(boots, torch.tensor([(1 - level) / 2, (1 + level) / 2],
                                                dtype=torch.float64)).tolist()
    return point, lo, hi
