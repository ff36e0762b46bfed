"""TIDAL: the teacher-interpolated target that moves along training progress and timestep.

docs/method.md §1.1.  Code name in the authors' repository: ``taid``.  All losses are computed
in fp32; targets are detached (the student only chases the interpolated target, it never
pulls the target towards itself).
"""

from __future__ import annotations

import math

import torch

SCHEDULES = ("cosine", "linear")
AXIS_MODES = ("both", "training_only", "timestep_only")
WEIGHT_MODES = ("uniform", "midrange")
PROB_EPS = 1e-7  # chunk targets are clamped to [eps, 1 - eps] (docs/method.md §1.1)


def _check(value: str, valid: tuple[str, ...], what: str) -> None:
    if value not in valid:
        raise ValueError(f"unknown TIDAL {what} {value!r}; expected one of {', '.join(valid)}")


def lambda_train(p: float, l_init: float = 0.1, l_max: float = 0.9,
                 schedule: str = "cosine") -> float:
    """Training-progress axis of λ (docs/method.md §1.1).

    cosine: λ_train(p) = l_init + (l_max - l_init)·½(1 - cos πp)
    linear: λ_train(p) = l_init + (l_max - l_init)·p
    ``p`` = global_step / max_steps, clamped to [0, 1] so a resumed or over-long run
    never leaves the [l_init, l_max] range.
    """
    _check(schedule, SCHEDULES, "schedule")
    p = min(max(float(p), 0.0), 1.0)
    ramp = 0.5 * (1.0 - math.cos(math.pi * p)) if schedule == "cosine" else p
    return l_init + (l_max - l_init) * ramp


def tidal_lambda(t: torch.Tensor, p: float, *, l_init: float = 0.1, l_max: float = 0.9,
                 schedule: str = "cosine", axis_mode: str = "both") -> torch.Tensor:
    """Per-sample interpolation weight λ(t, p) (docs/method.md §1.1).

    both:          λ = λ_train(p)·(1 - t)
    training_only: λ = λ_train(p)
    timestep_only: λ = l_max·(1 - t)
    ``t`` [B] mask ratios; returns [B] fp32.
    """
    _check(axis_mode, AXIS_MODES, "axis_mode")
    t = t.float()  # [B]
    lam_p = lambda_train(p, l_init, l_max, schedule)
    if axis_mode == "both":
        return lam_p * (1.0 - t)
    if axis_mode == "training_only":
        return torch.full_like(t, lam_p)
    return l_max * (1.0 - t)


def midrange_weight(t: torch.Tensor, center: float = 0.5, width: float = 0.15) -> torch.Tensor:
    """w_mid(t) = exp(-(t - center)² / (2·width²)) (docs/method.md §1.1); [B] -> [B]."""
    t = t.float()
    return torch.exp(-((t - center) ** 2) / (2.0 * width ** 2))


def timestep_weight(t: torch.Tensor, mode: str = "uniform") -> torch.Tensor:
    """Per-sample loss weight: 1 (``uniform``) or w_mid(t) (``midrange``); [B] -> [B]."""
    _check(mode, WEIGHT_MODES, "weighting mode")
    if mode == "uniform":
        return torch.ones_like(t, dtype=torch.float32)
    return midrange_weight(t)


