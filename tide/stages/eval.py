"""Evaluation stages (workflow/rules/eval.smk): generation shards, merge, scoring, scores.csv."""

from __future__ import annotations

from tide import paths
from tide.config import Config
from tide.io import read_json
from tide.stages.common import _device, _load_tok, hub_pointer, model_pointer


def _eval_model(cfg: Config, model_id: str, root=None) -> tuple[str, str]:
    """(lm-eval model name, model_args) of a model id: the AR baseline goes through lm-eval's
    own ``hf`` model, every diffusion student through ours (``tide_bd3lm``). Ids listed in
    ``eval.checkpoints`` are released checkpoints evaluated as they are (no training)."""
    from tide.hubcache import revision_of

    checkpoints = cfg["eval"].get("checkpoints") or {}
    if model_id in checkpoints:
        model, path = checkpoints[model_id]["model"], checkpoints[model_id]["path"]
    elif model_id in ("ar", "bd3lm"):
        model, path = ("hf" if model_id == "ar" else "tide_bd3lm"), model_pointer(model_id, root)["path"]
    else:
        pipeline, run = model_id.split("_", 1)
        model, path = "tide_bd3lm", str(paths.run_model(pipeline, run, root))
    common = f"pretrained={path},dtype={cfg['dtype']},device={_device(cfg)}"
    rev = revision_of(cfg, path)
    if rev:  # pinned hub checkpoint: both lm-eval's hf model and ours take `revision`
        common += f",revision={rev}"
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
    seed and the equivalent ``lm_eval`` command (tests check it against docs/method.md §E4).
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
    """lm-eval one model on one benchmark with the paper's protocol (docs/method.md §E4)."""
    from tide.eval.run import evaluate as run_eval

    plan = _checked_eval_plan(cfg, model_id, benchmark, root)
    model_path = plan["model_args"]["pretrained"]
    run_eval(plan["model_args"], benchmark, paths.eval_dir(model_id, benchmark, root),
             data_files=plan["data_files"], limit=plan["limit"], batch_size=plan["batch_size"],
             model=plan["model"], seed=plan["seed"], **_hub_data_route(cfg),
             extra={"model_id": model_id, "model_hub": hub_pointer(cfg, model_path)})


def _checked_eval_plan(cfg: Config, model_id: str, benchmark: str, root=None) -> dict:
    """The evaluation plan, after checking the model's tokenizer has the chat template the
    protocol applies (a checkpoint without one stops here, naming it)."""
    from tide.checks import require_chat_template

    plan = eval_plan(cfg, model_id, benchmark, root)
    model_path = plan["model_args"]["pretrained"]
    require_chat_template(_load_tok(model_path, plan["model_args"].get("revision")),
                          f"evaluate {model_id}/{benchmark}", model_path)
    return plan


def _hub_data_route(cfg: Config) -> dict:
    """Hub datasets read from the local hub cache at the config's pinned revisions
    (``eval.source: hub``), else nothing (local items or our task files)."""
    if cfg["eval"]["source"] != "hub":
        return {}
    return {"hub_revisions": dict(cfg.raw.get("revisions") or {}),
            "max_subtasks": cfg["eval"].get("max_subtasks")}


def eval_generate(cfg: Config, model_id: str, benchmark: str, shard: str, root=None) -> None:
    """Stage 1 of an evaluation: generate (or resume) one shard ``k/K`` (tide.eval.staged)."""
    from tide.eval.staged import generate_shard

    plan = _checked_eval_plan(cfg, model_id, benchmark, root)
    generate_shard(plan["model_args"], benchmark, paths.eval_gen_dir(model_id, benchmark, root),
                   shard, data_files=plan["data_files"], limit=plan["limit"],
                   batch_size=plan["batch_size"], model=plan["model"], seed=plan["seed"],
                   **_hub_data_route(cfg))


def eval_merge(model_id: str, benchmark: str, done_files: list[str], root=None) -> None:
    """Stage 2: the finished shards' generations as one store."""
    from tide.eval.store import merge_shards  # light: no torch, no lm-eval

    merge_shards(done_files, paths.eval_generations(model_id, benchmark, root))


def eval_score(cfg: Config, model_id: str, benchmark: str, root=None) -> None:
    """Stage 3 (CPU): filters, metrics and code execution over the stored generations."""
    from tide.eval.staged import score

    plan = eval_plan(cfg, model_id, benchmark, root)
    score(paths.eval_generations(model_id, benchmark, root),
          paths.eval_dir(model_id, benchmark, root), data_files=plan["data_files"],
          **_hub_data_route(cfg), extra={"model_id": model_id, "model_hub": hub_pointer(
              cfg, plan["model_args"]["pretrained"])})


def collect_scores(inputs: list[str], out: str) -> None:
    """score.json files -> one tidy CSV of ids (model_id, benchmark, metric, value, ...);
    the report turns ids into the paper's labels."""
    import pandas as pd

    from tide.eval.benchmarks import get as get_benchmark

    rows = []
    for path in inputs:
        s = read_json(path)
        for key in ("model_id", "benchmark", "value"):
            if key not in s:
                raise ValueError(f"{path}: field {key!r} missing from score file")
        rows.append({"model_id": s["model_id"], "benchmark": get_benchmark(s["benchmark"]).name,
                     "metric": s.get("metric"), "filter": s.get("filter"),
                     "value": s["value"], "n": s.get("n"),
                     "ci_low": (s.get("ci95") or [None, None])[0],  # no per-sample file: none
                     "ci_high": (s.get("ci95") or [None, None])[1],
                     "seed": s.get("seed"), "source": str(path)})
    from tide.io import atomic_write_text

    atomic_write_text(out, pd.DataFrame(rows).to_csv(index=False))
