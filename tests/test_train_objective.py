"""Training loop (deterministic, exact resume) and the loss assembly of every variant."""

import json

import pytest
import torch

from tide.distill.spec import RunSpec
from tide.distill.batch import collate
from tide.distill.objective import OBJECTIVES, DistillContext, distill_loss
from tide.models.build import build_dense, build_moe
from tide.models.student import A2DQwen3Config, A2DQwen3LMHeadModel
from tide.models.teachers import Teacher
from tide.train import TrainSettings, batch_indices, train

V_S, V_T, VSH = 48, 60, 40  # student vocab, teacher vocab, shared prefix
S_MASK, T_MASK, EOS, PAD = 47, 59, 41, 40
BLOCK = 8
DIMS = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=64, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32)


def _student(seed=0):
    torch.manual_seed(seed)
    cfg = A2DQwen3Config(vocab_size=V_S, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                         block_size=BLOCK, mask_token_id=S_MASK, max_position_embeddings=128)
    return A2DQwen3LMHeadModel(cfg)


def _rows(n=6):
    """Synthetic rows in the shared schema (both pipelines' fields)."""
    g = torch.Generator().manual_seed(3)
    rows = []
    for i in range(n):
        plen, rlen = 5 + i % 3, 9 + i % 4
        ids = torch.randint(0, VSH, (plen + rlen,), generator=g).tolist()
        labels = [-100] * plen + ids[plen:]
        t_ids = [1, 2] + ids  # teacher has 2 extra template tokens in front
        chunks = [[s, s + 2, s + 2, s + 4] for s in range(plen, plen + rlen - 1, 2)]
        rows.append({"input_ids": ids, "labels": labels, "prompt_len": plen,
                     "teacher_input_ids": t_ids, "teacher_labels": [-100] * (plen + 2) + ids[plen:],
                     "align_student": list(range(plen, plen + rlen)),
                     "align_teacher": list(range(plen + 2, plen + 2 + rlen)),
                     "chunks": chunks})
    return rows


def _collate(pipeline):
    def f(rows):
        return collate(rows, pipeline=pipeline, block_size=BLOCK, max_length=32,
                       student_tokens={"eos_id": EOS, "pad_id": PAD}, teacher_max_length=40,
                       teacher_eos_id=EOS)
    return f


def _run(objective, compdemo=False):
    return RunSpec(pipeline="B" if OBJECTIVES[objective].level == "token" else "A",
                   name=objective, objective=objective, temperature=2.0, lr=1e-3, batch_size=3,
                   weight=1.0, l_init=0.1, l_max=0.9, schedule="cosine", steps=4,
                   axis_mode="both", weighting="midrange", compdemo=compdemo, rho=0.5)


def _teacher(pipeline):
    if pipeline == "B":
        return Teacher(build_dense(V_T, DIMS, max_positions=128), "bd3lm", T_MASK, block_size=BLOCK)
    return Teacher(build_moe(V_T, DIMS, max_positions=128), "bidirectional", T_MASK)


@pytest.mark.parametrize("objective", sorted(OBJECTIVES))
@pytest.mark.parametrize("compdemo", [False, True])
def test_every_objective_gives_finite_loss_and_gradients(objective, compdemo):
    run = _run(objective, compdemo)
    student = _student()
    ctx = DistillContext(student, _teacher(run.pipeline), run, S_MASK,
                         VSH if run.pipeline == "B" else None, BLOCK)
    batch = _collate(run.pipeline)(_rows()[:3])
    loss, logs = distill_loss(ctx, batch, 0.5, torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss)
    if not OBJECTIVES[objective].uses_teacher:  # the teacher-free control: CE term only
        assert logs["distill_units"] == 0 and logs["distill"] == 0.0
    else:
        assert logs["distill_units"] > 0 and logs["distill"] != 0.0
    assert abs(logs["loss"] - (logs["ce"] + logs["distill"])) < 1e-5
    assert all(p.grad is not None for p in student.parameters() if p.requires_grad)
    if OBJECTIVES[objective].uses_tidal:
        assert len(logs["tidal"]) == 3 and {"t", "p", "lambda", "weight"} <= set(logs["tidal"][0])


def test_compdemo_runs_two_teacher_passes_with_complementary_masks():
    run = _run("tidal", compdemo=True)
    teacher = _teacher("B")
    seen = []
    orig = teacher.logits

    def spy(noised, clean=None, key_valid=None):
        seen.append(noised == T_MASK)
        return orig(noised, clean, key_valid)

    teacher.logits = spy
    ctx = DistillContext(_student(), teacher, run, S_MASK, VSH, BLOCK)
    distill_loss(ctx, _collate("B")(_rows()[:3]), 0.3, torch.Generator().manual_seed(0))
    assert len(seen) == 2
    assert not (seen[0] & seen[1]).any()  # no position masked in both passes
    assert (seen[0] | seen[1]).any()


def test_chunk_consistent_masking_masks_whole_chunks():
    from tide.distill.objective import chunk_consistent_mask

    batch = _collate("A")(_rows()[:2])
    masked = torch.zeros_like(batch["labels"], dtype=torch.bool)
    first = batch["student_chunks"][0, :, 0].nonzero().flatten()
    masked[0, first[0]] = True  # one token of the first chunk
    grown, chunk_masked, active = chunk_consistent_mask(masked, batch)
    assert grown[0, first].all() and grown.sum() == len(first)
    assert chunk_masked[0, 0] and active[0, 0] and chunk_masked.sum() == 1


