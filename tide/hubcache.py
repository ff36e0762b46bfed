"""Hub ids → local files, at pinned revisions, the same way on a laptop and on a cluster.

Models resolve through ``from_pretrained(id, revision=sha)`` from a Hugging Face cache in
hub layout (``$HF_HOME/hub/models--org--name/snapshots/<sha>/``, ``refs/main``); with
``HF_HUB_OFFLINE=1`` nothing is contacted. Datasets do not: ``datasets.load_dataset`` run
offline never reads a hub-layout snapshot (datasets 5.2), which is exactly what a compute
node without internet hits. So a dataset id is resolved here, by
:func:`dataset_data_files`: ``snapshot_download(repo_type="dataset", revision=...,
local_files_only=True)`` gives the snapshot directory, and the ``configs:`` block of its
dataset card (``README.md``, the hub's own convention) names each config's data files per
split; the caller loads them with the ``parquet``/``json``/``arrow`` builder
(``data_files``). A repository that only has a loading script stops with an error
(datasets ≥ 4 refuses scripts).

Revisions come from the config's ``revisions:`` mapping (``{hub id: commit sha | null}``);
``null`` means unpinned (the hub's ``main``), which a run allows but records. Every load
goes through :func:`revision_of`, and :func:`resolved_commit` reads the commit actually
used from the snapshot path, so each result records it.

Rehearsal stand-ins (``tide rehearsal-hub``) carry a marker: the config field
``tide_rehearsal_standin: true`` (models) or a ``TIDE_REHEARSAL_STANDIN`` file (datasets).
:func:`refuse_standin` stops a real run that finds one unless ``TIDE_REHEARSAL=1`` is set
(``make rehearsal`` sets it), so random weights never end up in a reported number.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
from pathlib import Path

log = logging.getLogger(__name__)

STANDIN_FIELD = "tide_rehearsal_standin"
STANDIN_FILE = "TIDE_REHEARSAL_STANDIN"
REHEARSAL_ENV = "TIDE_REHEARSAL"
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
FILE_BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".arrow": "arrow",
                 ".csv": "csv"}


def is_hub_id(path_or_id: str) -> bool:
    """A hub id (``org/name``) rather than an existing local path."""
    return (isinstance(path_or_id, str) and not Path(path_or_id).exists()
            and re.fullmatch(r"[\w.-]+/[\w.-]+", path_or_id) is not None)


def revision_of(cfg, hub_id: str) -> str | None:
    """The pinned commit of ``hub_id`` in the config's ``revisions:`` (None: unpinned/local)."""
    if not is_hub_id(hub_id):
        return None
    # a Config, or a bare {"revisions": ...} (what callers that hold no Config pass)
    raw = cfg.raw if hasattr(cfg, "raw") else cfg
    rev = (raw.get("revisions") or {}).get(hub_id)
    if rev is not None and not SHA_RE.match(str(rev)):
        raise ValueError(f"{getattr(cfg, 'source', 'config')}: field revisions.{hub_id}: "
                         f"expected a 40-hex commit sha or null, found {rev!r}")
    return rev


def resolved_commit(local_dir: str | os.PathLike) -> str | None:
    """The commit sha of a hub-cache snapshot directory (``.../snapshots/<sha>/...``)."""
    parts = Path(local_dir).resolve().parts
    if "snapshots" in parts:
        i = parts.index("snapshots")
        if i + 1 < len(parts) and SHA_RE.match(parts[i + 1]):
            return parts[i + 1]
    return None


def snapshot(hub_id: str, revision: str | None = None, *, repo_type: str = "model") -> Path:
    """The local snapshot directory of ``hub_id`` at ``revision`` (cache only, no network)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(hub_id, repo_type=repo_type, revision=revision,
                                      local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError) as err:
        from huggingface_hub.constants import HF_HUB_CACHE

        raise FileNotFoundError(
            f"{repo_type} {hub_id} at revision {revision or 'main'}: not in the local hub cache "
            f"{HF_HUB_CACHE} (HF_HOME={os.environ.get('HF_HOME', '~/.cache/huggingface')}); "
            f"run `tide prefetch` on a machine with internet first") from err


def local_dir(path_or_id: str, revision: str | None = None, *, repo_type: str = "model") -> Path:
    """A local path as is, a hub id through the cache."""
    if not is_hub_id(path_or_id):
        return Path(path_or_id)
    return snapshot(path_or_id, revision, repo_type=repo_type)


def is_standin(directory: str | os.PathLike) -> bool:
    d = Path(directory)
    if (d / STANDIN_FILE).exists():
        return True
    cfg = d / "config.json"
    if cfg.is_file():
        try:
            return bool(json.loads(cfg.read_text()).get(STANDIN_FIELD))
        except json.JSONDecodeError:
            return False
    return False


def refuse_standin(path_or_id: str, revision: str | None = None, *,
                   repo_type: str = "model") -> None:
    """Stop a real run that would load a rehearsal stand-in (random weights, fake data)."""
    try:
        directory = local_dir(path_or_id, revision, repo_type=repo_type)
    except FileNotFoundError:
        return  # not in the cache: the loader itself reports it (or downloads it)
    if is_standin(directory) and os.environ.get(REHEARSAL_ENV) != "1":
        raise RuntimeError(
            f"{repo_type} {path_or_id} ({directory}) is a rehearsal stand-in (random weights / "
            f"generated data, marker {STANDIN_FIELD!r}), not the real checkpoint; a real run "
            f"refuses it. Point HF_HOME at the real cache, or set {REHEARSAL_ENV}=1 for a "
            f"rehearsal (make rehearsal does)")


# ------------------------------------------------------------------ datasets


def _card_configs(readme: Path) -> list[dict]:
    """The ``configs:`` list of a dataset card's YAML front matter ([] when absent)."""
    import yaml

    if not readme.is_file():
        return []
    text = readme.read_text()
    if not text.startswith("---"):
        return []
    front = text.split("---", 2)[1]
    return (yaml.safe_load(front) or {}).get("configs") or []


