"""``tide <subcommand>``: one subcommand per Snakemake rule, usable by hand.

Every subcommand takes ``--config`` (a YAML file, validated first) and ``--root``
(the results directory, default ``results``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

# Nothing in this workflow may reach a model or dataset hub unless a user asks for it.
for _var in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger("tide")


def _add(sub, name: str, help_: str, **args):
    p = sub.add_parser(name, help=help_)
    for flag, kw in args.items():
        p.add_argument(f"--{flag.replace('_', '-')}", **kw)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tide", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/tiny.yaml", help="experiment YAML")
    parser.add_argument("--root", default="results", help="results directory")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="cmd", required=True)
    _add(sub, "validate", "validate the config and exit")
    _add(sub, "corpus", "write the corpus (tiny: generated; cluster: the SFT mixture)")
    _add(sub, "tokenizers", "train the tiny tokenizers / record the hub tokenizers")
    _add(sub, "dataset", "tokenize one dataset in the authors' schema",
         kind=dict(required=True, choices=["sft", "sft_teacher_a", "sft_teacher_b", "A", "B"]),
         split=dict(required=True, choices=["train", "heldout"]))
    _add(sub, "eval-data", "tiny path: held-out benchmark items in the real schemas",
         benchmark=dict(required=True))
    _add(sub, "train-ar", "train the AR baseline (tiny) or point at Qwen3-0.6B")
    _add(sub, "sft", "AR -> BD3LM conversion + SFT (tiny) or point at the dllm-hub student")
    _add(sub, "train-teacher", "train a tiny teacher until it beats the student",
         pipeline=dict(required=True, choices=["A", "B"]))
    _add(sub, "distill", "one distillation run", pipeline=dict(required=True, choices=["A", "B"]),
         run=dict(required=True))
    _add(sub, "eval", "lm-eval one model on one benchmark", model_id=dict(required=True),
         benchmark=dict(required=True))
    p = sub.add_parser("scores", help="collect score.json files into one tidy CSV")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--out", required=True)
    p = sub.add_parser("ablation-rows", help="one ablation's table rows (scores + what differs)")
    p.add_argument("scores", nargs="+")
    p.add_argument("--spec", required=True, help="the ablation run's run.json")
    p.add_argument("--out", required=True)
    _add(sub, "report", "tables and figures from result files",
         scores=dict(default=None), out=dict(default="reports"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import torch

    # One thread per Snakemake thread: oversubscribing 2 cores slows tiny matmuls ~100x.
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    from tide import stages
    from tide.config import ConfigError, load_config

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    root = args.root
    actions = {
        "validate": lambda: log.info("%s: valid", args.config),
        "corpus": lambda: stages.corpus(cfg, root),
        "tokenizers": lambda: stages.tokenizers(cfg, root),
        "dataset": lambda: stages.dataset(cfg, args.kind, args.split, root),
        "eval-data": lambda: stages.eval_data(cfg, args.benchmark, root),
        "train-ar": lambda: stages.train_ar(cfg, root),
        "sft": lambda: stages.sft_student(cfg, root),
        "train-teacher": lambda: stages.train_teacher(cfg, args.pipeline, root),
        "distill": lambda: stages.distill(cfg, args.pipeline, args.run, root),
        "eval": lambda: stages.evaluate(cfg, args.model_id, args.benchmark, root),
        "scores": lambda: stages.collect_scores(args.inputs, args.out),
        "ablation-rows": lambda: stages.ablation_rows(cfg, args.spec, args.scores, args.out),
        "report": lambda: stages.report(cfg, args.scores, args.out, root),
    }
    actions[args.cmd]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
