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


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


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
