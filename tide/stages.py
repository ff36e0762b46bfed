"""The workflow's stages: one function per ``tide`` subcommand (and per Snakemake rule).

Each stage reads declared inputs under ``root`` (default ``results/``) and writes its
declared outputs atomically. Models are referenced through a small JSON "pointer" file,
``results/models/{name}.json``, whose ``path`` is a local directory on the tiny path and a
hub id on a cluster (config/paper.yaml), so downstream stages never care which.
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
from pathlib import Path

import torch

from tide import paths
from tide.config import Config
from tide.io import atomic_dir, atomic_write_json, provenance, read_json

log = logging.getLogger(__name__)

TEACHER_TOKENIZER = {"A": "teacher_a", "B": "teacher_b"}
SFT_KIND = {"student": "sft", "teacher_a": "sft_teacher_a", "teacher_b": "sft_teacher_b"}


# ------------------------------------------------------------------ helpers


def _dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def _device(cfg: Config) -> str:
    if cfg["device"] == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return cfg["device"]


def tokenizer_path(cfg: Config, name: str, root=None) -> str:
    spec = cfg["tokenizers"][name]
    return str(paths.tokenizer(name, root)) if spec == "train" else spec


@functools.lru_cache(maxsize=None)
def _load_tok(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, trust_remote_code=True)


def tokenizer(cfg: Config, name: str, root=None):
    return _load_tok(tokenizer_path(cfg, name, root))


def shared_vocab_size(cfg: Config, root=None) -> int:
    if cfg["shared_vocab_size"] != "auto":
        return int(cfg["shared_vocab_size"])
    return int(read_json(paths.tokenizers_summary(root))["shared_vocab_size"])


def teacher_mask_id(cfg: Config, pipeline: str, root=None) -> int:
    spec = cfg["models"]["teachers"][pipeline]["mask_token_id"]
    if spec != "auto":
        return int(spec)
    tok = tokenizer(cfg, TEACHER_TOKENIZER[pipeline], root)
    if tok.mask_token_id is None:
        raise ValueError(f"{cfg.source}: field models.teachers.{pipeline}.mask_token_id is "
                         f"'auto' but tokenizer {tokenizer_path(cfg, TEACHER_TOKENIZER[pipeline], root)} "
                         "has no mask token; set the id explicitly")
    return int(tok.mask_token_id)


def student_tokens(tok) -> dict:
    if tok.mask_token_id is None or tok.eos_token_id is None:
        raise ValueError(f"student tokenizer {tok.name_or_path}: expected a mask and an eos "
                         f"token, found mask={tok.mask_token_id}, eos={tok.eos_token_id}")
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return {"eos_id": tok.eos_token_id, "pad_id": pad}


def model_pointer(name: str, root=None) -> dict:
    return read_json(paths.model_metrics(name, root))


def _rows(kind: str, split: str, root=None):
    """Lazy rows of a built dataset (memory-mapped arrow, no Python copy per rank)."""
    from tide.data.rows import load_rows

    return load_rows(paths.dataset(kind, split, root))


# ------------------------------------------------------------------ data


def corpus(cfg: Config, root=None) -> None:
    """Tiny path: the generated chat corpus (train/heldout, tulu ``messages`` schema)."""
    from tide.data.corpus import make_corpus, write_corpus

    if cfg["data"]["source"] == "tiny":
        t = cfg["data"]["tiny"]
        write_corpus(make_corpus(t["n_train"], t["n_heldout"], t["seed"]),
                     paths.corpus("train", root).parent)
        return
    from tide.data.corpus import write_jsonl
    from tide.data.loaders import load_sft_mixture

    ds = load_sft_mixture(cfg["data"]["sft_mixture"])
    split = ds.train_test_split(test_size=min(1000, max(1, len(ds) // 100)), seed=cfg["seed"])
    for name, part in (("train", split["train"]), ("heldout", split["test"])):
        write_jsonl(paths.corpus(name, root), ({"messages": r["messages"]} for r in part))


def tokenizers(cfg: Config, root=None) -> None:
    """Train the tiny tokenizers, or record the hub tokenizers' special ids."""
    from tide.data.corpus import read_jsonl
    from tide.data.tokenizers import summary, train_tokenizers

    if all(v == "train" for v in cfg["tokenizers"].values()):
        rows = read_jsonl(paths.corpus("train", root))
        train_tokenizers([r["messages"] for r in rows], paths.tokenizers_dir(root))
        return
    toks = {n: tokenizer(cfg, n, root) for n in cfg["tokenizers"]}
    atomic_write_json(paths.tokenizers_summary(root), summary(toks, shared_vocab_size(cfg)))


