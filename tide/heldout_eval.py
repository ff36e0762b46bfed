"""``tide heldout``: held-out figures of one model, per held-out example.

For a student (the BD3LM start, every distillation run and ablation, the teacher-free
control, and each seed repeat of a run), against its pipeline's teacher (the BD3LM start,
where both pipelines begin, against both):

- ``bpb``: negative-ELBO masked-token NLL on the student's tokenization of the held-out
  corpus (bits and UTF-8 bytes per example; bits/byte = Σbits/Σbytes, tide.heldout);
- ``kl_B``: KL(teacher B ‖ student) at temperature 1 over the shared vocabulary, on the
  held-out masked aligned token pairs of pipeline B (the units the KL term trains on), with
  both models' CE of the gold token at those positions;
- ``kl_A``: binary KL between teacher A's and the student's chunk probabilities (T = 1) on
  the held-out active chunks of pipeline A (the units CALM trains on), with both chunk NLLs.

For a teacher (``teacher_A``/``teacher_B``): ``bpb`` on its own tokenization.

Every model is scored on the same examples with the same noise (a fixed-seed grid of K
timesteps, as the teachers' stop criterion), so two models can be compared example by
example. Intervals are taken in the report (tide.report.heldout), not here.
"""

from __future__ import annotations

import functools
import logging
import re

import torch

from tide import paths
from tide.config import Config
from tide.heldout import binary_kl, grid_masks, nll_per_example, token_kl_rows
from tide.io import atomic_write_json, provenance

log = logging.getLogger(__name__)

GRID = 8  # timesteps per example (as the teachers' stop criterion)
BATCH = 8
TEACHER_IDS = ("teacher_A", "teacher_B")


def parse_heldout_id(name: str) -> tuple[str, int]:
    """``"B_kl.seed2"`` -> ("B_kl", 2); ``"B_kl"`` -> ("B_kl", 0)."""
    m = re.fullmatch(r"(.+?)(?:\.seed(\d+))?", name)
    return m.group(1), int(m.group(2) or 0)


def _heldout_rows(cfg: Config, kind: str, root) -> list[dict]:
    from tide.stages.common import _rows

    return _rows(kind, "heldout", root)[: cfg["data"].get("heldout_examples", 10**9)]


def _batches(rows: list[dict], collate_fn) -> list[dict]:
    return [collate_fn(rows[i:i + BATCH]) for i in range(0, len(rows), BATCH)]


def _bytes(tok, rows: list[dict]) -> list[int]:
    return [len(tok.decode([t for t in r["labels"] if t != -100],
                           skip_special_tokens=True).encode()) for r in rows]


def _bpb_block(cfg, forward, kind, tok, max_length, mask_id, root) -> dict:
    from tide.stages.models import _collate_sft

    rows = _heldout_rows(cfg, kind, root)
    nats = nll_per_example(forward, _batches(rows, _collate_sft(tok, cfg, max_length)),
                           mask_id=mask_id, grid=GRID, seed=cfg["seed"])
    return {"bits": [n / torch.log(torch.tensor(2.0)).item() for n in nats],
            "bytes": _bytes(tok, rows)}


def _pipeline_collate(cfg, pipeline, tok, t_tok):
    from tide.distill.batch import collate
    from tide.stages.common import student_tokens

    return functools.partial(
        collate, pipeline=pipeline, block_size=cfg["block_size"],
        max_length=cfg["data"]["max_length"], student_tokens=student_tokens(tok),
        teacher_max_length=cfg["data"]["teacher_max_length"][pipeline],
        teacher_eos_id=t_tok.eos_token_id)


def _load_teacher(cfg, pipeline, root):
    from tide.models.build import load_teacher
    from tide.stages.common import _device, _dtype, model_pointer, teacher_mask_id

    tspec = cfg["models"]["teachers"][pipeline]
    return load_teacher(model_pointer(f"teacher_{pipeline}", root)["path"], kind=tspec["kind"],
                        mask_token_id=teacher_mask_id(cfg, pipeline, root),
                        block_size=cfg["block_size"],
                        concat_order=tspec.get("concat_order", "x0_xt"),
                        dtype=_dtype(tspec.get("dtype", cfg["dtype"])),
                        attn_implementation=cfg["attn_implementation"], device=_device(cfg))


