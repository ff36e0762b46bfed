"""Hand-checked values for the distillation formulas (docs/method.md §1.0–1.3, §2).

Every test asserts a number worked out by hand in its comments.  A test's docstring line
``Catches: a; b`` names the mutations of ``tests/mutations.py`` it must kill; the script
runs exactly the tests tagged with a mutation's name.
"""

from __future__ import annotations

import math

import pytest
import torch

from tide.distill import calm, compdemo, kl, tidal

LN2 = math.log(2.0)


def close(x, y, tol=1e-6):
    return torch.allclose(torch.as_tensor(x, dtype=torch.float64),
                          torch.as_tensor(y, dtype=torch.float64), atol=tol, rtol=0)


# ---------------------------------------------------------------------------- λ(t, p) §1.1

def test_lambda_train_schedules():
    """λ_train(p) endpoints and midpoints for both schedules."""
    for sched in ("cosine", "linear"):
        assert tidal.lambda_train(0.0, schedule=sched) == pytest.approx(0.1)
        assert tidal.lambda_train(1.0, schedule=sched) == pytest.approx(0.9)
        assert tidal.lambda_train(0.5, schedule=sched) == pytest.approx(0.5)  # ½(1-cos π/2) = ½
    # cosine p=¼: 0.1 + 0.8·½(1 - cos π/4) = 0.1 + 0.4·(1 - 0.70710678) = 0.21715729
    assert tidal.lambda_train(0.25) == pytest.approx(0.21715729, abs=1e-7)
    # linear p=¼: 0.1 + 0.8·0.25 = 0.3
    assert tidal.lambda_train(0.25, schedule="linear") == pytest.approx(0.3)
    # other endpoints: 0.2 → 0.6 at p=½
    assert tidal.lambda_train(0.5, l_init=0.2, l_max=1.0) == pytest.approx(0.6)


def test_tidal_lambda_axis_modes():
    """λ(t,p) for the three axis modes (docs/method.md §1.1)."""
    t = torch.tensor([0.0, 0.5, 1.0])
    # both: λ_train(p)·(1-t); p=1 → 0.9·[1, .5, 0]
    assert close(tidal.tidal_lambda(t, 1.0), [0.9, 0.45, 0.0])
    # both, cosine p=¼: 0.21715729·[1, .5, 0]
    assert close(tidal.tidal_lambda(t, 0.25), [0.21715729, 0.10857864, 0.0])
    # both, linear p=¼: 0.3·[1, .5, 0]
    assert close(tidal.tidal_lambda(t, 0.25, schedule="linear"), [0.3, 0.15, 0.0])
    # p=0: 0.1·(1-t)
    assert close(tidal.tidal_lambda(t, 0.0), [0.1, 0.05, 0.0])
    # training_only: λ_train(p) for every t
    assert close(tidal.tidal_lambda(t, 0.25, schedule="linear", axis_mode="training_only"),
                 [0.3, 0.3, 0.3])
    assert close(tidal.tidal_lambda(t, 0.25, axis_mode="training_only"), [0.21715729] * 3)
    # timestep_only: l_max·(1-t), independent of p and of the schedule
    for p in (0.0, 0.3, 1.0):
        for sched in ("cosine", "linear"):
            assert close(tidal.tidal_lambda(t, p, schedule=sched, axis_mode="timestep_only"),
                         [0.9, 0.45, 0.0])
    assert tidal.tidal_lambda(t, 0.5).shape == (3,)


def test_tidal_unknown_names_raise():
    t = torch.tensor([0.5])
    with pytest.raises(ValueError, match="cosine, linear"):
        tidal.tidal_lambda(t, 0.5, schedule="exp")
    with pytest.raises(ValueError, match="both, training_only, timestep_only"):
        tidal.tidal_lambda(t, 0.5, axis_mode="space")
    with pytest.raises(ValueError, match="uniform, midrange"):
        tidal.timestep_weight(t, "gauss")


