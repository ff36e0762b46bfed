"""Distillation-step and CompDemo measurements, through the real training code path.

``distill_step``: the student's forward/backward on the BD3LM [x_t ; x_0] layout with the
block mask — SDPA with a dense boolean mask (CPU and GPU) and, on a GPU, flex_attention with a
BlockMask (block-sparse) — the teacher's no-grad reduced-precision pass, and whole steps of
``tide.distill.objective.distill_loss`` + backward + AdamW per pipeline, with the teacher's
share of the step (timed inside the step) and, on a GPU, model FLOPs utilisation.

``compdemo``: the teacher cost of CompDemo's two passes, naive (two full [x_0 ; x_t]
forwards) and with the clean x_0 half shared (pipeline B, ``Teacher.shared_clean``), relative
to one teacher pass; and the whole-step ratio (CompDemo step / plain step) per pipeline with
the teacher/student cost ratio it was measured at.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time

import torch

from tide.bench import common
from tide.bench.flops import student_step_flops
from tide.bench.shapes import build, shape_name
from tide.distill import objective
from tide.distill.batch import collate
from tide.distill.noise import bd3lm_ce, mask_response, sample_t
from tide.distill.spec import RunSpec
from tide.models.student import bd3lm_logits
from tide.models.teachers import Teacher

log = logging.getLogger(__name__)

#: dense bf16 peak of the GPUs we may be lent (FLOP/s), for MFU
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def _run_spec(objective_name: str, compdemo: bool) -> RunSpec:
    """A run with the paper's pipeline-B settings (tide.distill.spec, no config file)."""
    pipeline = "B" if objective.OBJECTIVES[objective_name].level == "token" else "A"
    return RunSpec(pipeline=pipeline, name="bench", objective=objective_name, temperature=2.0,
                   lr=1e-5, batch_size=1, weight=1.0, l_init=0.1, l_max=0.9, schedule="cosine",
                   axis_mode="both", weighting="midrange", compdemo=compdemo, rho=0.5)


