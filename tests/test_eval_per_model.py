"""eval.per_model (the tiny default): one process per model writes the staged path's files.

One tiny random BD3LM student, the tiny default's evaluation settings (items written by
``tide eval-data``'s stage, the paper's protocol per benchmark, a sharded benchmark). The
per-model job runs as the workflow runs it (``tide eval-model``, its own process, the
benchmarks in the rule's order); the staged path runs stage by stage (generate every shard,
merge, score) in this process, benchmarks in the reverse order, so any state one
benchmark's evaluation left behind for the next would show as a difference. Real lm-eval,
real task YAMLs, no mocks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import lm_eval  # noqa: F401  (required: a missing lm-eval fails, never skips)

from test_sampler import make_student, make_tokenizer  # noqa: E402
from tide import paths  # noqa: E402
from tide.config import validate_dict  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = ["hellaswag", "mmlu"]  # short answers (3 tokens): seconds, not minutes


def _config(tmp_path: Path):
    raw = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    assert raw["eval"]["per_model"] is True  # the tiny default takes this path
    raw["eval"].update(benchmarks=BENCHMARKS, ablation_benchmarks=["mmlu"], limit=3,
                       shards={"mmlu": 2})  # a sharded benchmark: every shard in one job
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return validate_dict(raw, str(path)), path


def _results(tmp_path: Path, name: str, cfg, student: Path) -> Path:
    from tide.io import atomic_write_json
    from tide.stages import eval_data

    root = tmp_path / name
    atomic_write_json(paths.model_metrics("bd3lm", root), {"path": str(student)})
    for b in BENCHMARKS:
        eval_data(cfg, b, root)
    return root


def _comparable(score: dict, root: Path) -> dict:
    """score.json without what names its own run (time, host, the store's directory)."""
    text = json.dumps({k: v for k, v in score.items() if k != "provenance"}, sort_keys=True)
    return json.loads(text.replace(str(root.resolve()), "<root>").replace(str(root), "<root>"))


def test_per_model_job_writes_the_staged_paths_scores(tmp_path):
    from tide.stages import eval_generate, eval_merge, eval_score

    cfg, cfg_file = _config(tmp_path)
    tok = make_tokenizer()
    student = tmp_path / "student"
    make_student(tok, block_size=8).save_pretrained(student)
    tok.save_pretrained(student)
    staged_root = _results(tmp_path, "staged", cfg, student)
    per_model_root = _results(tmp_path, "per_model", cfg, student)

    for b in reversed(BENCHMARKS):  # the staged rules, one stage at a time
        n = 2 if b == "mmlu" else 1
        for k in range(n):
            eval_generate(cfg, "bd3lm", b, f"{k}/{n}", staged_root)
        eval_merge("bd3lm", b, [paths.eval_shard_done("bd3lm", b, k, n, staged_root)
                                for k in range(n)], staged_root)
        eval_score(cfg, "bd3lm", b, staged_root)

    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-m", "tide.cli", "--config", str(cfg_file), "--root",
                          str(per_model_root), "eval-model", "--model-id", "bd3lm",
                          "--benchmarks", *BENCHMARKS],
                         capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]

    for b in BENCHMARKS:
        staged = json.loads(paths.eval_score("bd3lm", b, staged_root).read_text())
        per_model = json.loads(paths.eval_score("bd3lm", b, per_model_root).read_text())
        assert staged["n"] == per_model["n"] > 0
        assert _comparable(per_model, per_model_root) == _comparable(staged, staged_root)
        # the same answers, document by document, and the same generation files
        for name in ("samples.jsonl",):
            assert ((paths.eval_dir("bd3lm", b, per_model_root) / name).read_text()
                    == (paths.eval_dir("bd3lm", b, staged_root) / name).read_text())
        gen = sorted(p.name for p in paths.eval_gen_dir("bd3lm", b, per_model_root).iterdir())
        assert gen == sorted(p.name for p in paths.eval_gen_dir("bd3lm", b, staged_root).iterdir())
    assert per_model["generation"]["shards"] == 2  # mmlu: both shards generated in the job


def test_per_model_job_refuses_a_benchmark_outside_the_config(tmp_path):
    from tide.stages import eval_model

    cfg, _ = _config(tmp_path)
    with pytest.raises(ValueError,
                       match=r"eval-model bd3lm: benchmarks \['gsm9k'\] are in neither"):
        eval_model(cfg, "bd3lm", ["mmlu", "gsm9k"], tmp_path / "r")
