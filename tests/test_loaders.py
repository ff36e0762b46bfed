"""The training loaders on checkpoints in the released formats (issue 10, item 2)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_sampler import make_student, make_tokenizer  # noqa: E402

from tide.models.build import load_student  # noqa: E402


def released_format(tmp_path):
    """A tiny student saved as the released a2d-qwen3 config: no mask_token_id, no block_size."""
    from safetensors.torch import save_file

    tok = make_tokenizer()
    ours = make_student(tok, block_size=8)
    cfg = ours.config.to_dict()
    for key in ("block_size", "mask_token_id", "transformers_version", "dtype", "torch_dtype"):
        cfg.pop(key, None)
    cfg.update(model_type="a2d-qwen3", architectures=["A2DQwen3LMHeadModel"])
    d = tmp_path / "released"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    save_file({k: v.clone().contiguous() for k, v in ours.state_dict().items()},
              str(d / "model.safetensors"), metadata={"format": "pt"})
    tok.save_pretrained(d)
    return d, tok, ours


def test_training_loader_reads_mask_id_from_tokenizer(tmp_path):
    d, tok, ours = released_format(tmp_path)
    assert "mask_token_id" not in json.loads((d / "config.json").read_text())
    for tokenizer in (tok, str(d)):  # a tokenizer object or its path
        model = load_student(str(d), tokenizer=tokenizer)
        assert model.config.mask_token_id == tok.convert_tokens_to_ids("<|mask|>")
        assert model.config.block_size == 32  # dllm's default, not the saved student's 8
        x = torch.randint(0, len(tok), (1, 10))
        with torch.no_grad():
            assert torch.equal(model(input_ids=x).logits, ours(input_ids=x).logits)


def test_training_loader_names_checkpoint_and_field_when_no_mask_anywhere(tmp_path):
    d, _, _ = released_format(tmp_path)
    with pytest.raises(ValueError, match=r"released'.*no field mask_token_id.*no tokenizer"):
        load_student(str(d))