def _split_patterns(entry: dict, split: str) -> list[str] | None:
    files = entry.get("data_files")
    if isinstance(files, str):
        return [files] if split == "train" else None
    if isinstance(files, dict):
        files = [{"split": k, "path": v} for k, v in files.items()]
    for item in files or []:
        if item.get("split") == split:
            path = item["path"]
            return [path] if isinstance(path, str) else list(path)
    return None


def dataset_data_files(hub_id: str, name: str | None, split: str,
                       revision: str | None = None) -> tuple[str, list[str]]:
    """``(builder, [absolute files])`` of ``hub_id``'s config ``name``, split ``split``.

    Read from the snapshot at ``revision`` (cache only): its card's ``configs:`` block
    (``config_name``, ``data_files: [{split, path}]``), else the hub's default layout
    ``[<name>/]<split>-*.<ext>`` or ``data/<split>-*.<ext>``.
    """
    snap = local_dir(hub_id, revision, repo_type="dataset")
    where = f"dataset {hub_id} (config {name!r}, split {split!r}, revision {revision or 'main'})"
    configs = _card_configs(snap / "README.md")
    patterns = None
    if configs:
        wanted = name or "default"
        entry = next((c for c in configs if c.get("config_name", "default") == wanted), None)
        if entry is None and name is None and len(configs) == 1:
            entry = configs[0]  # no config named: a one-config repository's only config
        if entry is None:
            raise ValueError(f"{where}: no config {wanted!r} in {snap}/README.md; found "
                             f"{[c.get('config_name', 'default') for c in configs]}")
        patterns = _split_patterns(entry, split)
        if patterns is None:
            raise ValueError(f"{where}: config {wanted!r} in {snap}/README.md has no split "
                             f"{split!r}")
    else:
        prefix = f"{name}/" if name else ""
        patterns = [f"{prefix}{split}-*", f"{prefix}data/{split}-*", f"data/{split}-*"]
    rel = sorted(str(p.relative_to(snap)) for p in snap.rglob("*") if p.is_file())
    files = [r for r in rel if any(fnmatch.fnmatch(r, pat) or fnmatch.fnmatch(r, pat + ".*")
                                   for pat in patterns)]
    files = [f for f in files if Path(f).suffix in FILE_BUILDERS]
    if not files:
        scripts = [r for r in rel if r.endswith(".py")]
        hint = (f"; the repository has only a loading script {scripts}, which datasets >= 4 "
                "refuses: use a parquet revision of it" if scripts else "")
        raise FileNotFoundError(f"{where}: no data file matching {patterns} in {snap}{hint}")
    builders = {FILE_BUILDERS[Path(f).suffix] for f in files}
    if len(builders) != 1:
        raise ValueError(f"{where}: mixed data file types {sorted(builders)} in {files}")
    return builders.pop(), [str(snap / f) for f in files]


def load_hub_dataset(hub_id: str, name: str | None, split: str, revision: str | None = None):
    """``datasets.Dataset`` of a hub dataset from the local cache (see module docstring)."""
    import datasets

    refuse_standin(hub_id, revision, repo_type="dataset")
    builder, files = dataset_data_files(hub_id, name, split, revision)
    return datasets.load_dataset(builder, data_files={split: files}, split=split)


# ------------------------------------------------------------------ what a config loads


def eval_dataset_requests(benchmarks) -> list[tuple[str, str | None, str]]:
    """``[(hub id, config, split)]`` the task YAMLs of ``benchmarks`` read (subtasks too)."""
    from tide.eval.run import benchmark_spec
    from tide.eval.taskfiles import eval_split, subtasks, task_config

    out = []
    for name in benchmarks:
        for sub in subtasks(benchmark_spec(name).task):
            task_cfg = task_config(sub)
            req = (task_cfg["dataset_path"], task_cfg.get("dataset_name"), eval_split(sub))
            if req not in out:
                out.append(req)
    return out


def config_hub_ids(cfg) -> dict[str, str]:
    """``{hub id: "model" | "dataset"}`` of everything ``cfg`` loads from the hub (in order):
    models and tokenizers, released checkpoints, pre-tokenized or raw SFT data, and the
    evaluation datasets when ``eval.source`` is ``hub``. Local paths are left out."""
    tree = cfg.tree
    ids: dict[str, str] = {}

    def add(value, kind):
        if isinstance(value, str) and value not in ("train", "convert_ar") and is_hub_id(value):
            ids.setdefault(value, kind)

    models = tree.models
    add(models.ar.init, "model")
    add(models.student.init, "model")
    for spec in models.teachers.values():
        add(spec.init, "model")
    for tok in (tree.tokenizers.student, tree.tokenizers.teacher_a, tree.tokenizers.teacher_b):
        add(tok, "model")
    for ckpt in tree.eval.checkpoints.values():
        add(ckpt.path, "model")
    data = tree.data
    if data.source == "pretokenized":
        for path in data.pretokenized.values():
            add(path, "dataset")
    elif data.source == "sft_mixture":
        for src in data.sft_mixture:
            add(src.path, "dataset")
    if tree.eval.source == "hub":
        for hub_id, _, _ in eval_dataset_requests(tree.eval.benchmarks):
            add(hub_id, "dataset")
    return ids
