"""The paper's published numbers (the copied CSVs in ``reference/``), in the main-table layout."""

from __future__ import annotations

import io
from importlib import resources

import numpy as np
import pandas as pd

from tide.report.layout import BENCHMARKS, METRIC, MODELS, ROWS, SCORE_COLUMNS

_REF_PKG = "tide.report"
_REF_RESULTS = "reference/reference_results.csv"
_REF_EFFICIENCY = "reference/reference_efficiency.csv"


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