def test_batch_order_is_pure_in_seed_and_step():
    assert batch_indices(5, 4, 10, 1) == batch_indices(5, 4, 10, 1)
    assert batch_indices(0, 4, 10, 1) != batch_indices(0, 4, 10, 2)
    epoch0 = sum((batch_indices(s, 5, 10, 1) for s in range(2)), [])
    assert sorted(epoch0) == list(range(10))  # one epoch covers every example once


def _distill_train(tmp_path, name, stop_after=None):
    run = _run("tidal", compdemo=True)
    student = _student()
    ctx = DistillContext(student, _teacher("B"), run, S_MASK, VSH, BLOCK)
    settings = TrainSettings(steps=6, lr=1e-3, batch_size=3, seed=5, checkpoint_every=2)
    summary = train(student, _rows(), _collate("B"), lambda m, b, p, g: distill_loss(ctx, b, p, g),
                    settings, state_dir=tmp_path / name, log_path=tmp_path / name / "log.jsonl",
                    stop_after=stop_after)
    return student, summary


def test_killed_and_resumed_run_is_bitwise_equal(tmp_path):
    ref, _ = _distill_train(tmp_path, "ref")
    _, first = _distill_train(tmp_path, "resumed", stop_after=3)  # "killed" after step 3
    assert first["stopped"] == "stop_after"
    resumed, summary = _distill_train(tmp_path, "resumed")
    assert summary["resumed_from"] == 3
    for (k, a), (_, b) in zip(ref.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
    lines = [json.loads(x) for x in (tmp_path / "resumed" / "log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == list(range(1, 7))
    ref_lines = [json.loads(x) for x in (tmp_path / "ref" / "log.jsonl").read_text().splitlines()]
    assert [x["loss"] for x in lines] == [x["loss"] for x in ref_lines]


def test_token_term_scores_exactly_the_masked_aligned_positions():
    """Recompute the KL term by hand from the same noise draw.

    Catches: score unmasked positions
    """
    from tide.distill import kl
    from tide.distill.noise import mask_response, sample_t
    from tide.models.student import bd3lm_logits

    run = _run("kl")
    student, teacher = _student(), _teacher("B")
    ctx = DistillContext(student, teacher, run, S_MASK, VSH, BLOCK)
    batch = _collate("B")(_rows()[:3])
    _, logs = distill_loss(ctx, batch, 0.5, torch.Generator().manual_seed(7))

    gen = torch.Generator().manual_seed(7)  # same draws as distill_loss: t, then the mask
    t = sample_t(3, gen)
    masked = mask_response(batch["labels"], t, gen)
    with torch.no_grad():
        s = bd3lm_logits(student, batch["input_ids"].masked_fill(masked, S_MASK), batch["input_ids"])
    rows, s_pos, t_pos = [], [], []
    for b in range(3):
        for j in range(batch["pair_valid"].shape[1]):
            sp, tp = int(batch["pair_student"][b, j]), int(batch["pair_teacher"][b, j])
            if batch["pair_valid"][b, j] and masked[b, sp]:
                rows.append(b), s_pos.append(sp), t_pos.append(tp)
    t_mask = torch.zeros_like(batch["teacher_valid"])
    t_mask[rows, t_pos] = True
    u = teacher.logits(batch["teacher_ids"].masked_fill(t_mask, T_MASK), batch["teacher_ids"],
                       key_valid=batch["teacher_valid"])
    expected = kl.forward_kl_loss(s[rows, s_pos][:, :VSH], u[rows, t_pos][:, :VSH], 2.0)
    assert logs["distill_units"] == len(rows) < int((batch["pair_valid"]).sum())
    assert abs(logs["distill"] - float(expected)) < 1e-5


def test_only_masked_chunks_away_from_the_prompt_are_active():
    """Catches: score unmasked positions"""
    from tide.distill.objective import chunk_consistent_mask

    batch = _collate("A")(_rows()[:2])
    masked = torch.zeros_like(batch["labels"], dtype=torch.bool)
    _, chunk_masked, active = chunk_consistent_mask(masked, batch)
    assert not chunk_masked.any() and not active.any()  # nothing masked, nothing scored


@pytest.mark.parametrize("objective", sorted(OBJECTIVES))
@pytest.mark.parametrize("compdemo", [False, True])
def test_teacher_lm_head_at_scored_positions_gives_the_same_loss(objective, compdemo):
    """``train.teacher_lm_head: scored`` computes the teacher's logits only where the term
    reads them: same loss and student gradients as the full [B, Lt, Vt] logits."""
    from dataclasses import replace

    run = _run(objective, compdemo)
    batch = _collate(run.pipeline)(_rows(4))
    out = []
    for scored in (False, True):
        student = _student()
        ctx = DistillContext(student, _teacher(run.pipeline), run, S_MASK,
                             VSH if run.pipeline == "B" else None, BLOCK)
        ctx = replace(ctx, teacher_scored_only=scored)
        loss, logs = distill_loss(ctx, batch, 0.4, torch.Generator().manual_seed(5))
        loss.backward()
        out.append((loss.detach(), logs["distill_units"], [p.grad for p in student.parameters()]))
    torch.testing.assert_close(out[1][0], out[0][0], rtol=1e-5, atol=1e-6)
    assert out[1][1] == out[0][1]
    for a, b in zip(out[0][2], out[1][2]):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
