"""``tide distill`` (stages.distill) end to end on a hand-made results root: the training
switches of issue 12 (precision, activation checkpointing, the scored teacher LM head),
lazy rows and the run record, without running the whole tiny DAG."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import datasets
import pytest
import torch

from tide import paths, stages
from tide.bench.distill import synthetic_rows
from tide.config import load_config, validate_dict
from tide.io import atomic_write_json
from tide.models.build import build_dense
from tide.models.student import A2DQwen3Config, A2DQwen3LMHeadModel

FIX = Path(__file__).parent / "fixtures" / "tokenizers"
TOKS = json.loads((FIX / "tokenizers.json").read_text())  # the fixture tokenizers' sizes and ids
DIMS = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=64)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    torch.manual_seed(0)
    student = A2DQwen3LMHeadModel(A2DQwen3Config(
        vocab_size=TOKS["student"]["vocab_size"], head_dim=8, block_size=32,
        mask_token_id=TOKS["student"]["mask_token_id"], max_position_embeddings=512, **DIMS))
    student.save_pretrained(root / "student")
    build_dense(TOKS["teacher_b"]["vocab_size"], DIMS, max_positions=512).save_pretrained(
        root / "teacher_b")
    atomic_write_json(paths.tokenizers_summary(root), TOKS)
    atomic_write_json(paths.model_metrics("bd3lm", root), {"path": str(root / "student")})
    atomic_write_json(paths.model_metrics("teacher_B", root), {"path": str(root / "teacher_b")})
    rows = synthetic_rows(8, 48, 500)
    for r in rows:
        r["teacher_labels"] = [-100] * 2 + r["labels"]
    datasets.Dataset.from_list(rows).save_to_disk(str(paths.dataset("B", "train", root)))
    return root


def _config(**train):
    raw = copy.deepcopy(load_config("config/tiny.yaml").raw)
    raw["tokenizers"] = {"student": str(FIX / "student"), "teacher_a": str(FIX / "teacher_a"),
                         "teacher_b": str(FIX / "teacher_b")}
    raw["shared_vocab_size"] = TOKS["shared_vocab_size"]
    raw["models"]["teachers"]["B"]["mask_token_id"] = TOKS["teacher_b"]["mask_token_id"]
    raw["data"]["max_length"], raw["data"]["teacher_max_length"]["B"] = 64, 64
    raw["distill"]["defaults"].update(steps=2, batch_size=2, checkpoint_every=2)
    raw["train"] = {"precision": "fp32", **train}
    return validate_dict(raw, "test.yaml")


@pytest.mark.parametrize("train", [
    {},
    {"precision": "bf16_mixed", "activation_checkpointing": True, "teacher_lm_head": "scored"},
    {"precision": "bf16_pure"},
])
def test_a_distillation_run_records_its_training_switches(root, train):
    cfg = _config(**train)
    out = paths.run_dir("B", "tide_shared", root)
    state = paths.state_dir("runs", "B_tide_shared", root)
    for d in (out, state):  # each case is its own run
        if d.exists():
            import shutil

            shutil.rmtree(d)
    stages.distill(cfg, "B", "tide_shared", root)
    rec = json.loads((out / "run.json").read_text())
    assert rec["precision"] == cfg.precision == rec["train"]["precision"]
    assert rec["train_switches"] == {"precision": cfg.precision, **train}
    assert rec["train"]["steps"] == 2 and rec["final"]["loss"] == rec["final"]["loss"]  # not NaN
    saved = json.loads((out / "model" / "config.json").read_text())
    want = "bfloat16" if cfg.precision == "bf16_pure" else "float32"
    assert saved.get("dtype", saved.get("torch_dtype")) == want
