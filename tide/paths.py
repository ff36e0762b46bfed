"""Every result path of the workflow, computed in one place.

Snakemake rules and the ``tide`` CLI both use these functions, so a path never drifts
between the wiring and the code. ``root`` is the results directory (default ``results``).
Resumable training state lives under ``state/`` — beside, not inside, a rule's declared
outputs — so Snakemake's cleanup of a failed job never deletes it.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path("results")


def _r(root: str | Path | None) -> Path:
    return Path(root) if root is not None else ROOT


def corpus(split: str, root=None) -> Path:
    return _r(root) / "data" / "corpus" / f"{split}.jsonl"


def tokenizers_dir(root=None) -> Path:
    return _r(root) / "data" / "tokenizers"


def tokenizer(name: str, root=None) -> Path:
    """name: student | teacher_a | teacher_b."""
    return tokenizers_dir(root) / name


def tokenizers_summary(root=None) -> Path:
    return tokenizers_dir(root) / "tokenizers.json"


def dataset(kind: str, split: str, root=None) -> Path:
    """kind: sft (student only) | A | B (distillation pipelines)."""
    return _r(root) / "data" / kind / split


def eval_data(benchmark: str, root=None) -> Path:
    """Tiny offline items of one benchmark: a directory of ``<lm-eval task>.jsonl``."""
    return _r(root) / "data" / "eval" / benchmark


def model(name: str, root=None) -> Path:
    """name: ar | bd3lm | teacher_A | teacher_B."""
    return _r(root) / "models" / name


def model_metrics(name: str, root=None) -> Path:
    return _r(root) / "models" / f"{name}.json"


def teacher_check(pipeline: str, root=None) -> Path:
    """A trained tiny teacher's held-out bits/byte against the SFT student's (checked before
    distillation)."""
    return _r(root) / "models" / f"teacher_{pipeline}.check.json"


def run_dir(pipeline: str, run: str, root=None, seed: int = 0) -> Path:
    """A run's outputs; ``seed`` k > 0: its repeat with training seed ``seed + k`` (held-out
    spread), kept apart under ``seeds/`` so run discovery never mistakes it for a run."""
    if seed:
        return _r(root) / "seeds" / pipeline / run / f"seed{seed}"
    return _r(root) / "runs" / pipeline / run


def run_model(pipeline: str, run: str, root=None, seed: int = 0) -> Path:
    return run_dir(pipeline, run, root, seed) / "model"


def run_summary(pipeline: str, run: str, root=None, seed: int = 0) -> Path:
    return run_dir(pipeline, run, root, seed) / "run.json"


def run_log(pipeline: str, run: str, root=None) -> Path:
    return run_dir(pipeline, run, root) / "metrics.jsonl"


def heldout_metrics(model_id: str, root=None, seed: int = 0) -> Path:
    """Held-out NLL / divergence of one model (per example), ``tide heldout``."""
    return _r(root) / "heldout" / (f"{model_id}.seed{seed}.json" if seed else f"{model_id}.json")


def state_dir(kind: str, name: str, root=None) -> Path:
    """Resumable training state (never a declared output)."""
    return _r(root) / "state" / kind / name


def eval_dir(model_id: str, benchmark: str, root=None) -> Path:
    return _r(root) / "eval" / model_id / benchmark


def eval_score(model_id: str, benchmark: str, root=None) -> Path:
    return eval_dir(model_id, benchmark, root) / "score.json"


def eval_gen_dir(model_id: str, benchmark: str, root=None) -> Path:
    """Stored generations of one evaluation: per-shard stores (resumable, never declared
    outputs, so a failed job keeps them), their ``.done.json`` and the merged store."""
    return _r(root) / "eval_gen" / model_id / benchmark


def eval_shard_done(model_id: str, benchmark: str, shard: int | str, shards: int | str,
                    root=None) -> Path:
    return eval_gen_dir(model_id, benchmark, root) / f"shard-{shard}-of-{shards}.done.json"


def eval_generations(model_id: str, benchmark: str, root=None) -> Path:
    return eval_gen_dir(model_id, benchmark, root) / "generations.jsonl"


def ablation_rows(model_id: str, root=None) -> Path:
    return _r(root) / "ablations" / f"{model_id}.csv"


def scores_csv(root=None) -> Path:
    return _r(root) / "scores.csv"


def log(rule: str, name: str, root=None) -> Path:
    return _r(root) / "logs" / rule / f"{name}.log"


def benchmark_file(rule: str, name: str, root=None) -> Path:
    return _r(root) / "benchmarks" / rule / f"{name}.tsv"
