"""Scores with their 95 % intervals, seed spread, and paired method-vs-baseline tests (issue 14).

Reads the tidy ``scores.csv`` (its ``source`` column names each score.json); next to each
score.json, ``samples.jsonl`` holds the per-document outputs (tide.eval.stats):

- ``intervals.{md,csv,tex,html}``: every cell ``value [lo, hi]`` (bootstrap over documents,
  size-weighted for grouped benchmarks), ``± sd (k seeds)`` where more than one seed ran, and
  whether the paper's value lies inside our interval (✓ inside, ✗ outside). A result
  without per-sample outputs (written before intervals existed) shows its value with
  ``[n/a]``: no interval is invented.
- ``deltas.{md,csv,html}``: each method against its baseline over the same documents
  (paired bootstrap): every run vs BD3LM, TIDE vs KL (pipeline B) and vs CALM (pipeline
  A), each ablation vs its full method; Δ, its 95 % interval and p.

The paper's AR column is Qwen3-0.6B-Base as reported in the Qwen3 technical report, not
this protocol (the same row as dllm's README; dllm issue #46): see ``NOTE_AR``.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import pandas as pd

from tide.eval.stats import METHOD, bootstrap_ci, paired_bootstrap, read_per_doc
from tide.io import atomic_write_text
from tide.report.layout import BENCHMARKS, DISPLAY, MODELS, NOTE_AR, round_half_up
from tide.report.paper import load_reference_results

log = logging.getLogger(__name__)

NA = "n/a"
INSIDE, OUTSIDE = "✓", "✗"
NOTE_CI = (f"[lo, hi] = 95 % interval ({METHOD}); [{NA}] = the result has no per-sample "
           f"file (written before intervals existed): no interval. ✓/✗ = the paper's value "
           f"lies inside/outside our interval. ± sd (k seeds) = spread over training seeds.")
BASELINES = {"B_KL": "BD3LM", "B_TIDE-Cross": "BD3LM", "B_TIDE-Shared": "BD3LM",
             "A_CALM": "BD3LM", "A_TIDE-Shared": "BD3LM", "A_TIDE-Cross": "BD3LM"}
METHOD_PAIRS = [("B_TIDE-Shared", "B_KL"), ("B_TIDE-Cross", "B_KL"),
                ("A_TIDE-Cross", "A_CALM"), ("A_TIDE-Shared", "A_CALM")]


def _per_doc(source: str, benchmark: str) -> dict | None:
    """Per-document scores of one result, or None when it has no samples.jsonl."""
    from tide.eval.benchmarks import BENCHMARKS as SPEC

    if not isinstance(source, str) or not source:
        return None
    samples = Path(source).with_name("samples.jsonl")
    if not samples.is_file():
        return None
    key = next(k for k, b in SPEC.items() if b.display == benchmark)
    spec = SPEC[key]
    scores = read_per_doc(samples, spec.metric, spec.filter)
    return scores or None


def collect(scores: pd.DataFrame) -> dict[tuple[str, str], dict]:
    """``{(model, benchmark): cell}``: value (mean over seeds), interval, seed spread, docs."""
    cells: dict[tuple[str, str], dict] = {}
    for (model, bench), grp in scores.groupby(["model", "benchmark"], sort=False):
        docs = [_per_doc(s, bench) for s in grp.get("source", pd.Series([None] * len(grp)))]
        values = grp["value"].astype(float).to_numpy()
        cell = {"value": float(values.mean()), "seeds": len(values),
                "seed_sd": float(values.std(ddof=1)) if len(values) > 1 else None,
                "ci": None, "docs": docs[0] if len(docs) == 1 else None}
        if len(docs) == 1 and docs[0]:
            _, lo, hi = bootstrap_ci(docs[0])
            cell["ci"] = (lo, hi)
        elif all(docs) and docs:  # seeds: interval of the first seed's documents, marked
            _, lo, hi = bootstrap_ci(docs[0])
            cell["ci"] = (lo, hi)
        cells[(model, bench)] = cell
    return cells


def _paper() -> pd.DataFrame:
    return load_reference_results()


def inside(paper_value: float, ci) -> str:
    """✓ when the paper's value lies inside our interval, ✗ outside, '' without either."""
    if ci is None or paper_value is None or pd.isna(paper_value):
        return ""
    return INSIDE if ci[0] <= paper_value <= ci[1] else OUTSIDE


