"""Tests for tide.eval: task YAMLs, the offline data route, ``evaluate`` and ``tide_bd3lm``.

Small local JSON-lines files in the real schemas (openai/gsm8k main, cais/mmlu)
go through the same task files as the hub route. An ORACLE LM (answers each request with
the gold answer of its document) must score exactly 100 %, CONSTANT LMs exactly the scores
computed by hand below. The BD3LM likelihood estimator is checked against a direct
computation. lm-eval imports take ~15 s, so fixtures are module-scoped.
"""

from __future__ import annotations

import json
import random
import types

import pytest
import torch

import lm_eval  # noqa: E402,F401  (required: a missing lm-eval fails, never skips)

import lm_eval.models  # noqa: E402,F401  (docs/method.md §P3: built-ins before our registrations)
from lm_eval.api.model import LM  # noqa: E402
from lm_eval.api.registry import register_model  # noqa: E402

from test_sampler import make_student, make_tokenizer  # noqa: E402
from tide.eval import routes, run, taskfiles  # noqa: E402
from tide.likelihood import stratified_mask_counts  # noqa: E402
from tide.eval.lm import TideBD3LM, cut_at_stop, request_seed  # noqa: E402
from tide.models.masks import bd3lm_mask, to_model_mask  # noqa: E402

GSM8K_DOCS = [  # (question, reasoning lines, answer): written as "...\n#### N" like GSM8K
    ("Tom has 3 apples and buys 4 more. How many apples does Tom have?", ["3 + 4 = 7."], 7),
    ("Anna has 12 pencils and gives 5 away. How many pencils are left?", ["12 - 5 = 7."], 7),
    ("Ben has 4 cards and gives all 4 away. How many cards does Ben have?", ["4 - 4 = 0."], 0),
    ("Lily buys 5 bags with 7 marbles in each bag. How many marbles?", ["5 * 7 = 35."], 35),
    ("Sam has 9 books and buys 3 more. How many books does Sam have?", ["9 + 3 = 12."], 12),
    ("Mia has 20 stickers and gives 8 away. How many stickers are left?", ["20 - 8 = 12."], 12),
    ("Leo buys 10 boxes with 120 cookies each. How many cookies?", ["10 * 120 = 1200."], 1200),
    ("Emma has 2 balls and buys 6 more. How many balls does Emma have?", ["2 + 6 = 8."], 8),
]
MMLU_DOCS = [  # (subject, question, choices, gold index); golds A A A B B C D D
    ("high_school_geography", "What is the capital of France?", ["Paris", "Rome", "Oslo", "Lima"], 0),
    ("elementary_mathematics", "What is 2 + 2?", ["4", "5", "6", "3"], 0),
    ("miscellaneous", "What is the opposite of hot?", ["cold", "big", "wet", "old"], 0),
    ("high_school_geography", "What is the capital of Japan?", ["Rome", "Tokyo", "Oslo", "Lima"], 1),
    ("elementary_mathematics", "Which number is largest?", ["3", "97", "12", "40"], 1),
    ("miscellaneous", "What is the opposite of up?", ["left", "dark", "down", "far"], 2),
    ("elementary_mathematics", "What is 3 * 3?", ["6", "8", "12", "9"], 3),
    ("high_school_geography", "What is the capital of Peru?", ["Oslo", "Rome", "Cairo", "Lima"], 3),
]
LETTERS = "ABCD"


def gsm8k_rows():
    return [{"question": q, "answer": "\n".join(steps) + f"\n#### {a}"} for q, steps, a in GSM8K_DOCS]


def mmlu_rows():
    return [{"question": q, "subject": s, "choices": c, "answer": g} for s, q, c, g in MMLU_DOCS]


# gold responses, looked up by the question text found in the context
GOLD = {q: " ".join(steps) + f" The answer is {a}." for q, steps, a in GSM8K_DOCS}
GOLD |= {q: LETTERS[g] for _, q, _, g in MMLU_DOCS}


@register_model("tide_test_oracle")
class OracleLM(LM):
    """mode=oracle: the gold answer of the request's document; mode=const: ``answer``."""

    def __init__(self, mode="oracle", answer="A", **_):
        super().__init__()
        self.mode, self.answer = mode, answer

    @property
    def tokenizer_name(self) -> str:
        return "tide_test_oracle"

    def apply_chat_template(self, chat_history, add_generation_prompt=True) -> str:
        turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in chat_history)
        return turns + ("<|im_start|>assistant\n" if add_generation_prompt else "")

    def _gold(self, context: str) -> str:
        hits = [q for q in GOLD if q in context]
        assert len(hits) == 1, f"oracle: {len(hits)} documents match context {context!r}"
        return GOLD[hits[0]]

    def generate_until(self, requests, disable_tqdm=False):
        return [self._gold(r.args[0]) if self.mode == "oracle" else self.answer for r in requests]

    def loglikelihood(self, requests, disable_tqdm=False):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        raise NotImplementedError


