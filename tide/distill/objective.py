"""Loss assembly per variant: total = CE_BD3LM + weight × distillation term (docs/method.md §2).

One table maps each objective to its pieces; ``distill_loss`` follows numbered steps:
1. sample t and the student mask (chunk-consistent in pipeline A),
2. student forward on [x_t ; x_0],
3. CE term,
4. teacher logits (one pass, or two complementary CompDemo passes merged),
5. the distillation term over masked units (tokens in B, active chunks in A).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, ContextManager

import torch

from tide.distill import calm, compdemo, kl, scored, tidal
from tide.distill.noise import bd3lm_ce, mask_response, sample_t
from tide.distill.spec import RunSpec
from tide.models.student import bd3lm_logits


@dataclass(frozen=True)
class Objective:
    level: str  # "token" (pipeline B) | "chunk" (pipeline A)
    uses_tidal: bool
    uses_teacher: bool = True  # False: the teacher-free control (CE term only)


OBJECTIVES = {
    "kl": Objective("token", False),
    "reverse_kl": Objective("token", False),
    "tidal": Objective("token", True),
    "calm": Objective("chunk", False),
    "reverse_calm": Objective("chunk", False),
    "tidal_chunk": Objective("chunk", True),
    # ablation (docs/method.md §4 item 7): TIDAL applied to the reverse objectives
    "tidal_reverse_kl": Objective("token", True),
    "tidal_reverse_calm": Objective("chunk", True),
    # teacher-free controls: the CE term alone, with the same noise draws as the runs of
    # their pipeline (B: token masks; A: chunk-consistent masks), so a distilled student can
    # be told apart from a student that only trained longer
    "ce_only": Objective("token", False, uses_teacher=False),
    "ce_only_chunk": Objective("chunk", False, uses_teacher=False),
}


@dataclass
class DistillContext:
    """What the loss needs besides the batch."""

    student: torch.nn.Module
    teacher: object  # tide.models.Teacher
    run: RunSpec
    student_mask_id: int
    shared_vocab_size: int | None  # pipeline B: V_sh
    block_size: int
    # train.teacher_lm_head: "scored" = teacher logits only where the term reads them
    teacher_scored_only: bool = False
    #: context around every teacher call (the bench times the teacher with it)
    teacher_timer: Callable[[], ContextManager] = contextlib.nullcontext


def _teacher_pass(ctx: DistillContext, batch: dict, t_masked: torch.Tensor) -> torch.Tensor:
    """One teacher forward with ``t_masked`` [B, Lt] positions replaced by its own mask id."""
    clean = batch["teacher_ids"]
    noised = clean.masked_fill(t_masked, ctx.teacher.mask_token_id)
    return ctx.teacher.logits(noised, clean, key_valid=batch["teacher_valid"])


def teacher_logits(ctx: DistillContext, batch: dict, units_masked: torch.Tensor,
                   unit_to_teacher: callable, generator: torch.Generator,
                   at: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Teacher logits [B, Lt, Vt]; with CompDemo, two complementary passes merged (§1.2).

    ``units_masked`` [B, U] marks masked units (tokens or chunks); ``unit_to_teacher``
    maps a unit mask to teacher positions [B, Lt]. ``at`` = (rows, positions) [N]: only
    those teacher positions' logits, [N, Vt] (tide/distill/scored.py). Runs inside
    ``ctx.teacher_timer()`` (the bench's clock).
    """
    with ctx.teacher_timer():
        return _teacher_logits(ctx, batch, units_masked, unit_to_teacher, generator, at)


