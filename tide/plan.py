"""How the evaluation is split into jobs, and what the plan costs (issue 14).

Generation cost of one (model, benchmark) is bounded by

    tokens = docs × max_new_tokens        (answers stopping early at EOS cost less),
    seconds = tokens / eval.throughput_tokens_per_s.

Shards: ``eval.shards`` (one count, or per benchmark) when given; otherwise, with a stated
throughput, the fewest shards whose estimated time fits ``FILL`` of the ``eval_generate``
runtime: K = ⌈seconds / (FILL · runtime)⌉. Without either, one shard. The estimate only
sizes jobs: completion is guaranteed by resume (tide/eval/store.py), not by the estimate.

Training GPU-hours: ``throughput.distill_seconds_per_step`` × the run's steps × its GPUs
(steps from ``distill.*.steps``, or epochs × ``throughput.distill_steps_per_epoch``).
Every figure states its source; a missing figure shows as unknown, never as zero.
"""

from __future__ import annotations

import copy
import json
import math

from tide.eval.benchmarks import BENCHMARKS

#: share of a generation job's time limit the estimate may fill (the rest absorbs the
#: model load, slower answers and the estimate's error)
FILL = 0.8
GENERATE_RULE = "eval_generate"


def eval_docs(cfg, benchmark: str) -> int:
    """Documents evaluated: the split's size, or ``limit`` per (sub)task when set."""
    from tide.eval.taskfiles import subtasks

    bench = BENCHMARKS[benchmark]
    limit = cfg.tree.eval.limit
    if limit is None:
        return bench.n_docs
    return min(bench.n_docs, int(limit) * len(subtasks(bench.task)))


def eval_tokens(cfg, benchmark: str) -> int:
    """Upper bound on generated tokens: docs × max_new_tokens."""
    return eval_docs(cfg, benchmark) * BENCHMARKS[benchmark].max_new_tokens


def eval_seconds(cfg, benchmark: str) -> float | None:
    """Estimated generation seconds of one model on one benchmark (None: no throughput)."""
    tps = cfg.tree.eval.throughput_tokens_per_s
    return None if not tps else eval_tokens(cfg, benchmark) / float(tps)


def eval_shards(cfg, benchmark: str) -> int:
    """Generation shards of one (model, benchmark) evaluation (module docstring)."""
    shards = cfg.tree.eval.shards
    if isinstance(shards, int):
        return shards
    if isinstance(shards, dict) and benchmark in shards:
        return int(shards[benchmark])
    seconds = eval_seconds(cfg, benchmark)
    if seconds is None:
        return 1
    budget = FILL * cfg.tree.rule_resources(GENERATE_RULE).runtime * 60
    return max(1, math.ceil(seconds / budget))


def _gpus(cfg, rule: str) -> int:
    return cfg.tree.rule_resources(rule).gpus


def distill_seconds(cfg, run) -> float | None:
    """Estimated wall seconds of one distillation run (None: figures missing)."""
    tp = cfg.tree.throughput

    def figure(name):
        value = getattr(tp, name) if tp is not None else None
        return value.get(run.pipeline) if isinstance(value, dict) else value

    per_step, per_epoch = figure("distill_seconds_per_step"), figure("distill_steps_per_epoch")
    steps = run.steps
    if steps is None and run.epochs is not None and per_epoch:
        steps = math.ceil(run.epochs * per_epoch)
    return None if per_step is None or steps is None else float(per_step) * steps


def estimate(cfg, model_ids: list[str], benchmarks_of) -> list[dict]:
    """One row per rule: jobs, estimated hours per job, runtime limit, GPU-hours in all.

    ``benchmarks_of(model_id)`` lists a model's benchmarks (ablations may have fewer).
    """
    rows = []
    runs = [r for r in cfg.runs()]
    secs = [distill_seconds(cfg, r) for r in runs]
    if runs:
        known = [s for s in secs if s is not None]
        rows.append({"rule": "distill", "jobs": len(runs),
                     "hours_per_job": max(known) / 3600 if known else None,
                     "runtime_h": cfg.tree.rule_resources("distill").runtime / 60,
                     "gpus": _gpus(cfg, "distill"),
                     "gpu_hours": (sum(known) / 3600 * _gpus(cfg, "distill")
                                   if len(known) == len(secs) else None)})
    gen_runtime = cfg.tree.rule_resources(GENERATE_RULE).runtime / 60
    for bench in sorted({b for m in model_ids for b in benchmarks_of(m)}):
        n_models = sum(bench in benchmarks_of(m) for m in model_ids)
        k = eval_shards(cfg, bench)
        s = eval_seconds(cfg, bench)
        rows.append({"rule": f"{GENERATE_RULE}[{bench}]", "jobs": n_models * k,
                     "hours_per_job": None if s is None else s / k / 3600,
                     "runtime_h": gen_runtime, "gpus": _gpus(cfg, GENERATE_RULE),
                     "gpu_hours": None if s is None
                     else n_models * s / 3600 * max(1, _gpus(cfg, GENERATE_RULE))})
    return rows


