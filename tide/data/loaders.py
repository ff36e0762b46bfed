"""Loaders for the paper's real data (spec/method.md §1.5, spec/models.md).

Both take a hub id or a local path and never download anything themselves beyond what
``datasets.load_dataset`` does for a hub id (on these machines only local paths work; the
tests exercise local fixtures saved in the exact real schemas).

Raw SFT mixture (``load_sft_mixture``), assumptions on the real schemas:

* ``allenai/tulu-3-sft-mixture``: columns ``id``, ``messages``, ``source``; roles
  system/user/assistant.  ``HuggingFaceTB/smoltalk``: ``messages`` (+ ``source``); needs a
  config name (``"all"`` or a subset), given as the source's ``name``.
* ``OpenCoder-LLM/opc-sft-stage1`` / ``-stage2``: ``instruction`` / ``output`` columns
  (stage2 also ``code``, ``entry_point``, ``testcase``), one config per subset
  (stage1 ``filtered_infinity_instruct``, ``largescale_diverse_instruct``,
  ``realuser_instruct``; stage2 ``educational_instruct``, ``evol_instruct``,
  ``mceval_instruct``, ``package_instruct``).  Converted to a user/assistant pair, as
  dllm's ``load_dataset_opc_sft`` does.
* ``filter: "python"``: a language column (``lang``/``language``/``program_lang``) equal to
  python when there is one; otherwise dllm's rule, ``"python" in`` the assistant reply.

Authors' pre-tokenized data (``load_pretokenized``): ``TIDE-dllm/distill_llada2_sft`` (A)
and ``distill_wedlm_sft`` (B), columns as written by their ``preprocess_distill*_data.py``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tide.data.build import PIPELINE_COLUMNS, add_chunks, cap_teacher_b

log = logging.getLogger(__name__)

LANG_COLUMNS = ("lang", "language", "program_lang")
FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".arrow": "arrow",
                 ".csv": "csv"}
COLUMN_MEANING = {
    "input_ids": "student token ids", "labels": "student labels (prompt = -100)",
    "teacher_input_ids": "teacher token ids", "teacher_labels": "teacher labels",
    "ranges": "per-message [t_start, t_end, s_start, s_end]",
    "align_student": "aligned student positions", "align_teacher": "aligned teacher positions",
    "prompt_len": "student prompt length",
}


def _is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and any((path / f).exists() for f in
                                 ("dataset_info.json", "state.json", "dataset_dict.json"))


def _load_any(path: str, name: str | None, split: str, revision: str | None = None):
    """A ``datasets.Dataset`` from a saved dataset, a data file, a local dir or a hub id."""
    import datasets

    p = Path(path)
    if _is_saved_dataset(p):
        ds = datasets.load_from_disk(str(p))
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise ValueError(f"{path}: expected split {split!r}, found splits {list(ds)}")
            ds = ds[split]
        return ds
    if p.is_file():
        builder = FILE_BUILDERS.get("".join(p.suffixes[-1:]))
        if builder is None:
            raise ValueError(f"{path}: expected a data file ending in {sorted(FILE_BUILDERS)}, "
                             f"found suffix {p.suffix!r}")
        return datasets.load_dataset(builder, data_files={split: str(p)}, split=split)
    from tide.hubcache import is_hub_id, load_hub_dataset

    if is_hub_id(path):  # the local hub cache at the pinned revision (tide/hubcache.py)
        return load_hub_dataset(path, name, split, revision)
    return datasets.load_dataset(path, name, split=split)


def _python_only(ds):
    lang_col = next((c for c in LANG_COLUMNS if c in ds.column_names), None)
    if lang_col is not None:
        return ds.filter(lambda r: str(r[lang_col]).lower() == "python")
    return ds.filter(lambda r: "python" in r["messages"][-1]["content"])


def _to_messages(ds, where: str):
    """Keep only a ``messages`` column, converting instruction/output rows."""
    cols = ds.column_names
    if "messages" in cols:
        return ds
    if "instruction" in cols and "output" in cols:
        return ds.map(lambda r: {"messages": [{"role": "user", "content": r["instruction"]},
                                              {"role": "assistant", "content": r["output"]}]})
    raise ValueError(f"{where}: expected a 'messages' column (tulu/smoltalk) or "
                     f"'instruction' + 'output' columns (opc-sft), found {cols}")


def load_sft_source(source: dict[str, Any]):
    """One mixture source -> ``datasets.Dataset`` with a ``messages`` column only.

    ``source`` keys: ``path`` (hub id, local dir, or data file), optional ``name``
    (config), ``split`` (default ``"train"``), ``filter`` (``None`` or ``"python"``),
    ``limit`` (keep the first N rows).
    """
    if "path" not in source:
        raise ValueError(f"SFT source {source}: expected a 'path' key (hub id or local path)")
    unknown = set(source) - {"path", "name", "split", "filter", "limit"}
    if unknown:
        raise ValueError(f"SFT source {source['path']}: unknown keys {sorted(unknown)}; "
                         f"expected path, name, split, filter, limit")
    where = f"SFT source {source['path']}" + (f" ({source['name']})" if source.get("name") else "")
    ds = _to_messages(_load_any(source["path"], source.get("name"), source.get("split", "train")),
                      where)
    flt = source.get("filter")
    if flt == "python":
        ds = _python_only(ds)
    elif flt is not None:
        raise ValueError(f"{where}: field 'filter': expected None or 'python', found {flt!r}")
    if source.get("limit") is not None:
        ds = ds.select(range(min(int(source["limit"]), len(ds))))
    ds = ds.select_columns(["messages"])
    log.info("%s: %d conversations", where, len(ds))
    return ds


def load_sft_mixture(sources: list[dict[str, Any]]):
    """The raw SFT mixture: every source as ``messages`` rows, concatenated in order."""
    import datasets

    if not sources:
        raise ValueError("SFT mixture: expected at least one source, found none")
    parts = [load_sft_source(s) for s in sources]
    # cast every part to the first one's features (role/content strings) before concatenating
    parts = [parts[0]] + [p.cast(parts[0].features) for p in parts[1:]]
    return datasets.concatenate_datasets(parts)


def validate_columns(ds, pipeline: str, where: str) -> None:
    """Raise a ValueError naming the dataset and each missing column of ``pipeline``."""
    if pipeline not in PIPELINE_COLUMNS:
        raise ValueError(f"{where}: pipeline: expected 'A' or 'B', found {pipeline!r}")
    required = PIPELINE_COLUMNS[pipeline]
    missing = [c for c in required if c not in ds.column_names]
    if missing:
        what = "; ".join(f"'{c}' ({COLUMN_MEANING[c]})" for c in missing)
        raise ValueError(f"{where}: pipeline {pipeline} dataset is missing column(s) {what}; "
                         f"expected columns {list(required)}, found {ds.column_names}")


def load_pretokenized(path_or_id: str, pipeline: str, split: str = "train",
                      student_tok=None, teacher_tok=None,
                      teacher_max_length: int | None = None, revision: str | None = None,
                      limit: int | None = None):
    """The authors' pre-tokenized dataset for ``pipeline``, validated, ready to train on.

    A local directory is read with ``datasets.load_from_disk``, anything else with
    ``datasets.load_dataset``.  Pipeline A gets the stored ``chunks`` (computed with
    ``align_example``, needs both tokenizers) and the teacher cut; pipeline B the teacher
    cap.  Both steps are skipped/idempotent on our own already-built datasets.
    """
    where = f"pre-tokenized dataset {path_or_id}"
    ds = _load_any(path_or_id, None, split, revision)
    if limit is not None:  # the first rows only (preflight, rehearsal)
        ds = ds.select(range(min(int(limit), len(ds))))
    validate_columns(ds, pipeline, where)
    if pipeline == "B":
        return ds.map(lambda r: cap_teacher_b(r, teacher_max_length)) \
            if teacher_max_length is not None else ds
    if "chunks" in ds.column_names:
        return ds
    if student_tok is None or teacher_tok is None:
        raise ValueError(f"{where}: pipeline A needs student_tok and teacher_tok to compute "
                         f"'chunks' (column absent), found "
                         f"student_tok={student_tok!r}, teacher_tok={teacher_tok!r}")
    from tide.data.build import dataset_features

    feats = dataset_features("A")
    extra = {c: f for c, f in ds.features.items() if c not in feats}
    return ds.map(lambda r: add_chunks(r, student_tok, teacher_tok, teacher_max_length),
                  features=type(feats)({**feats, **extra}), desc="chunk alignment")
