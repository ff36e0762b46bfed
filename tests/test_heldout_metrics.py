"""Held-out metrics of every student (tide.heldout, tide.heldout_eval, tide.report.heldout)
and the teacher-free control objective they are judged against."""

import math

import pytest
import torch
from test_train_objective import BLOCK, S_MASK, VSH, _collate, _rows, _run, _student, _teacher

from tide.config import ConfigError, load_config
from tide.distill.objective import DistillContext, distill_loss
from tide.heldout import bits_per_byte, bootstrap_ratio, nll_per_example, ratio
from tide.heldout_eval import chunk_divergence, parse_heldout_id, token_divergence
from tide.models.student import bd3lm_logits


@pytest.mark.parametrize("control,distilled", [("ce_only", "kl"), ("ce_only_chunk", "calm")])
def test_control_has_the_distilled_runs_ce_and_noise_and_never_calls_the_teacher(control, distilled):
    """Same student, batch and generator: the control's loss is exactly the CE term of the
    matching distillation run (same t, same masks), and no teacher pass is made."""
    run_c, run_d = _run(control), _run(distilled)
    assert run_c.pipeline == run_d.pipeline
    teacher = _teacher(run_c.pipeline)
    calls = []
    orig = teacher.logits
    teacher.logits = lambda *a, **k: calls.append(1) or orig(*a, **k)
    vsh = VSH if run_c.pipeline == "B" else None
    batch = _collate(run_c.pipeline)(_rows()[:3])
    student = _student()
    loss_c, logs_c = distill_loss(DistillContext(student, teacher, run_c, S_MASK, vsh, BLOCK),
                                  batch, 0.5, torch.Generator().manual_seed(0))
    assert calls == []
    _, logs_d = distill_loss(DistillContext(student, teacher, run_d, S_MASK, vsh, BLOCK),
                             batch, 0.5, torch.Generator().manual_seed(0))
    assert calls  # the distilled run does call it
    assert logs_c["ce"] == logs_d["ce"] and float(loss_c.detach()) == logs_c["ce"]
    assert logs_c["mask_ratio"] == logs_d["mask_ratio"]


def test_control_needs_no_temperature_but_a_distillation_run_does(tmp_path):
    text = open("config/tiny.yaml").read()
    cfg = load_config("config/tiny.yaml")
    assert cfg.run("B", "control").temperature is None
    assert cfg.run("A", "control").objective == "ce_only_chunk"
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("kl: {objective: kl, temperature: 2.0}", "kl: {objective: kl}"))
    with pytest.raises(ConfigError, match=r"distill\.runs\.B\.kl\.temperature: required"):
        load_config(bad)


def _forward(student):
    return lambda xt, x0, _v: bd3lm_logits(student, xt, x0, BLOCK)


def test_per_example_nll_adds_up_to_the_bits_per_byte_estimator():
    student = _student().eval()
    batches = [_collate(None)(_rows()[i:i + 3]) for i in (0, 3)]
    nats = nll_per_example(_forward(student), batches, mask_id=S_MASK, grid=4, seed=3)
    assert len(nats) == 6 and all(n > 0 for n in nats)
    bpb = bits_per_byte(_forward(student), batches, 100, mask_id=S_MASK, grid=4, seed=3)
    assert math.isclose(sum(nats) / math.log(2) / 100, bpb, rel_tol=1e-6)


def test_bootstrap_ratio_interval_and_pairing():
    num, den = [1.0, 2.0, 3.0, 10.0], [2.0, 2.0, 2.0, 2.0]
    point, lo, hi = bootstrap_ratio(num, den, seed=1)
    assert point == ratio(num, den) == 2.0 and lo < point < hi
    assert bootstrap_ratio(num, den, seed=1) == (point, lo, hi)  # deterministic
    # a model against itself: difference exactly 0 in every resample
    assert bootstrap_ratio(num, den, other=(num, den)) == (0.0, 0.0, 0.0)
    # uniformly better on every example: the whole interval is below 0
    d, dlo, dhi = bootstrap_ratio([n - 0.5 for n in num], den, other=(num, den))
    assert d == -0.25 and dhi < 0
    with pytest.raises(ValueError, match="same held-out examples"):
        bootstrap_ratio(num, den, other=(num[:2], den[:2]))


def test_token_and_chunk_divergence_count_the_training_units():
    student = _student().eval()
    b = _collate("B")(_rows()[:3])
    out = token_divergence(student, _teacher("B"), [b], vsh=VSH, block_size=BLOCK, grid=4, seed=0)
    assert len(out["n"]) == 3 and sum(out["n"]) > 0
    assert all(k >= 0 for k in out["kl"]) and sum(out["kl"]) > 0
    # teacher and student CE are per pair, so each is positive where pairs were masked
    assert all((n == 0) == (ce == 0) for n, ce in zip(out["n"], out["student_ce"]))
    a = _collate("A")(_rows()[:3])
    out = chunk_divergence(student, _teacher("A"), [a], block_size=BLOCK, grid=4, seed=0)
    assert sum(out["n"]) > 0 and all(k >= -1e-9 for k in out["kl"])
    # deterministic in the seed: every model is scored on the same noise
    again = chunk_divergence(student, _teacher("A"), [a], block_size=BLOCK, grid=4, seed=0)
    assert again["n"] == out["n"]


