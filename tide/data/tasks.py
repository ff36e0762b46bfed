"""Benchmark-shaped task families of the tiny corpus, beyond GSM8K and MMLU (tide.data.corpus).

Each family draws items a tiny model can learn (exact answers computed here), renders one as
a chat conversation in the benchmark's own prompt format (the task YAML's ``doc_to_text``,
``description`` as the system turn, ``gen_prefix`` opening the reply) and as a row of the real
hub schema for the held-out evaluation files (tide.eval.tiny_data), so the same task YAMLs
score them:

======================  ===========================================  ========================
benchmark (subtasks)    items (easy: a copy of the prompt; harder:   answer format taught
                        a small table)
======================  ===========================================  ========================
MATH (algebra,          ``x + 0 = c``, ``p + 0``, ``p times 1``,     "Final Answer: The final
prealgebra, num_theory) remainders of a < b; ``x + 1 = c``,           answer is $N$. I hope it
                        one-digit sums, remainders of b < a < 2b      is correct."
BBH (boolean_expr.,     two-atom Boolean expressions; two-level       short steps, "So the
multistep_arith._two)   sums/products of 0, 1 and 2                   answer is X."
MMLU-Pro                four options: "which word is w" (the cue is   one sentence, "The
                        a copy), capitals, opposites, one-digit       answer is (X)."
                        sums, largest number
HellaSwag               activity scripts: the right next step names   the letter
                        the context's object, the distractors other
                        activities' objects
HumanEval               one-line functions with a docstring example:  the body, closing fence
                        operator from the words, constant from the
                        name, argument from the signature
MBPP                    the same functions described in words,       the whole function in a
                        three asserts                                 fenced block
======================  ===========================================  ========================

Difficulty is graded inside each family so that a tiny model's score says how far it got
(docs/heldout_diagnosis.md "The tiny benchmarks").

Train/held-out disjointness as in tide.data.corpus: an item's canonical key is hashed into
exactly one partition (``in_heldout``), and each generator draws only its partition's items.
"""

from __future__ import annotations

import random
from typing import Any, Iterator

from tide.data.corpus import CAPITALS, MATCH_WORDS, NAMES, OPPOSITES, in_heldout

Messages = list[dict[str, str]]
Item = dict[str, Any]

# ---------------------------------------------------------------- MATH (minerva_math)

MATH_SUBJECTS = {"algebra": "Algebra", "prealgebra": "Prealgebra", "num_theory": "Number Theory"}


def _math_item(rng: random.Random) -> Item:
    """Graded per subject: half the items answer with a number of the problem (a copy:
    ``x + 0``, ``p + 0``, ``p \\times 1``, the remainder of a smaller number), the rest with
    one step of a small table (``x + 1``, one-digit sums, remainders of b < a < 2b)."""
    sub = rng.choice(sorted(MATH_SUBJECTS))
    easy = rng.random() < 0.5
    if sub == "algebra":
        b = 0 if easy else 1
        x = rng.randint(2, 99)
        problem = f"Solve for $x$: $x + {b} = {x + b}$."
        steps, ans = f"Subtracting {b} gives $x = {x}$.", x
    elif sub == "prealgebra":
        if easy:
            op = rng.choice(("+", "\\times"))
            p, q = rng.randint(2, 99), (0 if op == "+" else 1)
        else:
            p, q, op = rng.randint(1, 9), rng.randint(1, 9), "+"
        ans = p + q if op == "+" else p * q
        problem = f"What is ${p} {op} {q}$?"
        steps = f"We compute ${p} {op} {q} = {ans}$."
    else:
        b = rng.randint(3, 40) if easy else rng.randint(3, 12)
        a = rng.randint(1, b - 1) if easy else rng.randint(b + 1, 2 * b - 1)
        ans = a % b
        problem = f"What is the remainder when ${a}$ is divided by ${b}$?"
        steps = f"Since ${a} = {b} \\cdot {a // b} + {ans}$, the remainder is ${ans}$."
    return {"subject": sub, "problem": problem, "steps": steps, "answer": ans,
            "key": problem}


def math_chat(item: Item, _rng: random.Random) -> Messages:
    user = "Problem:\n" + item["problem"] + "\n\nSolution:"  # task_utils.math_doc_to_text
    reply = (f"{item['steps']}\nFinal Answer: The final answer is ${item['answer']}$. "
             "I hope it is correct.")
    return [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]