# ---------------------------------------------------------------- fixtures
def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("eval_data")
    return {"gsm8k": _write_jsonl(d / "gsm8k.jsonl", gsm8k_rows()),
            "mmlu": _write_jsonl(d / "mmlu.jsonl", mmlu_rows())}


@pytest.fixture(scope="module")
def tok():
    return make_tokenizer()


@pytest.fixture(scope="module")
def student_dir(tok, tmp_path_factory):
    d = tmp_path_factory.mktemp("student")
    make_student(tok, block_size=8).save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def bd3lm(student_dir):
    return TideBD3LM(pretrained=str(student_dir), max_new_tokens=16, steps=16, mc_num=8,
                     mc_batch_size=4, seed=5)


def _oracle(benchmark, data, tmp_path, **model_args):
    return run.evaluate({"mode": "oracle", **model_args}, benchmark, tmp_path / benchmark,
                        data_files={"test": str(data[benchmark])}, model="tide_test_oracle")


def _results(out_dir):
    return json.loads((out_dir / "results.json").read_text())


# ---------------------------------------------------------------- registry, offline route


def test_benchmark_registry():
    assert {"gsm8k", "mmlu"} <= set(run.available_benchmarks())
    with pytest.raises(ValueError, match=r"unknown or unsupported 'nope'.*'gsm8k'.*'mmlu'"):
        run.benchmark_spec("nope")
    g, m = run.benchmark_spec("gsm8k"), run.benchmark_spec("mmlu")
    row = lambda b: (b.task, b.num_fewshot, b.max_new_tokens, b.filter)  # noqa: E731
    assert row(g) == ("tide_gsm8k_cot", 0, 256, "strict-match")
    assert row(m) == ("tide_mmlu_generative", 0, 3, "first-letter")
    args = run.resolve_model_args("tide_bd3lm", "pretrained=x", m, seed=3)
    assert (args["max_new_tokens"], args["steps"], args["block_size"], args["seed"]) == (3, 3, 32, 3)
    assert run.resolve_model_args("tide_bd3lm", {"pretrained": "x", "steps": 1}, g, 0)["steps"] == 1
    assert run.resolve_model_args("hf", {"pretrained": "x"}, g, 0)["dtype"] == "float32"


def test_offline_yaml_includes_base(data, tmp_path):
    import yaml

    path = routes.write_offline_task("tide_gsm8k_cot", {"test": str(data["gsm8k"])}, tmp_path)
    cfg = yaml.safe_load(path.read_text())
    assert cfg["include"] == str(taskfiles.task_yaml("tide_gsm8k_cot")) and cfg["dataset_path"] == "json"
    assert cfg["dataset_name"] is None
    assert cfg["dataset_kwargs"]["data_files"]["test"] == str(data["gsm8k"].resolve())
    assert set(cfg) == {"include", "dataset_path", "dataset_name", "dataset_kwargs"}
    with pytest.raises(FileNotFoundError, match="no file at"):
        routes.write_offline_task("tide_gsm8k_cot", {"test": str(tmp_path / "missing.jsonl")}, tmp_path)
    with pytest.raises(ValueError, match="expected a 'test' entry"):
        routes.write_offline_task("tide_gsm8k_cot", {"train": str(data["gsm8k"])}, tmp_path)


# ---------------------------------------------------------------- oracle and constant LMs


