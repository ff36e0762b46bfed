# Stage 2: AR model -> BD3LM SFT student; the two teachers (trained on the tiny path).


rule train_ar:
    input:
        lambda wc: [str(paths.dataset("sft", "train"))] if trained("ar") else [],
    output:
        paths.model_metrics("ar"),
    log:
        paths.log("train_ar", "ar"),
    benchmark:
        paths.benchmark_file("train_ar", "ar")
    threads: threads("train_ar")
    resources:
        **res("train_ar"),
    params:
        identity=identity.plan_json(CFG, "train_ar", "ar"),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} train-ar > {log} 2>&1"


rule sft_student:
    input:
        lambda wc: (
            [str(paths.model_metrics("ar"))]
            + [str(paths.dataset("sft", s)) for s in ("train", "heldout")]
            if trained("bd3lm")
            else []
        ),
    output:
        paths.model_metrics("bd3lm"),
    log:
        paths.log("sft_student", "bd3lm"),
    benchmark:
        paths.benchmark_file("sft_student", "bd3lm")
    threads: threads("sft_student")
    resources:
        **res("sft_student"),
    params:
        identity=identity.plan_json(CFG, "sft_student", "bd3lm"),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} sft > {log} 2>&1"


rule train_teacher:
    input:
        teacher_inputs,
    output:
        paths.model_metrics("teacher_{pipeline}"),
    log:
        paths.log("train_teacher", "{pipeline}"),
    benchmark:
        paths.benchmark_file("train_teacher", "{pipeline}")
    # the teachers head the longest chain (teacher -> distill -> held-out/eval): started
    # before the evaluations of the AR model and the BD3LM start that could wait (measured:
    # without it, the local scheduler ran those first and the teacher 6 minutes late)
    priority: 10
    threads: threads("train_teacher")
    resources:
        **res("train_teacher"),
    params:
        identity=lambda wc: identity.plan_json(
            CFG, "train_teacher", f"teacher_{wc.pipeline}"
        ),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} train-teacher --pipeline {wildcards.pipeline} > {log} 2>&1"


# A trained teacher against the SFT student (held-out bits/byte <= target_bpb_ratio x the
# student's): the teacher trains beside the AR -> SFT chain and is checked once both exist.
rule check_teacher:
    input:
        teacher=paths.model_metrics("teacher_{pipeline}"),
        student=paths.model_metrics("bd3lm"),
    output:
        paths.teacher_check("{pipeline}"),
    log:
        paths.log("check_teacher", "{pipeline}"),
    # it gates every distillation of its pipeline: measured without it, the local scheduler
    # ran two evaluations first and pipeline A's distillations started 1.7 minutes late
    priority: 10
    localrule: True  # two JSON files compared: on the submitting host
    shell:
        "{TIDE} check-teacher --pipeline {wildcards.pipeline} > {log} 2>&1"
