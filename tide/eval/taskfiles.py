"""Our pinned lm-eval task files (``tide/eval/tasks``): find them by task name, read them with
their ``include`` chain merged (no task functions imported), check their required fields
before lm-eval runs (errors name the file and the field), and hash them for score.json.
"""

from __future__ import annotations

import copy
import hashlib
from functools import lru_cache
from pathlib import Path

import yaml

TASKS_DIR = Path(__file__).resolve().parent / "tasks"

#: fields every task file must define (group files: GROUP_FIELDS); checked before a run
TASK_FIELDS = ("task", "dataset_path", "output_type", "test_split", "doc_to_text",
               "doc_to_target", "metric_list")
GROUP_FIELDS = ("group", "task", "aggregate_metric_list")


class _AnyTagLoader(yaml.SafeLoader):
    """safe_load that reads ``!function x.y`` as the string (indexing only, no imports)."""


_AnyTagLoader.add_multi_constructor("!", lambda loader, tag, node: loader.construct_scalar(node))


def _read_yaml(path: Path) -> dict:
    """The file's mapping (a fresh copy: callers merge into it). Parsed once per process and
    file version: an evaluation job reads the same ~300 files for each of its benchmarks."""
    st = Path(path).stat()
    return copy.deepcopy(_parsed_yaml(str(path), st.st_mtime_ns, st.st_size))


@lru_cache(maxsize=1024)
def _parsed_yaml(path: str, _mtime_ns: int, _size: int) -> dict:
    with open(path) as f:
        task_cfg = yaml.load(f, Loader=_AnyTagLoader)  # noqa: S506  (safe loader + string tags)
    if not isinstance(task_cfg, dict):
        raise ValueError(f"{path}: expected a YAML mapping, found {type(task_cfg).__name__}")
    return task_cfg


def task_index(tasks_dir: Path | None = None) -> dict[str, Path]:
    """``{task or group name: yaml path}`` of every task file under ``tasks_dir``."""
    return dict(_task_index(Path(tasks_dir or TASKS_DIR)))


@lru_cache(maxsize=8)
def _task_index(tasks_dir: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in sorted(tasks_dir.rglob("*.yaml")):
        task_cfg = _read_yaml(path)
        name = task_cfg.get("group") or task_cfg.get("task")
        if not isinstance(name, str):
            raise ValueError(f"{path}: field 'task' (or 'group') missing; expected the task name")
        if name in index:
            raise ValueError(f"{path}: task {name!r} is also defined in {index[name]}")
        index[name] = path
    return index


def task_yaml(task: str) -> Path:
    index = task_index()
    if task not in index:
        raise ValueError(f"task {task!r}: no task file in {TASKS_DIR}; found {sorted(index)}")
    return index[task]


def task_config(task: str) -> dict:
    """The task's configuration with its ``include`` chain merged (no functions imported)."""
    path = task_yaml(task)
    task_cfg = _read_yaml(path)
    merged: dict = {}
    for inc in ([task_cfg.pop("include")] if isinstance(task_cfg.get("include"), str)
                else task_cfg.pop("include", None) or []):
        inc_path = (path.parent / inc) if not Path(inc).is_absolute() else Path(inc)
        if not inc_path.is_file():
            raise ValueError(f"{path}: field 'include': no file at {inc_path}")
        merged.update(_read_yaml(inc_path))
    merged.update(task_cfg)
    return merged


def subtasks(task: str) -> list[str]:
    """A group's tasks, or ``[task]`` for a plain task."""
    task_cfg = task_config(task)
    return list(task_cfg["task"]) if "group" in task_cfg else [task]


def validate_task(task: str) -> None:
    """Stop before lm-eval runs when a task file lacks a field (error names file and field)."""
    task_cfg = task_config(task)
    if "group" in task_cfg:
        missing = [f for f in GROUP_FIELDS if f not in task_cfg]
        if missing:
            raise ValueError(f"{task_yaml(task)}: group file lacks field(s) {missing}; "
                             f"expected {list(GROUP_FIELDS)}")
        for sub in task_cfg["task"]:
            validate_task(sub)
        return
    missing = [f for f in TASK_FIELDS if f not in task_cfg]
    if missing:
        raise ValueError(f"{task_yaml(task)}: task {task!r} lacks field(s) {missing}; expected "
                         f"all of {list(TASK_FIELDS)} (here or in its include)")


def eval_split(task: str) -> str:
    """The split the task is evaluated on (its ``test_split``; lm-eval's default ``test``)."""
    return task_config(task).get("test_split", "test")


def task_file_hashes(task: str) -> dict[str, str]:
    """sha256 of every pinned file defining ``task`` (its YAML, includes, subtasks)."""
    paths: set[Path] = set()

    def add(name: str) -> None:
        path = task_yaml(name)
        paths.add(path)
        task_cfg = _read_yaml(path)
        incs = task_cfg.get("include") or []
        for inc in [incs] if isinstance(incs, str) else incs:
            paths.add((path.parent / inc).resolve())
        if "group" in task_cfg:
            for sub in task_cfg["task"]:
                add(sub)

    add(task)
    return {str(p.relative_to(TASKS_DIR)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(paths)}

