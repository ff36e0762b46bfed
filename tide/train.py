"""The training loop: one readable function, seeded, checkpointed, resumable.

Used for every trained model of the workflow (AR model, BD3LM SFT, tiny teachers,
distillation runs); only the loss function differs. Determinism on CPU comes from:
a data order that is a pure function of (seed, step), one ``torch.Generator`` for all
noise whose state is checkpointed, and a checkpoint that also holds the optimizer and
LR-scheduler state. A run killed at any point and resumed therefore ends bitwise equal
to an uninterrupted one.

On SIGUSR1, SIGUSR2 or SIGTERM (SLURM's warning before a time limit or preemption: the
Snakemake rules ask for USR1, ``tide submit``/submitit for USR2) the loop finishes the
current step, writes a checkpoint and exits with ``PREEMPTED_EXIT_CODE`` (``tide submit``
then asks submitit to requeue the job, see :mod:`tide.submit`).

Resume only where the result would be the same: the state directory is claimed for the
run's identity (:mod:`tide.identity`: the caller's identity + these training settings +
the world size); a state of any other identity is set aside and training starts at step 0.

Distributed (``dist`` from :mod:`tide.distributed`, world size W > 1): the student is
wrapped in DDP; ``batch_size`` is per rank (the paper's per-GPU batch), the global batch
of W·batch_size examples is drawn as for one process and rank r takes its examples r, r+W,
...; each rank has its own noise generator
(seed + r), all saved in the checkpoint; a signal on any rank stops every rank at the
same step; only rank 0 writes the checkpoint and the metrics log.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from tide.distributed import DistInfo, any_flag, barrier, gather_objects, mean_scalars
from tide.identity import DEFAULT_KEEP, Identity, claim_state

log = logging.getLogger(__name__)

PREEMPTED_EXIT_CODE = 124


@dataclass
class TrainSettings:
    steps: int
    lr: float
    batch_size: int
    warmup_ratio: float = 0.1
    grad_clip: float = 1.0
    seed: int = 42
    checkpoint_every: int = 50
    log_every: int = 10
    # tide.precision: bf16_pure | bf16_mixed | fp32; None = as the model's weights are, no
    # autocast (the tiny stages' fp32 models)
    precision: str | None = None


#: signals that make the loop checkpoint and exit: SLURM's --signal=USR1@… (Snakemake rules),
#: submitit's USR2 (``tide submit``), SIGTERM (preemption, scancel)
STOP_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM)


class _StopFlag:
    """Set by a stop signal; the loop checkpoints and exits at the next step boundary."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict = {}

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        """Give the signals back to whoever had them (submitit's requeue handler)."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum, _frame) -> None:
        log.warning("received signal %d: will checkpoint and exit after this step", signum)
        self.signal = signum


def to_device(batch, device: torch.device):
    """Move the tensors of a collated batch (dict/list/tuple, nested) to ``device``."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def batch_indices(step: int, batch_size: int, n: int, seed: int) -> list[int]:
    """Example indices of a step: a fresh seeded permutation per epoch, pure in (seed, step)."""
    out, perms = [], {}
    for g in range(step * batch_size, (step + 1) * batch_size):
        epoch, pos = divmod(g, n)
        if epoch not in perms:
            perms[epoch] = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch),
                                          device="cpu")
        out.append(int(perms[epoch][pos]))
    return out


def warmup_steps(warmup_ratio: float, total: int) -> int:
    """W = ⌈warmup_ratio · T⌉, as HF ``TrainingArguments.get_warmup_steps`` computes it."""
    return math.ceil(warmup_ratio * total)


def steps_from_epochs(epochs: float, n_examples: int, global_batch: int) -> int:
    """T = ⌈epochs · ⌈N / global batch⌉⌉: HF Trainer's max_steps with drop_last off and no
    accumulation (each epoch's last, partial batch is a step; ⌈⌈N/b⌉/w⌉ = ⌈N/(b·w)⌉)."""
    return math.ceil(epochs * math.ceil(n_examples / global_batch))


def lr_lambda(warmup_steps: int, total: int) -> Callable[[int], float]:
    """HF ``get_cosine_schedule_with_warmup``: factor s/max(1, W) for s < W, then
    ½(1 + cos(π · (s − W)/max(1, T − W))); s = optimizer steps taken so far (0 first)."""

    def f(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total - warmup_steps)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))

    return f


def _save_checkpoint(path: Path, step: int, model, opt, sched, gen,
                     dist: DistInfo = DistInfo(), identity: str | None = None) -> None:
    """Rank 0 writes model/optimizer/scheduler and every rank's RNG states (collective)."""
    rng = gather_objects(dist, (gen.get_state(), torch.get_rng_state()))
    if dist.is_main:
        path.mkdir(parents=True, exist_ok=True)
        tmp = path / "checkpoint.pt.tmp"
        torch.save({"step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(), "generator": rng[0][0],
                    "torch_rng": rng[0][1], "world_size": dist.world_size,
                    "rank_rng": rng, "identity": identity}, tmp)
        os.replace(tmp, path / "checkpoint.pt")
        log.info("checkpoint written at step %d to %s", step, path)
    barrier(dist)


