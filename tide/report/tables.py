"""The paper's main results table: build it from tidy scores, and render it as md, csv or tex.

Input is a tidy table with the columns ``model, benchmark, metric, value``. ``value`` is
in percent (0–100). ``model`` is one of :data:`MODELS` and ``benchmark`` one of
:data:`BENCHMARKS`. The output uses the paper's layout: one row per benchmark, then ``Avg``,
with one column per model. Pipeline B's columns come before pipeline A's.

Missing cells stay NaN, never 0. A column's ``Avg`` is the mean of its eight rows. It is
left blank (NaN) if any of those rows is blank, because a mean over fewer benchmarks cannot be
compared with the paper's mean.
"""

from __future__ import annotations

import io
import logging
import os
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from tide import vocab
from tide.io import atomic_write_text

log = logging.getLogger(__name__)

# The table is laid out in the paper's labels (its reference CSVs use them); result files
# carry ids (tide.vocab), turned into these labels when scores are read.
BENCHMARKS: tuple[str, ...] = tuple(vocab.BENCHMARKS.values())
AVG = "Avg"
ROWS: tuple[str, ...] = BENCHMARKS + (AVG,)
MODELS: tuple[str, ...] = tuple(vocab.COLUMN[m] for m in vocab.MAIN_MODEL_IDS)
DISPLAY: dict[str, str] = vocab.METHOD_LABEL
PIPELINE_B, PIPELINE_A = (
    f"Pipeline {p}: {vocab.PIPELINE_TOKENIZER[p]} ({vocab.PAPER_TEACHER[p]})" for p in ("B", "A"))
# (spanning label, columns). An empty label means there is no spanning header over those columns.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("", MODELS[:2]),
    (PIPELINE_B, tuple(c for c in MODELS if c.startswith("B_"))),
    (PIPELINE_A, tuple(c for c in MODELS if c.startswith("A_"))),
)
METRIC: dict[str, str] = {b: ("pass@1" if b in ("HumanEval", "MBPP") else "accuracy")
                          for b in BENCHMARKS}
SCORE_COLUMNS: tuple[str, ...] = ("model", "benchmark", "metric", "value")

BLANK_MD, BLANK_TEX = "—", "--"
AVG_MARK_MD, AVG_MARK_TEX = "†", r"$^\dagger$"
NOTE_BLANK = "— = no score (not evaluated, or the evaluation did not finish)."
NOTE_AVG = ("† = Avg left blank because at least one of the eight benchmarks in that column "
            "has no score; a mean over fewer benchmarks is not comparable with the paper's.")
NOTE_AR = ("AR column: the paper's is Qwen3-0.6B-Base as reported in the Qwen3 technical "
           "report, not this protocol (the same row as dllm's README; dllm issue #46); ours is "
           "Qwen3-0.6B evaluated by this workflow. Differences in that column compare two "
           "protocols.")
DECIMALS = 2

_REF_PKG = "tide.report"
_REF_RESULTS = "reference/reference_results.csv"
_REF_EFFICIENCY = "reference/reference_efficiency.csv"


# --------------------------------------------------------------------------- rounding

def round_half_up(value: float, decimals: int = DECIMALS) -> float:
    """Round like the paper: half away from zero, on the decimal value, not the binary one.

    The paper's averages are exact decimal means. For example, 244.36 / 8 = 30.545 is printed
    as 30.55, but the float is 30.544999… and ``round`` gives 30.54. The value is first fixed
    to 10 decimals, which removes that binary noise, and is then rounded half-up. NaN stays NaN.
    """
    if value is None or pd.isna(value):
        return np.nan
    q = Decimal(f"{float(value):.10f}").quantize(Decimal(1).scaleb(-decimals),
                                                  rounding=ROUND_HALF_UP)
    return float(q) + 0.0


def round_table(df: pd.DataFrame, decimals: int = DECIMALS) -> pd.DataFrame:
    """Apply :func:`round_half_up` to every cell (what the renderers print)."""
    return df.astype(float).apply(lambda col: col.map(lambda v: round_half_up(v, decimals)))


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


def _reference_text(name: str) -> str:
    return resources.files(_REF_PKG).joinpath(name).read_text()


