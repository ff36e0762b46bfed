"""A job's SLURM request, translated once: for the Snakemake SLURM plugin (the Snakefile's
``resources:``) and for submitit (``tide submit``). Pure functions, unit-tested
(tests/test_slurm_resources.py), so no dry run is needed to check a translation.

Both paths ask SLURM for a warning the same time before the limit (``SIGNAL_LEAD_S``): SIGUSR1
for the rules, submitit's SIGUSR2 for ``tide submit`` (then requeued); training checkpoints
and stops on either (tide/train.py).
"""

from __future__ import annotations

#: rules that train: they checkpoint and exit on SLURM's warning signal
TRAINING_RULES = ("train_ar", "sft_student", "train_teacher", "distill")
#: evaluation generation stores each finished batch and exits 124 on the same warning
EVAL_PREEMPTIBLE_RULES = ("eval_generate",)
#: seconds between SLURM's SIGUSR1 and the time limit: one step plus a checkpoint write of the
#: paper's models
SIGNAL_LEAD_S = 300


def snakemake_resources(res: dict, rule: str) -> dict:
    """A rule's resources (``Config.resources(rule)``; threads go separately, via the threads
    directive) in the SLURM plugin's names: mem_mb, runtime, tasks, gpu, tasks_per_gpu, mpi,
    nodes, slurm_extra.

    tasks > 1 (one rank per GPU, or CPU ranks) marks the job ``mpi``: the plugin then runs the
    command in the batch step, where ``tide launch`` starts the ranks with one ``srun``, instead
    of wrapping it in ``srun -n1``. GPU jobs state ``tasks_per_gpu`` explicitly (1 for one rank
    per GPU, 0 = no flag for one process over several GPUs): left unset, the plugin turns
    ``tasks`` into ``--ntasks-per-gpu`` and runs the command once per GPU (its issues 316 and
    459; docs/method.md §P6).
    """
    tasks = res.get("tasks") or 1
    out = {"mem_mb": res["mem_mb"], "runtime": res["runtime"], "tasks": tasks}
    if res.get("gpus"):
        out["gpu"] = res["gpus"]
        out["tasks_per_gpu"] = 1 if tasks == res["gpus"] else 0
    if tasks > 1:
        out["mpi"] = "srun"
    if res.get("nodes"):
        out["nodes"] = res["nodes"]
    if rule in TRAINING_RULES + EVAL_PREEMPTIBLE_RULES:
        # training checkpoints and exits (tide/train.py), generation stores its last batch
        # and exits (tide/eval/staged.py); the retry resumes
        out["slurm_extra"] = f"--signal=USR1@{SIGNAL_LEAD_S}"
    return out


def submitit_parameters(*, tasks: int, nodes: int, gpus_per_task: int, cpus_per_task: int,
                        mem_gb: float, time_min: int, name: str, partition: str | None = None,
                        account: str | None = None,
                        signal_delay_s: int = SIGNAL_LEAD_S) -> dict:
    """``AutoExecutor.update_parameters`` of one multi-rank job: tasks split evenly over nodes,
    ``gpus_per_task`` GPUs per rank, SIGUSR1 ``signal_delay_s`` before the time limit."""
    if tasks % nodes:
        raise ValueError(f"tide submit: --tasks {tasks} does not split over --nodes {nodes}")
    params = dict(timeout_min=time_min, nodes=nodes, mem_gb=mem_gb,
                  tasks_per_node=max(1, tasks // nodes), cpus_per_task=cpus_per_task,
                  slurm_signal_delay_s=signal_delay_s, name=name)
    if gpus_per_task:
        params["gpus_per_node"] = gpus_per_task * params["tasks_per_node"]
    if partition:
        params["slurm_partition"] = partition
    if account:
        params["slurm_account"] = account
    return params
