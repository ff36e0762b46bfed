# Stage 3: one distillation run per (pipeline, run) of config distill.runs.


rule distill:
    input:
        data=paths.dataset("{pipeline}", "train"),
        student=paths.model_metrics("bd3lm"),
        teacher=paths.model_metrics("teacher_{pipeline}"),
    output:
        paths.run_summary("{pipeline}", "{run}"),
    params:
        spec=lambda wc: run_params(wc.pipeline, wc.run),
    log:
        paths.log("distill", "{pipeline}_{run}"),
    benchmark:
        paths.benchmark_file("distill", "{pipeline}_{run}")
    threads: threads("distill")
    resources:
        **res("distill"),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} distill --pipeline {wildcards.pipeline} --run {wildcards.run} > {log} 2>&1"
