"""The SLURM request of a rule (Snakemake plugin) and of `tide submit` (submitit), from
tide/slurm.py: checked directly, no dry run."""

from pathlib import Path

import pytest

from tide.config import load_config
from tide.slurm import SIGNAL_LEAD_S, snakemake_resources, submitit_parameters

PAPER = Path(__file__).resolve().parents[1] / "config" / "paper.yaml"


def test_paper_distill_is_eight_ranks_one_per_gpu_with_the_warning_signal():
    cfg = load_config(PAPER)
    got = snakemake_resources(cfg.resources("distill"), "distill")
    assert got == {"mem_mb": 256000, "runtime": 2880, "tasks": 8, "gpu": 8, "tasks_per_gpu": 1,
                   "mpi": "srun", "slurm_extra": f"--signal=USR1@{SIGNAL_LEAD_S}"}


def test_generation_is_signalled_and_scoring_is_not():
    cfg = load_config(PAPER)
    gen = snakemake_resources(cfg.resources("eval_generate"), "eval_generate")
    assert gen["slurm_extra"] == f"--signal=USR1@{SIGNAL_LEAD_S}" and gen["tasks"] == 1
    score = snakemake_resources(cfg.resources("evaluate"), "evaluate")
    assert "slurm_extra" not in score and "mpi" not in score


@pytest.mark.parametrize("res, want", [
    ({"mem_mb": 8, "runtime": 5, "gpus": 4}, {"gpu": 4, "tasks": 1, "tasks_per_gpu": 0}),
    ({"mem_mb": 8, "runtime": 5, "tasks": 2}, {"tasks": 2, "mpi": "srun"}),
    ({"mem_mb": 8, "runtime": 5, "gpus": 8, "tasks": 8, "nodes": 2},
     {"gpu": 8, "tasks": 8, "tasks_per_gpu": 1, "mpi": "srun", "nodes": 2}),
])
def test_tasks_gpus_and_nodes(res, want):
    got = snakemake_resources(res, "corpus")
    assert {k: v for k, v in got.items() if k not in ("mem_mb", "runtime")} == want


def test_submit_uses_the_same_warning_lead_and_splits_ranks_over_nodes():
    p = submitit_parameters(tasks=8, nodes=2, gpus_per_task=1, cpus_per_task=4, mem_gb=64,
                            time_min=60, name="x", partition="gpu", account=None)
    assert p == {"timeout_min": 60, "nodes": 2, "mem_gb": 64, "tasks_per_node": 4,
                 "cpus_per_task": 4, "slurm_signal_delay_s": SIGNAL_LEAD_S, "name": "x",
                 "gpus_per_node": 4, "slurm_partition": "gpu"}
    with pytest.raises(ValueError, match="--tasks 3 does not split over --nodes 2"):
        submitit_parameters(tasks=3, nodes=2, gpus_per_task=0, cpus_per_task=1, mem_gb=1,
                            time_min=1, name="x")


def test_cli_submit_default_signal_is_the_rules():
    from tide.cli import build_parser

    args = build_parser().parse_args(["submit", "--pipeline", "B", "--run", "kl"])
    assert args.signal_delay_s == SIGNAL_LEAD_S
