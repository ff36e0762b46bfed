"""Evaluation as generate (sharded, resumable) → merge → score (issue 14).

A tiny random BD3LM student on local JSON-lines items in the real schemas. The staged
result must equal the one-shot ``run.evaluate`` (same samples, same scores); a generation
killed by a real signal resumes without regenerating what it stored; scoring needs no
weights; the command recorded in score.json reproduces the score through lm-eval's CLI.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest

import lm_eval  # noqa: F401  (required: a missing lm-eval fails, never skips)

from test_eval import GSM8K_DOCS, _write_jsonl, gsm8k_rows  # noqa: E402
from test_sampler import make_student, make_tokenizer  # noqa: E402
from tide.eval import run, staged  # noqa: E402
from tide.eval.store import (check_progress, mark_finished, merge_shards,  # noqa: E402
                             read_records)

ARGS = {"max_new_tokens": 8, "steps": 8}


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    tok = make_tokenizer()
    d = tmp_path_factory.mktemp("student")
    make_student(tok, block_size=8).save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def gsm8k(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    return _write_jsonl(d / "gsm8k.jsonl", gsm8k_rows())


def _samples(out_dir):
    return [json.loads(x) for x in (out_dir / "samples.jsonl").read_text().splitlines()]


def _staged(student_dir, benchmark, data, tmp_path, shards, **kw):
    gen = tmp_path / "gen"
    dones = []
    for k in range(shards):
        staged.generate_shard({"pretrained": str(student_dir), **ARGS}, benchmark, gen,
                              f"{k}/{shards}", data_files=data, **kw)
        dones.append(gen / f"shard-{k}-of-{shards}.done.json")
    merge_shards(dones, gen / "generations.jsonl")
    return staged.score(gen / "generations.jsonl", tmp_path / "scored", data_files=data)


def _comparable(score):
    return {k: v for k, v in score.items() if k not in ("provenance", "command", "generation", "batch_size")}


@pytest.mark.parametrize("benchmark", ["gsm8k", "bbh"])
def test_sharded_equals_unsharded(student_dir, gsm8k, tmp_path, benchmark):
    """3 shards + merge + score == the one-shot run: same sample rows, same score, same
    interval. BBH: a 3-shot group, so few-shot prompts must not depend on the shard."""
    if benchmark == "bbh":
        from tide.eval import tiny_data

        data = tmp_path / "bbh"
        data.mkdir()
        for task, rows in tiny_data.tiny_items("bbh", 3, 0).items():
            _write_jsonl(data / f"{task}.jsonl", rows)
    else:
        data = gsm8k
    one = run.evaluate({"pretrained": str(student_dir), **ARGS}, benchmark, tmp_path / "one",
                       data_files=data, batch_size=2)
    three = _staged(student_dir, benchmark, data, tmp_path, 3, batch_size=3)
    assert _samples(tmp_path / "one") == _samples(tmp_path / "scored")
    assert _comparable(one) == _comparable(three)
    assert three["generation"]["shards"] == 3 and three["n"] == one["n"] >= 4
    assert len(three["ci95"]) == 2 and three["ci95"][0] <= three["value"] <= three["ci95"][1]
    recs = read_records(tmp_path / "gen" / "generations.jsonl")  # raw tokens + scored text
    assert len(recs) == three["n"] and all(isinstance(r["token_ids"], list) for r in recs)
    assert all(isinstance(r["raw_text"], str) for r in recs)


def test_rescoring_needs_no_weights_and_names_missing_requests(student_dir, gsm8k, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(student_dir, model)
    first = _staged(model, "gsm8k", gsm8k, tmp_path, 2)
    for f in model.glob("*.safetensors"):
        f.unlink()  # scoring must never load (or regenerate with) the weights
    again = staged.score(tmp_path / "gen" / "generations.jsonl", tmp_path / "re", data_files=gsm8k)
    assert _comparable(again) == _comparable(first)
    # a store lacking a request: the scorer says which one instead of scoring a hole
    store = tmp_path / "gen" / "generations.jsonl"
    lines = store.read_text().splitlines()
    store.write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(RuntimeError, match=r"1 of 8 requests have no stored generation"):
        staged.score(store, tmp_path / "re2", data_files=gsm8k)


GEN_SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.INFO)
from tide.eval.staged import generate_shard
generate_shard({{"pretrained": {model!r}, "max_new_tokens": 32, "steps": 32}}, "gsm8k",
               {gen!r}, "0/1", data_files={data!r}, batch_size=1)
"""