def dataset(cfg: Config, kind: str, split: str, root=None) -> None:
    """One dataset in the shared schema: ``sft*`` (one tokenizer) or pipeline ``A``/``B``."""
    from tide.data.build import build_pipeline_dataset, build_sft_dataset, save_dataset
    from tide.data.corpus import read_jsonl

    data = cfg["data"]
    out = paths.dataset(kind, split, root)
    if kind in ("A", "B") and data["source"] == "pretokenized":
        from tide.data.loaders import load_pretokenized

        ds = load_pretokenized(data["pretokenized"][kind], kind,
                               split="train" if split == "train" else "test",
                               student_tok=tokenizer(cfg, "student", root),
                               teacher_tok=tokenizer(cfg, TEACHER_TOKENIZER[kind], root),
                               teacher_max_length=data["teacher_max_length"][kind])
        save_dataset(ds, out)
        return
    rows = [r["messages"] for r in read_jsonl(paths.corpus(split, root))]
    if kind in ("A", "B"):
        ds = build_pipeline_dataset(rows, tokenizer(cfg, "student", root),
                                    tokenizer(cfg, TEACHER_TOKENIZER[kind], root), kind,
                                    max_length=data["max_length"],
                                    teacher_max_length=data["teacher_max_length"][kind])
    else:
        tok_name = {v: k for k, v in SFT_KIND.items()}[kind]
        max_len = (data["max_length"] if kind == "sft"
                   else data["teacher_max_length"]["A" if kind == "sft_teacher_a" else "B"])
        ds = build_sft_dataset(rows, tokenizer(cfg, tok_name, root), max_len)
    if len(ds) == 0:
        raise ValueError(f"dataset {kind}/{split}: no rows left after tokenization")
    save_dataset(ds, out)


def eval_data(cfg: Config, benchmark: str, root=None) -> None:
    """Tiny path: held-out benchmark items in the real datasets' schemas, one
    ``<task>.jsonl`` per lm-eval (sub)task, written as one directory (atomically)."""
    from tide.data.corpus import write_jsonl
    from tide.eval.tiny_data import tiny_items

    ev = cfg["eval"]
    items = tiny_items(benchmark, ev.get("tiny_documents") or ev.get("limit") or 100, ev["seed"])
    with atomic_dir(paths.eval_data(benchmark, root)) as tmp:
        for task, rows in items.items():
            write_jsonl(tmp / f"{task}.jsonl", rows)


# ------------------------------------------------------------------ models


def _collate_sft(tok, cfg: Config, max_length: int):
    from tide.distill.batch import collate

    return functools.partial(collate, pipeline=None, block_size=cfg["block_size"],
                             max_length=max_length, student_tokens=student_tokens(tok))


def _heldout_bpb(cfg: Config, forward, kind: str, tok, max_length: int, mask_id: int,
                 root=None) -> float:
    """Bits per byte of a model on its own tokenization of the held-out corpus."""
    from tide.heldout import bits_per_byte

    rows = _rows(kind, "heldout", root)[: cfg["data"].get("heldout_examples", 10**9)]
    collate_fn = _collate_sft(tok, cfg, max_length)
    batches = [collate_fn(rows[i:i + 8]) for i in range(0, len(rows), 8)]
    n_bytes = sum(len(tok.decode([t for t in r["labels"] if t != -100],
                                 skip_special_tokens=True).encode()) for r in rows)
    return bits_per_byte(forward, batches, n_bytes, mask_id=mask_id, seed=cfg["seed"])


