"""A deterministic tiny chat corpus with learnable structure.

One task family per benchmark of the paper, each small enough for tiny models to learn and
shaped like its benchmark so the real lm-eval tasks can score held-out items of it. Two live
here, the other six in :mod:`tide.data.tasks` (MATH, BBH, MMLU-Pro, HellaSwag, HumanEval,
MBPP); :data:`FAMILY_WEIGHTS` mixes them:

* GSM8K-like word problems whose chain-of-thought answers end with ``"The answer is N."``
  (lm-eval ``gsm8k_cot`` strict-match regex), graded (:data:`WORD_PROBLEM_KINDS`): the
  answer is a number of the question, one more or one less than it, or a small product.
* MMLU-like four-option multiple-choice questions in lm-eval's generative MMLU prompt
  format, answered with just the letter, graded (:data:`MC_KINDS`): the question names the
  right option ("match"), or asks a small fact (capital-of, opposites, one-digit sums,
  largest number).

Every family is sized for the 64-wide, 2-layer tiny models: an answer is a copy of a span of
the prompt, or a fact from a small table. The tiny AR model learns the copy items in 1000
steps; the BD3LM student does not yet generate them (measured: docs/heldout_diagnosis.md
"The tiny benchmarks").

Disjointness of training and held-out data does not rely on seeds alone: every item has
a canonical key (its question text, and for multiple choice also its options), and a
stable hash of that key puts it in exactly one partition (``train`` or ``heldout``).
Every generator draws only items of its own partition, so no held-out question (or
exact multiple-choice item) can ever appear in training, whatever the seeds.

Rows are chat conversations in the ``messages`` schema
(``[{"role": "user", ...}, {"role": "assistant", ...}]``).  :func:`gsm8k_items` and
:func:`mmlu_items` emit the same problems in the real benchmark schemas
(``openai/gsm8k`` and ``cais/mmlu``) for held-out eval files.
"""

from __future__ import annotations

import json
import logging
import os
import random
import zlib
from pathlib import Path
from typing import Any, Iterable, Iterator

log = logging.getLogger(__name__)

Messages = list[dict[str, str]]

#: one item in this many (by key hash) belongs to the held-out partition
HELDOUT_MODULUS = 8
#: fixed offset so that held-out generators never share a random stream with training
HELDOUT_SEED_OFFSET = 1_000_003
LETTERS = "ABCD"

NAMES = [
    ("Tom", "He"), ("Anna", "She"), ("Ben", "He"), ("Lily", "She"), ("Sam", "He"),
    ("Mia", "She"), ("Leo", "He"), ("Emma", "She"), ("Max", "He"), ("Zoe", "She"),
]
ITEMS = ["apple", "pencil", "book", "marble", "cookie", "sticker", "card", "ball"]

CAPITALS = {
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid",
    "Japan": "Tokyo", "China": "Beijing", "Egypt": "Cairo", "Canada": "Ottawa",
    "Russia": "Moscow", "Greece": "Athens", "Norway": "Oslo", "Sweden": "Stockholm",
    "Peru": "Lima", "Kenya": "Nairobi", "Poland": "Warsaw", "Austria": "Vienna",
    "Portugal": "Lisbon", "Ireland": "Dublin", "Cuba": "Havana", "Chile": "Santiago",
}
OPPOSITES = {
    "hot": "cold", "big": "small", "fast": "slow", "up": "down", "light": "dark",
    "happy": "sad", "early": "late", "open": "closed", "full": "empty", "hard": "soft",
    "long": "short", "old": "young", "rich": "poor", "wet": "dry", "high": "low",
    "strong": "weak", "loud": "quiet", "near": "far", "thick": "thin", "clean": "dirty",
}

# MMLU subject (real config name) per question family; "description" uses it with "_" -> " "
MC_SUBJECTS = {
    "match": "miscellaneous",
    "arith": "elementary_mathematics",
    "largest": "elementary_mathematics",
    "capital": "high_school_geography",
    "opposite": "miscellaneous",
}


def in_heldout(key: str) -> bool:
    """Stable partition of the item space: True iff ``key`` is held out."""
    return zlib.crc32(key.encode("utf-8")) % HELDOUT_MODULUS == 0


# ---------------------------------------------------------------- word problems


#: word-problem kinds and their shares, easiest first: the answer is a number of the
#: question (copy), one more / one less than it, or a small product. Graded so that a tiny
#: model's score says how far it got, instead of being all 0 or all 100.
WORD_PROBLEM_KINDS = {"has": 4, "add": 3, "sub": 2, "mul": 1}


