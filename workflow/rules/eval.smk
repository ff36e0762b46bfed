# Stage 4: each (model, benchmark) evaluation in three rules (tide/eval/staged.py):
#   eval_generate  one job per shard (documents with doc_id mod K == k): generation only,
#                  stored as it goes, resumed by a retry (SIGUSR1 before the time limit);
#   eval_merge     the shards' generations as one store;
#   evaluate       CPU: filters, metrics, code execution over the stored generations
#                  (rescoring never regenerates). Its output, score.json, is the report's.
# Shard counts: eval.shards, or derived from eval.throughput_tokens_per_s (tide/plan.py).
# eval.per_model (the tiny default): instead, one job per model (eval_model; ablations:
# eval_model_ablation) runs the three stages of each of its benchmarks in one process
# (tide/stages/eval_model.py) and writes the same files; only one set of rules exists.


if PER_MODEL:

    rule eval_model:
        input:
            unpack(eval_model_inputs),
        output:
            [str(paths.eval_score("{model_id}", b)) for b in BENCHMARKS],
        log:
            paths.log("eval_model", "{model_id}"),
        benchmark:
            paths.benchmark_file("eval_model", "{model_id}")
        wildcard_constraints:
            model_id="|".join(PER_MODEL_IDS["main"]) or "none",
        threads: threads("eval_generate")
        resources:
            **res("eval_generate"),
        params:
            ev=json.dumps(CFG["eval"], sort_keys=True),
            benchmarks=" ".join(BENCHMARKS),
        shell:
            "OMP_NUM_THREADS={threads} {TIDE} eval-model --model-id {wildcards.model_id} --benchmarks {params.benchmarks} > {log} 2>&1"

    rule eval_model_ablation:
        input:
            unpack(eval_model_inputs),
        output:
            [str(paths.eval_score("{model_id}", b)) for b in ABLATION_BENCHMARKS],
        log:
            paths.log("eval_model", "{model_id}"),
        benchmark:
            paths.benchmark_file("eval_model", "{model_id}")
        wildcard_constraints:
            model_id="|".join(PER_MODEL_IDS["ablation"]) or "none",
        threads: threads("eval_generate")
        resources:
            **res("eval_generate"),
        params:
            ev=json.dumps(CFG["eval"], sort_keys=True),
            benchmarks=" ".join(ABLATION_BENCHMARKS),
        shell:
            "OMP_NUM_THREADS={threads} {TIDE} eval-model --model-id {wildcards.model_id} --benchmarks {params.benchmarks} > {log} 2>&1"

else:

    rule eval_generate:
        input:
            unpack(eval_inputs),
        output:
            paths.eval_shard_done("{model_id}", "{benchmark}", "{shard}", "{shards}"),
        log:
            paths.log("eval_generate", "{model_id}_{benchmark}_{shard}-of-{shards}"),
        benchmark:
            paths.benchmark_file(
                "eval_generate", "{model_id}_{benchmark}_{shard}-of-{shards}"
            )
        threads: threads("eval_generate")
        resources:
            **res("eval_generate"),
        params:
            ev=json.dumps(CFG["eval"], sort_keys=True),
        shell:
            "OMP_NUM_THREADS={threads} {TIDE} eval-generate --model-id {wildcards.model_id} --benchmark {wildcards.benchmark} --shard {wildcards.shard}/{wildcards.shards} >> {log} 2>&1"

    rule eval_merge:
        input:
            shard_done_files,
        output:
            paths.eval_generations("{model_id}", "{benchmark}"),
        log:
            paths.log("eval_merge", "{model_id}_{benchmark}"),
        benchmark:
            paths.benchmark_file("eval_merge", "{model_id}_{benchmark}")
        localrule: True  # file joining on the submitting host (Snakefile: localrules)
        threads: threads("default")
        resources:
            **res("default"),
        shell:
            "OMP_NUM_THREADS={threads} {TIDE} eval-merge --model-id {wildcards.model_id} --benchmark {wildcards.benchmark} {input} > {log} 2>&1"

    rule evaluate:
        input:
            gen=paths.eval_generations("{model_id}", "{benchmark}"),
            data=eval_data_input,
        output:
            paths.eval_score("{model_id}", "{benchmark}"),
        log:
            paths.log("evaluate", "{model_id}_{benchmark}"),
        benchmark:
            paths.benchmark_file("evaluate", "{model_id}_{benchmark}")
        threads: threads("evaluate")
        resources:
            **res("evaluate"),
        shell:
            "OMP_NUM_THREADS={threads} {TIDE} eval-score --model-id {wildcards.model_id} --benchmark {wildcards.benchmark} > {log} 2>&1"


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