def _save_model(model, tok, out_dir: Path, name: str, root, **info) -> None:
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        if tok is not None:
            tok.save_pretrained(tmp)
    atomic_write_json(paths.model_metrics(name, root),
                      {"path": str(out_dir), **info, "provenance": provenance()})


def _settings(cfg: Config, section: dict, seed_offset: int = 0, **over):
    from tide.train import TrainSettings

    return TrainSettings(steps=section["steps"], lr=section["lr"],
                         batch_size=section["batch_size"],
                         warmup_ratio=section.get("warmup_ratio", 0.1),
                         grad_clip=section.get("grad_clip", 1.0),
                         seed=cfg["seed"] + seed_offset, **over)


def _identity(cfg: Config, rule: str, name: str, root=None) -> dict:
    """train() keywords keying the state by the run's identity (tide/identity.py)."""
    from tide import identity

    return {"identity": identity.of_stage(cfg, rule, name, root),
            "keep_stale": identity.keep_stale(cfg)}


def train_ar(cfg: Config, root=None) -> None:
    """The AR baseline: a tiny Qwen3 trained on the corpus (paper: Qwen/Qwen3-0.6B)."""
    from tide.models.build import build_dense
    from tide.train import train

    spec = cfg["models"]["ar"]
    if spec["init"] != "train":
        atomic_write_json(paths.model_metrics("ar", root), {"path": spec["init"]})
        return
    tok = tokenizer(cfg, "student", root)
    model = build_dense(len(tok), spec["dims"], max_positions=4 * cfg["data"]["max_length"],
                        attn_implementation=cfg["attn_implementation"], seed=cfg["seed"],
                        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                        bos_token_id=None)

    def loss_fn(m, batch, _progress, _gen):
        out = m(input_ids=batch["input_ids"], labels=batch["labels"])
        return out.loss, {"loss": float(out.loss.detach()), "ce": float(out.loss.detach())}

    summary = train(model, _rows("sft", "train", root),
                    _collate_sft(tok, cfg, cfg["data"]["max_length"]), loss_fn,
                    _settings(cfg, spec["train"]), state_dir=paths.state_dir("models", "ar", root),
                    log_path=paths.state_dir("models", "ar", root) / "metrics.jsonl",
                    **_identity(cfg, "train_ar", "ar", root))
    _save_model(model, tok, paths.model("ar", root), "ar", root, train=summary)


def _diffusion_loss(forward, mask_id: int):
    """BD3LM/MDLM training loss around a diffusion forward ``(x_t, x_0, valid) -> logits``."""
    from tide.distill.noise import bd3lm_ce, mask_response, sample_t

    def loss_fn(model, batch, _progress, gen):
        x0, labels = batch["input_ids"], batch["labels"]
        t = sample_t(x0.shape[0], gen).to(x0.device)
        masked = mask_response(labels, t, gen)
        logits = forward(model, x0.masked_fill(masked, mask_id), x0, batch["valid"])
        ce = bd3lm_ce(logits, labels, masked, t, (labels != -100).sum())
        return ce, {"loss": float(ce.detach()), "ce": float(ce.detach())}

    return loss_fn


def _student_forward(block_size: int):
    from tide.models.student import bd3lm_logits

    return lambda m, xt, x0, _valid: bd3lm_logits(m, xt, x0, block_size)


def sft_student(cfg: Config, root=None) -> None:
    """AR → BD3LM conversion + BD3LM SFT (paper: the dllm-hub BD3LM checkpoint)."""
    from transformers import AutoModelForCausalLM

    from tide.models.student import student_from_causal
    from tide.train import train

    spec = cfg["models"]["student"]
    if spec["init"] != "convert_ar":
        atomic_write_json(paths.model_metrics("bd3lm", root), {"path": spec["init"]})
        return
    tok = tokenizer(cfg, "student", root)
    ar = AutoModelForCausalLM.from_pretrained(model_pointer("ar", root)["path"])
    model = student_from_causal(ar, block_size=cfg["block_size"], mask_token_id=tok.mask_token_id,
                                attn_implementation=cfg["attn_implementation"])
    forward = _student_forward(cfg["block_size"])
    state = paths.state_dir("models", "bd3lm", root)
    summary = train(model, _rows("sft", "train", root),
                    _collate_sft(tok, cfg, cfg["data"]["max_length"]),
                    _diffusion_loss(forward, tok.mask_token_id),
                    _settings(cfg, spec["sft"], 1), state_dir=state,
                    log_path=state / "metrics.jsonl", **_identity(cfg, "sft_student", "bd3lm", root))
    bpb = _heldout_bpb(cfg, lambda *a: forward(model, *a), "sft", tok,
                       cfg["data"]["max_length"], tok.mask_token_id, root)
    log.info("SFT student held-out bits/byte: %.4f", bpb)
    _save_model(model, tok, paths.model("bd3lm", root), "bd3lm", root,
                heldout_bits_per_byte=bpb, train=summary)


