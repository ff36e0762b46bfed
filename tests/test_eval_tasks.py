"""The eight benchmarks' task definitions, offline data and protocol (docs/method.md §E3, §E4).

- every task file is pinned (sha256) and carries the §E4 fields;
- the tiny eval data (real hub schemas) goes through the same task files via lm-eval's
  include path, and an ORACLE LM answering each document's gold scores exactly 100 % on
  all eight benchmarks (code benchmarks: executed in the sandbox);
- the §E4 table (task, shots, new tokens = steps, block 32) is checked against what the
  configs resolve to (tiny and paper);
- bad benchmark names, task files missing a field, and failed evaluations are clear errors
  and never leave a finished-looking result.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

import lm_eval  # noqa: E402,F401  (required: a missing lm-eval fails, never skips)

import lm_eval.models  # noqa: E402,F401  (docs/method.md §P3: built-ins before our registrations)
from lm_eval.api.model import LM  # noqa: E402
from lm_eval.api.registry import register_model  # noqa: E402

from tide import stages  # noqa: E402
from tide.config import load_config  # noqa: E402
from tide.eval import run, taskfiles, tiny_data  # noqa: E402
from tide.eval.benchmarks import BENCHMARKS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# docs/method.md §E4, transcribed: benchmark -> (upstream task, shots, new tokens = steps, hub dataset,
# split). Kept here on purpose (not read from tide.eval.benchmarks) so a change of the
# protocol table in the code fails this test.
SPEC_TABLE = {
    "gsm8k": ("gsm8k_cot", 0, 256, "openai/gsm8k", "test"),
    "math": ("minerva_math", 0, 256, "EleutherAI/hendrycks_math", "test"),
    "bbh": ("bbh", 3, 256, "SaylorTwift/bbh", "test"),
    "mmlu_pro": ("mmlu_pro", 0, 256, "TIGER-Lab/MMLU-Pro", "test"),
    "mmlu": ("mmlu_generative_dream", 0, 3, "cais/mmlu", "test"),  # issue 10 item 9
    "hellaswag": ("hellaswag_gen", 0, 3, "Rowan/hellaswag", "validation"),
    "humaneval": ("humaneval_instruct", 0, 256, "openai/openai_humaneval", "test"),
    "mbpp": ("mbpp_instruct", 0, 256, "google-research-datasets/mbpp", "test"),
}

# sha256 of every task file: a change to a pinned protocol must update this table.
PINNED = json.loads((Path(__file__).parent / "fixtures" / "eval_task_hashes.json").read_text())


# ---------------------------------------------------------------- pinned task files


def test_task_files_are_pinned():
    found = {str(p.relative_to(taskfiles.TASKS_DIR)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(taskfiles.TASKS_DIR.rglob("*")) if p.is_file() and p.suffix != ".pyc"
             and "__pycache__" not in p.parts}
    assert found == PINNED
    for name in BENCHMARKS:
        hashes = taskfiles.task_file_hashes(BENCHMARKS[name].task)
        assert hashes and all(PINNED[k] == v for k, v in hashes.items())
    assert len(taskfiles.task_file_hashes("tide_bbh")) == 1 + 27 + 1  # group + subtasks + template


@pytest.mark.parametrize("name", sorted(SPEC_TABLE))
def test_task_fields_follow_spec(name):
    upstream, shots, new_tokens, dataset, split = SPEC_TABLE[name]
    b = run.benchmark_spec(name)
    assert (b.upstream_task, b.num_fewshot, b.max_new_tokens, b.block_size) == \
        (upstream, shots, new_tokens, 32)
    taskfiles.validate_task(b.task)
    for sub in taskfiles.subtasks(b.task):
        cfg = taskfiles.task_config(sub)
        assert cfg["dataset_path"] == dataset and cfg["test_split"] == split, sub
        assert cfg["output_type"] == "generate_until"
        assert cfg["num_fewshot"] == shots, sub
        assert cfg["generation_kwargs"]["max_gen_toks"] == new_tokens, sub
        assert cfg["generation_kwargs"].get("do_sample") is False
        if b.filter not in ("none",):
            assert b.filter in [f["name"] for f in cfg["filter_list"]], sub
    subs = taskfiles.subtasks(b.task)
    assert len(subs) == {"bbh": 27, "math": 7}.get(name, 1)


def test_prompts_match_upstream_lm_eval():
    """Where we re-express an upstream prompt (one MMLU-Pro task instead of 14, our
    task_utils for HellaSwag cleaning), the text is the same as lm-eval 0.4.13's."""
    from lm_eval.tasks.hellaswag import utils as hs_utils
    from lm_eval.tasks.mmlu_pro import utils as pro_utils

    from tide.eval import task_utils

    doc = {"question": "Which is a prime?", "options": ["4", " 6 ", "7", "9", "10", "12", "14",
                                                        "15", "16", "18", "20"],
           "answer": "C", "category": "math", "cot_content": ""}
    cfg = taskfiles.task_config("tide_mmlu_pro")
    from lm_eval.utils import apply_template  # lm-eval's own Jinja environment

    assert apply_template(cfg["doc_to_text"], doc) == \
        pro_utils.format_cot_example(doc, including_answer=False)
    import lm_eval

    upstream = taskfiles._read_yaml(Path(lm_eval.__file__).parent / "tasks/mmlu_pro/mmlu_pro_math.yaml")
    assert apply_template(cfg["description"], doc) == upstream["description"]
    for text in ["A man [title] is seen.  He  [step] runs", " plain text "]:
        assert task_utils._hellaswag_clean(text) == hs_utils.preprocess(text)
    up = {t: taskfiles.task_config(t) for t in ("tide_humaneval_instruct", "tide_mbpp_instruct")}
    assert up["tide_humaneval_instruct"]["doc_to_text"].startswith(
        "Write a solution to the following problem and make sure that it passes the tests:")
    assert up["tide_mbpp_instruct"]["gen_prefix"] == "\n```python\n"


