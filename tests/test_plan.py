"""Shard counts and the plan's GPU-hour estimate (tide/plan.py, issue 14)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from checkout import workflow_root

from tide.config import load_config
from tide.plan import FILL, eval_seconds, eval_shards, plan_text

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def paper():
    return load_config(REPO / "config" / "paper.yaml")


def test_paper_shards_fit_the_generation_runtime(paper):
    """MMLU-Pro: 12,032 × 256 tokens at 41 tokens/s = 20.9 h; a 600-min job fills 8 h at
    most, so 3 shards of 7.0 h each; GSM8K (2.3 h) needs one."""
    assert eval_seconds(paper, "mmlu_pro") == pytest.approx(12032 * 256 / 41)
    assert eval_shards(paper, "mmlu_pro") == 3 and eval_shards(paper, "gsm8k") == 1
    limit_s = paper.resources("eval_generate")["runtime"] * 60
    for bench in paper["eval"]["benchmarks"]:
        assert eval_seconds(paper, bench) / eval_shards(paper, bench) <= FILL * limit_s


def test_explicit_shards_and_training_figures(paper):
    raw = dict(paper.raw)
    raw["eval"] = {**raw["eval"], "shards": {"gsm8k": 5}}
    raw["throughput"] = {"distill_seconds_per_step": 2.0, "distill_steps_per_epoch": {"A": 100,
                                                                                     "B": 50}}
    from tide.config import validate_dict

    cfg = validate_dict(raw, source="test")
    assert eval_shards(cfg, "gsm8k") == 5 and eval_shards(cfg, "mmlu_pro") == 3
    text = plan_text(cfg)
    distill = next(line for line in text.splitlines() if line.startswith("distill"))
    assert "unknown" not in distill  # 10 epochs × 100 steps × 2 s = 0.56 h per A run
    assert "unknown" in next(line for line in plan_text(paper).splitlines()
                             if line.startswith("distill"))  # never a made-up zero


def test_dry_run_lists_shard_jobs_that_fit(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    res = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "-n", "released",
                          "--configfile", "config/paper.yaml"], cwd=workflow_root(tmp_path),
                         capture_output=True,
                         text=True, env=env, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "shard-2-of-3.done.json" in out and "released_A_calm/mmlu_pro" in out
    table = out[out.index("Estimated GPU-hours"):]
    rows = [line for line in table.splitlines() if line.startswith("eval_generate[")]
    assert len(rows) == 8 and all(" yes " in r for r in rows), rows


def test_plan_refreshes_throughput_from_tide_bench(paper, tmp_path):
    """`tide plan --use-bench` takes the student's tokens/s from tide bench's result."""
    import json
    import shutil

    (tmp_path / "bench").mkdir()
    shutil.copy(REPO / "benchmarks" / "cpu" / "generation.json", tmp_path / "bench")
    rate = next(r["tokens_per_s"] for r in json.loads(
        (tmp_path / "bench" / "generation.json").read_text())["rows"] if r["model"] == "student")
    text = plan_text(paper, tmp_path, use_bench=True)
    assert f"{rate:.1f} tokens/s" in text and "used here" in text
    assert f"generation at {rate} tokens/s" in text
    assert "generation at 41 tokens/s" in plan_text(paper, tmp_path)  # the config's figure
