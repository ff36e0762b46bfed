"""Evaluation: the lm-eval model class, task YAMLs and the offline data route.

- ``tide.eval.benchmarks``: the protocol table of student_and_eval.md §4 (import-light).
- ``tide.eval.lm``: ``tide_bd3lm``, the BD3LM student as an lm-eval ``LM`` (imports lm-eval).
- ``tide.eval.run``: ``evaluate(...)`` → results.json, samples.jsonl, score.json.
- ``tide/eval/tasks/*.yaml``: our task definitions (the single source of truth; offline runs
  only swap the data source).

Nothing here imports lm-eval at package import time.
"""
