"""A stand-in for the checkout, for tests that run the README's literal Snakemake commands.

Those commands resolve everything from the current directory (the Snakefile, its default
`config/tiny.yaml`, the `slurm` profile link) and write `results/` and `.snakemake/` there.
Run from the checkout itself they would see whatever `make demo` left in `results/` (a
complete tree: "Nothing to be done") and write into it. So they run in a directory that links
the workflow's sources from the checkout and has its own, empty `results/`.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# what the workflow reads from the repository root; results/, reports/ and .snakemake/ are not
WORKFLOW_SOURCES = ("Snakefile", "workflow", "config", "tide", "slurm")


def workflow_root(dest: Path, checkout: Path = REPO) -> Path:
    """``dest`` with links to ``checkout``'s workflow sources and none of its outputs."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_SOURCES:
        (dest / name).symlink_to(checkout / name)
    return dest
