# Stage 3: one distillation run per (pipeline, run) of config distill.runs.
# `tide launch` starts resources.distill.tasks ranks (srun under SLURM, torchrun elsewhere,
# in place for one); each rank also logs to results/logs/distill/{pipeline}_{run}.rank<r>.log.


rule distill:
    input:
        data=paths.dataset("{pipeline}", "train"),
        student=paths.model_metrics("bd3lm"),
        teacher=paths.model_metrics("teacher_{pipeline}"),
        checked=teacher_check_input,
    output:
        paths.run_summary("{pipeline}", "{run}"),
    log:
        paths.log("distill", "{pipeline}_{run}"),
    benchmark:
        paths.benchmark_file("distill", "{pipeline}_{run}")
    priority: 5  # after the teachers, the distillation runs before evaluations that could wait
    threads: threads("distill")
    resources:
        **res("distill"),
    params:
        identity=lambda wc: identity.plan_json(
            CFG, "distill", f"{wc.pipeline}_{wc.run}"
        ),
        rank_log=lambda wc: paths.log("distill", f"{wc.pipeline}_{wc.run}.rank{{rank}}"),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} --rank-log '{params.rank_log}' "
        "launch --tasks {resources.tasks} -- "
        "distill --pipeline {wildcards.pipeline} --run {wildcards.run} > {log} 2>&1"
