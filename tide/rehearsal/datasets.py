"""Stand-in dataset repositories: parquet files + a dataset card with a ``configs:`` block.

Every evaluation dataset is written under the id, config names and split that our task
YAMLs request (tide/eval/tasks/*.yaml), with rows in the real schema (tide/eval/tiny_data);
a group benchmark's configs all get rows. The authors' pre-tokenized SFT sets are
tokenized here with the stand-in tokenizers, in their published columns.
"""

from __future__ import annotations

from pathlib import Path

import yaml

#: repositories with one named config that the task YAMLs read without naming it
REAL_ONLY_CONFIG = {"openai/openai_humaneval": "openai_humaneval"}
CARD_HEADER = "# Rehearsal stand-in (tide rehearsal-hub): generated rows, not the real data\n"


def write_parquet_repo(out: Path, configs: dict[str | None, dict[str, list[dict]]], *,
                       layout: str = "config") -> None:
    """``out/<config>/<split>-00000-of-00001.parquet`` (``layout="data"``: ``data/``) + card."""
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    card = []
    for name, splits in configs.items():
        folder = "data" if layout == "data" else (name or "data")
        files = []
        for split, rows in splits.items():
            rel = f"{folder}/{split}-00000-of-00001.parquet"
            (out / folder).mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows).to_parquet(out / rel, index=False)
            files.append({"split": split, "path": f"{folder}/{split}-*"})
        card.append({"config_name": name or "default", "data_files": files})
    front = yaml.safe_dump({"configs": card}, sort_keys=False)
    (out / "README.md").write_text(f"---\n{front}---\n{CARD_HEADER}")


def eval_requests() -> dict[str, dict[str | None, str]]:
    """``{dataset_path: {dataset_name: test_split}}`` over every task YAML (incl. subtasks)."""
    from tide.eval.taskfiles import eval_split, task_config, task_index

    out: dict[str, dict[str | None, str]] = {}
    for task in task_index():
        task_cfg = task_config(task)
        if "group" in task_cfg:
            continue
        by_name = out.setdefault(task_cfg["dataset_path"], {})
        by_name[task_cfg.get("dataset_name")] = eval_split(task)
    return out


def _rows_by_task(n: int, seed: int) -> dict[str, list[dict]]:
    from tide.eval.benchmarks import BENCHMARKS
    from tide.eval.tiny_data import tiny_items

    rows: dict[str, list[dict]] = {}
    for name in BENCHMARKS:
        rows.update(tiny_items(name, n, seed))
    return rows


def eval_repos(n: int = 4, seed: int = 1234) -> dict[str, dict[str | None, dict[str, list]]]:
    """``{hub id: {config: {split: rows}}}`` for every dataset the task YAMLs request."""
    from tide.eval.taskfiles import eval_split, task_config, task_index

    by_task = _rows_by_task(n, seed)
    repos: dict[str, dict] = {}
    for task in task_index():
        task_cfg = task_config(task)
        if "group" in task_cfg:
            continue
        rows = by_task.get(task)
        if rows is None:  # a subtask without generated items: a sibling's rows, same schema
            family = "_".join(task.split("_")[:2]) + "_"  # tide_bbh_, tide_minerva_
            rows = next(r for t, r in by_task.items() if t.startswith(family))
        name = task_cfg.get("dataset_name") or REAL_ONLY_CONFIG.get(task_cfg["dataset_path"])
        repos.setdefault(task_cfg["dataset_path"], {})[name] = {eval_split(task): rows}
    return repos


def pretokenized_rows(pipeline: str, student_tok, teacher_tok, n: int, seed: int,
                      max_length: int) -> list[dict]:
    """The authors' published columns for ``pipeline`` (no ``chunks``: that column is ours)."""
    from tide.data.build import build_pipeline_dataset
    from tide.data.corpus import make_corpus

    convs = make_corpus(n, 1, seed)["train"]
    ds = build_pipeline_dataset(convs, student_tok, teacher_tok, pipeline,
                                max_length=max_length, authors_only=True)
    return ds.to_list()
