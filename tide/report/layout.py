"""The paper's main-table layout: its rows (benchmarks, then ``Avg``), its columns (models,
pipeline B before A), spanning groups, footnote marks, and its rounding.

The table is laid out in the paper's labels (its reference CSVs use them); result files carry
ids (tide.vocab), turned into these labels when scores are read (tide.report.tables).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from tide import vocab

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