def _start(student_dir, data, gen):
    code = GEN_SCRIPT.format(model=str(student_dir), gen=str(gen), data=str(data))
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=os.environ.copy())


def _wait_records(store, n, proc, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if len(read_records(store)) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"generation ended before {n} records: {proc.stdout.read()[-2000:]}")
        time.sleep(0.05)
    pytest.fail(f"no {n} records in {store} after {timeout}s")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGUSR1])
def test_killed_generation_resumes_with_identical_samples(student_dir, tmp_path, sig):
    """A real subprocess is signalled part-way (SIGKILL: nothing graceful; SIGUSR1: SLURM's
    warning, exit 124 after the batch). The resumed run reuses what was stored, generates
    only the rest, and the scored samples equal an uninterrupted run's."""
    rows = gsm8k_rows() * 3  # 24 documents (repeats are distinct documents to lm-eval)
    data = _write_jsonl(tmp_path / "gsm8k.jsonl", [{**r, "question": f"{i}. {r['question']}"}
                                                    for i, r in enumerate(rows)])
    gen = tmp_path / "gen"
    store = gen / "shard-0-of-1.jsonl"
    proc = _start(student_dir, data, gen)
    _wait_records(store, 3, proc)
    proc.send_signal(sig)
    rc = proc.wait(timeout=120)
    log = proc.stdout.read()
    assert rc == (124 if sig == signal.SIGUSR1 else -signal.SIGKILL), log[-2000:]
    kept = len(read_records(store))
    assert 3 <= kept < len(rows)
    assert not (gen / "shard-0-of-1.done.json").exists()
    proc = _start(student_dir, data, gen)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    assert f"{kept} reused" in out  # the log says how many requests were reused
    done = json.loads((gen / "shard-0-of-1.done.json").read_text())
    assert done["reused"] == kept and done["generated"] == len(rows) - kept
    merge_shards([gen / "shard-0-of-1.done.json"], gen / "generations.jsonl")
    staged.score(gen / "generations.jsonl", tmp_path / "resumed", data_files=data)
    ref = tmp_path / "ref"
    staged.generate_shard({"pretrained": str(student_dir), "max_new_tokens": 32, "steps": 32},
                          "gsm8k", ref, "0/1", data_files=data, batch_size=4)
    merge_shards([ref / "shard-0-of-1.done.json"], ref / "generations.jsonl")
    staged.score(ref / "generations.jsonl", tmp_path / "uninterrupted", data_files=data)
    assert _samples(tmp_path / "resumed") == _samples(tmp_path / "uninterrupted")


def test_retry_without_progress_fails_loudly(tmp_path):
    store = tmp_path / "shard-0-of-1.jsonl"
    check_progress(store, "id1", 0, 10)  # first attempt
    check_progress(store, "id1", 4, 6)  # the retry after 4 were stored: progress
    with pytest.raises(RuntimeError, match="previous attempt generated nothing"):
        check_progress(store, "id1", 4, 6)
    check_progress(tmp_path / "other.jsonl", "id1", 10, 0)  # nothing left: never an error
    # a finished run, then a new checkpoint (another identity) starting from zero: no retry
    mark_finished(store, "id1")
    check_progress(store, "id2", 0, 10)
    check_progress(store, "id1", 10, 0)


