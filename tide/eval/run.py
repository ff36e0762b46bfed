"""Evaluate one model on one benchmark with lm-eval (docs/method.md §E3, §E4).

``evaluate`` calls ``lm_eval.simple_evaluate`` with the chat template applied and our task
YAMLs (``tide/eval/tasks``), then writes, atomically, into ``out_dir``:

- ``results.json``: lm-eval's own results dict (JSON-safe, without the samples),
- ``samples.jsonl``: the logged samples (one JSON object per document and filter),
- ``score.json``: the one number the report reads, with what produced it.

Offline / tiny path, hub cache: the data routes of tide.eval.routes (docs/method.md §E3).

Before lm-eval runs, the benchmark name and every task file's required fields are checked
(tide.eval.taskfiles); errors name the file and the field. score.json records the sampler
settings, batch size, seed, lm-eval version, lm-eval's task hashes, the sha256 of our task
files and the equivalent ``lm_eval`` command.

The student runs as ``tide_bd3lm`` (tide.eval.lm), the AR baseline through lm-eval's own
``hf`` model on the same tasks.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from tide.eval.benchmarks import BENCHMARKS, Benchmark
from tide.eval.routes import include_dir_for
from tide.eval.taskfiles import TASKS_DIR, task_file_hashes, task_index, validate_task
from tide.io import atomic_dir, atomic_write_json, atomic_write_text, provenance

log = logging.getLogger(__name__)

#: lm-eval model names this runner knows how to parameterise
MODELS = ("tide_bd3lm", "hf")


def available_benchmarks() -> list[str]:
    """Benchmarks of the protocol table (§E4) whose task file exists in tide/eval/tasks."""
    index = task_index()
    return sorted(name for name, b in BENCHMARKS.items() if b.task in index)


def benchmark_spec(name: str) -> Benchmark:
    """The §E4 protocol row of ``name``; unknown or not-yet-supported names raise ValueError."""
    valid = available_benchmarks()
    if name not in valid:
        raise ValueError(f"benchmark: unknown or unsupported {name!r}; expected one of {valid}")
    return BENCHMARKS[name]


def _parse_model_args(model_args: dict | str | None) -> dict:
    if model_args is None:
        return {}
    if isinstance(model_args, dict):
        return dict(model_args)
    from lm_eval.utils import simple_parse_args_string

    return simple_parse_args_string(model_args)


def resolve_model_args(model: str, model_args: dict | str | None, bench: Benchmark,
                       seed: int) -> dict:
    """Protocol defaults (§E4) under the caller's model_args (the caller's keys win)."""
    args = _parse_model_args(model_args)
    if model in MODELS and "pretrained" not in args:
        raise ValueError(f"model_args: expected a 'pretrained' entry, found {sorted(args)}")
    if model == "tide_bd3lm":
        protocol = {"max_new_tokens": bench.max_new_tokens, "steps": bench.max_new_tokens,
                    "block_size": bench.block_size, "temperature": 0.0, "cfg_scale": 0.0,
                    "seed": seed}
    elif model == "hf":  # the AR baseline answers like the student: no thinking block (§E1)
        protocol = {"dtype": "float32", "device": "cpu", "enable_thinking": False}
    else:  # another registered LM (tests): its model_args as given
        log.info("model %r is not one of %s: no protocol defaults added", model, MODELS)
        protocol = {}
    overridden = {k: args[k] for k in protocol if k in args and str(args[k]) != str(protocol[k])}
    if overridden:
        log.warning("%s on %s: model_args %s override the protocol values %s", model,
                    bench.name, overridden, {k: protocol[k] for k in overridden})
    return {**protocol, **args}


def memoize_lm_eval_per_process() -> None:
    """Compute once per process what lm-eval recomputes on every call (same results).

    Measured on the tiny default (cProfile of one ``tide eval-model``, 8 benchmarks = 17
    ``simple_evaluate`` calls): ``add_env_info`` runs torch's ``collect_env`` (pip and other
    subprocesses, ~0.7 s) per call, and ``lm_eval.utils.apply_template`` compiles the Jinja
    template of a field for every document (8.5k compilations). The environment does not
    change within a process and a template's compiled form does not depend on the document,
    so both are cached: the env text and every rendered string are unchanged. Idempotent.
    """
    import functools

    import lm_eval.utils
    import torch.utils.collect_env as collect_env

    if getattr(lm_eval.utils.apply_template, "_tide_memoized", False):
        return
    collect_env.get_pretty_env_info = functools.lru_cache(maxsize=1)(
        collect_env.get_pretty_env_info)
    compiled = functools.lru_cache(maxsize=4096)(lm_eval.utils.env.from_string)

    def apply_template(template: str, doc: dict) -> str:
        return compiled(template).render(**doc)

    apply_template._tide_memoized = True
    lm_eval.utils.apply_template = apply_template


def _json_safe(obj: Any) -> Any:
    from lm_eval.utils import handle_non_serializable

    return json.loads(json.dumps(obj, default=handle_non_serializable))


def _run_lm_eval(model: str, args: dict, bench: Benchmark, include_dir: Path, *, limit,
                 batch_size: int, seed: int, log_samples: bool) -> dict:
    import lm_eval
    import lm_eval.models  # noqa: F401  (built-ins registered before ours: docs/method.md §P3)
    from lm_eval.tasks import TaskManager

    import tide.eval.lm  # noqa: F401  (registers tide_bd3lm)

    memoize_lm_eval_per_process()
    tm = TaskManager(include_path=str(include_dir), include_defaults=False)
    return lm_eval.simple_evaluate(
        model=model, model_args=args, tasks=[bench.task], num_fewshot=bench.num_fewshot,
        batch_size=batch_size, limit=limit, log_samples=log_samples,
        apply_chat_template=True, fewshot_as_multiturn=True, task_manager=tm,
        confirm_run_unsafe_code=True,
        random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed,
        fewshot_random_seed=seed)


def _n_docs(results: dict, tasks: list[str]) -> int:
    counts = results["n-samples"]
    return sum(int(counts[t]["effective"]) for t in tasks if t in counts)


def _score(results: dict, bench: Benchmark, model: str, args: dict, *, batch_size: int,
           seed: int, limit, data, tasks: list[str]) -> dict:
    task_res = results["results"].get(bench.task) or results.get("groups", {}).get(bench.task)
    if task_res is None:
        raise KeyError(f"lm-eval results: no entry for {bench.task}; found "
                       f"{sorted(results['results'])}")
    key = f"{bench.metric},{bench.filter}"
    if key not in task_res:
        raise KeyError(f"lm-eval results for {bench.task}: no {key!r}; found {sorted(task_res)}")
    if model == "tide_bd3lm":
        sampler = results["config"].get("sampler")
    else:  # hf: greedy transformers generate, length/stops from the task's generation_kwargs
        sampler = {"model": model,
                   "generation_kwargs": results["configs"][tasks[0]].get("generation_kwargs", {})}
    return _json_safe({
        "benchmark": bench.name, "task": bench.task, "subtasks": tasks, "metric": bench.metric,
        "filter": bench.filter, "value": 100.0 * float(task_res[key]),
        "n": _n_docs(results, tasks),
        "model": model, "model_args": args, "sampler": sampler, "batch_size": batch_size,
        "seed": seed, "num_fewshot": bench.num_fewshot, "limit": limit,
        "apply_chat_template": True, "fewshot_as_multiturn": True,
        "data": data, "lm_eval": importlib.metadata.version("lm_eval"),
        "task_hashes": results.get("task_hashes", {}),
        "task_files": task_file_hashes(bench.task),
        "provenance": provenance(seed=seed)})


def task_hashes(samples: dict | None) -> dict[str, str]:
    """lm-eval's cumulative per-task hash of doc/prompt/target hashes (EvaluationTracker's)."""
    from lm_eval.utils import hash_string

    return {task: hash_string("".join(s["doc_hash"] + s["prompt_hash"] + s["target_hash"]
                                      for s in rows))
            for task, rows in (samples or {}).items()}


def _write_outputs(out_dir, results: dict, score: dict, include_dir: Path | None) -> None:
    """results.json, samples.jsonl (each row names its task), score.json and, for the
    offline route, ``tasks/`` (the derived YAMLs the recorded command includes)."""
    import shutil

    samples = results.pop("samples", None) or {}
    with atomic_dir(out_dir) as tmp:
        atomic_write_json(tmp / "results.json", _json_safe(results))
        lines = [json.dumps(_json_safe({"task": task, **s}), sort_keys=True, ensure_ascii=False)
                 for task in sorted(samples) for s in samples[task]]
        atomic_write_text(tmp / "samples.jsonl", "".join(line + "\n" for line in lines))
        if include_dir is not None and Path(include_dir) != TASKS_DIR:
            shutil.copytree(include_dir, tmp / "tasks")
        atomic_write_json(tmp / "score.json", score)


def finish(results: dict | None, bench: Benchmark, model: str, args: dict, out_dir, *,
           include_dir: Path, tasks: list[str], batch_size: int, seed: int, limit, data,
           extra: dict | None = None) -> dict:
    """score.json (+ 95 % interval and the reproducing command) and the output files."""
    from tide.eval.cli import lm_eval_command
    from tide.eval.stats import score_interval

    if results is None:
        raise RuntimeError("lm_eval.simple_evaluate returned None (not rank 0?)")
    results.setdefault("task_hashes", task_hashes(results.get("samples")))
    score = _score(results, bench, model, args, batch_size=batch_size, seed=seed, limit=limit,
                   data=data, tasks=tasks)
    rows = [{"task": t, **s} for t, rs in (results.get("samples") or {}).items() for s in rs]
    score.update(score_interval(rows, bench.metric, bench.filter))
    offline = Path(include_dir) != TASKS_DIR
    score["command"] = lm_eval_command(
        model, args, bench, batch_size=batch_size, limit=limit, seed=seed,
        include_path=Path(out_dir).resolve() / "tasks" if offline else TASKS_DIR)
    score.update(extra or {})
    _write_outputs(out_dir, results, score, include_dir)
    log.info("%s %s: %s/%s = %.2f%% [%s] (n=%d) -> %s", model, bench.name, bench.metric,
             bench.filter, score["value"], score.get("ci95"), score["n"], out_dir)
    return score


def evaluate(model_args: dict | str, benchmark: str, out_dir, *,
             data_files: dict | str | os.PathLike | None = None,
             limit: int | float | None = None, batch_size: int = 1,
             model: str = "tide_bd3lm", seed: int = 1234, log_samples: bool = True,
             extra: dict | None = None, hub_revisions: dict | None = None,
             max_subtasks: int | None = None) -> dict:
    """Run ``benchmark`` (§E4 protocol) for ``model`` and write the three files; returns score.json.

    ``data_files`` switches to local JSON lines in the real datasets' schemas: a directory
    of ``<task>.jsonl`` (one per (sub)task; the tiny eval-data stage writes these), or for a
    plain task a file / ``{split: file}``. Without it the tasks read the hub datasets named
    in their YAMLs. ``hub_revisions`` (``{hub id: sha | None}``, the config's ``revisions``)
    reads those hub datasets from the local hub cache at the pinned revisions instead
    (tide.eval.hubdata; what compute nodes without internet need), ``max_subtasks`` then
    limits a group to its first N subtasks. ``extra`` is merged into score.json (the
    workflow records the model id).
    Nothing is written unless the whole evaluation finished (one atomic directory).
    """
    bench = benchmark_spec(benchmark)
    validate_task(bench.task)
    args = resolve_model_args(model, model_args, bench, seed)
    with tempfile.TemporaryDirectory(prefix="tide_tasks_") as tmp:
        include_dir, tasks, data = include_dir_for(bench, data_files, Path(tmp),
                                                   hub_revisions, max_subtasks)
        results = _run_lm_eval(model, args, bench, include_dir, limit=limit,
                               batch_size=batch_size, seed=seed, log_samples=log_samples)
        return finish(results, bench, model, args, out_dir, include_dir=include_dir, tasks=tasks,
                      batch_size=batch_size, seed=seed, limit=limit, data=data, extra=extra)