def _word_problem(rng: random.Random) -> tuple[str, list[str], int]:
    """Draw one word problem: (question, reasoning sentences, integer answer)."""
    name, he = rng.choice(NAMES)
    item = rng.choice(ITEMS)
    kind = rng.choices(tuple(WORD_PROBLEM_KINDS), weights=tuple(WORD_PROBLEM_KINDS.values()))[0]
    if kind == "has":
        a = rng.randint(2, 40)
        q = f"{name} has {a} {item}s in a box. How many {item}s does {name} have?"
        return q, [f"{name} has {a} {item}s."], a
    if kind == "add":
        a, b = rng.randint(2, 20), 1
        q = f"{name} has {a} {item}s and buys {b} more. How many {item}s does {name} have?"
        steps = [f"{name} starts with {a} {item}s.", f"{he} buys {b} more, so {a} + {b} = {a + b}."]
        return q, steps, a + b
    if kind == "sub":
        a, b = rng.randint(3, 20), 1
        q = (f"{name} has {a} {item}s and gives {b} to a friend. "
             f"How many {item}s does {name} have left?")
        steps = [f"{name} starts with {a} {item}s.", f"{he} gives away {b}, so {a} - {b} = {a - b}."]
        return q, steps, a - b
    a, b = rng.randint(2, 3), rng.randint(2, 5)
    q = (f"{name} buys {a} bags with {b} {item}s in each bag. "
         f"How many {item}s does {name} buy?")
    steps = [f"There are {a} bags with {b} {item}s each, so {a} * {b} = {a * b}."]
    return q, steps, a * b


def _gsm_prompt(question: str, rng: random.Random) -> str:
    """Vary the user turn between a bare question and lm-eval's gsm8k_cot prompts."""
    style = rng.randrange(3)
    if style == 0:
        return question
    if style == 1:
        return f"Q: {question}\nA:"
    return f"Q: {question}\nA: Let's think step by step."


def _draw_word_problems(rng: random.Random, heldout: bool) -> Iterator[tuple[str, list[str], int]]:
    while True:
        q, steps, ans = _word_problem(rng)
        if in_heldout(q) == heldout:
            yield q, steps, ans


# ---------------------------------------------------------------- multiple choice


def _distinct_numbers(rng: random.Random, n: int, lo: int, hi: int) -> list[int]:
    return rng.sample(range(lo, hi + 1), n)


#: multiple-choice families and their shares: "match" (the question names the right option:
#: the cue is a copy), then small facts (capitals, opposites, one-digit sums, largest).
MC_KINDS = {"match": 4, "capital": 2, "opposite": 2, "arith": 1, "largest": 1}
#: words the "match" questions ask for
MATCH_WORDS = sorted({*ITEMS, *OPPOSITES, *OPPOSITES.values()})


def _mc_question(rng: random.Random) -> tuple[str, str, list[str], int]:
    """Draw one multiple-choice item: (family, question, 4 choices, gold index)."""
    family = rng.choices(tuple(MC_KINDS), weights=tuple(MC_KINDS.values()))[0]
    if family == "match":
        gold = rng.choice(MATCH_WORDS)
        wrong = rng.sample([w for w in MATCH_WORDS if w != gold], 3)
        question, options = f"Which word is {gold}?", [gold, *wrong]
    elif family == "arith":
        a, b = rng.randint(1, 5), rng.randint(1, 4)
        gold = a + b
        wrong = rng.sample([v for v in range(1, 13) if v != gold], 3)
        question, options = f"What is {a} + {b}?", [gold, *wrong]
    elif family == "largest":
        nums = _distinct_numbers(rng, 4, 1, 99)
        gold = max(nums)
        question = "Which number is largest?"
        options = [gold, *[v for v in nums if v != gold]]
    elif family == "capital":
        country = rng.choice(sorted(CAPITALS))
        gold = CAPITALS[country]
        wrong = rng.sample(sorted(v for v in CAPITALS.values() if v != gold), 3)
        question, options = f"What is the capital of {country}?", [gold, *wrong]
    else:
        word = rng.choice(sorted(OPPOSITES))
        gold = OPPOSITES[word]
        wrong = rng.sample(sorted(v for v in OPPOSITES.values() if v != gold), 3)
        question, options = f"What is the opposite of {word}?", [gold, *wrong]
    choices = [str(v) for v in options]
    rng.shuffle(choices)
    return family, question, choices, choices.index(str(gold))


def mc_prompt(subject: str, question: str, choices: list[str]) -> str:
    """lm-eval's zero-shot generative MMLU prompt (description + doc_to_text)."""
    lines = [f"The following are multiple choice questions (with answers) about "
             f"{subject.replace('_', ' ')}.", "", question.strip()]
    lines += [f"{letter}. {choice}" for letter, choice in zip(LETTERS, choices)]
    return "\n".join(lines) + "\nAnswer:"