def train_teacher(cfg: Config, pipeline: str, root=None) -> None:
    """A tiny teacher trained until its held-out bits/byte beats the SFT student's by the
    configured margin (paper: the real teacher, loaded by hub id)."""
    from tide.models.build import build_dense, build_moe
    from tide.models.teachers import diffusion_logits
    from tide.train import train

    spec, name = cfg["models"]["teachers"][pipeline], f"teacher_{pipeline}"
    if spec["init"] != "train":
        atomic_write_json(paths.model_metrics(name, root), {"path": spec["init"]})
        return
    tok_name = TEACHER_TOKENIZER[pipeline]
    tok, mask_id = tokenizer(cfg, tok_name, root), teacher_mask_id(cfg, pipeline, root)
    max_len = cfg["data"]["teacher_max_length"][pipeline]
    build = build_moe if spec["arch"] == "moe" else build_dense
    model = build(len(tok), spec["dims"], max_positions=4 * max_len,
                  attn_implementation=cfg["attn_implementation"], seed=cfg["seed"] + 2,
                  eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None)

    def forward(m, xt, x0, valid):
        return diffusion_logits(m, spec["kind"], xt, x0, valid, block_size=cfg["block_size"],
                                concat_order=spec.get("concat_order", "x0_xt"))

    student_bpb = model_pointer("bd3lm", root)["heldout_bits_per_byte"]
    target = spec.get("target_bpb_ratio", 0.8) * student_bpb
    curve = []

    def reached(step: int) -> bool:
        model.eval()
        bpb = _heldout_bpb(cfg, lambda *a: forward(model, *a), SFT_KIND[tok_name], tok,
                           max_len, mask_id, root)
        model.train()
        curve.append({"step": step, "heldout_bits_per_byte": bpb})
        log.info("teacher %s step %d: held-out %.4f bits/byte (target <= %.4f)",
                 pipeline, step, bpb, target)
        return bpb <= target

    state = paths.state_dir("models", name, root)
    summary = train(model, _rows(SFT_KIND[tok_name], "train", root),
                    _collate_sft(tok, cfg, max_len), _diffusion_loss(forward, mask_id),
                    _settings(cfg, spec["train"], 2, checkpoint_every=100), state_dir=state,
                    log_path=state / "metrics.jsonl", should_stop=reached,
                    **_identity(cfg, "train_teacher", name, root))
    final = curve[-1]["heldout_bits_per_byte"] if curve and curve[-1]["step"] == summary["steps"] \
        else None
    if final is None:
        reached(summary["steps"])
        final = curve[-1]["heldout_bits_per_byte"]
    if final > target:
        raise RuntimeError(
            f"teacher {pipeline}: held-out {final:.4f} bits/byte after {summary['steps']} steps, "
            f"expected <= {target:.4f} ({spec.get('target_bpb_ratio', 0.8)} x the SFT student's "
            f"{student_bpb:.4f}); raise models.teachers.{pipeline}.train.steps in {cfg.source}")
    _save_model(model, tok, paths.model(name, root), name, root, heldout_bits_per_byte=final,
                student_bits_per_byte=student_bpb, ratio_to_student=final / student_bpb,
                curve=curve, train=summary, mask_token_id=mask_id)