def synthetic_rows(n: int, length: int, vocab: int, seed: int = 0) -> list[dict]:
    """Rows in the shared data schema: prompt = first quarter, teacher = 2 template tokens +
    the student's tokens (token pairs for pipeline B, 2-token chunks for pipeline A)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        plen, rlen = length // 4, length - length // 4 - 2
        ids = torch.randint(2, vocab - 2, (plen + rlen,), generator=g).tolist()
        rows.append({"input_ids": ids, "labels": [-100] * plen + ids[plen:], "prompt_len": plen,
                     "teacher_input_ids": [2, 3] + ids,
                     "align_student": list(range(plen, plen + rlen)),
                     "align_teacher": list(range(plen + 2, plen + 2 + rlen)),
                     "chunks": [[s, s + 2, s + 2, s + 4] for s in range(plen, plen + rlen - 1, 2)]})
    return rows


def make_batch(pipeline: str, rows: list[dict], length: int, block: int, device) -> dict:
    batch = collate(rows, pipeline=pipeline, block_size=block, max_length=length,
                    student_tokens={"eos_id": 1, "pad_id": 0}, teacher_max_length=length,
                    teacher_eos_id=1)
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def bd3lm_mask_mod(length: int, block_size: int):
    """flex_attention ``mask_mod`` of the BD3LM [x_t ; x_0] mask (docs/method.md §E1;
    equal to tide.models.masks.bd3lm_mask, tests/test_bench.py)."""

    def mask_mod(b, h, q, k):
        q_x0, k_x0 = q >= length, k >= length
        qb = torch.where(q_x0, q - length, q) // block_size
        kb = torch.where(k_x0, k - length, k) // block_size
        same = (q_x0 == k_x0) & (qb == kb)
        return same | (~q_x0 & k_x0 & (kb < qb)) | (q_x0 & k_x0 & (kb <= qb))

    return mask_mod


def bd3lm_block_mask(length: int, block_size: int, device):
    """The block-sparse BlockMask flex_attention needs (a dense tensor mask is not allowed)."""
    from torch.nn.attention.flex_attention import create_block_mask

    return create_block_mask(bd3lm_mask_mod(length, block_size), B=None, H=None,
                             Q_LEN=2 * length, KV_LEN=2 * length, device=device)


def _student_step(student, batch, mask_id, block, generator, block_mask=None):
    """Student forward + backward of the BD3LM CE (the dense-mask path unless a BlockMask)."""
    x0, labels = batch["input_ids"], batch["labels"]
    t = sample_t(x0.shape[0], generator)  # the noise is drawn on the CPU, as in training
    masked = mask_response(labels.cpu(), t, generator).to(x0.device)
    t = t.to(x0.device)
    x_t = x0.masked_fill(masked, mask_id)
    if block_mask is None:
        logits = bd3lm_logits(student, x_t, x0, block)
    else:
        length = x0.shape[1]
        pos = torch.arange(length, device=x0.device).repeat(2)[None].expand(x0.shape[0], -1)
        logits = student(input_ids=torch.cat([x_t, x0], 1), attention_mask=block_mask,
                         position_ids=pos).logits[:, :length]
    loss = bd3lm_ce(logits, labels, masked, t, (labels != -100).sum())
    loss.backward()
    student.zero_grad(set_to_none=True)


class _TeacherClock:
    """Wall time of the teacher calls inside a step (synchronized): the loss's
    ``DistillContext.teacher_timer`` hook, entered around each teacher call."""

    def __init__(self, device):
        self.device, self.seconds = device, 0.0

    @contextlib.contextmanager
    def __call__(self):
        common.synchronize(self.device)
        start = time.perf_counter()
        yield
        common.synchronize(self.device)
        self.seconds += time.perf_counter() - start


def _setup(cfg, pipeline: str):
    """Student (trainable, in the bench dtype: bf16 on a GPU, the paper's bf16_pure; fp32 on
    the CPU) and the pipeline's teacher (no grad, low precision)."""
    student = build(cfg.preset, "student", device=cfg.device, dtype=cfg.dtype)
    student.train()
    teacher_id = "teacher_b" if pipeline == "B" else "teacher_a"
    model = build(cfg.preset, teacher_id, device=cfg.device, dtype=cfg.teacher_dtype)
    vocab = model.config.vocab_size
    teacher = Teacher(model, "bd3lm" if pipeline == "B" else "bidirectional", vocab - 1,
                      block_size=cfg.sizes["distill"]["block"])
    return student, teacher, teacher_id


class _Step:
    """One training step (distill_loss + backward + AdamW) as a callable for the timers;
    ``teacher_seconds`` accumulates the teacher's time inside the calls since ``reset``."""

    def __init__(self, cfg, pipeline, student, teacher, batch, objective_name, compdemo,
                 share=True):
        run = _run_spec(objective_name, compdemo)
        vocab = student.config.vocab_size
        self.clock = _TeacherClock(cfg.device)
        self.ctx = objective.DistillContext(student, teacher, run, vocab - 1,
                                            vocab - 96 if pipeline == "B" else None,
                                            cfg.sizes["distill"]["block"],
                                            teacher_timer=self.clock)
        self.opt = torch.optim.AdamW(student.parameters(), lr=1e-5)
        self.gen = torch.Generator().manual_seed(0)
        self.batch, self.share, self.teacher = batch, share, teacher
        self.calls = 0

    def __call__(self):
        no_share = contextlib.nullcontext() if self.share else _no_sharing(self.teacher)
        with no_share:
            loss, _ = objective.distill_loss(self.ctx, self.batch, 0.5, self.gen)
            loss.backward()
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
        self.calls += 1

    def reset(self):
        self.clock.seconds, self.calls = 0.0, 0

    @property
    def teacher_seconds(self) -> float:
        return self.clock.seconds / max(1, self.calls)


@contextlib.contextmanager
def _no_sharing(teacher):
    """The naive CompDemo: two full teacher forwards (sharing switched off)."""
    orig = teacher.shared_clean
    teacher.shared_clean = lambda *a, **k: contextlib.nullcontext()
    try:
        yield
    finally:
        teacher.shared_clean = orig