def plan_models(cfg, released: bool = True) -> tuple[list[str], callable]:
    """(model ids the plan evaluates, benchmarks_of): as workflow/rules/common.smk."""
    runs = cfg.runs()
    ids = ["ar", "bd3lm"] + [r.model_id for r in runs]
    if released:
        ids += sorted(cfg.tree.eval.checkpoints)
    ablations = {r.model_id for r in runs if r.is_ablation}
    ev = cfg.tree.eval
    return ids, (lambda m: list(ev.ablation_benchmarks or ev.benchmarks)
                 if m in ablations else list(ev.benchmarks))


def measured_throughput(root=None) -> tuple[float, str] | None:
    """(tokens/s, device) of the student's generation as ``tide bench generation`` measured
    it (``<root>/bench/generation.json``, row ``student``), or None."""
    from tide import paths

    path = paths._r(root) / "bench" / "generation.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    rows = [r for r in data.get("rows", []) if r.get("model") == "student"]
    if not rows:
        return None
    device = data.get("device")
    return float(rows[0]["tokens_per_s"]), json.dumps(device) if isinstance(device, dict) \
        else str(device)


def plan_text(cfg, root=None, use_bench: bool = False) -> str:
    """What ``tide plan`` prints: per-rule estimate and the total, with the figures' source.

    ``use_bench``: take the generation throughput from ``tide bench generation``'s result
    instead of ``eval.throughput_tokens_per_s`` (the refresh of the config's figure)."""
    measured = measured_throughput(root)
    note = ""
    if measured:
        note = (f"\n(tide bench measured {measured[0]:.1f} tokens/s for the student on "
                f"{measured[1][:80]}; {'used here' if use_bench else 'use it: tide plan --use-bench, or set eval.throughput_tokens_per_s'})")
        if use_bench:  # a config with the measured figure: a new Config from the raw dict
            raw = copy.deepcopy(cfg.raw)
            raw["eval"]["throughput_tokens_per_s"] = measured[0]
            cfg = type(cfg)(raw=raw, source=f"{cfg.source} + bench")
    ids, of = plan_models(cfg)
    tps = cfg.tree.eval.throughput_tokens_per_s
    head = (f"{len(ids)} models evaluated ({', '.join(ids)}); generation at "
            f"{tps if tps else 'unknown'} tokens/s (eval.throughput_tokens_per_s), "
            f"docs × max_new_tokens per answer (an upper bound: answers stop at EOS)")
    return head + note + "\n" + format_plan(estimate(cfg, ids, of))


def format_plan(rows: list[dict]) -> str:
    """The estimate as a fixed-width table with a total line (unknown stays unknown)."""
    def f(x, fmt="{:.1f}"):
        return "unknown" if x is None else fmt.format(x)

    lines = [f"{'rule':<28}{'jobs':>6}{'h/job':>9}{'limit h':>9}{'fits':>6}{'GPU-h':>10}"]
    total, unknown = 0.0, False
    for r in rows:
        fits = "?" if r["hours_per_job"] is None else (
            "yes" if r["hours_per_job"] <= r["runtime_h"] * FILL else "NO")
        lines.append(f"{r['rule']:<28}{r['jobs']:>6}{f(r['hours_per_job'], '{:.2f}'):>9}"
                     f"{r['runtime_h']:>9.1f}{fits:>6}{f(r['gpu_hours']):>10}")
        if r["gpu_hours"] is None:
            unknown = True
        else:
            total += r["gpu_hours"]
    lines.append(f"{'total':<28}{'':>6}{'':>9}{'':>9}{'':>6}{total:>10.1f}"
                 + ("  (+ rules with unknown figures)" if unknown else ""))
    return "\n".join(lines)
