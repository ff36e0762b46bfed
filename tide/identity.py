"""A run's identity: what decides whether a job re-runs and whether its state resumes.

A result depends on (i) the resolved settings of its job — run spec, seed, block size,
steps, lr, … —, (ii) its inputs — data and checkpoints — and (iii) the world size. Its
identity is the hash of all three:

    identity = sha256(canonical JSON of {"plan": …, "inputs": {name: input id}, …})[:16]

with, per input (:func:`input_id`):

- a file (a model pointer ``results/models/<name>.json``, the tokenizer summary): the
  sha256 of its bytes (the pointer changes whenever its stage re-runs);
- a local directory (a dataset): a fingerprint of its files — relative path, size and the
  sha256 of each file (of its first and last MiB for files over 4 MiB);
- anything else (a hub id): ``hub:<id>@<revision>``, the revision being the pointer's
  ``revision`` field, else the commit the local hub cache resolves ``main`` to, else
  ``unresolved``.

**Snakemake's rerun trigger.** Each training rule's ``params: identity=`` is
:func:`plan_json`: the config part of the identity (settings + configured world size).
It must be computable before any input exists (Snakemake evaluates params when it builds
the DAG and compares them with what it recorded), so it holds no input fingerprint: a
changed input is Snakemake's own trigger (modification time), the identity catches it
again at training time. Editing a run's fields, ``seed`` or ``block_size`` re-runs it.

**The key of resumable state.** A stage computes :func:`of_stage` (plan + fingerprints of
the inputs as they are on disk); :func:`tide.train.train` adds the training settings and
the actual world size and calls :func:`claim_state`: a state directory resumes only if
the identity recorded in it (``identity.json``) equals the current one. Any other state —
another identity, or none recorded — is *set aside*, never deleted: moved to
``<state root>/stale/<kind>/<name>-<old identity>-<time>/`` with a ``set_aside.json``
saying why (the fields that differ), logged; only the newest ``keep`` set-aside states of
each name are kept (``keep_stale_states`` in the config, default 2). The job then starts
from step 0. A retry with nothing changed (preemption, time limit, a kill) finds its own
identity and resumes exactly.

API for other resumable state (evaluation progress, …)::

    from tide import identity
    ident = identity.Identity({"what": "eval", "settings": {…},    # everything the result
                               "inputs": identity.inputs_id({"model": pointer, "data": d})})
    d = identity.state_dir("eval", "B_kl_gsm8k", root)      # <root>/state/eval/B_kl_gsm8k
    if identity.claim_state(d, ident):                       # True: d holds this identity's state
        ...resume from d...
    # else d exists, is empty but for identity.json, and the old state is set aside
    # (identity.recorded(d) reads a state's record without claiming it)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from tide import paths
from tide.config_tree import ConfigTree
from tide.io import atomic_write_json, read_json

log = logging.getLogger(__name__)

IDENTITY_FILE = "identity.json"
SET_ASIDE_FILE = "set_aside.json"
DEFAULT_KEEP = ConfigTree.keep_stale_states  # the config's default, one home: config_tree.py
_FULL_HASH_BYTES = 4 << 20  # files up to this size are hashed whole
_EDGE_BYTES = 1 << 20  # larger files: first and last MiB (+ size)

#: global config fields every training result depends on (+ shared_vocab_size: distill)
COMMON_FIELDS = ("seed", "block_size", "dtype", "attn_implementation")
#: data fields each training stage reads directly (the rest reaches it through its datasets);
#: heldout_examples decides the held-out bits/byte in a pointer and when a teacher stops
DATA_FIELDS = {"train_ar": ("max_length",),
               "sft_student": ("max_length", "heldout_examples"),
               "train_teacher": ("teacher_max_length", "heldout_examples"),
               "distill": ("max_length", "teacher_max_length")}
#: run-spec fields that change nothing in the result (checkpoint cadence: resume is exact)
NOT_IDENTITY = ("checkpoint_every",)
TRAINING_RULES = ("train_ar", "sft_student", "train_teacher", "distill")


def digest(obj) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys), first 16 hex digits."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Identity:
    """Everything a result depends on (``parts``, JSON-able) and its hash (``key``)."""

    parts: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return digest(self.parts)

    def extended(self, **more) -> "Identity":
        return Identity({**self.parts, **more})


# ------------------------------------------------------------------ inputs


def _file_sha(path: Path) -> str:
    size = path.stat().st_size
    h = hashlib.sha256()
    with open(path, "rb") as f:
        if size <= _FULL_HASH_BYTES:
            h.update(f.read())
        else:  # big data files: size + both ends (a re-tokenized dataset differs there)
            h.update(f"{size}:".encode())
            h.update(f.read(_EDGE_BYTES))
            f.seek(size - _EDGE_BYTES)
            h.update(f.read(_EDGE_BYTES))
    return h.hexdigest()[:16]


def _ignored(rel: str) -> bool:
    """Files that come and go without changing the content: temp files, datasets' caches."""
    name = rel.rsplit("/", 1)[-1]
    return name.startswith(".") or name.startswith("cache-") or name.endswith(".lock")


