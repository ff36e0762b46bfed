"""The resolved config a workflow's jobs read: content-addressed, fixed per invocation.

Snakemake resolves the config (config file + any ``--config`` overrides) once per
invocation; its jobs run ``tide --config results/config/<sha>.yaml …`` where ``<sha>`` is
the hash of the resolved YAML text. Two invocations with different configs therefore never
share (or overwrite) the file a running job reads, and a dry run writes nothing: the file is
written in the Snakefile's ``onstart``, which Snakemake runs only when it executes jobs.

``results/config.resolved.yaml`` is a symlink to the config of the latest invocation that
ran jobs, for hand-run commands (``tide --config results/config.resolved.yaml …``); jobs
never read it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tide.io import atomic_write_text

LATEST = "config.resolved.yaml"


def resolved_config(text: str, root: str = "results") -> str:
    """``<root>/config/<sha256(text)[:12]>.yaml``: where this resolved config lives."""
    return f"{root}/config/{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml"


def write_resolved(text: str, path: str | os.PathLike) -> None:
    """Write the resolved config (once: same name, same content) and point the
    ``config.resolved.yaml`` symlink beside its directory at it (atomically)."""
    path = Path(path)
    if not path.is_file() or path.read_text() != text:
        atomic_write_text(path, text)
    link = path.parent.parent / LATEST
    target = os.path.relpath(path, link.parent)
    if link.is_symlink() and os.readlink(link) == target:
        return
    tmp = link.with_name(f".{LATEST}.{os.getpid()}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)  # replaces an older regular file of that name too
