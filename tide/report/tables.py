"""The paper's main results table: build it from tidy scores, ours − paper, and write its files
(md, csv, tex, HTML; the renderings are tide.report.formats).

Input is a tidy table with the columns ``model, benchmark, metric, value``. ``value`` is
in percent (0–100). ``model`` is one of :data:`MODELS` and ``benchmark`` one of
:data:`BENCHMARKS`. The output uses the paper's layout: one row per benchmark, then ``Avg``,
with one column per model. Pipeline B's columns come before pipeline A's.

Missing cells stay NaN, never 0. A column's ``Avg`` is the mean of its eight rows. It is
left blank (NaN) if any of those rows is blank, because a mean over fewer benchmarks cannot be
compared with the paper's mean.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from tide import vocab
from tide.io import atomic_write_text
from tide.report.formats import to_csv, to_html, to_latex, to_markdown
from tide.report.layout import AVG, BENCHMARKS, MODELS, ROWS, SCORE_COLUMNS, round_table
from tide.report.paper import load_reference_results

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- input

def _read_scores(scores: pd.DataFrame | str | os.PathLike) -> tuple[pd.DataFrame, str]:
    """Return the scores and a name for them, used in error messages."""
    if isinstance(scores, pd.DataFrame):
        return as_table_keys(scores), "<scores DataFrame>"
    path = Path(scores)
    if not path.is_file():
        raise FileNotFoundError(f"scores CSV {path}: file not found")
    return as_table_keys(pd.read_csv(path, comment="#")), str(path)


def as_table_keys(df: pd.DataFrame) -> pd.DataFrame:
    """Ids → the table's labels: ``model`` from ``model_id`` when absent (scores.csv carries
    ids only), benchmark ids → row labels. Labels pass unchanged, so a scores.csv of an
    earlier version (``model`` and ``benchmark`` as labels) reads the same."""
    df = df.copy()
    if "model" not in df.columns and "model_id" in df.columns:
        df["model"] = df["model_id"].astype(str).map(vocab.column)
    if "benchmark" in df.columns:
        df["benchmark"] = df["benchmark"].astype(str).str.strip().map(vocab.benchmark_label)
    return df


def _validate_scores(df: pd.DataFrame, src: str) -> pd.DataFrame:
    """Check the columns, the type and the range of the tidy scores. Return a clean copy."""
    missing = [c for c in SCORE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"scores {src}: missing column(s) {missing}; expected columns "
                         f"{list(SCORE_COLUMNS)} (model or model_id), found {list(df.columns)}")
    # model_id (scores.csv): seed replicas of one run share a column, one row each
    df = df[list(SCORE_COLUMNS) + (["model_id"] if "model_id" in df.columns else [])].copy()
    for col in ("model", "benchmark"):
        df[col] = df[col].astype(str).str.strip()
    values = pd.to_numeric(df["value"], errors="coerce")
    bad = values.isna() & df["value"].notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"scores {src}: column 'value' data row {i} expected a number in percent, "
                         f"found {df['value'].iloc[i]!r}")
    df["value"] = values.astype(float)
    out = (df["value"] < 0) | (df["value"] > 100)
    if out.any():
        i = int(np.flatnonzero(out.to_numpy())[0])
        raise ValueError(f"scores {src}: column 'value' data row {i} ({df['model'].iloc[i]}, "
                         f"{df['benchmark'].iloc[i]}) expected percent in [0, 100], "
                         f"found {df['value'].iloc[i]}")
    return df


def _drop_unknown(df: pd.DataFrame, src: str) -> pd.DataFrame:
    """Drop rows whose model or benchmark is not in the paper's table, with a warning."""
    for col, known in (("benchmark", BENCHMARKS), ("model", MODELS)):
        unknown = sorted(set(df[col]) - set(known))
        if unknown:
            log.warning("scores %s: ignoring %s value(s) %s (not in the paper's table; "
                        "expected one of %s)", src, col, unknown, list(known))
            df = df[df[col].isin(known)]
    key = ["model", "benchmark"] + (["model_id"] if "model_id" in df.columns else [])
    dup = df[df.duplicated(key, keep=False)]
    if not dup.empty:
        model, bench = dup.iloc[0]["model"], dup.iloc[0]["benchmark"]
        rows = dup[(dup["model"] == model) & (dup["benchmark"] == bench)]
        raise ValueError(f"scores {src}: expected one row per (model, benchmark), found "
                         f"{len(rows)} rows for ({model}, {bench}) with metric(s) "
                         f"{rows['metric'].astype(str).tolist()}")
    return df


# --------------------------------------------------------------------------- tables

def _with_avg(table: pd.DataFrame) -> pd.DataFrame:
    """Append the Avg row: the mean of the eight benchmarks, or NaN if any is blank."""
    body = table.loc[list(BENCHMARKS)]
    avg = body.mean(axis=0, skipna=False)
    out = pd.concat([body, avg.to_frame(AVG).T])
    out.index.name = "benchmark"
    return out


