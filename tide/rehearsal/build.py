"""``tide rehearsal-hub``: write the stand-in hub for a config (see tide/rehearsal/__init__).

Layout written (what ``huggingface_hub`` reads offline)::

    DIR/hub/models--org--name/snapshots/<sha>/<files>     refs/main -> <sha>
    DIR/hub/datasets--org--name/snapshots/<sha>/<files>   refs/main -> <sha>
    DIR/PROVENANCE.md, DIR/rehearsal_hub.json (id -> kind, revision, role)
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path

from tide.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)


def standin_sha(hub_id: str) -> str:
    """The deterministic revision of an unpinned stand-in (sha1 of its id)."""
    return hashlib.sha1(f"tide-rehearsal:{hub_id}".encode()).hexdigest()


def repo_dir(hf_home: Path, repo_type: str, hub_id: str) -> Path:
    return Path(hf_home) / "hub" / f"{repo_type}s--{hub_id.replace('/', '--')}"


def install(src: Path, hf_home: Path, repo_type: str, hub_id: str, revision: str, *,
            set_main: bool = True) -> Path:
    """Move ``src``'s files into the hub layout at ``revision`` (+ refs/main); the stand-in
    marker file is added to dataset repositories (models carry it in config.json)."""
    from tide.hubcache import STANDIN_FILE

    base = repo_dir(hf_home, repo_type, hub_id)
    snap = base / "snapshots" / revision
    if snap.exists():
        shutil.rmtree(snap)
    snap.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, snap)
    if repo_type == "dataset":
        (snap / STANDIN_FILE).write_text("tide rehearsal stand-in: generated rows\n")
    if set_main:
        (base / "refs").mkdir(exist_ok=True)
        (base / "refs" / "main").write_text(revision)
    return snap


def _texts(seed: int) -> list[str]:
    from tide.data.corpus import make_corpus
    from tide.rehearsal.datasets import _rows_by_task

    texts = [m["content"] for conv in make_corpus(400, 1, seed)["train"] for m in conv]
    for rows in _rows_by_task(4, seed).values():
        texts += [json.dumps(r) for r in rows]
    return texts


def build_hub(out: str | Path, config: str | Path = "config/paper.yaml", *, docs: int = 4,
              rows: int = 48, seed: int = 0) -> dict:
    """Write every hub repository ``config`` loads, as a stand-in, under ``out``."""
    from tide.config import load_config
    from tide.hubcache import config_hub_ids, revision_of
    from tide.rehearsal import PROVENANCE
    from tide.rehearsal import datasets as D
    from tide.rehearsal import models as M
    from tide.rehearsal import tokenizers as T

    out = Path(out).resolve()
    cfg = load_config(config)
    tree = cfg.tree
    ids = config_hub_ids(cfg)
    toks = T.build(_texts(seed))
    student_id = tree.models.student.init
    teacher_ids = {p: tree.models.teachers[p].init for p in ("A", "B")}
    roles: dict[str, str] = {}
    for pid, p in (("student", student_id), ("ar", tree.models.ar.init),
                   ("teacher A", teacher_ids["A"]), ("teacher B", teacher_ids["B"])):
        roles.setdefault(p, pid)
    for name, ck in tree.eval.checkpoints.items():
        roles.setdefault(ck.path, f"released {name}")
    eval_repos = D.eval_repos(docs, tree.eval.seed)
    pretokenized = tree.data.pretokenized or {}
    record = {}
    with tempfile.TemporaryDirectory(prefix="tide_hub_") as tmp:
        for i, (hub_id, kind) in enumerate(ids.items()):
            src = Path(tmp) / f"r{i}"
            role = roles.get(hub_id, "")
            if kind == "model":
                if hub_id == teacher_ids["A"]:
                    M.llada2(src, toks["llada2"])
                elif hub_id == teacher_ids["B"]:
                    M.wedlm(src, toks["wedlm"])
                elif role == "ar":
                    M.qwen3_causal(src, toks["qwen3"])
                else:  # the BD3LM student and every released a2d-qwen3 checkpoint
                    M.a2d_student(src, toks["student"], seed=1 + i)
            elif hub_id in pretokenized.values():
                pipe = next(p for p, v in pretokenized.items() if v == hub_id)
                t_tok = toks["llada2" if pipe == "A" else "wedlm"]
                data = {s: D.pretokenized_rows(pipe, toks["student"], t_tok, n, seed + k,
                                               tree.data.max_length)
                        for k, (s, n) in enumerate((("train", rows), ("test", 8)))}
                D.write_parquet_repo(src, {None: data}, layout="data")
                role = f"pre-tokenized {pipe}"
            elif hub_id in eval_repos:
                layout = "data" if list(eval_repos[hub_id]) == [None] else "config"
                D.write_parquet_repo(src, eval_repos[hub_id], layout=layout)
                role = "evaluation"
            else:
                raise ValueError(f"rehearsal hub: no stand-in recipe for {kind} {hub_id}")
            rev = revision_of(cfg, hub_id) or standin_sha(hub_id)
            install(src, out, kind, hub_id, rev)
            record[hub_id] = {"kind": kind, "revision": rev, "role": role,
                              "pinned": revision_of(cfg, hub_id) is not None}
            log.info("stand-in %s %s @ %s (%s)", kind, hub_id, rev[:12], role)
    atomic_write_json(out / "rehearsal_hub.json", {"config": str(config), "repos": record})
    lines = ["# Rehearsal hub: provenance of each reproduced fact", "",
             "| repository | fact | source |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in PROVENANCE]
    atomic_write_text(out / "PROVENANCE.md", "\n".join(lines) + "\n")
    return record


def main(out: str, config: str) -> None:
    record = build_hub(out, config)
    log.info("rehearsal hub: %d repositories under %s; use HF_HOME=%s", len(record), out, out)
