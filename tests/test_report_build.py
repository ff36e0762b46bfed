"""``tide report`` end to end on synthetic result files: every table and figure, missing
results marked (never a crash or a zero), ablation deltas, bench schema, training curves,
and the empirical (t, p, λ) against the training function. Seconds, no GPU, no weights."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tide import vocab
from tide.config import load_config
from tide.report.outputs import REPORT_FILES
from tide.stages import collect_scores

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "config" / "tiny.yaml"


@pytest.fixture(scope="module")
def cfg():
    return load_config(TINY)


def _score(model_id: str, bench: str) -> float:
    """A deterministic, distinct score per (model, benchmark), in percent."""
    h = sum(ord(c) * (i + 1) for i, c in enumerate(model_id + "/" + bench))
    return round(20 + (h % 6000) / 100, 4)


def bench_doc(rows=None) -> dict:
    rows = rows if rows is not None else [
        {"model": "ar", "variant": "hf generate", "params_b": 0.0002, "peak_mem_gb": 0.05,
         "tokens_per_s": 900.0},
        {"model": "student", "variant": "plain", "params_b": 0.0002, "peak_mem_gb": 0.06,
         "tokens_per_s": 300.0},
        {"model": "student", "variant": "cached", "params_b": 0.0002, "peak_mem_gb": 0.07,
         "tokens_per_s": 450.0},
        {"model": "teacher_b", "variant": "plain", "params_b": 0.001, "peak_mem_gb": 0.2,
         "tokens_per_s": 120.0},
    ]
    return {"measurement": "generation", "device": "cpu (2 cores)",
            "command": "tide bench memory-throughput", "environment": {"torch": "2.13.0"},
            "settings": {"new_tokens": 256, "batch": 1}, "rows": rows,
            "units": {"peak_mem_gb": "GB", "tokens_per_s": "tokens/s", "params_b": "billions"}}


def make_results(root: Path, cfg, *, skip_runs=(), skip_scores=(), bench=True,
                 steps: int = 30) -> Path:
    """Synthetic result files in the workflow's layout and formats, for every configured
    model: scores.csv, runs/*/*/{metrics.jsonl,run.json}, ablations/*.csv, bench/*.json."""
    import torch

    from tide.distill.tidal import tidal_lambda, timestep_weight

    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    runs = cfg.runs()
    score_files = []
    for model_id in ["ar", "bd3lm"] + [r.model_id for r in runs]:
        ablation = any(r.model_id == model_id and r.is_ablation for r in runs)
        benches = cfg["eval"]["ablation_benchmarks"] if ablation else cfg["eval"]["benchmarks"]
        for b in benches:
            if (model_id, b) in skip_scores:
                continue
            path = root / "eval" / model_id / b / "score.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"model_id": model_id, "benchmark": b,
                                        "metric": "exact_match", "filter": "strict-match",
                                        "value": _score(model_id, b), "n": 24}))
            score_files.append(str(path))
    collect_scores(score_files, str(root / "scores.csv"))  # what the `scores` rule runs
    for r in runs:
        if r.model_id in skip_runs:
            continue
        d = root / "runs" / r.pipeline / r.name
        d.mkdir(parents=True, exist_ok=True)
        lines = []
        for step in range(1, steps + 1):
            t = torch.as_tensor(rng.uniform(1e-3, 1, size=4))
            rec = {"step": step, "lr": 5e-4, "grad_norm": 1.0,
                   "ce": 3.0 * math.exp(-step / 20) + 0.1 * rng.random(),
                   "distill": 1.0 * math.exp(-step / 15) + 0.05 * rng.random(),
                   "mask_ratio": 0.5, "distill_units": 40}
            rec["loss"] = rec["ce"] + rec["distill"]
            if r.objective.startswith("tidal"):
                p = (step - 1) / steps
                lam = tidal_lambda(t, p, l_init=r.l_init, l_max=r.l_max, schedule=r.schedule,
                                   axis_mode=r.axis_mode)
                w = timestep_weight(t, r.weighting)
                rec["tidal"] = [{"t": float(a), "p": p, "lambda": float(b), "weight": float(c)}
                                for a, b, c in zip(t, lam, w)]
            lines.append(json.dumps(rec))
        (d / "metrics.jsonl").write_text("\n".join(lines) + "\n")
        (d / "run.json").write_text(json.dumps({"pipeline": r.pipeline, "run": r.name,
                                                "spec": r.as_dict(), "train": {"steps": steps}}))
        if r.is_ablation:
            base = cfg.run(r.pipeline, r.base).as_dict()
            differs = {k: v for k, v in r.as_dict().items()
                       if base.get(k) != v and k not in ("name", "base", "axis")}
            (root / "ablations").mkdir(exist_ok=True)
            pd.DataFrame([{"model_id": r.model_id, "pipeline": r.pipeline, "base": r.base,
                           "axis": r.axis, "benchmark": b, "value": _score(r.model_id, b),
                           "differs": json.dumps(differs, sort_keys=True)}
                          for b in cfg["eval"]["ablation_benchmarks"]]
                         ).to_csv(root / "ablations" / f"{r.model_id}.csv", index=False)
    if bench:
        (root / "bench").mkdir(exist_ok=True)
        (root / "bench" / "generation.json").write_text(json.dumps(bench_doc()))
    return root


# --------------------------------------------------------------------------- end to end


def test_report_writes_every_file_in_seconds(tmp_path, cfg):
    from tide.report.build import build_report

    root = make_results(tmp_path / "results", cfg)
    t0 = time.time()
    written = build_report(cfg, tmp_path / "reports", root=root)
    elapsed = time.time() - t0
    assert set(written) == set(REPORT_FILES)
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == sorted(REPORT_FILES)
    for name, path in written.items():
        data = path.read_bytes()
        if name.endswith(".png"):
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, name
        elif name.endswith(".pdf"):
            assert data[:5] == b"%PDF-", name
        else:
            assert data.strip(), name
    assert elapsed < 60, elapsed  # seconds on a laptop; generous for 2 shared CI cores


def test_scores_csv_carries_ids_and_an_earlier_labelled_one_still_reports(tmp_path, cfg):
    """scores.csv holds ids (no id → label → id round trip); a scores.csv written by the
    previous version (labels in ``model`` and ``benchmark``) gives the same report."""
    from tide.report.build import build_report

    root = make_results(tmp_path / "results", cfg)
    new = pd.read_csv(root / "scores.csv")
    assert "model" not in new.columns
    assert set(new["benchmark"]) == set(cfg["eval"]["benchmarks"])  # ids, not labels
    assert {"B_tide_shared", "A_compdemo_rho_0_3"} <= set(new["model_id"])
    build_report(cfg, tmp_path / "reports_ids", root=root)
    old = new.assign(model=new["model_id"].map(vocab.column),
                     benchmark=new["benchmark"].map(vocab.BENCHMARKS))
    old = old[["model", "model_id", "benchmark", "metric", "filter", "value", "n", "source"]]
    assert "B_TIDE-Shared" in set(old["model"]) and "MMLU-Pro" in set(old["benchmark"])
    old.to_csv(root / "scores.csv", index=False)
    build_report(cfg, tmp_path / "reports_labels", root=root)
    for name in ("main_table.csv", "main_table.md", "vs_paper.csv", "ablations.csv"):
        assert (tmp_path / "reports_labels" / name).read_text() == \
            (tmp_path / "reports_ids" / name).read_text(), name
    table = pd.read_csv(tmp_path / "reports_ids" / "main_table.csv", index_col="benchmark")
    assert table.loc["GSM8K", "B_TIDE-Shared"] == pytest.approx(_score("B_tide_shared", "gsm8k"))


def test_vocabulary_matches_the_protocol_table():
    """Benchmark ids and their order: one list (tide.vocab) the protocol table follows."""
    from tide.eval.benchmarks import BENCHMARKS

    assert list(BENCHMARKS) == list(vocab.BENCHMARKS)
    assert all(vocab.benchmark_id(vocab.benchmark_label(b)) == b for b in BENCHMARKS)
    assert all(vocab.model_id(vocab.column(m)) == m for m in vocab.MAIN_MODEL_IDS)


def test_main_table_from_tiny_scores_marks_unevaluated_benchmarks(tmp_path, cfg):
    from tide.report.build import build_report
    from tide.report.layout import BENCHMARKS

    root = make_results(tmp_path / "results", cfg, skip_scores={("B_kl", "gsm8k")})
    build_report(cfg, tmp_path / "reports", root=root)
    table = pd.read_csv(tmp_path / "reports" / "main_table.csv", index_col="benchmark")
    assert table.at["MMLU", "B_TIDE-Shared"] == round(_score("B_tide_shared", "mmlu"), 2)
    assert math.isnan(table.at["GSM8K", "B_KL"]) and math.isnan(table.at["Avg", "B_KL"])
    evaluated = {vocab.BENCHMARKS[b] for b in cfg["eval"]["benchmarks"]}
    for bench in BENCHMARKS:  # benchmarks the config does not evaluate stay blank
        assert table.loc[bench, "BD3LM"].item() != 0
        assert math.isnan(table.at[bench, "BD3LM"]) == (bench not in evaluated)
    if evaluated == set(BENCHMARKS):  # complete columns get the recomputed mean
        mean = np.mean([round(_score("bd3lm", b), 4) for b in cfg["eval"]["benchmarks"]])
        assert table.at["Avg", "BD3LM"] == pytest.approx(round(mean, 2), abs=0.006)
    md = (tmp_path / "reports" / "main_table.md").read_text()
    assert "—†" in md and "| —" in md
    html = (tmp_path / "reports" / "main_table.html").read_text()
    assert 'id="main-table"' in html and 'colspan="3"' in html and 'class="blank"' in html


def test_paper_numbers_in_paper_table_out_through_tide_report(tmp_path, cfg):
    """The reference numbers as scores.csv: `tide report` gives the paper's table back cell
    for cell (averages recomputed, equal to the printed ones) and ours − paper is all zero."""
    from tide.cli import main
    from tide.report.paper import load_reference_results, reference_as_scores

    root = tmp_path / "results"
    root.mkdir()
    reference_as_scores().to_csv(root / "scores.csv", index=False)
    assert main(["--config", str(TINY), "--root", str(root), "report",
                 "--out", str(tmp_path / "reports")]) == 0
    table = pd.read_csv(tmp_path / "reports" / "main_table.csv", index_col="benchmark")
    pd.testing.assert_frame_equal(table, load_reference_results(), check_exact=True)
    delta = pd.read_csv(tmp_path / "reports" / "vs_paper.csv", index_col="benchmark")
    assert (delta == 0).all().all()
    tex = (tmp_path / "reports" / "main_table.tex").read_text()
    assert r"\textbf{34.20}" not in tex and r"\textbf{40.91}" in tex  # best Avg: the AR model


def test_released_checkpoints_against_the_paper_in_vs_paper(tmp_path, cfg):
    from tide.report.build import build_report
    from tide.report.paper import reference_as_scores

    root = make_results(tmp_path / "results", cfg)
    rel = reference_as_scores()
    rel = rel[rel.benchmark != "MBPP"].assign(
        model_id=lambda d: "released_" + d.model.map(vocab.model_id), model=lambda d: d.model_id)
    rel.loc[(rel.model_id == "released_B_kl") & (rel.benchmark == "GSM8K"), "value"] = 45.0
    rel.to_csv(root / "scores_released.csv", index=False)
    build_report(cfg, tmp_path / "reports", root=root)
    md = (tmp_path / "reports" / "vs_paper.md").read_text()
    section = md.split("## Released checkpoints evaluated here − paper")[1]
    gsm8k = next(line for line in section.splitlines() if line.startswith("| GSM8K"))
    assert gsm8k.split(" | ")[3] == "+1.03"  # 45.00 − 43.97 under B_KL
    mbpp = next(line for line in section.splitlines() if line.startswith("| MBPP"))
    assert set(mbpp.split(" | ")[1:]) == {"—", "— |"}  # not evaluated: marked blanks
    assert 'id="released-vs-paper"' in (tmp_path / "reports" / "vs_paper.html").read_text()
    from tide.report.tables import write_main_tables

    write_main_tables(reference_as_scores(), tmp_path / "plain")  # no released scores
    assert "Released" not in (tmp_path / "plain" / "vs_paper.md").read_text()


def test_missing_everything_is_marked_not_a_crash(tmp_path, cfg):
    """A fresh clone with no results at all: every file is still written, all blanks marked."""
    from tide.report.build import build_report

    written = build_report(cfg, tmp_path / "reports", root=tmp_path / "empty")
    assert set(written) == set(REPORT_FILES)
    text = (tmp_path / "reports" / "ablations.md").read_text()
    assert "(not run)" in text and "0.00" not in text
    assert "not measured" in (tmp_path / "reports" / "efficiency.md").read_text()
    from tide.report.figures import lambda_heatmap_figure

    fig = lambda_heatmap_figure(l_init=0.1, l_max=0.9, n=11,
                                empirical=pd.DataFrame(columns=["t", "p", "lam"]))
    assert any("not logged yet" in t.get_text() for t in fig.axes[1].texts)


# --------------------------------------------------------------------------- ablations


def test_ablation_tables_delta_to_full_method(tmp_path, cfg):
    from tide.report.ablations import ablation_table, configured, read_rows

    root = make_results(tmp_path / "results", cfg, skip_runs={"A_tidal_on_reverse"})
    abls = configured(cfg)
    assert {a.model_id for a in abls} == {r.model_id for r in cfg.runs() if r.is_ablation}
    rows = read_rows(sorted((root / "ablations").glob("*.csv")))
    scores = pd.read_csv(root / "scores.csv")
    b = ablation_table("B", abls, rows, scores, ["mmlu"])
    assert b.iloc[0]["name"] == "full method: tide_shared"
    assert b.iloc[0]["MMLU"] == round(_score("B_tide_shared", "mmlu"), 2)
    lin = b.set_index("name").loc["growth_linear"]
    expected = round(_score("B_growth_linear", "mmlu"), 2) - round(_score("B_tide_shared",
                                                                          "mmlu"), 2)
    assert lin["Δ MMLU"] == pytest.approx(expected, abs=1e-9)
    assert lin["Δ Avg"] == pytest.approx(expected, abs=1e-9)  # one ablation benchmark
    assert lin["changes"] == "schedule: linear" and lin["axis"] == "lambda_growth"
    a = ablation_table("A", abls, rows, scores, ["mmlu"]).set_index("name")
    assert a.iloc[0].name == "full method: tide_cross"
    assert a.loc["tidal_on_reverse", "status"] == "not run"
    assert math.isnan(a.loc["tidal_on_reverse", "MMLU"])
    assert math.isnan(a.loc["tidal_on_reverse", "Δ MMLU"])


def test_ablation_delta_blank_when_full_method_unscored(tmp_path, cfg):
    from tide.report.ablations import NOTE_BLANK, write_ablation_tables

    root = make_results(tmp_path / "results", cfg, skip_scores={("B_tide_shared", "mmlu")})
    write_ablation_tables(cfg, tmp_path, ablation_files=sorted((root / "ablations").glob("*.csv")),
                          scores=pd.read_csv(root / "scores.csv"))
    csv = pd.read_csv(tmp_path / "ablations.csv")
    b = csv[csv.pipeline == "B"].set_index("name")
    assert b["MMLU"].iloc[1:].notna().all()          # the ablations have their scores
    assert b["Δ MMLU"].isna().all()                   # nothing to subtract from
    md = (tmp_path / "ablations.md").read_text()
    assert "## Pipeline B" in md and "## Pipeline A" in md and "+0.00" not in md
    b_part, a_part = md.split("## Pipeline A")
    assert NOTE_BLANK in b_part and NOTE_BLANK not in a_part  # A is complete: no blank note


def test_ablation_rows_file_missing_column_names_file(tmp_path):
    from tide.report.ablations import read_rows

    bad = tmp_path / "B_x.csv"
    pd.DataFrame([{"model_id": "B_x", "benchmark": "mmlu"}]).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"B_x\.csv.*'value'"):
        read_rows([bad])


# --------------------------------------------------------------------------- efficiency


def test_efficiency_rows_ours_beside_paper_and_not_measured(tmp_path):
    from tide.report.efficiency import efficiency_rows

    f = tmp_path / "b.json"
    f.write_text(json.dumps(bench_doc()))
    rows = efficiency_rows([f])
    paper = rows[rows.source == "paper"].set_index("variant")
    assert paper.at["LLaDA2.0-mini (teacher, 16B MoE)", "peak_mem_gb"] == 31.3
    assert paper.at["TIDE distilled (best)", "tokens_per_s"] == 41.0
    ours = rows[rows.source == "ours"]
    assert ours[ours.model == "student"]["tokens_per_s"].tolist() == [300.0, 450.0]
    ta = ours[ours.model == "teacher_a"]
    assert len(ta) == 1 and ta["peak_mem_gb"].isna().all()  # not in the bench file
    assert ta["label"].iloc[0] == "ours: not measured"
    assert all(lab.startswith("paper: ") for lab in rows[rows.source == "paper"].label)
    assert "cpu (2 cores)" in ours[ours.model == "ar"]["label"].iloc[0]
    none = efficiency_rows([])
    assert none[none.source == "ours"]["tokens_per_s"].isna().all()


def test_efficiency_bad_files(tmp_path, caplog):
    from tide.report.efficiency import load_bench

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"measurement": "generation", "rows": "oops"}))
    with pytest.raises(ValueError, match=r"bad\.json.*'rows'"):
        load_bench([bad])
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json.*JSON"):
        load_bench([bad])
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps(bench_doc([{"model": "gpt5", "tokens_per_s": 1.0},
                                         {"model": "ar", "tokens_per_s": "fast",
                                          "peak_mem_gb": 0}])))
    df = load_bench([odd])
    assert list(df.model) == ["ar"] and df[["tokens_per_s", "peak_mem_gb"]].isna().all().all()
    assert "gpt5" in caplog.text
    other = tmp_path / "sampler.json"  # another measurement: sampler variants, not per model
    other.write_text(json.dumps({**bench_doc(), "measurement": "sampler"}))
    assert load_bench([other]).empty


def test_efficiency_figure_bars_and_labels(tmp_path):
    from tide.report.efficiency import efficiency_rows
    from tide.report.figures import efficiency_figure

    f = tmp_path / "b.json"
    f.write_text(json.dumps(bench_doc()))
    fig = efficiency_figure(efficiency_rows([f]))
    mem, tput = fig.axes[:2]
    assert mem.get_yscale() == "log" and "GB" in mem.get_ylabel()
    assert "tokens/s" in tput.get_ylabel()
    # 5 paper bars + 4 of ours per panel; teacher A has no bar of ours but a marker
    assert len(tput.patches) == 9
    heights = sorted(p.get_height() for p in tput.patches)
    assert 7.8 in heights and 450.0 in heights
    assert any(t.get_text() == "not measured" for t in tput.texts)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(lab.startswith("paper: ") and "reported" in lab for lab in labels)
    assert "ours: cpu (2 cores); 256 new tokens, batch 1" in labels
    ticks = [t.get_text() for t in tput.get_xticklabels()]
    assert ticks.count("ours: plain") == 1 and ticks.count("ours") == 3  # ar, teacher A, B


# --------------------------------------------------------------------------- runs


def test_training_curves_every_component_and_missing_run(tmp_path, cfg):
    from tide.report.figures import training_curves_figure
    from tide.report.runs import load_runs

    root = make_results(tmp_path / "results", cfg, skip_runs={"B_kl"})
    path = root / "runs/B/tide_shared/metrics.jsonl"
    lines = path.read_text().splitlines()
    extra = [json.dumps({**json.loads(x), "kl_aux": 0.5}) for x in lines]
    path.write_text("\n".join(extra) + "\n")
    runs = load_runs([("B", "kl"), ("B", "tide_shared")], root)
    assert runs[("B", "kl")] is None
    shared = runs[("B", "tide_shared")]
    assert shared.components == ["loss", "ce", "distill", "kl_aux"]
    assert len(shared.tidal) == 4 * 30 and set(shared.tidal.columns) >= {"t", "p", "lam"}
    fig = training_curves_figure([("B/kl", runs[("B", "kl")]),
                                  ("B/tide_shared", shared)], title="t")
    ax_kl, ax_shared = fig.axes[:2]
    assert any("not run yet" in t.get_text() for t in ax_kl.texts)
    assert len(ax_shared.lines) == 2 * 4  # raw + smoothed per component
    np.testing.assert_allclose(ax_shared.lines[0].get_ydata(), shared.metrics["loss"])
    assert ax_shared.get_xlabel() == "optimizer step"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:3] == ["total = CE + weight × distill", "CE (BD3LM diffusion loss)",
                          "distillation term"] and "kl_aux" in legend


def test_runs_in_paper_order_then_ablations(cfg):
    from tide.report.build import run_order

    order = run_order(cfg)
    mains = [f"{p}_{r}" for p, r in order if not cfg.run(p, r).is_ablation]
    # the paper's columns first, then the tiny default's teacher-free controls (issue 15)
    assert mains == ["B_kl", "B_tide_cross", "B_tide_shared",
                     "A_calm", "A_tide_shared", "A_tide_cross", "A_control", "B_control"]
    assert len(order) == len(cfg.runs()) and order[len(mains):] == [
        (r.pipeline, r.name) for r in cfg.runs() if r.is_ablation]


def test_report_outputs_list_is_cheap_to_import():
    """The Snakefile imports tide.report.outputs while parsing: no pandas/matplotlib/torch."""
    import subprocess
    import sys

    code = ("import sys, tide.report.outputs; "
            "print(sorted(m for m in ('pandas', 'matplotlib', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_metrics_log_malformed_line_names_file_and_line(tmp_path):
    from tide.report.runs import read_metrics

    f = tmp_path / "metrics.jsonl"
    f.write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "loss": \n')
    with pytest.raises(ValueError, match=r"metrics\.jsonl: line 2"):
        read_metrics(f)


def test_empirical_lambda_only_from_runs_with_the_plotted_function(tmp_path, cfg):
    from tide.report.build import heatmap_lambda_settings
    from tide.report.figures import empirical_gap
    from tide.report.runs import empirical_lambda, load_runs

    root = make_results(tmp_path / "results", cfg)
    runs = load_runs([(r.pipeline, r.name) for r in cfg.runs()], root)
    lam, source = heatmap_lambda_settings(cfg)
    assert lam == {"l_init": 0.1, "l_max": 0.9, "schedule": "cosine", "axis_mode": "both"}
    assert source == "run B_tide_shared"
    emp, used = empirical_lambda(runs, **lam)
    # growth_linear / axes_timestep_only / tidal_on_reverse (axis both, cosine) differ or not:
    expected = sorted(r.model_id for r in cfg.runs() if r.objective.startswith("tidal")
                      and (r.l_init, r.l_max, r.schedule, r.axis_mode) == (0.1, 0.9, "cosine",
                                                                           "both"))
    assert sorted(used) == expected and "B_growth_linear" not in used
    assert empirical_gap(emp, **lam) < 1e-6
    # the gap exposes a run whose logged λ is not the plotted function
    assert empirical_gap(emp.assign(lam=emp.lam * 0.5), **lam) > 0.05


def test_ablations_not_in_the_paper_are_labelled_ours(tmp_path):
    """Token-level reverse-KL TIDAL and the concat-order null control are ours (issue 10,
    item 7): labelled in the table, the CSV and with the reason; the others are the paper's."""
    from tide.report.ablations import OURS, ablation_table, configured, write_ablation_tables

    paper = load_config(Path(__file__).parents[1] / "config" / "paper.yaml")
    abls = {a.model_id: a for a in configured(paper)}
    assert abls["B_tidal_on_reverse"].ours and abls["B_concat_xt_x0"].ours
    assert not abls["A_tidal_on_reverse"].ours  # chunk level: the authors' reverse_alm_taid
    assert not [m for m, a in abls.items() if a.ours and m not in
                ("B_tidal_on_reverse", "B_concat_xt_x0")]
    empty = pd.DataFrame(columns=["model_id", "benchmark", "value"])
    b = ablation_table("B", list(abls.values()), empty, None, ["mmlu"]).set_index("name")
    assert b.loc["concat_xt_x0", "origin"] == "ours" and b.loc["growth_linear", "origin"] == "paper"
    write_ablation_tables(paper, tmp_path, ablation_files=[], scores=None)
    md = (tmp_path / "ablations.md").read_text()
    assert f"tidal_on_reverse (not run) [{OURS}]" in md and "reverse_alm_taid" in md
    assert f"concat_xt_x0 (not run) [{OURS}]" in md and "null control" in md
    assert f"growth_linear (not run) [{OURS}]" not in md