def test_math_answer_extraction():
    """Minerva answer extraction/normalisation (copied from lm-eval; worked by hand)."""
    from tide.eval import task_utils as tu

    sol = "Half of it: $\\boxed{\\frac{1}{2}}$."
    assert tu.last_boxed_only_string(sol) == "\\boxed{\\frac{1}{2}}"
    assert tu.remove_boxed(tu.last_boxed_only_string(sol)) == "\\frac{1}{2}"
    said = "Final Answer: The final answer is $\\frac12$. I hope it is correct."
    assert tu.get_unnormalized_answer(said) == "$\\frac12$"
    assert tu.normalize_final_answer("$\\frac12$") == "\\frac{1}{2}"
    assert tu.normalize_final_answer("100,000") == "100000"
    assert tu.normalize_final_answer("0,1") == "0,1"  # a tuple, not a number
    assert tu.normalize_final_answer("5 cm") == "5"
    doc = {"answer": "\\frac{1}{2}"}
    assert tu.math_process_results(doc, [said]) == {"exact_match": 1}
    assert tu.math_process_results(doc, ["The answer is 1/2."]) == {"exact_match": 0}
    with pytest.raises(ValueError, match="boxed"):
        tu.remove_boxed(None)


# ---------------------------------------------------------------- docs/method.md §E4 vs config


@pytest.mark.parametrize("config", ["tiny.yaml", "paper.yaml"])
def test_config_resolves_to_spec_table(config, tmp_path):
    cfg = load_config(REPO / "config" / config)
    assert sorted(cfg["eval"]["benchmarks"]) == sorted(SPEC_TABLE)
    student = next(r.model_id for r in cfg.runs() if not r.is_ablation)
    for name in cfg["eval"]["benchmarks"]:
        upstream, shots, new_tokens, _, _ = SPEC_TABLE[name]
        plan = stages.eval_plan(cfg, student, name, root=tmp_path)
        a = plan["model_args"]
        assert plan["model"] == "tide_bd3lm" and plan["num_fewshot"] == shots
        assert (a["max_new_tokens"], a["steps"], a["block_size"]) == (new_tokens, new_tokens, 32)
        assert (a["temperature"], a["cfg_scale"]) == (0.0, 0.0)
        cmd = plan["command"]
        assert f"--tasks {BENCHMARKS[name].task} " in cmd and f"--num_fewshot {shots} " in cmd
        assert f"max_new_tokens={new_tokens},steps={new_tokens},block_size=32" in cmd
        assert "--apply_chat_template" in cmd
    if config == "paper.yaml":  # released checkpoints: hub ids from models.md only
        ck = cfg["eval"]["checkpoints"]
        assert {v["path"] for v in ck.values()} == {
            "TIDE-dllm/distill-LLaDA2-TIDE_Cross", "TIDE-dllm/distill-LLaDA2-TIDE_Shared",
            "TIDE-dllm/distill-LLaDA2-CALM", "TIDE-dllm/distill-WeDLM-TIDE_Shared",
            "TIDE-dllm/distill-WeDLM-TIDE_Cross", "TIDE-dllm/distill-WeDLM-KL",
            "dllm-hub/Qwen3-0.6B-diffusion-bd3lm-v0.1", "Qwen/Qwen3-0.6B"}
        ar = stages.eval_plan(cfg, "released_ar", "gsm8k")
        assert ar["model"] == "hf" and ar["model_args"]["pretrained"] == "Qwen/Qwen3-0.6B"
        assert ar["model_args"]["enable_thinking"] is False and "gpu" not in ar["model_args"]
        bd = stages.eval_plan(cfg, "released_A_tide_cross", "mmlu")
        assert bd["model"] == "tide_bd3lm" and bd["model_args"]["steps"] == 3
        assert bd["model_args"]["dtype"] == "bfloat16" and bd["model_args"]["device"] == "cuda"


