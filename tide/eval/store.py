"""Stored generations: the resumable, shardable half of an evaluation (issue 14).

An evaluation is three stages (docs/architecture.md "Evaluation stages"):

1. **generate** one shard: every finished request is appended to a JSON-lines store and
   fsync'd before the next batch starts, so a killed job keeps what it generated;
2. **merge** the shards' stores into one file;
3. **score**: lm-eval replays the stored texts (no weights, no GPU) and runs filters,
   metrics and code execution.

Each record is keyed by ``sha256(identity hash, context, generation kwargs)``; the identity
is the model's weights fingerprint, the sampler settings, the task files' and data files'
hashes and the answer policy (think-block handling). A record made under another identity
is never reused (a new checkpoint regenerates everything: lm-eval's own ``--use_cache``
keys by request only, lm-eval issues #2715, #4063).

Documents are partitioned by ``doc_id mod K`` per (sub)task: deterministic, independent of
order and of the other shards; prompts are built for every document exactly as in the
unsharded run, so few-shot contexts never depend on the shard.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Iterable

from tide.io import atomic_write_json, read_json

log = logging.getLogger(__name__)

def canonical_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys, no spaces)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def weights_fingerprint(pretrained: str, revision: str | None = None) -> str:
    """The checkpoint's identity as training computes it (``tide.identity.input_id``: a
    local directory's file fingerprint, or ``hub:<id>@<revision>``): one identity helper
    for training state and stored generations. Any changed weight gives a new one."""
    from tide.identity import input_id

    return input_id(pretrained, revision)


def request_key(identity_hash: str, context: str, gen_kwargs: dict) -> str:
    """Record key: sha256(identity hash, context, generation kwargs)."""
    return canonical_hash([identity_hash, context, gen_kwargs])


def shard_of(doc_id: int, shards: int) -> int:
    """The shard of a document: ``doc_id mod K`` (per task; deterministic)."""
    return int(doc_id) % int(shards)


def parse_shard(spec: str | tuple[int, int]) -> tuple[int, int]:
    """``"k/K"`` (or (k, K)) -> (k, K) with 0 ≤ k < K."""
    if isinstance(spec, str):
        try:
            k, n = (int(x) for x in spec.split("/"))
        except ValueError:
            raise ValueError(f"shard: expected 'k/K' (e.g. 0/4), found {spec!r}") from None
    else:
        k, n = spec
    if not 0 <= k < n:
        raise ValueError(f"shard: expected 0 <= k < K, found {k}/{n}")
    return k, n


def read_records(path: str | os.PathLike) -> list[dict]:
    """Every complete record of a store; a torn last line (killed mid-write) is dropped."""
    path = Path(path)
    if not path.exists():
        return []
    records, lines = [], path.read_text(encoding="utf-8").split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i >= len(lines) - 2:  # the last (unterminated) line of a killed writer
                log.warning("%s: dropping a torn last record (%d bytes)", path, len(line))
                continue
            raise ValueError(f"{path}: line {i + 1} is not JSON (a corrupted store?)") from None
    return records


class GenerationStore:
    """Append-only JSON lines of finished requests under one identity (module docstring)."""

    def __init__(self, path: str | os.PathLike, identity: dict):
        self.path = Path(path)
        self.identity = identity
        self.identity_hash = canonical_hash(identity)
        self.records: dict[str, dict] = {}
        foreign = 0
        for rec in read_records(self.path):
            if rec.get("identity") == self.identity_hash:
                self.records[rec["key"]] = rec
            else:
                foreign += 1
        if foreign:  # set the old store aside (never deleted), keep this identity's records
            aside = self.path.with_name(f"{self.path.name}.set-aside-{int(time.time())}")
            log.warning("%s: %d stored records were made under another identity (weights, "
                        "sampler, task or data changed): not reused, moved to %s",
                        self.path, foreign, aside)
            os.replace(self.path, aside)
            mine = list(self.records.values())
            self.records = {}
            self.append(mine)

    def key(self, context: str, gen_kwargs: dict) -> str:
        return request_key(self.identity_hash, context, gen_kwargs)

    def get(self, key: str) -> dict | None:
        return self.records.get(key)

    def append(self, records: Iterable[dict]) -> None:
        """Append records and fsync: once this returns they survive a kill."""
        records = list(records)
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps({**r, "identity": self.identity_hash}, sort_keys=True,
                                   ensure_ascii=False) + "\n" for r in records)
        self._repair_tail()
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())
        for r in records:
            self.records[r["key"]] = {**r, "identity": self.identity_hash}

    def _repair_tail(self) -> None:
        """End a torn last line with a newline so the next record starts on its own line."""
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    with open(self.path, "ab") as g:
                        g.write(b"\n")


def _attempts_path(store_path) -> Path:
    return Path(str(store_path) + ".attempts.jsonl")


def _append_line(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(obj) + "\n")
        f.flush()
        os.fsync(f.fileno())


def check_progress(store_path: str | os.PathLike, identity_hash: str, done: int,
                   todo: int) -> None:
    """Record this attempt; fail loudly when the previous attempt added nothing.

    ``<store>.attempts.jsonl`` holds one line per attempt (identity, records done at its
    start) and one per finished run. A retry of the same identity that finds as many done
    as its unfinished previous attempt did at its start, with work left, means that attempt
    generated nothing before it was stopped (a time limit below one batch, a crash on one
    request): retrying again cannot finish either.
    """
    path = _attempts_path(store_path)
    mine = [a for a in read_records(path) if a.get("identity") == identity_hash]
    last = mine[-1] if mine else None
    if last and not last.get("finished") and todo > 0 and last.get("done_at_start") == done:
        raise RuntimeError(
            f"{store_path}: the previous attempt generated nothing ({done} requests done at its "
            f"start and now, {todo} left): not retrying. Give the job more time or a smaller "
            f"shard (eval.shards), or look at its log; delete {path} to force a retry")
    _append_line(path, {"identity": identity_hash, "done_at_start": done, "todo": todo})


def mark_finished(store_path: str | os.PathLike, identity_hash: str) -> None:
    """Record that a run of this identity completed (a later re-run is no retry)."""
    _append_line(_attempts_path(store_path), {"identity": identity_hash, "finished": True})


def merge_stores(parts: list[tuple[str | os.PathLike, str]], out: str | os.PathLike) -> int:
    """Union of the shards' records of one identity into ``out`` (atomic); returns the count.

    ``parts``: (store path, identity hash of that shard's finished run). Shards of different
    identities, or one key with two different texts, stop the merge with an error.
    """
    from tide.io import atomic_write_text

    hashes = {h for _, h in parts}
    if len(hashes) != 1:
        raise ValueError(f"merge: the shards were generated under different identities "
                         f"{sorted(hashes)} ({[str(p) for p, _ in parts]}); regenerate them")
    ident = hashes.pop()
    merged: dict[str, dict] = {}
    for path, _ in parts:
        for rec in read_records(path):
            if rec.get("identity") != ident:
                continue
            old = merged.get(rec["key"])
            if old is not None and old["text"] != rec["text"]:
                raise ValueError(f"merge: request {rec['task']}/{rec['doc_id']} has two different "
                                 f"generations in {path} and another shard")
            merged[rec["key"]] = rec
    rows = sorted(merged.values(), key=lambda r: (r["task"], r["doc_id"], r["key"]))
    atomic_write_text(out, "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n"
                                   for r in rows))
    return len(rows)


def merge_shards(done_files: list[str | os.PathLike], out) -> dict:
    """Join finished shards into one store ``out``; writes ``out`` + ``<out>.json`` (manifest)."""
    dones = [read_json(p) for p in done_files]
    ns = {d["shard"][1] for d in dones}
    got = sorted(d["shard"][0] for d in dones)
    if len(ns) != 1 or got != list(range(ns.copy().pop())):
        raise ValueError(f"merge: expected shards 0..K-1 of one K, found "
                         f"{[tuple(d['shard']) for d in dones]} in {list(map(str, done_files))}")
    count = merge_stores([(d["store"], d["identity_hash"]) for d in dones], out)
    manifest = {k: dones[0][k] for k in ("benchmark", "identity", "identity_hash", "model",
                                          "model_args", "model_info", "batch_size", "seed",
                                          "limit", "data")}
    manifest |= {"shards": len(dones), "records": count, "store": str(out),
                 "generated": sum(d["generated"] for d in dones),
                 "reused": sum(d["reused"] for d in dones)}
    atomic_write_json(str(out) + ".json", manifest)
    return manifest