# ------------------------------------------------------------------ distillation


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
    """One distillation run (method.md §2): student init = the BD3LM SFT student.

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
    tspec = cfg["models"]["teachers"][pipeline]
    dist = distributed.init(_device(cfg))
    from tide import precision

    prec = cfg.precision  # bf16_pure: bf16 weights; bf16_mixed: fp32 master + autocast
    device = distributed.device_of(dist, _device(cfg))
    tok = tokenizer(cfg, "student", root)
    t_tok = tokenizer(cfg, TEACHER_TOKENIZER[pipeline], root)
    student = load_student(model_pointer("bd3lm", root)["path"], tokenizer=tok,
                           dtype=precision.weights_dtype(prec),
                           attn_implementation=cfg["attn_implementation"], device=device)
    if (cfg.raw.get("train") or {}).get("activation_checkpointing"):
        enable_activation_checkpointing(student)
    teacher = load_teacher(
        model_pointer(f"teacher_{pipeline}", root)["path"], kind=tspec["kind"],
        mask_token_id=teacher_mask_id(cfg, pipeline, root), block_size=cfg["block_size"],
        concat_order=run.concat_order or tspec.get("concat_order", "x0_xt"),
        dtype=_dtype(tspec.get("dtype", cfg["dtype"])),
        attn_implementation=cfg["attn_implementation"], device=device)
    if tspec.get("sharding", "replicate") == "fsdp":
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
            "seed_index": seed, "provenance": provenance(seed=cfg["seed"])})
    log.info("rank 0 of %d: wrote outputs to %s", dist.world_size, out)
    distributed.shutdown(dist)


# ------------------------------------------------------------------ evaluation and report


def _eval_model(cfg: Config, model_id: str, root=None) -> tuple[str, str]:
    """(lm-eval model name, model_args) of a model id: the AR baseline goes through lm-eval's
    own ``hf`` model, every diffusion student through ours (``tide_bd3lm``). Ids listed in
    ``eval.checkpoints`` are released checkpoints evaluated as they are (no training)."""
    checkpoints = cfg["eval"].get("checkpoints") or {}
    if model_id in checkpoints:
        model, path = checkpoints[model_id]["model"], checkpoints[model_id]["path"]
    elif model_id in ("ar", "bd3lm"):
        model, path = ("hf" if model_id == "ar" else "tide_bd3lm"), model_pointer(model_id, root)["path"]
    else:
        pipeline, run = model_id.split("_", 1)
        model, path = "tide_bd3lm", str(paths.run_model(pipeline, run, root))
    common = f"pretrained={path},dtype={cfg['dtype']},device={_device(cfg)}"
    if model == "hf":
        return "hf", common
    # the authors' answer handling (issue 10 item 6) is the sampler's default; a config
    # switch off is passed explicitly (and so recorded with every result)
    switches = "".join(f",{k}={cfg['eval'][k]}" for k in ("inject_think",
                       "generated_pad_as_padding") if k in cfg["eval"])
    return "tide_bd3lm", f"{common},attn_implementation={cfg['attn_implementation']}{switches}"


def eval_plan(cfg: Config, model_id: str, benchmark: str, root=None) -> dict:
    """What ``evaluate`` runs for (model_id, benchmark): the §4 protocol under the config.

    Returns the lm-eval model, resolved model_args, task, shots, data, limit, batch size,
    seed and the equivalent ``lm_eval`` command (tests check it against spec §4).
    """
    from tide.eval.cli import lm_eval_command
    from tide.eval.run import benchmark_spec, resolve_model_args

    bench = benchmark_spec(benchmark)
    ev = cfg["eval"]
    model, model_args = _eval_model(cfg, model_id, root)
    args = resolve_model_args(model, model_args, bench, ev["seed"])
    data = str(paths.eval_data(benchmark, root).resolve()) if ev["source"] == "tiny" else None
    return {"model": model, "model_args": args, "benchmark": benchmark, "task": bench.task,
            "num_fewshot": bench.num_fewshot, "data_files": data, "limit": ev.get("limit"),
            "batch_size": ev["batch_size"], "seed": ev["seed"],
            "command": lm_eval_command(model, args, bench, batch_size=ev["batch_size"],
                                       limit=ev.get("limit"), seed=ev["seed"])}


def evaluate(cfg: Config, model_id: str, benchmark: str, root=None) -> None:
    """lm-eval one model on one benchmark with the paper's protocol (spec §4)."""
    from tide.eval.run import evaluate as run_eval

    plan = eval_plan(cfg, model_id, benchmark, root)
    run_eval(plan["model_args"], benchmark, paths.eval_dir(model_id, benchmark, root),
             data_files=plan["data_files"], limit=plan["limit"], batch_size=plan["batch_size"],
             model=plan["model"], seed=plan["seed"], extra={"model_id": model_id})


