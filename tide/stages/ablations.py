"""The ablation rows stage (workflow/rules/ablations.smk)."""

from __future__ import annotations

import json

from tide.config import Config
from tide.io import read_json


def ablation_rows(cfg: Config, spec_file: str, score_files: list[str], out: str) -> None:
    """One ablation's rows: its scores per benchmark and the fields that differ from its base."""
    import pandas as pd

    from tide.io import atomic_write_text

    spec = read_json(spec_file)["spec"]
    base = cfg.run(spec["pipeline"], spec["base"]).as_dict()
    differs = {k: v for k, v in spec.items() if base.get(k) != v and k not in ("name", "base", "axis")}
    rows = []
    for path in score_files:
        s = read_json(path)
        rows.append({"model_id": s["model_id"], "pipeline": spec["pipeline"], "base": spec["base"],
                     "axis": spec.get("axis"), "benchmark": s["benchmark"], "value": s["value"],
                     "differs": json.dumps(differs, sort_keys=True)})
    atomic_write_text(out, pd.DataFrame(rows).to_csv(index=False))
