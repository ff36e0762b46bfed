"""Memory and throughput per model: our benchmark results beside the paper's reported figures.

Our numbers come from ``results/bench/*.json`` (``tide.bench``), one file per measurement::

    {"measurement": str, "device": str, "command": str, "environment": {...},
     "settings": {...}, "units": {...},
     "rows": [{"model": "ar" | "student" | "teacher_a" | "teacher_b", "variant": str,
               "params_b": float, "peak_mem_gb": float, "tokens_per_s": float, ...}]}

The paper's numbers are ``reference/reference_efficiency.csv`` (one H100, 256 generated
tokens, docs/method.md §6). A model without a measurement is kept as a row marked "not measured";
a missing or empty ``results/bench/`` is not an error.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import pandas as pd

from tide.report.paper import load_reference_efficiency

log = logging.getLogger(__name__)

# Our model keys, in the figure's order, with their display names.
MODELS: dict[str, str] = {
    "ar": "AR baseline (Qwen3-0.6B shape)",
    "student": "BD3LM student (TIDE)",
    "teacher_a": "Teacher A (LLaDA2.0-mini shape)",
    "teacher_b": "Teacher B (WeDLM-8B shape)",
}
# The paper's efficiency rows that stand beside each of our models (reference_efficiency.csv).
PAPER_ROWS: dict[str, tuple[str, ...]] = {
    "ar": ("Qwen3-0.6B (AR baseline)",),
    "student": ("TIDE distilled (best)", "BD3LM-0.6B no distillation"),
    "teacher_a": ("LLaDA2.0-mini (teacher, 16B MoE)",),
    "teacher_b": ("WeDLM-8B (teacher, dense)",),
}
PAPER_SETTING = "paper: 1× H100, 256 new tokens"
# The bench measurements whose rows are generation memory/throughput per model (tide/bench:
# ``generation``); the others (sampler variants, distillation steps, ...) measure other things.
MEASUREMENTS = ("generation",)
METRICS: dict[str, str] = {"params_b": "parameters (billions)",
                           "peak_mem_gb": "peak memory (GB)",
                           "tokens_per_s": "throughput (tokens/s)"}
NOT_MEASURED = "not measured"
COLUMNS = ("source", "model", "label", "device", "measurement", "setting", "variant", "model_shape",
           "file", *METRICS)


def _number(value) -> float:
    """A finite positive float, else NaN (a zero peak memory or throughput is no measurement)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) and x > 0 else math.nan


def _setting(settings) -> str:
    """A short summary of a bench file's settings: new tokens, batch, dtype."""
    if not isinstance(settings, dict):
        return ""
    parts = []
    if settings.get("new_tokens") is not None:
        parts.append(f"{settings['new_tokens']} new tokens")
    if settings.get("batch") is not None:
        parts.append(f"batch {settings['batch']}")
    if settings.get("dtype"):
        parts.append(str(settings["dtype"]).replace("torch.", ""))
    return ", ".join(parts)


def load_bench(files: list[str | os.PathLike],
               measurements: tuple[str, ...] = MEASUREMENTS) -> pd.DataFrame:
    """Our measurements, one row per (file, row), with the columns :data:`COLUMNS`.

    Only files whose ``measurement`` is in ``measurements`` are used (the others measure
    something else). A file that is not the documented schema raises, naming the file and the
    field. Rows whose ``model`` is not one of :data:`MODELS` are skipped with a warning.
    """
    out = []
    for f in files:
        path = Path(f)
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"bench result {path}: expected JSON, found invalid text "
                             f"({exc.msg} at line {exc.lineno})") from None
        measurement = str(doc.get("measurement") or path.stem) if isinstance(doc, dict) \
            else None
        if measurement is not None and measurement not in measurements:
            log.info("bench result %s: measurement %r is not memory/throughput per model "
                     "(%s); not used", path, measurement, list(measurements))
            continue
        rows = doc.get("rows") if isinstance(doc, dict) else None
        if not isinstance(rows, list):
            raise ValueError(f"bench result {path}: field 'rows' expected a list of "
                             f"measurements, found {type(rows).__name__}")
        for i, row in enumerate(rows):
            model = row.get("model") if isinstance(row, dict) else None
            if model not in MODELS:
                log.warning("bench result %s: rows[%d].model expected one of %s, found %r; "
                            "row skipped", path, i, list(MODELS), model)
                continue
            rec = {"source": "ours", "model": model,
                   "device": str(doc.get("device") or "unknown device"),
                   "measurement": measurement, "setting": _setting(doc.get("settings")),
                   "variant": str(row.get("variant") or ""),
                   "model_shape": str(row.get("shape") or ""), "file": str(path)}
            rec.update({m: _number(row.get(m)) for m in METRICS})
            rec["label"] = f"ours: {rec['device']}" + (f"; {rec['setting']}"
                                                        if rec["setting"] else "")
            out.append(rec)
    return pd.DataFrame(out, columns=list(COLUMNS))


def paper_rows() -> pd.DataFrame:
    """The paper's efficiency figures mapped onto our model keys, columns :data:`COLUMNS`."""
    ref = load_reference_efficiency().set_index("model")
    out = []
    for model, names in PAPER_ROWS.items():
        for name in names:
            r = ref.loc[name]
            out.append({"source": "paper", "model": model, "label": f"paper: {name}",
                        "device": "H100", "measurement": "paper",
                        "setting": PAPER_SETTING.split(": ", 1)[1], "variant": name,
                        "model_shape": name, "file": "",
                        **{m: _number(r[m]) for m in METRICS}})
    return pd.DataFrame(out, columns=list(COLUMNS))


def efficiency_rows(bench_files: list[str | os.PathLike]) -> pd.DataFrame:
    """Paper and our rows together, model by model; a model we did not measure gets one
    "not measured" row (all metrics NaN)."""
    ours = load_bench(bench_files)
    paper = paper_rows()
    parts = []
    for model in MODELS:
        parts.append(paper[paper.model == model])
        mine = ours[ours.model == model]
        if mine.empty:
            mine = pd.DataFrame([{"source": "ours", "model": model,
                                  "label": f"ours: {NOT_MEASURED}", "device": "",
                                  "measurement": "", "setting": "", "variant": NOT_MEASURED,
                                  "model_shape": "", "file": "",
                                  **{m: math.nan for m in METRICS}}])
        parts.append(mine)
    return pd.concat(parts, ignore_index=True)[list(COLUMNS)]


def _fmt(x: float) -> str:
    """Three significant digits: tiny CPU models and 16B teachers share the columns."""
    return "—" if pd.isna(x) else f"{x:.3g}"


def efficiency_table(rows: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """(header, body) of the efficiency table, ready for markdown/HTML rendering."""
    header = ["Model", "Source", "Device / setting", "Variant", "Shape measured",
              "Params (B)", "Peak memory (GB)", "Throughput (tokens/s)"]
    body = []
    for _, r in rows.iterrows():
        setting = "; ".join(x for x in (r.device if r.source == "ours" else "1× H100",
                                         r.setting if r.source == "ours" else "256 new tokens")
                            if x)
        shape = r.model_shape if r.source == "ours" else "the model itself"
        body.append([MODELS[r.model], r.source, setting, r.variant, shape, _fmt(r.params_b),
                     _fmt(r.peak_mem_gb), _fmt(r.tokens_per_s)])
    return header, body
