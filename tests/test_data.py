"""Tests for tide.data: corpus, tokenizers + templates, dataset building, loaders.

Tokenizers are trained once per session (about 1 s).  Committed fixtures in
tests/fixtures/ (regenerate with ``python tests/fixtures/make_fixtures.py``).
"""

from __future__ import annotations

import filecmp
import json
import re
import shutil
import time
from pathlib import Path

import pytest

from tide.data import build, corpus, loaders
from tide.data.tokenizers import (build_tokenizers, encode_chat, load_tokenizer, render_chat,
                                  train_tokenizers)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NAMES = ("student", "teacher_a", "teacher_b")
CONV = [{"role": "user", "content": "Tom has 3 apples."},
        {"role": "assistant", "content": "The answer is 3."}]
EXTRA_ROWS = [  # system turn, multi-turn, non-ASCII, an answer that also occurs in the prompt
    [{"role": "system", "content": "You are a helpful assistant."},
     {"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "4"},
     {"role": "user", "content": "And 3 + 3?"}, {"role": "assistant", "content": "It is 6."}],
    [{"role": "user", "content": "Translate «café» and 東京 — then say 3 × 4."},
     {"role": "assistant", "content": "«café» is coffee, 東京 is Tokyo, and 3 × 4 = 12 ✓."}],
    [{"role": "user", "content": "Pick one.\nA. x\nB. y\nAnswer:"},
     {"role": "assistant", "content": "B"}],
]


# ---------------------------------------------------------------- session fixtures


@pytest.fixture(scope="session")
def pretok(tmp_path_factory):
    """The committed pre-tokenized samples, copied: ``datasets`` writes its map/filter cache
    files next to a dataset loaded from disk, and tests never write into tests/fixtures."""
    out = tmp_path_factory.mktemp("pretok")
    for name in ("pretok_llada2", "pretok_wedlm"):
        shutil.copytree(FIXTURES / name, out / name)
    return out


@pytest.fixture(scope="session")
def chat():
    return corpus.make_corpus(n_train=4000, n_heldout=200, seed=0)


@pytest.fixture(scope="session")
def tok_dir(chat, tmp_path_factory):
    out = tmp_path_factory.mktemp("tokenizers")
    info = train_tokenizers(chat, out)
    return out, info


@pytest.fixture(scope="session")
def toks(tok_dir):
    return {n: load_tokenizer(tok_dir[0] / n) for n in NAMES}


@pytest.fixture(scope="session")
def rows(chat):
    return chat["train"][:150] + EXTRA_ROWS


@pytest.fixture(scope="session")
def ds_a(rows, toks):
    return build.build_pipeline_dataset(rows, toks["student"], toks["teacher_a"], "A",
                                        max_length=512, teacher_max_length=1024)


@pytest.fixture(scope="session")
def ds_b(rows, toks):
    return build.build_pipeline_dataset(rows, toks["student"], toks["teacher_b"], "B",
                                        max_length=512, teacher_max_length=768)


def _byte_decoder() -> dict[str, int]:
    """GPT-2 byte-level alphabet, written out independently of the code under test."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


BYTES = _byte_decoder()


def tok_bytes(tok, ids) -> bytes:
    special = set(tok.all_special_tokens) | {t.content for t in tok.added_tokens_decoder.values()}
    out = b""
    for t in tok.convert_ids_to_tokens(list(ids)):
        out += t.encode() if t in special else bytes(BYTES[c] for c in t)
    return out


# ---------------------------------------------------------------- corpus


def test_corpus_deterministic_fast_and_disjoint():
    t0 = time.perf_counter()
    a = corpus.make_corpus(4000, 200, seed=7)
    assert time.perf_counter() - t0 < 2.0
    assert a == corpus.make_corpus(4000, 200, seed=7)
    assert a["train"] != corpus.make_corpus(4000, 200, seed=8)["train"]
    train_prompts = {m[-2]["content"] for m in a["train"]}
    assert not train_prompts & {m[-2]["content"] for m in a["heldout"]}
    gsm = corpus.gsm8k_items(100, seed=1)
    assert gsm == corpus.gsm8k_items(100, seed=1)
    assert not any(g["question"] in p for g in gsm for p in train_prompts)


from tide.data.tasks import PRO_OPTIONS  # noqa: E402


def _family(conv) -> str:
    """The benchmark format a conversation is in (its user turn's shape)."""
    user = conv[-2]["content"]
    for prefix, fam in (("The following are multiple choice", "mmlu"), ("Problem:\n", "math"),
                        ("Question:\n", "mmlu_pro"), ("Choose the most plausible", "hellaswag"),
                        ("Write a solution to the following", "humaneval"),
                        ("You are an expert Python", "mbpp")):
        if user.startswith(prefix):
            return fam
    return "bbh" if conv[0]["role"] == "system" else "gsm8k"


def test_corpus_answers_are_correct(chat):
    counts = {}
    for conv in chat["train"]:
        user, reply, fam = conv[-2]["content"], conv[-1]["content"], _family(conv)
        counts[fam] = counts.get(fam, 0) + 1
        if fam == "mmlu":
            options = dict(re.findall(r"^([A-D])\. (.*)$", user, flags=re.M))
            assert reply in "ABCD" and len(reply) == 1 and len(options) == 4
            q = user.split("\n\n")[1].split("\n")[0]
            if m := re.fullmatch(r"What is (-?\d+) ([-+*]) (-?\d+)\?", q):
                assert int(options[reply]) == eval(f"{m[1]} {m[2]} {m[3]}")
            if m := re.fullmatch(r"What is the capital of (\w+)\?", q):
                assert options[reply] == corpus.CAPITALS[m[1]]
            if q == "Which number is largest?":
                assert int(options[reply]) == max(int(v) for v in options.values())
            if m := re.fullmatch(r"Which word is (\w+)\?", q):
                assert options[reply] == m[1]
        elif fam == "gsm8k":
            for a, op, b, c in re.findall(r"(\d+) ([-+*]) (\d+) = (\d+)", reply):
                assert eval(f"{a} {op} {b}") == int(c)
            answer = re.fullmatch(r"(?s).* The answer is (\d+)\.", reply)[1]
            if "=" in reply:  # computed: the last step's result
                assert re.findall(r"= (\d+)", reply)[-1] == answer
            else:  # the copy kind: the number the question states
                assert f"has {answer} " in user
        elif fam == "math":
            final = re.fullmatch(r"(?s).*Final Answer: The final answer is \$(-?\d+)\$\. "
                                 r"I hope it is correct\.", reply)[1]
            if m := re.search(r"\$x \+ (\d+) = (\d+)\$", user):
                assert int(final) + int(m[1]) == int(m[2])
            if m := re.search(r"\$(\d+) (\+|\\times) (\d+)\$", user):
                assert eval(f"{m[1]} {'+' if m[2] == '+' else '*'} {m[3]}") == int(final)
            if m := re.search(r"remainder when \$(\d+)\$ is divided by \$(\d+)\$", user):
                assert int(m[1]) % int(m[2]) == int(final)
        elif fam == "bbh":
            expr = re.fullmatch(r"Q: (.*) (?:is|=)\nA: Let's think step by step.\n", user)[1]
            assert reply.endswith(f"So the answer is {eval(expr)}.")
        elif fam == "mmlu_pro":
            options = dict(re.findall(r"^([A-J])\. (.*)$", user, flags=re.M))
            letter = re.fullmatch(r".* The answer is \(([A-J])\)\.", reply)[1]
            assert len(options) == PRO_OPTIONS
            assert reply.split(" The answer")[0].rstrip(".").endswith(options[letter])
        elif fam == "hellaswag":
            assert reply in "ABCD" and len(reply) == 1
            # the cue: the right ending names the context's object, no other ending does
            endings = dict(re.findall(r"^([A-D])\. (.*)$", user, flags=re.M))
            context = user.split("\n\n")[1].split("\n")[0]  # "Tea: Tom fills the kettle. He"
            obj = context.rsplit(".", 1)[0].split()[-1]
            assert [k for k, e in endings.items() if obj in e.split()[-1]] == [reply]
        else:  # code: run the function against its asserts
            if fam == "mbpp":
                code = reply.split("```python\n")[1].split("\n```")[0]
                tests = re.findall(r"^assert .*$", user, flags=re.M)
            else:
                prompt = user.split("```python\n")[1].split("\n```")[0]
                code = prompt + reply.split("```python\n")[1].split("\n```")[0]
                name = re.match(r"def (\w+)", prompt)[1]
                a, r = re.search(r">>> \w+\((.*)\)\n\s+(.*)\n", prompt).groups()
                tests = [f"assert {name}({a}) == {r}"]
            env: dict = {}
            exec(code + "\n" + "\n".join(tests), env)  # noqa: S102 (generated here)
    assert set(counts) == set(corpus.FAMILY_WEIGHTS)
    for fam, weight in corpus.FAMILY_WEIGHTS.items():
        assert abs(counts[fam] / len(chat["train"]) - weight) < 0.03, (fam, counts)


def test_benchmark_item_schemas():
    for g in corpus.gsm8k_items(20, seed=3):
        assert set(g) == {"question", "answer"}
        reasoning, final = g["answer"].split("\n#### ")
        assert final.lstrip("-").isdigit()
        assert f"= {final}" in reasoning or f"has {final} " in g["question"]
    for m in corpus.mmlu_items(20, seed=3):
        assert set(m) == {"question", "subject", "choices", "answer"}
        assert len(m["choices"]) == 4 and m["answer"] in range(4)
        if m["question"].startswith("What is the capital of "):
            country = m["question"][len("What is the capital of "):-1]
            assert m["choices"][m["answer"]] == corpus.CAPITALS[country]


def test_jsonl_roundtrip_and_error(tmp_path):
    rows = [{"messages": CONV}, {"x": "é"}]
    corpus.write_jsonl(tmp_path / "r.jsonl", rows)
    assert corpus.read_jsonl(tmp_path / "r.jsonl") == rows
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        corpus.read_jsonl(tmp_path / "bad.jsonl")


# ---------------------------------------------------------------- tokenizers


def test_tokenizer_layout_and_summary(tok_dir, toks):
    out, info = tok_dir
    assert json.loads((out / "tokenizers.json").read_text()) == info
    v_sh, s, b = info["shared_vocab_size"], toks["student"], toks["teacher_b"]
    ids = s.convert_tokens_to_ids
    assert [ids(t) for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")] == \
        [v_sh - 3, v_sh - 2, v_sh - 1]
    assert [ids(t) for t in ("<think>", "</think>", "<|mask|>")] == [v_sh, v_sh + 1, v_sh + 2]
    assert (s.pad_token_id, s.eos_token_id, s.mask_token_id) == (v_sh - 3, v_sh - 1, len(s) - 1)
    assert info["student"] == {"vocab_size": len(s), "mask_token_id": s.mask_token_id,
                               "eos_token_id": s.eos_token_id, "pad_token_id": s.pad_token_id}
    from tide.data.tokenizers import STUDENT_VOCAB_SIZE

    # BPE stops at the cap or when the corpus has no merge left (tiny corpus: ~1400)
    assert 1000 <= len(s) <= STUDENT_VOCAB_SIZE and len(toks["teacher_a"]) != len(s)
    # teacher_b: identical ids below V_sh, its own specials above, a different mask id
    s_inv = {i: t for t, i in s.get_vocab().items() if i < v_sh}
    assert s_inv == {i: t for t, i in b.get_vocab().items() if i < v_sh}
    assert len(s_inv) == v_sh
    assert b.mask_token_id >= v_sh and b.mask_token_id != s.mask_token_id
    assert b.convert_ids_to_tokens(list(range(v_sh, len(b)))) == \
        ["<|wedlm_extra_0|>", "<|mask_wedlm|>", "<think>", "</think>"]
    a = toks["teacher_a"]
    assert a.mask_token == "<|mdm_mask|>" and a.eos_token == "<|role_end|>"
    text = "Tom has 37 apples, so 37 + 5 = 42."
    assert a.convert_ids_to_tokens(a(text)["input_ids"]) != \
        s.convert_ids_to_tokens(s(text)["input_ids"])


def test_templates_render_exact_strings(toks):
    s, a, b = toks["student"], toks["teacher_a"], toks["teacher_b"]
    assert render_chat(s, CONV) == (
        "<|im_start|>user\nTom has 3 apples.<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\nThe answer is 3.<|im_end|>\n")
    assert render_chat(s, CONV[:1], add_generation_prompt=True) == (
        "<|im_start|>user\nTom has 3 apples.<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert render_chat(a, CONV) == ("<role>HUMAN</role>Tom has 3 apples.<|role_end|>"
                                    "<role>ASSISTANT</role>The answer is 3.<|role_end|>")
    assert render_chat(a, CONV[:1], True) == "<role>HUMAN</role>Tom has 3 apples.<|role_end|><role>ASSISTANT</role>"
    assert render_chat(b, CONV) == ("<|im_start|>user\nTom has 3 apples.<|im_end|>\n"
                                    "<|im_start|>assistant\nThe answer is 3.<|im_end|>\n")
    assert render_chat(b, CONV[:1], True).endswith("<|im_start|>assistant\n")
    for tok in (s, a, b):  # encode_chat == transformers' own tokenize=True path
        assert encode_chat(tok, CONV) == list(tok.apply_chat_template(CONV)["input_ids"])
        assert tok.decode(encode_chat(tok, CONV)) == render_chat(tok, CONV)


def test_tokenizers_deterministic_and_fixtures_current(chat, tok_dir, tmp_path):
    train_tokenizers(chat, tmp_path)
    for name in NAMES:
        cmp = filecmp.dircmp(tok_dir[0] / name, tmp_path / name)
        assert cmp.left_list == cmp.right_list and not cmp.diff_files
        assert filecmp.cmp(tok_dir[0] / name / "tokenizer.json",
                           FIXTURES / "tokenizers" / name / "tokenizer.json", shallow=False), \
            "tests/fixtures is stale: run python tests/fixtures/make_fixtures.py"
    assert filecmp.cmp(tok_dir[0] / "tokenizers.json", tmp_path / "tokenizers.json", shallow=False)


# ---------------------------------------------------------------- pipeline A


def _check_prompt_labels(ids, labels, prompt_len):
    assert labels[:prompt_len] == [-100] * prompt_len
    assert labels[prompt_len:] == ids[prompt_len:]


def test_pipeline_a_labels_and_ranges(ds_a, rows, toks):
    s, a = toks["student"], toks["teacher_a"]
    assert len(ds_a) == len(rows)
    specials = {s.convert_tokens_to_ids(t) for t in ("<|im_start|>", "<|im_end|>", "<think>",
                                                     "</think>")}
    t_specials = {a.convert_tokens_to_ids(t) for t in ("<role>", "</role>", "<|role_end|>")}
    for row, msgs in zip(ds_a, rows):
        _check_prompt_labels(row["input_ids"], row["labels"], row["prompt_len"])
        t_prompt = len(encode_chat(a, msgs[:-1], add_generation_prompt=True))
        _check_prompt_labels(row["teacher_input_ids"], row["teacher_labels"], t_prompt)
        assert len(row["ranges"]) == len(msgs)  # every content located on both sides
        for (t0, t1, s0, s1), m in zip(row["ranges"], msgs):
            assert s.decode(row["input_ids"][s0:s1]) == m["content"]
            assert a.decode(row["teacher_input_ids"][t0:t1]) == m["content"]
            assert not specials & set(row["input_ids"][s0:s1])
            assert not t_specials & set(row["teacher_input_ids"][t0:t1])
        # the role headers ("user", "assistant") lie outside every range
        covered = {p for r in row["ranges"] for p in range(r[2], r[3])}
        header = s.convert_tokens_to_ids("<|im_start|>")
        for p, tid in enumerate(row["input_ids"]):
            if tid == header:
                assert p not in covered and p + 1 not in covered


def test_pipeline_a_chunks_are_byte_equal(ds_a, toks):
    s, a = toks["student"], toks["teacher_a"]
    n_multi = 0
    for row in ds_a:
        ranges, chunks = row["ranges"], row["chunks"]
        assert chunks, "every row has aligned content"
        assert chunks == sorted(chunks)
        for s0, s1, t0, t1 in chunks:
            assert 0 <= s0 < s1 <= len(row["input_ids"]) and 0 <= t0 < t1
            assert tok_bytes(s, row["input_ids"][s0:s1]) == \
                tok_bytes(a, row["teacher_input_ids"][t0:t1])
            assert any(r[2] <= s0 and s1 <= r[3] and r[0] <= t0 and t1 <= r[1] for r in ranges)
            n_multi += (s1 - s0 > 1) or (t1 - t0 > 1)
        # teacher cut at the end of the last chunk (authors' collator), labels alike
        assert len(row["teacher_input_ids"]) == max(c[3] for c in chunks)
        assert len(row["teacher_labels"]) == len(row["teacher_input_ids"])
    assert n_multi > 0, "the two tokenizers should disagree somewhere"


def test_pipeline_a_truncation_and_drop(rows, toks):
    s, a = toks["student"], toks["teacher_a"]
    max_len = 48
    ds = build.build_pipeline_dataset(rows, s, a, "A", max_length=max_len, teacher_max_length=40)
    n_fit = sum(len(encode_chat(s, m[:-1], add_generation_prompt=True)) < max_len for m in rows)
    assert 0 < len(ds) == n_fit < len(rows)
    for row in ds:
        assert len(row["input_ids"]) <= max_len and row["prompt_len"] < max_len
        assert len(row["teacher_input_ids"]) <= 40
        for s0, s1, t0, t1 in row["chunks"]:
            assert s1 <= len(row["input_ids"]) and t1 <= len(row["teacher_input_ids"])


# ---------------------------------------------------------------- pipeline B and SFT


def test_pipeline_b_alignment(ds_b, rows, toks):
    s, b = toks["student"], toks["teacher_b"]
    assert len(ds_b) == len(rows)
    for row, msgs in zip(ds_b, rows):
        _check_prompt_labels(row["input_ids"], row["labels"], row["prompt_len"])
        al_s, al_t = row["align_student"], row["align_teacher"]
        assert len(al_s) == len(al_t) > 0
        assert [row["input_ids"][i] for i in al_s] == [row["teacher_input_ids"][j] for j in al_t]
        assert al_s == sorted(al_s) and al_t == sorted(al_t)
        assert min(al_s) >= row["prompt_len"] or len(msgs) > 2  # last answer is after prompt
        assert len(row["teacher_input_ids"]) == al_t[-1] + 1
        answers = "".join(m["content"] for m in msgs if m["role"] == "assistant")
        assert s.decode([row["input_ids"][i] for i in al_s]) == answers


def test_pipeline_b_teacher_cap(rows, toks):
    ds = build.build_pipeline_dataset(rows, toks["student"], toks["teacher_b"], "B",
                                      max_length=512, teacher_max_length=64)
    for row in ds:
        assert len(row["teacher_input_ids"]) <= 64 and all(t < 64 for t in row["align_teacher"])
        assert len(row["align_student"]) == len(row["align_teacher"])


def test_pipeline_b_rejects_unshared_tokenizer(toks):
    with pytest.raises(ValueError, match="row 0: pipeline B expects equal token ids"):
        build.build_pipeline_dataset([CONV], toks["student"], toks["teacher_a"], "B")


def test_sft_dataset(rows, toks):
    ds = build.build_sft_dataset(rows, toks["student"], max_length=512)
    assert ds.column_names == ["input_ids", "labels", "prompt_len"] and len(ds) == len(rows)
    for row, msgs in zip(ds, rows):
        assert row["input_ids"] == encode_chat(toks["student"], msgs)
        _check_prompt_labels(row["input_ids"], row["labels"], row["prompt_len"])
        assert toks["student"].decode(row["input_ids"][row["prompt_len"]:]) == \
            msgs[-1]["content"] + "<|im_end|>\n"


# ---------------------------------------------------------------- loaders


def test_load_sft_mixture():
    ds = loaders.load_sft_mixture([
        {"path": str(FIXTURES / "tulu_sample.jsonl"), "split": "train"},
        {"path": str(FIXTURES / "smoltalk_sample.parquet")},
        {"path": str(FIXTURES / "opc_sft_sample.jsonl"), "filter": "python"},
    ])
    assert ds.column_names == ["messages"] and len(ds) == 4 + 2 + 2
    tulu = corpus.read_jsonl(FIXTURES / "tulu_sample.jsonl")
    assert ds[0]["messages"] == tulu[0]["messages"]
    opc = ds[6]["messages"]
    assert [m["role"] for m in opc] == ["user", "assistant"]
    assert opc[0]["content"] == "Write a Python function that adds two numbers."
    assert all("```python" in r["messages"][1]["content"] for r in ds.select(range(6, 8)))


def test_load_sft_mixture_errors(tmp_path):
    corpus.write_jsonl(tmp_path / "odd.jsonl", [{"prompt": "a", "completion": "b"}])
    with pytest.raises(ValueError, match=r"odd\.jsonl.*expected a 'messages' column.*"
                                         r"found \['completion', 'prompt'\]"):
        loaders.load_sft_mixture([{"path": str(tmp_path / "odd.jsonl")}])
    with pytest.raises(ValueError, match="'filter': expected None or 'python', found 'rust'"):
        loaders.load_sft_mixture([{"path": str(FIXTURES / "opc_sft_sample.jsonl"),
                                   "filter": "rust"}])


def test_load_pretokenized_a_adds_chunks(pretok):
    fx = {n: load_tokenizer(FIXTURES / "tokenizers" / n) for n in ("student", "teacher_a")}
    ds = loaders.load_pretokenized(str(pretok / "pretok_llada2"), "A",
                                   student_tok=fx["student"], teacher_tok=fx["teacher_a"],
                                   teacher_max_length=1024)
    assert "chunks" in ds.column_names and len(ds) == 12
    for row in ds:
        assert row["chunks"]
        for s0, s1, t0, t1 in row["chunks"]:
            assert tok_bytes(fx["student"], row["input_ids"][s0:s1]) == \
                tok_bytes(fx["teacher_a"], row["teacher_input_ids"][t0:t1])
    with pytest.raises(ValueError, match="needs student_tok and teacher_tok"):
        loaders.load_pretokenized(str(pretok / "pretok_llada2"), "A")


def test_load_pretokenized_b_and_roundtrip(pretok, ds_a, tmp_path):
    ds = loaders.load_pretokenized(str(pretok / "pretok_wedlm"), "B")
    assert len(ds) == 12 and "align_student" in ds.column_names
    build.save_dataset(ds_a, tmp_path / "a")  # our own build already carries chunks
    again = loaders.load_pretokenized(str(tmp_path / "a"), "A")
    assert again["chunks"] == ds_a["chunks"]


def test_load_pretokenized_rejects_missing_column(pretok, tmp_path):
    import datasets

    ds = datasets.load_from_disk(str(pretok / "pretok_wedlm"))["train"]
    ds.remove_columns("align_teacher").save_to_disk(str(tmp_path / "broken"))
    with pytest.raises(ValueError) as err:
        loaders.load_pretokenized(str(tmp_path / "broken"), "B")
    msg = str(err.value)
    assert str(tmp_path / "broken") in msg and "'align_teacher'" in msg and "expected columns" in msg
    with pytest.raises(ValueError, match="missing column.*'ranges'"):
        loaders.load_pretokenized(str(pretok / "pretok_wedlm"), "A")


def test_heldout_benchmark_items_of_every_family_are_never_trained():
    """The tiny eval sets (tide.eval.tiny_data) are held-out items of the corpus's families:
    rendered as training conversations, none of their prompts is in the training corpus,
    and a HumanEval function is never trained as MBPP either (one partition for both)."""
    import random as _random

    from tide.data import tasks

    train = corpus.make_corpus(6000, 10, seed=7)["train"]
    train_users = {m[-2]["content"] for m in train}
    code_names = {re.search(r"def (\w+)", m[-1]["content"] + m[-2]["content"])[1]
                  for m in train if _family(m) in ("humaneval", "mbpp")}
    for fam in tasks.DRAWERS:
        items = tasks.distinct(fam, 40, seed=1234)
        assert len(items) >= 20, fam
        rng = _random.Random(0)
        assert not {tasks.CHATS[fam](it, rng)[-2]["content"] for it in items} & train_users, fam
        if fam in ("humaneval", "mbpp"):
            assert not {it["name"] for it in items} & code_names
