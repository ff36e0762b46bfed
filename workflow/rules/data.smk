# Stage 1: corpus -> tokenizers -> datasets in the authors' schema (+ stored chunk alignment).


rule corpus:
    output:
        train=paths.corpus("train"),
        heldout=paths.corpus("heldout"),
    log:
        paths.log("corpus", "corpus"),
    benchmark:
        paths.benchmark_file("corpus", "corpus")
    threads: threads("default")
    resources:
        **res("default"),
    params:
        data=json.dumps(CFG["data"], sort_keys=True),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} corpus > {log} 2>&1"


rule tokenizers:
    input:
        [str(paths.corpus("train"))] if TINY else [],
    output:
        summary=paths.tokenizers_summary(),
        dirs=(
            [
                directory(paths.tokenizer(n))
                for n in ("student", "teacher_a", "teacher_b")
            ]
            if all(v == "train" for v in CFG["tokenizers"].values())
            else []
        ),
    log:
        paths.log("tokenizers", "tokenizers"),
    benchmark:
        paths.benchmark_file("tokenizers", "tokenizers")
    threads: threads("default")
    resources:
        **res("default"),
    params:
        tok=json.dumps(CFG["tokenizers"], sort_keys=True),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} tokenizers > {log} 2>&1"


rule dataset:
    input:
        dataset_inputs,
    output:
        directory(paths.dataset("{kind}", "{split}")),
    log:
        paths.log("dataset", "{kind}_{split}"),
    benchmark:
        paths.benchmark_file("dataset", "{kind}_{split}")
    # seconds each, and the teachers (priority 10) wait for theirs: without it the local
    # scheduler ran the AR model's evaluation first and teacher A started 4 minutes late
    priority: 10
    threads: threads("default")
    resources:
        **res("default"),
    params:
        data=json.dumps(CFG["data"], sort_keys=True),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} dataset --kind {wildcards.kind} --split {wildcards.split} > {log} 2>&1"


rule eval_data:
    output:
        directory(paths.eval_data("{benchmark}")),
    log:
        paths.log("eval_data", "{benchmark}"),
    benchmark:
        paths.benchmark_file("eval_data", "{benchmark}")
    threads: threads("default")
    resources:
        **res("default"),
    params:
        ev=json.dumps(CFG["eval"], sort_keys=True),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} eval-data --benchmark {wildcards.benchmark} > {log} 2>&1"