# ---------------------------------------------------------------- oracle on all eight


def _key_and_gold(benchmark: str, row: dict) -> tuple[str, str]:
    """(a string of the document's prompt, the gold response in the format the task's
    filter extracts) for one row of the tiny data (real schema)."""
    if benchmark == "gsm8k":
        *steps, answer = row["answer"].split("\n")
        return row["question"], " ".join(steps) + f" The answer is {answer.split('#### ')[1]}."
    if benchmark == "mmlu":
        c = row["choices"]
        return f"{row['question']}\nA. {c[0]}\nB. {c[1]}\nC. {c[2]}", "ABCD"[row["answer"]]
    if benchmark == "math":
        boxed = re.search(r"\\boxed\{(.*)\}", row["solution"]).group(1)
        return row["problem"], f"Final Answer: The final answer is ${boxed}$. I hope it is correct."
    if benchmark == "bbh":
        return f"Q: {row['input']}\n", f"Let us compute it. So the answer is {row['target']}."
    if benchmark == "mmlu_pro":
        o = row["options"]
        return f"{row['question']}\nOptions:\nA. {o[0]}\nB. {o[1]}", f"So the answer is ({row['answer']})."
    if benchmark == "hellaswag":
        e = row["endings"]
        ctx = f"{row['ctx_a']} {row['ctx_b'].capitalize()}".strip()  # as hellaswag_process_docs
        return f"{ctx}\nA. {e[0]}\nB. {e[1]}\nC. {e[2]}", "ABCD"[int(row["label"])]
    if benchmark == "humaneval":
        return row["prompt"], row["canonical_solution"] + "```\nThis passes the tests."
    if benchmark == "mbpp":
        return f"{row['text']}\nYour code should pass these tests:\n{row['test_list'][0]}", \
            row["code"] + "\n```"
    raise AssertionError(benchmark)


GOLD: dict[str, str] = {}


@register_model("tide_test_gold")
class GoldLM(LM):
    """Answers each request with the gold response of the document its context ends with."""

    def __init__(self, **_):
        super().__init__()

    @property
    def tokenizer_name(self) -> str:
        return "tide_test_gold"

    def apply_chat_template(self, chat_history, add_generation_prompt=True) -> str:
        turns = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in chat_history]
        if not add_generation_prompt:  # gen_prefix: continue the final assistant turn
            turns[-1] = turns[-1][: -len("<|im_end|>\n")]
        return "".join(turns) + ("<|im_start|>assistant\n" if add_generation_prompt else "")

    def generate_until(self, requests, disable_tqdm=False):
        out = []
        for r in requests:
            hits = [(r.args[0].rfind(k), k) for k in GOLD if k in r.args[0]]
            assert hits, f"gold LM: no document matches {r.args[0][-300:]!r}"
            out.append(GOLD[max(hits)[1]])
        return out

    def loglikelihood(self, requests, disable_tqdm=False):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        raise NotImplementedError


@pytest.fixture(scope="module")
def tiny_eval_data(tmp_path_factory):
    """The eval-data stage's output for all eight benchmarks (tiny config)."""
    root = tmp_path_factory.mktemp("results")
    cfg = load_config(REPO / "config" / "tiny.yaml")
    for name in SPEC_TABLE:
        stages.eval_data(cfg, name, root)
    return root