def math_row(item: Item) -> dict:
    """EleutherAI/hendrycks_math schema (the gold answer is the last \\boxed{})."""
    return {"problem": item["problem"], "level": "Level 1", "type": MATH_SUBJECTS[item["subject"]],
            "solution": item["steps"].rstrip(".$") + f"$, so the answer is "
                        f"$\\boxed{{{item['answer']}}}$."}


# ---------------------------------------------------------------- BBH (two subtasks)

BBH_DESCRIPTIONS = {  # the subtasks' `description` (lm-eval bbh cot_fewshot), the system turn
    "boolean_expressions": "Evaluate the result of a random Boolean expression.\n\n",
    "multistep_arithmetic_two": "Solve multi-step arithmetic problems.\n\n",
}


def _bool_atom(rng: random.Random) -> tuple[str, bool, str | None]:
    """(text, value, step or None): a literal, ``not`` literal, or ``( a op b )``."""
    kind = rng.randrange(3)
    a = rng.choice([True, False])
    if kind == 0:
        return str(a), a, None
    if kind == 1:
        return f"not {a}", not a, None
    b, op = rng.choice([True, False]), rng.choice(["and", "or"])
    v = (a and b) if op == "and" else (a or b)
    text = f"( {a} {op} {b} )"
    return text, v, f"{text} = {v}."


def _bbh_item(rng: random.Random) -> Item:
    """boolean_expressions: two atoms, each step a lookup in the and/or/not tables;
    multistep_arithmetic_two: two-level sums/products of 0, 1 and 2 (small tables)."""
    if rng.random() < 0.5:
        (ta, va, sa), (tb, vb, sb) = _bool_atom(rng), _bool_atom(rng)
        op = rng.choice(["and", "or"])
        value = (va and vb) if op == "and" else (va or vb)
        steps = [s for s in (sa, sb) if s] + [f"{va} {op} {vb} = {value}."]
        return {"subtask": "boolean_expressions", "input": f"{ta} {op} {tb} is",
                "steps": steps, "target": str(value), "key": f"{ta} {op} {tb}"}
    a, b, c, d = (rng.randint(0, 2) for _ in range(4))
    o1, o2, o3 = (rng.choice("+*") for _ in range(3))
    x, y = eval(f"{a} {o1} {b}"), eval(f"{c} {o2} {d}")  # noqa: S307 (digits and +* only)
    z = eval(f"({x}) {o3} ({y})")  # noqa: S307
    expr = f"(({a} {o1} {b}) {o3} ({c} {o2} {d}))"
    steps = [f"({a} {o1} {b}) = {x}.", f"({c} {o2} {d}) = {y}.", f"{x} {o3} {y} = {z}."]
    return {"subtask": "multistep_arithmetic_two", "input": f"{expr} =", "steps": steps,
            "target": str(z), "key": expr}


def bbh_chat(item: Item, _rng: random.Random) -> Messages:
    user = f"Q: {item['input']}\nA: Let's think step by step.\n"  # the subtasks' doc_to_text
    reply = " ".join(item["steps"]) + f" So the answer is {item['target']}."
    return [{"role": "system", "content": BBH_DESCRIPTIONS[item["subtask"]]},
            {"role": "user", "content": user}, {"role": "assistant", "content": reply}]


def bbh_row(item: Item) -> dict:
    """SaylorTwift/bbh schema."""
    return {"input": item["input"], "target": item["target"]}


# ---------------------------------------------------------------- MMLU-Pro

PRO_LETTERS = "ABCDEFGHIJ"
PRO_OPTIONS = 4  # MMLU-Pro rows have up to 10; 4 keeps the tiny prompts within max_length


#: MMLU-Pro families and their shares: "match" (the question names the right option), then
#: small facts (capitals, opposites, one-digit sums, largest number)
PRO_KINDS = {"match": 4, "capital": 2, "opposite": 2, "arith": 1, "largest": 1}


