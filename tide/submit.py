"""``tide submit``: one distillation run as a SLURM job through submitit, outside the DAG.

For quick experiments. The job runs the very function the ``distill`` rule runs
(:func:`tide.stages.distill`) in each of its ``--tasks`` ranks; submitit starts the ranks
with srun and :mod:`tide.distributed` finds the rendezvous from the same SLURM variables.
Outputs land where the DAG would put them (``results/runs/{pipeline}/{run}``), so a later
``snakemake`` run picks them up; the checkpoint in ``results/state`` is shared too (keyed by
the run's identity, :mod:`tide.identity`).

Time limits and preemption: submitit asks SLURM for its warning signal, SIGUSR2
(``--signal=USR2@<--signal-delay-s>``), and installs its own handler for it. Training
replaces that handler while it runs (:mod:`tide.train`): at the signal it finishes the
step, writes a checkpoint and exits with ``PREEMPTED_EXIT_CODE``; :class:`TrainingJob` then
hands over to submitit's handler, which requeues the job (``scontrol requeue``; the job is
:class:`submitit.helpers.Checkpointable`), and the requeued job resumes at that step.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

from submitit.helpers import Checkpointable

log = logging.getLogger(__name__)


class TrainingJob(Checkpointable):
    """A submitit job that trains: checkpoint at the warning signal, then requeue.

    Subclasses implement :meth:`run`. Being ``Checkpointable`` makes submitit requeue the
    job (resubmitting the same callable) instead of ending it at a time limit.
    """

    def run(self):
        raise NotImplementedError

    def __call__(self):
        from tide.train import PREEMPTED_EXIT_CODE

        requeue = signal.getsignal(signal.SIGUSR2)  # submitit's, installed before this call
        try:
            return self.run()
        except SystemExit as exc:
            if exc.code != PREEMPTED_EXIT_CODE or not callable(requeue):
                raise
            log.warning("checkpoint written after a stop signal: asking submitit to requeue")
            requeue(signal.SIGUSR2, None)  # rank 0 requeues the job and exits here
            raise  # other ranks: the requeue (by rank 0) ends them


class DistillJob(TrainingJob):
    """Picklable callable that submitit runs once per rank."""

    def __init__(self, config: str, root: str, pipeline: str, run: str, rank_log: str | None):
        # realpath: results/config.resolved.yaml is a symlink a later invocation may move;
        # a requeued job must read the config it was submitted with
        self.config, self.root = os.path.realpath(config), os.path.abspath(root)
        self.pipeline, self.run_name, self.rank_log = pipeline, run, rank_log

    def run(self) -> str:
        from tide import stages
        from tide.config import load_config
        from tide.launch import rank_log_handler

        if self.rank_log:
            logging.getLogger().addHandler(rank_log_handler(self.rank_log))
            logging.getLogger().setLevel(logging.INFO)
        import torch

        torch.set_num_threads(int(os.environ.get("SLURM_CPUS_PER_TASK", 1)))
        stages.distill(load_config(self.config), self.pipeline, self.run_name, self.root)
        return str(Path(self.root) / "runs" / self.pipeline / self.run_name)


def submit_distill(args) -> None:
    import submitit

    from tide.slurm import submitit_parameters

    folder = Path(args.folder) / f"{args.pipeline}_{args.run}"
    executor = submitit.AutoExecutor(folder=str(folder / "%j"))
    if executor.cluster != "slurm":
        raise SystemExit(f"tide submit: no SLURM cluster found (submitit sees {executor.cluster!r}); "
                         "run `tide launch --tasks N -- distill ...` on a workstation instead")
    try:
        params = submitit_parameters(
            tasks=args.tasks, nodes=args.nodes, gpus_per_task=args.gpus_per_task,
            cpus_per_task=args.cpus_per_task, mem_gb=args.mem_gb, time_min=args.time_min,
            name=f"tide_distill_{args.pipeline}_{args.run}", signal_delay_s=args.signal_delay_s,
            partition=args.partition or os.environ.get("TIDE_SLURM_PARTITION"),
            account=args.account or os.environ.get("TIDE_SLURM_ACCOUNT"))
    except ValueError as err:
        raise SystemExit(str(err)) from None
    executor.update_parameters(**params)
    rank_log = str(Path(args.folder).resolve() / f"{args.pipeline}_{args.run}.rank{{rank}}.log")
    job = executor.submit(DistillJob(args.config, args.root, args.pipeline, args.run, rank_log))
    log.info("submitted SLURM job %s (%d task(s)); logs: %s, per rank: %s", job.job_id,
             args.tasks, folder / str(job.job_id), rank_log)
    print(job.job_id, flush=True)
    if args.wait:
        out = job.results()  # raises with the job's traceback if a rank failed
        log.info("job %s done: %s", job.job_id, out[0])