def cell_text(cell: dict | None, paper_value: float | None) -> str:
    """``v [lo, hi] ✓`` (+ ``± sd (k seeds)``); ``—`` for no score."""
    if cell is None:
        return "—"
    text = f"{round_half_up(cell['value']):.2f}"
    ci = cell["ci"]
    text += f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else f" [{NA}]"
    if cell["seed_sd"] is not None:
        text += f" ± {cell['seed_sd']:.2f} ({cell['seeds']} seeds)"
    mark = inside(paper_value, ci)
    return text + (f" {mark}" if mark else "")


def interval_rows(cells: dict) -> pd.DataFrame:
    """Tidy rows: model, benchmark, value, ci_low, ci_high, seeds, seed_sd, paper, inside."""
    paper = _paper()
    rows = []
    for (model, bench), c in cells.items():
        pv = paper.at[bench, model] if bench in paper.index and model in paper.columns else None
        rows.append({"model": model, "benchmark": bench, "value": c["value"],
                     "ci_low": c["ci"][0] if c["ci"] else None,
                     "ci_high": c["ci"][1] if c["ci"] else None, "seeds": c["seeds"],
                     "seed_sd": c["seed_sd"], "paper": pv,
                     "paper_inside_ci": inside(pv, c["ci"]) == INSIDE if c["ci"] else None})
    return pd.DataFrame(rows)


def _grid(cells: dict) -> tuple[list[str], list[list[str]]]:
    paper = _paper()
    header = ["Benchmark"] + [DISPLAY[m] for m in MODELS]
    body = []
    for bench in BENCHMARKS:
        row = [bench]
        for m in MODELS:
            pv = paper.at[bench, m] if bench in paper.index and m in paper.columns else None
            row.append(cell_text(cells.get((m, bench)), pv))
        body.append(row)
    return header, body


def paired_deltas(cells: dict, ablations: list[tuple[str, str]] = ()) -> pd.DataFrame:
    """One row per (comparison, benchmark) whose two results both have per-sample files."""
    pairs = [(m, b, "vs BD3LM") for m, b in BASELINES.items()]
    pairs += [(m, b, "TIDE vs baseline") for m, b in METHOD_PAIRS]
    pairs += [(a, b, "ablation vs full method") for a, b in ablations]
    rows = []
    for a, b, kind in pairs:
        for bench in BENCHMARKS:
            ca, cb = cells.get((a, bench)), cells.get((b, bench))
            if not ca or not cb:
                continue
            if not (ca["docs"] and cb["docs"]):
                rows.append({"comparison": f"{a} − {b}", "kind": kind, "benchmark": bench,
                             "delta": ca["value"] - cb["value"], "ci_low": None,
                             "ci_high": None, "p": None, "n": None})
                continue
            r = paired_bootstrap(ca["docs"], cb["docs"])
            rows.append({"comparison": f"{a} − {b}", "kind": kind, "benchmark": bench,
                         "delta": r["delta"], "ci_low": r["ci95"][0], "ci_high": r["ci95"][1],
                         "p": r["p"], "n": r["n"]})
    return pd.DataFrame(rows, columns=["comparison", "kind", "benchmark", "delta", "ci_low",
                                       "ci_high", "p", "n"])


def _delta_text(r) -> list[str]:
    ci = (f"[{r.ci_low:+.1f}, {r.ci_high:+.1f}]" if r.ci_low is not None
          and not (isinstance(r.ci_low, float) and math.isnan(r.ci_low)) else f"[{NA}]")
    p = "" if r.p is None or (isinstance(r.p, float) and math.isnan(r.p)) else f"{r.p:.3f}"
    n = "" if r.n is None or (isinstance(r.n, float) and math.isnan(r.n)) else str(int(r.n))
    return [r.comparison, r.kind, r.benchmark, f"{r.delta:+.2f}", ci, p, n]


