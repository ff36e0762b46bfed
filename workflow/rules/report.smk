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


# Results copied from elsewhere may be partial (one pipeline, no ablations...): with
# TIDE_REPORT_PARTIAL=1 (`make report`), only the inputs that exist are declared and the report
# marks the rest; in a DAG run every input is declared, so the report waits for all of them.
REPORT_PARTIAL = os.environ.get("TIDE_REPORT_PARTIAL") == "1"


def report_inputs(_wildcards):
    inputs = {
        "scores": [str(paths.scores_csv())],
        "runs": [str(paths.run_summary(r.pipeline, r.name)) for r in RUNS],
        "ablations": [str(paths.ablation_rows(r.model_id)) for r in ABLATIONS],
        # the held-out table and figure (heldout.smk): declared so the HTML report shows them
        "heldout": ["reports/heldout_table.html", "reports/heldout.png"],
    }
    # results/bench/*.json and results/scores_released.csv are read when present but not
    # declared: declaring them would make `all` run the 15-minute `bench` rule or the
    # released checkpoints' evaluations; `make report` regenerates after either.
    if REPORT_PARTIAL:
        inputs = {k: [f for f in v if os.path.exists(f)] for k, v in inputs.items()}
    return inputs


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
