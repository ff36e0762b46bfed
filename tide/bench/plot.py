"""Log-log plot of the scaling table (matplotlib is imported here only, lazily)."""

from __future__ import annotations

from pathlib import Path


def plot_scaling(doc: dict, path: str | Path) -> Path:
    """One panel per axis: seconds per call against the varied value, one line per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes_names = list(dict.fromkeys(r["axis"] for r in doc["rows"]))
    fig, axes = plt.subplots(1, len(axes_names), figsize=(4.2 * len(axes_names), 3.6))
    for ax, name in zip(list(axes) if len(axes_names) > 1 else [axes], axes_names):
        for variant in dict.fromkeys(r["variant"] for r in doc["rows"] if r["axis"] == name):
            pts = sorted((r["value"], r["seconds"]) for r in doc["rows"]
                         if r["axis"] == name and r["variant"] == variant)
            ax.loglog([p[0] for p in pts], [p[1] for p in pts], "o-", label=variant, base=2)
        ax.set_xlabel(name)
        ax.set_ylabel("seconds per call")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"scaling — {doc['device']}", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
