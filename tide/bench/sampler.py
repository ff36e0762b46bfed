"""Sampler and generation measurements.

``sampler``: the BD3LM student at one stated shape, the same prompts and settings, through the
three prefix strategies of tide/sample.py — full recomputation at every step, the prefix
re-run once per block (dllm's reference sampler), the incremental KV cache — and the cache
with confidence-threshold decoding. Greedy tokens are compared with the full recomputation.

``generation``: tokens/s and peak memory of the four models of the paper's efficiency table
(reference_efficiency.csv) under one protocol: the AR baseline through transformers'
``generate`` (greedy, its own KV cache), the student and both teachers through our block
sampler (KV cache on), batch 1, EOS stop off so every run generates the same token count.
"""

from __future__ import annotations

import logging

import torch

from tide.bench import common
from tide.bench.shapes import build, shape_name
from tide.sample import SamplerSettings, generate

log = logging.getLogger(__name__)

VARIANTS = (  # (row variant, SamplerSettings.cache, threshold)
    ("full_recompute", "off", None),
    ("prefix_per_block", "per_block", None),
    ("kv_cache", "incremental", None),
    ("kv_cache_threshold_0.9", "incremental", 0.9),
)


def prompts(n: int, length: int, vocab: int, seed: int = 0) -> list[list[int]]:
    """Random prompt ids avoiding pad (0), eos (1) and the mask id (vocab - 1)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(2, vocab - 1, (n, length), generator=g).tolist()


class ForwardCounter:
    """Counts decoder forwards (NFE): every prefix, step and commit forward."""

    def __init__(self, model):
        self.calls = 0
        self._handle = model.base_model.register_forward_pre_hook(self._hook)

    def _hook(self, *_):
        self.calls += 1

    def close(self):
        self._handle.remove()


def block_generate(model, ids: list[list[int]], sizes: dict, *, cache: str = "incremental",
                   threshold: float | None = None) -> list[list[int]]:
    """Our block sampler with EOS stop off (every row generates ``new_tokens``)."""
    settings = SamplerSettings(max_new_tokens=sizes["new_tokens"], steps=sizes["steps"],
                               block_size=sizes["block"], stop_on_eos=False, cache=cache,
                               threshold=threshold)
    vocab = model.config.vocab_size
    # eos id outside the vocabulary: nothing is cut, all generated tokens are counted
    return generate(model, ids, settings, mask_id=vocab - 1, pad_id=0, eos_ids={vocab})


def sampler(cfg) -> dict:
    sizes = cfg.sizes["sampler"]
    model = build(cfg.preset, "student", device=cfg.device, dtype=cfg.dtype)
    ids = prompts(sizes["batch"], sizes["prompt"], model.config.vocab_size)
    n_tokens = sizes["batch"] * sizes["new_tokens"]
    one_block = dict(sizes, new_tokens=sizes["block"], steps=sizes["block"])
    counter, nfe, fns = ForwardCounter(model), {}, {}
    for variant, cache, threshold in VARIANTS:
        for _ in range(cfg.warmup):  # one block: a full-recomputation run costs minutes on a CPU
            block_generate(model, ids, one_block, cache=cache, threshold=threshold)

        def fn(variant=variant, cache=cache, threshold=threshold):
            before = counter.calls
            out = block_generate(model, ids, sizes, cache=cache, threshold=threshold)
            nfe[variant] = counter.calls - before
            return out
        fns[variant] = fn
    timings = common.measure_many(fns, cfg.device, repeats=cfg.repeats, warmup=0,
                                  base_bytes=common.model_bytes(model))
    counter.close()
    full = timings["full_recompute"]
    rows = []
    for variant, cache, threshold in VARIANTS:
        timing = timings[variant]
        tps = n_tokens / timing.median
        rows.append(common.row(
            "student", variant, params=common.params_b(model), peak_bytes=timing.peak_bytes,
            tokens_per_s=tps, seconds=timing.median, seconds_all=[round(t, 4) for t in timing.times],
            speedup_vs_full=full.median / timing.median, nfe_per_token=nfe[variant] / n_tokens,
            # the threshold rule decodes differently; its own fast == plain check is a test
            identical_to_full=timing.result == full.result if threshold is None else None))
        log.info("sampler %-24s %8.1f tokens/s  (%.2fx full recomputation)", variant, tps,
                 full.median / timing.median)
    settings = {"shape": shape_name(cfg.preset, "student"), "dtype": str(cfg.dtype),
                "attn_implementation": "sdpa", "prompt_tokens": sizes["prompt"],
                "new_tokens": sizes["new_tokens"], "block_size": sizes["block"],
                "steps": sizes["steps"], "batch": sizes["batch"], "temperature": 0.0,
                "stop_on_eos": False, "repeats": cfg.repeats, "warmup": cfg.warmup,
                "statistic": "median over repeats, variants interleaved",
                "threads": torch.get_num_threads(),
                "threshold_note": "threshold decoding: commit every masked slot with "
                                  "confidence >= 0.9, at least one per step; with random "
                                  "weights confidences are low, so it rarely commits more"}
    units = {"seconds": "s per generate call (median)", "seconds_all": "s, every repeat",
             "speedup_vs_full": "x tokens/s of full_recompute",
             "nfe_per_token": "decoder forwards per generated token",
             "identical_to_full": "greedy tokens equal to full_recompute's (null for the "
                                  "threshold rule, a different decoding; tested against its "
                                  "own plain path in tests/test_sampler_fast.py)"}
    return common.result("sampler", device=cfg.device, command=cfg.command, settings=settings,
                         rows=rows, units=units)


def generation(cfg) -> dict:
    sizes = cfg.sizes["generation"]
    rows = []
    for model_id in ("ar", "student", "teacher_a", "teacher_b"):
        model = build(cfg.preset, model_id, device=cfg.device, dtype=cfg.dtype)
        ids = prompts(1, sizes["prompt"], model.config.vocab_size)
        one_block = dict(sizes, new_tokens=sizes["block"], steps=sizes["block"])
        if model_id == "ar":
            inp = torch.tensor(ids, device=cfg.device)

            def run(sizes=sizes):
                out = model.generate(inp, attention_mask=torch.ones_like(inp), do_sample=False,
                                     max_new_tokens=sizes["new_tokens"],
                                     min_new_tokens=sizes["new_tokens"], pad_token_id=0)
                return out[:, inp.shape[1]:].tolist()
            how = "transformers generate, greedy, DynamicCache"
        else:
            def run(sizes=sizes):
                return block_generate(model, ids, sizes)
            how = f"block sampler, KV cache, block {sizes['block']}, steps {sizes['steps']}"
        for _ in range(cfg.warmup):  # a one-block warm-up: the code paths, not the minutes
            run(one_block)
        timing = common.measure(run, cfg.device, repeats=cfg.gen_repeats, warmup=0,
                                base_bytes=common.model_bytes(model))
        generated = sum(len(r) for r in timing.result)
        tps = generated / timing.median
        rows.append(common.row(model_id, how, params=common.params_b(model),
                               peak_bytes=timing.peak_bytes, tokens_per_s=tps,
                               seconds=timing.median, shape=shape_name(cfg.preset, model_id),
                               generated_tokens=generated))
        log.info("generation %-9s %8.1f tokens/s  %.3f GB", model_id, tps, timing.peak_bytes / 1e9)
        del model
    settings = {"dtype": str(cfg.dtype), "attn_implementation": "sdpa", "batch": 1,
                "prompt_tokens": sizes["prompt"], "new_tokens": sizes["new_tokens"],
                "block_size": sizes["block"], "steps": sizes["steps"], "stop_on_eos": False,
                "repeats": cfg.gen_repeats, "warmup": cfg.warmup,
                "statistic": "median over repeats", "threads": torch.get_num_threads(),
                "protocol": "random weights and prompts; every generated token counted "
                            "(no EOS stop); teachers decoded with the student's block sampler"}
    units = {"seconds": "s per generate call (median)", "shape": "model shape built",
             "generated_tokens": "tokens generated per call"}
    return common.result("generation", device=cfg.device, command=cfg.command,
                         settings=settings, rows=rows, units=units)