def eval_generate(cfg: Config, model_id: str, benchmark: str, shard: str, root=None) -> None:
    """Stage 1 of an evaluation: generate (or resume) one shard ``k/K`` (tide.eval.staged)."""
    from tide.eval.staged import generate_shard

    plan = eval_plan(cfg, model_id, benchmark, root)
    generate_shard(plan["model_args"], benchmark, paths.eval_gen_dir(model_id, benchmark, root),
                   shard, data_files=plan["data_files"], limit=plan["limit"],
                   batch_size=plan["batch_size"], model=plan["model"], seed=plan["seed"])


def eval_merge(model_id: str, benchmark: str, done_files: list[str], root=None) -> None:
    """Stage 2: the finished shards' generations as one store."""
    from tide.eval.staged import merge_shards

    merge_shards(done_files, paths.eval_generations(model_id, benchmark, root))


def eval_score(cfg: Config, model_id: str, benchmark: str, root=None) -> None:
    """Stage 3 (CPU): filters, metrics and code execution over the stored generations."""
    from tide.eval.staged import score

    plan = eval_plan(cfg, model_id, benchmark, root)
    score(paths.eval_generations(model_id, benchmark, root),
          paths.eval_dir(model_id, benchmark, root), data_files=plan["data_files"],
          extra={"model_id": model_id})


def collect_scores(inputs: list[str], out: str) -> None:
    """score.json files -> one tidy CSV (model, model_id, benchmark, metric, value, ...)."""
    import pandas as pd

    from tide.config import column_label
    from tide.eval.benchmarks import get as get_benchmark

    rows = []
    for path in inputs:
        s = read_json(path)
        for key in ("model_id", "benchmark", "value"):
            if key not in s:
                raise ValueError(f"{path}: field {key!r} missing from score file")
        rows.append({"model": column_label(s["model_id"]),
                     "model_id": s["model_id"],
                     "benchmark": get_benchmark(s["benchmark"]).display,
                     "metric": s.get("metric"), "filter": s.get("filter"),
                     "value": s["value"], "n": s.get("n"),
                     "ci_low": (s.get("ci95") or [None, None])[0],  # no per-sample file: none
                     "ci_high": (s.get("ci95") or [None, None])[1],
                     "seed": s.get("seed"), "source": str(path)})
    from tide.io import atomic_write_text

    atomic_write_text(out, pd.DataFrame(rows).to_csv(index=False))


def ablation_rows(cfg: Config, spec_file: str, score_files: list[str], out: str) -> None:
    """One ablation's rows: its scores per benchmark and the fields that differ from its base."""
    import pandas as pd

    from tide.io import atomic_write_text

    spec = read_json(spec_file)["spec"]
    base = cfg.run(spec["pipeline"], spec["base"]).as_dict()
    differs = {k: v for k, v in spec.items() if base.get(k) != v and k not in ("name", "base", "axis")}
    rows = []
    for path in score_files:
        s = read_json(path)
        rows.append({"model_id": s["model_id"], "pipeline": spec["pipeline"], "base": spec["base"],
                     "axis": spec.get("axis"), "benchmark": s["benchmark"], "value": s["value"],
                     "differs": json.dumps(differs, sort_keys=True)})
    atomic_write_text(out, pd.DataFrame(rows).to_csv(index=False))


def report(cfg: Config, scores: str | None, out: str, root=None) -> None:
    """Every table and figure of ``reports/`` from result files only (no GPU, no weights)."""
    from tide.report.build import build_report

    build_report(cfg, out, root=root, scores=scores)
