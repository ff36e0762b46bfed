"""Training precision (issue 12 item 3, issue 10 item 10): bf16_pure (the authors', paper
default), bf16_mixed (fp32 master weights + bf16 autocast), fp32; float16 refused."""

from __future__ import annotations

import copy

import pytest
import torch
from test_train_objective import BLOCK, S_MASK, _collate, _rows

from tide import precision
from tide.config import ConfigError, load_config, validate_dict
from tide.distill.noise import diffusion_loss, student_forward
from tide.models.student import A2DQwen3Config, A2DQwen3LMHeadModel
from tide.train import TrainSettings, train


def _student(dtype):
    """A tiny student with the real initialisation: N(0, 0.02) weights, RMSNorm weights 1."""
    torch.manual_seed(0)
    cfg = A2DQwen3Config(vocab_size=48, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                         block_size=BLOCK, mask_token_id=S_MASK, max_position_embeddings=128,
                         initializer_range=0.02)
    return A2DQwen3LMHeadModel(cfg).to(precision.weights_dtype(dtype))


def _changed(before: dict, model) -> dict:
    """Share of entries that changed, for RMSNorm weights and for the matrices."""
    out = {"norm": [0, 0], "matrix": [0, 0]}
    for name, p in model.named_parameters():
        kind = "norm" if "norm" in name else "matrix"
        out[kind][0] += int((p.detach() != before[name]).sum())
        out[kind][1] += p.numel()
    return {k: a / b for k, (a, b) in out.items()}


def _train(prec, tmp_path, steps=5, lr=5e-5):
    model = _student(prec)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    summary = train(model, _rows(6), _collate("B"),
                    lambda m, b, p, g: diffusion_loss(student_forward(BLOCK), S_MASK)(m, b, None, g),
                    TrainSettings(steps=steps, lr=lr, batch_size=3, warmup_ratio=0.0,
                                  checkpoint_every=100, precision=prec),
                    state_dir=tmp_path / prec, log_path=tmp_path / f"{prec}.jsonl")
    return _changed(before, model), summary, model


def test_pure_bf16_drops_small_updates_and_mixed_keeps_them(tmp_path):
    """5 AdamW steps at the paper's peak lr 5e-5: in pure bf16 no RMSNorm weight (≈ 1, half
    an ulp 2^-8 ≫ 5e-5) moves and only the small N(0, 0.02) weights do; with fp32 master
    weights (bf16_mixed) and in fp32 essentially every weight moves."""
    pure, s_pure, m_pure = _train("bf16_pure", tmp_path)
    mixed, s_mixed, m_mixed = _train("bf16_mixed", tmp_path)
    assert pure["norm"] == 0.0
    assert 0.3 < pure["matrix"] < 0.8  # |w| < 2^-6 moves: ≈ 57 % of N(0, 0.02)
    assert mixed["norm"] > 0.99 and mixed["matrix"] > 0.99
    assert {p.dtype for p in m_pure.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in m_mixed.parameters()} == {torch.float32}  # master weights
    assert s_pure["precision"] == "bf16_pure" and s_mixed["precision"] == "bf16_mixed"


def test_mixed_precision_runs_the_forward_in_bf16_with_fp32_gradients(tmp_path):
    model = _student("bf16_mixed")
    seen = {}

    def loss_fn(m, b, p, g):
        loss, logs = diffusion_loss(student_forward(BLOCK), S_MASK)(m, b, None, g)
        seen["matmul"] = m.lm_head(torch.ones(1, 64, device="cpu")).dtype
        return loss, logs

    train(model, _rows(6), _collate("B"), loss_fn,
          TrainSettings(steps=1, lr=1e-3, batch_size=3, checkpoint_every=100,
                        precision="bf16_mixed"),
          state_dir=tmp_path / "s", log_path=tmp_path / "m.jsonl")
    assert seen["matmul"] == torch.bfloat16
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in model.parameters())


def test_weights_in_the_wrong_dtype_for_the_precision_are_refused(tmp_path):
    with pytest.raises(ValueError, match="expected trainable weights in torch.float32"):
        train(_student("bf16_pure"), _rows(6), _collate("B"), None,
              TrainSettings(steps=1, lr=1e-3, batch_size=3, precision="bf16_mixed"),
              state_dir=tmp_path / "s", log_path=tmp_path / "m.jsonl")


def test_config_precision_paper_default_and_float16_refused():
    paper, tiny = load_config("config/paper.yaml"), load_config("config/tiny.yaml")
    assert paper.precision == "bf16_pure" and tiny.precision == "fp32"
    raw = copy.deepcopy(tiny.raw)
    raw["train"]["precision"] = "fp16"
    with pytest.raises(ConfigError, match="field train.precision"):
        validate_dict(raw, "x.yaml")
    raw = copy.deepcopy(tiny.raw)
    del raw["train"]
    raw["dtype"] = "float16"
    with pytest.raises(ConfigError, match="train.precision: dtype 'float16' would train"):
        validate_dict(raw, "x.yaml")
    raw["dtype"] = "bfloat16"
    assert validate_dict(raw, "x.yaml").precision == "bf16_pure"  # what bfloat16 always meant
