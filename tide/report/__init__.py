"""Reports from result files only: the main table (md/csv/tex/html, ours − paper), ablation
tables, the λ(t,p) heatmap, training curves, memory/throughput figures, and the paper's
reference numbers (``tide/report/reference/``, see its README).

``tide.report.build.build_report`` writes them all (``tide report``). Names are loaded lazily
so that importing ``tide.report.outputs`` (the Snakefile does) stays cheap.
"""

_LAZY = {
    "BENCHMARKS": "tables", "MODELS": "tables", "delta_to_paper": "tables",
    "load_reference_efficiency": "tables", "load_reference_results": "tables",
    "main_table": "tables", "reference_as_scores": "tables", "to_csv": "tables",
    "to_html": "tables", "to_latex": "tables", "to_markdown": "tables",
    "write_main_tables": "tables",
    "lambda_grid": "figures", "plot_lambda_heatmap": "figures",
    "build_report": "build", "REPORT_FILES": "outputs",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"tide.report.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'tide.report' has no attribute {name!r}")
