"""The whole tiny DAG, end to end, with Snakemake's local executor (slow: several minutes).

Checks that every expected output exists and parses, and that the numbers in it are the
kind the paper's structure implies (teachers beat the student on held-out bits/byte).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _snakemake(workdir: Path, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", HF_HUB_OFFLINE="1",
               HF_DATASETS_OFFLINE="1")
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(REPO / "config" / "tiny.yaml"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def test_paper_plan_dry_run_lists_both_pipelines(tmp_path):
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    res = subprocess.run([str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d",
                          str(tmp_path), "-n", "all", "--configfile",
                          str(REPO / "config" / "paper.yaml")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    for run in ("A/calm", "A/tide_cross", "A/tide_shared", "B/kl", "B/tide_shared", "B/tide_cross"):
        assert f"results/runs/{run}/run.json" in out
    assert "distill" in out and "evaluate" in out
    assert "train_teacher" in out  # the hub teachers are recorded, not trained


def test_bad_config_stops_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "config" / "tiny.yaml").read_text().replace("block_size: 32",
                                                                         "block_size: -1"))
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    res = subprocess.run([str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d",
                          str(tmp_path), "-n", "all", "--configfile", str(bad)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "field block_size" in out and "bad.yaml" in out
    assert not (tmp_path / "results" / "data").exists()


@pytest.mark.slow
def test_full_tiny_dag(tmp_path):
    res = _snakemake(tmp_path, "--cores", "2", "all")
    assert res.returncode == 0, (res.stdout + res.stderr)[-6000:]
    r = tmp_path / "results"

    # data: tokenizers + datasets, pipeline A with stored chunks
    toks = json.loads((r / "data/tokenizers/tokenizers.json").read_text())
    assert toks["student"]["mask_token_id"] != toks["teacher_b"]["mask_token_id"]
    from datasets import load_from_disk

    assert "chunks" in load_from_disk(str(r / "data/A/train")).column_names

    # models: teachers trained beside the SFT student, checked >= 20 % below it in bits/byte
    student_bpb = json.loads((r / "models/bd3lm.json").read_text())["heldout_bits_per_byte"]
    for p in ("A", "B"):
        t = json.loads((r / f"models/teacher_{p}.json").read_text())
        assert t["heldout_bits_per_byte"] <= 0.8 * student_bpb
        assert (r / f"models/teacher_{p}/config.json").exists()
        check = json.loads((r / f"models/teacher_{p}.check.json").read_text())
        assert check["ratio_to_student"] == t["heldout_bits_per_byte"] / student_bpb <= 0.8

    # distillation: six runs, every loss component logged, TIDAL runs log (t, p, λ, w)
    for p, run in [("B", "kl"), ("B", "tide_shared"), ("B", "tide_cross"),
                   ("A", "calm"), ("A", "tide_shared"), ("A", "tide_cross")]:
        d = r / "runs" / p / run
        summary = json.loads((d / "run.json").read_text())
        assert summary["train"]["steps"] > 0
        lines = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
        assert {"ce", "distill", "loss"} <= set(lines[-1])
        assert ("tidal" in lines[-1]) == (run == "tide_shared")
        assert (d / "model/config.json").exists()

    # evaluation: lm-eval output + score per (model, benchmark), one tidy CSV
    from tide.config import load_config

    cfg = load_config(REPO / "config" / "tiny.yaml")
    # the teacher-free controls are held-out only (eval.score_controls: false)
    mains = ["ar", "bd3lm"] + [x.model_id for x in cfg.runs()
                               if not x.is_ablation and not x.objective.startswith("ce_only")]
    ablations = [x.model_id for x in cfg.runs() if x.is_ablation]
    benches, abl_benches = cfg["eval"]["benchmarks"], cfg["eval"]["ablation_benchmarks"]
    scores = pd.read_csv(r / "scores.csv")
    assert len(scores) == len(mains) * len(benches) + len(ablations) * len(abl_benches)
    assert scores["value"].between(0, 100).all()
    assert "model" not in scores.columns  # ids only: labels are the report's business
    for model_id, bench in zip(scores["model_id"], scores["benchmark"]):
        results = json.loads((r / "eval" / model_id / bench / "results.json").read_text())
        assert results["results"]
    for model_id in ablations:  # every ablation has its table rows
        rows = pd.read_csv(r / "ablations" / f"{model_id}.csv")
        assert len(rows) == len(abl_benches) and rows["differs"].iloc[0] != "{}"

    # report: the main table in the paper's layout + the heatmap
    table = (tmp_path / "reports/main_table.md").read_text()
    assert "Pipeline B" in table and "Pipeline A" in table and "GSM8K" in table
    assert (tmp_path / "reports/lambda_heatmap.png").stat().st_size > 10_000

    # held-out table: every student (seed repeats of the main runs), the controls, the teachers
    held = pd.read_csv(tmp_path / "reports/heldout_table.csv").set_index("model_id")
    students = ["bd3lm"] + [x.model_id for x in cfg.runs()]
    assert set(students + ["teacher_A", "teacher_B"]) <= set(held.index)
    assert (held["bpb_lo"] <= held["bpb"]).all() and (held["bpb"] <= held["bpb_hi"]).all()
    for p in ("A", "B"):  # each run against its own teacher, the BD3LM start against both
        own = ["bd3lm"] + [x.model_id for x in cfg.runs() if x.pipeline == p]
        assert held.loc[own, f"kl_{p}"].notna().all()
    seeds = cfg["distill"]["seeds"]
    for run in cfg.runs(ablations=False):
        assert held.loc[run.model_id, "seeds"] == seeds
        if not run.objective.startswith("ce_only"):
            assert pd.notna(held.loc[run.model_id, "d_control"])
    assert "control (CE only)" in (tmp_path / "reports/heldout_table.md").read_text()

    # nothing left to do: the DAG is complete and consistent
    again = _snakemake(tmp_path, "-n", "all")
    assert "Nothing to be done" in again.stdout + again.stderr

    # changing one ablation's parameters re-runs only that ablation downstream
    changed = tmp_path / "changed.yaml"
    changed.write_text((REPO / "config" / "tiny.yaml").read_text().replace(
        "compdemo: true, rho: 0.3}", "compdemo: true, rho: 0.35}"))
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    plan = subprocess.run([str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d",
                           str(tmp_path), "-n", "all", "--configfile", str(changed)],
                          capture_output=True, text=True, env=env, timeout=300)
    jobs = _job_counts(plan.stdout + plan.stderr)
    assert jobs.get("distill") == 1 and jobs.get("eval_model_ablation") == 1, jobs
    assert jobs.get("ablation_rows") == 1 and "train_teacher" not in jobs, jobs
    assert "runs/A/compdemo_rho_0_3/run.json" in plan.stdout + plan.stderr


def _job_counts(out: str) -> dict:
    """Parse Snakemake's 'Job stats' table into {rule: count}."""
    counts, table = {}, False
    for line in out.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            table = True
        elif table and len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
        elif table and parts[:1] == ["total"]:
            break
    return counts