def load_reference_results() -> pd.DataFrame:
    """Return the paper's main table (the copied CSV) in the same layout as :func:`main_table`.

    ``Avg`` is the printed average, not a recomputed one.
    """
    src = f"{_REF_PKG}/{_REF_RESULTS}"
    ref = pd.read_csv(io.StringIO(_reference_text(_REF_RESULTS)), comment="#",
                      index_col="benchmark")
    if list(ref.columns) != list(MODELS):
        raise ValueError(f"reference {src}: expected columns {list(MODELS)}, "
                         f"found {list(ref.columns)}")
    if list(ref.index) != list(ROWS):
        raise ValueError(f"reference {src}: expected rows {list(ROWS)}, found {list(ref.index)}")
    ref = ref.astype(float)
    ref.index.name = "benchmark"
    return ref


def reference_as_scores() -> pd.DataFrame:
    """Return the paper's numbers (no Avg row) as tidy ``model, benchmark, metric, value``."""
    ref = load_reference_results().loc[list(BENCHMARKS)]
    long = ref.reset_index().melt(id_vars="benchmark", var_name="model", value_name="value")
    long["metric"] = long["benchmark"].map(METRIC)
    return long[list(SCORE_COLUMNS)].reset_index(drop=True)


def load_reference_efficiency() -> pd.DataFrame:
    """Return the paper's deployment-efficiency numbers (the copied CSV), one row per model.

    The copied file is kept byte for byte, and its model names contain unquoted commas
    (``LLaDA2.0-mini (teacher, 16B MoE),16.3,...``), which a plain CSV reader splits into
    extra fields. Each line is therefore split at its last four commas: the numeric fields.
    """
    src = f"{_REF_PKG}/{_REF_EFFICIENCY}"
    lines = [x for x in _reference_text(_REF_EFFICIENCY).splitlines()
             if x.strip() and not x.startswith("#")]
    header = lines[0].split(",")
    rows = [x.rsplit(",", len(header) - 1) for x in lines[1:]]
    bad = [x for x, r in zip(lines[1:], rows) if len(r) != len(header)]
    if bad:
        raise ValueError(f"reference {src}: expected {len(header)} fields per line, "
                         f"found {bad[0]!r}")
    df = pd.DataFrame(rows, columns=header)
    for col in header[1:]:
        df[col] = pd.to_numeric(df[col].replace("", np.nan))
    return df


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


# --------------------------------------------------------------------------- rendering

def _fmt(value: float, signed: bool = False) -> str | None:
    """Format a cell to the paper's 2 decimals. Return None for a blank cell."""
    if value is None or pd.isna(value):
        return None
    value = round_half_up(value)
    return f"{value:+.{DECIMALS}f}" if signed and value != 0 else f"{value:.{DECIMALS}f}"


def _cell(df: pd.DataFrame, row: str, col: str, signed: bool, blank: str, mark: str) -> str:
    text = _fmt(df.at[row, col], signed)
    if text is not None:
        return text
    return blank + (mark if row == AVG else "")


def _notes(df: pd.DataFrame) -> list[str]:
    """Return the footnotes this table needs: one for blank cells, one for a blank Avg."""
    notes = []
    if df.isna().to_numpy().any():
        notes.append(NOTE_BLANK)
    if AVG in df.index and df.loc[AVG].isna().any():
        notes.append(NOTE_AVG)
    if "AR_Qwen3-0.6B" in df.columns:
        notes.append(NOTE_AR)
    return notes


def _layout(df: pd.DataFrame) -> pd.DataFrame:
    """Reorder ``df`` to the paper's rows and columns. Raise if it has neither."""
    unknown = [c for c in df.columns if c not in MODELS]
    if unknown:
        raise ValueError(f"table: expected columns among {list(MODELS)}, found {unknown}")
    return df.reindex(index=[r for r in ROWS if r in df.index], columns=list(MODELS))


def to_markdown(df: pd.DataFrame, *, signed: bool = False) -> str:
    """Render a main-layout table as GitHub markdown.

    The first header line carries the pipeline spanning labels and the second the method names.
    Blank cells are shown as ``—``, a blank Avg as ``—†``, and footnotes explain both marks.
    ``signed=True`` prints ``+x.xx`` (for the ours − paper table).
    """
    from tide.report.render import markdown_table

    df = _layout(df)
    body = [[f"**{row}**" if row == AVG else row]
            + [_cell(df, row, m, signed, BLANK_MD, AVG_MARK_MD) for m in MODELS]
            for row in df.index]
    return markdown_table(_header(), body, _notes(df))


def _header() -> list[list[tuple[str, int]]]:
    """The two header rows: pipeline spans (label, colspan), then the method names."""
    span = [("", 1)] + [(label, len(cols)) if label else ("", 1)
                        for label, cols in GROUPS for _ in ([0] if label else cols)]
    return [span, [("Benchmark", 1)] + [(DISPLAY[m], 1) for m in MODELS]]


