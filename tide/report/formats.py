"""A main-layout table rendered as GitHub markdown, CSV, LaTeX (booktabs) or HTML.

Blank cells are marked (``—`` / ``--``), a blank Avg gets a dagger, and each rendering carries
the footnotes its table needs; numbers are printed at the paper's 2 decimals
(tide.report.layout.round_half_up).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd

from tide.io import atomic_write_text
from tide.report.layout import (AVG, AVG_MARK_MD, AVG_MARK_TEX, BLANK_MD, BLANK_TEX, DECIMALS,
                                DISPLAY, GROUPS, MODELS, NOTE_AR, NOTE_AVG, NOTE_BLANK, ROWS,
                                round_half_up, round_table)


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


def tex_escape(text: str) -> str:
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
    return " & ".join([tex_escape(row)] + cells) + r" \\"


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
            span.append(rf"\multicolumn{{{len(cols)}}}{{c}}{{{tex_escape(label)}}}")
            rules.append(rf"\cmidrule(lr){{{col}-{col + len(cols) - 1}}}")
        else:
            span += [""] * len(cols)
        col += len(cols)
    ncol = 1 + len(MODELS)
    lines = [rf"\begin{{tabular}}{{l{'r' * len(MODELS)}}}", r"\toprule",
             " & ".join(span) + r" \\", " ".join(rules),
             " & ".join(["Benchmark"] + [tex_escape(DISPLAY[m]) for m in MODELS]) + r" \\",
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
