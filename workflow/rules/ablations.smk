# The ablation grid (docs/method.md §4): every ablation is a distill -> eval -> table-rows chain
# with a named target, so `snakemake ablation_B_growth_linear` re-runs exactly that chain.


rule ablation_rows:
    input:
        spec=lambda wc: str(paths.run_summary(*wc.model_id.split("_", 1))),
        scores=lambda wc: [
            str(paths.eval_score(wc.model_id, b)) for b in ABLATION_BENCHMARKS
        ],
    output:
        paths.ablation_rows("{model_id}"),
    log:
        paths.log("ablation_rows", "{model_id}"),
    benchmark:
        paths.benchmark_file("ablation_rows", "{model_id}")
    threads: threads("default")
    resources:
        **res("default"),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} ablation-rows --spec {input.spec} --out {output} "
        "{input.scores} > {log} 2>&1"


for _abl in ABLATIONS:

    rule:
        name:
            f"ablation_{_abl.pipeline}_{_abl.name}"
        input:
            str(paths.ablation_rows(_abl.model_id)),
        localrule: True