def test_midrange_and_timestep_weight():
    """w_mid(t) = exp(-(t-0.5)²/(2·0.15²)): 1 at 0.5, exp(-½) one width away."""
    t = torch.tensor([0.5, 0.35, 0.65, 0.2])
    # t=0.2: exp(-0.09/0.045) = exp(-2)
    expected = [1.0, math.exp(-0.5), math.exp(-0.5), math.exp(-2.0)]
    assert close(tidal.midrange_weight(t), expected)
    assert close(tidal.timestep_weight(t, "midrange"), expected)
    assert close(tidal.timestep_weight(t, "uniform"), [1.0] * 4)


# ------------------------------------------------------------------- TIDAL token loss §1.1

# Position 1: s = [0,0,0] (q = ⅓ each), u = [ln2,0,0], λ = 1 → r = softmax(u) = [½,¼,¼].
#   KL(r‖q) = ½ln(3/2) + 2·¼ln(3/4) = 0.05889152
# Position 2: s = [0,ln2,0] (q = [¼,½,¼]), u = [2ln2,-ln2,0], λ = ½
#   → mix = [ln2,0,0] → r = [½,¼,¼];  KL(r‖q) = ½ln2 + ¼ln½ = ¼ln2 = 0.17328680
# weights [1, ½], N = 2, T = 1: loss = (0.05889152 + ½·0.17328680)/2 = 0.07276746
S_TOK = torch.tensor([[0.0, 0.0, 0.0], [0.0, LN2, 0.0]])
U_TOK = torch.tensor([[LN2, 0.0, 0.0], [2 * LN2, -LN2, 0.0]])
LAM_TOK = torch.tensor([1.0, 0.5])
W_TOK = torch.tensor([1.0, 0.5])
TIDAL_HAND = 0.07276746


def test_tidal_token_loss_hand_value():
    """Catches: swap the KL direction

    (reversed, KL(q‖r) at position 1 is ⅓[ln(2/3) + 2ln(4/3)] = 0.05663 ≠ 0.05889)."""
    loss = tidal.tidal_token_loss(S_TOK, U_TOK, LAM_TOK, W_TOK, 1.0)
    assert loss.dtype == torch.float32
    assert close(loss, TIDAL_HAND)


def test_tidal_token_loss_temperature_squared():
    """Catches: drop T²

    Logits doubled and T = 2 give the same r and q as above, so loss = 2²·0.07276746."""
    loss = tidal.tidal_token_loss(2 * S_TOK, 2 * U_TOK, LAM_TOK, W_TOK, 2.0)
    assert close(loss, 4 * TIDAL_HAND)


def test_tidal_token_loss_lambda_zero_is_zero():
    """λ = 0: target r = softmax(s/T) = the student itself → loss 0 whatever u is."""
    s = torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, 0.0]])
    u = torch.tensor([[9.0, 0.0, -9.0], [-5.0, 5.0, 0.0]])
    loss = tidal.tidal_token_loss(s, u, torch.zeros(2), torch.ones(2), 2.0)
    assert close(loss, 0.0)


def test_tidal_token_loss_gradient_detached_target():
    """Catches: forget the TIDAL detach

    r detached: ∂loss/∂s_n = T²/N·w_n·(q_n - r_n)/T.  T = 1, N = 2:
    position 1: (⅓-½, ⅓-¼, ⅓-¼)·1/2 = (-1/12, 1/24, 1/24)
    position 2: (¼-½, ½-¼, ¼-¼)·½/2 = (-1/16, 1/16, 0)."""
    s = S_TOK.clone().requires_grad_(True)
    u = U_TOK.clone().requires_grad_(True)
    tidal.tidal_token_loss(s, u, LAM_TOK, W_TOK, 1.0).backward()
    assert close(s.grad, [[-1 / 12, 1 / 24, 1 / 24], [-1 / 16, 1 / 16, 0.0]])
    assert u.grad is None  # the teacher never receives gradients


def test_tidal_token_loss_empty_has_grad_path():
    s = torch.zeros(0, 5, requires_grad=True)
    loss = tidal.tidal_token_loss(s, torch.zeros(0, 5), torch.zeros(0), torch.zeros(0), 2.0)
    loss.backward()
    assert loss.item() == 0.0 and s.grad.shape == (0, 5)


# ------------------------------------------------------------------- TIDAL chunk loss §1.1

