# Stage 5: every table and figure of reports/ from result files only (no GPU, no weights),
# and the captions of the HTML report:
#   make report  (= snakemake report + snakemake --report reports/report.html report)
from tide.report.outputs import REPORT_FILES


report: "../report/workflow.rst"


# Shown in `snakemake --report` (category, caption under workflow/report/); the other files
# of REPORT_FILES (md/csv/tex/pdf) are declared too, so the rule always writes the full set.
REPORTED = {
    "main_table.html": ("1. Main results", "main_table.rst"),
    "vs_paper.html": ("1. Main results", "vs_paper.rst"),
    "intervals.html": ("1. Main results", "intervals.rst"),
    "deltas.html": ("1. Main results", "deltas.rst"),
    "ablations.html": ("2. Ablations", "ablations.rst"),
    "lambda_heatmap.png": ("3. TIDAL λ(t, p)", "lambda_heatmap.rst"),
    "training_curves_B.png": ("4. Training curves", "training_curves.rst"),
    "training_curves_A.png": ("4. Training curves", "training_curves.rst"),
    "efficiency.png": ("5. Memory and throughput", "efficiency.rst"),
    "efficiency.html": ("5. Memory and throughput", "efficiency.rst"),
}


rule report:
    input:
        unpack(report_inputs),
    output:
        reported=[
            report(f"reports/{name}", category=cat, caption=f"../report/{caption}")
            for name, (cat, caption) in REPORTED.items()
        ],
        other=[f"reports/{name}" for name in REPORT_FILES if name not in REPORTED],
    log:
        paths.log("report", "report"),
    benchmark:
        paths.benchmark_file("report", "report")
    threads: threads("default")
    resources:
        **res("default"),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} report --out reports > {log} 2>&1"