def test_eval_data_is_deterministic_in_real_schemas(tiny_eval_data, tmp_path):
    from tide import paths

    cfg = load_config(REPO / "config" / "tiny.yaml")
    schema = {  # required fields of each hub dataset's rows
        "tide_gsm8k_cot": {"question", "answer"},
        "tide_mmlu_generative": {"question", "subject", "choices", "answer"},
        "tide_minerva_math_algebra": {"problem", "level", "type", "solution"},
        "tide_bbh_boolean_expressions": {"input", "target"},
        "tide_mmlu_pro": {"question_id", "question", "options", "answer", "answer_index",
                          "cot_content", "category", "src"},
        "tide_hellaswag_gen": {"ind", "activity_label", "ctx_a", "ctx_b", "ctx", "endings",
                               "source_id", "split", "split_type", "label"},
        "tide_humaneval_instruct": {"task_id", "prompt", "canonical_solution", "test", "entry_point"},
        "tide_mbpp_instruct": {"task_id", "text", "code", "test_list", "test_setup_code",
                               "challenge_test_list"},
    }
    for name in SPEC_TABLE:
        d = paths.eval_data(name, tiny_eval_data)
        files = {p.stem: p.read_text() for p in d.glob("*.jsonl")}
        assert files, name
        for task, text in files.items():
            rows = [json.loads(x) for x in text.splitlines()]
            assert 1 <= len(rows) <= cfg["eval"]["tiny_documents"]
            if task in schema:
                assert all(set(r) == schema[task] for r in rows), task
        stages.eval_data(cfg, name, tmp_path)  # same config -> byte-identical files
        assert {p.stem: p.read_text() for p in paths.eval_data(name, tmp_path).glob("*.jsonl")} == files
    he = [json.loads(x) for x in (paths.eval_data("humaneval", tiny_eval_data)
                                  / "tide_humaneval_instruct.jsonl").read_text().splitlines()]
    assert [r["task_id"] for r in he] == [f"TideTiny/{i}" for i in range(len(he))]
    # enough documents per benchmark that an interval separates a trained model from chance
    for name in SPEC_TABLE:
        n = sum(len(f.read_text().splitlines())
                for f in paths.eval_data(name, tiny_eval_data).glob("*.jsonl"))
        assert n >= (40 if name in ("humaneval", "mbpp") else 100), (name, n)  # code: ~41 functions


def test_oracle_scores_100_on_all_eight(tiny_eval_data, tmp_path):
    from tide import paths

    GOLD.clear()
    for name in SPEC_TABLE:
        for f in paths.eval_data(name, tiny_eval_data).glob("*.jsonl"):
            for row in map(json.loads, f.read_text().splitlines()):
                key, gold = _key_and_gold(name, row)
                GOLD[key] = gold
    for name in SPEC_TABLE:
        out = tmp_path / name
        score = run.evaluate({}, name, out, data_files=paths.eval_data(name, tiny_eval_data),
                             model="tide_test_gold", batch_size=2)
        assert score["value"] == 100.0, (name, score)
        assert score["n"] == sum(len(f.read_text().splitlines())
                                 for f in paths.eval_data(name, tiny_eval_data).glob("*.jsonl"))
        results = json.loads((out / "results.json").read_text())
        for sub in score["subtasks"]:  # the base task definitions, data from local files
            cfg = results["configs"][sub]
            assert cfg["dataset_path"] == "json"
            base = taskfiles.task_config(sub)
            assert cfg["output_type"] == base["output_type"] and cfg["test_split"] == base["test_split"]
        assert set(score["task_hashes"]) == set(score["subtasks"])
        assert score["task_files"] == taskfiles.task_file_hashes(BENCHMARKS[name].task)
        assert score["lm_eval"] == "0.4.13" and score["seed"] == 1234 and score["batch_size"] == 2


def test_unsure_lm_scores_0_on_all_eight(tiny_eval_data, tmp_path):
    """The same path with a non-answer scores 0 everywhere (the 100 % above is earned)."""
    from tide import paths

    for key in list(GOLD) or ["placeholder"]:
        GOLD[key] = "Unsure."
    for name in ("math", "bbh", "mmlu_pro", "hellaswag", "humaneval", "mbpp"):
        data = paths.eval_data(name, tiny_eval_data)
        for f in data.glob("*.jsonl"):
            for row in map(json.loads, f.read_text().splitlines()):
                GOLD[_key_and_gold(name, row)[0]] = "Unsure."
        score = run.evaluate({}, name, tmp_path / name, data_files=data, model="tide_test_gold")
        assert score["value"] == 0.0, (name, score)


