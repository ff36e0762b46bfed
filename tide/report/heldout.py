"""Held-out table and figure: every student against the teacher-free control and the teachers.

Reads ``results/heldout/*.json`` (``tide heldout``: per-example figures of each model) and
writes ``heldout_table.{md,csv,html}`` and ``heldout.png``:

- bits/byte = Σ bits / Σ bytes over the held-out examples, with a 95 % percentile bootstrap
  interval over examples (tide.heldout.bootstrap_ratio);
- Δ vs control: the run's bits/byte minus its pipeline's teacher-free control's, paired on
  the same examples and the same noise (bootstrap of the difference); negative = better;
- over seeds: mean ± standard deviation of bits/byte over the run's seed repeats
  (``distill.seeds``; seed k of a run is paired with seed k of the control for the Δ);
- KL to teacher B: Σ KL(teacher ‖ student) / masked aligned pairs (nats per token, T = 1),
  for the BD3LM start and pipeline B's runs;
- KL to teacher A: Σ binary KL of chunk probabilities / active chunks (nats per chunk), for
  the BD3LM start and pipeline A's runs.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pandas as pd

from tide import paths
from tide.config import CONTROL_OBJECTIVES
from tide.heldout import bootstrap_ratio, ratio

log = logging.getLogger(__name__)


def load_heldout(root=None) -> dict[tuple[str, int], dict]:
    """{(model_id, seed index): record} of every ``results/heldout/*.json``."""
    out = {}
    for f in sorted((paths._r(root) / "heldout").glob("*.json")):
        rec = json.loads(f.read_text())
        for key in ("model_id", "bpb"):
            if key not in rec:
                raise ValueError(f"{f}: field {key!r} missing from held-out metrics file")
        out[(rec["model_id"], int(rec.get("seed_index", 0)))] = rec
    return out


def _label(model_id: str, runs: dict) -> str:
    from tide.vocab import COLUMN

    if model_id.startswith("teacher_"):
        return f"Teacher {model_id[-1]}"
    run = runs.get(model_id)
    if run is not None and run.objective in CONTROL_OBJECTIVES:
        return f"{run.pipeline}_control (CE only)"
    return COLUMN.get(model_id, model_id)  # a seed replica keeps its own id


def _fmt(point, lo=None, hi=None, digits=3) -> str:
    if point is None or (isinstance(point, float) and math.isnan(point)):
        return "—"
    s = f"{point:.{digits}f}"
    return s + (f" [{lo:.{digits}f}, {hi:.{digits}f}]" if lo is not None else "")


def _seed_stats(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    sd = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else 0.0
    return mean, sd


def _bpb(rec) -> float:
    return ratio(rec["bpb"]["bits"], rec["bpb"]["bytes"])


def summarize(records: dict, cfg) -> pd.DataFrame:
    """One row per model (seed 0), with intervals, Δ vs control and the spread over seeds."""
    runs = {r.model_id: r for r in cfg.runs()}
    controls = {r.pipeline: r.model_id for r in runs.values() if r.objective in CONTROL_OBJECTIVES}
    order = ["teacher_B", "teacher_A", "bd3lm"]
    for pipeline in ("B", "A"):
        mains = [r for r in cfg.runs(ablations=False) if r.pipeline == pipeline]
        order += [m.model_id for m in sorted(mains, key=lambda r: r.objective not in CONTROL_OBJECTIVES)]
        order += [r.model_id for r in runs.values() if r.pipeline == pipeline and r.is_ablation]
    order += sorted({m for m, _ in records} - set(order))
    rows = []
    for model_id in order:
        rec = records.get((model_id, 0))
        run = runs.get(model_id)
        row = {"model_id": model_id, "label": _label(model_id, runs),
               "pipeline": run.pipeline if run else (model_id[-1] if "teacher" in model_id else ""),
               "objective": run.objective if run else ("teacher" if "teacher" in model_id else "start"),
               "ablation": bool(run and run.is_ablation)}
        if rec is None:
            rows.append(row)
            continue
        b = rec["bpb"]
        row["n_examples"] = len(b["bits"])
        row["bpb"], row["bpb_lo"], row["bpb_hi"] = bootstrap_ratio(b["bits"], b["bytes"])
        seeds = sorted(s for m, s in records if m == model_id)
        row["seeds"] = len(seeds)
        row["bpb_seed_mean"], row["bpb_seed_sd"] = _seed_stats(
            [_bpb(records[(model_id, s)]) for s in seeds])
        ctrl = controls.get(row["pipeline"]) if run else None
        if ctrl and ctrl != model_id and (ctrl, 0) in records:
            c = records[(ctrl, 0)]["bpb"]
            row["d_control"], row["d_control_lo"], row["d_control_hi"] = bootstrap_ratio(
                b["bits"], b["bytes"], other=(c["bits"], c["bytes"]))
            paired = [_bpb(records[(model_id, s)]) - _bpb(records[(ctrl, s)])
                      for s in seeds if (ctrl, s) in records]
            row["d_control_seed_mean"], row["d_control_seed_sd"] = _seed_stats(paired)
        for key, unit in (("kl_B", "n"), ("kl_A", "n")):
            if key in rec:
                d = rec[key]
                row[key], row[f"{key}_lo"], row[f"{key}_hi"] = bootstrap_ratio(d["kl"], d[unit])
                row[f"{key}_seed_mean"], row[f"{key}_seed_sd"] = _seed_stats(
                    [ratio(records[(model_id, s)][key]["kl"], records[(model_id, s)][key]["n"])
                     for s in seeds])
        if "kl_B" in rec:
            row["student_ce_B"] = ratio(rec["kl_B"]["student_ce"], rec["kl_B"]["n"])
            row["teacher_ce_B"] = ratio(rec["kl_B"]["teacher_ce"], rec["kl_B"]["n"])
        rows.append(row)
    return pd.DataFrame(rows)


def _pm(mean, sd, n) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)) or not n or n < 2:
        return "—"
    return f"{mean:.3f} ± {sd:.3f} (n={int(n)})"


def display_table(df: pd.DataFrame) -> pd.DataFrame:
    """The human table: formatted cells, '—' where a figure does not apply or is missing."""
    g = lambda r, k: r.get(k) if k in r and not pd.isna(r.get(k)) else None  # noqa: E731
    out = []
    for _, r in df.iterrows():
        out.append({
            "Model": r["label"] + (" (ablation)" if r.get("ablation") else ""),
            "Objective": r["objective"],
            "Bits/byte [95% CI]": _fmt(g(r, "bpb"), g(r, "bpb_lo"), g(r, "bpb_hi")),
            "Δ vs control [95% CI]": _fmt(g(r, "d_control"), g(r, "d_control_lo"),
                                          g(r, "d_control_hi"), 4) if g(r, "d_control") is not None else "—",
            "Bits/byte over seeds": _pm(g(r, "bpb_seed_mean"), g(r, "bpb_seed_sd"), g(r, "seeds")),
            "Δ vs control over seeds": _pm(g(r, "d_control_seed_mean"),
                                           g(r, "d_control_seed_sd"), g(r, "seeds")),
            "KL to teacher B, nats/token [95% CI]": _fmt(g(r, "kl_B"), g(r, "kl_B_lo"), g(r, "kl_B_hi")),
            "KL to teacher A, nats/chunk [95% CI]": _fmt(g(r, "kl_A"), g(r, "kl_A_lo"), g(r, "kl_A_hi")),
        })
    return pd.DataFrame(out)


FOOTNOTE = ("Held-out examples of the tiny corpus (same examples and noise for every model). "
            "Bits/byte: negative-ELBO masked-token NLL per UTF-8 byte (lower is better); "
            "[95% CI]: percentile bootstrap over examples; Δ vs control: paired difference "
            "with the pipeline's teacher-free control (CE only, same steps, lr, data and noise); "
            "over seeds: mean ± sd over training seeds; KL: KL(teacher ‖ student) at T = 1 on "
            "held-out masked aligned tokens (B) / active chunks (A), each run against its own "
            "pipeline's teacher, the BD3LM start against both.")


def write_heldout_report(cfg, out_dir, root=None) -> pd.DataFrame:
    """Write heldout_table.{md,csv,html} and heldout.png into ``out_dir``."""
    from tide.io import atomic_write_text

    out_dir = Path(out_dir)
    df = summarize(load_heldout(root), cfg)
    shown = display_table(df)
    atomic_write_text(out_dir / "heldout_table.csv", df.to_csv(index=False))
    atomic_write_text(out_dir / "heldout_table.md",
                      shown.to_markdown(index=False) + "\n\n" + FOOTNOTE + "\n")
    atomic_write_text(out_dir / "heldout_table.html",
                      shown.to_html(index=False, border=0) + f"<p>{FOOTNOTE}</p>\n")
    heldout_figure(df, out_dir / "heldout.png")
    return df


def heldout_figure(df: pd.DataFrame, path) -> None:
    """Bits/byte and KL to each teacher per model, with 95 % intervals; controls dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tide.report.figures import _atomic_savefig

    panels = [("bpb", "held-out bits/byte"), ("kl_B", "KL to teacher B (nats/token)"),
              ("kl_A", "KL to teacher A (nats/chunk)")]
    d = df[df.get("bpb").notna()] if "bpb" in df else df.iloc[0:0]
    fig, axes = plt.subplots(1, 3, figsize=(14, 0.32 * max(len(d), 4) + 1.2), sharey=True)
    y = list(range(len(d)))[::-1]
    for ax, (key, title) in zip(axes, panels):
        if key in d:
            ok = d[key].notna()
            yy = [v for v, k in zip(y, ok) if k]
            sub = d[ok]
            colors = ["tab:green" if o == "teacher" else "tab:gray" if o in CONTROL_OBJECTIVES
                      else "tab:orange" if o == "start" else "tab:blue" for o in sub["objective"]]
            ax.errorbar(sub[key], yy, xerr=[sub[key] - sub[f"{key}_lo"], sub[f"{key}_hi"] - sub[key]],
                        fmt="none", ecolor="0.5", capsize=2)
            ax.scatter(sub[key], yy, c=colors, zorder=3, s=18)
            for _, r in sub[sub["objective"].isin(CONTROL_OBJECTIVES)].iterrows():
                ax.axvline(r[key], color="tab:gray", ls="--", lw=0.8)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(list(d["label"]), fontsize=8)
    fig.suptitle("Held-out: every student, the teacher-free controls (dashed) and the teachers "
                 "(95 % bootstrap intervals over examples)", fontsize=9)
    fig.tight_layout()
    _atomic_savefig(fig, Path(path), "png")
    plt.close(fig)
