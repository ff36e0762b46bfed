"""The BD3LM Monte-Carlo likelihood log p(continuation | context) (docs/method.md §E3).

Not in dllm (its harness is generative only): x_0 = context + continuation in blocks
aligned at 0; per pass of b Monte-Carlo rows, k ~ U{1..M} and row i masks exactly
c_i = ((round(k + i·M/b) − 1) mod M) + 1 random continuation tokens (LLaDA's stratified
counts); the training [x_t ; x_0] forward scores Σ_masked CE · M/c_i per row; the estimate
is −(mean over rows). A one-token continuation is exact, so it runs a single row.

:func:`draw_rows` is the one place the rows are drawn: the evaluation's estimator
(:func:`bd3lm_loglikelihood`, used by ``tide_bd3lm``) and the bench's batched fast paths
(tide/bench/likelihood.py) consume a request's generator through it, so they score the same
masks. Imports only torch and the student's forward.
"""

from __future__ import annotations

import torch

from tide.distill.noise import token_ce
from tide.models.student import bd3lm_logits

Row = tuple[list[int], list[int], float]  # (x_0 ids, masked positions, weight M/c)


def stratified_mask_counts(k: int, length: int, rows: int) -> torch.Tensor:
    """c_i = ((round(k + i·M/b) − 1) mod M) + 1 for i < b (LLaDA ``_forward_process``)."""
    x = torch.round(torch.linspace(float(k), k + (rows - 1) * (length / rows), steps=rows)).long()
    return ((x - 1) % length) + 1


def mc_shape(length: int, mc_num: int, mc_batch_size: int) -> tuple[int, int]:
    """(passes, rows per pass): ``mc_num`` rows in passes of ``mc_batch_size``; (1, 1) when
    the continuation has one token (exact)."""
    if length == 0:
        raise ValueError("loglikelihood: the continuation encodes to zero tokens")
    if mc_num % mc_batch_size:
        raise ValueError(f"loglikelihood: mc_num ({mc_num}) must be a multiple of "
                         f"mc_batch_size ({mc_batch_size})")
    return (1, 1) if length == 1 else (mc_num // mc_batch_size, mc_batch_size)


def draw_rows(context: list[int], continuation: list[int], *, mc_num: int, mc_batch_size: int,
              generator: torch.Generator) -> list[Row]:
    """All Monte-Carlo rows of one request, pass by pass: per pass one k, then per row a
    random permutation of the continuation whose first c_i positions are masked."""
    M, P = len(continuation), len(context)
    passes, rows = mc_shape(M, mc_num, mc_batch_size)
    out = []
    for _ in range(passes):
        k = int(torch.randint(1, M + 1, (), generator=generator))
        for c in stratified_mask_counts(k, M, rows).tolist():
            pos = (P + torch.randperm(M, generator=generator)[:c]).tolist()
            out.append((context + continuation, pos, M / c))
    return out


@torch.no_grad()
def bd3lm_loglikelihood(model, context: list[int], continuation: list[int], *, mask_id: int,
                        block_size: int, mc_num: int, mc_batch_size: int,
                        generator: torch.Generator) -> float:
    """The evaluation's estimator: one request, one forward of ``mc_batch_size`` rows per pass.

    Returns −(Σ over rows of Σ_masked CE · M/c_i) / rows.
    """
    device = next(model.parameters()).device
    _, per_pass = mc_shape(len(continuation), mc_num, mc_batch_size)
    rows = draw_rows(context, continuation, mc_num=mc_num, mc_batch_size=mc_batch_size,
                     generator=generator)
    x0 = torch.tensor(context + continuation, dtype=torch.long, device=device)[None]  # [1, L]
    total = 0.0
    for start in range(0, len(rows), per_pass):
        chunk = rows[start:start + per_pass]
        masked = torch.zeros(len(chunk), x0.shape[1], dtype=torch.bool)
        for i, (_, pos, _) in enumerate(chunk):
            masked[i, pos] = True
        masked = masked.to(device)
        x0_b = x0.expand(len(chunk), -1)
        x_t = torch.where(masked, torch.full_like(x0_b, mask_id), x0_b)
        logits = bd3lm_logits(model, x_t, x0_b, block_size)  # [b, L, V]
        ce = token_ce(logits, x0_b)  # [b, L]
        counts = torch.tensor([len(pos) for _, pos, _ in chunk], dtype=torch.float64)
        weight = (len(continuation) / counts.to(device))[:, None]  # M/c_i as a tensor op
        total += float(((ce.double() * masked) * weight).sum())
    return -total / len(rows)
