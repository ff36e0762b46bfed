"""The native LLaDA2-MoE class against the teachers' own modelling code, and its mask by behaviour.

The fixture (tests/fixtures/llada2_reference, provenance in PROVENANCE.md) holds tiny random
weights saved under the hub's weight names and the logits the published modelling file
produced for them under transformers 5 (minimally patched outside this repo).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM
from transformers.modeling_attn_mask_utils import AttentionMaskConverter

from tide.models import load_teacher, load_teacher_model
from tide.models.llada2 import LLaDA2MoeForCausalLM, additive_mask
from tide.models.masks import bidirectional_mask

FIXTURE = Path(__file__).parent / "fixtures" / "llada2_reference"
REF = torch.load(FIXTURE / "reference.pt")
IMPLS = ("sdpa", "eager")


@pytest.mark.parametrize("impl", IMPLS)
def test_logits_equal_published_code(impl):
    """Same weights, same inputs: the published code's logits on every non-pad position."""
    teacher = load_teacher(str(FIXTURE), kind="bidirectional", mask_token_id=5,
                           attn_implementation=impl)
    assert isinstance(teacher.model, LLaDA2MoeForCausalLM)
    valid = REF["key_valid"]
    out = teacher.logits(REF["input_ids"], key_valid=valid)
    for key in ("logits_sdpa_additive", "logits_sdpa_cuda_branch", "logits_eager_keep"):
        torch.testing.assert_close(out[valid], REF[key][valid], rtol=0, atol=1e-5)


@pytest.mark.parametrize("impl", IMPLS)
def test_bf16_logits_equal_published_code(impl):
    """bf16 weights, as a teacher runs on GPU: the router in fp32, expert outputs weighted
    and summed in fp32 then cast back, rotary in fp32, exactly as published."""
    model = load_teacher_model(str(FIXTURE), dtype=torch.bfloat16, attn_implementation=impl)
    valid = REF["key_valid"]
    with torch.no_grad():
        out = model(input_ids=REF["input_ids"], attention_mask=bidirectional_mask(valid)).logits
    torch.testing.assert_close(out[valid], REF[f"logits_{impl}_bf16"][valid], rtol=0, atol=0)


def test_hub_format_loads_without_remote_code():
    """The fixture's config has the hub's auto_map but not its files (remote code could not
    load it): the teacher loader and AutoModelForCausalLM, with or without
    trust_remote_code, resolve model_type llada2_moe to the registered native class."""
    assert type(load_teacher_model(str(FIXTURE))) is LLaDA2MoeForCausalLM
    for trust in (False, True):
        assert type(AutoModelForCausalLM.from_pretrained(
            str(FIXTURE), trust_remote_code=trust)) is LLaDA2MoeForCausalLM
    model = AutoModelForCausalLM.from_pretrained(str(FIXTURE))
    assert not model.config.tie_word_embeddings
    assert model.model.layers[1].mlp.gate.expert_bias.abs().sum() > 0  # buffer loaded


@pytest.mark.parametrize("impl", IMPLS)
def test_mask_every_token_sees_every_other_and_no_pad(impl):
    """Change one token: every non-pad position moves; change a pad token: none does."""
    teacher = load_teacher(str(FIXTURE), kind="bidirectional", mask_token_id=5,
                           attn_implementation=impl)
    ids, valid = REF["input_ids"][1:].clone(), REF["key_valid"][1:]
    base = teacher.logits(ids, key_valid=valid)
    n_valid = int(valid.sum())
    for j in (0, n_valid // 2, n_valid - 1):
        changed = ids.clone()
        changed[0, j] = (changed[0, j] + 7) % 90 + 1
        moved = (teacher.logits(changed, key_valid=valid) - base).abs().amax(-1)[0]
        assert (moved[:n_valid] > 1e-4).all(), f"position {j} not seen by all: {moved}"
    changed = ids.clone()
    changed[0, n_valid:] = 17  # the pad *keys* carry other tokens: invisible to valid queries
    moved = (teacher.logits(changed, key_valid=valid) - base).abs().amax(-1)[0]
    assert moved[:n_valid].max() == 0


def test_boolean_and_additive_masks_agree_and_2d_is_refused():
    model = load_teacher_model(str(FIXTURE))
    valid = REF["key_valid"]
    keep = bidirectional_mask(valid)
    neg = torch.finfo(torch.float32).min
    float_mask = torch.zeros(keep.shape).masked_fill_(~keep, float("-inf"))  # authors' style
    with torch.no_grad():
        a = model(input_ids=REF["input_ids"], attention_mask=keep).logits
        b = model(input_ids=REF["input_ids"], attention_mask=float_mask).logits
        c = model(input_ids=REF["input_ids"], attention_mask=keep.float().masked_fill(~keep, neg)
                  .masked_fill(keep, 0.0)).logits
    assert torch.isfinite(b).all()
    torch.testing.assert_close(a[valid], b[valid], rtol=0, atol=1e-6)
    torch.testing.assert_close(a, c, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="2-D mask causal"):
        model(input_ids=REF["input_ids"], attention_mask=valid.long())


def test_mask_survives_the_cuda_only_sdpa_step():
    """transformers' sdpa mask preparation runs ``_unmask_unattended`` only on CUDA.

    Called directly: it rejects a boolean mask (why the published code raises on CUDA with
    one) and leaves the additive mask the native class builds unchanged (no fully blocked
    rows), so the CPU-tested mask is what a GPU run uses.
    """
    keep = bidirectional_mask(REF["key_valid"])
    with pytest.raises(ValueError, match="BoolTensor"):
        AttentionMaskConverter._unmask_unattended(keep, torch.finfo(torch.float32).min)
    m = additive_mask(keep, torch.float32)
    same = AttentionMaskConverter._unmask_unattended(m.clone(), torch.finfo(torch.float32).min)
    assert torch.equal(same, m)
    # a padding query row blocked everywhere is opened, not left to produce NaN
    blocked = torch.zeros(1, 1, 3, 3, dtype=torch.bool)
    blocked[..., :2, :2] = True
    assert (additive_mask(blocked, torch.float32)[0, 0, 2] == 0).all()


@pytest.mark.parametrize("impl", IMPLS)
def test_kv_cache_block_decoding_equals_full_forward(impl):
    """LLaDA2's own decoding is block-causal over a cached prefix (its published cache path
    calls DynamicCache.from_legacy_cache, gone in transformers 5). The native class takes
    any cache with update(k, v, layer): a prefix run, then a block run against the cache,
    gives the full block-causal forward's logits of that block."""
    from tide.models.kv import BlockKVCache

    model = load_teacher_model(str(FIXTURE), attn_implementation=impl)
    ids = REF["input_ids"][:1, :8]  # blocks of 4: prefix block 0, then block 1
    block = torch.arange(8) // 4
    keep = (block[None, :] <= block[:, None])[None, None]  # [1, 1, 8, 8]
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=keep).logits[:, 4:]
        cache = BlockKVCache(8)
        model.model(input_ids=ids[:, :4], attention_mask=keep[..., :4, :4],
                    position_ids=torch.arange(4)[None], past_key_values=cache)
        cache.commit()
        cached = model(input_ids=ids[:, 4:], attention_mask=keep[..., 4:, :],
                       position_ids=torch.arange(4, 8)[None], past_key_values=cache).logits
    torch.testing.assert_close(cached, full, rtol=0, atol=1e-5)
