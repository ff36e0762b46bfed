"""``tide bench``: the costs that decide a cluster bill and a deployment, measured in one run.

Measurements (one ``results/bench/<name>.json`` each, schema in tide/bench/common.py):

- ``sampler``: block-diffusion sampling, full recomputation vs prefix once per block vs KV
  cache (+ threshold decoding), same greedy tokens;
- ``generation``: tokens/s and peak memory of the AR baseline, the student, both teachers;
- ``distill_step``: student forward/backward on [x_t ; x_0], teacher pass, whole steps;
- ``compdemo``: CompDemo's teacher cost, naive vs shared clean x_0 (pipeline B);
- ``eval_likelihood``: Monte-Carlo likelihood, per request vs batched across requests;
- ``scaling``: sequence length, batch and block size (+ ``scaling.png``, log-log).

On a CPU the shapes are scaled down (tide/bench/shapes.py names them) and the ratios are the
result; absolute figures are meaningful on a GPU only. Imports only torch, transformers and
the standard library (matplotlib lazily, for the plot).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

MEASUREMENTS = ("sampler", "generation", "distill_step", "compdemo", "eval_likelihood", "scaling")

_SCALING_CPU = {
    "sampler": {"base": dict(prompt=128, new_tokens=32, block=32, steps=32, batch=1),
                "prompt": [64, 128, 256, 512], "batch": [1, 2, 4, 8], "block": [8, 16, 32]},
    "distill": {"base": dict(length=128, batch=2, block=32), "length": [64, 128, 256, 512],
                "batch": [1, 2, 4, 8], "block": [8, 32, 128]},
}
SIZES = {
    "cpu": {
        "sampler": dict(prompt=128, new_tokens=256, block=32, steps=256, batch=1),
        "generation": dict(prompt=128, new_tokens=256, block=32, steps=256),
        "distill": dict(length=256, batch=2, block=32),
        "eval": dict(requests=16, context=(32, 64), continuation=(4, 16), mc_num=16, mc_batch=8,
                     block=32, rows_per_forward=[32, 128]),
        "scaling": _SCALING_CPU,
    },
    "gpu": {
        "sampler": dict(prompt=128, new_tokens=256, block=32, steps=256, batch=1),
        "generation": dict(prompt=128, new_tokens=256, block=32, steps=256),
        "distill": dict(length=512, batch=8, block=32),
        "eval": dict(requests=128, context=(64, 256), continuation=(4, 32), mc_num=128,
                     mc_batch=32, block=32, rows_per_forward=[128, 512]),
        "scaling": {
            "sampler": {"base": dict(prompt=128, new_tokens=256, block=32, steps=256, batch=1),
                        "prompt": [128, 512, 2048], "batch": [1, 4, 16, 64], "block": [8, 32, 128]},
            "distill": {"base": dict(length=512, batch=8, block=32),
                        "length": [256, 512, 1024, 2048], "batch": [1, 4, 16], "block": [8, 32, 128]},
        },
    },
    "quick": {
        "sampler": dict(prompt=16, new_tokens=16, block=8, steps=16, batch=2),
        "generation": dict(prompt=16, new_tokens=8, block=8, steps=8),
        "distill": dict(length=32, batch=2, block=8),
        "eval": dict(requests=4, context=(8, 12), continuation=(1, 6), mc_num=4, mc_batch=2,
                     block=8, rows_per_forward=[8]),
        "scaling": {
            "sampler": {"base": dict(prompt=8, new_tokens=8, block=8, steps=8, batch=1),
                        "prompt": [8, 16], "batch": [1, 2], "block": [4, 8]},
            "distill": {"base": dict(length=16, batch=1, block=8), "length": [16, 32],
                        "batch": [1, 2], "block": [4, 8]},
        },
    },
}


@dataclass
class BenchConfig:
    preset: str  # "cpu" | "gpu" | "quick" (shapes and sizes)
    device: "torch.device"
    dtype: "torch.dtype"  # inference (sampler, generation, eval)
    teacher_dtype: "torch.dtype"  # the teacher inside a distillation step
    repeats: int
    gen_repeats: int
    scaling_repeats: int
    warmup: int
    command: str
    sizes: dict = field(default_factory=dict)


def config(*, quick: bool, device: str | None, repeats: int | None, command: str) -> BenchConfig:
    import torch

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    preset = "quick" if quick else ("gpu" if dev.type == "cuda" else "cpu")
    gpu = dev.type == "cuda"
    reps = repeats or (1 if quick else 3)
    return BenchConfig(
        preset=preset, device=dev, dtype=torch.bfloat16 if gpu else torch.float32,
        # bf16 matmuls are native on this CPU too (faster than fp32, see benchmarks/README.md)
        teacher_dtype=torch.bfloat16, repeats=reps, gen_repeats=1 if quick else max(1, reps - 1),
        scaling_repeats=reps, warmup=0 if quick else 1, command=command, sizes=SIZES[preset])


def run(names: list[str], cfg: BenchConfig, out_dir: str | Path) -> list[Path]:
    """Run the named measurements, write their JSON, print their tables; returns the paths."""
    from tide.bench import common, distill, likelihood, sampler, scaling

    funcs = {"sampler": sampler.sampler, "generation": sampler.generation,
             "distill_step": distill.distill_step, "compdemo": distill.compdemo,
             "eval_likelihood": likelihood.eval_likelihood, "scaling": scaling.scaling}
    unknown = [n for n in names if n not in funcs]
    if unknown:
        raise ValueError(f"tide bench: unknown measurement(s) {unknown}; expected {list(funcs)}")
    paths = []
    for name in names:
        log.info("bench %s on %s (preset %s)", name, common.device_name(cfg.device), cfg.preset)
        doc = isolated(funcs[name], name, cfg)
        paths.append(common.write(doc, out_dir))
        print(common.table(doc), flush=True)
        if name == "scaling" and not doc.get("failed"):
            try:
                from tide.bench.plot import plot_scaling
            except ImportError:
                log.info("matplotlib not installed: no scaling plot")
            else:
                paths.append(plot_scaling(doc, Path(out_dir) / "scaling.png"))
    return paths


def isolated(func, name: str, cfg: BenchConfig) -> dict:
    """Run one measurement so that its failure (out of memory included) cannot stop the
    others: the exception is recorded in the measurement's own result (``failed``, no rows),
    and the device memory it held is released before the next one starts."""
    from tide.bench import common

    try:
        return func(cfg)
    except Exception as exc:  # noqa: BLE001 (any failure is this measurement's result)
        log.error("bench %s failed: %s: %s", name, type(exc).__name__, exc)
        doc = common.result(name, device=cfg.device, command=cfg.command,
                            settings={"preset": cfg.preset}, rows=[], units={})
        doc["failed"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:500] if str(exc) else ''}"
        return doc
    finally:
        common.free_device(cfg.device)


def add_arguments(parser) -> None:
    """The ``tide bench`` / ``python -m tide.bench`` options."""
    parser.add_argument("measurements", nargs="*", default=list(MEASUREMENTS),
                        help=f"which to run (default all): {', '.join(MEASUREMENTS)}")
    parser.add_argument("--quick", action="store_true",
                        help="tiny shapes, one repeat (seconds; for tests and smoke runs)")
    parser.add_argument("--device", default=None, help="cpu | cuda[:i] (default: cuda if present)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repeats per figure, median reported (default 3; quick 1)")
    parser.add_argument("--out", default=None, help="output folder (default <root>/bench)")


def main_from_args(args, root: str, argv: list[str]) -> int:
    """Run what ``args`` asks; ``argv`` is the command as typed (recorded in every result)."""
    from tide.bench.common import command_line

    cfg = config(quick=args.quick, device=args.device, repeats=args.repeats,
                 command=command_line(argv))
    out = Path(args.out or Path(root) / "bench")
    run(args.measurements, cfg, out)
    failed = [n for n in args.measurements
              if json.loads((out / f"{n}.json").read_text()).get("failed")]
    if failed:
        log.error("bench: %s failed (recorded in their JSON); the others ran", failed)
    return 1 if failed else 0
