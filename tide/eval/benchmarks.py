"""The paper's evaluation protocol (docs/method.md §E4), as data.

One entry per benchmark: the lm-eval task, few-shot count, generation length (= steps,
one token per step), block size, the metric/filter reported in the main table, and the
number of documents of the evaluated split (GSM8K test 1,319; MATH test 5,000; BBH 27
tasks, 6,511; MMLU-Pro test 12,032; HellaSwag validation 10,042; MMLU test 14,042;
HumanEval 164; MBPP test 500: the datasets' cards) for the plan's GPU-hour estimates.
Kept import-light (no lm-eval) so config validation can check benchmark names.
"""

from __future__ import annotations

from dataclasses import dataclass

from tide import vocab


@dataclass(frozen=True)
class Benchmark:
    name: str  # our id (config eval.benchmarks; tide.vocab.BENCHMARKS)
    task: str  # our lm-eval task name (tide/eval/tasks/*.yaml)
    upstream_task: str  # the authors' lm-eval task it reproduces
    num_fewshot: int
    max_new_tokens: int  # = steps: one token per step (docs/method.md §E4)
    metric: str  # lm-eval's results key is "<metric>,<filter>" (pass_at_1 = pass@1)
    filter: str
    block_size: int = 32
    n_docs: int = 0  # documents in the evaluated split (the plan's estimates; tide/plan.py)

    @property
    def display(self) -> str:
        """The row label of the paper's main table."""
        return vocab.BENCHMARKS[self.name]


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in [
    Benchmark("gsm8k", "tide_gsm8k_cot", "gsm8k_cot", 0, 256, "exact_match", "strict-match", n_docs=1319),
    Benchmark("math", "tide_minerva_math", "minerva_math", 0, 256, "exact_match", "none", n_docs=5000),
    Benchmark("bbh", "tide_bbh", "bbh", 3, 256, "exact_match", "get-answer", n_docs=6511),
    Benchmark("mmlu_pro", "tide_mmlu_pro", "mmlu_pro", 0, 256, "exact_match", "custom-extract", n_docs=12032),
    Benchmark("hellaswag", "tide_hellaswag_gen", "hellaswag_gen", 0, 3, "exact_match", "first-letter", n_docs=10042),
    Benchmark("mmlu", "tide_mmlu_generative", "mmlu_generative_dream", 0, 3, "exact_match", "first-letter", n_docs=14042),
    Benchmark("humaneval", "tide_humaneval_instruct", "humaneval_instruct", 0, 256, "pass_at_1", "create_test", n_docs=164),
    Benchmark("mbpp", "tide_mbpp_instruct", "mbpp_instruct", 0, 256, "pass_at_1", "extract_code", n_docs=500),
]}


def get(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise ValueError(f"benchmark: unknown {name!r}; expected one of {sorted(BENCHMARKS)}")
    return BENCHMARKS[name]