def _resume(path: Path, model, opt, sched, gen, dist: DistInfo = DistInfo()) -> int:
    ckpt_file = path / "checkpoint.pt"
    if not ckpt_file.exists():
        return 0
    # to the host first: without map_location every tensor returns to the device it was
    # saved from (cuda:0 for rank 0's checkpoint), i.e. all ranks onto GPU 0 when each sees
    # every GPU; load_state_dict then copies into this rank's parameters and optimizer state
    ckpt = torch.load(ckpt_file, weights_only=False, map_location="cpu")
    saved_world = ckpt.get("world_size", 1)
    if saved_world != dist.world_size:
        raise RuntimeError(f"{ckpt_file}: written by {saved_world} rank(s), resumed with "
                           f"{dist.world_size}; resume with the same number of tasks")
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    gen_state, torch_state = ckpt.get("rank_rng", [(ckpt["generator"], ckpt["torch_rng"])])[dist.rank]
    gen.set_state(gen_state)
    torch.set_rng_state(torch_state)
    log.info("resuming from step %d (%s)", ckpt["step"], ckpt_file)
    return int(ckpt["step"])


def run_identity(settings: TrainSettings, world_size: int,
                 identity: Identity | None = None) -> Identity:
    """The key of a training state: the caller's identity (spec, inputs) + the training
    settings (not the checkpoint/log cadence: resume is exact) + the world size."""
    train_fields = {k: v for k, v in dataclasses.asdict(settings).items()
                    if k not in ("checkpoint_every", "log_every")}
    return (identity or Identity()).extended(train=train_fields, world_size=world_size)


def _truncate_log(log_path: Path, step: int) -> None:
    """Keep only log lines up to the resumed step, so the log matches the weights."""
    if not log_path.exists():
        return
    keep = [line for line in log_path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step]
    log_path.write_text("".join(line + "\n" for line in keep))


def train(model: torch.nn.Module, rows, collate_fn: Callable[[list], dict],
          loss_fn: Callable[[torch.nn.Module, dict, float, torch.Generator], tuple],
          settings: TrainSettings, *, state_dir: str | Path, log_path: str | Path,
          should_stop: Callable[[int], bool] | None = None,
          stop_after: int | None = None, dist: DistInfo = DistInfo(),
          identity: Identity | None = None, keep_stale: int = DEFAULT_KEEP) -> dict:
    """Train ``model`` in place for ``settings.steps`` steps, resuming from ``state_dir``.

    ``loss_fn(model, batch, progress, generator) -> (loss, logs)`` with progress = step/steps.
    ``should_stop(step)`` (e.g. a held-out target reached) is asked after each checkpoint
    interval; ``stop_after`` simulates a kill (tests). ``dist``: see the module docstring;
    ``loss_fn`` then receives the DDP-wrapped model. ``identity``: what the result depends
    on besides ``settings`` (:func:`run_identity`); a state of another identity is set
    aside (the newest ``keep_stale`` per name kept). Returns a summary dict.
    """
    from tide import precision

    state_dir, log_path = Path(state_dir), Path(log_path)
    if settings.precision is not None:
        precision.check_model(model, settings.precision)
    if dist.is_main:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed + dist.rank)
    gen = torch.Generator().manual_seed(settings.seed + dist.rank)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, betas=(0.9, 0.999),
                            eps=1e-8, weight_decay=0.0)
    warmup = warmup_steps(settings.warmup_ratio, settings.steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(warmup, settings.steps))
    ident = run_identity(settings, dist.world_size, identity)
    if dist.is_main:
        claim_state(state_dir, ident, keep=keep_stale)
    barrier(dist)  # other ranks look for a checkpoint only once rank 0 has claimed the state
    start = _resume(state_dir, model, opt, sched, gen, dist)
    if dist.is_main:
        _truncate_log(log_path, start)
    flag = _StopFlag()
    flag.install()
    model.train()
    net = model
    if dist.enabled:
        net = torch.nn.parallel.DistributedDataParallel(model)
    device = next(model.parameters()).device
    t0, step, n = time.time(), start, len(rows)
    with open(log_path if dist.is_main else os.devnull, "a") as logf:
        while step < settings.steps:
            idx = batch_indices(step, settings.batch_size * dist.world_size, n, settings.seed)
            batch = to_device(collate_fn([rows[i] for i in idx[dist.rank::dist.world_size]]),
                              device)
            with precision.autocast(settings.precision or "fp32", device):
                loss, logs = loss_fn(net, batch, step / settings.steps, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            opt.step()
            sched.step()
            step += 1
            logs = mean_scalars(dist, {k: float(v.detach()) if torch.is_tensor(v) else v
                                       for k, v in logs.items()})
            record = {"step": step, "lr": sched.get_last_lr()[0], "grad_norm": float(grad_norm),
                      **logs}
            logf.write(json.dumps(record) + "\n")
            logf.flush()
            if step % settings.log_every == 0 or step == settings.steps:
                log.info("step %d/%d loss %.4f", step, settings.steps,
                         logs.get("loss", float(loss.detach())))
            boundary = step % settings.checkpoint_every == 0
            stop = any_flag(dist, flag.signal is not None)
            if boundary or stop or step == stop_after:
                _save_checkpoint(state_dir, step, model, opt, sched, gen, dist, ident.key)
            if stop:
                log.warning("stopping at step %d after a signal; the retry resumes here", step)
                flag.restore()
                raise SystemExit(PREEMPTED_EXIT_CODE)
            if step == stop_after:
                flag.restore()
                return {"steps": step, "stopped": "stop_after"}
            if boundary and should_stop is not None and any_flag(dist, should_stop(step)):
                log.info("stop criterion met at step %d", step)
                break
    flag.restore()
    if step % settings.checkpoint_every != 0:  # not already written at the boundary
        _save_checkpoint(state_dir, step, model, opt, sched, gen, dist, ident.key)
    model.eval()
    return {"steps": step, "resumed_from": start, "wall_s": round(time.time() - t0, 2),
            "identity": ident.key, "precision": settings.precision}
