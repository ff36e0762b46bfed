"""How costs grow with sequence length, batch and block size (tables + a log-log plot).

Sampler (student, greedy, EOS stop off): the KV-cached sampler over prompt length, batch and
block size, and full recomputation over prompt length beside it. Distillation: the student's
BD3LM forward/backward over sequence length, batch and block size.
"""

from __future__ import annotations

import logging

import torch

from tide.bench import common
from tide.bench.distill import _student_step, make_batch, synthetic_rows, vocab_mask
from tide.bench.sampler import block_generate, prompts
from tide.bench.shapes import build, shape_name

log = logging.getLogger(__name__)


def student_step_bytes(student, batch: int, length: int) -> float:
    """Bytes a student forward/backward of ``batch`` × ``length`` allocates beyond its
    weights (tide/memory.py's activation, mask and logits terms)."""
    from tide import memory

    shape = memory.shape_of_config(student.config)
    est = memory.estimate(shape, shape, memory.RunShape(
        "B", batch, length, 1, False, "fp32" if student.dtype == torch.float32 else "bf16_pure"))
    return est["student_grads"] + est["student_activations"] + est["attention_mask"] + \
        est["student_logits"]


def scaling(cfg) -> dict:
    sizes = cfg.sizes["scaling"]
    rows = []
    model = build(cfg.preset, "student", device=cfg.device, dtype=cfg.dtype)
    params, base = common.params_b(model), common.model_bytes(model)
    s = sizes["sampler"]
    grid = [("prompt_tokens", v, dict(s["base"], prompt=v)) for v in s["prompt"]] + \
           [("batch", v, dict(s["base"], batch=v)) for v in s["batch"]] + \
           [("block_size", v, dict(s["base"], block=v)) for v in s["block"]]
    block_generate(model, prompts(1, 8, model.config.vocab_size), s["base"])  # one warm-up call
    for axis, value, point in grid:
        modes = ("incremental", "off") if axis == "prompt_tokens" else ("incremental",)
        ids = prompts(point["batch"], point["prompt"], model.config.vocab_size)
        for mode in modes:
            t = common.measure(lambda: block_generate(model, ids, point, cache=mode), cfg.device,
                               repeats=cfg.scaling_repeats, warmup=0, base_bytes=base)
            n = point["batch"] * point["new_tokens"]
            variant = "sampler_kv_cache" if mode == "incremental" else "sampler_full_recompute"
            rows.append(common.row("student", variant, params=params, peak_bytes=t.peak_bytes,
                                   tokens_per_s=n / t.median, seconds=t.median, axis=axis,
                                   value=value))
            log.info("scaling %-22s %-13s %5d  %.3f s", variant, axis, value, t.median)
    del model
    student = build(cfg.preset, "student", device=cfg.device, dtype=cfg.dtype)  # bf16 on a GPU
    student.train()
    d = sizes["distill"]
    grid = [("length", v, dict(d["base"], length=v)) for v in d["length"]] + \
           [("batch", v, dict(d["base"], batch=v)) for v in d["batch"]] + \
           [("block_size", v, dict(d["base"], block=v)) for v in d["block"]]
    gen = torch.Generator().manual_seed(0)
    budget, not_measured = common.device_budget(cfg.device, 0.8), []
    for axis, value, point in grid:
        need = student_step_bytes(student, point["batch"], point["length"])
        if need > budget:  # e.g. 2048 × 8 on an 80 GB GPU
            not_measured.append(f"distill {axis}={value}: estimated {need / 1e9:.1f} GB > "
                                f"budget {budget / 1e9:.1f} GB")
            continue
        batch = make_batch("B", synthetic_rows(point["batch"], point["length"],
                                               student.config.vocab_size),
                           point["length"], point["block"], cfg.device)
        try:
            t = common.measure(lambda: _student_step(student, batch, vocab_mask(student),
                                                     point["block"], gen),
                               cfg.device, repeats=cfg.scaling_repeats, warmup=1,
                               base_bytes=common.model_bytes(student) * 4)
        except torch.OutOfMemoryError as exc:  # recorded; the other points still run
            not_measured.append(f"distill {axis}={value}: {type(exc).__name__}")
            del batch
            common.free_device(cfg.device)
            continue
        n = point["batch"] * point["length"]
        rows.append(common.row("student", "distill_student_fwd_bwd", params=common.params_b(student),
                               peak_bytes=t.peak_bytes, tokens_per_s=n / t.median,
                               seconds=t.median, axis=axis, value=value))
        log.info("scaling %-22s %-13s %5d  %.3f s", "distill_student_fwd_bwd", axis, value, t.median)
    settings = {"shape": shape_name(cfg.preset, "student"), "dtype": str(cfg.dtype),
                "sampler_base": s["base"], "distill_base": d["base"],
                "repeats": cfg.scaling_repeats, "statistic": "median over repeats",
                "threads": torch.get_num_threads(),
                "how_to_read": "each row varies one axis (field 'axis') from the base point",
                "not_measured": not_measured}
    units = {"seconds": "s per call (median)", "axis": "the varied setting",
             "value": "its value (tokens, rows or block size)",
             "tokens_per_s": "sampler: generated tokens/s; distill: training positions/s"}
    return common.result("scaling", device=cfg.device, command=cfg.command, settings=settings,
                         rows=rows, units=units)
