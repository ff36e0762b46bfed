"""Forward noising of the BD3LM student (method.md §1.0, student_and_eval.md §1)."""

from __future__ import annotations

import torch

EPS = 1e-3


def sample_t(batch_size: int, generator: torch.Generator, eps: float = EPS) -> torch.Tensor:
    """One timestep per sequence: t = ε + (1-ε)·u, u ~ U[0,1). Returns [B]."""
    u = torch.rand(batch_size, generator=generator, device=generator.device)
    return eps + (1 - eps) * u


def mask_response(labels: torch.Tensor, t: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mask each supervised token (label != -100) independently with probability t.

    Linear schedule α(t) = 1 - t; the prompt and batch padding are never masked.
    labels [B, L], t [B] -> bool [B, L]. The draw uses ``generator`` (a CPU generator, so a
    run draws the same noise on any device) and the result lives on ``labels``' device.
    """
    u = torch.rand(labels.shape, generator=generator, device=generator.device).to(labels.device)
    return (u < t.to(labels.device)[:, None]) & (labels != -100)


def diffusion_weight(t: torch.Tensor) -> torch.Tensor:
    """w(t) = -α'(t) / (1 - α(t)) = 1 / (t + 1e-6) for the linear schedule."""
    return 1.0 / (t + 1e-6)


def bd3lm_ce(logits: torch.Tensor, targets: torch.Tensor, masked: torch.Tensor,
             t: torch.Tensor, n_tokens: int | torch.Tensor) -> torch.Tensor:
    """CE term Σ_masked w(t)·CE / N (method.md §1.0); N = supervised tokens in the batch.

    logits [B, L, V] (x_t half, no AR shift), targets [B, L], masked bool [B, L], t [B].
    """
    ce = torch.nn.functional.cross_entropy(
        logits.float().transpose(1, 2), targets.clamp_min(0), reduction="none")  # [B, L]
    weighted = ce * masked * diffusion_weight(t)[:, None]
    return weighted.sum() / max(int(n_tokens), 1)