def test_oracle_scores_100_on_gsm8k(data, tmp_path):
    score = _oracle("gsm8k", data, tmp_path)
    assert (score["value"], score["n"], score["filter"]) == (100.0, 8, "strict-match")
    res = _results(tmp_path / "gsm8k")["results"]["tide_gsm8k_cot"]
    assert res["exact_match,flexible-extract"] == 1.0
    # same task definition as the base YAML, data from the local file
    import yaml

    base = yaml.safe_load(taskfiles.task_yaml("tide_gsm8k_cot").read_text())
    cfg = _results(tmp_path / "gsm8k")["configs"]["tide_gsm8k_cot"]
    assert cfg["doc_to_text"] == base["doc_to_text"] and cfg["dataset_path"] == "json"
    samples = [json.loads(x) for x in (tmp_path / "gsm8k" / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 16  # 8 documents x 2 filters
    assert "<|im_start|>user\nQ: Tom has 3 apples" in samples[0]["arguments"][0][0]
    assert score["task_hashes"]["tide_gsm8k_cot"]


def test_oracle_scores_100_on_mmlu(data, tmp_path):
    score = _oracle("mmlu", data, tmp_path)
    assert (score["value"], score["n"], score["metric"]) == (100.0, 8, "exact_match")
    assert set(json.loads((tmp_path / "mmlu" / "score.json").read_text())) >= {
        "benchmark", "task", "metric", "filter", "value", "n", "sampler", "batch_size", "seed",
        "lm_eval", "task_hashes"}


@pytest.mark.parametrize("answer,strict,flexible", [
    ("The answer is 0.", 12.5, 12.5),  # one gold is 0
    ("So 7 remain.", 0.0, 25.0),  # no "The answer is": strict fails; two golds are 7
    ("I am not sure", 0.0, 0.0),
])
def test_constant_lm_on_gsm8k(data, tmp_path, answer, strict, flexible):
    score = _oracle("gsm8k", data, tmp_path, mode="const", answer=answer)
    res = _results(tmp_path / "gsm8k")["results"]["tide_gsm8k_cot"]
    assert score["value"] == strict and 100 * res["exact_match,flexible-extract"] == flexible


@pytest.mark.parametrize("answer,expected", [
    ("A", 37.5),  # golds A A A B B C D D
    (" Answer: B", 25.0),  # "Answer" is no stand-alone letter; B is
    ("D.", 25.0),
    ("none", 0.0),
])
def test_constant_lm_on_mmlu(data, tmp_path, answer, expected):
    assert _oracle("mmlu", data, tmp_path, mode="const", answer=answer)["value"] == expected


# ---------------------------------------------------------------- tide_bd3lm end to end


def test_tide_bd3lm_end_to_end(student_dir, data, tmp_path):
    out = tmp_path / "gsm8k"
    score = run.evaluate({"pretrained": str(student_dir), "max_new_tokens": 8, "steps": 8},
                         "gsm8k", out, data_files=str(data["gsm8k"]), limit=3, batch_size=2)
    assert {p.name for p in out.iterdir()} == {"results.json", "samples.jsonl", "score.json",
                                               "tasks"}  # tasks/: the recorded command's
    assert score["n"] == 3 and 0.0 <= score["value"] <= 100.0
    assert score["sampler"]["max_new_tokens"] == 8 and score["sampler"]["block_size"] == 32
    assert score["batch_size"] == 2 and score["seed"] == 1234
    samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6 and all(isinstance(s["resps"][0][0], str) for s in samples)
    assert samples[0]["arguments"][0][0].endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")


def test_tide_bd3lm_protocol_defaults_on_mmlu(student_dir, data, tmp_path):
    score = run.evaluate({"pretrained": str(student_dir)}, "mmlu", tmp_path / "m",
                         data_files={"test": str(data["mmlu"])}, limit=4, batch_size=4)
    assert score["sampler"]["max_new_tokens"] == 3 and score["sampler"]["steps"] == 3
    assert score["n"] == 4 and score["value"] in {0.0, 25.0, 50.0, 75.0, 100.0}


def test_hf_ar_baseline(tok, data, tmp_path):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    ar = Qwen3ForCausalLM(Qwen3Config(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=1024,
        tie_word_embeddings=True, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
        bos_token_id=None))
    d = tmp_path / "ar"
    ar.save_pretrained(d)
    tok.save_pretrained(d)
    score = run.evaluate({"pretrained": str(d)}, "mmlu", tmp_path / "out", model="hf",
                         data_files={"test": str(data["mmlu"])}, limit=2, batch_size=2)
    assert score["n"] == 2 and score["model_args"]["dtype"] == "float32"
    assert score["sampler"]["generation_kwargs"]["max_gen_toks"] == 3


# ---------------------------------------------------------------- tide_bd3lm unit checks


def _req(*args):
    return types.SimpleNamespace(args=args)


def test_chat_template_and_stop_strings(bd3lm):
    s = bd3lm.apply_chat_template([{"role": "user", "content": "Hi"}])
    assert s == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert cut_at_stop("The answer is 7.\nQ: next", ["Q:", "\n"]) == "The answer is 7."
    assert cut_at_stop("abc", []) == "abc"
    assert bd3lm.tokenizer_name and bd3lm.rank == 0 and bd3lm.world_size == 1
    with pytest.raises(NotImplementedError, match="loglikelihood_rolling"):
        bd3lm.loglikelihood_rolling([_req("text")])


def test_generate_until_batch_invariant(bd3lm):
    """Eval batch 1 vs 4: identical generated token ids (prompts of different lengths, so
    the left padding differs; two blocks of 8 generated)."""
    questions = [GSM8K_DOCS[0][0], "Hi", GSM8K_DOCS[6][0] + " Think step by step.", "What is 3 * 3?"]
    ctxs = [bd3lm.apply_chat_template([{"role": "user", "content": q}]) for q in questions]
    assert len({len(bd3lm._encode(c)) for c in ctxs}) == 4
    reqs = [_req(c, {"until": ["Q:"]}) for c in ctxs]
    old = bd3lm.batch_size
    try:
        bd3lm.batch_size = 1
        one = bd3lm.generate_until(reqs, disable_tqdm=True)
        ids_one = bd3lm.last_generated_ids
        bd3lm.batch_size = 4
        four = bd3lm.generate_until(reqs, disable_tqdm=True)
        ids_four = bd3lm.last_generated_ids
    finally:
        bd3lm.batch_size = old
    assert len(ids_one) == 4 and any(len(r) > 0 for r in ids_one)
    assert ids_one == ids_four
    assert one == four and all(isinstance(t, str) for t in one)


def test_stratified_counts():
    for m in (1, 3, 7):
        for k in range(1, m + 1):
            c = stratified_mask_counts(k, m, m)
            assert sorted(c.tolist()) == list(range(1, m + 1))  # b = M: every count once
    c = stratified_mask_counts(3, 10, 4)
    assert c.tolist() == [3, 6, 8, 10]  # round(3 + i·2.5), half to even: 5.5 → 6, 10.5 → 10
    assert stratified_mask_counts(9, 10, 4).tolist() == [9, 2, 4, 6]  # 11.5 → 12 → 2 (mod M)
    assert request_seed(1, "a", "b") == request_seed(1, "a", "b") != request_seed(1, "a", "c")


def test_loglikelihood_deterministic_and_batch_invariant(bd3lm):
    reqs = [_req(bd3lm.apply_chat_template([{"role": "user", "content": q}]), " " + r)
            for q, r in [(q, GOLD[q]) for q, _, _ in GSM8K_DOCS[:5]]]
    reqs.append(_req("Tom has 3 apples and", " buys 4 more."))
    first = bd3lm.loglikelihood(reqs, disable_tqdm=True)
    assert all(v < 0 and g is False for v, g in first)
    assert bd3lm.loglikelihood(reqs, disable_tqdm=True) == first
    order = list(range(len(reqs)))
    random.Random(0).shuffle(order)
    old = bd3lm.batch_size
    try:
        bd3lm.batch_size = 4
        shuffled = bd3lm.loglikelihood([reqs[i] for i in order], disable_tqdm=True)
    finally:
        bd3lm.batch_size = old
    assert [shuffled[order.index(i)] for i in range(len(reqs))] == first


def test_one_token_loglikelihood_is_exact(bd3lm):
    tok, model = bd3lm.tokenizer, bd3lm.model
    context = bd3lm.apply_chat_template([{"role": "user", "content": "What is 2 + 2?"}]) + "Answer:"
    cont = next(c for c in (" A", "A", " 4", "4") if len(bd3lm._encode_pair(context, c)[1]) == 1)
    ctx_ids, cont_ids = bd3lm._encode_pair(context, cont)
    ll, greedy = bd3lm.loglikelihood([_req(context, cont)], disable_tqdm=True)[0]
    # direct computation: [x_t ; x_0] with the answer masked in x_t, BD3LM mask, no shift
    x0 = torch.tensor(ctx_ids + cont_ids)[None]
    L = x0.shape[1]
    xt = x0.clone()
    xt[0, -1] = model.config.mask_token_id
    mask = bd3lm_mask(L, bd3lm.settings.block_size)
    attn = to_model_mask(mask, model.config._attn_implementation, model.dtype)
    pos = torch.arange(L).repeat(2)[None]
    with torch.no_grad():
        logits = model(input_ids=torch.cat([xt, x0], 1), attention_mask=attn, position_ids=pos).logits
    expected = torch.log_softmax(logits[0, L - 1].float(), -1)[cont_ids[0]].item()
    assert greedy is False
    assert ll == pytest.approx(expected, abs=1e-6)
    assert tok.decode(cont_ids) == cont


# ---------------------------------------------------------------- released checkpoint format


def test_loads_released_checkpoint_format(tok, student_dir, tmp_path):
    """A checkpoint saved as the released a2d-qwen3 students are (plain Qwen3 config with
    model_type a2d-qwen3, no block size / mask id; safetensors state dict; tokenizer with
    <|mask|>) loads in tide_bd3lm with the same weights, mask id from the tokenizer."""
    from safetensors.torch import save_file
    from transformers import AutoModelForMaskedLM

    ours = AutoModelForMaskedLM.from_pretrained(student_dir).eval()
    cfg = ours.config.to_dict()
    for key in ("block_size", "mask_token_id", "transformers_version", "dtype", "torch_dtype"):
        cfg.pop(key, None)
    cfg.update(model_type="a2d-qwen3", architectures=["A2DQwen3LMHeadModel"])
    d = tmp_path / "released"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    save_file({k: v.clone().contiguous() for k, v in ours.state_dict().items()},
              str(d / "model.safetensors"), metadata={"format": "pt"})
    tok.save_pretrained(d)
    assert "mask_token_id" not in json.loads((d / "config.json").read_text())

    lm = TideBD3LM(pretrained=str(d), max_new_tokens=8, steps=8, block_size=8)
    assert lm.mask_id == tok.convert_tokens_to_ids("<|mask|>")
    assert lm.settings.block_size == 8
    x = torch.randint(0, len(tok), (1, 12))
    with torch.no_grad():
        assert torch.equal(lm.model(input_ids=x).logits, ours(input_ids=x).logits)
    ctx = lm.apply_chat_template([{"role": "user", "content": "What is 2 + 2?"}])
    assert isinstance(lm.generate_until([_req(ctx, {"until": []})], disable_tqdm=True)[0], str)
    assert lm.get_model_info()["batch_size"] == 1


@pytest.mark.parametrize("benchmark", ["humaneval", "bbh"])
def test_tide_bd3lm_gen_prefix_and_fewshot_tasks(student_dir, tmp_path, benchmark):
    """tide_bd3lm through a gen_prefix task (HumanEval: the assistant turn is continued) and
    a 3-shot multi-turn group (BBH), on the tiny offline items."""
    from tide.eval import tiny_data

    data = tmp_path / "data"
    data.mkdir()
    for task, rows in tiny_data.tiny_items(benchmark, 2, 0).items():
        _write_jsonl(data / f"{task}.jsonl", rows)
    score = run.evaluate({"pretrained": str(student_dir), "max_new_tokens": 8, "steps": 8},
                         benchmark, tmp_path / "out", data_files=data, batch_size=2)
    assert score["n"] == 2 and score["value"] in (0.0, 50.0, 100.0)
    samples = [json.loads(x) for x in (tmp_path / "out" / "samples.jsonl").read_text().splitlines()]
    ctx = samples[0]["arguments"][0][0]
    if benchmark == "humaneval":
        last_turn = ctx[ctx.rindex("<|im_start|>assistant\n"):]  # continued, not closed
        assert last_turn.endswith("Here is the completed function:\n```python")
        assert "<|im_end|>" not in last_turn
    else:  # three worked examples as earlier user/assistant turns, then the question
        assert ctx.count("<|im_start|>user\n") == 4 and ctx.count("So the answer is") >= 3


def test_tide_bd3lm_runs_a_likelihood_multiple_choice_task(student_dir, data, tmp_path):
    """lm-eval's own multiple_choice path (loglikelihood requests) works with tide_bd3lm:
    a local MC task over the MMLU rows, 2 MC samples per request, deterministic."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "toy_mc.yaml").write_text(
        "task: tide_test_toy_mc\ndataset_path: json\ndataset_name: null\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data['mmlu'].resolve()}\n"
        "test_split: test\noutput_type: multiple_choice\n"
        "doc_to_text: \"{{question}}\\nAnswer:\"\ndoc_to_choice: \"{{choices}}\"\n"
        "doc_to_target: answer\nmetric_list:\n  - metric: acc\nmetadata:\n  version: 1.0\n")
    tm = TaskManager(include_path=str(tmp_path / "tasks"), include_defaults=False)
    runs = [lm_eval.simple_evaluate(
        model="tide_bd3lm", model_args={"pretrained": str(student_dir), "mc_num": 2,
                                        "mc_batch_size": 2},
        tasks=["tide_test_toy_mc"], task_manager=tm, limit=4, batch_size=b)
        for b in (1, 4)]
    accs = [r["results"]["tide_test_toy_mc"]["acc,none"] for r in runs]
    assert accs[0] == accs[1] and 0.0 <= accs[0] <= 1.0
    lls = [[s["resps"] for s in r["samples"]["tide_test_toy_mc"]] for r in runs]
    assert lls[0] == lls[1] and len(lls[0]) == 4  # per-request log-likelihoods, batch 1 vs 4


def test_think_block_injected_and_stripped_as_the_authors(bd3lm):
    """Issue 10 item 6 (dllm/core/eval/base.py): a prompt lacking the empty think block gets
    it appended (a released checkpoint's template may ignore enable_thinking); answers lose
    their think blocks *before* the stop-string cut."""
    from tide.eval.lm import THINK_PREFIX, finish_answer, inject_think, strip_think

    assert THINK_PREFIX == "<think>\n\n</think>\n\n"
    assert inject_think("ctx") == "ctx" + THINK_PREFIX
    mid = "a" + THINK_PREFIX + "```python"  # gen_prefix tasks continue after the block
    assert inject_think(mid) == mid and inject_think("ctx", enabled=False) == "ctx"
    assert strip_think("<think>\nQ: a\n</think>\n\nThe answer is 7.") == "The answer is 7."
    assert finish_answer("<think>x\nQ: y</think>\n The answer is 7.\nQ: z", ["Q:"]) == \
        "The answer is 7.\n"
    full = bd3lm.apply_chat_template([{"role": "user", "content": "What is 2 + 2?"}])
    bare = full[:-len(THINK_PREFIX)]  # what a template without enable_thinking gives
    assert full.endswith(THINK_PREFIX)
    bd3lm.generate_until([_req(bare, {"until": []})], disable_tqdm=True)
    from_bare = bd3lm.last_generated_ids
    bd3lm.generate_until([_req(full, {"until": []})], disable_tqdm=True)
    assert from_bare == bd3lm.last_generated_ids
    bd3lm.inject_think = False
    try:
        bd3lm.generate_until([_req(bare, {"until": []})], disable_tqdm=True)
        assert bd3lm.last_generated_ids != from_bare  # the switch really changes the prompt
    finally:
        bd3lm.inject_think = True


def test_length_ordering_changes_no_result(bd3lm):
    """Requests run longest prompt first inside generate_until (less padding); the outputs
    come back in request order and equal those of any other order (fp32)."""
    questions = ["Hi", GSM8K_DOCS[6][0] + " Think step by step.", "What is 3 * 3?",
                 GSM8K_DOCS[0][0]]
    reqs = [_req(bd3lm.apply_chat_template([{"role": "user", "content": q}]), {"until": []})
            for q in questions]
    old = bd3lm.batch_size
    try:
        bd3lm.batch_size = 2
        fwd = bd3lm.generate_until(reqs, disable_tqdm=True)
        fwd_ids = bd3lm.last_generated_ids
        back = bd3lm.generate_until(reqs[::-1], disable_tqdm=True)
        back_ids = bd3lm.last_generated_ids
    finally:
        bd3lm.batch_size = old
    assert fwd == back[::-1] and fwd_ids == back_ids[::-1]


def test_lm_eval_memoized_per_process_renders_the_same_and_is_idempotent():
    import lm_eval.utils
    import torch.utils.collect_env as collect_env

    from tide.eval.run import memoize_lm_eval_per_process

    template = "Question: {{question}}\nAnswer:{% if choices %} {{choices|join(', ')}}{% endif %}"
    docs = [{"question": "1+1?", "choices": ["2", "3"]}, {"question": "x", "choices": []}]
    before = [lm_eval.utils.apply_template(template, d) for d in docs]
    memoize_lm_eval_per_process()
    patched, env_info = lm_eval.utils.apply_template, collect_env.get_pretty_env_info
    memoize_lm_eval_per_process()  # a second call wraps nothing twice
    assert lm_eval.utils.apply_template is patched and collect_env.get_pretty_env_info is env_info
    assert [patched(template, d) for d in docs] == before == ["Question: 1+1?\nAnswer: 2, 3",
                                                              "Question: x\nAnswer:"]
    assert patched(template, docs[0]) == before[0]  # from the cache: same text
