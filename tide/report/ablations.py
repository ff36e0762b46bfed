"""Ablation tables (docs/method.md §4): every ablation of the grid against the full method of its
pipeline, benchmark by benchmark, with the difference in points.

Inputs:
- ``results/ablations/{model_id}.csv`` (``tide ablation-rows``): one row per benchmark with
  ``model_id, pipeline, base, axis, benchmark, value, differs`` (``differs``: JSON of the run
  fields that differ from the base run);
- ``results/scores.csv`` (``tide scores``): the full method's own scores (``model_id`` =
  ``{pipeline}_{base}``).

The full method of a pipeline is the main run every ablation of that pipeline modifies (its
``base``: TIDE-Shared in B, TIDE-Cross in A, the native methods). Δ = ablation − full method,
both rounded to 2 decimals first. An ablation that is not the paper's (``OURS_REASONS``:
token-level reverse-KL TIDAL, the concat-order null control) is labelled "ours, not the
paper's" in every table (column ``origin``) with the reason as a note. A configured ablation without a rows file is listed as
"not run"; a missing score is a marked blank, never 0. ``Avg`` is over the ablation
benchmarks and is blank when any of them is.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tide import vocab
from tide.report.render import html_notes, html_table, markdown_table
from tide.report.layout import AVG, BLANK_MD, round_half_up

log = logging.getLogger(__name__)

ROW_COLUMNS = ("model_id", "pipeline", "base", "axis", "benchmark", "value", "differs")
FULL_METHOD = vocab.FULL_METHOD
PIPELINE_TITLE = {p: f"Pipeline {p}: {vocab.PIPELINE_TOKENIZER[p]} "
                     f"({vocab.PAPER_TEACHER[p]} teacher)" for p in ("B", "A")}
NOT_RUN = "not run"
OURS = "ours, not the paper's"
#: ablations that are not the paper's (docs/method.md §4): why, keyed by a changed run field/value
OURS_REASONS = {
    ("objective", "tidal_reverse_kl"): (
        "token-level reverse-KL TIDAL (pipeline B) is ours: the authors' code applies TIDAL to "
        "a reverse objective only at chunk level (reverse_alm_taid, pipeline A)."),
    ("concat_order", "xt_x0"): (
        "teacher concat order [x_t ; x_0] is a null control, ours: in the authors' code both "
        "orders are the same attention problem with keys reordered (mask by segment, same "
        "position ids), equal up to float rounding."),
}
NOTE_BLANK = f"{BLANK_MD} = no score (ablation not run, or its evaluation did not finish)."
NOTE_AVG = ("Avg is over the ablation benchmarks of this table, blank when any is blank; "
            "Δ = ablation − full method, in points.")


@dataclass(frozen=True)
class Ablation:
    """One configured ablation (from the config's ``distill.ablations``)."""

    pipeline: str
    name: str
    base: str
    axis: str | None
    differs: dict

    @property
    def model_id(self) -> str:
        return f"{self.pipeline}_{self.name}"

    @property
    def ours(self) -> str | None:
        """Why this ablation is ours and not one of the paper's, or None when it is theirs."""
        for (key, value), reason in OURS_REASONS.items():
            if self.differs.get(key) == value:
                return reason
        return None


def configured(cfg) -> list[Ablation]:
    """The ablations of the config, with the fields each changes relative to its base run."""
    out = []
    for run in cfg.runs():
        if not run.is_ablation:
            continue
        base = cfg.run(run.pipeline, run.base).as_dict()
        differs = {k: v for k, v in run.as_dict().items()
                   if base.get(k) != v and k not in ("name", "base", "axis")}
        out.append(Ablation(run.pipeline, run.name, run.base, run.axis, differs))
    return out


def read_rows(files: list[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate ablation rows files; a file missing a column raises, naming file and column."""
    frames = []
    for f in files:
        df = pd.read_csv(f)
        missing = [c for c in ROW_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"ablation rows {f}: missing column(s) {missing}; expected "
                             f"{list(ROW_COLUMNS)}, found {list(df.columns)}")
        frames.append(df[list(ROW_COLUMNS)])
    if not frames:
        return pd.DataFrame(columns=list(ROW_COLUMNS))
    out = pd.concat(frames, ignore_index=True)
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    return out


def _display(benchmark: str) -> str:
    """The paper's row label of a benchmark id (``mmlu`` → ``MMLU``); unknown ids unchanged."""
    return vocab.benchmark_label(benchmark)


def _scores_by_model(scores: pd.DataFrame | None) -> dict[tuple[str, str], float]:
    """{(model_id, benchmark display name): value} from the tidy scores."""
    if scores is None or scores.empty:
        return {}
    df = scores.copy()
    if "model_id" not in df.columns:  # a scores table keyed by the paper's column names
        df["model_id"] = df["model"].map(vocab.model_id)
    return {(str(m), _display(str(b))): float(v)
            for m, b, v in zip(df["model_id"], df["benchmark"], df["value"])}


def ablation_table(pipeline: str, ablations: list[Ablation], rows: pd.DataFrame,
                   scores: pd.DataFrame | None, benchmarks: list[str]) -> pd.DataFrame:
    """One pipeline's table: the full method, then each ablation; values and Δ per benchmark.

    Returns a DataFrame with columns ``name, model_id, axis, changes, status`` then, per
    benchmark display name ``b``, ``b`` and ``Δ b``, then ``Avg`` and ``Δ Avg``.
    ``benchmarks`` are benchmark ids (``mmlu``) or display names.
    """
    shown = [_display(b) for b in benchmarks]
    rows = rows.assign(display=rows["benchmark"].astype(str).map(_display))
    score = _scores_by_model(scores)
    mine = [a for a in ablations if a.pipeline == pipeline]
    bases = sorted({a.base for a in mine})
    records = []
    for base in bases:
        vals = {b: score.get((f"{pipeline}_{base}", b), np.nan) for b in shown}
        records.append({"name": f"full method: {base}", "model_id": f"{pipeline}_{base}",
                        "axis": "—", "changes": "", "status": "full method", "origin": "paper",
                        "values": vals, "base_values": vals})
    for a in mine:
        got = rows[rows["model_id"] == a.model_id]
        vals = {b: float(got.loc[got.display == b, "value"].iloc[0])
                if (got.display == b).any() else np.nan for b in shown}
        base_vals = {b: score.get((f"{pipeline}_{a.base}", b), np.nan) for b in shown}
        changes = ", ".join(f"{k}: {v}" for k, v in sorted(a.differs.items()))
        records.append({"name": a.name, "model_id": a.model_id, "axis": a.axis or "",
                        "changes": changes, "status": "ok" if len(got) else NOT_RUN,
                        "origin": "ours" if a.ours else "paper",
                        "values": vals, "base_values": base_vals})
    out = []
    for r in records:
        row = {k: r[k] for k in ("name", "model_id", "axis", "changes", "status", "origin")}
        vals = [round_half_up(r["values"][b]) for b in shown]
        base = [round_half_up(r["base_values"][b]) for b in shown]
        for b, v, bv in zip(shown, vals, base):
            row[b] = v
            row[f"Δ {b}"] = round_half_up(v - bv) if r["status"] != "full method" else np.nan
        avg = round_half_up(np.mean(vals)) if shown and not np.isnan(vals).any() else np.nan
        base_avg = round_half_up(np.mean(base)) if shown and not np.isnan(base).any() else np.nan
        row[AVG] = avg
        row[f"Δ {AVG}"] = (round_half_up(avg - base_avg)
                           if r["status"] != "full method" else np.nan)
        out.append(row)
    return pd.DataFrame(out)


def _fmt(v: float, signed: bool = False) -> str:
    if pd.isna(v):
        return BLANK_MD
    return f"{v:+.2f}" if signed and v != 0 else f"{v:.2f}"


def _render_rows(table: pd.DataFrame, shown: list[str]):
    header = (["Run", "Axis (docs/method.md §4)", "Changed vs full method"]
              + [c for b in shown + [AVG] for c in (b, f"Δ {b}")])
    body, classes = [], []
    for _, r in table.iterrows():
        full = r["status"] == "full method"
        name = r["name"] if r["status"] != NOT_RUN else f"{r['name']} ({NOT_RUN})"
        name = f"{name} [{OURS}]" if r["origin"] == "ours" else name
        cells = [name, r["axis"], r["changes"] or "—"]
        cls = ["", "", ""]
        for b in shown + [AVG]:
            cells.append(_fmt(r[b]))
            cls.append("blank" if pd.isna(r[b]) else "")
            cells.append("" if full else _fmt(r[f"Δ {b}"], signed=True))
            cls.append("blank" if not full and pd.isna(r[f"Δ {b}"]) else "")
        body.append(cells)
        classes.append(cls)
    return header, body, classes


def write_ablation_tables(cfg, out_dir: str | os.PathLike, *, ablation_files: list,
                          scores: pd.DataFrame | None) -> dict[str, Path]:
    """Write ``ablations.{md,csv,html}``: one table per pipeline that has ablations."""
    from tide.io import atomic_write_text
    from tide.report.render import html_page

    out = Path(out_dir)
    abls = configured(cfg)
    rows = read_rows(ablation_files)
    known = {a.model_id for a in abls}
    for extra in sorted(set(rows["model_id"]) - known):
        log.warning("ablation rows for %s: not an ablation of config %s; ignored",
                    extra, cfg.source)
    benchmarks = list(cfg.tree.eval.ablation_benchmarks or cfg.tree.eval.benchmarks)
    shown = [_display(b) for b in benchmarks]
    md = ["# Ablations (docs/method.md §4)", "",
          "Accuracy / pass@1 in percent on the ablation benchmarks; Δ = ablation − the full "
          "method of the same pipeline (the main run it modifies), in points.", ""]
    html_parts = ["<p>Accuracy / pass@1 in percent on the ablation benchmarks; Δ = ablation "
                  "− the full method of the same pipeline (the main run it modifies), in "
                  "points.</p>"]
    frames = []
    for pipeline in ("B", "A"):
        if not any(a.pipeline == pipeline for a in abls):
            continue
        table = ablation_table(pipeline, abls, rows, scores, benchmarks)
        frames.append(table.assign(pipeline=pipeline))
        header, body, classes = _render_rows(table, shown)
        blank = any("blank" in c for row in classes for c in row)
        ours = sorted({a.ours for a in abls if a.pipeline == pipeline and a.ours})
        notes = [NOTE_AVG] + ([NOTE_BLANK] if blank else []) + [f"[{OURS}]: {r}" for r in ours]
        md += [f"## {PIPELINE_TITLE[pipeline]}", "", f"Full method: {FULL_METHOD[pipeline]}.",
               "", markdown_table(header, body, notes, align_left=3)]
        html_parts += [f"<h2>{PIPELINE_TITLE[pipeline]}</h2>",
                       f"<p>Full method: {FULL_METHOD[pipeline]}.</p>",
                       html_table(header, body, classes=classes, text_columns=3,
                                  table_id=f"ablations-{pipeline}"),
                       html_notes(notes)]
    if not frames:
        md.append("No ablations are configured (config distill.ablations).")
        html_parts.append("<p>No ablations are configured (config distill.ablations).</p>")
    csv = (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame())
    if not csv.empty:
        csv = csv[["pipeline"] + [c for c in csv.columns if c != "pipeline"]]
    texts = {"ablations.md": "\n".join(md) + "\n",
             "ablations.csv": csv.to_csv(index=False, float_format="%.2f"),
             "ablations.html": html_page("Ablations (docs/method.md §4)", "\n".join(html_parts))}
    paths = {}
    for name, text in texts.items():
        paths[name] = out / name
        atomic_write_text(paths[name], text)
    return paths