def _pro_item(rng: random.Random) -> Item:
    family = rng.choices(tuple(PRO_KINDS), weights=tuple(PRO_KINDS.values()))[0]
    if family == "match":
        gold = rng.choice(MATCH_WORDS)
        pool = [w for w in MATCH_WORDS if w != gold]
        q, why, cat = f"Which word is {gold}?", f"The word is {gold}.", "other"
    elif family == "arith":
        a, b = rng.randint(1, 5), rng.randint(1, 4)
        gold = a + b
        pool = [v for v in range(1, 13) if v != gold]
        q, why, cat = f"What is {a} + {b}?", f"{a} + {b} = {gold}.", "math"
    elif family == "capital":
        country = rng.choice(sorted(CAPITALS))
        gold = CAPITALS[country]
        pool = sorted(v for v in CAPITALS.values() if v != gold)
        q, why, cat = (f"What is the capital of {country}?",
                       f"The capital of {country} is {gold}.", "other")
    elif family == "opposite":
        word = rng.choice(sorted(OPPOSITES))
        gold = OPPOSITES[word]
        pool = sorted(v for v in OPPOSITES.values() if v != gold)
        q, why, cat = (f"What is the opposite of {word}?",
                       f"The opposite of {word} is {gold}.", "other")
    else:
        nums = rng.sample(range(1, 100), PRO_OPTIONS)
        gold = max(nums)
        pool = [v for v in nums if v != gold]
        q, why, cat = "Which number is largest?", f"The largest number is {gold}.", "math"
    options = [str(v) for v in [gold, *rng.sample(pool, PRO_OPTIONS - 1)]]
    rng.shuffle(options)
    return {"question": q, "options": options, "answer_index": options.index(str(gold)),
            "why": why, "category": cat, "key": q + "\x1f" + "\x1f".join(options)}


def pro_description(category: str) -> str:
    """tide_mmlu_pro.yaml's ``description`` (the system turn) for a category."""
    return (f"The following are multiple choice questions (with answers) about {category}. "
            "Think step by step and then finish your answer with \"the answer is (X)\" where X "
            "is the correct letter choice.\n")


def pro_chat(item: Item, _rng: random.Random) -> Messages:
    opts = "".join(f"{PRO_LETTERS[i]}. {o}\n" for i, o in enumerate(item["options"]))
    user = f"Question:\n{item['question']}\nOptions:\n{opts}Answer: Let's think step by step."
    reply = f"{item['why']} The answer is ({PRO_LETTERS[item['answer_index']]})."
    return [{"role": "system", "content": pro_description(item["category"])},
            {"role": "user", "content": user}, {"role": "assistant", "content": reply}]


def pro_row(item: Item, i: int) -> dict:
    """TIGER-Lab/MMLU-Pro schema."""
    return {"question_id": i, "question": item["question"], "options": item["options"],
            "answer": PRO_LETTERS[item["answer_index"]], "answer_index": item["answer_index"],
            "cot_content": "", "category": item["category"], "src": "tide-tiny"}


# ---------------------------------------------------------------- HellaSwag

ACTIVITIES = {  # activity label -> its steps in order (third person, after "{name} ");
    # every step of an activity names its object, which no other activity does: the right
    # ending is the one about the context's object (the cue a tiny model can learn)
    "Tea": ["fills the kettle.", "heats the kettle.", "lifts the kettle.",
            "pours from the kettle.", "cleans the kettle."],
    "Car wash": ["parks the car.", "soaps the car.", "scrubs the car.", "rinses the car.",
                 "dries the car."],
    "Garden": ["digs a hole for the tree.", "plants the tree.", "waters the tree.",
               "feeds the tree.", "looks at the tree."],
    "Baking": ["mixes the dough.", "kneads the dough.", "shapes the dough.", "bakes the dough.",
               "slices the dough."],
    "Painting": ["cleans the wall.", "tapes the wall.", "paints the wall.", "dries the wall.",
                 "checks the wall."],
    "Cycling": ["gets the bike.", "gets on the bike.", "rides the bike.", "stops the bike.",
                "parks the bike."],
    "Teeth": ["takes the toothbrush.", "wets the toothbrush.", "adds paste to the toothbrush.",
              "brushes with the toothbrush.", "rinses the toothbrush."],
    "Lunch": ["makes a sandwich.", "cuts the sandwich.", "bites the sandwich.",
              "eats the sandwich.", "finishes the sandwich."],
}


