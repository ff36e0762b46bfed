"""Confidence intervals and paired tests on constructed per-sample files (issue 14).

Answers are known by construction: constant strata give degenerate intervals at the
size-weighted mean; a Bernoulli(0.5) sample of 400 has the normal-theory interval
50 ± 4.9; a paired difference of 10 flipped documents is exactly +10 with a narrow
interval even when the unpaired scores are noisy.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tide.eval.stats import bootstrap_ci, paired_bootstrap, per_doc, score_interval
from tide.report.intervals import write_interval_tables
from tide.report.paper import load_reference_results


def _rows(task, values, metric="exact_match", filt="strict-match"):
    return [{"task": task, "doc_id": i, "filter": filt, metric: float(v)}
            for i, v in enumerate(values)]


def test_bernoulli_interval_matches_normal_theory():
    scores = per_doc(_rows("t", [1, 0] * 200), "exact_match", "strict-match")
    mean, lo, hi = bootstrap_ci(scores)
    assert mean == 50.0
    half = 1.96 * 100 * np.sqrt(0.25 / 400)  # 4.9 points
    assert lo == pytest.approx(50 - half, abs=0.8) and hi == pytest.approx(50 + half, abs=0.8)


def test_grouped_benchmark_is_size_weighted_and_stratified():
    """Subtask A: 100 docs all right; B: 300 all wrong. lm-eval's size-weighted group score
    is 25; resampling within each subtask keeps it exactly 25 (unstratified would not)."""
    rows = _rows("a", [1] * 100) + _rows("b", [0] * 300)
    mean, lo, hi = bootstrap_ci(per_doc(rows, "exact_match", "strict-match"))
    assert (mean, lo, hi) == (25.0, 25.0, 25.0)
    # other filters and other metrics are not mixed in
    noise = _rows("a", [0] * 100, filt="flexible-extract") + _rows("b", [1] * 300, metric="x")
    assert bootstrap_ci(per_doc(rows + noise, "exact_match", "strict-match"))[0] == 25.0


def test_paired_bootstrap_known_difference():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 2, 200).astype(float)
    better = base.copy()
    better[np.flatnonzero(base == 0)[:20]] = 1.0  # 20 of 200 documents fixed: +10 points
    a = per_doc(_rows("t", better), "exact_match", "strict-match")
    b = per_doc(_rows("t", base), "exact_match", "strict-match")
    r = paired_bootstrap(a, b)
    assert r["delta"] == pytest.approx(10.0) and r["n"] == 200 and r["p"] < 0.01
    assert 0 < r["ci95"][0] < 10 < r["ci95"][1] and r["ci95"][1] - r["ci95"][0] < 10
    same = paired_bootstrap(b, b)
    assert (same["delta"], same["ci95"], same["p"]) == (0.0, [0.0, 0.0], 1.0)


def test_score_interval_fields_and_no_samples():
    fields = score_interval(_rows("t", [1, 1, 0, 0]), "exact_match", "strict-match")
    assert fields["ci95"][0] <= 50.0 <= fields["ci95"][1] and "bootstrap" in fields["ci_method"]
    assert score_interval([], "exact_match", "strict-match") == {}


def _result(tmp_path, name, values, ci=True):
    d = tmp_path / name / "gsm8k"
    d.mkdir(parents=True)
    (d / "score.json").write_text(json.dumps({"value": 100 * float(np.mean(values))}))
    if ci:
        (d / "samples.jsonl").write_text("".join(
            json.dumps({"task": "tide_gsm8k_cot", **r}) + "\n" for r in _rows("x", values)))
    return str(d / "score.json")


def test_tables_show_intervals_paper_mark_and_paired_deltas(tmp_path):
    paper = load_reference_results().at["GSM8K", "BD3LM"]
    n = 400
    k = int(round(paper / 100 * n))
    bd3lm = [1.0] * k + [0.0] * (n - k)  # mean = the paper's value to 0.25 points: inside
    kl = [0.0] * n  # interval [0, 0]: the paper's value is outside
    scores = pd.DataFrame([
        {"model": "BD3LM", "benchmark": "GSM8K", "metric": "exact_match",
         "value": 100 * k / n, "source": _result(tmp_path, "bd3lm", bd3lm)},
        {"model": "B_KL", "benchmark": "GSM8K", "metric": "exact_match", "value": 0.0,
         "source": _result(tmp_path, "kl", kl)},
        {"model": "A_CALM", "benchmark": "GSM8K", "metric": "exact_match", "value": 12.5,
         "source": _result(tmp_path, "calm", [0.125] * 8, ci=False)},  # an old result
    ])
    out = tmp_path / "reports"
    out.mkdir()
    written = write_interval_tables(scores, out)
    assert sorted(written) == ["deltas.csv", "deltas.html", "deltas.md", "intervals.csv",
                               "intervals.html", "intervals.md", "intervals.tex"]
    md = (out / "intervals.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| GSM8K"))
    assert "✓" in row and "0.00 [0.0, 0.0] ✗" in row and "12.50 [n/a]" in row
    assert "Qwen3-0.6B-Base as reported in the Qwen3 technical report" in md
    csv = pd.read_csv(out / "intervals.csv")
    kl_row = csv[csv.model == "B_KL"].iloc[0]
    assert kl_row.ci_low == 0 and kl_row.ci_high == 0 and not kl_row.paper_inside_ci
    deltas = pd.read_csv(out / "deltas.csv")
    d = deltas[deltas.comparison == "B_KL − BD3LM"].iloc[0]
    assert d.delta == pytest.approx(-100 * k / n) and d.ci_high < 0 and d.n == n
    calm = deltas[deltas.comparison == "A_CALM − BD3LM"].iloc[0]
    assert pd.isna(calm.ci_low) and pd.isna(calm.p)  # no per-sample file: no test invented
    assert r"\checkmark" in (out / "intervals.tex").read_text()
    from tide.report.intervals import inside_sections  # the same marks in vs_paper

    md_inside, html_inside = inside_sections(scores)
    assert "inside our 95 % interval" in md_inside and "0.00 [0.0, 0.0] ✗" in md_inside
    assert "vs-paper-ci" in html_inside


def test_seeds_repeat_a_run_and_tables_show_the_spread(tmp_path):
    """distill.runs.B.kl.seeds [42, 7]: two runs (B_kl with seed 42, B_kl_seed7); their
    scores share the KL column: main table = mean, intervals = ± sd (2 seeds)."""
    from pathlib import Path

    import yaml

    from tide.config import column_label, validate_dict
    from tide.report.tables import main_table

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "tiny.yaml").read_text())
    plain = {r.model_id: r.as_dict() for r in validate_dict(raw, "tiny").runs()}
    raw["distill"]["runs"]["B"]["kl"]["seeds"] = [42, 7]
    runs = {r.model_id: r for r in validate_dict(raw, "tiny+seeds").runs()}
    assert runs["B_kl"].seed == 42 and runs["B_kl_seed7"].seed == 7
    assert "seed" not in plain["B_kl"]  # runs without seeds keep their params (no rerun)
    assert column_label("B_kl_seed7") == column_label("B_kl") == "B_KL"
    scores = pd.DataFrame([
        {"model": "B_KL", "model_id": ["B_kl", "B_kl_seed7"][i], "benchmark": "GSM8K",
         "metric": "exact_match", "value": v, "source": _result(tmp_path, f"kl{i}", [v / 100] * 4 + [0.0] * 0)}
        for i, v in enumerate([25.0, 75.0])])
    assert main_table(scores).at["GSM8K", "B_KL"] == 50.0
    out = tmp_path / "reports"
    out.mkdir()
    write_interval_tables(scores, out)
    assert "50.00 [" in (out / "intervals.md").read_text()
    assert "± 35.36 (2 seeds)" in (out / "intervals.md").read_text()


def test_samples_written_by_the_previous_version_still_give_an_interval(tmp_path):
    """samples.jsonl rows before issue 14 carry no task name: one stratum, same interval."""
    rows = [{k: v for k, v in r.items() if k != "task"} for r in _rows("t", [1, 0, 1, 1])]
    old = tmp_path / "samples.jsonl"
    old.write_text("".join(json.dumps(r) + "\n" for r in rows))
    from tide.eval.stats import read_per_doc

    assert bootstrap_ci(read_per_doc(old, "exact_match", "strict-match")) == \
        bootstrap_ci(per_doc(_rows("t", [1, 0, 1, 1]), "exact_match", "strict-match"))
