"""Tiny offline evaluation items in the real hub datasets' schemas (docs/method.md §E3 "Offline").

One function per benchmark returns ``{lm-eval task: rows}``; the eval-data stage writes each
as ``<task>.jsonl`` and the SAME task YAMLs read them (tide.eval.run's include route).
Deterministic in (n, seed). Sources:

Every benchmark's items are held-out items of the task family the tiny corpus trains on in
that benchmark's format (tide.data.corpus: GSM8K, MMLU; tide.data.tasks: MATH algebra /
prealgebra / num_theory, BBH boolean_expressions / multistep_arithmetic_two, MMLU-Pro,
HellaSwag, HumanEval- and MBPP-style one-line functions), distinct, never in training (hash
partition), written in the hendrycks_math, SaylorTwift/bbh, TIGER-Lab/MMLU-Pro,
Rowan/hellaswag, openai_humaneval and mbpp schemas. Group benchmarks cover a subset of their
subtasks, n split evenly over them (the hub route runs them all). The code families have a
small item space (function x constant): fewer than n items where the held-out partition
holds fewer.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable

Rows = list[dict[str, Any]]

# Subtasks covered offline (group benchmarks); the hub route runs every subtask.
MATH_KEYS = ("algebra", "prealgebra", "num_theory")
MATH_SUBTASKS = tuple(f"tide_minerva_math_{k}" for k in MATH_KEYS)
BBH_KEYS = ("boolean_expressions", "multistep_arithmetic_two")
BBH_SUBTASKS = tuple(f"tide_bbh_{k}" for k in BBH_KEYS)


def _split(n: int, k: int) -> int:
    return max(1, math.ceil(n / k))


def gsm8k(n: int, seed: int) -> dict[str, Rows]:
    from tide.data.corpus import gsm8k_items

    return {"tide_gsm8k_cot": gsm8k_items(n, seed)}


def mmlu(n: int, seed: int) -> dict[str, Rows]:
    from tide.data.corpus import mmlu_items

    return {"tide_mmlu_generative": mmlu_items(n, seed)}


def _per_subtask(family: str, n: int, seed: int, field: str, subtasks: dict) -> dict[str, list]:
    """About n distinct held-out items of ``family`` split evenly over its subtasks."""
    from tide.data.tasks import distinct

    items = distinct(family, 20 * n, seed)
    out = {task: [] for task in subtasks.values()}
    rest = []
    for item in items:
        rows = out[subtasks[item[field]]]
        (rows if len(rows) < _split(n, len(subtasks)) else rest).append(item)
    # a subtask with fewer held-out items than its share: the others make up the n
    for item in rest[:max(0, n - sum(map(len, out.values())))]:
        out[subtasks[item[field]]].append(item)
    return out


def math_(n: int, seed: int) -> dict[str, Rows]:
    """EleutherAI/hendrycks_math schema: problem, level, type, solution (last \\boxed{})."""
    from tide.data.tasks import math_row

    split = _per_subtask("math", n, seed, "subject", dict(zip(MATH_KEYS, MATH_SUBTASKS)))
    return {task: [math_row(i) for i in items] for task, items in split.items()}


def bbh(n: int, seed: int) -> dict[str, Rows]:
    """SaylorTwift/bbh schema (input, target), two subtasks with computed gold answers."""
    from tide.data.tasks import bbh_row

    split = _per_subtask("bbh", n, seed, "subtask", dict(zip(BBH_KEYS, BBH_SUBTASKS)))
    return {task: [bbh_row(i) for i in items] for task, items in split.items()}


def mmlu_pro(n: int, seed: int) -> dict[str, Rows]:
    """TIGER-Lab/MMLU-Pro schema (question, options, answer letter, category, ...)."""
    from tide.data.tasks import distinct, pro_row

    return {"tide_mmlu_pro": [pro_row(it, i) for i, it in enumerate(distinct("mmlu_pro", n, seed))]}


def hellaswag(n: int, seed: int) -> dict[str, Rows]:
    """Rowan/hellaswag schema (ctx_a, ctx_b, endings, label as a string, ...)."""
    from tide.data.tasks import distinct, hs_row

    return {"tide_hellaswag_gen": [hs_row(it, i) for i, it in
                                   enumerate(distinct("hellaswag", n, seed))]}


def humaneval(n: int, seed: int) -> dict[str, Rows]:
    """openai_humaneval schema: held-out one-line functions (tide.data.tasks), not the real
    164 problems (no tiny model solves those; the hub route runs them)."""
    from tide.data.tasks import distinct, humaneval_row

    return {"tide_humaneval_instruct": [humaneval_row(it, i) for i, it in
                                        enumerate(distinct("humaneval", n, seed))]}


def mbpp(n: int, seed: int) -> dict[str, Rows]:
    """google-research-datasets/mbpp "full" schema (task_id, text, code, test_list, ...)."""
    from tide.data.tasks import distinct, mbpp_row

    return {"tide_mbpp_instruct": [mbpp_row(it, i) for i, it in
                                   enumerate(distinct("mbpp", n, seed))]}


MAKERS: dict[str, Callable[[int, int], dict[str, Rows]]] = {
    "gsm8k": gsm8k, "math": math_, "bbh": bbh, "mmlu_pro": mmlu_pro, "hellaswag": hellaswag,
    "mmlu": mmlu, "humaneval": humaneval, "mbpp": mbpp,
}


def tiny_items(benchmark: str, n: int, seed: int) -> dict[str, Rows]:
    """``{task: rows}`` of ``benchmark`` (about n documents in all)."""
    if benchmark not in MAKERS:
        raise ValueError(f"eval data: no tiny items for benchmark {benchmark!r}; expected one "
                         f"of {sorted(MAKERS)}")
    return MAKERS[benchmark](n, seed)