def _draw_mc(rng: random.Random, heldout: bool) -> Iterator[tuple[str, str, list[str], int]]:
    while True:
        family, q, choices, gold = _mc_question(rng)
        if in_heldout(q + "\x1f" + "\x1f".join(choices)) == heldout:
            yield family, q, choices, gold


# ---------------------------------------------------------------- public API


#: share of each task family in the chat corpus (tide.data.tasks holds the last six)
FAMILY_WEIGHTS = {"gsm8k": 0.25, "mmlu": 0.15, "math": 0.12, "bbh": 0.12, "mmlu_pro": 0.10,
                  "hellaswag": 0.10, "humaneval": 0.08, "mbpp": 0.08}


def _chat_rows(n: int, seed: int, heldout: bool) -> list[Messages]:
    """``n`` chat conversations of one partition, mixed over the task families of
    :data:`FAMILY_WEIGHTS` in their benchmarks' prompt formats, deterministic in seed."""
    from tide.data import tasks

    rng = random.Random(seed)
    gsm = _draw_word_problems(random.Random(rng.getrandbits(64)), heldout)
    mc = _draw_mc(random.Random(rng.getrandbits(64)), heldout)
    others = {f: tasks.draw(f, random.Random(rng.getrandbits(64)), heldout)
              for f in tasks.DRAWERS}
    families, weights = zip(*FAMILY_WEIGHTS.items())
    rows: list[Messages] = []
    for _ in range(n):
        family = rng.choices(families, weights)[0]
        if family == "gsm8k":
            q, steps, ans = next(gsm)
            user, reply = _gsm_prompt(q, rng), " ".join(steps) + f" The answer is {ans}."
        elif family == "mmlu":
            fam, q, choices, gold = next(mc)
            user, reply = mc_prompt(MC_SUBJECTS[fam], q, choices), LETTERS[gold]
        else:
            rows.append(tasks.CHATS[family](next(others[family]), rng))
            continue
        rows.append([{"role": "user", "content": user}, {"role": "assistant", "content": reply}])
    return rows


def make_corpus(n_train: int = 4000, n_heldout: int = 200, seed: int = 0) -> dict[str, list[Messages]]:
    """The tiny chat corpus: ``{"train": [...], "heldout": [...]}``, lists of messages.

    The two splits come from disjoint partitions of the item space (see module doc).
    """
    corpus = {
        "train": _chat_rows(n_train, seed, heldout=False),
        "heldout": _chat_rows(n_heldout, seed + HELDOUT_SEED_OFFSET, heldout=True),
    }
    log.info("corpus: %d train, %d heldout conversations (seed %d)", n_train, n_heldout, seed)
    return corpus


def gsm8k_items(n: int, seed: int) -> list[dict[str, str]]:
    """Held-out word problems in the ``openai/gsm8k`` schema.

    ``answer`` is the reasoning, one sentence per line, then ``"#### N"``, as in GSM8K.
    """
    gen = _draw_word_problems(random.Random(seed + 2 * HELDOUT_SEED_OFFSET), heldout=True)
    items = []
    for _ in range(n):
        q, steps, ans = next(gen)
        items.append({"question": q, "answer": "\n".join(steps) + f"\n#### {ans}"})
    return items


def mmlu_items(n: int, seed: int) -> list[dict[str, Any]]:
    """Held-out multiple-choice items in the ``cais/mmlu`` schema."""
    gen = _draw_mc(random.Random(seed + 3 * HELDOUT_SEED_OFFSET), heldout=True)
    items = []
    for _ in range(n):
        family, q, choices, gold = next(gen)
        items.append({"question": q, "subject": MC_SUBJECTS[family], "choices": choices,
                      "answer": gold})
    return items


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> None:
    """Write rows as JSON lines, atomically (temp file + rename)."""
    from tide.io import atomic_write_text

    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    atomic_write_text(path, text)


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    """Read JSON lines; errors name the file and the line."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: expected one JSON object per line, "
                                 f"found invalid JSON ({e.msg})") from e
    return rows


def write_corpus(corpus: dict[str, list[Messages]], out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write each split as ``{split}.jsonl`` with ``{"messages": [...]}`` rows (tulu schema)."""
    out = {}
    for split, convs in corpus.items():
        path = Path(out_dir) / f"{split}.jsonl"
        write_jsonl(path, ({"messages": m} for m in convs))
        out[split] = path
    return out