def _tex_text(text: str) -> str:
    from tide.report.formats import tex_escape

    text = tex_escape(text)  # the marks are not special to TeX's escaping: swap them after
    for a, b in (("✓", r"$\checkmark$"), ("✗", r"$\times$"), ("±", r"$\pm$"), ("—", "--")):
        text = text.replace(a, b)
    return text


def _tex(header: list[str], body: list[list[str]], note: str) -> str:
    lines = [rf"\begin{{tabular}}{{l{'r' * (len(header) - 1)}}}", r"\toprule",
             " & ".join(_tex_text(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(_tex_text(c) for c in row) + r" \\" for row in body]
    lines += [r"\bottomrule",
              rf"\multicolumn{{{len(header)}}}{{l}}{{\footnotesize {_tex_text(note)}}} \\",
              r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def inside_sections(scores: pd.DataFrame) -> tuple[str, str]:
    """(markdown, HTML) section for vs_paper: our intervals, ✓/✗ paper inside."""
    from tide.report.render import html_notes, html_table, markdown_table

    scores = scores[scores["model"].isin(MODELS)]
    header, body = _grid(collect(scores) if len(scores) else {})
    title = "Is the paper's value inside our 95 % interval?"
    return (f"\n## {title}\n\n" + markdown_table(header, body, [NOTE_CI, NOTE_AR]),
            f"\n<h2>{title}</h2>\n" + html_table(header, body, table_id="vs-paper-ci")
            + "\n" + html_notes([NOTE_CI, NOTE_AR]))


def write_interval_tables(scores: pd.DataFrame, out_dir: str | os.PathLike,
                          ablations: list[tuple[str, str]] = ()) -> dict[str, Path]:
    """Write intervals.{md,csv,tex,html} and deltas.{md,csv,html}; returns {name: path}."""
    from tide.report.render import html_notes, html_page, html_table, markdown_table

    out = Path(out_dir)
    scores = scores[scores["model"].isin(MODELS) | scores["model"].isin([a for a, _ in ablations])]
    cells = collect(scores) if len(scores) else {}
    header, body = _grid(cells)
    notes = [NOTE_CI, NOTE_AR]
    deltas = paired_deltas(cells, ablations)
    dheader = ["Comparison", "Kind", "Benchmark", "Δ (points)", "95 % interval", "p", "docs"]
    dbody = [_delta_text(r) for r in deltas.itertuples()]
    dnote = ("Paired bootstrap over the documents both results scored (tide.eval.stats): the "
             "same resampled documents for both sides; p two-sided. "
             f"[{NA}] = a side has no per-sample file.")
    texts = {
        "intervals.md": "# Scores with 95 % intervals\n\n" + markdown_table(header, body, notes),
        "intervals.csv": interval_rows(cells).to_csv(index=False, float_format="%.4f"),
        "intervals.tex": _tex(header, body, " ".join(notes)),
        "intervals.html": html_page("Scores with 95 % intervals",
                                    html_table(header, body, table_id="intervals")
                                    + "\n" + html_notes(notes)),
        "deltas.md": "# Method vs baseline: paired differences\n\n"
                     + markdown_table(dheader, dbody, [dnote], align_left=3),
        "deltas.csv": deltas.to_csv(index=False, float_format="%.4f"),
        "deltas.html": html_page("Method vs baseline: paired differences",
                                 html_table(dheader, dbody, table_id="deltas", text_columns=3)
                                 + "\n" + html_notes([dnote])),
    }
    written = {}
    for name, text in texts.items():
        written[name] = out / name
        atomic_write_text(written[name], text)
    log.info("intervals: %d cells, %d with an interval; %d paired deltas", len(cells),
              sum(c["ci"] is not None for c in cells.values()), len(deltas))
    return written

