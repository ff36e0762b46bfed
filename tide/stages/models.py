"""Model stages (workflow/rules/models.smk): the AR model, the SFT student, the teachers."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from tide import paths
from tide.config import Config
from tide.config_tree import Train
from tide.io import atomic_dir, atomic_write_json, provenance
from tide.stages.common import (_identity, hub_pointer, model_pointer, _rows, SFT_KIND,
                                student_tokens, teacher_mask_id, tokenizer)
from tide.vocab import TEACHER_TOKENIZER

log = logging.getLogger(__name__)


def _collate_sft(tok, cfg: Config, max_length: int):
    from tide.distill.batch import collate

    return functools.partial(collate, pipeline=None, block_size=cfg["block_size"],
                             max_length=max_length, student_tokens=student_tokens(tok))


def _heldout_bpb(cfg: Config, forward, kind: str, tok, max_length: int, mask_id: int,
                 root=None) -> float:
    """Bits per byte of a model on its own tokenization of the held-out corpus."""
    from tide.heldout import bits_per_byte

    rows = _rows(kind, "heldout", root)[: cfg.tree.data.heldout_examples]  # None: all
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


def _settings(cfg: Config, section: Train, seed_offset: int = 0, **over):
    from tide.train import TrainSettings

    return TrainSettings(steps=section.steps, lr=section.lr, batch_size=section.batch_size,
                         warmup_ratio=section.warmup_ratio, grad_clip=section.grad_clip,
                         seed=cfg["seed"] + seed_offset, **over)


def train_ar(cfg: Config, root=None) -> None:
    """The AR baseline: a tiny Qwen3 trained on the corpus (paper: Qwen/Qwen3-0.6B)."""
    from tide.models.build import build_dense
    from tide.train import train

    spec = cfg["models"]["ar"]
    if spec["init"] != "train":
        atomic_write_json(paths.model_metrics("ar", root), hub_pointer(cfg, spec["init"]))
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
                    _settings(cfg, cfg.tree.models.ar.train),
                    state_dir=paths.state_dir("models", "ar", root),
                    log_path=paths.state_dir("models", "ar", root) / "metrics.jsonl",
                    **_identity(cfg, "train_ar", "ar", root))
    _save_model(model, tok, paths.model("ar", root), "ar", root, train=summary)


def sft_student(cfg: Config, root=None) -> None:
    """AR → BD3LM conversion + BD3LM SFT (paper: the dllm-hub BD3LM checkpoint)."""
    from transformers import AutoModelForCausalLM

    from tide.distill.noise import diffusion_loss, student_forward
    from tide.models.student import student_from_causal
    from tide.train import train

    spec = cfg["models"]["student"]
    if spec["init"] != "convert_ar":
        atomic_write_json(paths.model_metrics("bd3lm", root), hub_pointer(cfg, spec["init"]))
        return
    tok = tokenizer(cfg, "student", root)
    ar = AutoModelForCausalLM.from_pretrained(model_pointer("ar", root)["path"])
    model = student_from_causal(ar, block_size=cfg["block_size"], mask_token_id=tok.mask_token_id,
                                attn_implementation=cfg["attn_implementation"])
    forward = student_forward(cfg["block_size"])
    state = paths.state_dir("models", "bd3lm", root)
    summary = train(model, _rows("sft", "train", root),
                    _collate_sft(tok, cfg, cfg["data"]["max_length"]),
                    diffusion_loss(forward, tok.mask_token_id),
                    _settings(cfg, cfg.tree.models.student.sft, 1), state_dir=state,
                    log_path=state / "metrics.jsonl", **_identity(cfg, "sft_student", "bd3lm", root))
    bpb = _heldout_bpb(cfg, lambda *a: forward(model, *a), "sft", tok,
                       cfg["data"]["max_length"], tok.mask_token_id, root)
    log.info("SFT student held-out bits/byte: %.4f", bpb)
    _save_model(model, tok, paths.model("bd3lm", root), "bd3lm", root,
                heldout_bits_per_byte=bpb, train=summary)


def train_teacher(cfg: Config, pipeline: str, root=None) -> None:
    """A tiny teacher (random init, or models.ar's weights with ``from_ar``) trained for its
    configured steps, its held-out bits/byte recorded at each checkpoint (every 200 steps: a
    record costs ~5 s on the demo's critical path) and at the end (paper: the real teacher,
    loaded by hub id). It does not wait for the SFT student: whether it beats the student by
    the configured margin is checked afterwards (:func:`check_teacher`), so a teacher trains
    beside the SFT (and, from scratch, beside the AR model too)."""
    from tide.distill.noise import diffusion_loss
    from tide.models.build import build_dense, build_moe
    from tide.models.teachers import diffusion_logits
    from tide.train import train

    spec, name = cfg["models"]["teachers"][pipeline], f"teacher_{pipeline}"
    typed = cfg.tree.models.teachers[pipeline]  # the same section, with its defaults
    if spec["init"] != "train":
        atomic_write_json(paths.model_metrics(name, root), hub_pointer(cfg, spec["init"]))
        return
    tok_name = TEACHER_TOKENIZER[pipeline]
    tok, mask_id = tokenizer(cfg, tok_name, root), teacher_mask_id(cfg, pipeline, root)
    max_len = cfg["data"]["teacher_max_length"][pipeline]
    tokens = dict(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None)
    if typed.from_ar:  # the AR model's weights over the teacher's vocabulary (config.py checks B)
        from transformers import AutoModelForCausalLM

        from tide.models.build import dense_from_causal

        ar = AutoModelForCausalLM.from_pretrained(model_pointer("ar", root)["path"])
        model = dense_from_causal(ar, tokenizer(cfg, "student", root), tok,
                                  max_positions=max(4 * max_len, ar.config.max_position_embeddings),
                                  attn_implementation=cfg["attn_implementation"], **tokens)
    else:
        build = build_moe if spec["arch"] == "moe" else build_dense
        model = build(len(tok), spec["dims"], max_positions=4 * max_len,
                      attn_implementation=cfg["attn_implementation"], seed=cfg["seed"] + 2,
                      **tokens)

    def forward(m, xt, x0, valid):
        return diffusion_logits(m, spec["kind"], xt, x0, valid, block_size=cfg["block_size"],
                                concat_order=typed.concat_order)

    curve = []

    def record(step: int) -> bool:
        model.eval()
        bpb = _heldout_bpb(cfg, lambda *a: forward(model, *a), SFT_KIND[tok_name], tok,
                           max_len, mask_id, root)
        model.train()
        curve.append({"step": step, "heldout_bits_per_byte": bpb})
        log.info("teacher %s step %d: held-out %.4f bits/byte", pipeline, step, bpb)
        return False

    state = paths.state_dir("models", name, root)
    summary = train(model, _rows(SFT_KIND[tok_name], "train", root),
                    _collate_sft(tok, cfg, max_len), diffusion_loss(forward, mask_id),
                    _settings(cfg, typed.train, 2, checkpoint_every=200), state_dir=state,
                    log_path=state / "metrics.jsonl", should_stop=record,
                    **_identity(cfg, "train_teacher", name, root))
    if not curve or curve[-1]["step"] != summary["steps"]:
        record(summary["steps"])
    _save_model(model, tok, paths.model(name, root), name, root,
                heldout_bits_per_byte=curve[-1]["heldout_bits_per_byte"],
                curve=curve, train=summary, mask_token_id=mask_id)


def check_teacher(cfg: Config, pipeline: str, root=None) -> None:
    """A trained tiny teacher against the SFT student, before any distillation reads it:
    its held-out bits/byte must be at most ``target_bpb_ratio`` x the student's (both
    measured on the same held-out text, per byte). Writes the comparison, or raises naming
    the config fields to change (no file is written then)."""
    typed = cfg.tree.models.teachers[pipeline]
    teacher = model_pointer(f"teacher_{pipeline}", root)
    student_bpb = model_pointer("bd3lm", root)["heldout_bits_per_byte"]
    final, target = teacher["heldout_bits_per_byte"], typed.target_bpb_ratio * student_bpb
    steps = teacher.get("train", {}).get("steps")
    if final > target:
        raise RuntimeError(
            f"teacher {pipeline}: held-out {final:.4f} bits/byte after {steps} steps, expected "
            f"<= {target:.4f} ({typed.target_bpb_ratio} x the SFT student's {student_bpb:.4f}); "
            f"raise models.teachers.{pipeline}.train.steps (or lower models.student.sft.steps) "
            f"in the config file the workflow ran (this job read its resolved copy, "
            f"{cfg.source})")
    log.info("teacher %s: %.4f bits/byte = %.3f x the SFT student's %.4f (target <= %s)",
             pipeline, final, final / student_bpb, student_bpb, typed.target_bpb_ratio)
    atomic_write_json(paths.teacher_check(pipeline, root), {
        "teacher": f"teacher_{pipeline}", "teacher_bits_per_byte": final,
        "student_bits_per_byte": student_bpb, "ratio_to_student": final / student_bpb,
        "target_bpb_ratio": typed.target_bpb_ratio, "teacher_steps": steps})