@torch.no_grad()
def token_divergence(student, teacher, batches, *, vsh: int, block_size: int, grid: int,
                     seed: int, memo: dict | None = None) -> dict:
    """Pipeline B, per example: Σ KL(teacher ‖ student) and both CEs of the gold token over
    the masked aligned pairs (teacher masked at exactly the paired positions, as in training),
    and the number of pairs. Logits sliced to the shared vocabulary V_sh.

    ``memo``: the teacher's rows per (batch, timestep), kept across calls on the same
    ``batches`` and ``seed``; the noise does not depend on the student, so every student of a
    pipeline meets the same teacher outputs and one teacher pass serves them all.
    """
    from tide.models.student import bd3lm_logits

    gen = torch.Generator().manual_seed(seed)
    out = {"kl": [], "student_ce": [], "teacher_ce": [], "n": []}
    mask_id = student.config.mask_token_id
    memo = {} if memo is None else memo
    for i_b, b in enumerate(batches):
        x0, labels = b["input_ids"], b["labels"]
        bidx = torch.arange(x0.shape[0])[:, None]
        ps, pt, pv = b["pair_student"], b["pair_teacher"], b["pair_valid"]
        acc = torch.zeros(4, x0.shape[0], dtype=torch.float64)
        for i_t, (_t, masked) in enumerate(grid_masks(labels, grid, gen)):
            pm = pv & masked[bidx, ps]  # [B, P]
            rows = bidx.expand_as(ps)[pm]
            s_all = bd3lm_logits(student, x0.masked_fill(masked, mask_id), x0, block_size)
            s = s_all[rows, ps[pm]][:, :vsh].float()
            if (i_b, i_t) not in memo:
                t_mask = torch.zeros_like(b["teacher_valid"])
                t_mask[bidx.expand_as(pt)[pm], pt[pm]] = True
                u_all = teacher.logits(
                    b["teacher_ids"].masked_fill(t_mask, teacher.mask_token_id),
                    b["teacher_ids"], key_valid=b["teacher_valid"])
                memo[i_b, i_t] = u_all[rows, pt[pm]][:, :vsh].float()
            u = memo[i_b, i_t]
            gold = labels[rows, ps[pm]].clamp(0, vsh - 1)
            ce = torch.nn.functional.cross_entropy
            for i, v in enumerate((token_kl_rows(u, s), ce(s, gold, reduction="none"),
                                   ce(u, gold, reduction="none"), torch.ones_like(gold).float())):
                acc[i].index_add_(0, rows, v.double())
        for i, k in enumerate(("kl", "student_ce", "teacher_ce", "n")):
            out[k] += acc[i].tolist()
    return out


@torch.no_grad()
def chunk_divergence(student, teacher, batches, *, block_size: int, grid: int, seed: int,
                     memo: dict | None = None) -> dict:
    """Pipeline A, per example: Σ binary KL(p_teacher ‖ p_student) over the active chunks
    (chunk-consistent masks, as in training; probabilities at T = 1), both chunk NLLs
    (−log p), and the number of active chunks. ``memo``: as :func:`token_divergence`."""
    from tide.distill.calm import chunk_logprobs, chunk_probs
    from tide.distill.objective import chunk_consistent_mask
    from tide.models.student import bd3lm_logits

    gen = torch.Generator().manual_seed(seed)
    out = {"kl": [], "student_nll": [], "teacher_nll": [], "n": []}
    mask_id = student.config.mask_token_id
    memo = {} if memo is None else memo
    for i_b, b in enumerate(batches):
        x0, labels = b["input_ids"], b["labels"]
        acc = torch.zeros(4, x0.shape[0], dtype=torch.float64)
        for i_t, (_t, masked) in enumerate(grid_masks(labels, grid, gen)):
            masked, chunk_masked, active = chunk_consistent_mask(masked, b)
            s_all = bd3lm_logits(student, x0.masked_fill(masked, mask_id), x0, block_size)
            lp_s = chunk_logprobs(s_all.float(), x0, b["student_chunks"])  # [B, C]
            if (i_b, i_t) not in memo:
                t_mask = (b["teacher_chunks"] & chunk_masked[:, None, :]).any(-1)
                u_all = teacher.logits(
                    b["teacher_ids"].masked_fill(t_mask, teacher.mask_token_id),
                    b["teacher_ids"], key_valid=b["teacher_valid"])
                memo[i_b, i_t] = chunk_logprobs(u_all, b["teacher_ids"], b["teacher_chunks"])
            lp_t = memo[i_b, i_t]
            kl = binary_kl(chunk_probs(lp_t, 1.0), chunk_probs(lp_s, 1.0))
            act = active.double()
            for i, v in enumerate((kl, -lp_s.double(), -lp_t.double(), torch.ones_like(kl))):
                acc[i] += (v * act).sum(1)
        for i, k in enumerate(("kl", "student_nll", "teacher_nll", "n")):
            out[k] += acc[i].tolist()
    return out


