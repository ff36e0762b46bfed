"""CompDemo: two complementary teacher passes, each revealing the other half as a demo.

docs/method.md §1.2.  Units are tokens (shared-vocabulary pipeline) or aligned chunks (cross
pipeline).  Only the teacher's input changes; the loss formulas do not.
"""

from __future__ import annotations

import torch


def split_masked_units(masked: torch.Tensor, rho: float,
                       generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Split masked units into complementary M_A, M_B (docs/method.md §1.2).

    ``masked`` [B, U] bool.  Each masked unit goes to M_A with probability ``rho``,
    independently.  The draw consumes ``generator``, so successive calls (samples and
    steps) get fresh splits.  Returns (a, b), both [B, U] bool, a | b == masked, a & b == 0,
    and never-masked units in neither.
    """
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"CompDemo ratio rho must be in [0, 1], got {rho}")
    masked = masked.bool()
    u = torch.rand(masked.shape, generator=generator, device=generator.device)  # [B, U]
    a = masked & (u.to(masked.device) < rho)
    b = masked & ~a
    return a, b


def merge_pass_logits(pass1: torch.Tensor, pass2: torch.Tensor,
                      mask_a: torch.Tensor) -> torch.Tensor:
    """Merged teacher logits (docs/method.md §1.2).

    Pass 1 masks only M_B (M_A revealed), pass 2 masks only M_A.  Start from pass 1 and
    overwrite the M_A positions with pass 2, so every scored position is predicted with
    the other half visible.  ``pass1``, ``pass2`` [B, L, V]; ``mask_a`` [B, L] bool.
    """
    return merge_pass_logits_(pass1.clone(), pass2, mask_a)  # [B, L, V]


def merge_pass_logits_(pass1: torch.Tensor, pass2: torch.Tensor,
                       mask_a: torch.Tensor) -> torch.Tensor:
    """:func:`merge_pass_logits` written into ``pass1`` (returned): no third [B, L, V] copy.

    At the paper's shapes a teacher logits tensor is 5–6 GiB in fp32; the caller drops
    ``pass2`` right after. Same values as :func:`merge_pass_logits` (tested). Also for the
    scored rows only: ``pass1``, ``pass2`` [N, V] and ``mask_a`` [N].
    """
    if pass1.shape != pass2.shape or pass1.shape[:-1] != mask_a.shape:
        raise ValueError(f"pass logits {tuple(pass1.shape)} / {tuple(pass2.shape)} and "
                         f"M_A mask {tuple(mask_a.shape)} disagree")
    mask = mask_a.bool()
    pass1[mask] = pass2[mask]
    return pass1


def expand_chunk_split(chunk_split: torch.Tensor, token_to_chunk: torch.Tensor) -> torch.Tensor:
    """Chunk-level split [B, C] -> token positions [B, L] covered by a selected chunk.

    ``token_to_chunk`` [B, L, C] bool (e.g. the teacher-tokens × chunks matrix, §1.3).
    """
    return (token_to_chunk.bool() & chunk_split.bool()[:, None, :]).any(-1)  # [B, L]