def _mfu(flops: float, seconds: float, device, dtype: torch.dtype = torch.bfloat16) -> float:
    """FLOP/s over the dense bf16 peak — only for a bf16 student (an fp32 student against
    the bf16 peak understates it; NaN on the CPU and for other dtypes)."""
    if device.type != "cuda" or dtype != torch.bfloat16:
        return math.nan
    name = torch.cuda.get_device_name(device)
    peak = next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), math.nan)
    return flops / seconds / peak


def distill_step(cfg) -> dict:
    sizes = cfg.sizes["distill"]
    L, bsz, block = sizes["length"], sizes["batch"], sizes["block"]
    rows, not_measured = [], []
    student_tokens = bsz * L  # training positions per step (each appears in x_t and x_0)
    for pipeline, objective_name in (("B", "tidal"), ("A", "tidal_chunk")):
        student, teacher, teacher_id = _setup(cfg, pipeline)
        batch = make_batch(pipeline, synthetic_rows(bsz, L, student.config.vocab_size), L, block,
                           cfg.device)
        gen = torch.Generator().manual_seed(0)
        base = common.model_bytes(student) * 4  # weights + grads + AdamW moments
        if pipeline == "B":  # the student alone: same for both pipelines
            t_s = common.measure(lambda: _student_step(student, batch, vocab_mask(student), block, gen),
                                 cfg.device, repeats=cfg.repeats, warmup=cfg.warmup, base_bytes=base)
            flops = student_step_flops(student.config, bsz, L)["total"]
            rows.append(common.row("student", "student_fwd_bwd_sdpa_dense_mask",
                                   params=common.params_b(student), peak_bytes=t_s.peak_bytes,
                                   tokens_per_s=student_tokens / t_s.median, seconds=t_s.median,
                                   mfu=_mfu(flops, t_s.median, cfg.device, student.dtype)))
            if cfg.device.type == "cuda":
                try:
                    rows.append(_flex_row(cfg, batch, block, gen, student_tokens, flops))
                except Exception as exc:  # flex needs torch.compile/triton on the image
                    not_measured.append(_failure("student_fwd_bwd_flex_blockmask", exc))
        noised = batch["teacher_ids"].masked_fill(
            torch.rand(batch["teacher_ids"].shape, generator=gen).to(cfg.device) < 0.5,
            teacher.mask_token_id)
        t_t = common.measure(lambda: teacher.logits(noised, batch["teacher_ids"], batch["teacher_valid"]),
                             cfg.device, repeats=cfg.repeats, warmup=cfg.warmup,
                             base_bytes=common.model_bytes(teacher.model))
        rows.append(common.row(teacher_id, f"teacher_pass_{pipeline}_no_grad_{_dtype(cfg.teacher_dtype)}",
                               params=common.params_b(teacher.model), peak_bytes=t_t.peak_bytes,
                               tokens_per_s=student_tokens / t_t.median, seconds=t_t.median))
        step = _Step(cfg, pipeline, student, teacher, batch, objective_name, False)
        try:
            for _ in range(cfg.warmup):
                step()
            step.reset()
            timing = common.measure(step, cfg.device, repeats=cfg.repeats, warmup=0,
                                    base_bytes=base + common.model_bytes(teacher.model))
        except RuntimeError as exc:  # out of memory: recorded; a device bug is raised
            not_measured.append(_failure(f"step_{pipeline}_{objective_name}", exc))
        else:
            teacher_s = step.teacher_seconds
            rows.append(common.row("student", f"step_{pipeline}_{objective_name}",
                                   params=common.params_b(student), peak_bytes=timing.peak_bytes,
                                   tokens_per_s=student_tokens / timing.median,
                                   seconds=timing.median, teacher_share=teacher_s / timing.median))
            log.info("distill step %s: %.3f s, teacher share %.0f%%", pipeline, timing.median,
                     100 * teacher_s / timing.median)
        # free this pipeline's models before the next one's memory is measured (every
        # closure and the optimizer hold them too)
        student = teacher = step = batch = noised = None
        common.free_device(cfg.device)
    settings = {"length": L, "batch": bsz, "block_size": block,
                "student": shape_name(cfg.preset, "student"), "student_dtype": _dtype(cfg.dtype),
                "teacher_b": shape_name(cfg.preset, "teacher_b"),
                "teacher_a": shape_name(cfg.preset, "teacher_a"),
                "teacher_dtype": _dtype(cfg.teacher_dtype), "repeats": cfg.repeats,
                "warmup": cfg.warmup, "statistic": "median over repeats",
                "threads": torch.get_num_threads(),
                "attention": "SDPA with a dense boolean [x_t ; x_0] mask" +
                             ("; flex_attention with a BlockMask" if cfg.device.type == "cuda"
                              else "; flex_attention BlockMask path runs on GPU only (not measured here)"),
                "objectives": {"B": "tidal (token level)", "A": "tidal_chunk (chunk level)"},
                "not_measured": not_measured}
    units = {"seconds": "s per call (median)",
             "tokens_per_s": "training positions (batch x length) per second",
             "teacher_share": "teacher seconds inside the step / step seconds",
             "mfu": "model FLOPs utilisation: step FLOPs (decoder matmuls, attention over the "
                    "full 2L grid, LM head on x_t; tide/bench/flops.py) over the GPU's dense "
                    "peak for the student dtype (GPU only)"}
    return common.result("distill_step", device=cfg.device, command=cfg.command,
                         settings=settings, rows=rows, units=units)


