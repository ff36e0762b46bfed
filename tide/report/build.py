"""``tide report``: every table and figure of ``reports/`` from result files only.

Reads (all optional: what is missing shows as a marked blank, "not run yet" or "not measured")
- ``results/scores.csv``                       → main table, ours − paper
- ``results/scores_released.csv``              → released checkpoints here − paper (vs_paper)
- ``results/ablations/*.csv`` + scores.csv      → ablation tables (Δ to the full method)
- scores.csv ``source`` → score.json + samples.jsonl → intervals (95 % CI, seed spread,
  paper inside?) and paired method-vs-baseline deltas (tide.report.intervals)
- ``results/runs/*/*/{metrics.jsonl,run.json}`` → training curves, empirical (t, p, λ)
- ``results/bench/generation.json``            → memory / throughput beside the paper's
and writes exactly :data:`tide.report.outputs.REPORT_FILES` into the output directory.
No GPU, no weights: a few seconds on a laptop.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from tide import paths, vocab
from tide.distill.spec import RunSpec
from tide.report.outputs import REPORT_FILES

log = logging.getLogger(__name__)

TIDAL_OBJECTIVES = ("tidal", "tidal_chunk")


def pipeline_title(cfg, pipeline: str) -> str:
    """"Pipeline B (shared tokenizer, teacher <hub id>)", or a tiny stand-in's description."""
    spec = cfg.tree.models.teachers[pipeline]
    start = " from the AR model" if spec.from_ar else ""
    teacher = (f"{spec.init}" if spec.init != "train"
               else f"trained here{start}, a tiny stand-in for {vocab.PAPER_TEACHER[pipeline]}")
    return f"Pipeline {pipeline} ({vocab.PIPELINE_TOKENIZER[pipeline]}, teacher {teacher})"


def heatmap_lambda_settings(cfg) -> tuple[dict, str]:
    """(λ settings, where from): the main token-level TIDAL run's (pipeline B's TIDE-Shared
    in the paper), else the main chunk-level one's, else ``distill.defaults``.

    The settings are ``l_init, l_max, schedule, axis_mode``: what ``tidal_lambda`` is called
    with during that run.
    """
    mains = cfg.runs(ablations=False)
    for objective in TIDAL_OBJECTIVES:
        for run in (r for r in mains if r.objective == objective):
            return ({"l_init": run.l_init, "l_max": run.l_max, "schedule": run.schedule,
                     "axis_mode": run.axis_mode}, f"run {run.model_id}")
    # no main TIDAL run: the inherited settings (the tree holds resolved runs, not the
    # defaults section); axis_mode cannot be set there, so it is RunSpec's default
    d = cfg.raw["distill"]["defaults"]
    return ({"l_init": d["l_init"], "l_max": d["l_max"], "schedule": d["schedule"],
             "axis_mode": RunSpec.axis_mode}, "distill.defaults")


def run_order(cfg) -> list[tuple[str, str]]:
    """(pipeline, run) of every configured run: main runs in the paper's column order, then
    ablations in config order (the resolved config sorts its keys, so config order alone
    would be alphabetical)."""
    order = vocab.MAIN_MODEL_IDS

    def key(run):
        return (run.is_ablation,
                order.index(run.model_id) if run.model_id in order else len(order))

    return [(r.pipeline, r.name) for r in sorted(cfg.runs(), key=key)]


def _scores(scores: str | os.PathLike | None, root) -> pd.DataFrame | str:
    path = Path(scores) if scores else paths.scores_csv(root)
    if path.is_file():
        return str(path)
    log.warning("scores %s: not found; every score cell is left blank (marked)", path)
    return pd.DataFrame(columns=["model", "benchmark", "metric", "value"])


def _released_scores(root) -> pd.DataFrame | None:
    """Scores of the released checkpoints (``results/scores_released.csv``, the ``released``
    target), their ``model`` mapped to the paper's columns (``released_B_kl`` → ``B_KL``);
    None when absent."""
    path = paths.scores_csv(root).with_name("scores_released.csv")
    if not path.is_file():
        return None
    df = pd.read_csv(path)
    ids = df["model_id"] if "model_id" in df.columns else df["model"]
    df["model"] = [vocab.column(m.removeprefix("released_")) for m in ids.astype(str)]
    log.info("released checkpoints: %d scores from %s", len(df), path)
    return df


def _write_text(out: Path, name: str, text: str) -> Path:
    from tide.io import atomic_write_text

    atomic_write_text(out / name, text)
    return out / name


