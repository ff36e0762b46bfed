"""Do the tiny models learn the tiny benchmarks? Train and score them with tide's own code.

    python benchmarks/diagnosis/tiny_tasks.py ROOT [--config config/tiny.yaml]
        [--set models.student.sft.steps=600 ...] [--teachers B,A] [--benchmarks mmlu,gsm8k]
        [--models ar,bd3lm,teacher_B] [--eval-block-size 8] [--vocab-caps 512,700]

Runs, in ROOT (a results directory), the tiny default's own stages in order — corpus,
tokenizers, datasets, held-out eval items, AR, AR -> BD3LM SFT, the teachers — then
evaluates each model on each benchmark through the real path (tide.eval.run.evaluate:
the sampler, lm-eval, the task YAMLs, code execution) and prints one line per
(model, benchmark): score, 95 % bootstrap interval, n, and the CPU seconds of each
training and evaluation. Stages whose output exists are skipped (rerun with a new ROOT
after changing the corpus or the models).

The teachers have no lm-eval model of their own in the DAG. Here teacher B (a dense
BD3LM over [x_0 ; x_t], the student's layout) is saved as a BD3LM checkpoint (the same
weights, the student's model class, its own mask id and tokenizer) and goes through the
student's ``tide_bd3lm`` unchanged; its chat template has no think block, so it is
evaluated with ``inject_think=False``. Teacher A (bidirectional MoE) has no such route
(no block sampler for it); it is trained only if ``--teachers`` names it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

log = logging.getLogger("tiny_tasks")


def _set(raw: dict, assignment: str) -> None:
    """``a.b.c=value`` (value parsed as YAML) into the nested dict ``raw``."""
    key, value = assignment.split("=", 1)
    *parents, last = key.split(".")
    node = raw
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = yaml.safe_load(value)


def _timed(label: str, fn, *args, times: dict, **kwargs):
    cpu, wall = time.process_time(), time.time()
    out = fn(*args, **kwargs)
    times[label] = {"cpu_s": round(time.process_time() - cpu, 1),
                    "wall_s": round(time.time() - wall, 1)}
    log.info("%s: %s", label, times[label])
    return out


def _stage_helpers():
    """tide.stages.common (model pointers, tokenizers, mask ids), or the single module."""
    try:
        from tide.stages import common
    except ImportError:  # before tide/stages.py was split into a package
        from tide import stages as common
    return common


def _as_bd3lm(cfg, name: str, tok_name: str, root: Path) -> Path:
    """The teacher's weights as a BD3LM checkpoint the student's lm-eval model loads."""
    from transformers import AutoModelForCausalLM

    from tide.io import atomic_dir
    from tide.models.student import student_from_causal

    out = root / "models" / f"{name}_as_bd3lm"
    if out.is_dir():
        return out
    pipeline, stages = name[-1], _stage_helpers()
    teacher = AutoModelForCausalLM.from_pretrained(stages.model_pointer(name, root)["path"])
    model = student_from_causal(teacher, block_size=cfg["block_size"],
                                mask_token_id=stages.teacher_mask_id(cfg, pipeline, root),
                                attn_implementation=cfg["attn_implementation"])
    tok = stages.tokenizer(cfg, tok_name, root)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--config", default=str(ROOT / "config" / "tiny.yaml"))
    ap.add_argument("--set", action="append", default=[], help="a.b.c=value (YAML)")
    ap.add_argument("--teachers", default="B", help="comma list of pipelines, or ''")
    ap.add_argument("--models", default=None, help="models to evaluate (default: all trained)")
    ap.add_argument("--benchmarks", default=None)
    ap.add_argument("--eval-block-size", type=int, default=None,
                    help="sampler block size (default: the protocol's, 32)")
    ap.add_argument("--vocab-caps", default=None, metavar="STUDENT,TEACHER_A",
                    help="BPE vocabulary caps of the trained tokenizers (default: "
                         "tide.data.tokenizers'; 512,700 before the 2026-12-06 change)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("lm_eval", "httpx", "datasets", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from tide import paths, stages
    from tide.config import validate_dict

    raw = yaml.safe_load(Path(args.config).read_text())
    for a in args.set:
        _set(raw, a)
    root = args.root
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    cfg = validate_dict(raw, str(root / "config.yaml"))
    teachers = [t for t in args.teachers.split(",") if t]
    benchmarks = args.benchmarks.split(",") if args.benchmarks else cfg["eval"]["benchmarks"]
    times: dict = {}

    if not paths.corpus("train", root).is_file():
        _timed("corpus", stages.corpus, cfg, root, times=times)
    if args.vocab_caps:
        from tide.data import tokenizers as bpe

        bpe.STUDENT_VOCAB_SIZE, bpe.TEACHER_A_VOCAB_SIZE = map(int, args.vocab_caps.split(","))
    if not paths.tokenizers_dir(root).joinpath("student").is_dir():
        _timed("tokenizers", stages.tokenizers, cfg, root, times=times)
    kinds = ["sft"] + [f"sft_teacher_{t.lower()}" for t in teachers]
    for kind in kinds:
        for split in ("train", "heldout"):
            if not paths.dataset(kind, split, root).exists():
                _timed(f"dataset {kind}/{split}", stages.dataset, cfg, kind, split, root, times=times)
    for b in benchmarks:
        if not paths.eval_data(b, root).is_dir():
            stages.eval_data(cfg, b, root)
    if not paths.model_metrics("ar", root).is_file():
        _timed("train ar", stages.train_ar, cfg, root, times=times)
    if not paths.model_metrics("bd3lm", root).is_file():
        _timed("sft student", stages.sft_student, cfg, root, times=times)
    for t in teachers:
        if not paths.model_metrics(f"teacher_{t}", root).is_file():
            _timed(f"train teacher {t}", stages.train_teacher, cfg, t, root, times=times)

    from tide.eval.run import evaluate

    ev = cfg["eval"]
    # model id -> (lm-eval model, checkpoint, inject_think); the AR baseline through lm-eval's hf
    pointer = _stage_helpers().model_pointer
    pretrained = {"bd3lm": ("tide_bd3lm", pointer("bd3lm", root)["path"], True),
                  "ar": ("hf", pointer("ar", root)["path"], None)}
    for t in (t for t in teachers if t == "B"):
        tok_name = {"A": "teacher_a", "B": "teacher_b"}[t]  # the pipeline's teacher tokenizer
        pretrained[f"teacher_{t}"] = ("tide_bd3lm",
                                      str(_as_bd3lm(cfg, f"teacher_{t}", tok_name, root)), False)
    models = args.models.split(",") if args.models else [m for m in pretrained if m != "ar"]
    scores = {}
    for m in models:
        lm, path, think = pretrained[m]
        for b in benchmarks:
            out = root / "eval" / m / b
            if not (out / "score.json").is_file():
                model_args = {"pretrained": path, "dtype": cfg["dtype"], "device": "cpu"}
                if lm == "tide_bd3lm":
                    model_args.update(attn_implementation=cfg["attn_implementation"],
                                      inject_think=think)
                    if args.eval_block_size:
                        model_args["block_size"] = args.eval_block_size
                _timed(f"eval {m} {b}", evaluate, model_args, b, out,
                       data_files=str(paths.eval_data(b, root).resolve()), limit=ev.get("limit"),
                       batch_size=ev["batch_size"], model=lm, seed=ev["seed"], times=times)
            scores[(m, b)] = json.loads((out / "score.json").read_text())
    bpb = {m: pointer(m, root).get("heldout_bits_per_byte")
           for m in ["bd3lm"] + [f"teacher_{t}" for t in teachers]}
    lines = [f"# {root}", f"held-out bits/byte: {bpb}", "",
             "| model | " + " | ".join(benchmarks) + " |",
             "|---|" + "---|" * len(benchmarks)]
    for m in models:
        cells = []
        for b in benchmarks:
            s = scores[(m, b)]
            lo, hi = s.get("ci95") or (float("nan"), float("nan"))
            cells.append(f"{s['value']:.1f} [{lo:.0f}, {hi:.0f}] n={s['n']}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "CPU seconds: " + json.dumps(times)]
    text = "\n".join(lines)
    (root / "summary.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
