"""The files ``tide report`` writes into ``reports/``: one list, read by the ``report`` rule
(workflow/rules/report.smk) as its declared outputs and checked by ``tide.report.build``.

Kept free of heavy imports: the Snakefile imports it while parsing.
"""

REPORT_FILES: tuple[str, ...] = (
    "main_table.md", "main_table.csv", "main_table.tex", "main_table.html",
    "vs_paper.md", "vs_paper.csv", "vs_paper.html",
    "intervals.md", "intervals.csv", "intervals.tex", "intervals.html",
    "deltas.md", "deltas.csv", "deltas.html",
    "ablations.md", "ablations.csv", "ablations.html",
    "lambda_heatmap.png", "lambda_heatmap.pdf",
    "training_curves_B.png", "training_curves_B.pdf",
    "training_curves_A.png", "training_curves_A.pdf",
    "efficiency.png", "efficiency.pdf", "efficiency.md", "efficiency.csv", "efficiency.html",
)
