"""Figures: the TIDAL λ(t, p) heatmap.

The colour values are computed by :func:`tide.distill.tidal.tidal_lambda`, the same function
that training uses. The figure therefore shows the schedule that was actually trained, not a
re-derivation of it. Drawing uses matplotlib's Agg canvas directly (no pyplot, no global
backend state).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

log = logging.getLogger(__name__)

X_LABEL = "t: mask ratio (fraction of tokens masked, 0–1)"
Y_LABEL = "p: training progress (global_step / max_steps, 0–1)"
CBAR_LABEL = "λ(t, p): teacher weight in the TIDAL target (dimensionless)"
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


def lambda_heatmap_figure(*, l_init: float, l_max: float, schedule: str = "cosine",
                          axis_mode: str = "both", empirical: pd.DataFrame | None = None,
                          n: int = 101) -> Figure:
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
    if emp is not None:
        axes[1].scatter(emp["t"], emp["p"], c=emp["lam"], cmap=CMAP, norm=norm, s=8,
                        edgecolors="none")
        axes[1].set_title(f"λ logged during training ({len(emp)} points)", fontsize=10)
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
    """Save ``fig`` to ``path`` through a temp file + rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".{fmt}")
    os.close(fd)
    try:
        fig.savefig(tmp, format=fmt, dpi=150)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def plot_lambda_heatmap(out_png: str | os.PathLike, *, l_init: float, l_max: float,
                        schedule: str = "cosine", axis_mode: str = "both",
                        empirical: pd.DataFrame | None = None) -> tuple[Path, Path]:
    """Draw the λ(t, p) heatmap and save it as PNG and PDF with the same stem.

    ``empirical`` is an optional DataFrame with the columns ``t, p, lam`` from a training log.
    When it is given, the logged points are drawn in a second panel, coloured on the same scale.
    Returns ``(png_path, pdf_path)``.
    """
    png = Path(out_png)
    if png.suffix.lower() != ".png":
        raise ValueError(f"plot_lambda_heatmap: expected an output path ending in .png, "
                         f"found {png}")
    pdf = png.with_suffix(".pdf")
    fig = lambda_heatmap_figure(l_init=l_init, l_max=l_max, schedule=schedule,
                                axis_mode=axis_mode, empirical=empirical)
    _atomic_savefig(fig, png, "png")
    _atomic_savefig(fig, pdf, "pdf")
    log.info("wrote λ(t,p) heatmap to %s and %s", png, pdf)
    return png, pdf
