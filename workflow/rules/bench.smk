# Performance: `snakemake bench` runs `tide bench` (tide/bench; benchmarks/README.md) and
# writes results/bench/<measurement>.json, which the report's efficiency table reads when
# present. Not part of `all`: on 2 CPU cores it takes ~15 minutes and its figures want a quiet
# machine (or a GPU: give the rule `gpus: 1` under `resources.bench` in the config).
# `snakemake bench_quick` is the seconds-long smoke run (tiny shapes) into results/bench_quick/,
# which nothing downstream reads.
from tide.bench import MEASUREMENTS as BENCH_MEASUREMENTS


rule bench:
    output:
        [str(paths.ROOT / "bench" / f"{m}.json") for m in BENCH_MEASUREMENTS],
    log:
        paths.log("bench", "bench"),
    benchmark:
        paths.benchmark_file("bench", "bench")
    threads: threads("bench")
    resources:
        **res("bench"),
    params:
        out=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} bench --out {params.out} > {log} 2>&1"


rule bench_quick:
    output:
        [str(paths.ROOT / "bench_quick" / f"{m}.json") for m in BENCH_MEASUREMENTS],
    log:
        paths.log("bench", "bench_quick"),
    benchmark:
        paths.benchmark_file("bench", "bench_quick")
    threads: 1
    resources:
        **res("default"),
    params:
        out=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        "OMP_NUM_THREADS={threads} {TIDE} bench --quick --out {params.out} > {log} 2>&1"