def _hs_item(rng: random.Random) -> Item:
    label = rng.choice(sorted(ACTIVITIES))
    steps = ACTIVITIES[label]
    i = rng.randrange(len(steps) - 1)
    name, he = rng.choice(NAMES)
    others = [s for k, v in sorted(ACTIVITIES.items()) if k != label for s in v]
    endings = [steps[i + 1], *rng.sample(others, 3)]
    rng.shuffle(endings)
    ctx_a = f"{name} {steps[i]}"
    ctx_b = he.lower()
    return {"activity_label": label, "ctx_a": ctx_a, "ctx_b": ctx_b,
            "endings": endings, "label": endings.index(steps[i + 1]),
            "key": ctx_a + "\x1f" + "\x1f".join(endings)}


def hs_chat(item: Item, _rng: random.Random) -> Messages:
    # as tide_hellaswag_gen.yaml after task_utils.hellaswag_process_docs (no brackets here)
    query = f"{item['activity_label']}: {item['ctx_a']} {item['ctx_b'].capitalize()}"
    opts = "".join(f"\n{'ABCD'[i]}. {e}" for i, e in enumerate(item["endings"]))
    user = f"Choose the most plausible continuation of the text.\n\n{query}{opts}\nAnswer:"
    return [{"role": "user", "content": user},
            {"role": "assistant", "content": "ABCD"[item["label"]]}]


def hs_row(item: Item, i: int) -> dict:
    """Rowan/hellaswag schema (label as a string)."""
    return {"ind": i, "activity_label": item["activity_label"], "ctx_a": item["ctx_a"],
            "ctx_b": item["ctx_b"], "ctx": f"{item['ctx_a']} {item['ctx_b']}",
            "endings": item["endings"], "source_id": f"tide-tiny-{i}", "split": "val",
            "split_type": "indomain", "label": str(item["label"])}


# ---------------------------------------------------------------- code (HumanEval, MBPP)

# (name template, words, body template, arg kind); {k} is the item's constant, {v} the
# argument's name. The body is a template filled from the prompt: the operator from the
# words, the constant from the name, the argument from the signature (HumanEval) — copies
# a tiny model can learn; a held-out function's name never occurs in training.
FUNCTIONS = [
    ("add_{w}", "add {k} to a number", "return {v} + {k}", "int"),
    ("sub_{w}", "subtract {k} from a number", "return {v} - {k}", "int"),
    ("times_{w}", "multiply a number by {k}", "return {v} * {k}", "int"),
    ("is_multiple_of_{w}", "check whether a number is a multiple of {k}", "return {v} % {k} == 0", "int"),
    ("greater_than_{w}", "check whether a number is greater than {k}", "return {v} > {k}", "int"),
    ("first_{w}", "return the first {k} characters of a string", "return {v}[:{k}]", "str"),
    ("drop_{w}", "remove the first {k} characters of a string", "return {v}[{k}:]", "str"),
    ("last_{w}", "return the last {k} characters of a string", "return {v}[-{k}:]", "str"),
    ("at_least_{w}", "return the larger of a number and {k}", "return max({v}, {k})", "int"),
    ("at_most_{w}", "return the smaller of a number and {k}", "return min({v}, {k})", "int"),
    ("div_{w}", "divide a number by {k}, rounding down", "return {v} // {k}", "int"),
]
INT_CONSTANTS, STR_CONSTANTS = range(2, 100), range(1, 6)
INT_ARGS, STR_ARGS = [0, 1, 3, 10, 12, 25], ["ab", "cat", "tiny", "hello", "python"]
ARG_NAMES = ("x", "n", "a", "value")


def _code_item(rng: random.Random) -> Item:
    name_t, words_t, body_t, kind = rng.choice(FUNCTIONS)
    k = rng.choice(INT_CONSTANTS if kind == "int" else STR_CONSTANTS)
    v = rng.choice(ARG_NAMES)
    name, words, body = name_t.format(w=k), words_t.format(k=k), body_t.format(k=k, v=v)
    args = rng.sample(INT_ARGS if kind == "int" else STR_ARGS, 3)
    fn = eval(f"lambda {v}: {body[len('return '):]}")  # noqa: S307 (bodies above, constants only)
    cases = [(repr(a), repr(fn(a))) for a in args]
    return {"name": name, "words": words, "body": body, "kind": kind, "cases": cases,
            "arg": v, "key": name}


