"""Fast paths measured by ``tide bench`` give the plain paths' outputs; ``tide bench --quick``
writes schema-valid JSON. Nothing here is timed: the benchmarks live in ``tide bench``.
"""

from __future__ import annotations

import contextlib
import json

import pytest
import torch

from test_train_objective import BLOCK, S_MASK, VSH, _collate, _rows, _run, _student, _teacher
from tide.distill.objective import DistillContext, distill_loss
from tide.models.build import build_dense
from tide.models.student import BD3LMCleanPrefix, bd3lm_logits
from tide.models.teachers import Teacher


DENSE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             intermediate_size=64)


# ---------------------------------------------------------------- CompDemo: shared clean x_0


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("xt_first", [False, True])
def test_shared_clean_half_logits_equal_full_bd3lm_forward(attn, xt_first):
    """x_0 once + x_t against its K/V == the full [x_0 ; x_t] forward, per pass, with padding."""
    model = build_dense(100, DENSE, attn_implementation=attn).eval()
    g = torch.Generator().manual_seed(0)
    clean = torch.randint(0, 98, (3, 14), generator=g)  # 14: a partial last block of 4
    valid = torch.ones_like(clean, dtype=torch.bool)
    valid[1, 9:] = False
    valid[2, 4:] = False  # a whole padded block
    with torch.no_grad():
        prefix = BD3LMCleanPrefix(model, clean, 4, xt_first=xt_first, key_valid=valid)
        for p in (0.3, 0.7, 1.0):
            noised = clean.masked_fill(torch.rand(clean.shape, generator=g) < p, 99)
            full = bd3lm_logits(model, noised, clean, 4, xt_first=xt_first, key_valid=valid)
            torch.testing.assert_close(prefix.logits(noised), full, atol=1e-5, rtol=1e-5)
    assert prefix.cache.committed == 14  # trial x_t halves never stay in the cache


