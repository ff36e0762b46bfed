"""The project's names, in one place: pipelines, model ids, benchmarks, and their labels.

Data files (``score.json``, ``scores.csv``, ablation rows, configs) carry ids only
(``B_tide_shared``, ``gsm8k``); labels (``B_TIDE-Shared``, ``GSM8K``, "TIDE-Shared") are
for rendering. The readers of result files written before ids were the rule accept either
spelling through :func:`model_id` and :func:`benchmark_id`. Imports only ``re``.
"""

from __future__ import annotations

import re

PIPELINES = ("A", "B")
#: the teacher of each pipeline, as the name of its tokenizer (config ``tokenizers``)
TEACHER_TOKENIZER = {"A": "teacher_a", "B": "teacher_b"}
#: what distinguishes the pipelines, and the paper's teacher of each (titles are composed
#: where they are rendered)
PIPELINE_TOKENIZER = {"A": "cross tokenizer", "B": "shared tokenizer"}
PAPER_TEACHER = {"A": "LLaDA2.0-mini", "B": "WeDLM-8B"}

#: the models of the paper's main table, in its column order: (id, column key, method label)
MAIN_MODELS: tuple[tuple[str, str, str], ...] = (
    ("ar", "AR_Qwen3-0.6B", "Qwen3-0.6B (AR)"),
    ("bd3lm", "BD3LM", "BD3LM"),
    ("B_kl", "B_KL", "KL"),
    ("B_tide_cross", "B_TIDE-Cross", "TIDE-Cross"),
    ("B_tide_shared", "B_TIDE-Shared", "TIDE-Shared"),
    ("A_calm", "A_CALM", "CALM"),
    ("A_tide_shared", "A_TIDE-Shared", "TIDE-Shared"),
    ("A_tide_cross", "A_TIDE-Cross", "TIDE-Cross"),
)
MAIN_MODEL_IDS: tuple[str, ...] = tuple(m for m, _, _ in MAIN_MODELS)
#: model id → the paper's column key (the header of tide/report/reference/*.csv)
COLUMN: dict[str, str] = {m: c for m, c, _ in MAIN_MODELS}
#: column key → the method's label under its pipeline's spanning header
METHOD_LABEL: dict[str, str] = {c: label for _, c, label in MAIN_MODELS}
#: the method each pipeline's ablations are compared with (its native TIDE variant)
FULL_METHOD = {"A": "TIDE-Cross (native, pipeline A)", "B": "TIDE-Shared (native, pipeline B)"}

#: benchmark id (config ``eval.benchmarks``) → the paper's row label, in the table's order
BENCHMARKS: dict[str, str] = {
    "gsm8k": "GSM8K", "math": "MATH", "bbh": "BBH", "mmlu_pro": "MMLU-Pro",
    "hellaswag": "HellaSwag", "mmlu": "MMLU", "humaneval": "HumanEval", "mbpp": "MBPP",
}


def model_id(name: str) -> str:
    """The id of a model given by id or by the paper's column key (``B_TIDE-Shared`` →
    ``B_tide_shared``); any other name (an ablation, a released checkpoint) unchanged."""
    back = {c: m for m, c in COLUMN.items()}
    return back.get(name, name)


#: a seed replica's suffix (``B_kl_seed7``): replicas share their run's column
SEED_SUFFIX = re.compile(r"_seed\d+$")


def column(name: str) -> str:
    """The paper's column key of a model id (or of a column key; a seed replica's is its
    run's); other names unchanged."""
    return COLUMN.get(model_id(SEED_SUFFIX.sub("", name)), name)


def benchmark_id(name: str) -> str:
    """The id of a benchmark given by id or by label (``MMLU-Pro`` → ``mmlu_pro``); unknown
    names unchanged."""
    back = {label: b for b, label in BENCHMARKS.items()}
    return back.get(name, name)


def benchmark_label(name: str) -> str:
    """The paper's row label of a benchmark id (or of a label); unknown names unchanged."""
    return BENCHMARKS.get(benchmark_id(name), name)
