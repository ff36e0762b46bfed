"""Read what the distillation runs logged: per-step loss components and TIDAL's (t, p, λ).

A run's directory is ``results/runs/{pipeline}/{run}/`` (``tide.paths.run_dir``) with
``metrics.jsonl`` (one JSON object per optimizer step, written by ``tide.train.train``) and
``run.json`` (the run's resolved spec and summary, written by ``tide.stages.distill``).
Only result files are read: no weights, no GPU.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tide import paths

log = logging.getLogger(__name__)

# Logged per step but not loss components (learning rate, gradient norm, counts, ratios).
NOT_LOSS = frozenset({"step", "lr", "grad_norm", "mask_ratio", "distill_units", "wall_s"})
# Components plotted first, in this order; any other numeric field logged is added after them.
KNOWN_COMPONENTS = ("loss", "ce", "distill")
COMPONENT_LABELS = {
    "loss": "total = CE + weight × distill",
    "ce": "CE (BD3LM diffusion loss)",
    "distill": "distillation term",
}


@dataclass
class RunLog:
    """One run's logged curves and TIDAL points. ``metrics`` has one row per step."""

    pipeline: str
    name: str
    metrics: pd.DataFrame
    tidal: pd.DataFrame  # columns t, p, lam, weight, step (empty if the run logs no TIDAL)
    spec: dict = field(default_factory=dict)  # run.json "spec" ({} when run.json is absent)
    source: Path | None = None

    @property
    def model_id(self) -> str:
        return f"{self.pipeline}_{self.name}"

    @property
    def components(self) -> list[str]:
        """The loss components present in this run's log (known ones first)."""
        numeric = [c for c in self.metrics.columns if c not in NOT_LOSS
                   and pd.api.types.is_numeric_dtype(self.metrics[c])]
        return ([c for c in KNOWN_COMPONENTS if c in numeric]
                + sorted(c for c in numeric if c not in KNOWN_COMPONENTS))


def read_metrics(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse a ``metrics.jsonl``: (per-step scalars, TIDAL points).

    Scalar fields become columns (a component missing at some step is NaN there). Each step's
    ``tidal`` list of ``{t, p, lambda, weight}`` becomes rows of the second table, with the step.
    A malformed line raises, naming the file and the line.
    """
    path = Path(path)
    rows, points = [], []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: line {i}: expected one JSON object per line, "
                             f"found {line[:60]!r} ({exc.msg})") from None
        if not isinstance(rec, dict) or "step" not in rec:
            raise ValueError(f"{path}: line {i}: expected an object with a 'step' field, "
                             f"found {line[:60]!r}")
        for p in rec.get("tidal") or []:
            points.append({"step": rec["step"], "t": p.get("t"), "p": p.get("p"),
                           "lam": p.get("lambda"), "weight": p.get("weight", math.nan)})
        rows.append({k: v for k, v in rec.items()
                     if isinstance(v, (int, float)) and not isinstance(v, bool)})
    metrics = pd.DataFrame(rows)
    if not metrics.empty:
        metrics = metrics.sort_values("step").reset_index(drop=True)
    tidal = pd.DataFrame(points, columns=["step", "t", "p", "lam", "weight"])
    return metrics, tidal


def load_run(pipeline: str, name: str, root=None) -> RunLog | None:
    """The logs of one run, or None when its ``metrics.jsonl`` does not exist (not run yet)."""
    metrics_path = paths.run_log(pipeline, name, root)
    if not metrics_path.is_file():
        return None
    metrics, tidal = read_metrics(metrics_path)
    summary = paths.run_summary(pipeline, name, root)
    spec = {}
    if summary.is_file():
        spec = json.loads(summary.read_text()).get("spec", {})
    return RunLog(pipeline, name, metrics, tidal, spec, metrics_path)


def discover_runs(root=None) -> list[tuple[str, str]]:
    """(pipeline, run) of every run directory under ``root/runs`` that has a metrics log."""
    base = paths._r(root) / "runs"
    return sorted((p.parent.parent.name, p.parent.name) for p in base.glob("*/*/metrics.jsonl"))


def load_runs(expected: list[tuple[str, str]] | None = None, root=None
              ) -> dict[tuple[str, str], RunLog | None]:
    """Logs of the ``expected`` runs (None for each not run yet), then any other run found."""
    keys = list(expected or [])
    keys += [k for k in discover_runs(root) if k not in keys]
    return {k: load_run(*k, root=root) for k in keys}


def empirical_lambda(runs: dict, *, l_init: float, l_max: float, schedule: str,
                     axis_mode: str) -> tuple[pd.DataFrame | None, list[str]]:
    """The (t, p, λ) points logged by the runs that trained with this exact λ function.

    Only runs whose spec has the same ``l_init, l_max, schedule, axis_mode`` are used, so the
    points can be compared with the heatmap cell for cell (an ablation with another schedule
    would draw a different surface). Returns (points with a ``run`` column, run ids used).
    """
    frames, used = [], []
    want = {"l_init": l_init, "l_max": l_max, "schedule": schedule, "axis_mode": axis_mode}
    for run in runs.values():
        if run is None or run.tidal.empty:
            continue
        differs = {k: run.spec.get(k) for k, v in want.items() if run.spec.get(k) != v}
        if differs:
            log.info("λ heatmap: not using run %s (its %s differ from the plotted %s)",
                     run.model_id, differs, want)
            continue
        frames.append(run.tidal.assign(run=run.model_id))
        used.append(run.model_id)
    if not frames:
        return None, []
    return pd.concat(frames, ignore_index=True), used
