# Stage 5: tables and figures regenerated from result files only (no GPU, no weights).


rule report:
    input:
        scores=paths.scores_csv(),
        runs=[str(paths.run_summary(r.pipeline, r.name)) for r in RUNS],
    output:
        table="reports/main_table.md",
        csv="reports/main_table.csv",
        heatmap="reports/lambda_heatmap.png",
    log:
        paths.log("report", "report"),
    benchmark:
        paths.benchmark_file("report", "report")
    threads: threads("default")
    resources:
        **res("default"),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} report --scores {input.scores} --out reports > {log} 2>&1"