def to_csv(df: pd.DataFrame, path: str | os.PathLike | None = None) -> str:
    """Render a main-layout table as CSV (2 decimals, blank cells empty).

    If ``path`` is given, the text is also written there atomically.
    """
    text = round_table(_layout(df)).to_csv(float_format=f"%.{DECIMALS}f", na_rep="",
                                           index_label="benchmark")
    if path is not None:
        atomic_write_text(path, text)
    return text


def _tex_escape(text: str) -> str:
    for ch in ("\\", "&", "%", "$", "#", "_", "{", "}"):
        text = text.replace(ch, "\\" + ch)
    return text


def _tex_row(df: pd.DataFrame, row: str, bold_columns: Sequence[str]) -> str:
    """Render one LaTeX body row, with the best value among ``bold_columns`` in bold."""
    rounded = df.loc[row, list(bold_columns)].map(round_half_up)
    best = rounded.max() if rounded.notna().any() else np.nan
    cells = []
    for m in MODELS:
        text = _cell(df, row, m, False, BLANK_TEX, AVG_MARK_TEX)
        value = df.at[row, m]
        if m in bold_columns and pd.notna(value) and round_half_up(value) == best:
            text = rf"\textbf{{{text}}}"
        cells.append(text)
    return " & ".join([_tex_escape(row)] + cells) + r" \\"


def to_latex(df: pd.DataFrame, *, bold_columns: Sequence[str] | None = None) -> str:
    """Render a main-layout table as a booktabs ``tabular``.

    The pipelines get ``\\multicolumn`` spanning headers with ``\\cmidrule``. The best value per
    row (compared at 2 decimals, ties all bold) among ``bold_columns`` (default: every column) is
    set in bold. Blanks are ``--``, a blank Avg is ``--$^\\dagger$``, and notes follow the
    bottom rule.
    """
    df = _layout(df)
    bold_columns = list(MODELS) if bold_columns is None else list(bold_columns)
    span, rules, col = [""], [], 2
    for label, cols in GROUPS:
        if label:
            span.append(rf"\multicolumn{{{len(cols)}}}{{c}}{{{_tex_escape(label)}}}")
            rules.append(rf"\cmidrule(lr){{{col}-{col + len(cols) - 1}}}")
        else:
            span += [""] * len(cols)
        col += len(cols)
    ncol = 1 + len(MODELS)
    lines = [rf"\begin{{tabular}}{{l{'r' * len(MODELS)}}}", r"\toprule",
             " & ".join(span) + r" \\", " ".join(rules),
             " & ".join(["Benchmark"] + [_tex_escape(DISPLAY[m]) for m in MODELS]) + r" \\",
             r"\midrule"]
    for row in df.index:
        if row == AVG:
            lines.append(r"\midrule")
        lines.append(_tex_row(df, row, bold_columns))
    lines.append(r"\bottomrule")
    for note in _notes(df):
        note = note.replace(BLANK_MD, BLANK_TEX).replace(AVG_MARK_MD, AVG_MARK_TEX)
        lines.append(rf"\multicolumn{{{ncol}}}{{l}}{{\footnotesize {note}}} \\")
    lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"


def to_html(df: pd.DataFrame, *, signed: bool = False,
            bold_columns: Sequence[str] | None = None, table_id: str | None = None) -> str:
    """Render a main-layout table as an HTML ``<table>`` with its footnotes.

    Same layout, marks and bold-best rule as :func:`to_latex` (``bold_columns=()`` for none);
    pipelines get ``colspan`` spanning headers. Blank cells carry the CSS class ``blank``.
    """
    from tide.report.render import html_notes, html_table

    df = _layout(df)
    bold_columns = list(MODELS) if bold_columns is None else list(bold_columns)
    header = _header()
    body, classes, row_classes = [], [], []
    for row in df.index:
        rounded = df.loc[row, bold_columns].map(round_half_up) if bold_columns else pd.Series()
        best = rounded.max() if rounded.notna().any() else np.nan
        cells, cls = [row], [""]
        for m in MODELS:
            value = df.at[row, m]
            cells.append(_cell(df, row, m, signed, BLANK_MD, AVG_MARK_MD))
            if pd.isna(value):
                cls.append("blank")
            elif m in bold_columns and not signed and round_half_up(value) == best:
                cls.append("best")
            else:
                cls.append("")
        body.append(cells)
        classes.append(cls)
        row_classes.append("avg" if row == AVG else "")
    return (html_table(header, body, classes=classes, row_classes=row_classes,
                       table_id=table_id) + "\n" + html_notes(_notes(df)))


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
