"""``tide submit``: one distillation run as a SLURM job through submitit, outside the DAG.

For quick experiments. The job runs the very function the ``distill`` rule runs
(:func:`tide.stages.distill`) in each of its ``--tasks`` ranks; submitit starts the ranks
with srun and :mod:`tide.distributed` finds the rendezvous from the same SLURM variables.
Outputs land where the DAG would put them (``results/runs/{pipeline}/{run}``), so a later
``snakemake`` run picks them up; the checkpoint in ``results/state`` is shared too, so a
re-submitted run (after a time limit or preemption) resumes where it stopped.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


class DistillJob:
    """Picklable callable that submitit runs once per rank."""

    def __init__(self, config: str, root: str, pipeline: str, run: str, rank_log: str | None):
        self.config, self.root = os.path.abspath(config), os.path.abspath(root)
        self.pipeline, self.run, self.rank_log = pipeline, run, rank_log

    def __call__(self) -> str:
        from tide import stages
        from tide.config import load_config
        from tide.launch import rank_log_handler

        if self.rank_log:
            logging.getLogger().addHandler(rank_log_handler(self.rank_log))
            logging.getLogger().setLevel(logging.INFO)
        import torch

        torch.set_num_threads(int(os.environ.get("SLURM_CPUS_PER_TASK", 1)))
        stages.distill(load_config(self.config), self.pipeline, self.run, self.root)
        return str(Path(self.root) / "runs" / self.pipeline / self.run)


def submit_distill(args) -> None:
    import submitit

    folder = Path(args.folder) / f"{args.pipeline}_{args.run}"
    executor = submitit.AutoExecutor(folder=str(folder / "%j"))
    if executor.cluster != "slurm":
        raise SystemExit(f"tide submit: no SLURM cluster found (submitit sees {executor.cluster!r}); "
                         "run `tide launch --tasks N -- distill ...` on a workstation instead")
    params = dict(timeout_min=args.time_min, nodes=args.nodes, mem_gb=args.mem_gb,
                  tasks_per_node=max(1, args.tasks // args.nodes), cpus_per_task=args.cpus_per_task,
                  slurm_signal_delay_s=args.signal_delay_s, name=f"tide_distill_{args.pipeline}_{args.run}")
    if args.tasks % args.nodes:
        raise SystemExit(f"tide submit: --tasks {args.tasks} does not split over --nodes {args.nodes}")
    if args.gpus_per_task:
        params["gpus_per_node"] = args.gpus_per_task * params["tasks_per_node"]
    partition = args.partition or os.environ.get("TIDE_SLURM_PARTITION")
    account = args.account or os.environ.get("TIDE_SLURM_ACCOUNT")
    if partition:
        params["slurm_partition"] = partition
    if account:
        params["slurm_account"] = account
    executor.update_parameters(**params)
    rank_log = str(Path(args.folder).resolve() / f"{args.pipeline}_{args.run}.rank{{rank}}.log")
    job = executor.submit(DistillJob(args.config, args.root, args.pipeline, args.run, rank_log))
    log.info("submitted SLURM job %s (%d task(s)); logs: %s, per rank: %s", job.job_id,
             args.tasks, folder / str(job.job_id), rank_log)
    print(job.job_id, flush=True)
    if args.wait:
        out = job.results()  # raises with the job's traceback if a rank failed
        log.info("job %s done: %s", job.job_id, out[0])
