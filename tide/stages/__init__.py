"""The workflow's stages: one function per ``tide`` subcommand (and per Snakemake rule), in
one module per ``workflow/rules/*.smk`` file; ``common`` resolves what they share.

Each stage reads declared inputs under ``root`` (default ``results/``) and writes its
declared outputs atomically. Models are referenced through a small JSON "pointer" file,
``results/models/{name}.json``, whose ``path`` is a local directory on the tiny path and a
hub id on a cluster (config/paper.yaml), so downstream stages never care which.
"""

from tide.stages.ablations import ablation_rows
from tide.stages.common import _rows
from tide.stages.data import corpus, dataset, eval_data, tokenizers
from tide.stages.distill import check_compatible, distill, enable_activation_checkpointing
from tide.stages.eval import (collect_scores, eval_generate, eval_merge, eval_plan, eval_score,
                              evaluate)
from tide.stages.eval_model import eval_model
from tide.stages.models import check_teacher, sft_student, train_ar, train_teacher
from tide.stages.report import report

__all__ = ["_rows", "ablation_rows", "check_compatible", "check_teacher", "collect_scores", "corpus", "dataset",
           "distill", "enable_activation_checkpointing", "eval_data", "eval_generate",
           "eval_merge", "eval_model", "eval_plan", "eval_score", "evaluate", "report",
           "sft_student", "tokenizers", "train_ar", "train_teacher"]
