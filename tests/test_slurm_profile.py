"""The literal cluster command resolves from the repo root, with resources from the config.

The commands run in a directory that stands in for the checkout (tests/checkout.py): the
checkout's own results/ (say, after `make demo`) is neither read nor written.
"""

import os
import subprocess
import sys
from pathlib import Path

from checkout import REPO, workflow_root

BIN = Path(sys.executable).parent
CLUSTER = {"TIDE_SLURM_PARTITION": "gpu", "TIDE_SLURM_ACCOUNT": "proj"}


def _run(root, args, env_extra=None, drop=()):
    """``snakemake ARGS`` from ``root`` as a user types it in the repository root."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(PATH=f"{BIN}:{os.environ['PATH']}", **(env_extra or {}))
    return subprocess.run([str(BIN / "snakemake"), *args], cwd=root, capture_output=True,
                          text=True, env=env, timeout=300)


def _literal_dry_run(root):
    res = _run(root, ["--profile", "slurm", "-n", "all"], env_extra=CLUSTER)
    return res.returncode, res.stdout + res.stderr


def test_literal_profile_command_dry_runs_from_repo_root(tmp_path):
    code, out = _literal_dry_run(workflow_root(tmp_path))
    assert code == 0, out[-3000:]
    assert "rule distill" in out and "rule eval_model" in out  # tiny default: eval.per_model


def _complete_results(root):
    """Every output of the tiny DAG present and up to date, as `make demo` leaves them:
    files and directories made empty, then `--touch` puts their times in DAG order."""
    summary = _run(root, ["-c1", "--summary", "all"])
    assert summary.returncode == 0, summary.stderr[-3000:]
    outputs = [line.split("\t")[0] for line in summary.stdout.splitlines()[1:] if line]
    for name in outputs:
        p = root / name
        if p.suffix:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.touch()
        else:  # the directory() outputs (tokenizers, datasets, eval data) have no suffix
            p.mkdir(parents=True, exist_ok=True)
    touched = _run(root, ["-c1", "--touch", "all"])
    assert touched.returncode == 0, touched.stderr[-3000:]


def test_dry_run_ignores_a_demo_results_tree_in_the_checkout(tmp_path):
    """`make demo` then `make test`: the checkout holds a complete results/ tree."""
    demo = workflow_root(tmp_path / "checkout")
    _complete_results(demo)
    code, out = _literal_dry_run(demo)
    assert code == 0 and "Nothing to be done" in out, out[-3000:]  # what a test run there sees
    code, out = _literal_dry_run(workflow_root(tmp_path / "fresh", checkout=demo))
    assert code == 0, out[-3000:]
    assert "rule distill" in out and "rule eval_model" in out


def test_paper_resources_reach_the_distill_jobs(tmp_path):
    res = _run(workflow_root(tmp_path),
               ["--profile", "slurm", "-n", "-p", "all", "--configfile", "config/paper.yaml"],
               env_extra=CLUSTER)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    block = out[out.index("rule distill:"):][:1500]
    # 8 GPUs as 8 ranks: tasks_per_gpu stated (else the plugin would pass --ntasks-per-gpu=8,
    # its issues 316/459), `mpi` so the ranks start with one srun in the batch step, and
    # SLURM's warning signal before the time limit
    assert "gpu=8" in block and "tasks=8" in block and "runtime=2880" in block
    assert "tasks_per_gpu=1" in block and "mpi=srun" in block
    assert "--signal=USR1@" in block
    gen = out[out.index("rule eval_generate:"):][:1500]  # generation: one GPU per shard job,
    assert "gpu=1" in gen and "mpi" not in gen  # SLURM's warning signal (store + exit 124)
    assert "--signal=USR1@" in gen
    ev = out[out.index("rule evaluate:"):][:1500]  # scoring: CPU only
    assert "gpu=" not in ev.split("resources:")[1].split("\n")[0]


def test_missing_partition_fails_before_submission(tmp_path):
    res = _run(workflow_root(tmp_path), ["--profile", "slurm", "ablation_B_growth_linear", "-j", "1"],
               drop=("TIDE_SLURM_PARTITION", "TIDE_SLURM_ACCOUNT"))
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "TIDE_SLURM_PARTITION" in out and "not set" in out
    assert "sbatch" not in out.lower() or "Job submission failed" not in out


def test_unsatisfiable_gpu_request_fails_before_submission(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "config" / "paper.yaml").read_text().replace(
        "distill: {threads: 16, mem_mb: 256000, runtime: 2880, gpus: 8, tasks: 8,",
        "distill: {threads: 16, mem_mb: 256000, runtime: 2880, gpus: 8, tasks: 3,"))
    assert "tasks: 3," in bad.read_text()
    res = _run(workflow_root(tmp_path / "root"),
               ["--profile", "slurm", "-n", "all", "--configfile", str(bad)], env_extra=CLUSTER)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "resources.distill.tasks" in out and "found 3" in out