def test_changed_weights_regenerate(student_dir, gsm8k, tmp_path):
    """Stored generations are keyed by the weights fingerprint: another checkpoint in the
    same store directory regenerates everything (lm-eval's request-only cache would not)."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(student_dir, model)
    a = staged.generate_shard({"pretrained": str(model), **ARGS}, "gsm8k", tmp_path / "g", "0/1",
                              data_files=gsm8k)
    b = staged.generate_shard({"pretrained": str(model), **ARGS}, "gsm8k", tmp_path / "g", "0/1",
                              data_files=gsm8k)
    assert (a["generated"], b["reused"], b["generated"]) == (8, 8, 0)
    make_student(make_tokenizer(), seed=1, block_size=8).save_pretrained(model)
    c = staged.generate_shard({"pretrained": str(model), **ARGS}, "gsm8k", tmp_path / "g", "0/1",
                              data_files=gsm8k)
    assert (c["reused"], c["generated"]) == (0, 8) and c["identity_hash"] != a["identity_hash"]
    assert len(list((tmp_path / "g").glob("shard-0-of-1.jsonl.set-aside-*"))) == 1  # kept
    assert len(read_records(tmp_path / "g" / "shard-0-of-1.jsonl")) == 8  # only the new ones
    make_student(make_tokenizer(), seed=0, block_size=8).save_pretrained(model)  # back to a
    d = staged.generate_shard({"pretrained": str(model), **ARGS}, "gsm8k", tmp_path / "g", "0/1",
                              data_files=gsm8k)  # a finished identity again: a re-run, no error
    assert d["identity_hash"] == a["identity_hash"] and d["generated"] == 8


def test_recorded_command_reproduces_the_score(student_dir, gsm8k, tmp_path):
    """score.json's command, run as recorded (lm-eval's own CLI with tide_bd3lm registered),
    gives the same score. Plain `lm_eval --model tide_bd3lm` could not even load the model."""
    score = run.evaluate({"pretrained": str(student_dir), **ARGS}, "gsm8k", tmp_path / "e",
                         data_files=gsm8k, limit=3, batch_size=2)
    cmd = shlex.split(score["command"])
    assert cmd[:3] == ["python", "-m", "tide.eval.cli"] and "--include_path" in cmd
    assert "--confirm_run_unsafe_code" not in cmd  # only where code runs
    out = tmp_path / "cli"
    proc = subprocess.run([sys.executable, *cmd[1:], "--output_path", str(out)],
                          capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(next(out.rglob("results_*.json")).read_text())
    assert 100 * res["results"]["tide_gsm8k_cot"]["exact_match,strict-match"] == score["value"]
    assert len(GSM8K_DOCS) == 8


def test_tide_lm_eval_entry_passes_flags_through():
    """`tide lm-eval -- --help`-style pass-through: lm-eval's own parser answers."""
    proc = subprocess.run([sys.executable, "-m", "tide.cli", "lm-eval", "--", "ls", "--help"],
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert proc.returncode == 0 and "lm-eval ls" in (proc.stdout + proc.stderr)


def test_hf_ar_baseline_staged_equals_unsharded(tmp_path):
    """The AR baseline (lm-eval's own `hf` model) through the same three stages."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from test_eval import mmlu_rows

    tok = make_tokenizer()
    torch.manual_seed(0)
    ar = Qwen3ForCausalLM(Qwen3Config(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=1024,
        tie_word_embeddings=True, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
        bos_token_id=None))
    d = tmp_path / "ar"
    ar.save_pretrained(d)
    tok.save_pretrained(d)
    data = _write_jsonl(tmp_path / "mmlu.jsonl", mmlu_rows())
    one = run.evaluate({"pretrained": str(d)}, "mmlu", tmp_path / "one", model="hf",
                       data_files=data, batch_size=2)
    gen = tmp_path / "gen"
    for k in range(2):
        staged.generate_shard({"pretrained": str(d)}, "mmlu", gen, f"{k}/2", data_files=data,
                              model="hf", batch_size=3)
    merge_shards([gen / f"shard-{k}-of-2.done.json" for k in range(2)],
                        gen / "generations.jsonl")
    two = staged.score(gen / "generations.jsonl", tmp_path / "scored", data_files=data)
    assert _samples(tmp_path / "one") == _samples(tmp_path / "scored")
    assert _comparable(one) == _comparable(two)