def tidal_token_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                     lam: torch.Tensor, weight: torch.Tensor,
                     temperature: float) -> torch.Tensor:
    """Token-level TIDAL (docs/method.md §1.1), over masked positions of the shared vocabulary.

    r_n = softmax(((1-λ_n)·s_n + λ_n·u_n) / T)          (detached target)
    loss = T² · (1/N) · Σ_n weight_n · KL(r_n ‖ softmax(s_n / T))
    ``student_logits`` s, ``teacher_logits`` u: [N, V]; ``lam``, ``weight``: [N].
    Division is by N (the number of masked positions), not by Σ weight.
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} must both be [N, V_shared]")
    n = student_logits.shape[0]
    if n == 0:
        return student_logits.sum() * 0.0  # keeps the graph so backward() still works
    s = student_logits.float()  # [N, V]
    u = teacher_logits.float().detach()  # [N, V]
    lam = lam.float().to(s.device)[:, None]  # [N, 1]
    with torch.no_grad():
        target = torch.softmax(((1.0 - lam) * s + lam * u) / temperature, dim=-1)  # [N, V]
    log_q = torch.log_softmax(s / temperature, dim=-1)  # [N, V]
    # KL(r ‖ q) = Σ r log r - Σ r log q; xlogy gives 0·log 0 = 0 for vanishing targets
    kl = torch.special.xlogy(target, target).sum(-1) - (target * log_q).sum(-1)  # [N]
    return (weight.float().to(s.device) * kl).sum() / n * temperature ** 2


def tidal_chunk_loss(p_s: torch.Tensor, p_t: torch.Tensor, lam: torch.Tensor,
                     weight: torch.Tensor) -> torch.Tensor:
    """Chunk-level TIDAL (docs/method.md §1.1), over active chunks.

    m = clamp((1-λ)·p_s + λ·p_t, 1e-7, 1-1e-7)           (detached; probability space)
    loss = mean_c weight_c · BCE(m_c, p_s,c) = mean_c -weight_c·[m log p_s + (1-m) log(1-p_s)]
    ``p_s``, ``p_t``, ``lam``, ``weight``: [C] (p already clamped by ``calm.chunk_probs``).
    No T² factor.
    """
    if p_s.numel() == 0:
        return p_s.sum() * 0.0
    p_s = p_s.float()  # [C]
    p_t = p_t.float().detach()  # [C]
    lam = lam.float().to(p_s.device)  # [C]
    with torch.no_grad():
        mix = (1.0 - lam) * p_s + lam * p_t  # probability space, not logits
        target = mix.clamp(PROB_EPS, 1.0 - PROB_EPS)  # [C]
    bce = -(target * torch.log(p_s) + (1.0 - target) * torch.log1p(-p_s))  # [C]
    return (weight.float().to(p_s.device) * bce).mean()


def tidal_reverse_token_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                             lam: torch.Tensor, weight: torch.Tensor,
                             temperature: float) -> torch.Tensor:
    """Ablation (docs/method.md §4 item 7): TIDAL's interpolated target under a *reverse* KL.

    r_n as in :func:`tidal_token_loss` (detached); loss = T² · (1/N) · Σ_n w_n · KL(q_n ‖ r_n)
    with q = softmax(s/T). The paper reports that TIDAL hurts reverse objectives; this is
    the run that shows it. [I]: the exact form of the authors' ablation is not in their code.
    """
    n = student_logits.shape[0]
    if n == 0:
        return student_logits.sum() * 0.0
    s, u = student_logits.float(), teacher_logits.float().detach()  # [N, V]
    lam = lam.float().to(s.device)[:, None]  # [N, 1]
    with torch.no_grad():
        log_r = torch.log_softmax(((1.0 - lam) * s + lam * u) / temperature, dim=-1)
    log_q = torch.log_softmax(s / temperature, dim=-1)  # [N, V]
    kl = (log_q.exp() * (log_q - log_r)).sum(-1)  # [N]
    return (weight.float().to(s.device) * kl).sum() / n * temperature ** 2


def tidal_reverse_chunk_loss(p_s: torch.Tensor, p_t: torch.Tensor, lam: torch.Tensor,
                             weight: torch.Tensor) -> torch.Tensor:
    """Ablation: Reverse CALM against the TIDAL-mixed chunk target (docs/method.md §4 item 7).

    m = clamp((1-λ)·p_s + λ·p_t, 1e-7, 1-1e-7), detached;
    loss = mean_c w_c · -[p_s log m + (1-p_s) log(1-m)]  (reverse CALM with m for p_t).
    """
    if p_s.numel() == 0:
        return p_s.sum() * 0.0
    p_s = p_s.float()
    with torch.no_grad():
        m = ((1.0 - lam.float()) * p_s + lam.float() * p_t.float()).clamp(1e-7, 1 - 1e-7)
    loss = -(p_s * torch.log(m) + (1.0 - p_s) * torch.log1p(-m))
    return (weight.float() * loss).mean()
