"""What every measurement shares: device, timing, peak memory, the result file and its table.

Result schema (``results/bench/<measurement>.json``, read by tide/report/efficiency.py)::

    {"measurement": str, "device": str, "command": str,
     "environment": {"python", "torch", "transformers", "platform"},
     "settings": {...}, "rows": [{"model", "variant", "params_b", "peak_mem_gb",
                                  "tokens_per_s", ...extra}], "units": {field: unit}}

Imports only torch, transformers and the standard library (runs on a bare GPU image).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import transformers

from tide.io import atomic_write_text

log = logging.getLogger(__name__)

REQUIRED_ROW_FIELDS = {"model": str, "variant": str, "params_b": float, "peak_mem_gb": float,
                       "tokens_per_s": float}
REQUIRED_FIELDS = ("measurement", "device", "command", "environment", "settings", "rows", "units")
BASE_UNITS = {"params_b": "billions of parameters",
              "peak_mem_gb": "GB (1e9 bytes)",
              "tokens_per_s": "tokens per second"}


# ---------------------------------------------------------------- device and environment


def device_name(device: torch.device) -> str:
    """"cpu: <model name>, N threads" or the GPU's name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {cpu}, {torch.get_num_threads()} threads"


def environment() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "platform": platform.platform()}


def params_b(model: torch.nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e9


def model_bytes(model: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


# ---------------------------------------------------------------- timing and memory


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss_kb(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field_name}")


class PeakMemory:
    """Peak memory of one call, in bytes, including the models it uses (``base_bytes``).

    GPU: ``torch.cuda.max_memory_allocated`` after a reset (it counts resident weights).
    CPU (Linux): resident weights + the growth of the peak RSS during the call — free heap
    memory is returned to the OS first (``malloc_trim``) and the high-water mark is reset
    (``/proc/self/clear_refs``), so the figure is this call's, not the process's history.
    Elsewhere the CPU figure is NaN.
    """

    def __init__(self, device: torch.device, base_bytes: int = 0):
        self.device, self.base_bytes, self.peak = device, base_bytes, math.nan

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
            Path("/proc/self/clear_refs").write_text("5")
            self._start = _rss_kb("VmRSS")
        except OSError:
            self._start = None
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.peak = float(torch.cuda.max_memory_allocated(self.device))
        elif self._start is not None:
            self.peak = float(self.base_bytes + max(0, _rss_kb("VmHWM") - self._start) * 1024)
        return False


@dataclass
class Timing:
    """Wall times of repeated calls (after warm-up); the median is what is reported."""

    times: list[float] = field(default_factory=list)
    peak_bytes: float = math.nan
    result: object = None  # what the last call returned

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def measure(fn: Callable[[], object], device: torch.device, *, repeats: int, warmup: int = 1,
            base_bytes: int = 0) -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed (synchronized).

    Peak memory is taken over the first timed call.
    """
    for _ in range(warmup):
        fn()
    return measure_many({"fn": fn}, device, repeats=repeats, warmup=0, base_bytes=base_bytes)["fn"]


def measure_many(fns: dict[str, Callable[[], object]], device: torch.device, *, repeats: int,
                 warmup: int = 1, base_bytes: int | dict[str, int] = 0) -> dict[str, Timing]:
    """Like :func:`measure` for several variants, interleaved: repeat i runs every variant once
    before repeat i+1, so a load change on a shared machine hits all variants alike and their
    ratios stay fair. Peak memory is taken in each variant's first timed call.
    """
    out = {name: Timing() for name in fns}
    for name, fn in fns.items():
        for _ in range(warmup):
            fn()
    for i in range(repeats):
        for name, fn in fns.items():
            base = base_bytes[name] if isinstance(base_bytes, dict) else base_bytes
            synchronize(device)
            mem = PeakMemory(device, base) if i == 0 else contextlib.nullcontext()
            with mem:
                start = time.perf_counter()
                out[name].result = fn()
                synchronize(device)
                out[name].times.append(time.perf_counter() - start)
            if i == 0:
                out[name].peak_bytes = mem.peak
    return out


# ---------------------------------------------------------------- rows, files, tables


def row(model: str, variant: str, *, params: float, peak_bytes: float, tokens_per_s: float,
        **extra) -> dict:
    out = {"model": model, "variant": variant, "params_b": round(float(params), 6),
           "peak_mem_gb": round(float(peak_bytes) / 1e9, 4) if math.isfinite(peak_bytes) else math.nan,
           "tokens_per_s": round(float(tokens_per_s), 3)}
    for k, v in extra.items():
        out[k] = round(v, 6) if isinstance(v, float) else v
    return out


def result(measurement: str, *, device: torch.device, command: str, settings: dict,
           rows: list[dict], units: dict) -> dict:
    return {"measurement": measurement, "device": device_name(device), "command": command,
            "environment": environment(), "settings": settings, "rows": rows,
            "units": {**BASE_UNITS, **units}}


def free_device(device: torch.device) -> None:
    """Release what the last measurement left (Python garbage, the CUDA cache) so the next
    one's memory figures and headroom are its own."""
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def device_budget(device: torch.device, fraction: float = 0.5) -> float:
    """Bytes a measurement may plan to allocate beyond what lives now: ``fraction`` of the
    GPU's free memory (inf on the CPU, whose shapes are sized by the preset)."""
    if device.type != "cuda":
        return math.inf
    free, _total = torch.cuda.mem_get_info(device)
    return fraction * free


def validate(doc: dict, where: str = "bench result") -> None:
    """Raise ValueError naming the field if ``doc`` is not the result schema (a measurement
    that failed has ``failed`` and may have no rows)."""
    for key in REQUIRED_FIELDS:
        if key not in doc:
            raise ValueError(f"{where}: field {key!r} is missing")
    if not isinstance(doc["rows"], list) or not (doc["rows"] or doc.get("failed")):
        raise ValueError(f"{where}: field 'rows' expected a non-empty list")
    for key in ("python", "torch", "transformers", "platform"):
        if key not in doc["environment"]:
            raise ValueError(f"{where}: field 'environment.{key}' is missing")
    for i, r in enumerate(doc["rows"]):
        for key, typ in REQUIRED_ROW_FIELDS.items():
            if not isinstance(r.get(key), typ):
                raise ValueError(f"{where}: rows[{i}].{key} expected {typ.__name__}, "
                                 f"found {r.get(key)!r}")
        for key in r:
            if key not in ("model", "variant") and key not in doc["units"]:
                raise ValueError(f"{where}: rows[{i}].{key} has no entry in 'units'")


def write(doc: dict, out_dir: str | os.PathLike) -> Path:
    """Validate, then write ``<out_dir>/<measurement>.json`` atomically (temp file + rename)."""
    validate(doc, f"bench result {doc.get('measurement')!r}")
    path = Path(out_dir) / f"{doc['measurement']}.json"
    atomic_write_text(path, json.dumps(doc, indent=1, allow_nan=True) + "\n")
    return path


def table(doc: dict, columns: list[str] | None = None) -> str:
    """A readable fixed-width table of a result's rows."""
    rows = doc["rows"]
    if doc.get("failed"):
        return f"== {doc['measurement']} — {doc['device']}\n  FAILED: {doc['failed']}"
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    cells = [[_fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(columns)]
    lines = [f"== {doc['measurement']} — {doc['device']}",
             "  ".join(c.ljust(w) for c, w in zip(columns, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(x.ljust(w) for x, w in zip(line, widths)) for line in cells]
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"
    return str(v)


def command_line(argv: list[str]) -> str:
    """The command as typed, with the thread setting that shaped its figures in front."""
    import shlex

    env = [f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS",) if k in os.environ]
    return " ".join([*env, shlex.join(argv)])