def test_tidal_chunk_loss_mixes_in_probability_space():
    """Catches: mix chunk-TIDAL in logit space

    Chunk 1: p_s=.2, p_t=.6, λ=½, w=1 → m = ½·.2 + ½·.6 = .4
      BCE = -(.4 ln .2 + .6 ln .8) = 0.77766130
      (logit space: σ(½logit(.2) + ½logit(.6)) = 0.37980 → BCE 0.74965, caught)
    Chunk 2: p_s=.5, p_t=.9, λ=.2, w=½ → m = .58; BCE = ln2 for any m since p_s = ½
    loss = (0.77766130 + ½·ln2)/2 = 0.56211744  (mean over chunks, no T²)."""
    p_s = torch.tensor([0.2, 0.5])
    p_t = torch.tensor([0.6, 0.9])
    loss = tidal.tidal_chunk_loss(p_s, p_t, torch.tensor([0.5, 0.2]), torch.tensor([1.0, 0.5]))
    assert close(loss, 0.56211744)


def test_tidal_chunk_loss_target_detached():
    """Catches: mix chunk-TIDAL in logit space

    m detached: ∂BCE/∂p_s = -m/p_s + (1-m)/(1-p_s) = -.4/.2 + .6/.8 = -1.25 at chunk 1."""
    p_s = torch.tensor([0.2], requires_grad=True)
    tidal.tidal_chunk_loss(p_s, torch.tensor([0.6]), torch.tensor([0.5]),
                           torch.tensor([1.0])).backward()
    assert close(p_s.grad, [-1.25])


def test_tidal_chunk_loss_clamps_target_and_empty():
    # λ=1, p_t = 1 → m clamped to 1-1e-7: BCE(p_s=½) = ln2 still (p_s = ½), finite
    loss = tidal.tidal_chunk_loss(torch.tensor([0.5]), torch.tensor([1.0]),
                                  torch.tensor([1.0]), torch.tensor([1.0]))
    assert close(loss, LN2)
    p = torch.zeros(0, requires_grad=True)
    empty = tidal.tidal_chunk_loss(p, torch.zeros(0), torch.zeros(0), torch.zeros(0))
    empty.backward()
    assert empty.item() == 0.0


# ---------------------------------------------------------------------- token KL §2

# Position 1: s = [0,0,0] (q = ⅓), u = 2·[ln6, ln3, 0] at T = 2 → p = [.6, .3, .1]
#   forward KL(p‖q) = .6ln1.8 + .3ln.9 + .1ln.3 = 0.20066656
#   reverse KL(q‖p) = -⅓(ln1.8 + ln.9 + ln.3) = 0.24051555
# Position 2: s = u → KL 0.  mean over N = 2, × T² = 4:
#   forward = 2·0.20066656 = 0.40133313, reverse = 2·0.24051555 = 0.48103110
S_KL = torch.tensor([[0.0, 0.0, 0.0], [1.0, -1.0, 2.0]])
U_KL = torch.tensor([[2 * math.log(6), 2 * math.log(3), 0.0], [1.0, -1.0, 2.0]])


def test_forward_kl_hand_value():
    """Catches: swap the KL direction; drop T²"""
    assert close(kl.forward_kl_loss(S_KL, U_KL, 2.0), 0.40133313)


def test_reverse_kl_hand_value():
    """Catches: swap the KL direction; drop T²"""
    assert close(kl.reverse_kl_loss(S_KL, U_KL, 2.0), 0.48103110)


def test_kl_empty_and_teacher_without_grad():
    s = torch.zeros(0, 4, requires_grad=True)
    for fn in (kl.forward_kl_loss, kl.reverse_kl_loss):
        loss = fn(s, torch.zeros(0, 4), 2.0)
        loss.backward()
        assert loss.item() == 0.0
    u = U_KL.clone().requires_grad_(True)
    kl.forward_kl_loss(S_KL.clone().requires_grad_(True), u, 2.0).backward()
    assert u.grad is None


