"""``tide <subcommand>``: one subcommand per Snakemake rule, usable by hand.

Every subcommand takes ``--config`` (a YAML file, validated first) and ``--root``
(the results directory, default ``results``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from tide.slurm import SIGNAL_LEAD_S

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
    parser.add_argument("--config", default=None,
                        help="experiment YAML (default config/tiny.yaml; rehearsal-hub: "
                             "config/paper.yaml)")
    parser.add_argument("--root", default="results", help="results directory")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--rank-log", default=None,
                        help="also log to this file, '{rank}' replaced by the process's rank")
    sub = parser.add_subparsers(dest="cmd", required=True)
    _add(sub, "validate", "validate the config, log the per-rank memory estimate, exit")
    _add(sub, "memory", "per-rank GPU memory estimate of every distillation run (tide/memory.py)")
    _add(sub, "plan", "estimated GPU-hours per rule and for the whole plan (tide/plan.py)",
         use_bench=dict(action="store_true", help="generation throughput from tide bench's "
                        "<root>/bench/generation.json instead of eval.throughput_tokens_per_s"))
    _add(sub, "corpus", "write the corpus (tiny: generated; cluster: the SFT mixture)")
    _add(sub, "tokenizers", "train the tiny tokenizers / record the hub tokenizers")
    _add(sub, "dataset", "tokenize one dataset in the authors' schema",
         kind=dict(required=True, choices=["sft", "sft_teacher_a", "sft_teacher_b", "A", "B"]),
         split=dict(required=True, choices=["train", "heldout"]))
    _add(sub, "eval-data", "tiny path: held-out benchmark items in the real schemas",
         benchmark=dict(required=True))
    _add(sub, "train-ar", "train the AR baseline (tiny) or point at Qwen3-0.6B")
    _add(sub, "sft", "AR -> BD3LM conversion + SFT (tiny) or point at the dllm-hub student")
    _add(sub, "train-teacher", "train a tiny teacher (its configured steps)",
         pipeline=dict(required=True, choices=["A", "B"]))
    _add(sub, "check-teacher", "a trained tiny teacher must beat the SFT student by "
         "target_bpb_ratio (before distillation)", pipeline=dict(required=True, choices=["A", "B"]))
    _add(sub, "distill", "one distillation run", pipeline=dict(required=True, choices=["A", "B"]),
         run=dict(required=True), seed=dict(type=int, default=0,
                                            help="k > 0: the run's repeat with seed + k"))
    _add(sub, "heldout", "held-out NLL (bits/byte) and divergence from the teachers of one "
         "model, per example (several ids: one after the other, in one process)",
         model_id=dict(required=True, nargs="+"),
         seed=dict(type=int, default=0, help="k > 0: the run's seed-k repeat"))
    _add(sub, "eval", "lm-eval one model on one benchmark", model_id=dict(required=True),
         benchmark=dict(required=True))
    _add(sub, "eval-generate", "generate (or resume) one shard k/K of an evaluation",
         model_id=dict(required=True), benchmark=dict(required=True),
         shard=dict(default="0/1", help="k/K: documents with doc_id mod K == k"))
    p = _add(sub, "eval-merge", "join an evaluation's finished shards",
             model_id=dict(required=True), benchmark=dict(required=True))
    p.add_argument("done", nargs="+", help="the shards' .done.json files")
    _add(sub, "eval-score", "score stored generations (CPU: filters, metrics, code execution)",
         model_id=dict(required=True), benchmark=dict(required=True))
    _add(sub, "eval-model", "generate, merge and score several benchmarks of one model in one "
         "process (eval.per_model): the staged path's files", model_id=dict(required=True),
         benchmarks=dict(required=True, nargs="+"))
    _add(sub, "rehearsal-hub", "write tiny stand-ins of every hub repository the config loads "
         "(real ids, formats, revisions) as a Hugging Face cache to use as HF_HOME",
         out=dict(required=True, help="the new HF_HOME (never your own cache)"))
    _add(sub, "prefetch", "download every model, tokenizer and dataset of the config at its "
         "revision into HF_HOME (login node), check it loads offline, write the commits",
         source=dict(default=None, help="copy from this hub-layout cache (a mirror) instead "
                                        "of the hub"))
    _add(sub, "preflight", "load each model, one distillation step per pipeline, one "
         "generation per benchmark; writes <root>/preflight.json")
    p = sub.add_parser("scores", help="collect score.json files into one tidy CSV")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--out", required=True)
    p = sub.add_parser("ablation-rows", help="one ablation's table rows (scores + what differs)")
    p.add_argument("scores", nargs="+")
    p.add_argument("--spec", required=True, help="the ablation run's run.json")
    p.add_argument("--out", required=True)
    p = sub.add_parser("launch", help="run a tide subcommand as N ranks (srun in a SLURM "
                       "allocation, torchrun elsewhere, in place for N=1)")
    p.add_argument("--tasks", type=int, default=1)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="-- <subcommand and its options>")
    p = _add(sub, "submit", "one distillation run as a SLURM job through submitit (outside "
             "the DAG, same code path as the distill rule)",
             pipeline=dict(required=True, choices=["A", "B"]), run=dict(required=True),
             tasks=dict(type=int, default=1, help="ranks (one per GPU when --gpus-per-task)"),
             nodes=dict(type=int, default=1), gpus_per_task=dict(type=int, default=0),
             cpus_per_task=dict(type=int, default=1), mem_gb=dict(type=float, default=8),
             time_min=dict(type=int, default=60), partition=dict(default=None),
             account=dict(default=None), folder=dict(default="results/logs/submitit"),
             signal_delay_s=dict(type=int, default=SIGNAL_LEAD_S,
                                 help="SLURM sends submitit's SIGUSR2 this many seconds before "
                                 "the time limit: training checkpoints and the job is requeued "
                                 "(the training rules' lead, tide/slurm.py)"))
    p.add_argument("--wait", action="store_true", help="wait for the job and fail if it fails")
    _add(sub, "heldout-report", "held-out table and figure from results/heldout/*.json",
         out=dict(default="reports"))
    _add(sub, "report", "tables and figures from result files",
         scores=dict(default=None), out=dict(default="reports"))
    from tide.bench import add_arguments as add_bench_arguments

    add_bench_arguments(sub.add_parser("bench", help="measure sampler, distillation, CompDemo "
                                       "and eval costs into <root>/bench (tide/bench)"))
    return parser


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["lm-eval"]:  # lm-eval's own CLI, every flag passed through unparsed
        from tide.eval.cli import main as lm_eval_main

        return lm_eval_main(raw[1:])
    args = build_parser().parse_args(argv)
    if args.config is None:
        args.config = "config/paper.yaml" if args.cmd == "rehearsal-hub" else "config/tiny.yaml"
    from tide.launch import LOG_FORMAT, rank_log_handler

    handlers = [logging.StreamHandler()]
    if args.rank_log:
        handlers.append(rank_log_handler(args.rank_log))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=handlers,
                        format=LOG_FORMAT)
    if args.cmd == "launch":
        return _launch(args)
    import torch

    # One thread per Snakemake thread: oversubscribing 2 cores slows tiny matmuls ~100x.
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    if args.cmd == "bench":  # needs no config; imports only torch + transformers
        from tide.bench import main_from_args

        return main_from_args(args, args.root, ["tide", *(sys.argv[1:] if argv is None else argv)])
    from tide import stages
    from tide.config import ConfigError, load_config

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    root = args.root
    actions = {
        "validate": lambda: _validate(args.config, cfg),
        "memory": lambda: _memory(cfg),
        "plan": lambda: print(__import__("tide.plan", fromlist=["plan_text"]).plan_text(
            cfg, root, use_bench=args.use_bench)),
        "corpus": lambda: stages.corpus(cfg, root),
        "tokenizers": lambda: stages.tokenizers(cfg, root),
        "dataset": lambda: stages.dataset(cfg, args.kind, args.split, root),
        "eval-data": lambda: stages.eval_data(cfg, args.benchmark, root),
        "train-ar": lambda: stages.train_ar(cfg, root),
        "sft": lambda: stages.sft_student(cfg, root),
        "train-teacher": lambda: stages.train_teacher(cfg, args.pipeline, root),
        "check-teacher": lambda: stages.check_teacher(cfg, args.pipeline, root),
        "distill": lambda: stages.distill(cfg, args.pipeline, args.run, root, args.seed),
        "heldout": lambda: _heldout(cfg, args.model_id, args.seed, root),
        "heldout-report": lambda: _heldout_report(cfg, args.out, root),
        "eval": lambda: stages.evaluate(cfg, args.model_id, args.benchmark, root),
        "eval-generate": lambda: stages.eval_generate(cfg, args.model_id, args.benchmark,
                                                      args.shard, root),
        "eval-merge": lambda: stages.eval_merge(args.model_id, args.benchmark, args.done, root),
        "eval-score": lambda: stages.eval_score(cfg, args.model_id, args.benchmark, root),
        "eval-model": lambda: stages.eval_model(cfg, args.model_id, args.benchmarks, root),
        "scores": lambda: stages.collect_scores(args.inputs, args.out),
        "ablation-rows": lambda: stages.ablation_rows(cfg, args.spec, args.scores, args.out),
        "report": lambda: stages.report(cfg, args.scores, args.out, root),
        "submit": lambda: _submit(args),
        "rehearsal-hub": lambda: _rehearsal_hub(args),
        "prefetch": lambda: _prefetch(cfg, args),
    }
    if args.cmd == "preflight":
        from tide.prefetch import dumps, preflight

        summary = preflight(cfg, root)
        print(dumps(summary))
        return 0 if summary["ok"] else 1
    actions[args.cmd]()
    return 0


def _validate(path: str, cfg) -> None:
    from tide.memory import summary_lines

    log.info("%s: valid", path)
    for line in summary_lines(cfg):
        (log.warning if "NOT FIT" in line else log.info)("%s", line)


def _memory(cfg) -> None:
    from tide.memory import config_estimates, summary_lines, table

    print(table(config_estimates(cfg)))
    print("\n".join(summary_lines(cfg)))
def _rehearsal_hub(args) -> None:
    from tide.rehearsal.build import build_hub

    build_hub(args.out, args.config)
    log.info("rehearsal hub written: export HF_HOME=%s HF_HUB_OFFLINE=1 TIDE_REHEARSAL=1",
             os.path.abspath(args.out))


def _prefetch(cfg, args) -> None:
    from tide.prefetch import prefetch

    prefetch(cfg, args.root, source=args.source)


def _launch(args) -> int:
    from tide.launch import command, exec_command

    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    if not rest:
        print("error: tide launch: nothing to run; usage: tide launch --tasks N -- <subcommand>",
              file=sys.stderr)
        return 2
    inner = ["--config", args.config, "--root", args.root]
    if args.rank_log:
        inner += ["--rank-log", args.rank_log]
    argv = command(args.tasks, inner + rest)
    log.info("launch: %s", " ".join(argv))
    exec_command(argv)
    return 0  # not reached


def _heldout(cfg, model_ids: list[str], seed: int, root) -> None:
    from tide.heldout_eval import heldout_metrics

    # one process start-up (torch, transformers) for all of them, and one pass of each
    # pipeline's teacher: its outputs on the held-out noise are the same for every student
    shared: dict = {}
    for model_id in model_ids:
        heldout_metrics(cfg, model_id, root, seed, shared=shared)


def _heldout_report(cfg, out: str, root) -> None:
    from tide.report.heldout import write_heldout_report

    write_heldout_report(cfg, out, root)


def _submit(args) -> None:
    from tide.submit import submit_distill

    submit_distill(args)


if __name__ == "__main__":
    sys.exit(main())