def efficiency_outputs(out: Path, bench_files: list[Path]) -> dict[str, Path]:
    """``efficiency.{png,pdf,md,csv,html}`` from the bench results beside the paper's."""
    from tide.report.efficiency import efficiency_rows, efficiency_table
    from tide.report.figures import efficiency_figure, save_figure
    from tide.report.render import html_notes, html_page, html_table, markdown_table

    rows = efficiency_rows(bench_files)
    png, pdf = save_figure(efficiency_figure(rows), out / "efficiency.png")
    header, body = efficiency_table(rows)
    used = sorted({f for f in rows.loc[rows.source == "ours", "file"] if f})
    sources = ", ".join(used) or "none (no results/bench/generation.json)"
    notes = ["Paper: reported figures (arXiv 2604.26951; one H100, 256 generated tokens).",
             f"Ours: measured by tide.bench; result files: {sources}.",
             "— = not measured."]
    classes = [["blank" if c == "—" else "" for c in r] for r in body]
    written = {
        "efficiency.png": png, "efficiency.pdf": pdf,
        "efficiency.md": _write_text(out, "efficiency.md",
                                     "# Memory and throughput per model\n\n"
                                     + markdown_table(header, body, notes, align_left=5)),
        "efficiency.csv": _write_text(out, "efficiency.csv", rows.to_csv(index=False)),
        "efficiency.html": _write_text(out, "efficiency.html", html_page(
            "Memory and throughput per model",
            html_table(header, body, classes=classes, text_columns=5, table_id="efficiency")
            + "\n" + html_notes(notes))),
    }
    return written


def build_report(cfg, out_dir: str | os.PathLike = "reports", *, root=None,
                 scores: str | os.PathLike | None = None) -> dict[str, Path]:
    """Write every table and figure of the report into ``out_dir``. Returns {name: path}."""
    from tide.report.ablations import write_ablation_tables
    from tide.report.figures import plot_lambda_heatmap, save_figure, training_curves_figure
    from tide.report.runs import empirical_lambda, load_runs
    from tide.report.tables import as_table_keys, write_main_tables

    out = Path(out_dir)
    written: dict[str, Path] = {}

    # tables: main, ours − paper, ablations
    score_src = _scores(scores, root)
    score_df = pd.read_csv(score_src, comment="#") if isinstance(score_src, str) else score_src
    score_df = as_table_keys(score_df)  # ids (scores.csv) -> the tables' labels, once
    ablation_ids = {r.model_id for r in cfg.runs() if r.is_ablation}
    if "model_id" in score_df.columns:  # ablations have their own tables, not main columns
        main_src = score_df[~score_df["model_id"].isin(ablation_ids)]
        log.info("scores %s: %d ablation rows go to the ablation tables", score_src,
                 len(score_df) - len(main_src))
    else:
        main_src = score_src
    from tide.report.intervals import inside_sections

    main_df = pd.read_csv(main_src, comment="#") if isinstance(main_src, str) else main_src
    written.update(write_main_tables(main_src, out, released=_released_scores(root),
                                     inside=inside_sections(main_df)))
    from tide.config import column_label
    from tide.report.intervals import write_interval_tables

    pairs = sorted({(column_label(r.model_id), column_label(f"{r.pipeline}_{r.base}"))
                    for r in cfg.runs() if r.is_ablation})
    written.update(write_interval_tables(score_df, out, pairs))
    ablation_files = sorted(paths._r(root).glob("ablations/*.csv"))
    written.update(write_ablation_tables(cfg, out, ablation_files=ablation_files,
                                         scores=score_df))

    # runs: λ(t, p) heatmap beside the logged points, training curves per pipeline
    runs = load_runs(run_order(cfg), root)
    lam, lam_source = heatmap_lambda_settings(cfg)
    empirical, used = empirical_lambda(runs, **lam)
    log.info("λ heatmap: settings of %s %s; empirical points from %s", lam_source, lam,
             used or "no run")
    if empirical is None:  # the panel stays, marked "not logged yet"
        empirical = pd.DataFrame(columns=["t", "p", "lam"])
    png, pdf = plot_lambda_heatmap(out / "lambda_heatmap.png", **lam, empirical=empirical,
                                   empirical_label=", ".join(used))
    written.update({"lambda_heatmap.png": png, "lambda_heatmap.pdf": pdf})
    for pipeline in ("B", "A"):
        panels = [(f"{p}/{name}" + (" (ablation)" if f"{p}_{name}" in ablation_ids else ""), run)
                  for (p, name), run in runs.items() if p == pipeline]
        fig = training_curves_figure(
            panels, title=f"Training curves of every loss component, {pipeline_title(cfg, pipeline)}")
        png, pdf = save_figure(fig, out / f"training_curves_{pipeline}.png")
        written.update({png.name: png, pdf.name: pdf})

    # benchmarks: memory and throughput per model beside the paper's
    bench_files = sorted(paths._r(root).glob("bench/*.json"))
    written.update(efficiency_outputs(out, bench_files))

    missing = sorted(set(REPORT_FILES) - set(written))
    extra = sorted(set(written) - set(REPORT_FILES))
    if missing or extra:  # the report rule declares REPORT_FILES: keep them in step
        raise RuntimeError(f"report: expected to write {sorted(REPORT_FILES)}, "
                           f"missing {missing}, unexpected {extra}")
    log.info("report: wrote %d files to %s", len(written), out)
    return written
