"""One model's whole evaluation in one process (``eval.per_model``; workflow/rules/eval.smk).

On the tiny default a (model, benchmark) job of the staged path spends most of its time
starting Python and importing torch, transformers and lm-eval (~5 s per process), and the
staged path runs three processes per (model, benchmark): generate (per shard), merge,
score. With ``eval.per_model: true`` one job per model runs, for each of its benchmarks, the
same three stages (``tide.stages.eval``: every shard's generation, the merge, the scoring)
in one process, so it writes exactly the staged path's files — shard stores and their
``.done.json``, the merged store and its manifest, the evaluation directory with
``score.json`` — and everything downstream reads them alike (tests/test_eval_per_model.py
compares the score.json of both paths). The paper config keeps the staged rules: there a
(model, benchmark) shard is hours of GPU time and is sized, retried and resumed on its own.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tide import paths
from tide.config import Config

log = logging.getLogger(__name__)


def eval_model(cfg: Config, model_id: str, benchmarks: list[str], root=None) -> list[Path]:
    """Generate (every shard k/K of ``tide.plan.eval_shards``), merge and score each of
    ``benchmarks`` for ``model_id``; returns the score.json paths, in order. A retry reuses
    the generation stores of the benchmarks already generated (as the staged path's)."""
    from tide.plan import eval_shards
    from tide.stages.eval import eval_generate, eval_merge, eval_score

    unknown = [b for b in benchmarks if b not in cfg.tree.eval.benchmarks
               and b not in (cfg.tree.eval.ablation_benchmarks or ())]
    if unknown:
        raise ValueError(f"{cfg.source}: eval-model {model_id}: benchmarks {unknown} are in "
                         f"neither eval.benchmarks nor eval.ablation_benchmarks")
    out = []
    for bench in benchmarks:
        n = eval_shards(cfg, bench)
        for k in range(n):
            eval_generate(cfg, model_id, bench, f"{k}/{n}", root)
        eval_merge(model_id, bench, [str(paths.eval_shard_done(model_id, bench, k, n, root))
                                     for k in range(n)], root)
        eval_score(cfg, model_id, bench, root)
        out.append(paths.eval_score(model_id, bench, root))
        log.info("eval-model %s: %s scored (%d shard(s))", model_id, bench, n)
    return out