def heldout_metrics(cfg: Config, name: str, root=None, seed: int = 0,
                    shared: dict | None = None) -> None:
    """Write ``paths.heldout_metrics(model_id, seed)``: the per-example figures above.

    ``shared``: kept across the models of one ``tide heldout`` call (same config and root):
    each pipeline's teacher, its held-out batches and its outputs are computed once.
    """
    from tide.models.build import load_student
    from tide.models.student import bd3lm_logits
    from tide.stages.common import (SFT_KIND, _device, _dtype, model_pointer, shared_vocab_size,
                                    teacher_mask_id, tokenizer)
    from tide.vocab import TEACHER_TOKENIZER

    shared = {} if shared is None else shared
    model_id, seed = (name, seed) if seed else parse_heldout_id(name)
    result: dict = {"model_id": model_id, "seed_index": seed, "grid": GRID,
                    "noise_seed": cfg["seed"]}
    if model_id in TEACHER_IDS:
        pipeline = model_id[-1]
        teacher = _load_teacher(cfg, pipeline, root)
        tok_name = TEACHER_TOKENIZER[pipeline]
        result.update(kind="teacher", pipeline=pipeline, bpb=_bpb_block(
            cfg, lambda xt, x0, v: teacher.logits(xt, x0, key_valid=v), SFT_KIND[tok_name],
            tokenizer(cfg, tok_name, root), cfg["data"]["teacher_max_length"][pipeline],
            teacher_mask_id(cfg, pipeline, root), root))
    else:
        if model_id == "bd3lm":
            path, pipeline = model_pointer("bd3lm", root)["path"], None
        else:
            pipeline, run = model_id.split("_", 1)
            path = str(paths.run_model(pipeline, run, root, seed))
        student = load_student(path, dtype=_dtype(cfg["dtype"]),
                               attn_implementation=cfg["attn_implementation"],
                               device=_device(cfg)).eval()
        tok = tokenizer(cfg, "student", root)
        block = cfg["block_size"]
        result.update(kind="student", pipeline=pipeline, path=path, bpb=_bpb_block(
            cfg, lambda xt, x0, _valid: bd3lm_logits(student, xt, x0, block), "sft", tok,
            cfg["data"]["max_length"], tok.mask_token_id, root))
        # a run is compared with its own pipeline's teacher; the BD3LM start with both
        for p in ("B", "A") if pipeline is None else (pipeline,):
            if p not in shared:
                t_tok = tokenizer(cfg, TEACHER_TOKENIZER[p], root)
                shared[p] = {"teacher": _load_teacher(cfg, p, root), "memo": {},
                             "batches": _batches(_heldout_rows(cfg, p, root),
                                                 _pipeline_collate(cfg, p, tok, t_tok))}
            teacher, batches, memo = shared[p]["teacher"], shared[p]["batches"], shared[p]["memo"]
            if p == "B":
                result["kl_B"] = token_divergence(student, teacher, batches,
                                                  vsh=shared_vocab_size(cfg, root),
                                                  block_size=cfg["block_size"], grid=GRID,
                                                  seed=cfg["seed"], memo=memo)
            else:
                result["kl_A"] = chunk_divergence(student, teacher, batches,
                                                  block_size=cfg["block_size"], grid=GRID,
                                                  seed=cfg["seed"], memo=memo)
    result["provenance"] = provenance(seed=cfg["seed"])
    bpb = sum(result["bpb"]["bits"]) / max(1, sum(result["bpb"]["bytes"]))
    log.info("%s%s: held-out %.4f bits/byte", model_id, f" (seed {seed})" if seed else "", bpb)
    atomic_write_json(paths.heldout_metrics(model_id, root, seed), result)