# ---------------------------------------------------------------- bad input


def test_bad_benchmark_name():
    with pytest.raises(ValueError, match=r"unknown or unsupported 'gsm9k'.*'gsm8k'"):
        run.evaluate({}, "gsm9k", "/nonexistent", model="tide_test_gold")


def test_task_file_missing_a_field(tmp_path, monkeypatch):
    tasks = tmp_path / "tasks"
    shutil.copytree(taskfiles.TASKS_DIR, tasks)
    path = tasks / "tide_mmlu_pro.yaml"
    path.write_text(path.read_text().replace("doc_to_target: answer\n", ""))
    monkeypatch.setattr(taskfiles, "TASKS_DIR", tasks)
    with pytest.raises(ValueError, match=r"tide_mmlu_pro.yaml: task 'tide_mmlu_pro' lacks "
                                         r"field\(s\) \['doc_to_target'\]"):
        taskfiles.validate_task("tide_mmlu_pro")
    group = tasks / "tide_bbh.yaml"
    group.write_text(group.read_text().replace("aggregate_metric_list", "aggregate_metrics"))
    with pytest.raises(ValueError, match=r"tide_bbh.yaml: group file lacks field\(s\) "
                                         r"\['aggregate_metric_list'\]"):
        taskfiles.validate_task("tide_bbh")


def test_checkpoint_that_does_not_load(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"checkpoint '.*broken' does not load"):
        run.evaluate({"pretrained": str(tmp_path / "broken")}, "mmlu", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="expected a 'pretrained' entry"):
        run.evaluate({}, "mmlu", tmp_path / "out")


def test_failed_evaluation_leaves_no_result(tiny_eval_data, tmp_path):
    """A run that dies half-way leaves no score.json (and no directory) behind."""
    from tide import paths

    GOLD.clear()  # the gold LM now fails on the first request
    out = tmp_path / "gsm8k"
    with pytest.raises(AssertionError, match="no document matches"):
        run.evaluate({}, "gsm8k", out, data_files=paths.eval_data("gsm8k", tiny_eval_data),
                     model="tide_test_gold")
    assert not out.exists()


# ---------------------------------------------------------------- released checkpoints (dry run)


def test_released_checkpoints_dry_run(tmp_path):
    """`snakemake -n released` with config/paper.yaml: one GPU job per (checkpoint,
    benchmark), nothing trained, data read from the hub (no eval_data jobs)."""
    import os
    import subprocess
    import sys

    bin_dir = Path(sys.executable).parent
    res = subprocess.run(
        [str(bin_dir / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n",
         "released", "--configfile", str(REPO / "config" / "paper.yaml")],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}"))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], re.M))
    cfg = load_config(REPO / "config" / "paper.yaml")
    n_ck, n_b = len(cfg["eval"]["checkpoints"]), len(cfg["eval"]["benchmarks"])
    assert (n_ck, n_b) == (8, 8)
    # staged evaluation (issue 14): GPU generation shards, then a CPU merge and score each
    from tide.plan import eval_shards

    n_gen = n_ck * sum(eval_shards(cfg, b) for b in cfg["eval"]["benchmarks"])
    assert stats == {"eval_generate": str(n_gen), "eval_merge": str(n_ck * n_b),
                     "evaluate": str(n_ck * n_b), "released_scores": "1", "released": "1",
                     "total": str(n_gen + 2 * n_ck * n_b + 2)}
    jobs = [j.split("\n\n")[0] for j in out.split("rule evaluate:")[1:]]
    pairs = {re.search(r"wildcards: model_id=(\w+), benchmark=(\w+)", j).groups() for j in jobs}
    assert pairs == {(m, b) for m in cfg["eval"]["checkpoints"] for b in cfg["eval"]["benchmarks"]}
    gen = [j.split("\n\n")[0] for j in out.split("rule eval_generate:")[1:]]
    assert len(gen) == n_gen and all(re.search(r"resources: .*\bgpu=1\b", j) for j in gen)
    assert not any(re.search(r"resources: .*\bgpu=", j) for j in jobs)  # scoring: CPU
