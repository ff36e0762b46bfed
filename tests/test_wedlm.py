"""The WeDLM (pipeline B) teacher as native Qwen3 against WeDLM's own modelling code, and its
BD3LM mask by behaviour (issue 10, item 1).

The fixture (tests/fixtures/wedlm_reference, PROVENANCE.md) holds tiny random weights under
WeDLM's weight names, a hub-style config.json (model_type wedlm, auto_map to files it does not
contain) and the logits WeDLM's remote code gave under the authors' dict mask.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, Qwen3ForCausalLM

from tide.models import load_teacher
from tide.models.wedlm import qwen3_config

FIXTURE = Path(__file__).parent / "fixtures" / "wedlm_reference"
REF = torch.load(FIXTURE / "reference.pt")
IMPLS = ("sdpa", "eager")


def _teacher(impl):
    return load_teacher(str(FIXTURE), kind="bd3lm", mask_token_id=REF["mask_id"],
                        block_size=REF["block_size"], concat_order="x0_xt",
                        attn_implementation=impl)


@pytest.mark.parametrize("impl", IMPLS)
def test_logits_equal_wedlm_code_under_the_authors_dict_mask(impl):
    teacher = _teacher(impl)
    assert type(teacher.model) is Qwen3ForCausalLM
    valid = REF["key_valid"]
    out = teacher.logits(REF["xt"], REF["x0"], valid)
    with teacher.shared_clean(REF["x0"], valid):  # CompDemo's shared x_0 prefix path
        shared = teacher.logits(REF["xt"], REF["x0"], valid)
    for key in ("logits_sdpa", "logits_eager"):
        torch.testing.assert_close(out[valid], REF[key][valid], rtol=0, atol=1e-5)
        torch.testing.assert_close(shared[valid], REF[key][valid], rtol=0, atol=1e-5)


@pytest.mark.parametrize("impl", IMPLS)
def test_bf16_logits_equal_wedlm_code(impl):
    """bf16 weights, as the teacher runs on GPU: bit-equal, full and shared-prefix passes."""
    teacher = load_teacher(str(FIXTURE), kind="bd3lm", mask_token_id=REF["mask_id"],
                           block_size=REF["block_size"], dtype=torch.bfloat16,
                           attn_implementation=impl)
    valid = REF["key_valid"]
    out = teacher.logits(REF["xt"], REF["x0"], valid)
    with teacher.shared_clean(REF["x0"], valid):
        shared = teacher.logits(REF["xt"], REF["x0"], valid)
    for got in (out, shared):
        torch.testing.assert_close(got[valid], REF[f"logits_{impl}_bf16"][valid].float(), rtol=0,
                                   atol=0)


def test_remote_code_is_never_run():
    """The fixture's auto_map points at files it does not have: remote code cannot load it,
    the teacher loader does (it never executes a checkpoint's WeDLM code)."""
    with pytest.raises(Exception):
        AutoModelForCausalLM.from_pretrained(str(FIXTURE), trust_remote_code=True)
    assert type(_teacher("sdpa").model) is Qwen3ForCausalLM


@pytest.mark.parametrize("impl", IMPLS)
def test_bd3lm_teacher_mask_by_behaviour(impl):
    """Who sees a changed token, in [x_0 ; x_t] with block 8 (two blocks of 16 tokens):
    a clean token of block 0 is seen by x_t block 1 only; a noised token by its own x_t block
    only; the visible EOS block padding by its block; batch padding by nobody."""
    teacher = _teacher(impl)
    x0, xt, valid = REF["x0"].clone(), REF["xt"].clone(), REF["key_valid"]
    base = teacher.logits(xt, x0, valid)

    def moved(x0_new, xt_new, row):
        diff = (teacher.logits(xt_new, x0_new, valid) - base).abs().amax(-1)[row]
        return (diff > 1e-5).tolist()

    blk0, blk1 = [True] * 8 + [False] * 8, [False] * 8 + [True] * 8
    changed = x0.clone()
    changed[0, 2] = 50
    assert moved(changed, xt, 0) == blk1  # clean past: only later x_t blocks
    changed = xt.clone()
    changed[0, 10] = 50
    assert moved(x0, changed, 0) == blk1  # noised: its own block, both directions
    changed = xt.clone()
    changed[0, 2] = 50
    assert moved(x0, changed, 0) == blk0
    eos_x0, eos_xt = x0.clone(), xt.clone()
    eos_x0[1, 7], eos_xt[1, 7] = 50, 50  # row 1's EOS block padding: valid, visible
    assert moved(eos_x0, eos_xt, 1)[:7] == [True] * 7
    pad_x0, pad_xt = x0.clone(), xt.clone()
    pad_x0[1, 12], pad_xt[1, 12] = 50, 50  # batch padding: invisible to valid rows
    assert not any(moved(pad_x0, pad_xt, 1)[:8])


def test_config_qwen3_cannot_reproduce_is_refused():
    raw = json.loads((FIXTURE / "config.json").read_text())
    assert qwen3_config(raw, "x").head_dim == raw["head_dim"]
    with pytest.raises(ValueError, match=r"tencent/WeDLM.*qk_norm: expected true"):
        qwen3_config({**raw, "qk_norm": False}, "tencent/WeDLM-8B-Instruct")
    with pytest.raises(ValueError, match="attention_bias: expected false"):
        qwen3_config({k: v for k, v in raw.items() if k != "attention_bias"}, "x")
    with pytest.raises(ValueError, match="use_sliding_window"):
        qwen3_config({**raw, "use_sliding_window": True}, "x")


@pytest.mark.parametrize("impl", IMPLS)
def test_qwen3_mask_preparation_returns_our_4d_mask_untouched(impl):
    """transformers' Qwen3 builds its mask with masking_utils.create_causal_mask, which
    returns a given 4-D mask as-is on every device (no CUDA-only step, unlike the
    _unmask_unattended path of older remote code): the mask tested here on CPU is the
    mask a GPU run uses."""
    from transformers.masking_utils import create_causal_mask

    from tide.models.masks import bd3lm_mask, to_model_mask, with_key_padding

    model = _teacher(impl).model
    valid = REF["key_valid"]
    mask = with_key_padding(bd3lm_mask(16, 8, xt_first=False), valid.repeat(1, 2))
    ours = to_model_mask(mask, impl, model.dtype)
    embeds = torch.zeros(2, 32, model.config.hidden_size)
    got = create_causal_mask(model.config, embeds, ours, None,
                             position_ids=torch.arange(16).repeat(2)[None].expand(2, -1))
    assert got is ours