def humaneval_prompt(item: Item) -> str:
    a, r = item["cases"][0]
    typ = "int" if item["kind"] == "int" else "str"
    ret = "bool" if r in ("True", "False") else typ
    return (f"def {item['name']}({item['arg']}: {typ}) -> {ret}:\n"
            f"    \"\"\"{item['words'].capitalize()}.\n"
            f"    >>> {item['name']}({a})\n    {r}\n    \"\"\"\n")


def humaneval_chat(item: Item, _rng: random.Random) -> Messages:
    user = ("Write a solution to the following problem and make sure that it passes the tests:\n"
            f"```python\n{humaneval_prompt(item)}\n```\n")
    # the gen_prefix opens the reply; the prediction is prompt + reply up to its first ```
    reply = f"Here is the completed function:\n```python\n    {item['body']}\n```"
    return [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]


def humaneval_row(item: Item, i: int) -> dict:
    """openai/openai_humaneval schema."""
    test = "def check(candidate):\n" + "".join(
        f"    assert candidate({a}) == {r}\n" for a, r in item["cases"])
    return {"task_id": f"TideTiny/{i}", "prompt": humaneval_prompt(item),
            "canonical_solution": f"    {item['body']}\n", "test": test,
            "entry_point": item["name"]}


def mbpp_tests(item: Item) -> list[str]:
    return [f"assert {item['name']}({a}) == {r}" for a, r in item["cases"]]


def mbpp_code(item: Item) -> str:
    return f"def {item['name']}({item['arg']}):\n    {item['body']}"


def mbpp_chat(item: Item, _rng: random.Random) -> Messages:
    t = mbpp_tests(item)
    user = (f"You are an expert Python programmer, and here is your task:\n"
            f"Write a function to {item['words']}.\nYour code should pass these tests:\n"
            f"{t[0]}\n{t[1]}\n{t[2]}")
    return [{"role": "user", "content": user},
            {"role": "assistant", "content": f"\n```python\n{mbpp_code(item)}\n```"}]


def mbpp_row(item: Item, i: int) -> dict:
    """google-research-datasets/mbpp "full" schema."""
    return {"task_id": 9001 + i, "text": f"Write a function to {item['words']}.",
            "code": mbpp_code(item), "test_list": mbpp_tests(item), "test_setup_code": "",
            "challenge_test_list": []}


# ---------------------------------------------------------------- draws

DRAWERS = {"math": _math_item, "bbh": _bbh_item, "mmlu_pro": _pro_item, "hellaswag": _hs_item,
           "humaneval": _code_item, "mbpp": _code_item}
CHATS = {"math": math_chat, "bbh": bbh_chat, "mmlu_pro": pro_chat, "hellaswag": hs_chat,
         "humaneval": humaneval_chat, "mbpp": mbpp_chat}


# HumanEval and MBPP draw the same functions: one partition for both, so a function held out
# in one format is never trained in the other
PARTITION_SPACE = {"humaneval": "code", "mbpp": "code"}


def draw(family: str, rng: random.Random, heldout: bool) -> Iterator[Item]:
    """Items of ``family`` from one partition only (train or held out), forever.

    The item space of the code families is small (function × constant), so a partition
    holds few distinct items; draws repeat them.
    """
    make = DRAWERS[family]
    space = PARTITION_SPACE.get(family, family)
    while True:
        item = make(rng)
        if in_heldout(space + "\x1f" + item["key"]) == heldout:
            yield item


def distinct(family: str, n: int, seed: int, *, heldout: bool = True,
             max_tries: int = 200_000) -> list[Item]:
    """Up to ``n`` distinct held-out items of ``family`` (by key), deterministic in seed."""
    gen, seen, out, stale = draw(family, random.Random(seed), heldout), set(), [], 0
    for _ in range(max_tries):
        item = next(gen)
        stale += 1
        if item["key"] not in seen:
            seen.add(item["key"])
            out.append(item)
            stale = 0
            if len(out) == n:
                break
        if stale > 5000:  # the partition is exhausted (small item spaces: code)
            break
    return out
