"""Tests for tide.report: the main table (md/csv/tex, ours − paper) and the λ(t,p) heatmap."""

from __future__ import annotations

import io
import logging
import math
import re

import numpy as np
import pandas as pd
import pytest

from tide.report import formats as F
from tide.report import layout as L
from tide.report import paper as P
from tide.report import tables as T

# --------------------------------------------------------------------------- helpers


def _scores_without(model: str, benchmark: str) -> pd.DataFrame:
    s = P.reference_as_scores()
    return s[~((s.model == model) & (s.benchmark == benchmark))].reset_index(drop=True)


def _body_rows(latex: str) -> dict[str, str]:
    """Map each benchmark / Avg row label of a rendered tabular to its line."""
    rows = {}
    for line in latex.splitlines():
        label = line.split(" & ")[0].strip()
        if label in L.ROWS:
            rows[label] = line
    return rows


# --------------------------------------------------------------------------- reference


def test_reference_files_layout():
    ref = P.load_reference_results()
    assert list(ref.index) == list(L.ROWS)
    assert list(ref.columns) == list(L.MODELS)
    assert ref.notna().all().all()
    assert ref.at["GSM8K", "A_TIDE-Cross"] == 52.24
    assert ref.at["Avg", "B_TIDE-Shared"] == 33.55
    eff = P.load_reference_efficiency()
    assert list(eff.columns) == ["model", "params_b", "peak_mem_gb", "tokens_per_s", "humaneval"]
    assert len(eff) == 5
    # model names with commas stay whole (the copied file does not quote them)
    eff = eff.set_index("model")
    assert eff.at["LLaDA2.0-mini (teacher, 16B MoE)", "peak_mem_gb"] == 31.3
    assert eff.at["WeDLM-8B (teacher, dense)", "tokens_per_s"] == 37.7
    assert eff.at["TIDE distilled (best)", "humaneval"] == 49.4
    assert eff.at["LLaDA2.0-mini (teacher, 16B MoE)", "params_b"] == 16.3
    assert math.isnan(eff.at["WeDLM-8B (teacher, dense)", "humaneval"])


def test_reference_scores_long_form():
    s = P.reference_as_scores()
    assert list(s.columns) == ["model", "benchmark", "metric", "value"]
    assert len(s) == len(L.MODELS) * len(L.BENCHMARKS)
    assert set(s.metric) == {"accuracy", "pass@1"}
    assert "Avg" not in set(s.benchmark)


def test_reference_in_paper_table_out_cell_for_cell(tmp_path):
    ref = P.load_reference_results()
    ours = T.main_table(P.reference_as_scores())
    assert list(ours.index) == list(L.ROWS) and list(ours.columns) == list(L.MODELS)
    pd.testing.assert_frame_equal(L.round_table(ours), ref, check_exact=True)
    # Same through a CSV file, and through the rendered CSV text.
    path = tmp_path / "scores.csv"
    P.reference_as_scores().to_csv(path, index=False)
    pd.testing.assert_frame_equal(L.round_table(T.main_table(path)), ref, check_exact=True)
    csv = pd.read_csv(io.StringIO(F.to_csv(ours)), index_col="benchmark")
    pd.testing.assert_frame_equal(csv, ref, check_exact=True)


def test_paper_averages_are_half_up_means():
    """The printed Avg are exact-decimal means rounded half-up (30.545 -> 30.55)."""
    ref = P.load_reference_results()
    for m in L.MODELS:
        mean = ref.loc[list(L.BENCHMARKS), m].mean()
        assert L.round_half_up(mean) == ref.at["Avg", m], m
    assert L.round_half_up(244.36 / 8) == 30.55
    assert L.round_half_up(30.5449) == 30.54
    assert math.isnan(L.round_half_up(float("nan")))


# --------------------------------------------------------------------------- blanks


def test_missing_cell_is_blank_not_zero_and_avg_blank():
    ours = T.main_table(_scores_without("B_KL", "MATH"))
    assert math.isnan(ours.at["MATH", "B_KL"])
    assert math.isnan(ours.at["Avg", "B_KL"])
    assert (ours.fillna(-1) != 0).all().all()
    others = [m for m in L.MODELS if m != "B_KL"]
    assert ours.loc["Avg", others].notna().all()

    md = F.to_markdown(ours)
    rows = {line.split(" | ")[0].strip("| *"): line for line in md.splitlines()
            if line.startswith("| ")}
    assert rows["MATH"].split(" | ")[3] == "—"
    assert rows["Avg"].split(" | ")[3] == "—†"
    assert "0.00" not in rows["MATH"]
    assert L.NOTE_BLANK in md and L.NOTE_AVG in md

    tex = F.to_latex(ours)
    assert _body_rows(tex)["MATH"].split(" & ")[3] == "--"
    assert _body_rows(tex)["Avg"].split(" & ")[3] == r"--$^\dagger$"


