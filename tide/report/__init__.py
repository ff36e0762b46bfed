"""Reports from result files only: the main table (md/csv/tex/html, ours − paper), ablation
tables, the λ(t,p) heatmap, training curves, memory/throughput figures, and the paper's
reference numbers (``tide/report/reference/``, see its README).

``tide.report.build.build_report`` writes them all (``tide report``). Import the submodules
(``tide.report.tables``, ...); this package imports nothing, so importing
``tide.report.outputs`` (the Snakefile does) stays cheap.
"""