def test_teacher_shared_clean_only_for_its_own_clean_tensor():
    teacher = Teacher(build_dense(100, DENSE), "bd3lm", 99, block_size=4)
    clean = torch.randint(0, 98, (2, 8))
    other = torch.randint(0, 98, (2, 8))
    noised = clean.clone()
    noised[:, ::2] = 99
    with teacher.shared_clean(clean):
        assert teacher._shared is not None
        shared = teacher.logits(noised, clean)
        unshared = teacher.logits(noised, other)  # a different x_0: full forward
    assert teacher._shared is None
    torch.testing.assert_close(shared, teacher.logits(noised, clean), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(unshared, teacher.logits(noised, other))
    moe_like = Teacher(build_dense(100, DENSE), "bidirectional", 99)
    with moe_like.shared_clean(clean):
        assert moe_like._shared is None  # pipeline A: nothing to share


def test_compdemo_step_loss_equal_with_and_without_sharing(monkeypatch):
    """The whole pipeline-B CompDemo loss (and its gradient) is unchanged by sharing."""
    run = _run("tidal", compdemo=True)
    batch = _collate("B")(_rows()[:3])
    results = []
    for share in (True, False):
        teacher, student = _teacher("B"), _student()
        if not share:
            monkeypatch.setattr(teacher, "shared_clean", lambda *a, **k: contextlib.nullcontext())
        ctx = DistillContext(student, teacher, run, S_MASK, VSH, BLOCK)
        loss, logs = distill_loss(ctx, batch, 0.3, torch.Generator().manual_seed(0))
        loss.backward()
        grad = torch.cat([p.grad.flatten() for p in student.parameters() if p.grad is not None])
        results.append((loss.detach(), logs["distill"], grad))
    (l1, d1, g1), (l2, d2, g2) = results
    assert d1 != 0.0
    torch.testing.assert_close(l1, l2, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(g1, g2, atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------- eval: batched likelihood


def test_batched_likelihood_equals_the_evaluation_estimator():
    """Rows of many requests in one forward, and rows sharing their request's clean x_0,
    == tide/eval/lm.py's one-request-at-a-time loop."""
    from tide.bench.likelihood import batched_loglikelihood, shared_x0_loglikelihood
    from tide.likelihood import bd3lm_loglikelihood

    model = build_dense(64, DENSE, max_positions=128)  # any decoder taking a 4-D mask
    g = torch.Generator().manual_seed(0)
    requests = [(torch.randint(2, 60, (c,), generator=g).tolist(),
                 torch.randint(2, 60, (m,), generator=g).tolist())
                for c, m in ((5, 1), (9, 4), (3, 7), (12, 2))]  # M = 1 is the exact single row

    def gens():
        return [torch.Generator().manual_seed(10 + i) for i in range(len(requests))]

    ref = [bd3lm_loglikelihood(model, c, m, mask_id=63, block_size=4, mc_num=8, mc_batch_size=4,
                                  generator=gen) for (c, m), gen in zip(requests, gens())]
    for rows_per_forward in (4, 7, 64):  # chunks that split requests and mix lengths
        got = batched_loglikelihood(model, requests, gens(), mask_id=63, block_size=4, mc_num=8,
                                    mc_batch_size=4, rows_per_forward=rows_per_forward)
        assert got == pytest.approx(ref, rel=1e-5, abs=1e-5)
        shared = shared_x0_loglikelihood(model, requests, gens(), mask_id=63, block_size=4,
                                         mc_num=8, mc_batch_size=4, rows_per_forward=rows_per_forward)
        assert shared == pytest.approx(ref, rel=1e-5, abs=1e-5)
    assert len(set(round(x, 3) for x in ref)) == len(ref)  # distinct estimates: a real check


# ---------------------------------------------------------------- tide bench --quick


def test_tide_bench_quick_writes_schema_valid_json(tmp_path, capsys):
    from tide.bench import MEASUREMENTS
    from tide.bench.common import validate
    from tide.cli import main

    assert main(["--root", str(tmp_path), "bench", "--quick"]) == 0
    out = capsys.readouterr().out
    docs = {}
    for name in MEASUREMENTS:
        doc = json.loads((tmp_path / "bench" / f"{name}.json").read_text())
        validate(doc, name)
        assert doc["measurement"] == name and f"== {name}" in out
        assert doc["device"].startswith("cpu: ") and "threads" in doc["device"]
        assert "tide" in doc["command"] and "bench --quick" in doc["command"]
        assert set(doc["environment"]) == {"python", "torch", "transformers", "platform"}
        docs[name] = doc
    assert {r["model"] for r in docs["generation"]["rows"]} == {"ar", "student", "teacher_a", "teacher_b"}
    sampler = {r["variant"]: r for r in docs["sampler"]["rows"]}
    assert all(sampler[v]["identical_to_full"] for v in ("prefix_per_block", "kv_cache"))
    assert sampler["kv_cache"]["nfe_per_token"] > 0
    assert all(r["max_abs_diff_vs_per_request"] < 1e-4 for r in docs["eval_likelihood"]["rows"])
    variants = {r["variant"] for r in docs["compdemo"]["rows"]}
    assert {"teacher_compdemo_shared_x0_B", "step_compdemo_shared_x0_B", "step_compdemo_naive_A"} <= variants
    assert {r["axis"] for r in docs["scaling"]["rows"]} == {"prompt_tokens", "batch", "block_size", "length"}


def test_validate_names_the_bad_field():
    from tide.bench.common import validate

    good = {"measurement": "m", "device": "cpu", "command": "tide bench", "settings": {},
            "environment": {"python": "3", "torch": "2", "transformers": "5", "platform": "x"},
            "units": {"params_b": "B", "peak_mem_gb": "GB", "tokens_per_s": "1/s", "extra": "s"},
            "rows": [{"model": "student", "variant": "v", "params_b": 0.1, "peak_mem_gb": 1.0,
                      "tokens_per_s": 2.0, "extra": 1.0}]}
    validate(good)
    with pytest.raises(ValueError, match="units"):
        validate({**good, "units": {k: v for k, v in good["units"].items() if k != "extra"}})
    with pytest.raises(ValueError, match=r"rows\[0\]\.tokens_per_s"):
        validate({**good, "rows": [{**good["rows"][0], "tokens_per_s": None}]})
    with pytest.raises(ValueError, match="'command'"):
        validate({k: v for k, v in good.items() if k != "command"})


def test_bench_and_sampler_import_only_torch_and_transformers():
    """What a bare GPU image has: the bench path pulls in no workflow/eval/report dependency."""
    code = (
        "import sys, torch, transformers\n"
        "from transformers import Qwen3ForCausalLM, Qwen3MoeForCausalLM\n"
        "before = set(sys.modules)\n"
        "import tide.bench, tide.bench.common, tide.bench.sampler, tide.bench.distill\n"
        "import tide.bench.likelihood, tide.bench.scaling, tide.bench.__main__, tide.sample\n"
        "bad = {'yaml', 'jsonschema', 'snakemake', 'lm_eval', 'pandas', 'matplotlib', 'datasets',\n"
        "       'tide.config', 'tide.stages', 'tide.eval', 'tide.report'}\n"
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in bad or m in bad))\n")
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("length,block", [(16, 4), (14, 4), (12, 12)])
def test_flex_mask_mod_equals_the_bd3lm_mask(length, block):
    """The GPU path's flex_attention mask_mod allows exactly what the dense SDPA mask allows."""
    from tide.bench.distill import bd3lm_mask_mod
    from tide.models.masks import bd3lm_mask

    idx = torch.arange(2 * length)
    got = bd3lm_mask_mod(length, block)(0, 0, idx[:, None], idx[None, :])
    assert torch.equal(got, bd3lm_mask(length, block))


# ----------------------------------------------------------------------------- issue 12 item 7


def test_the_flop_counter_matches_pytorch_on_a_student_step():
    """tide/bench/flops.py: decoder matmuls + attention (full 2L grid) + LM head on the x_t
    half, ×3 for forward + backward, against torch's FlopCounterMode on the real step."""
    from torch.utils.flop_counter import FlopCounterMode

    from tide.bench.distill import _student_step, make_batch, synthetic_rows
    from tide.bench.flops import student_step_flops
    from tide.bench.shapes import build

    # eager attention: its QKᵀ and AV are matmuls the counter sees (CPU SDPA is not counted)
    student = build("quick", "student", device=torch.device("cpu"), dtype=torch.float32,
                    attn_implementation="eager")
    student.train()
    B, L = 2, 32
    batch = make_batch("B", synthetic_rows(B, L, student.config.vocab_size), L, 8, "cpu")
    with FlopCounterMode(display=False) as counter:
        _student_step(student, batch, student.config.vocab_size - 1, 8, torch.Generator().manual_seed(0))
    ours = student_step_flops(student.config, B, L)
    assert ours["total"] == pytest.approx(counter.get_total_flops(), rel=0.02)
    assert ours["lm_head"] > 0 and ours["attention"] > 0  # the parts a 6·N·tokens count left out


def test_a_failing_measurement_is_recorded_and_the_others_still_run(tmp_path, monkeypatch, capsys):
    """An out-of-memory in one measurement no longer stops the bench: it is written to that
    measurement's JSON as ``failed`` and the next measurement runs."""
    import tide.bench.likelihood as likelihood
    from tide.bench.common import validate
    from tide.cli import main

    def oom(cfg):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 42.00 GiB")

    monkeypatch.setattr(likelihood, "eval_likelihood", oom)
    rc = main(["--root", str(tmp_path), "bench", "--quick", "eval_likelihood", "compdemo"])
    assert rc == 1  # the failure is not hidden
    failed = json.loads((tmp_path / "bench" / "eval_likelihood.json").read_text())
    validate(failed)
    assert failed["rows"] == [] and failed["failed"].startswith("OutOfMemoryError: CUDA out of memory")
    ran = json.loads((tmp_path / "bench" / "compdemo.json").read_text())
    assert ran["rows"] and "failed" not in ran
    assert "FAILED: OutOfMemoryError" in capsys.readouterr().out


def test_likelihood_rows_per_forward_fit_the_device():
    from tide.bench.likelihood import fit_rows_per_forward

    gib = 2 ** 30
    # the GPU preset's 512 rows × 288 positions at Qwen's vocabulary: ~42 GiB of bf16 logits
    assert 512 * 288 * 151936 * 2 > 40 * gib
    rows = fit_rows_per_forward(512, 288, 151936, 2, budget=20 * gib)
    assert rows < 512 and rows * 288 * 151936 * 10 <= 20 * gib
    assert fit_rows_per_forward(32, 288, 151936, 2, budget=float("inf")) == 32
    assert fit_rows_per_forward(32, 288, 151936, 2, budget=1.0) == 1


def test_scaling_points_beyond_the_device_are_skipped_by_estimate():
    from tide.bench.scaling import student_step_bytes
    from tide.bench.shapes import build

    student = build("gpu", "student", device=torch.device("meta"), dtype=torch.bfloat16)
    # the GPU preset's largest distill point, 2048 × 8 at batch 8: beyond 0.8 × 80 GB
    assert student_step_bytes(student, 8, 2048) > 0.8 * 80e9
    assert student_step_bytes(student, 8, 512) < 0.8 * 80e9


@pytest.mark.parametrize("measurement", ["distill_step", "compdemo"])
def test_pipeline_b_models_are_freed_before_pipeline_a_is_measured(measurement, monkeypatch):
    """Pipeline A's memory figures included pipeline B's student and teacher, still referenced
    by the step closures and the optimizer. When A's models are built, B's must be gone."""
    import gc
    import weakref

    from tide import bench
    from tide.bench import distill

    alive_at_a, refs, setup = [], [], distill._setup

    def recording_setup(cfg, pipeline):
        if pipeline == "A":
            gc.collect()
            alive_at_a.extend(r() is not None for r in refs)
        student, teacher, tid = setup(cfg, pipeline)
        refs.extend([weakref.ref(student), weakref.ref(teacher.model)])
        return student, teacher, tid

    monkeypatch.setattr(distill, "_setup", recording_setup)
    cfg = bench.config(quick=True, device="cpu", repeats=1, command="test")
    getattr(distill, measurement)(cfg)
    assert alive_at_a == [False, False]