def _teacher_logits(ctx, batch, units_masked, unit_to_teacher, generator, at):
    scope = contextlib.nullcontext() if at is None else \
        scored.lm_head_rows(ctx.teacher.model, *at, batch["teacher_ids"].shape[1])
    with scope:
        if not ctx.run.compdemo:
            out = _teacher_pass(ctx, batch, unit_to_teacher(units_masked))
            return out if at is None else out[:, 0]
        split_a, split_b = compdemo.split_masked_units(units_masked, ctx.run.rho, generator)
        # pipeline B: both passes share the clean x_0 half, so its K/V are computed once
        with ctx.teacher.shared_clean(batch["teacher_ids"], batch["teacher_valid"]):
            pass1 = _teacher_pass(ctx, batch, unit_to_teacher(split_b))  # M_A revealed
            pass2 = _teacher_pass(ctx, batch, unit_to_teacher(split_a))  # M_B revealed
    if at is None:
        return compdemo.merge_pass_logits_(pass1, pass2, unit_to_teacher(split_a))  # in place
    return compdemo.merge_pass_logits_(pass1[:, 0], pass2[:, 0],
                                       unit_to_teacher(split_a)[at])  # [N, Vt]


def _token_term(ctx, batch, s_logits, masked, t, progress, generator, logs):
    """Pipeline B: token-level KL / reverse KL / TIDAL over aligned masked positions."""
    bidx = torch.arange(masked.shape[0], device=masked.device)[:, None]
    ps, pt, pv = batch["pair_student"], batch["pair_teacher"], batch["pair_valid"]
    pair_masked = pv & masked[bidx, ps]  # [B, P]

    def to_teacher(pair_mask):  # [B, P] -> [B, Lt]
        out = torch.zeros_like(batch["teacher_valid"])
        out[bidx.expand_as(pt)[pair_mask], pt[pair_mask]] = True
        return out

    scored_at = (bidx.expand_as(pt)[pair_masked], pt[pair_masked])  # [N] rows, positions
    vsh = ctx.shared_vocab_size
    if ctx.teacher_scored_only:
        u = teacher_logits(ctx, batch, pair_masked, to_teacher, generator,
                           at=scored_at)[:, :vsh]  # [N, V_sh]
    else:
        u_all = teacher_logits(ctx, batch, pair_masked, to_teacher, generator)  # [B, Lt, Vt]
        u = u_all[scored_at][:, :vsh]  # [N, V_sh]
    s = s_logits[bidx.expand_as(ps)[pair_masked], ps[pair_masked]][:, :vsh].float()  # [N, V_sh]
    run, temp = ctx.run, ctx.run.temperature
    logs["distill_units"] = int(pair_masked.sum())
    if run.objective == "kl":
        return kl.forward_kl_loss(s, u, temp)
    if run.objective == "reverse_kl":
        return kl.reverse_kl_loss(s, u, temp)
    lam, weight = _tidal_per_sample(run, t, progress, logs)
    rows = bidx.expand_as(ps)[pair_masked]
    loss_fn = tidal.tidal_reverse_token_loss if run.objective == "tidal_reverse_kl" \
        else tidal.tidal_token_loss
    return loss_fn(s, u, lam[rows], weight[rows], temp)


def _tidal_per_sample(run, t, progress, logs):
    lam = tidal.tidal_lambda(t, progress, l_init=run.l_init, l_max=run.l_max,
                             schedule=run.schedule, axis_mode=run.axis_mode)  # [B]
    weight = tidal.timestep_weight(t, run.weighting)  # [B]
    logs["tidal"] = [{"t": float(a), "p": float(progress), "lambda": float(b), "weight": float(c)}
                     for a, b, c in zip(t, lam, weight)]
    return lam, weight


