"""CALM / Reverse CALM: binary cross-entropy on aligned-chunk probabilities.

docs/method.md §1.3.  Code name in the authors' repository: ``alm`` / ``reverse_alm``.
Chunk probabilities are products of per-position marginals (all positions are predicted
in parallel from the same noised input), clamped to [1e-7, 1 - 1e-7] in fp32.
"""

from __future__ import annotations

import torch

PROB_EPS = 1e-7


def chunk_logprobs(logits: torch.Tensor, targets: torch.Tensor,
                   token_chunk: torch.Tensor) -> torch.Tensor:
    """lp[b, c] = Σ_{l ∈ chunk c} log_softmax(logits[b, l])[targets[b, l]] (docs/method.md §1.3).

    ``logits`` [B, L, V], ``targets`` [B, L] gold token ids, ``token_chunk`` [B, L, C] bool.
    Returns [B, C] fp32.  Positions outside every chunk contribute nothing, so their
    targets may be anything in [0, V) (e.g. padding).
    """
    if token_chunk.shape[:2] != targets.shape or logits.shape[:2] != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)}, targets {tuple(targets.shape)} and "
                         f"token_chunk {tuple(token_chunk.shape)} disagree on [B, L]")
    logp = torch.log_softmax(logits.float(), dim=-1)  # [B, L, V]
    gold = logp.gather(-1, targets.long().clamp_min(0)[..., None]).squeeze(-1)  # [B, L]
    # masked sum via matmul: [B, 1, L] @ [B, L, C] -> [B, C]
    return torch.bmm(gold[:, None, :], token_chunk.float()).squeeze(1)


def chunk_logprobs_at(logits: torch.Tensor, targets: torch.Tensor, token_chunk: torch.Tensor,
                      at: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """:func:`chunk_logprobs` from the logits of some positions only.

    ``logits`` [N, V] at positions ``at`` = (rows, positions) [N]; the others count 0, so
    a chunk whose tokens are all in ``at`` gets exactly :func:`chunk_logprobs`'s value (the
    chunks scored are those; the rest are not read). Returns [B, C] fp32.
    """
    logp = torch.log_softmax(logits.float(), dim=-1)  # [N, V]
    gold = logp.gather(-1, targets[at].long().clamp_min(0)[:, None]).squeeze(-1)  # [N]
    full = torch.zeros(targets.shape, dtype=gold.dtype, device=gold.device)  # [B, L]
    full[at] = gold
    return torch.bmm(full[:, None, :], token_chunk.float()).squeeze(1)


def chunk_probs(lp: torch.Tensor, temperature: float) -> torch.Tensor:
    """p = clamp(exp(lp / T), 1e-7, 1 - 1e-7) in fp32 (docs/method.md §1.3); any shape."""
    return torch.exp(lp.float() / temperature).clamp(PROB_EPS, 1.0 - PROB_EPS)


def forward_calm_loss(p_s: torch.Tensor, p_t: torch.Tensor) -> torch.Tensor:
    """Forward CALM: mean_c -[p_t log p_s + (1-p_t) log(1-p_s)] over active chunks [C].

    d/dp_s = -p_t/p_s + (1-p_t)/(1-p_s): unbounded as p_s → 0 (docs/method.md §1.3).
    """
    if p_s.numel() == 0:
        return p_s.sum() * 0.0  # keeps the graph so backward() still works
    p_s, p_t = p_s.float(), p_t.float().detach()
    return -(p_t * torch.log(p_s) + (1.0 - p_t) * torch.log1p(-p_s)).mean()


def reverse_calm_loss(p_s: torch.Tensor, p_t: torch.Tensor) -> torch.Tensor:
    """Reverse CALM: mean_c -[p_s log p_t + (1-p_s) log(1-p_t)] over active chunks [C].

    d/dp_s = -log(p_t / (1-p_t)) = -logit(p_t): bounded, teacher-only (docs/method.md §1.3).
    """
    if p_s.numel() == 0:
        return p_s.sum() * 0.0
    p_s, p_t = p_s.float(), p_t.float().detach()
    return -(p_s * torch.log(p_t) + (1.0 - p_s) * torch.log1p(-p_t)).mean()
