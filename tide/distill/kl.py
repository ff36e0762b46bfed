"""Token-level KL baselines (docs/method.md §2: ``kl_aligned``, ``reverse_kl_aligned``).

Inputs are [N, V] logits already restricted to the scored (masked, aligned) positions and
sliced to the shared vocabulary; maths in fp32; the teacher side never gets gradients.
"""

from __future__ import annotations

import torch


def select_masked(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Rows of ``logits`` [B, L, V] at ``mask`` [B, L] positions -> [N, V], row-major order.

    Only masked positions are scored (docs/method.md §1.1/§1.2: never-masked positions,
    prompt included, are never scored).
    """
    if logits.shape[:2] != mask.shape:
        raise ValueError(f"mask {tuple(mask.shape)} must match logits[:2] {tuple(logits.shape[:2])}")
    return logits[mask.bool()]  # [N, V]


def _check_pair(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> None:
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} must both be [N, V_shared]")


def _kl_rows(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p ‖ q) per row from log-probabilities [N, V] -> [N]."""
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def forward_kl_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                    temperature: float) -> torch.Tensor:
    """Forward KL (mode covering): T² · mean_n KL(softmax(u_n/T) ‖ softmax(s_n/T)).

    s = student logits, u = teacher logits, both [N, V] (docs/method.md §2, ``kl``).
    """
    _check_pair(student_logits, teacher_logits)
    if student_logits.shape[0] == 0:
        return student_logits.sum() * 0.0  # keeps the graph so backward() still works
    log_q = torch.log_softmax(student_logits.float() / temperature, dim=-1)  # [N, V]
    log_p = torch.log_softmax(teacher_logits.float().detach() / temperature, dim=-1)  # [N, V]
    return _kl_rows(log_p, log_q).mean() * temperature ** 2


def reverse_kl_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                    temperature: float) -> torch.Tensor:
    """Reverse KL (mode seeking): T² · mean_n KL(softmax(s_n/T) ‖ softmax(u_n/T)).

    s = student logits, u = teacher logits, both [N, V] (docs/method.md §2, ``reverse_kl``).
    """
    _check_pair(student_logits, teacher_logits)
    if student_logits.shape[0] == 0:
        return student_logits.sum() * 0.0
    log_q = torch.log_softmax(student_logits.float() / temperature, dim=-1)  # [N, V]
    log_p = torch.log_softmax(teacher_logits.float().detach() / temperature, dim=-1)  # [N, V]
    return _kl_rows(log_q, log_p).mean() * temperature ** 2