def test_missing_model_entirely_gives_blank_column():
    s = P.reference_as_scores()
    ours = T.main_table(s[s.model != "A_CALM"])
    assert ours["A_CALM"].isna().all()
    assert "—†" in F.to_markdown(ours)
    assert F.to_csv(ours).splitlines()[1].split(",")[6] == ""


def test_empty_scores_no_crash():
    ours = T.main_table(pd.DataFrame(columns=["model", "benchmark", "metric", "value"]))
    assert ours.isna().all().all()
    assert F.to_markdown(ours).count("—†") == len(L.MODELS)
    F.to_latex(ours)


def test_complete_table_has_no_footnotes():
    ours = T.main_table(P.reference_as_scores())
    md = F.to_markdown(ours)
    assert "—" not in md and "†" not in md
    assert "dagger" not in F.to_latex(ours)


# --------------------------------------------------------------------------- bad input


def test_unknown_model_and_benchmark_ignored_with_warning(caplog):
    s = P.reference_as_scores()
    extra = pd.DataFrame([["Llama-9B", "GSM8K", "accuracy", 10.0],
                          ["BD3LM", "ARC-C", "accuracy", 10.0]], columns=s.columns)
    with caplog.at_level(logging.WARNING, logger="tide.report.tables"):
        ours = T.main_table(pd.concat([s, extra]))
    pd.testing.assert_frame_equal(L.round_table(ours), P.load_reference_results())
    text = caplog.text
    assert "Llama-9B" in text and "model" in text
    assert "ARC-C" in text and "benchmark" in text


def test_scores_csv_missing_value_column_names_file_and_column(tmp_path):
    path = tmp_path / "scores.csv"
    P.reference_as_scores().drop(columns="value").to_csv(path, index=False)
    with pytest.raises(ValueError) as e:
        T.main_table(path)
    msg = str(e.value)
    assert str(path) in msg and "'value'" in msg and "expected" in msg and "found" in msg


def test_non_numeric_or_out_of_range_value_rejected(tmp_path):
    s = P.reference_as_scores()
    s["value"] = s["value"].astype(object)
    s.loc[3, "value"] = "4O.1"  # letter O: a typo, not a number
    path = tmp_path / "bad.csv"
    s.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"bad\.csv.*'value'.*4O\.1"):
        T.main_table(path)
    s = P.reference_as_scores()
    s.loc[0, "value"] = 0.5 * 300
    with pytest.raises(ValueError, match=r"\[0, 100\]"):
        T.main_table(s)


def test_duplicate_cells_rejected():
    s = P.reference_as_scores()
    dup = s.iloc[[0]].assign(metric="flexible-extract")
    with pytest.raises(ValueError, match="one row per"):
        T.main_table(pd.concat([s, dup]))


def test_missing_scores_file():
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        T.main_table("/nonexistent/nope.csv")


# --------------------------------------------------------------------------- rendering


def test_markdown_spanning_header_and_values():
    md = F.to_markdown(T.main_table(P.reference_as_scores()))
    lines = md.splitlines()
    assert L.PIPELINE_B in lines[0] and L.PIPELINE_A in lines[0]
    assert lines[0].index(L.PIPELINE_B) < lines[0].index(L.PIPELINE_A)
    assert set(lines[1].replace("|", "").replace(":", "").replace("-", "")) == set()
    assert "**KL**" in lines[2] and "**CALM**" in lines[2]
    assert "| **Avg** | 40.91 | 32.67 | 30.55 |" in md
    assert "| GSM8K | 59.60 |" in md