def test_parse_heldout_id():
    assert parse_heldout_id("B_kl.seed2") == ("B_kl", 2)
    assert parse_heldout_id("teacher_A") == ("teacher_A", 0)
    assert parse_heldout_id("B_tide_shared") == ("B_tide_shared", 0)


def _rec(model_id, bits, seed=0, kl=None):
    rec = {"model_id": model_id, "seed_index": seed, "bpb": {"bits": bits, "bytes": [10.0] * len(bits)}}
    if kl is not None:
        rec["kl_B"] = {"kl": kl, "n": [2.0] * len(kl), "student_ce": kl, "teacher_ce": kl}
    return rec


def test_heldout_table_judges_each_run_against_its_control_over_seeds(tmp_path):
    from tide.report.heldout import display_table, summarize, write_heldout_report

    cfg = load_config("config/tiny.yaml")
    recs = {("teacher_B", 0): _rec("teacher_B", [5.0, 5.0, 6.0]),
            ("bd3lm", 0): _rec("bd3lm", [8.0, 9.0, 9.0], kl=[1.0, 1.0, 1.0])}
    for s in range(3):
        recs[("B_control", s)] = _rec("B_control", [7.0 + s, 8.0, 8.0], s, kl=[0.8] * 3)
        recs[("B_kl", s)] = _rec("B_kl", [7.5 + s, 8.5, 8.5], s, kl=[0.5] * 3)
    df = summarize(recs, cfg).set_index("model_id")
    assert df.loc["B_kl", "d_control"] == pytest.approx(0.05)  # worse than the control
    assert df.loc["B_kl", "d_control_seed_mean"] == pytest.approx(0.05)
    assert df.loc["B_kl", "d_control_seed_sd"] == pytest.approx(0.0, abs=1e-12)
    assert df.loc["B_kl", "bpb_seed_sd"] == pytest.approx(0.1 / 3)
    assert df.loc["B_kl", "kl_B"] == pytest.approx(0.25)
    assert df.loc["B_kl", "seeds"] == 3
    assert math.isnan(df.loc["B_control", "d_control"])  # not against itself
    shown = display_table(summarize(recs, cfg))
    assert "B_control (CE only)" in set(shown["Model"])
    assert (shown.set_index("Model").loc["A_CALM"] == "—").sum() >= 3  # not run: blanks
    (tmp_path / "results" / "heldout").mkdir(parents=True)
    import json

    for (m, s), r in recs.items():
        name = f"{m}.seed{s}.json" if s else f"{m}.json"
        (tmp_path / "results" / "heldout" / name).write_text(json.dumps(r))
    write_heldout_report(cfg, tmp_path / "reports", root=tmp_path / "results")
    for f in ("heldout_table.md", "heldout_table.csv", "heldout_table.html", "heldout.png"):
        assert (tmp_path / "reports" / f).stat().st_size > 0


class _CountingTeacher:
    """The teacher, counting its forward passes."""

    def __init__(self, teacher):
        self.inner, self.calls = teacher, 0
        self.mask_token_id = teacher.mask_token_id

    def logits(self, *args, **kwargs):
        self.calls += 1
        return self.inner.logits(*args, **kwargs)


@pytest.mark.parametrize("pipeline", ["B", "A"])
def test_divergence_memo_serves_every_student_one_teacher_pass(pipeline):
    """The teacher's outputs on the held-out noise do not depend on the student: with a
    memo shared across students (one `tide heldout` call), the second student makes no
    teacher pass and gets exactly the figures it gets alone."""
    batches = [_collate(pipeline)(_rows()[i:i + 3]) for i in (0, 3)]
    students = [_student().eval(), _student().eval()]
    with torch.no_grad():  # a second, different student
        for p in students[1].parameters():
            p.add_(0.01 * torch.randn_like(p))

    def run(student, teacher, memo=None):
        if pipeline == "B":
            return token_divergence(student, teacher, batches, vsh=VSH, block_size=BLOCK,
                                    grid=4, seed=0, memo=memo)
        return chunk_divergence(student, teacher, batches, block_size=BLOCK, grid=4, seed=0,
                                memo=memo)

    alone = [run(s, _CountingTeacher(_teacher(pipeline))) for s in students]
    assert alone[0]["kl"] != alone[1]["kl"]
    teacher, memo = _CountingTeacher(_teacher(pipeline)), {}
    shared = [run(s, teacher, memo) for s in students]
    assert teacher.calls == 2 * 4  # batches x timesteps, for the first student only
    assert shared == alone
