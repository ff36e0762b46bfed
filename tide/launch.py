"""Start the ranks of a training run: ``tide launch --tasks N -- <tide subcommand ...>``.

One code path for every place a run starts:

* ``N == 1``: the subcommand runs in this process's place (``exec``), nothing distributed;
* inside a SLURM allocation (the Snakemake SLURM executor marks multi-task rules with the
  ``mpi`` resource, so the command runs in the batch step and may start its own step):
  ``srun --ntasks=N`` starts the N ranks, and each rank finds its rendezvous through
  submitit's helpers (:mod:`tide.distributed`);
* elsewhere (a workstation): ``torchrun --standalone --nproc-per-node=N``.

Each rank may log to its own file (``--rank-log`` with ``{rank}`` in the name), which is
how one reads afterwards which ranks took part in which run.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Mapping, Sequence

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def rank_of_env(env: Mapping[str, str] = os.environ) -> int:
    """This process's rank, before torch.distributed is initialised (0 for one process)."""
    for var in ("RANK", "SLURM_PROCID"):
        if env.get(var, "").isdigit():
            return int(env[var])
    return 0


def rank_log_handler(pattern: str) -> logging.FileHandler:
    """A log file of this rank: ``pattern`` with ``{rank}`` replaced, appended across retries."""
    path = pattern.replace("{rank}", str(rank_of_env()))
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    handler = logging.FileHandler(path, mode="a")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    return handler


def command(tasks: int, tide_argv: Sequence[str], env: Mapping[str, str] = os.environ) -> list[str]:
    """The argv that runs ``tide <tide_argv>`` as ``tasks`` ranks (see the module docstring)."""
    if tasks < 1:
        raise ValueError(f"--tasks must be >= 1, got {tasks}")
    exe = shutil.which("tide") or sys.argv[0]
    inner = [exe, *tide_argv]
    if tasks == 1:
        return inner
    if "SLURM_JOB_ID" in env:
        allocated = int(env.get("SLURM_NTASKS", tasks))
        if allocated < tasks:
            raise RuntimeError(f"tide launch: {tasks} tasks asked for, but this SLURM job "
                               f"(SLURM_JOB_ID={env['SLURM_JOB_ID']}) holds only {allocated}; "
                               "set resources.<rule>.tasks in the config to match")
        cmd = ["srun", f"--ntasks={tasks}", "--kill-on-bad-exit=1", "--export=ALL"]
        if env.get("SLURM_CPUS_PER_TASK"):  # srun does not inherit it from sbatch (>= 22.05)
            cmd.append(f"--cpus-per-task={env['SLURM_CPUS_PER_TASK']}")
        return cmd + inner
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={tasks}", "--no-python", *inner]


def exec_command(argv: list[str]) -> None:
    """Replace this process (signals from SLURM then reach the ranks directly)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(argv[0], argv)
