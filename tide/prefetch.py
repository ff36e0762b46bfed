"""Before a cluster run: ``tide prefetch`` (login node) and ``tide preflight`` (a GPU node).

``prefetch`` downloads every model, tokenizer and dataset the config loads
(:func:`tide.hubcache.config_hub_ids`) at its pinned revision into ``HF_HOME`` (point it at
a shared filesystem), in the hub layout compute nodes read with ``HF_HUB_OFFLINE=1``: model
snapshots for ``from_pretrained``, dataset snapshots whose data files the workflow resolves
itself (datasets' own offline loading never reads a snapshot). It then checks, offline, that
each model config and each evaluation (id, config, split) resolves, and writes
``<root>/prefetch/revisions.yaml``: ``revisions: {id: commit}`` as resolved, a config file
that pins an unpinned run when passed as a further ``--configfile``. ``--source DIR`` copies
from another hub-layout cache instead of the hub (a mirror; the tests use the rehearsal hub).

``preflight`` loads each model, runs one distillation step of the first run of each
pipeline and one generation (one document) per benchmark, in a scratch results directory,
and writes ``<root>/preflight.json``; every step is tried and every failure reported.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import tempfile
import time
import traceback
from pathlib import Path

log = logging.getLogger(__name__)


def _copy_from_cache(source: Path, hub_id: str, kind: str, revision: str | None) -> Path:
    """Copy one snapshot (and refs/main) from another hub-layout cache into ours."""
    from huggingface_hub import constants, snapshot_download

    src = Path(snapshot_download(hub_id, repo_type=kind, revision=revision,
                                 cache_dir=str(Path(source) / "hub"), local_files_only=True))
    dst_base = Path(constants.HF_HUB_CACHE) / f"{kind}s--{hub_id.replace('/', '--')}"
    dst = dst_base / "snapshots" / src.name
    if not dst.exists():
        shutil.copytree(src, dst)
    (dst_base / "refs").mkdir(parents=True, exist_ok=True)
    if revision is None:
        (dst_base / "refs" / "main").write_text(src.name)
    return dst


def prefetch(cfg, root: str | Path = "results", source: str | Path | None = None) -> dict:
    """Fetch every hub repository of ``cfg`` at its revision; returns ``{id: commit}``."""
    import yaml
    from huggingface_hub import snapshot_download

    from tide.hubcache import (
        config_hub_ids,
        dataset_data_files,
        eval_dataset_requests,
        resolved_commit,
        revision_of,
    )
    from tide.io import atomic_write_text

    resolved = {}
    for hub_id, kind in config_hub_ids(cfg).items():
        rev = revision_of(cfg, hub_id)
        if source is not None:
            path = _copy_from_cache(Path(source), hub_id, kind, rev)
        else:
            path = Path(snapshot_download(hub_id, repo_type=kind, revision=rev))
        resolved[hub_id] = resolved_commit(path)
        log.info("prefetch %s %s @ %s%s", kind, hub_id, resolved[hub_id],
                 "" if rev else " (unpinned: resolved from main)")
    # offline check: what compute nodes will do
    from transformers import AutoConfig  # noqa: F401  (import cost paid once)

    for hub_id, kind in config_hub_ids(cfg).items():
        if kind == "model":
            from huggingface_hub import hf_hub_download

            hf_hub_download(hub_id, "config.json", revision=resolved[hub_id],
                            local_files_only=True)
    if cfg.tree.eval.source == "hub":
        for hub_id, name, split in eval_dataset_requests(cfg.tree.eval.benchmarks):
            dataset_data_files(hub_id, name, split, resolved[hub_id])
    out = Path(root) / "prefetch" / "revisions.yaml"
    atomic_write_text(out, "# written by tide prefetch: the commits fetched; pass as a further "
                      "--configfile to pin a run\n"
                      + yaml.safe_dump({"revisions": resolved}, sort_keys=True))
    log.info("prefetch: %d repositories, revisions in %s", len(resolved), out)
    return resolved


def preflight_config(raw: dict) -> dict:
    """The config a preflight runs: one step per pipeline's first run, one document per
    benchmark (first subtask of a group), a few rows of data; nothing else changes.

    Edits the raw dict on purpose: the result is validated as a config of its own."""
    from tide.config import Config

    out = copy.deepcopy(raw)
    out["distill"]["defaults"].update(steps=1, checkpoint_every=1)
    for runs in out["distill"]["runs"].values():
        for spec in runs.values():
            spec.pop("epochs", None)
            spec["steps"] = 1
    out["eval"].update(limit=1, max_subtasks=1)
    main_runs = Config(raw=out, source="preflight").runs(ablations=False)  # defaults < run
    out["data"]["limit"] = 2 * max(r.batch_size for r in main_runs)
    return out


def _step(report: list, name: str, fn) -> None:
    t0 = time.perf_counter()
    try:
        fn()
        report.append({"step": name, "ok": True, "seconds": round(time.perf_counter() - t0, 1)})
        log.info("preflight %s: ok (%.1f s)", name, time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001  (every failure reported, then the next step)
        report.append({"step": name, "ok": False, "error": f"{type(exc).__name__}: {exc}",
                       "traceback": traceback.format_exc(limit=8)})
        log.error("preflight %s: FAILED: %s: %s", name, type(exc).__name__, exc)


def preflight(cfg, root: str | Path = "results") -> dict:
    """Load each model, one distillation step per pipeline, one generation per benchmark."""
    from tide import stages
    from tide.config import validate_dict
    from tide.io import atomic_write_json

    pcfg = validate_dict(preflight_config(cfg.raw), f"{cfg.source} (preflight)")
    report: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="tide_preflight_") as tmp:
        scratch = Path(tmp)
        _step(report, "tokenizers", lambda: stages.tokenizers(pcfg, scratch))
        _step(report, "model ar", lambda: stages.train_ar(pcfg, scratch))
        _step(report, "model bd3lm", lambda: stages.sft_student(pcfg, scratch))
        for pipe in ("A", "B"):
            _step(report, f"model teacher_{pipe}", lambda p=pipe: stages.train_teacher(pcfg, p, scratch))
            _step(report, f"dataset {pipe}", lambda p=pipe: stages.dataset(pcfg, p, "train", scratch))
            first_run = next((r.name for r in pcfg.tree.runs
                              if r.pipeline == pipe and not r.is_ablation), None)
            if first_run is not None:
                _step(report, f"distill {pipe}/{first_run} (1 step)",
                      lambda p=pipe, r=first_run: stages.distill(pcfg, p, r, scratch))
        benchmarks = pcfg.tree.eval.benchmarks
        for bench in benchmarks:
            _step(report, f"evaluate bd3lm/{bench} (1 document)",
                  lambda b=bench: stages.evaluate(pcfg, "bd3lm", b, scratch))
        first = benchmarks[0]
        _step(report, f"evaluate ar/{first} (1 document)",
              lambda: stages.evaluate(pcfg, "ar", first, scratch))
        for ckpt in pcfg.tree.eval.checkpoints:
            _step(report, f"evaluate {ckpt}/{first} (1 document)",
                  lambda c=ckpt: stages.evaluate(pcfg, c, first, scratch))
    failed = [r["step"] for r in report if not r["ok"]]
    summary = {"config": cfg.source, "ok": not failed, "failed": failed, "steps": report}
    atomic_write_json(Path(root) / "preflight.json", summary)
    log.info("preflight: %d steps, %d failed%s -> %s", len(report), len(failed),
             f" ({failed})" if failed else "", Path(root) / "preflight.json")
    return summary


def dumps(summary: dict) -> str:
    return json.dumps({k: v for k, v in summary.items() if k != "steps"}, indent=1)