def test_select_masked_scores_only_masked_positions():
    """Catches: score unmasked positions

    Unmasked positions disagree wildly; the loss over selected rows is position 1 of the
    hand example only: forward KL = 4·0.20066656 = 0.80266626 (N = 1)."""
    big = torch.tensor([50.0, -50.0, 0.0])
    s = torch.stack([torch.stack([big, S_KL[0]]), torch.stack([big, big])])  # [2, 2, 3]
    u = torch.stack([torch.stack([-big, U_KL[0]]), torch.stack([-big, -big])])  # [2, 2, 3]
    mask = torch.tensor([[False, True], [False, False]])
    s_sel, u_sel = kl.select_masked(s, mask), kl.select_masked(u, mask)
    assert s_sel.shape == (1, 3) and torch.equal(s_sel[0], S_KL[0])
    assert close(kl.forward_kl_loss(s_sel, u_sel, 2.0), 0.80266626)
    # row-major order over (b, l): rows (0,1), (1,0)
    ids = torch.arange(2 * 3 * 1, dtype=torch.float32).view(2, 3, 1)
    m2 = torch.tensor([[False, True, False], [True, False, False]])
    assert kl.select_masked(ids, m2).flatten().tolist() == [1.0, 3.0]


# ------------------------------------------------------------------------ CALM §1.3

def test_chunk_logprobs_and_probs_hand_value():
    """lp = Σ_{l∈c} log softmax(logits_l)[gold_l].

    probs per position: [¼,¾], [½,½], [.8,.2]; gold [1, 0, 0]
    chunk 0 = {0,1}: ln(¾·½) = ln .375;  chunk 1 = {2}: ln .8
    T = 2: p = √.375 = 0.61237244, √.8 = 0.89442719."""
    logits = torch.tensor([[[0.0, math.log(3)], [0.0, 0.0], [math.log(4), 0.0]]])  # [1, 3, 2]
    targets = torch.tensor([[1, 0, 0]])
    token_chunk = torch.tensor([[[True, False], [True, False], [False, True]]])  # [1, 3, 2]
    lp = calm.chunk_logprobs(logits, targets, token_chunk)
    assert lp.shape == (1, 2) and close(lp, [[math.log(0.375), math.log(0.8)]])
    assert close(calm.chunk_probs(lp, 1.0), [[0.375, 0.8]])
    assert close(calm.chunk_probs(lp, 2.0), [[0.61237244, 0.89442719]])
    # clamp to [1e-7, 1-1e-7] (fp32: 1-1e-7 rounds to 0.99999988, still < 1 so log(1-p) is finite)
    p = calm.chunk_probs(torch.tensor([0.0, -100.0]), 1.0)
    assert p[0].item() < 1.0 and close(p, [1 - 1e-7, 1e-7], tol=5e-8)


# p_s = [.2, .5], p_t = [.6, .5]
#   forward: mean(-(.6ln.2 + .4ln.8), ln2) = 0.87403367
#   reverse: mean(-(.2ln.6 + .8ln.4), ln2) = 0.76417245
def test_calm_hand_values():
    """Catches: swap the CALM direction"""
    p_s, p_t = torch.tensor([0.2, 0.5]), torch.tensor([0.6, 0.5])
    assert close(calm.forward_calm_loss(p_s, p_t), 0.87403367)
    assert close(calm.reverse_calm_loss(p_s, p_t), 0.76417245)


def test_calm_gradients_unbounded_vs_bounded():
    """Catches: swap the CALM direction

    forward: ∂/∂p_s = -p_t/p_s + (1-p_t)/(1-p_s) → -50, -5000, -5e5 at p_t = ½ (×100 each)
    reverse: ∂/∂p_s = -ln p_t + ln(1-p_t) = -logit(p_t), whatever p_s is."""
    grads = []
    for ps in (1e-2, 1e-4, 1e-6):
        p_s = torch.tensor([ps], requires_grad=True)
        calm.forward_calm_loss(p_s, torch.tensor([0.5])).backward()
        g = float(p_s.grad)
        assert g == pytest.approx(-0.5 / ps + 0.5 / (1 - ps), rel=1e-4)
        grads.append(abs(g))
    assert 90 < grads[1] / grads[0] < 110 and 90 < grads[2] / grads[1] < 110
    for pt in (0.5, 0.9, 0.2):
        logit = math.log(pt / (1 - pt))  # 0, ln 9, -ln 4
        for ps in (1e-2, 1e-4, 1e-6):
            p_s = torch.tensor([ps], requires_grad=True)
            calm.reverse_calm_loss(p_s, torch.tensor([pt])).backward()
            assert float(p_s.grad) == pytest.approx(-logit, abs=1e-5)