def test_latex_booktabs_multicolumn_and_bold_best():
    ours = T.main_table(P.reference_as_scores())
    tex = F.to_latex(ours)
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule in tex
    assert r"\multicolumn{3}{c}{Pipeline B: shared tokenizer (WeDLM-8B)}" in tex
    assert r"\multicolumn{3}{c}{Pipeline A: cross tokenizer (LLaDA2.0-mini)}" in tex
    assert r"\cmidrule(lr){4-6}" in tex and r"\cmidrule(lr){7-9}" in tex
    assert tex.startswith(r"\begin{tabular}{lrrrrrrrr}")
    rows = _body_rows(tex)
    ref = P.load_reference_results()
    for row in L.ROWS:
        bold = re.findall(r"\\textbf\{([0-9.]+)\}", rows[row])
        assert bold == [f"{ref.loc[row].max():.2f}"], row
    assert r"\textbf{59.60}" in rows["GSM8K"]
    assert r"\textbf{49.39}" in rows["HumanEval"]


def test_latex_bold_among_subset_and_ties():
    ours = T.main_table(P.reference_as_scores())
    students = [m for m in L.MODELS if m != "AR_Qwen3-0.6B"]
    rows = _body_rows(F.to_latex(ours, bold_columns=students))
    assert r"\textbf{52.24}" in rows["GSM8K"] and r"\textbf{59.60}" not in rows["GSM8K"]
    ours.loc["MBPP", "BD3LM"] = 38.6  # ties with A_TIDE-Cross at 2 decimals
    rows = _body_rows(F.to_latex(ours, bold_columns=students))
    assert rows["MBPP"].count(r"\textbf{38.60}") == 2


# --------------------------------------------------------------------------- delta


def test_delta_zero_when_ours_equals_paper():
    delta = T.delta_to_paper(T.main_table(P.reference_as_scores()))
    assert list(delta.index) == list(L.ROWS) and list(delta.columns) == list(L.MODELS)
    assert (delta == 0.0).all().all()
    assert "-0.00" not in F.to_markdown(delta, signed=True)


def test_delta_blank_where_ours_blank_and_signed():
    s = _scores_without("A_CALM", "BBH")
    s.loc[(s.model == "BD3LM") & (s.benchmark == "GSM8K"), "value"] = 46.56
    delta = T.delta_to_paper(T.main_table(s))
    assert math.isnan(delta.at["BBH", "A_CALM"]) and math.isnan(delta.at["Avg", "A_CALM"])
    assert delta.at["GSM8K", "BD3LM"] == 1.0
    assert delta.at["Avg", "BD3LM"] == 0.12  # 32.79125 -> 32.79, paper 32.67
    md = F.to_markdown(delta, signed=True)
    assert "| GSM8K | 0.00 | +1.00 |" in md


def test_write_main_tables(tmp_path):
    scores = tmp_path / "scores.csv"
    _scores_without("B_TIDE-Cross", "MMLU").to_csv(scores, index=False)
    out = tmp_path / "reports"
    paths = T.write_main_tables(scores, out)
    names = {"main_table.md", "main_table.csv", "main_table.tex", "main_table.html",
             "vs_paper.md", "vs_paper.csv", "vs_paper.html"}
    assert set(paths) == names
    assert {p.name for p in out.iterdir()} == names  # no temp files left behind
    table = pd.read_csv(out / "main_table.csv", index_col="benchmark")
    assert math.isnan(table.at["MMLU", "B_TIDE-Cross"])
    vs = pd.read_csv(out / "vs_paper.csv", index_col="benchmark")
    assert math.isnan(vs.at["Avg", "B_TIDE-Cross"]) and vs.at["Avg", "B_KL"] == 0.0
    assert "—†" in (out / "main_table.md").read_text()
    assert r"\toprule" in (out / "main_table.tex").read_text()
    assert "52.24" in (out / "vs_paper.md").read_text()  # the paper's table is included
    assert "52.24" in (out / "vs_paper.html").read_text()
    assert 'id="main-table"' in (out / "main_table.html").read_text()


def test_html_table_spanning_header_bold_best_and_marked_blanks():
    ours = T.main_table(_scores_without("B_KL", "MATH"))
    html = F.to_html(ours, table_id="t")
    head = html[:html.index("</thead>")]
    assert f'<th colspan="3" class="span">{L.PIPELINE_B}</th>' in head
    assert f'<th colspan="3" class="span">{L.PIPELINE_A}</th>' in head
    assert head.index(L.PIPELINE_B) < head.index(L.PIPELINE_A)
    rows = {r.split("</td>")[0].split(">")[-1]: r for r in html.split("<tr") if "<td" in r}
    assert '<td class="best">59.60</td>' in rows["GSM8K"]
    assert rows["GSM8K"].count('class="best"') == 1
    assert '<td class="blank">—</td>' in rows["MATH"]
    assert '<td class="blank">—†</td>' in rows["Avg"] and 'class="avg"' in rows["Avg"]
    assert L.NOTE_AVG.replace("'", "&#x27;") in html
    delta = F.to_html(T.delta_to_paper(ours), signed=True, bold_columns=())
    assert 'class="best"' not in delta and "+0.00" not in delta