DEVICE_BUG_MARKERS = ("same device", "indices should be either on cpu",
                      "No backend type associated with device type", "without device=")


def _failure(what: str, exc: Exception) -> str:
    """A measurement that could not run (out of memory, a kernel the image lacks), as one
    line for the result's ``not_measured``. Tensors on the wrong device are a bug of the
    code being measured, never "not measured": they are raised."""
    if any(m in str(exc) for m in DEVICE_BUG_MARKERS):
        raise exc
    log.warning("%s: not measured (%s: %s)", what, type(exc).__name__, exc)
    return f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"


def vocab_mask(model) -> int:
    return model.config.vocab_size - 1


def _dtype(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _flex_row(cfg, batch, block, gen, student_tokens, flops) -> dict:
    """Student forward/backward through flex_attention with a BlockMask (GPU)."""
    student = build(cfg.preset, "student", device=cfg.device, dtype=cfg.dtype,
                    attn_implementation="flex_attention")
    student.train()
    block_mask = bd3lm_block_mask(batch["input_ids"].shape[1], block, cfg.device)
    t = common.measure(lambda: _student_step(student, batch, vocab_mask(student), block, gen,
                                             block_mask=block_mask),
                       cfg.device, repeats=cfg.repeats, warmup=cfg.warmup + 1,
                       base_bytes=common.model_bytes(student) * 4)
    return common.row("student", "student_fwd_bwd_flex_blockmask", params=common.params_b(student),
                      peak_bytes=t.peak_bytes, tokens_per_s=student_tokens / t.median,
                      seconds=t.median, mfu=_mfu(flops, t.median, cfg.device, student.dtype))


def compdemo(cfg) -> dict:
    sizes = cfg.sizes["distill"]
    L, bsz, block = sizes["length"], sizes["batch"], sizes["block"]
    rows, not_measured = [], []
    tokens = bsz * L
    for pipeline, objective_name in (("B", "tidal"), ("A", "tidal_chunk")):
        student, teacher, teacher_id = _setup(cfg, pipeline)
        batch = make_batch(pipeline, synthetic_rows(bsz, L, student.config.vocab_size), L, block,
                           cfg.device)
        clean, valid = batch["teacher_ids"], batch["teacher_valid"]
        g = torch.Generator().manual_seed(1)
        split = torch.rand(clean.shape, generator=g).to(cfg.device) < 0.5
        n1, n2 = clean.masked_fill(split, teacher.mask_token_id), clean.masked_fill(~split, teacher.mask_token_id)
        params, tbytes = common.params_b(teacher.model), common.model_bytes(teacher.model)

        def one():
            return teacher.logits(n1, clean, valid)

        def naive():
            return teacher.logits(n1, clean, valid), teacher.logits(n2, clean, valid)

        def shared():
            with teacher.shared_clean(clean, valid):
                return teacher.logits(n1, clean, valid), teacher.logits(n2, clean, valid)

        variants = {"teacher_one_pass": one, "teacher_compdemo_naive": naive}
        if teacher.kind == "bd3lm":
            variants["teacher_compdemo_shared_x0"] = shared
        timings = common.measure_many(variants, cfg.device, repeats=cfg.repeats,
                                      warmup=cfg.warmup, base_bytes=tbytes)
        ref = timings["teacher_one_pass"].median
        for name, t in timings.items():
            rows.append(common.row(teacher_id, f"{name}_{pipeline}", params=params,
                                   peak_bytes=t.peak_bytes, tokens_per_s=tokens / t.median,
                                   seconds=t.median, teacher_cost_ratio=t.median / ref))
        # whole steps, interleaved: plain, CompDemo naive, CompDemo shared (pipeline B)
        gen = torch.Generator().manual_seed(0)
        steps = {"student_fwd_bwd": lambda: _student_step(student, batch, vocab_mask(student), block, gen),
                 "step_plain": _Step(cfg, pipeline, student, teacher, batch, objective_name, False),
                 "step_compdemo_naive": _Step(cfg, pipeline, student, teacher, batch,
                                              objective_name, True, share=False)}
        if teacher.kind == "bd3lm":
            steps["step_compdemo_shared_x0"] = _Step(cfg, pipeline, student, teacher, batch,
                                                     objective_name, True)
        base = common.model_bytes(student) * 4 + tbytes
        try:
            for fn in steps.values():
                for _ in range(cfg.warmup):
                    fn()
                if isinstance(fn, _Step):
                    fn.reset()
            st = common.measure_many(steps, cfg.device, repeats=cfg.repeats, warmup=0,
                                     base_bytes=base)
        except RuntimeError as exc:  # out of memory: recorded; a device bug is raised
            not_measured.append(_failure(f"whole steps of pipeline {pipeline}", exc))
            student = teacher = steps = variants = batch = n1 = n2 = clean = valid = fn = None
            one = naive = shared = None
            common.free_device(cfg.device)
            continue
        plain, student_s = st["step_plain"].median, st["student_fwd_bwd"].median
        for name in [n for n in steps if n.startswith("step_")]:
            t = st[name]
            rows.append(common.row("student", f"{name}_{pipeline}", params=common.params_b(student),
                                   peak_bytes=t.peak_bytes, tokens_per_s=tokens / t.median,
                                   seconds=t.median, step_ratio=t.median / plain,
                                   teacher_student_ratio=ref / student_s,
                                   teacher_share=steps[name].teacher_seconds / t.median))
            log.info("compdemo %s %s: step ratio %.2f (teacher/student %.2f)", pipeline, name,
                     t.median / plain, ref / student_s)
        student = teacher = steps = variants = batch = n1 = n2 = clean = valid = fn = None
        one = naive = shared = None
        common.free_device(cfg.device)
    settings = {"length": L, "batch": bsz, "block_size": block, "rho": 0.5,
                "teacher_b": shape_name(cfg.preset, "teacher_b"),
                "teacher_a": shape_name(cfg.preset, "teacher_a"),
                "student": shape_name(cfg.preset, "student"),
                "teacher_dtype": _dtype(cfg.teacher_dtype), "repeats": cfg.repeats,
                "warmup": cfg.warmup, "statistic": "median over repeats, variants interleaved",
                "threads": torch.get_num_threads(),
                "note": "pipeline A's teacher attends bidirectionally to the noised tokens, so "
                        "its two passes share nothing; only pipeline B has the shared-x0 path",
                "not_measured": not_measured}
    units = {"seconds": "s per call (median)",
             "tokens_per_s": "training positions (batch x length) per second",
             "teacher_cost_ratio": "teacher seconds / one teacher pass",
             "step_ratio": "CompDemo step seconds / plain step seconds (same pipeline)",
             "teacher_student_ratio": "one teacher pass / student forward+backward",
             "teacher_share": "teacher seconds inside the step / step seconds"}
    return common.result("compdemo", device=cfg.device, command=cfg.command, settings=settings,
                         rows=rows, units=units)