def test_calm_empty_has_grad_path():
    p = torch.zeros(0, requires_grad=True)
    for fn in (calm.forward_calm_loss, calm.reverse_calm_loss):
        loss = fn(p, torch.zeros(0))
        loss.backward()
        assert loss.item() == 0.0


# -------------------------------------------------------------------- CompDemo §1.2

def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_compdemo_split_is_complementary_partition():
    """Catches: score unmasked positions"""
    masked = torch.rand(4, 200, generator=_gen(1)) < 0.6
    a, b = compdemo.split_masked_units(masked, 0.5, _gen(2))
    assert a.dtype == torch.bool and b.dtype == torch.bool
    assert torch.equal(a | b, masked)  # covers exactly the masked units
    assert not (a & b).any()  # disjoint
    assert not (a & ~masked).any() and not (b & ~masked).any()  # never-masked: never split
    assert a.any() and b.any()


def test_compdemo_split_fresh_per_call_and_per_row():
    """Catches: reuse the CompDemo split

    One advancing generator: two successive calls (steps) differ, rows (samples) differ;
    the same seed reproduces the same split."""
    masked = torch.ones(2, 256, dtype=torch.bool)
    g = _gen(3)
    a1, _ = compdemo.split_masked_units(masked, 0.5, g)
    a2, _ = compdemo.split_masked_units(masked, 0.5, g)
    assert not torch.equal(a1, a2)  # P(equal) = 2^-512
    assert not torch.equal(a1[0], a1[1])  # P(equal) = 2^-256
    assert torch.equal(compdemo.split_masked_units(masked, 0.5, _gen(3))[0], a1)


def test_compdemo_rho_is_the_expected_fraction():
    """Each masked unit goes to M_A with probability ρ: 64 000 draws, σ ≈ 0.002."""
    masked = torch.ones(64, 1000, dtype=torch.bool)
    g = _gen(4)
    for rho in (0.5, 0.3):
        a, b = compdemo.split_masked_units(masked, rho, g)
        assert abs(a.float().mean().item() - rho) < 0.01
    a, _ = compdemo.split_masked_units(masked, 0.0, g)
    assert not a.any()
    with pytest.raises(ValueError):
        compdemo.split_masked_units(masked, 1.5, g)


def test_compdemo_merge_takes_pass2_exactly_at_m_a():
    """Catches: merge the wrong pass

    Pass 1 masks M_B (so it predicts M_B), pass 2 masks M_A: merged = pass 2 on M_A,
    pass 1 everywhere else (M_B, and never-masked positions)."""
    pass1 = torch.full((2, 3, 4), 1.0)
    pass2 = torch.full((2, 3, 4), 2.0)
    mask_a = torch.tensor([[True, False, False], [False, False, True]])
    merged = compdemo.merge_pass_logits(pass1, pass2, mask_a)
    assert torch.equal(merged[..., 0], torch.tensor([[2.0, 1.0, 1.0], [1.0, 1.0, 2.0]]))
    assert torch.equal(merged, torch.where(mask_a[..., None], pass2, pass1))
    assert torch.equal(pass1, torch.full((2, 3, 4), 1.0))  # the copying form leaves pass 1
    in_place = compdemo.merge_pass_logits_(pass1, pass2, mask_a)  # what training uses
    assert in_place is pass1 and torch.equal(in_place, merged)


def test_expand_chunk_split():
    # teacher tokens × chunks: chunk 0 = tokens {0,1}, chunk 1 = {2}, token 3 in no chunk
    t2c = torch.tensor([[[1, 0], [1, 0], [0, 1], [0, 0]]], dtype=torch.bool)  # [1, 4, 2]
    assert compdemo.expand_chunk_split(torch.tensor([[True, False]]), t2c).tolist() == \
        [[True, True, False, False]]
    assert compdemo.expand_chunk_split(torch.tensor([[False, True]]), t2c).tolist() == \
        [[False, False, True, False]]
