# Held-out figures of every model (tide/heldout_eval.py): masked-token NLL in bits/byte and
# the divergence from each teacher on held-out masked units, per held-out example, for the
# BD3LM start, every run (ablations and the teacher-free control included), each seed repeat
# of the main runs (distill.seeds), and the teachers; then their table and figure
# (tide/report/heldout.py) with 95 % intervals over examples.
import re

SEEDS = int(CFG["distill"].get("seeds", 1))
MAIN_RUNS = [r for r in RUNS if not r.is_ablation]
HELDOUT_IDS = (
    ["teacher_A", "teacher_B", "bd3lm"]
    + [r.model_id for r in RUNS]
    + [f"{r.model_id}.seed{k}" for r in MAIN_RUNS for k in range(1, SEEDS)]
)
HELDOUT_REPORT = ["heldout_table.md", "heldout_table.csv", "heldout_table.html", "heldout.png"]


wildcard_constraints:
    hid="|".join(re.escape(h) for h in HELDOUT_IDS),
    seed=r"[1-9][0-9]*",


rule distill_seed:
    input:
        data=paths.dataset("{pipeline}", "train"),
        student=paths.model_metrics("bd3lm"),
        teacher=paths.model_metrics("teacher_{pipeline}"),
    output:
        paths.run_summary("{pipeline}", "{run}", seed="{seed}"),
    params:
        identity=lambda wc: identity.plan_json(CFG, "distill", f"{wc.pipeline}_{wc.run}"),
        rank_log=lambda wc: paths.log(
            "distill", f"{wc.pipeline}_{wc.run}.seed{wc.seed}.rank{{rank}}"
        ),
    log:
        paths.log("distill", "{pipeline}_{run}.seed{seed}"),
    benchmark:
        paths.benchmark_file("distill", "{pipeline}_{run}.seed{seed}")
    threads: threads("distill")
    resources:
        **res("distill"),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} --rank-log '{params.rank_log}' "
        "launch --tasks {resources.tasks} -- "
        "distill --pipeline {wildcards.pipeline} --run {wildcards.run} --seed {wildcards.seed} "
        "> {log} 2>&1"


def heldout_inputs(wildcards):
    from tide.heldout_eval import TEACHER_IDS, parse_heldout_id

    model_id, seed = parse_heldout_id(wildcards.hid)
    if model_id in TEACHER_IDS:  # its own bits/byte only
        kind = {"teacher_A": "sft_teacher_a", "teacher_B": "sft_teacher_b"}[model_id]
        return [str(paths.dataset(kind, "heldout")), str(paths.model_metrics(model_id))]
    if model_id == "bd3lm":  # the start of both pipelines: against both teachers
        pipelines, model = ("A", "B"), str(paths.model_metrics("bd3lm"))
    else:  # a run: against its own pipeline's teacher
        pipeline, run = model_id.split("_", 1)
        pipelines, model = (pipeline,), str(paths.run_summary(pipeline, run, seed=seed))
    return ([str(paths.dataset("sft", "heldout")), model]
            + [str(paths.dataset(p, "heldout")) for p in pipelines]
            + [str(paths.model_metrics(f"teacher_{p}")) for p in pipelines])


rule heldout:
    input:
        heldout_inputs,
    output:
        "results/heldout/{hid}.json",
    log:
        paths.log("heldout", "{hid}"),
    benchmark:
        paths.benchmark_file("heldout", "{hid}")
    threads: threads("default")
    resources:
        **res("default"),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} heldout --model-id {wildcards.hid} > {log} 2>&1"


def heldout_report_inputs(_wildcards):
    files = [f"results/heldout/{h}.json" for h in HELDOUT_IDS]
    # `make report` on copied, partial results (TIDE_REPORT_PARTIAL, report.smk): what exists
    return [f for f in files if os.path.exists(f)] if REPORT_PARTIAL else files


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
            "reports/heldout.png", category="6. Held-out loss", caption="../report/heldout.rst"
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