# --------------------------------------------------------------------------- λ(t, p) heatmap


def test_lambda_grid_hand_values():
    from tide.report.figures import lambda_grid

    t, p, lam = lambda_grid(l_init=0.1, l_max=0.9, t=[0.0, 0.5, 1.0], p=[0.0, 0.5, 1.0])
    assert lam.shape == (3, 3)
    assert lam[2, 0] == pytest.approx(0.9)   # p=1, t=0 -> l_max
    assert lam[0, 0] == pytest.approx(0.1)   # p=0, t=0 -> l_init
    assert np.allclose(lam[:, 2], 0.0)       # t=1 -> 0 for "both"
    assert lam[1, 1] == pytest.approx(0.25)  # λ_train(.5)=0.5, ×(1-0.5)
    assert lam[1, 0] == pytest.approx(0.5)
    _, _, default = lambda_grid(l_init=0.1, l_max=0.9)
    assert default.shape == (101, 101)
    assert default.min() == pytest.approx(0.0) and default.max() == pytest.approx(0.9)


def test_lambda_grid_is_tidal_lambda():
    import torch

    from tide.distill.tidal import tidal_lambda
    from tide.report.figures import lambda_grid, lambda_heatmap_figure

    for schedule in ("cosine", "linear"):
        for axis in ("both", "training_only", "timestep_only"):
            t, p, lam = lambda_grid(l_init=0.2, l_max=0.8, schedule=schedule,
                                    axis_mode=axis, n=11)
            for i, p_i in enumerate(p):
                direct = tidal_lambda(torch.tensor(t), float(p_i), l_init=0.2, l_max=0.8,
                                      schedule=schedule, axis_mode=axis)
                direct = torch.broadcast_to(torch.as_tensor(direct, dtype=torch.float64),
                                            (len(t),)).numpy()
                np.testing.assert_allclose(lam[i], direct, rtol=1e-6, atol=1e-7)

    fig = lambda_heatmap_figure(l_init=0.1, l_max=0.9, n=21)
    plotted = np.asarray(fig.axes[0].collections[0].get_array()).reshape(21, 21)
    _, _, lam = lambda_grid(l_init=0.1, l_max=0.9, n=21)
    np.testing.assert_allclose(plotted, lam)


def test_plot_lambda_heatmap_writes_png_and_pdf(tmp_path):
    from tide.report.figures import plot_lambda_heatmap

    png, pdf = plot_lambda_heatmap(tmp_path / "fig" / "lambda.png", l_init=0.1, l_max=0.9)
    assert png.name == "lambda.png" and pdf.name == "lambda.pdf"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in png.parent.iterdir()) == ["lambda.pdf", "lambda.png"]


def test_plot_lambda_heatmap_empirical_panel(tmp_path):
    from tide.report.figures import lambda_heatmap_figure, plot_lambda_heatmap

    rng = np.random.default_rng(0)
    emp = pd.DataFrame({"t": rng.random(50), "p": np.linspace(0, 1, 50)})
    emp["lam"] = (0.1 + 0.8 * 0.5 * (1 - np.cos(np.pi * emp.p))) * (1 - emp.t)
    fig = lambda_heatmap_figure(l_init=0.1, l_max=0.9, empirical=emp)
    data_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(data_axes) == 2
    assert "mask ratio" in data_axes[1].get_xlabel()
    assert len(data_axes[1].collections[0].get_offsets()) == 50
    png, pdf = plot_lambda_heatmap(tmp_path / "l.png", l_init=0.1, l_max=0.9, empirical=emp)
    assert png.exists() and pdf.exists()
    with pytest.raises(ValueError, match=r"empirical.*'lam'"):
        lambda_heatmap_figure(l_init=0.1, l_max=0.9, empirical=emp.drop(columns="lam"))
