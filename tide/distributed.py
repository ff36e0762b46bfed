"""torch.distributed set-up for training runs: one process per GPU (or CPU task).

The rendezvous comes from the environment of whoever started the processes:

* ``srun`` inside a SLURM allocation (the cluster path, ``tide launch`` or ``tide submit``):
  submitit's :class:`~submitit.helpers.TorchDistributedEnvironment` reads SLURM's task
  variables and exports MASTER_ADDR/PORT, RANK, WORLD_SIZE, LOCAL_RANK;
* ``torchrun`` (a multi-task run on one machine without SLURM): its own variables.

A single process (neither of the above) is world size 1 and never touches
torch.distributed, so the tiny default runs exactly as before.
Imports only torch (+ submitit, lazily, on the SLURM path).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    source: str = "single"  # single | slurm | torchrun

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _slurm_tasks() -> int:
    """Tasks of the current SLURM job *step* (srun), 1 outside one."""
    if "SLURM_STEP_ID" not in os.environ or "SLURM_PROCID" not in os.environ:
        return 1
    return int(os.environ.get("SLURM_STEP_NUM_TASKS") or os.environ.get("SLURM_NTASKS") or 1)


def detect() -> str:
    """Where the process group comes from: 'torchrun', 'slurm' or 'single'."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and "TORCHELASTIC_RUN_ID" in os.environ:
        return "torchrun"
    if _slurm_tasks() > 1:
        return "slurm"
    return "single"


def init(device: str = "cpu") -> DistInfo:
    """Join the process group of this run (no-op for a single process).

    Backend: nccl when training on CUDA, gloo on CPU. On CUDA each rank takes the GPU of
    its local rank.
    """
    source = detect()
    if source == "single":
        return DistInfo()
    if source == "slurm":
        from submitit.helpers import TorchDistributedEnvironment

        # submitit recognises SLURM by this variable, which its own jobs set; ranks started
        # by a plain srun (tide launch, the Snakemake SLURM executor) need it too
        os.environ.setdefault("SUBMITIT_EXECUTOR", "slurm")
        env = TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        rank, world, local = env.rank, env.world_size, env.local_rank
        where = f"{env.master_addr}:{env.master_port}"
    else:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", 0))
        where = f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}"
    backend = "nccl" if device.startswith("cuda") else "gloo"
    kwargs = {}
    if backend == "nccl":
        gpu = local if torch.cuda.device_count() > local else 0
        torch.cuda.set_device(gpu)
        # bind the group to this rank's GPU: barrier and object collectives then use it
        kwargs["device_id"] = torch.device("cuda", gpu)
    torch.distributed.init_process_group(backend=backend, **kwargs)
    info = DistInfo(rank=rank, world_size=world, local_rank=local, backend=backend, source=source)
    log.info("distributed: rank %d of world size %d (local rank %d, backend %s, rendezvous %s "
             "via %s, job %s)", rank, world, local, backend, where, source,
             os.environ.get("SLURM_JOB_ID", "-"))
    return info


def device_of(info: DistInfo, device: str) -> str:
    """The device of this rank: cuda:<local rank> on GPU (cuda:0 when SLURM already bound one
    GPU per task), else unchanged."""
    if not (info.enabled and device.startswith("cuda")):
        return device
    return f"cuda:{info.local_rank if torch.cuda.device_count() > info.local_rank else 0}"


def barrier(info: DistInfo) -> None:
    if info.enabled:
        torch.distributed.barrier()


def collective_device(group=None) -> torch.device:
    """The device whose tensors the process group's backend reduces.

    NCCL serves only CUDA tensors: an all-reduce of a CPU tensor raises "No backend type
    associated with device type cpu" on every rank. The group's own device types decide
    (CPU when it has a CPU backend, gloo's case; else its first device type, on this rank's
    current device, e.g. ``cuda:<local rank>`` after ``torch.cuda.set_device``).
    """
    c10d = torch.distributed.distributed_c10d
    pg = group or c10d._get_default_group()
    types = [d.type if isinstance(d, torch.device) else str(d)
             for d in getattr(pg, "_device_types", [])]
    if not types:  # older torch: infer from the backend name
        types = ["cuda" if "nccl" in str(torch.distributed.get_backend(pg)) else "cpu"]
    if "cpu" in types:
        return torch.device("cpu")
    kind = types[0]
    module = getattr(torch, kind, None)
    index = module.current_device() if module is not None and module.is_available() else 0
    return torch.device(kind, index)


def any_flag(info: DistInfo, flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any rank (e.g. a preemption signal)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=collective_device())
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item())


def mean_scalars(info: DistInfo, logs: dict) -> dict:
    """Average the numeric entries of a log record over ranks (others left as rank 0's)."""
    if not info.enabled:
        return logs
    keys = [k for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not keys:
        return logs
    t = torch.tensor([float(logs[k]) for k in keys], dtype=torch.float64,
                     device=collective_device())
    torch.distributed.all_reduce(t)
    out = dict(logs)
    out.update({k: float(v) / info.world_size for k, v in zip(keys, t.tolist())})
    return out


def gather_objects(info: DistInfo, obj) -> list:
    """Every rank's ``obj``, in rank order (a one-element list for a single process)."""
    if not info.enabled:
        return [obj]
    out = [None] * info.world_size
    torch.distributed.all_gather_object(out, obj)
    return out


def shutdown(info: DistInfo) -> None:
    if info.enabled and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def decoder_layers(model: torch.nn.Module) -> tuple[str, torch.nn.ModuleList]:
    """(name, list) of the model's decoder layers: the FSDP units of a sharded teacher.

    Chosen by structure, never by length (an MoE layer's expert list is longer than the
    decoder's layer list in LLaDA2's code): the shallowest ``ModuleList`` whose every entry
    is a class the model names in ``_no_split_modules`` (transformers' own "a decoder
    layer" marker), else the base model's ``layers``, else the shallowest ``ModuleList``.
    """
    lists = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.ModuleList) and len(m)]
    if not lists:
        raise ValueError(f"{type(model).__name__}: no layer list to shard (expected a "
                         "torch.nn.ModuleList of decoder layers)")
    no_split = set(getattr(model, "_no_split_modules", None) or ())
    marked = [(n, m) for n, m in lists if no_split and all(type(x).__name__ in no_split for x in m)]
    if marked:
        return min(marked, key=lambda nm: nm[0].count("."))
    base = getattr(model, "base_model", model)
    for n, m in lists:
        if m is getattr(base, "layers", None):
            return n, m
    return min(lists, key=lambda nm: nm[0].count("."))


def shard_frozen(model: torch.nn.Module, info: DistInfo, device: str) -> torch.nn.Module:
    """Shard a frozen (no-grad) model over the ranks with FSDP2 (``fully_shard``): each
    decoder layer (:func:`decoder_layers`, experts included) is one unit, gathered for its
    forward and freed after, so a teacher that does not fit one GPU runs on several; every
    rank gathers the same units in the same order whatever tokens its experts receive.
    The root holds the rest (embeddings, final norm, LM head): call the model through it
    (``model(...)``), never ``model.base_model`` directly. Same logits as the replicated
    model (tested)."""
    if not info.enabled:
        return model
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cuda" if device.startswith("cuda") else "cpu", (info.world_size,))
    name, layers = decoder_layers(model)
    for layer in layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    log.info("rank %d: teacher sharded with FSDP over %d ranks (%d units: %s)", info.rank,
             info.world_size, len(layers), name)
    return model