def main_table(scores: pd.DataFrame | str | os.PathLike) -> pd.DataFrame:
    """Build the paper's main table from tidy scores (a DataFrame or a CSV path).

    Returns a float DataFrame with index ``BENCHMARKS + ("Avg",)`` (name ``benchmark``) and
    columns :data:`MODELS`, in percent. Missing cells are NaN. ``Avg`` is recomputed from the
    rows, and it is NaN when any row in that column is NaN.
    """
    df, src = _read_scores(scores)
    df = _drop_unknown(_validate_scores(df, src), src)
    # several training seeds of one run: the cell is their mean (the spread: intervals.md)
    wide = df.pivot_table(index="benchmark", columns="model", values="value", aggfunc="mean")
    wide = wide.reindex(index=list(BENCHMARKS), columns=list(MODELS)).astype(float)
    wide.columns.name = None
    n_blank = int(wide.isna().sum().sum())
    if n_blank:
        log.info("scores %s: %d of %d cells have no score (left blank)",
                 src, n_blank, wide.size)
    return _with_avg(wide)


def delta_to_paper(ours_table: pd.DataFrame,
                   paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return ours − paper per cell, in points. A cell is blank where ours is blank.

    Both tables are first rounded to the paper's 2 decimals (:func:`round_half_up`), so
    identical printed numbers give exactly 0.
    """
    paper = load_reference_results() if paper is None else paper
    ours = ours_table.reindex(index=list(ROWS), columns=list(MODELS)).astype(float)
    paper = paper.reindex(index=list(ROWS), columns=list(MODELS)).astype(float)
    delta = round_table(round_table(ours) - round_table(paper))
    delta.index.name = "benchmark"
    return delta

def write_main_tables(scores_csv: pd.DataFrame | str | os.PathLike,
                      out_dir: str | os.PathLike,
                      released: pd.DataFrame | str | os.PathLike | None = None,
                      inside: tuple[str, str] | None = None) -> dict[str, Path]:
    """Write ``main_table.{md,csv,tex,html}`` and ``vs_paper.{md,csv,html}`` into ``out_dir``,
    atomically.

    ``released`` (optional) are scores of the authors' released checkpoints evaluated with this
    harness, with ``model`` in :data:`MODELS`; ``vs_paper`` then also holds their table and
    their difference to the paper (which separates evaluation differences from training ones).

    ``inside`` (markdown, HTML): our scores with their 95 % intervals and whether the
    paper's value lies inside (tide.report.intervals), appended to ``vs_paper``.

    Returns the written paths, keyed by file name.
    """
    from tide.report.render import html_page

    out = Path(out_dir)
    ours = main_table(scores_csv)
    delta = delta_to_paper(ours)
    paper = load_reference_results()
    rel_md = rel_html = ""
    if released is not None:
        rel = main_table(released)
        rel_delta = delta_to_paper(rel)
        rel_md = ("\n## Released checkpoints evaluated here − paper\n\n"
                  "The authors' checkpoints through this evaluation harness, minus the paper's "
                  "numbers: differences here come from evaluation, not training.\n\n"
                  + to_markdown(rel_delta, signed=True)
                  + "\n### Released checkpoints evaluated here\n\n" + to_markdown(rel))
        rel_html = ("\n<h2>Released checkpoints evaluated here − paper</h2>\n"
                    "<p>The authors' checkpoints through this evaluation harness, minus the "
                    "paper's numbers: differences here come from evaluation, not training.</p>\n"
                    + to_html(rel_delta, signed=True, bold_columns=(), table_id="released-vs-paper")
                    + "\n<h3>Released checkpoints evaluated here</h3>\n"
                    + to_html(rel, table_id="released-table"))
    texts = {
        "main_table.md": "# Main results (this reproduction)\n\n"
                         "Accuracy / pass@1 in percent.\n\n" + to_markdown(ours),
        "main_table.csv": to_csv(ours),
        "main_table.tex": to_latex(ours),
        "vs_paper.md": "# This reproduction − paper (arXiv 2604.26951)\n\n"
                       "Difference in percentage points, per cell (both rounded to 2 decimals).\n\n"
                       + to_markdown(delta, signed=True)
                       + "\n## Paper (authors' README)\n\n" + to_markdown(paper) + rel_md
                       + (inside[0] if inside else ""),
        "vs_paper.csv": to_csv(delta),
        "main_table.html": html_page(
            "Main results (this reproduction)",
            "<p>Accuracy / pass@1 in percent; best per row in bold.</p>\n"
            + to_html(ours, table_id="main-table")),
        "vs_paper.html": html_page(
            "This reproduction − paper (arXiv 2604.26951)",
            "<p>Difference in percentage points, per cell (both rounded to 2 decimals).</p>\n"
            + to_html(delta, signed=True, bold_columns=(), table_id="vs-paper")
            + "\n<h2>Paper (authors' README)</h2>\n"
            + to_html(paper, table_id="paper-table") + rel_html + (inside[1] if inside else "")),
    }
    paths = {}
    for name, text in texts.items():
        paths[name] = out / name
        atomic_write_text(paths[name], text)
    log.info("wrote %s to %s", sorted(paths), out)
    return paths
