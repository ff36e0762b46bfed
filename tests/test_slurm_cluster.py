"""The workflow on a real single-node SLURM cluster (started by `.ci/slurm_up.sh`).

Marked ``slurm``: part of `make test`. Without a reachable cluster these tests FAIL (they
never skip, never fall back to the local executor). What they run, from the repo root,
through the shipped profile (`--profile slurm`) and the SLURM executor plugin:

1. one named ablation chain: data -> AR -> BD3LM SFT -> teacher -> distill (2 ranks, gloo,
   CPU) -> eval on two benchmarks -> its table rows; every job through sbatch, COMPLETED;
   each distill rank's log shows one run of world size 2, ranks {0, 1}, rank 0 alone
   writing outputs;
2. preemption: `scancel --signal=USR1` to a running 2-rank distill job; its log shows a
   checkpoint at the signal, the job's retry (profile `retries`) resumes at that step > 0
   and the workflow ends successfully;
3. `tide submit` (submitit) runs one more distillation as a 2-rank SLURM job through the
   same code path.

CI passes `--slurm-status-command squeue` (no accounting daemon; environment notes) and a
short first status check on the command line; the shipped profile stays a real cluster's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHAIN = "ablation_B_growth_linear"
CHAIN_MODEL = "B_growth_linear"
PREEMPTED = "kl"  # the B run the preemption test signals
SUBMITTED = "tide_cross"  # the B run `tide submit` runs


def _env() -> dict:
    return dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", HF_HUB_OFFLINE="1",
                HF_DATASETS_OFFLINE="1", TIDE_SLURM_PARTITION="debug",
                TIDE_SLURM_ACCOUNT="ci")


def _cluster_up() -> None:
    if shutil.which("sinfo") is None:
        pytest.fail("SLURM is not installed (no `sinfo`): run .ci/run, or apt-get install "
                    "slurm-wlm munge and bash .ci/slurm_up.sh", pytrace=False)
    res = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if res.returncode != 0 or not re.search(r"idle|mixed|allocated", res.stdout):
        pytest.fail(f"no SLURM node is up (sinfo: {res.stdout.strip()} {res.stderr.strip()}); "
                    "start it with `bash .ci/slurm_up.sh`", pytrace=False)


def _config(workdir: Path) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    cfg["resources"]["distill"].update(tasks=2, threads=1)
    cfg["eval"]["ablation_benchmarks"] = ["mmlu", "gsm8k"]  # two benchmarks in the chain
    cfg["eval"]["limit"] = 8
    cfg["eval"]["per_model"] = False  # the cluster path: generate / merge / score per shard
    # long enough to be signalled part-way
    cfg["distill"]["runs"]["B"][PREEMPTED]["steps"] = 400
    path = workdir / "slurm_ci.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _snakemake_cmd(workdir: Path, target: str) -> list[str]:
    # the target comes before --configfile (which takes several values)
    return [str(BIN / "snakemake"), "--profile", "slurm", target, "-d", str(workdir),
            "--configfile", str(workdir / "slurm_ci.yaml"), "--jobs", "2",
            "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "5",
            "--latency-wait", "10"]


def _jobs() -> list[dict]:
    """Every job slurmctld still knows (MinJobAge=3600 in .ci/slurm_up.sh keeps finished ones)."""
    out = subprocess.run(["squeue", "-h", "--states=all", "-o", "%i|%T|%k"],
                         capture_output=True, text=True, check=True).stdout
    return [dict(zip(("id", "state", "comment"), line.split("|", 2)))
            for line in out.splitlines() if line.strip()]


def _rank_logs(workdir: Path, run: str) -> dict[int, str]:
    logs = {}
    for r in (0, 1):
        p = workdir / "results" / "logs" / "distill" / f"B_{run}.rank{r}.log"
        logs[r] = p.read_text() if p.exists() else ""
    return logs


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    _cluster_up()
    workdir = tmp_path_factory.mktemp("slurm")
    _config(workdir)
    before = {j["id"] for j in _jobs()}
    t0 = time.time()
    res = subprocess.run(_snakemake_cmd(workdir, CHAIN), cwd=REPO, env=_env(),
                         capture_output=True, text=True, timeout=1800)
    wall = time.time() - t0
    print(f"\n[slurm] chain {CHAIN}: {wall:.0f} s")
    assert res.returncode == 0, (res.stdout + res.stderr)[-8000:]
    jobs = [j for j in _jobs() if j["id"] not in before]
    return workdir, res, jobs


def test_chain_jobs_went_through_sbatch_and_completed(chain):
    workdir, res, jobs = chain
    rules = {re.sub(r"^rule_([a-z_]+?)(_wildcards_.*)?$", r"\1", j["comment"]) for j in jobs}
    for rule in ("corpus", "tokenizers", "train_ar", "sft_student", "train_teacher", "distill",
                 "evaluate", "ablation_rows"):
        assert rule in rules, f"no SLURM job for rule {rule}: {sorted(rules)}"
    assert all(j["state"] == "COMPLETED" for j in jobs), jobs
    # the two benchmarks of the chain were scored, and only this ablation was distilled
    for bench in ("mmlu", "gsm8k"):
        assert (workdir / "results" / "eval" / CHAIN_MODEL / bench / "score.json").exists()
    assert (workdir / "results" / "ablations" / f"{CHAIN_MODEL}.csv").exists()
    assert sorted(p.name for p in (workdir / "results" / "runs" / "B").iterdir()) == ["growth_linear"]
    # one SLURM log per job, named by rule and wildcards
    slurm_logs = list((workdir / "results" / "logs" / "slurm").rglob("*.log"))
    assert any("rule_distill" in str(p) for p in slurm_logs), slurm_logs


def test_distill_ran_once_with_world_size_two_and_rank_zero_wrote(chain):
    workdir, _, _ = chain
    logs = _rank_logs(workdir, "growth_linear")
    for rank, text in logs.items():
        runs = re.findall(r"distributed: rank (\d) of world size (\d)", text)
        assert runs == [(str(rank), "2")], f"rank {rank} log: {runs}\n{text[-2000:]}"
        assert "via slurm" in text  # rendezvous from SLURM's variables (submitit)
    assert "rank 0 of 2: wrote outputs" in logs[0]
    assert "wrote outputs" not in logs[1] and "written by rank 0 only" in logs[1]


def test_preempted_distill_job_resumes_from_its_checkpoint(chain):
    workdir, _, _ = chain
    proc = subprocess.Popen(_snakemake_cmd(workdir, f"results/runs/B/{PREEMPTED}/run.json"),
                            cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    job_id, deadline = None, time.time() + 600
    try:
        while time.time() < deadline and proc.poll() is None:
            text = _rank_logs(workdir, PREEMPTED)[0]
            running = [j for j in _jobs() if j["state"] == "RUNNING"
                       and f"rule_distill_wildcards_B_{PREEMPTED}" in j["comment"]]
            if running and re.search(r"step (\d+)/400", text):
                job_id = running[0]["id"]
                subprocess.run(["scancel", "--signal=USR1", job_id], check=True)
                break
            time.sleep(0.5)
        out, _ = proc.communicate(timeout=1200)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert job_id is not None, "the distill job was never seen running"
    assert proc.returncode == 0, out[-8000:]
    text = _rank_logs(workdir, PREEMPTED)[0]
    assert "received signal" in text, text[-3000:]
    after = text[text.index("received signal"):]
    stopped = re.search(r"checkpoint written at step (\d+)", after)
    resumed = re.search(r"resuming from step (\d+)", after)
    assert stopped and resumed, after[-3000:]
    assert int(resumed.group(1)) == int(stopped.group(1)) > 0
    states = {j["id"]: j["state"] for j in _jobs()}
    assert states[job_id] != "COMPLETED"  # the signalled attempt ended with exit 124
    print(f"\n[slurm] preempted at step {stopped.group(1)}, resumed there")


def test_tide_submit_runs_a_two_rank_job(chain):
    workdir, _, _ = chain
    res = subprocess.run([str(BIN / "tide"), "--config", "results/config.resolved.yaml", "submit",
                          "--pipeline", "B", "--run", SUBMITTED, "--tasks", "2", "--mem-gb", "4",
                          "--time-min", "20", "--wait"], cwd=workdir, env=_env(),
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, (res.stdout + res.stderr)[-6000:]
    assert (workdir / "results" / "runs" / "B" / SUBMITTED / "run.json").exists()
    logs = {r: (workdir / "results" / "logs" / "submitit" / f"B_{SUBMITTED}.rank{r}.log").read_text()
            for r in (0, 1)}
    assert "rank 0 of world size 2" in logs[0] and "rank 1 of world size 2" in logs[1]