def _chunk_term(ctx, batch, s_logits, chunk_masked, active, t, progress, generator, logs):
    """Pipeline A: forward / reverse CALM or chunk-level TIDAL over active chunks."""
    t_chunks = batch["teacher_chunks"]  # [B, Lt, C]

    def to_teacher(chunk_mask):  # [B, C] -> [B, Lt]
        return (t_chunks & chunk_mask[:, None, :]).any(-1)

    if ctx.teacher_scored_only:  # the teacher tokens of active chunks only
        at = (t_chunks & active[:, None, :]).any(-1).nonzero(as_tuple=True)  # [N] each
        u = teacher_logits(ctx, batch, chunk_masked, to_teacher, generator, at=at)  # [N, Vt]
        lp_t = calm.chunk_logprobs_at(u, batch["teacher_ids"], t_chunks, at)  # [B, C]
    else:
        u_all = teacher_logits(ctx, batch, chunk_masked, to_teacher, generator)  # [B, Lt, Vt]
        lp_t = calm.chunk_logprobs(u_all, batch["teacher_ids"], t_chunks)  # [B, C]
    temp = ctx.run.temperature
    lp_s = calm.chunk_logprobs(s_logits.float(), batch["input_ids"], batch["student_chunks"])
    p_s, p_t = calm.chunk_probs(lp_s, temp)[active], calm.chunk_probs(lp_t, temp)[active]
    logs["distill_units"] = int(active.sum())
    if ctx.run.objective == "calm":
        return calm.forward_calm_loss(p_s, p_t)
    if ctx.run.objective == "reverse_calm":
        return calm.reverse_calm_loss(p_s, p_t)
    lam, weight = _tidal_per_sample(ctx.run, t, progress, logs)
    rows = torch.arange(active.shape[0], device=active.device)[:, None].expand_as(active)[active]
    loss_fn = tidal.tidal_reverse_chunk_loss if ctx.run.objective == "tidal_reverse_calm" \
        else tidal.tidal_chunk_loss
    return loss_fn(p_s, p_t, lam[rows], weight[rows])


def chunk_consistent_mask(masked, batch):
    """Enlarge the student mask to whole chunks (docs/method.md §1.3).

    Returns (student mask [B, Ls], masked chunks [B, C], active chunks [B, C]).
    """
    s_chunks, valid = batch["student_chunks"], batch["chunk_valid"]  # [B, Ls, C], [B, C]
    chunk_masked = (masked[:, :, None] & s_chunks).any(1) & valid  # [B, C]
    grown = (s_chunks & chunk_masked[:, None, :]).any(-1) & (batch["labels"] != -100)
    touches_prompt = (s_chunks & batch["prompt"][:, :, None]).any(1)  # [B, C]
    return masked | grown, chunk_masked, chunk_masked & ~touches_prompt


def distill_loss(ctx: DistillContext, batch: dict, progress: float,
                 generator: torch.Generator) -> tuple[torch.Tensor, dict]:
    """Total loss of one distillation step and the logged components."""
    obj = OBJECTIVES[ctx.run.objective]
    x0, labels = batch["input_ids"], batch["labels"]  # [B, Ls]
    # 1. timestep and student mask
    t = sample_t(x0.shape[0], generator).to(x0.device)  # [B] (drawn on the CPU generator)
    masked = mask_response(labels, t, generator)  # [B, Ls]
    if obj.level == "chunk":
        masked, chunk_masked, active = chunk_consistent_mask(masked, batch)
    # 2. student forward on [x_t ; x_0]
    x_t = x0.masked_fill(masked, ctx.student_mask_id)
    s_logits = bd3lm_logits(ctx.student, x_t, x0, ctx.block_size)  # [B, Ls, V]
    # 3. CE term (weight 1, token normalisation)
    ce = bd3lm_ce(s_logits, labels, masked, t, (labels != -100).sum())
    # 4–5. teacher and distillation term (none for the teacher-free control)
    logs: dict = {}
    if not obj.uses_teacher:
        term = ce.new_zeros(())
        logs["distill_units"] = 0
    elif obj.level == "token":
        term = _token_term(ctx, batch, s_logits, masked, t, progress, generator, logs)
    else:
        term = _chunk_term(ctx, batch, s_logits, chunk_masked, active, t, progress, generator, logs)
    total = ce + ctx.run.weight * term
    logs.update(ce=float(ce.detach()), distill=float(term.detach()), loss=float(total.detach()),
                mask_ratio=float(masked.sum() / (labels != -100).sum().clamp_min(1)))
    return total, logs

