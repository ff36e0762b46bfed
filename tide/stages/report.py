"""The report stage (workflow/rules/report.smk)."""

from __future__ import annotations

from tide.config import Config


def report(cfg: Config, scores: str | None, out: str, root=None) -> None:
    """Every table and figure of ``reports/`` from result files only (no GPU, no weights)."""
    from tide.report.build import build_report

    build_report(cfg, out, root=root, scores=scores)
