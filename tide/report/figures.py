"""Figures: the TIDAL λ(t, p) heatmap, training curves per run, memory/throughput bars.

The heatmap's colour values are computed by :func:`tide.distill.tidal.tidal_lambda`, the same
function that training uses. The figure therefore shows the schedule that was actually
trained, not a re-derivation of it, beside the (t, p, λ) points logged during training.
Drawing uses matplotlib's Agg canvas directly (no pyplot, no global backend state). Every
figure is saved as PNG and PDF with the same stem.
"""

from __future__ import annotations

import logging
import os
import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from tide.io import atomic_file

log = logging.getLogger(__name__)

X_LABEL = "t: mask ratio (fraction of tokens masked, 0–1)"
Y_LABEL = "p: training progress (global_step / max_steps, 0–1)"
CBAR_LABEL = "λ(t, p): teacher weight in the TIDAL target (0–1)"
EMPIRICAL_COLUMNS = ("t", "p", "lam")
CMAP = "viridis"


def lambda_grid(*, l_init: float, l_max: float, schedule: str = "cosine",
                axis_mode: str = "both", t: Sequence[float] | np.ndarray | None = None,
                p: Sequence[float] | np.ndarray | None = None,
                n: int = 101) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate the training λ(t, p) on a grid by calling ``tidal_lambda`` once per p.

    ``t`` and ``p`` default to ``n`` evenly spaced points on [0, 1]. Returns ``(t, p, lam)``,
    where ``lam[i, j] = tidal_lambda(t[j], p[i])`` and ``lam`` has shape ``(len(p), len(t))``.
    """
    import torch

    from tide.distill.tidal import tidal_lambda

    t_arr = np.linspace(0.0, 1.0, n) if t is None else np.asarray(t, dtype=np.float64)
    p_arr = np.linspace(0.0, 1.0, n) if p is None else np.asarray(p, dtype=np.float64)
    if t_arr.ndim != 1 or p_arr.ndim != 1:
        raise ValueError(f"lambda_grid: expected 1-D t and p, found shapes {t_arr.shape} "
                         f"and {p_arr.shape}")
    t_tensor = torch.as_tensor(t_arr, dtype=torch.float64)
    rows = []
    for p_i in p_arr:
        lam = tidal_lambda(t_tensor, float(p_i), l_init=l_init, l_max=l_max,
                           schedule=schedule, axis_mode=axis_mode)
        lam = torch.as_tensor(lam, dtype=torch.float64)
        rows.append(torch.broadcast_to(lam, t_tensor.shape).detach().cpu().numpy())
    return t_arr, p_arr, np.stack(rows).astype(np.float64)


def _check_empirical(empirical: pd.DataFrame) -> pd.DataFrame:
    """Validate a logged (t, p, lam) table and drop rows that have NaN values."""
    missing = [c for c in EMPIRICAL_COLUMNS if c not in empirical.columns]
    if missing:
        raise ValueError(f"empirical λ log: missing column(s) {missing}; expected "
                         f"{list(EMPIRICAL_COLUMNS)}, found {list(empirical.columns)}")
    emp = empirical[list(EMPIRICAL_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    n_bad = int(emp.isna().any(axis=1).sum())
    if n_bad:
        log.warning("empirical λ log: dropping %d of %d rows with non-numeric or NaN values",
                    n_bad, len(emp))
    return emp.dropna()


def empirical_gap(empirical: pd.DataFrame, *, l_init: float, l_max: float,
                  schedule: str = "cosine", axis_mode: str = "both") -> float:
    """max |λ_logged − tidal_lambda(t, p)| over the logged points (0 when none).

    Near 0 shows that the run trained with the plotted surface; the logged λ is fp32, so
    values around 1e-8 are expected.
    """
    import torch

    from tide.distill.tidal import tidal_lambda

    if empirical.empty:
        return 0.0
    gaps = []
    for p_i, grp in empirical.groupby("p"):
        lam = tidal_lambda(torch.tensor(grp["t"].to_numpy(), dtype=torch.float64),
                           float(p_i), l_init=l_init, l_max=l_max, schedule=schedule,
                           axis_mode=axis_mode)
        gaps.append(np.abs(np.asarray(lam, dtype=np.float64) - grp["lam"].to_numpy()).max())
    return float(max(gaps))


def lambda_heatmap_figure(*, l_init: float, l_max: float, schedule: str = "cosine",
                          axis_mode: str = "both", empirical: pd.DataFrame | None = None,
                          empirical_label: str = "", n: int = 101) -> Figure:
    """Build the λ(t, p) figure: the heatmap, plus a panel of logged points if ``empirical``.

    The heatmap is the ``QuadMesh`` ``fig.axes[0].collections[0]``. Its array is ``lam`` from
    :func:`lambda_grid`, with shape ``(len(p), len(t))``.
    """
    t, p, lam = lambda_grid(l_init=l_init, l_max=l_max, schedule=schedule,
                            axis_mode=axis_mode, n=n)
    emp = None if empirical is None else _check_empirical(empirical)
    vmax = max(float(np.nanmax(lam)), float(emp["lam"].max()) if emp is not None and len(emp)
               else 0.0, 1e-12)
    norm = Normalize(vmin=0.0, vmax=vmax)
    ncols = 1 if emp is None else 2
    fig = Figure(figsize=(5.6 * ncols + 1.0, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    mesh = axes[0].pcolormesh(t, p, lam, shading="nearest", cmap=CMAP, norm=norm)
    levels = [v for v in np.arange(0.1, vmax, 0.1) if lam.min() < v < lam.max()]
    if levels:
        cs = axes[0].contour(t, p, lam, levels=levels, colors="white", linewidths=0.6)
        axes[0].clabel(cs, fmt="%.1f", fontsize=7)
    axes[0].set_title("λ(t, p) from tidal_lambda (training code)", fontsize=10)
    if emp is not None and emp.empty:
        axes[1].text(0.5, 0.5,
                     "not logged yet:\nno run with these λ settings\nhas a metrics.jsonl",
                     ha="center", va="center", color="#b00", fontsize=10,
                     transform=axes[1].transAxes)
        axes[1].set_title("λ logged during training: no points", fontsize=9)
    elif emp is not None:
        axes[1].scatter(emp["t"], emp["p"], c=emp["lam"], cmap=CMAP, norm=norm, s=8,
                        edgecolors="none")
        gap = empirical_gap(emp, l_init=l_init, l_max=l_max, schedule=schedule,
                            axis_mode=axis_mode)
        source = ("\nruns: " + textwrap.shorten(empirical_label, 70, placeholder=" …")
                  if empirical_label else "")
        axes[1].set_title(f"λ logged during training: {len(emp)} (t, p, λ) points{source}\n"
                          f"max |logged − tidal_lambda(t, p)| = {gap:.1e}", fontsize=9)
    for ax in axes:
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel(X_LABEL)
        ax.set_ylabel(Y_LABEL)
    fig.colorbar(mesh, ax=list(axes), label=CBAR_LABEL)
    fig.suptitle(f"TIDAL λ(t, p): {schedule} schedule, λ_train {l_init:g} → {l_max:g}, "
                 f"axis_mode = {axis_mode}", fontsize=11)
    return fig


def _atomic_savefig(fig: Figure, path: Path, fmt: str) -> None:
    """Save ``fig`` to ``path`` through a temp file + rename (tide.io.atomic_file)."""
    with atomic_file(path, suffix=f".{fmt}") as tmp:
        fig.savefig(tmp, format=fmt, dpi=150)


def plot_lambda_heatmap(out_png: str | os.PathLike, *, l_init: float, l_max: float,
                        schedule: str = "cosine", axis_mode: str = "both",
                        empirical: pd.DataFrame | None = None,
                        empirical_label: str = "") -> tuple[Path, Path]:
    """Draw the λ(t, p) heatmap and save it as PNG and PDF with the same stem.

    ``empirical`` is an optional DataFrame with the columns ``t, p, lam`` from a training log.
    When it is given, the logged points are drawn in a second panel, coloured on the same scale
    (an empty one gives that panel marked "not logged yet").
    Returns ``(png_path, pdf_path)``.
    """
    png = Path(out_png)
    if png.suffix.lower() != ".png":
        raise ValueError(f"plot_lambda_heatmap: expected an output path ending in .png, "
                         f"found {png}")
    fig = lambda_heatmap_figure(l_init=l_init, l_max=l_max, schedule=schedule,
                                axis_mode=axis_mode, empirical=empirical,
                                empirical_label=empirical_label)
    return save_figure(fig, png)


def save_figure(fig: Figure, out_png: str | os.PathLike) -> tuple[Path, Path]:
    """Save ``fig`` as ``out_png`` and as the PDF with the same stem, atomically."""
    png = Path(out_png)
    if png.suffix.lower() != ".png":
        raise ValueError(f"save_figure: expected an output path ending in .png, found {png}")
    pdf = png.with_suffix(".pdf")
    _atomic_savefig(fig, png, "png")
    _atomic_savefig(fig, pdf, "pdf")
    log.info("wrote %s and %s", png, pdf)
    return png, pdf


# --------------------------------------------------------------------------- training curves

CURVE_COLORS = {"loss": "#222222", "ce": "#1f77b4", "distill": "#d62728"}
EXTRA_COLORS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def _smooth(y: pd.Series) -> pd.Series:
    """Centred rolling mean over ~5 % of the steps (at least 1): the trend through the noise."""
    window = max(1, len(y) // 20)
    return y.rolling(window, center=True, min_periods=1).mean()


def training_curves_figure(runs: list, *, title: str, ncols: int = 3) -> Figure:
    """One panel per run: every logged loss component against the optimizer step.

    ``runs`` is a list of ``(label, RunLog | None)`` (``tide.report.runs``); a run that has no
    log yet gets a panel that says so. Raw values are drawn thin and faint, the rolling mean
    on top.
    """
    n = max(1, len(runs))
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig = Figure(figsize=(4.6 * ncols, 3.3 * nrows + 0.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    handles = {}
    for ax, (label, run) in zip(axes, runs):
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss (nats, per unit)")
        ax.grid(alpha=0.3)
        if run is None or run.metrics.empty:
            ax.text(0.5, 0.5, "not run yet:\nno metrics.jsonl", ha="center", va="center",
                    transform=ax.transAxes, color="#b00", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        extra = iter(EXTRA_COLORS)
        for comp in run.components:
            data = run.metrics[["step", comp]].dropna()
            color = CURVE_COLORS.get(comp) or next(extra, "#7f7f7f")
            ax.plot(data["step"], data[comp], color=color, alpha=0.25, linewidth=0.8)
            (line,) = ax.plot(data["step"], _smooth(data[comp]), color=color, linewidth=1.6)
            handles.setdefault(comp, line)
    for ax in axes[len(runs):]:
        ax.set_visible(False)
    from tide.report.runs import COMPONENT_LABELS

    if handles:
        fig.legend(list(handles.values()),
                   [COMPONENT_LABELS.get(c, c) for c in handles],
                   loc="outside lower center", ncols=len(handles), fontsize=9)
    fig.suptitle(title + "\n(thin: every step; thick: rolling mean over 5 % of the steps)",
                 fontsize=11)
    return fig


# --------------------------------------------------------------------------- efficiency

PAPER_COLOR = "#bdbdbd"
OURS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf")


def efficiency_figure(rows: pd.DataFrame) -> Figure:
    """Peak memory and throughput per model: the paper's bars (grey, hatched) beside ours.

    ``rows`` is ``tide.report.efficiency.efficiency_rows``. Values span CPU-tiny to H100-full
    sizes, so both axes are logarithmic; every bar carries its value, and a model we did not
    measure carries the words "not measured" instead of a bar.
    """
    from tide.report.efficiency import METRICS, MODELS, NOT_MEASURED, PAPER_ROWS, PAPER_SETTING

    fig = Figure(figsize=(13.0, 6.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    ours_labels = [lab for lab in dict.fromkeys(rows.loc[rows.source == "ours", "label"])
                   if NOT_MEASURED not in lab]
    colors = {lab: OURS_COLORS[i % len(OURS_COLORS)] for i, lab in enumerate(ours_labels)}
    handles = {}
    for ax, metric in zip(axes, ("peak_mem_gb", "tokens_per_s")):
        group_pos, group_names, bar_pos, bar_names = [], [], [], []
        x = 0.0
        for model, display in MODELS.items():
            start = x
            for _, r in rows[rows.model == model].iterrows():
                value = r[metric]
                if r.source == "paper":
                    bar = ax.bar(x, value, width=0.8, color=PAPER_COLOR, hatch="//",
                                 edgecolor="#555555")
                    handles.setdefault(f"{PAPER_SETTING} (reported)", bar)
                    ax.text(x, value, f"{value:g}", ha="center", va="bottom", fontsize=7)
                    name = "paper" if len(PAPER_ROWS[model]) == 1 else \
                        "paper: " + r.variant.split(" (")[0].split("-0.6B")[0].replace(
                            " distilled", "")
                elif pd.isna(value):
                    ax.text(x, 0.03, NOT_MEASURED, ha="center", va="bottom", rotation=90,
                            fontsize=8, color="#b00", transform=ax.get_xaxis_transform())
                    name = "ours"
                else:
                    bar = ax.bar(x, value, width=0.8, color=colors[r.label])
                    handles.setdefault(r.label, bar)
                    ax.text(x, value, f"{value:.3g}", ha="center", va="bottom", fontsize=7)
                    several = ((rows.model == model) & (rows.source == "ours")).sum() > 1
                    name = ("ours: " + textwrap.shorten(r.variant, 22, placeholder="…")
                            if several and r.variant else "ours")
                bar_pos.append(x)
                bar_names.append(name)
                x += 1.0
            group_pos.append((start + x - 1.0) / 2)
            group_names.append(display.replace(" (", "\n("))
            x += 0.8
        ax.set_xticks(bar_pos, bar_names, rotation=90, fontsize=7)
        groups = ax.secondary_xaxis("bottom")
        groups.set_xticks(group_pos, group_names, fontsize=8)
        groups.tick_params(length=0, pad=4.2 * max(len(n) for n in bar_names) + 10)
        ax.set_yscale("log")
        # plain numbers at 1-2-5 steps: "2" reads better than "2×10⁰" on a narrow range
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel(METRICS[metric] + ", log scale")
        ax.grid(axis="y", alpha=0.3, which="both")
        ax.set_title({"peak_mem_gb": "Peak memory during generation (lower is better)",
                      "tokens_per_s": "Decoding throughput (higher is better)"}[metric],
                     fontsize=10)
        ax.margins(y=0.12)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center",
               ncols=min(3, max(1, len(handles))), fontsize=8)
    fig.suptitle("Memory and throughput per model: the paper's reported figures (grey) "
                 "beside ours (colour)", fontsize=11)
    return fig