def test_one_ablation_target_schedules_only_its_chain(tmp_path):
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    res = subprocess.run([str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d",
                          str(tmp_path), "-n", "ablation_B_growth_linear", "--configfile",
                          str(REPO / "config" / "tiny.yaml")],
                         capture_output=True, text=True, env=env, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    jobs = _job_counts(out)
    assert jobs["distill"] == 1 and "runs/B/growth_linear/run.json" in out
    assert jobs["eval_model_ablation"] == 1 and jobs["ablation_rows"] == 1
    assert jobs["train_teacher"] == 1 and "teacher_A" not in out  # only pipeline B's chain
    assert "report" not in jobs and "scores" not in jobs


def test_tiny_default_evaluates_per_model_and_the_paper_per_shard(tmp_path):
    """eval.per_model: the tiny default has one evaluation job per model (all its benchmarks),
    none per (model, benchmark) or shard, and none for the teacher-free controls (held-out
    only); config/paper.yaml keeps the staged rules and has no per-model job."""
    from tide.config import load_config

    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")

    def dry(config, *targets):
        res = subprocess.run([str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d",
                              str(tmp_path), "-n", "-p", "--configfile",
                              str(REPO / "config" / config), "--", *targets],
                             capture_output=True, text=True, env=env, timeout=300)
        assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
        return res.stdout + res.stderr

    out = dry("tiny.yaml", "all")
    jobs = _job_counts(out)
    cfg = load_config(REPO / "config" / "tiny.yaml")
    runs = cfg.runs()
    scored = ["ar", "bd3lm"] + [r.model_id for r in runs if not r.is_ablation
                                and not r.objective.startswith("ce_only")]
    assert jobs["eval_model"] == len(scored)
    assert jobs["eval_model_ablation"] == len([r for r in runs if r.is_ablation])
    assert not {"eval_generate", "eval_merge", "evaluate"} & set(jobs), jobs
    evaluated = set(re.findall(r"log: results/logs/eval_model/(\w+)\.log", out))
    assert evaluated >= set(scored) and not {m for m in evaluated if m.endswith("_control")}
    benches = " ".join(cfg["eval"]["benchmarks"])
    assert f"eval-model --model-id bd3lm --benchmarks {benches}" in out
    # held-out: every run (controls included; a main run with its seed repeats in one job), the
    # BD3LM start and both teachers
    assert jobs["heldout"] + jobs["heldout_repeats"] == len(runs) + 3

    paper = _job_counts(dry("paper.yaml", "all"))
    assert {"eval_generate", "eval_merge", "evaluate"} <= set(paper)
    assert not {"eval_model", "eval_model_ablation"} & set(paper)
