"""The distillation stage (workflow/rules/distill.smk): one run of config distill.runs."""

from __future__ import annotations

import functools
import logging
import shutil

from tide import paths
from tide.config import Config
from tide.io import atomic_dir, atomic_write_json, provenance
from tide.stages.common import (_device, _dtype, _identity, data_pointer, model_pointer, _rows,
                                shared_vocab_size, student_tokens, teacher_mask_id, tokenizer,
                                tokenizer_path)
from tide.vocab import TEACHER_TOKENIZER

log = logging.getLogger(__name__)


def check_compatible(cfg: Config, student, tok, teacher, t_tok, vsh: int | None,
                     pipeline: str) -> None:
    """Tokenizer/model mismatches stop the run before any step, naming what disagrees."""
    where = f"{cfg.source}: pipeline {pipeline}"
    s_rows, t_rows = student.config.vocab_size, teacher.vocab_size
    if len(tok) > s_rows:
        raise ValueError(f"{where}: student tokenizer {tok.name_or_path} has {len(tok)} tokens "
                         f"but the student model only {s_rows} embedding rows")
    if len(t_tok) > t_rows:
        raise ValueError(f"{where}: teacher tokenizer {t_tok.name_or_path} has {len(t_tok)} "
                         f"tokens but the teacher model only {t_rows} embedding rows")
    if student.config.mask_token_id != tok.mask_token_id:
        raise ValueError(f"{where}: student config mask_token_id {student.config.mask_token_id} "
                         f"!= tokenizer mask token id {tok.mask_token_id}")
    if vsh is not None:
        if vsh > min(s_rows, t_rows):
            raise ValueError(f"{where}: field shared_vocab_size {vsh} exceeds a vocabulary "
                             f"(student {s_rows}, teacher {t_rows})")
        probe = list(range(0, vsh, max(1, vsh // 512)))
        if tok.convert_ids_to_tokens(probe) != t_tok.convert_ids_to_tokens(probe):
            raise ValueError(f"{where}: field shared_vocab_size {vsh}: student and teacher "
                             "tokenizers disagree on ids below it")
        if teacher.mask_token_id < vsh:
            raise ValueError(f"{where}: teacher mask id {teacher.mask_token_id} lies inside the "
                             f"shared vocabulary (< {vsh}); expected a teacher-only special token")


def enable_activation_checkpointing(student) -> None:
    """Recompute each decoder layer in the backward instead of keeping its activations
    (``train.activation_checkpointing``): ~14–18 GiB less per rank at the paper's shapes
    (tide/memory.py) for one more student forward; same losses and gradients (tested)."""
    student.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})


def distill(cfg: Config, pipeline: str, run_name: str, root=None, seed: int = 0) -> None:
    """One distillation run (docs/method.md §2): student init = the BD3LM SFT student.

    ``seed`` k > 0 repeats the run with its training seed + k (data order and noise; same
    start) into ``paths.run_dir(..., seed=k)``: the held-out metrics' spread
    (``distill.seeds``), never evaluated on the benchmarks (config ``seeds`` replicas are).

    Runs as one process or as one rank of a torch.distributed group (``tide launch``,
    ``tide submit``): DDP student, teacher replicated on every rank, outputs by rank 0 only.
    """
    import dataclasses
    import json

    from tide import distributed
    from tide.distill.batch import collate
    from tide.distill.objective import DistillContext, distill_loss
    from tide.models.build import load_student, load_teacher
    from tide.train import train

    run = cfg.run(pipeline, run_name)
    tspec = cfg.tree.models.teachers[pipeline]
    dist = distributed.init(_device(cfg))
    from tide import precision

    prec = cfg.precision  # bf16_pure: bf16 weights; bf16_mixed: fp32 master + autocast
    device = distributed.device_of(dist, _device(cfg))
    tok = tokenizer(cfg, "student", root)
    t_tok = tokenizer(cfg, TEACHER_TOKENIZER[pipeline], root)
    s_ptr, t_ptr = model_pointer("bd3lm", root), model_pointer(f"teacher_{pipeline}", root)
    from tide.checks import require_mask_token, require_token_id

    require_mask_token(tok, f"distill {pipeline}/{run_name}", tokenizer_path(cfg, "student", root))
    require_token_id(t_tok, teacher_mask_id(cfg, pipeline, root),
                     f"models.teachers.{pipeline}.mask_token_id", f"distill {pipeline}/{run_name}",
                     tokenizer_path(cfg, TEACHER_TOKENIZER[pipeline], root))
    student = load_student(s_ptr["path"], tokenizer=tok, dtype=precision.weights_dtype(prec),
                           revision=s_ptr.get("revision"),
                           attn_implementation=cfg["attn_implementation"], device=device)
    if (cfg.raw.get("train") or {}).get("activation_checkpointing"):
        enable_activation_checkpointing(student)
    teacher = load_teacher(
        model_pointer(f"teacher_{pipeline}", root)["path"], kind=tspec.kind,
        mask_token_id=teacher_mask_id(cfg, pipeline, root), block_size=cfg["block_size"],
        concat_order=run.concat_order or tspec.concat_order,
        dtype=_dtype(tspec.dtype or cfg["dtype"]),
        attn_implementation=cfg["attn_implementation"], device=device)
    if tspec.sharding == "fsdp":
        distributed.shard_frozen(teacher.model, dist, device)
    vsh = shared_vocab_size(cfg, root) if pipeline == "B" else None
    check_compatible(cfg, student, tok, teacher, t_tok, vsh, pipeline)
    ctx = DistillContext(student=student, teacher=teacher, run=run,
                         student_mask_id=student.config.mask_token_id,
                         shared_vocab_size=vsh, block_size=cfg["block_size"],
                         teacher_scored_only=(cfg.raw.get("train") or {}).get(
                             "teacher_lm_head", "all") == "scored")
    collate_fn = functools.partial(
        collate, pipeline=pipeline, block_size=cfg["block_size"],
        max_length=cfg["data"]["max_length"], student_tokens=student_tokens(tok),
        teacher_max_length=cfg["data"]["teacher_max_length"][pipeline],
        teacher_eos_id=t_tok.eos_token_id)
    steps = run.steps  # epochs-based runs: steps derived from the dataset size below
    rows = _rows(pipeline, "train", root)
    from tide.train import TrainSettings, steps_from_epochs

    if steps is None:
        steps = steps_from_epochs(run.epochs, len(rows), run.batch_size * dist.world_size)

    settings = TrainSettings(steps=steps, lr=run.lr, batch_size=run.batch_size,
                             warmup_ratio=run.warmup_ratio,
                             seed=(cfg["seed"] if run.seed is None else run.seed) + seed,
                             checkpoint_every=run.checkpoint_every, precision=prec)
    state = paths.state_dir("runs", f"{pipeline}_{run_name}" + (f".seed{seed}" if seed else ""),
                            root)
    summary = train(student, rows, collate_fn,
                    lambda m, b, p, g: distill_loss(dataclasses.replace(ctx, student=m), b, p, g),
                    settings, state_dir=state, log_path=state / "metrics.jsonl", dist=dist,
                    **_identity(cfg, "distill", f"{pipeline}_{run_name}", root))
    summary["world_size"] = dist.world_size
    distributed.barrier(dist)
    if not dist.is_main:
        log.info("rank %d of %d: training done; outputs are written by rank 0 only",
                 dist.rank, dist.world_size)
        distributed.shutdown(dist)
        return
    out = paths.run_dir(pipeline, run_name, root, seed)
    with atomic_dir(out) as tmp:
        student.save_pretrained(tmp / "model")
        tok.save_pretrained(tmp / "model")
        shutil.copy(state / "metrics.jsonl", tmp / "metrics.jsonl")
        last = json.loads((state / "metrics.jsonl").read_text().splitlines()[-1])
        atomic_write_json(tmp / "run.json", {
            "pipeline": pipeline, "run": run_name, "spec": run.as_dict(), "train": summary,
            "precision": prec,
            "train_switches": {k: v for k, v in (cfg.raw.get("train") or {}).items() if k != "note"},
            "final": {k: v for k, v in last.items() if k != "tidal"},
            "shared_vocab_size": vsh, "teacher_mask_token_id": teacher.mask_token_id,
            "student_mask_token_id": ctx.student_mask_id,
            "config_fingerprint": cfg.fingerprint("distill", "models", "data"),
            "hub": {"student": s_ptr, "teacher": t_ptr,
                    "data": data_pointer(cfg, pipeline)},
            "seed_index": seed, "provenance": provenance(seed=cfg["seed"])})
    log.info("rank 0 of %d: wrote outputs to %s", dist.world_size, out)
    distributed.shutdown(dist)
