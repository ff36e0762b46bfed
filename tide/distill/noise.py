"""Forward noising of the BD3LM student and its diffusion loss (docs/method.md §1.0,
docs/method.md §E1)."""

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


def token_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """CE_i = −log softmax(logits_i)[targets_i] per position, in fp32 (no AR shift).

    logits [B, L, V], targets [B, L] (−100 read as id 0: callers mask those out) -> [B, L].
    The one cross-entropy of every diffusion loss and likelihood in the package.
    """
    return torch.nn.functional.cross_entropy(
        logits.float().transpose(1, 2), targets.clamp_min(0), reduction="none")


def bd3lm_ce(logits: torch.Tensor, targets: torch.Tensor, masked: torch.Tensor,
             t: torch.Tensor, n_tokens: int | torch.Tensor) -> torch.Tensor:
    """CE term Σ_masked w(t)·CE / N (docs/method.md §1.0); N = supervised tokens in the batch.

    logits [B, L, V] (x_t half, no AR shift), targets [B, L], masked bool [B, L], t [B].
    """
    ce = token_ce(logits, targets)  # [B, L]
    weighted = ce * masked * diffusion_weight(t)[:, None]
    return weighted.sum() / max(int(n_tokens), 1)


def diffusion_loss(forward, mask_id: int):
    """The BD3LM/MDLM training loss (SFT of the student, tiny teachers) around a diffusion
    forward ``(model, x_t, x_0, valid) -> logits [B, L, V]``, as a ``tide.train`` loss_fn.

    1. one t per sequence, 2. mask supervised tokens with probability t, 3. forward,
    4. Σ_masked w(t)·CE / N_supervised (:func:`bd3lm_ce`).
    """

    def loss_fn(model, batch, _progress, gen):
        x0, labels = batch["input_ids"], batch["labels"]  # [B, L]
        t = sample_t(x0.shape[0], gen).to(x0.device)  # [B] (drawn on the CPU generator)
        masked = mask_response(labels, t, gen)  # [B, L]
        logits = forward(model, x0.masked_fill(masked, mask_id), x0, batch["valid"])
        ce = bd3lm_ce(logits, labels, masked, t, (labels != -100).sum())
        return ce, {"loss": float(ce.detach()), "ce": float(ce.detach())}

    return loss_fn


def student_forward(block_size: int):
    """The student's diffusion forward for :func:`diffusion_loss` (its mask needs no padding
    term: padding is never a query that is scored)."""
    from tide.models.student import bd3lm_logits

    return lambda m, xt, x0, _valid: bd3lm_logits(m, xt, x0, block_size)
