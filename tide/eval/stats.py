"""Confidence intervals from per-document outputs (issue 14).

Every score is a mean over documents x_d ∈ [0, 1] (×100). For grouped benchmarks (BBH,
MATH) lm-eval's group score weights each subtask by its size, i.e. it is the pooled mean
Σ_s Σ_d x_sd / Σ_s n_s. The interval is a percentile bootstrap over documents, stratified
by subtask (each resample draws n_s documents of subtask s with replacement, so the
subtask sizes, and hence the weights, stay those of the real run):

    θ* = Σ_s Σ_{d ∈ resample_s} x_sd / Σ_s n_s,   CI95 = [q_2.5(θ*), q_97.5(θ*)].

A delta between two models on the same documents gets a *paired* bootstrap: the same
resampled documents for both, Δ* = θ*_a − θ*_b; its 95 % interval and a two-sided p value
p = min(1, 2·min(P(Δ* ≤ 0), P(Δ* ≥ 0))).

The resampling seed is fixed (``SEED``) so reports are reproducible.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

N_BOOT = 2000
SEED = 0
LEVEL = 0.95
METHOD = (f"percentile bootstrap over documents, stratified by subtask (size-weighted), "
          f"{N_BOOT} resamples, seed {SEED}")


def per_doc(rows: list[dict], metric: str, filt: str) -> dict[tuple[str, int], float]:
    """``{(task, doc_id): score}`` of one metric under one filter from lm-eval sample rows.

    lm-eval logs one row per (document, filter); a row without a task name (files written
    before issue 14) counts as one task.
    """
    out = {}
    for r in rows:
        if r.get("filter") != filt or metric not in r:
            continue
        out[(str(r.get("task", "")), int(r["doc_id"]))] = float(r[metric])
    return out


def read_per_doc(samples_file: str | os.PathLike, metric: str, filt: str) -> dict:
    """:func:`per_doc` of a ``samples.jsonl`` file."""
    with open(samples_file, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return per_doc(rows, metric, filt)


def _strata(keys: list[tuple[str, int]]) -> list[np.ndarray]:
    tasks = sorted({t for t, _ in keys})
    return [np.array([i for i, (t, _) in enumerate(keys) if t == task]) for task in tasks]


def _boot_means(values: np.ndarray, strata: list[np.ndarray], n_boot: int,
                rng: np.random.Generator) -> np.ndarray:
    """[n_boot, k] pooled means of k aligned value columns under stratified resampling."""
    total = np.zeros((n_boot,) + values.shape[1:])
    for idx in strata:
        draw = rng.integers(0, len(idx), size=(n_boot, len(idx)))
        total += values[idx][draw].sum(axis=1)
    return total / len(values)


def bootstrap_ci(scores: dict[tuple[str, int], float], n_boot: int = N_BOOT, seed: int = SEED,
                 level: float = LEVEL) -> tuple[float, float, float]:
    """(pooled mean, lower, upper), all ×100 (module docstring)."""
    if not scores:
        raise ValueError("bootstrap_ci: no per-document scores")
    keys = sorted(scores)
    values = np.array([[scores[k]] for k in keys])
    boots = _boot_means(values, _strata(keys), n_boot, np.random.default_rng(seed))[:, 0]
    a = (1 - level) / 2
    return (100 * float(values.mean()), 100 * float(np.quantile(boots, a)),
            100 * float(np.quantile(boots, 1 - a)))


def paired_bootstrap(a: dict, b: dict, n_boot: int = N_BOOT, seed: int = SEED,
                     level: float = LEVEL) -> dict:
    """Δ = mean(a) − mean(b) over the documents both scored, its 95 % interval and p (×100).

    Documents only one side scored are left out and counted (``n_unpaired``)."""
    keys = sorted(set(a) & set(b))
    if not keys:
        raise ValueError("paired_bootstrap: the two results share no document")
    values = np.array([[a[k], b[k]] for k in keys])
    boots = _boot_means(values, _strata(keys), n_boot, np.random.default_rng(seed))
    delta = boots[:, 0] - boots[:, 1]
    q = (1 - level) / 2
    p = min(1.0, 2 * min(float((delta <= 0).mean()), float((delta >= 0).mean())))
    return {"delta": 100 * float(values[:, 0].mean() - values[:, 1].mean()),
            "ci95": [100 * float(np.quantile(delta, q)), 100 * float(np.quantile(delta, 1 - q))],
            "p": p, "n": len(keys), "n_unpaired": len(set(a) ^ set(b))}


def score_interval(rows: list[dict], metric: str, filt: str) -> dict:
    """The interval fields of score.json from lm-eval's sample rows (none: nothing added)."""
    scores = per_doc(rows, metric, filt)
    if not scores:
        return {}
    _, lo, hi = bootstrap_ci(scores)
    return {"ci95": [lo, hi], "ci_method": METHOD, "per_doc": "samples.jsonl"}


def samples_file(score_file: str | os.PathLike) -> Path | None:
    """The samples.jsonl next to a score.json, if it exists."""
    p = Path(score_file).with_name("samples.jsonl")
    return p if p.is_file() else None