def dir_fingerprint(path: str | Path) -> str:
    """Hash of (relative path, size, content hash) of every file under ``path``."""
    path = Path(path)
    entries = []
    for f in sorted(path.rglob("*")):
        rel = f.relative_to(path).as_posix()
        if f.is_file() and not _ignored(rel):
            entries.append((rel, f.stat().st_size, _file_sha(f)))
    return digest(entries)


def _hub_revision(repo_id: str) -> str:
    """The commit the local hub cache resolves ``main`` to (offline; no network)."""
    cache = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface")), "hub")
    ref = Path(cache) / f"models--{repo_id.replace('/', '--')}" / "refs" / "main"
    return ref.read_text().strip() if ref.is_file() else "unresolved"


def input_id(ref: str | Path, revision: str | None = None) -> str:
    """Identity of one input: ``file:``/``dir:`` content hash, or ``hub:<id>@<revision>``."""
    p = Path(ref)
    if p.is_file():
        out = f"file:{_file_sha(p)}"
        if p.suffix == ".json":  # a model pointer naming a hub id: pin its revision too
            try:
                ptr = json.loads(p.read_text())
            except ValueError:
                return out
            target = ptr.get("path") if isinstance(ptr, dict) else None
            if isinstance(target, str) and not Path(target).exists():
                out += "+" + input_id(target, ptr.get("revision"))
        return out
    if p.is_dir():
        return f"dir:{dir_fingerprint(p)}"
    return f"hub:{ref}@{revision or _hub_revision(str(ref))}"


def inputs_id(inputs: dict[str, str | Path]) -> dict[str, str]:
    """{name: input_id} of existing inputs; a missing one is an error naming it."""
    missing = {k: str(v) for k, v in inputs.items() if not Path(v).exists()}
    if missing:
        raise FileNotFoundError(f"inputs of this job missing (expected files or directories): "
                                f"{missing}")
    return {k: input_id(v) for k, v in sorted(inputs.items())}


# ------------------------------------------------------------------ training rules


def _without_notes(obj):
    """A config value without its ``note`` fields (explanations, not settings)."""
    if isinstance(obj, dict):
        return {k: _without_notes(v) for k, v in obj.items() if k != "note"}
    return obj


# The identity hashes the config as written (a field left out stays out, its default is not
# filled in), not cfg.tree: the bytes hashed, hence every run identity, stay those of the
# configs already run. Read the raw dict here on purpose.

def _common(cfg, rule: str) -> dict:
    out = {k: cfg.raw.get(k) for k in COMMON_FIELDS}
    out["data"] = {k: cfg["data"].get(k) for k in DATA_FIELDS[rule]}
    if rule == "distill":
        out["shared_vocab_size"] = cfg.raw.get("shared_vocab_size")
    return out


def plan(cfg, rule: str, name: str) -> dict:
    """The config part of a training job's identity (``name``: ar | bd3lm | teacher_<P> |
    <P>_<run>): its spec, the global fields it reads, the configured world size."""
    if rule == "train_ar":
        spec = cfg["models"]["ar"]
    elif rule == "sft_student":
        spec = cfg["models"]["student"]
    elif rule == "train_teacher":
        spec = cfg["models"]["teachers"][name.split("_", 1)[1]]
    elif rule == "distill":
        pipeline, run = name.split("_", 1)
        spec = {k: v for k, v in cfg.run(pipeline, run).as_dict().items() if k not in NOT_IDENTITY}
        spec["teacher"] = cfg["models"]["teachers"][pipeline]  # kind, concat order, dtype, …
        spec["precision"] = cfg.precision  # train.precision changes the numbers (tide/precision.py)
    else:
        raise ValueError(f"identity.plan: expected a training rule {TRAINING_RULES}, found {rule!r}")
    world = (cfg.tree.rule_resources("distill").tasks or 1) if rule == "distill" else 1
    return {"rule": rule, "name": name, "spec": _without_notes(spec), "common": _common(cfg, rule),
            "world_size": world}


def plan_json(cfg, rule: str, name: str) -> str:
    """Snakemake's rerun trigger of a training rule (readable: what changed shows)."""
    return json.dumps(plan(cfg, rule, name), sort_keys=True)


