# Held-out figures of every model (tide/heldout_eval.py): masked-token NLL in bits/byte and
# the divergence from each teacher on held-out masked units, per held-out example, for the
# BD3LM start, every run (ablations and the teacher-free control included), each seed repeat
# of the main runs (distill.seeds), and the teachers; then their table and figure
# (tide/report/heldout.py) with 95 % intervals over examples. The held-out jobs load a
# student and a teacher like an evaluation job, so they take its resources (paper: 1 GPU).
import re

# HELDOUT_IDS, SEEDS and the input functions: common.smk


wildcard_constraints:
    hid="|".join(re.escape(h) for h in HELDOUT_SINGLE) or "none",
    seed=r"[1-9][0-9]*",


rule distill_seed:
    input:
        data=paths.dataset("{pipeline}", "train"),
        student=paths.model_metrics("bd3lm"),
        teacher=paths.model_metrics("teacher_{pipeline}"),
        checked=teacher_check_input,
    output:
        paths.run_summary("{pipeline}", "{run}", seed="{seed}"),
    log:
        paths.log("distill", "{pipeline}_{run}.seed{seed}"),
    benchmark:
        paths.benchmark_file("distill", "{pipeline}_{run}.seed{seed}")
    priority: 5  # after the teachers, the distillation runs before evaluations that could wait
    threads: threads("distill")
    resources:
        **res("distill"),
    params:
        identity=lambda wc: identity.plan_json(
            CFG, "distill", f"{wc.pipeline}_{wc.run}"
        ),
        rank_log=lambda wc: paths.log(
            "distill", f"{wc.pipeline}_{wc.run}.seed{wc.seed}.rank{{rank}}"
        ),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} --rank-log '{params.rank_log}' "
        "launch --tasks {resources.tasks} -- "
        "distill --pipeline {wildcards.pipeline} --run {wildcards.run} --seed {wildcards.seed} "
        "> {log} 2>&1"


if HELDOUT_GROUPED:

    rule heldout_repeats:
        input:
            heldout_repeats_inputs,
        output:
            [f"results/heldout/{{model_id}}{s}.json" for s in HELDOUT_SEED_SUFFIXES],
        log:
            paths.log("heldout", "{model_id}.repeats"),
        benchmark:
            paths.benchmark_file("heldout", "{model_id}.repeats")
        wildcard_constraints:
            model_id="|".join(HELDOUT_GROUPED),
        threads: threads("eval_generate")
        resources:
            **res("eval_generate"),
        params:
            ids=lambda wc: " ".join(wc.model_id + s for s in HELDOUT_SEED_SUFFIXES),
        shell:
            "OMP_NUM_THREADS={threads} {TIDE} heldout --model-id {params.ids} > {log} 2>&1"


rule heldout:
    input:
        heldout_inputs,
    output:
        "results/heldout/{hid}.json",
    log:
        paths.log("heldout", "{hid}"),
    benchmark:
        paths.benchmark_file("heldout", "{hid}")
    threads: threads("eval_generate")
    resources:
        **res("eval_generate"),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} heldout --model-id {wildcards.hid} > {log} 2>&1"


rule heldout_report:
    input:
        heldout_report_inputs,
    output:
        table=report(
            "reports/heldout_table.html",
            category="6. Held-out loss",
            caption="../report/heldout_table.rst",
        ),
        figure=report(
            "reports/heldout.png",
            category="6. Held-out loss",
            caption="../report/heldout.rst",
        ),
        other=["reports/heldout_table.md", "reports/heldout_table.csv"],
    log:
        paths.log("report", "heldout"),
    benchmark:
        paths.benchmark_file("report", "heldout")
    threads: threads("default")
    resources:
        **res("default"),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} heldout-report --out reports > {log} 2>&1"
