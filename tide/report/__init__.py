"""Reports: the main results table (md/csv/tex, and ours − paper), the λ(t,p) heatmap,
and the paper's reference numbers (``tide/report/reference/``, see its README).

``tide.report.figures`` (matplotlib, torch) is loaded lazily, on first use of its names.
"""

from tide.report.tables import (
    BENCHMARKS,
    MODELS,
    delta_to_paper,
    load_reference_efficiency,
    load_reference_results,
    main_table,
    reference_as_scores,
    to_csv,
    to_latex,
    to_markdown,
    write_main_tables,
)

_LAZY = {"lambda_grid", "plot_lambda_heatmap"}

__all__ = [
    "BENCHMARKS", "MODELS", "delta_to_paper", "lambda_grid", "load_reference_efficiency",
    "load_reference_results", "main_table", "plot_lambda_heatmap", "reference_as_scores",
    "to_csv", "to_latex", "to_markdown", "write_main_tables",
]


def __getattr__(name: str):
    if name in _LAZY:
        from tide.report import figures

        return getattr(figures, name)
    raise AttributeError(f"module 'tide.report' has no attribute {name!r}")