def stage_inputs(rule: str, name: str, root=None, *, from_ar: bool = False) -> dict[str, Path]:
    """The inputs a training stage reads, as paths under ``root`` (``from_ar``: a teacher
    that starts from the AR model also reads its pointer)."""
    out = {"tokenizers": paths.tokenizers_summary(root)}
    if rule == "train_ar":
        out["data"] = paths.dataset("sft", "train", root)
    elif rule == "sft_student":
        out.update(ar=paths.model_metrics("ar", root), data=paths.dataset("sft", "train", root))
    elif rule == "train_teacher":
        kind = "sft_teacher_a" if name.endswith("A") else "sft_teacher_b"
        out.update(data=paths.dataset(kind, "train", root),
                   heldout=paths.dataset(kind, "heldout", root))  # its recorded curve
        if from_ar:
            out["ar"] = paths.model_metrics("ar", root)
    elif rule == "distill":
        pipeline = name.split("_", 1)[0]
        out.update(student=paths.model_metrics("bd3lm", root),
                   teacher=paths.model_metrics(f"teacher_{pipeline}", root),
                   data=paths.dataset(pipeline, "train", root))
    return out


def of_stage(cfg, rule: str, name: str, root=None) -> Identity:
    """A training stage's identity: its plan + the fingerprints of its inputs on disk.

    The plan's configured world size is left out: :func:`tide.train.run_identity` adds the
    actual one (``tide submit --tasks N`` may differ from the config's resources).
    """
    p = {k: v for k, v in plan(cfg, rule, name).items() if k != "world_size"}
    from_ar = rule == "train_teacher" and cfg.tree.models.teachers[name.split("_", 1)[1]].from_ar
    return Identity({"plan": p, "inputs": inputs_id(stage_inputs(rule, name, root,
                                                                 from_ar=from_ar))})


def keep_stale(cfg) -> int:
    """Set-aside states kept per run (``keep_stale_states``)."""
    return cfg.tree.keep_stale_states


# ------------------------------------------------------------------ state directories


def state_dir(kind: str, name: str, root=None) -> Path:
    """``<root>/state/<kind>/<name>``: resumable state, outside every declared output."""
    return paths.state_dir(kind, name, root)


def stale_root(state: Path) -> Path:
    """Where set-aside states of ``<state root>/<kind>/<name>`` go."""
    return state.parent.parent / "stale" / state.parent.name


def recorded(state: str | Path) -> dict | None:
    """The identity record of a state directory, or None."""
    f = Path(state) / IDENTITY_FILE
    return read_json(f) if f.is_file() else None


def _differences(old, new, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON-like values differ (for the set-aside reason)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += _differences(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    if old != new:
        return [f"{prefix[:-1]}: {json.dumps(old, default=str)} -> {json.dumps(new, default=str)}"]
    return []


def _prune(where: Path, name: str, keep: int) -> None:
    """Keep the newest ``keep`` set-aside states of ``name`` under ``where``."""
    mine = []
    for d in where.iterdir() if where.is_dir() else []:
        rec = d / SET_ASIDE_FILE
        if rec.is_file() and read_json(rec).get("name") == name:
            mine.append((read_json(rec).get("set_aside_at", 0), d))
    for _, d in sorted(mine, reverse=True)[max(0, keep):]:
        log.info("removing old set-aside state %s (keeping the newest %d)", d, keep)
        shutil.rmtree(d, ignore_errors=True)


def set_aside(state: Path, reason: str, keep: int = DEFAULT_KEEP) -> Path:
    """Move ``state`` to the stale area with a record of why; prune old ones of its name."""
    old = (recorded(state) or {}).get("identity", "unknown")
    now = time.time()
    dest = stale_root(state) / f"{state.name}-{old}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}"
    n = 1
    while dest.exists():
        dest = dest.with_name(f"{dest.name}.{n}")
        n += 1
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(state, dest)
    atomic_write_json(dest / SET_ASIDE_FILE, {"name": state.name, "from": str(state),
                                             "old_identity": old, "reason": reason,
                                             "set_aside_at": now})
    log.warning("state %s set aside to %s: %s", state, dest, reason)
    _prune(dest.parent, state.name, keep)
    return dest


def claim_state(state: str | Path, ident: Identity, *, keep: int = DEFAULT_KEEP) -> bool:
    """Make ``state`` the state directory of ``ident``; True if it already was (resume).

    Otherwise any content is set aside (:func:`set_aside`), the directory is recreated
    holding only ``identity.json``, and False is returned (start from scratch).
    Call from one process only (rank 0), then synchronise.
    """
    state = Path(state)
    rec = recorded(state)
    if rec is not None and rec.get("identity") == ident.key:
        return True
    if state.exists() and any(state.iterdir()):
        if rec is None:
            reason = "no identity recorded (state written before run identities existed)"
        else:
            diffs = _differences(rec.get("parts"), ident.parts)
            reason = (f"identity {rec.get('identity')} != {ident.key}; changed: "
                      + ("; ".join(diffs[:12]) or "(unknown)"))
        set_aside(state, reason, keep)
    state.mkdir(parents=True, exist_ok=True)
    atomic_write_json(state / IDENTITY_FILE, {"identity": ident.key, "parts": ident.parts,
                                              "claimed_at": time.time()})
    return False
