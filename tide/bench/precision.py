"""Training precision, measured: bf16_pure vs bf16_mixed vs fp32 on the tiny default's shapes.

``python -m tide.bench.precision [--steps N] [--lr LR]`` trains the same tiny student
(config/tiny.yaml's shapes: hidden 64, 2 layers; N(0, 0.02) init) against the same tiny
pipeline-B teacher (hidden 128, 4 layers) with TIDAL + CompDemo, through ``tide.train.train``
with the run's warm-up + cosine schedule, once per precision, and reports per precision: the
share of RMSNorm weights and of matrix entries that changed, the final loss (mean of the last
five steps) and the relative distance of the final weights from the fp32 run's
(tide/precision.py explains why pure bf16 drops updates). CPU, seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import types
from pathlib import Path

import torch

from tide import precision as prec_mod
from tide.bench.distill import make_batch, synthetic_rows
from tide.distill.objective import DistillContext, distill_loss
from tide.models.build import build_dense
from tide.models.student import A2DQwen3Config, A2DQwen3LMHeadModel
from tide.models.teachers import Teacher
from tide.train import TrainSettings, train

VOCAB, LENGTH, BLOCK = 512, 64, 32
STUDENT = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
               intermediate_size=192, head_dim=16)  # config/tiny.yaml models.ar.dims
TEACHER = dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
               intermediate_size=384)  # a dense teacher twice the tiny student (its former dims)


def _student(precision: str):
    torch.manual_seed(0)
    cfg = A2DQwen3Config(vocab_size=VOCAB, block_size=BLOCK, mask_token_id=VOCAB - 1,
                         max_position_embeddings=256, initializer_range=0.02,
                         tie_word_embeddings=True, **STUDENT)
    return A2DQwen3LMHeadModel(cfg).to(prec_mod.weights_dtype(precision))


def _run(precision: str, steps: int, lr: float, out: Path) -> tuple[dict, dict]:
    student = _student(precision)
    init = {k: v.detach().float().clone() for k, v in student.named_parameters()}
    teacher = Teacher(build_dense(VOCAB, TEACHER, max_positions=256, seed=1).to(torch.bfloat16),
                      "bd3lm", VOCAB - 1, block_size=BLOCK)
    spec = types.SimpleNamespace(objective="tidal", compdemo=True, rho=0.5, temperature=2.0,
                                 weight=1.0, l_init=0.1, l_max=0.9, schedule="cosine",
                                 axis_mode="both", weighting="midrange")
    ctx = DistillContext(student, teacher, spec, VOCAB - 1, VOCAB - 96, BLOCK)
    rows = synthetic_rows(64, LENGTH, VOCAB)
    summary = train(student, rows, lambda r: make_batch("B", r, LENGTH, BLOCK, "cpu"),
                    lambda m, b, p, g: distill_loss(ctx, b, p, g),
                    TrainSettings(steps=steps, lr=lr, batch_size=8, warmup_ratio=0.1,
                                  checkpoint_every=10 ** 6, log_every=10 ** 6, precision=precision),
                    state_dir=out / precision, log_path=out / f"{precision}.jsonl")
    losses = [json.loads(x)["loss"] for x in (out / f"{precision}.jsonl").read_text().splitlines()]
    moved = {"norm": [0, 0], "matrix": [0, 0]}
    for name, p in student.named_parameters():
        kind = "norm" if "norm" in name else "matrix"
        moved[kind][0] += int((p.detach().float() != init[name]).sum())
        moved[kind][1] += p.numel()
    final = {k: v.detach().float() for k, v in student.named_parameters()}
    return {"precision": precision, "steps": summary["steps"], "lr": lr,
            "norm_weights_changed": moved["norm"][0] / moved["norm"][1],
            "matrix_entries_changed": moved["matrix"][0] / moved["matrix"][1],
            "first_loss": losses[0], "final_loss": sum(losses[-5:]) / len(losses[-5:])}, final


def compare(steps: int, lr: float) -> list[dict]:
    """One row per precision (see the module docstring)."""
    rows, weights = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for p in ("fp32", "bf16_mixed", "bf16_pure"):
            row, weights[p] = _run(p, steps, lr, Path(tmp))
            rows.append(row)
    ref = weights["fp32"]
    for row in rows:
        w = weights[row["precision"]]
        num = sum(float((w[k] - ref[k]).pow(2).sum()) for k in ref)
        den = sum(float(ref[k].pow(2).sum()) for k in ref)
        row["rel_distance_from_fp32"] = (num / den) ** 0.5
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60, help="optimizer steps (tiny default: 60)")
    ap.add_argument("--lr", type=float, default=5e-5, help="peak lr (paper 5e-5; tiny 5e-4)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    cols = ("precision", "steps", "lr", "norm_weights_changed", "matrix_entries_changed",
            "first_loss", "final_loss", "rel_distance_from_fp32")
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for row in compare(args.steps, args.lr):
        print("| " + " | ".join(f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c])
                                for c in cols) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
