# Stage 4: lm-eval per (model, benchmark), then one tidy scores.csv.


def eval_inputs(wildcards):
    inputs = {"model": model_input(wildcards.model_id)} if model_input(wildcards.model_id) else {}
    if CFG["eval"]["source"] == "tiny":
        inputs["data"] = str(paths.eval_data(wildcards.benchmark))
    return inputs


rule evaluate:
    input:
        unpack(eval_inputs),
    output:
        paths.eval_score("{model_id}", "{benchmark}"),
    params:
        ev=json.dumps(CFG["eval"], sort_keys=True),
    log:
        paths.log("evaluate", "{model_id}_{benchmark}"),
    benchmark:
        paths.benchmark_file("evaluate", "{model_id}_{benchmark}")
    threads: threads("evaluate")
    resources:
        **res("evaluate"),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} eval --model-id {wildcards.model_id} --benchmark {wildcards.benchmark} > {log} 2>&1"


rule scores:
    input:
        score_files(),
    output:
        paths.scores_csv(),
    log:
        paths.log("scores", "scores"),
    benchmark:
        paths.benchmark_file("scores", "scores")
    threads: threads("default")
    resources:
        **res("default"),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} scores {input} --out {output} > {log} 2>&1"


# The released checkpoints (config eval.checkpoints), no training: one job per
# (checkpoint, benchmark), then their own tidy CSV. `snakemake released`.
rule released_scores:
    input:
        [str(paths.eval_score(m, b)) for m in CHECKPOINT_IDS for b in BENCHMARKS],
    output:
        paths.scores_csv().with_name("scores_released.csv"),
    log:
        paths.log("scores", "released"),
    benchmark:
        paths.benchmark_file("scores", "released")
    threads: threads("default")
    resources:
        **res("default"),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} scores {input} --out {output} > {log} 2>&1"


rule released:
    input:
        rules.released_scores.output,
