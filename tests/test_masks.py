"""Attention masks tested by behaviour: change a token, check who sees it.

Run on every attention implementation the config allows (notes: `eager` with a boolean
mask is silently wrong, so the code converts it; these tests would catch a regression).
"""

import pytest
import torch

from tide.models.build import build_dense, build_moe
from tide.models.masks import ALLOWED_ATTN_IMPLEMENTATIONS, bd3lm_mask
from tide.models.student import A2DQwen3Config, A2DQwen3LMHeadModel, bd3lm_logits
from tide.models.teachers import Teacher

V, L, B = 40, 12, 4  # vocab, length, block size (3 blocks)
DIMS = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=64, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32)


def _changed(a: torch.Tensor, b: torch.Tensor) -> list[int]:
    """Positions whose output changed: [L] of 0/1."""
    return ((a - b).abs().amax(-1)[0] > 1e-6).int().tolist()


@pytest.fixture(params=ALLOWED_ATTN_IMPLEMENTATIONS)
def student(request):
    torch.manual_seed(0)
    cfg = A2DQwen3Config(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=8, block_size=B,
                         mask_token_id=V - 1, max_position_embeddings=64)
    cfg._attn_implementation = request.param
    return A2DQwen3LMHeadModel(cfg).eval()


def _inputs():
    g = torch.Generator().manual_seed(1)
    x0 = torch.randint(0, V - 1, (1, L), generator=g)
    xt = x0.clone()
    xt[0, [1, 5, 9]] = V - 1
    return x0, xt


def test_mask_matches_spec_formula():
    """allowed(q,k) from docs/method.md §E1, enumerated by hand for L=4, B=2."""
    m = bd3lm_mask(4, 2).int()
    expected = torch.tensor([
        # x_t block0 | x_t block1 | x_0 block0 | x_0 block1
        [1, 1, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 0, 0],
        [0, 0, 1, 1, 1, 1, 0, 0],
        [0, 0, 1, 1, 1, 1, 0, 0],
        [0, 0, 0, 0, 1, 1, 0, 0],
        [0, 0, 0, 0, 1, 1, 0, 0],
        [0, 0, 0, 0, 1, 1, 1, 1],
        [0, 0, 0, 0, 1, 1, 1, 1],
    ])
    assert torch.equal(m, expected)


@torch.no_grad()
def test_student_xt_sees_own_block_only(student):
    x0, xt = _inputs()
    base = bd3lm_logits(student, xt, x0)
    xt2 = xt.clone()
    xt2[0, 6] = 3  # a token of block 1 in the noisy half
    assert _changed(base, bd3lm_logits(student, xt2, x0)) == [0] * 4 + [1] * 4 + [0] * 4


@torch.no_grad()
def test_student_clean_tokens_visible_to_later_blocks_only(student):
    x0, xt = _inputs()
    base = bd3lm_logits(student, xt, x0)
    x02 = x0.clone()
    x02[0, 6] = (x0[0, 6] + 1) % (V - 1)  # clean block 1: only x_t block 2 may see it
    assert _changed(base, bd3lm_logits(student, xt, x02)) == [0] * 8 + [1] * 4


@pytest.mark.parametrize("attn", ALLOWED_ATTN_IMPLEMENTATIONS)
@torch.no_grad()
def test_teacher_b_x0_xt_layout(attn):
    """Pipeline B teacher: [x_0 ; x_t], block mask overrides causal, logits from x_t half."""
    model = build_dense(V, DIMS, attn_implementation=attn, max_positions=64)
    teacher = Teacher(model, "bd3lm", V - 1, block_size=B, concat_order="x0_xt")
    x0, xt = _inputs()
    base = teacher.logits(xt, x0)
    xt2 = xt.clone()
    xt2[0, 2] = 5  # a later token inside block 0: block-internal attention is bidirectional
    assert _changed(base, teacher.logits(xt2, x0)) == [1] * 4 + [0] * 8
    x02 = x0.clone()
    x02[0, 1] = (x0[0, 1] + 1) % (V - 1)
    assert _changed(base, teacher.logits(xt, x02)) == [0] * 4 + [1] * 8
    # padding: a padded key changes nothing for the others
    valid = torch.ones_like(x0, dtype=torch.bool)
    valid[0, 11] = False
    a = teacher.logits(xt, x0, key_valid=valid)
    xt3 = xt.clone()
    xt3[0, 11] = 7
    assert _changed(a, teacher.logits(xt3, x0, key_valid=valid))[:11] == [0] * 11


@pytest.mark.parametrize("attn", ALLOWED_ATTN_IMPLEMENTATIONS)
@torch.no_grad()
def test_teacher_a_bidirectional_blocks_only_padding(attn):
    model = build_moe(V, DIMS, attn_implementation=attn, max_positions=64)
    teacher = Teacher(model, "bidirectional", V - 1)
    x0, xt = _inputs()
    valid = torch.ones_like(x0, dtype=torch.bool)
    valid[0, 10:] = False
    base = teacher.logits(xt, key_valid=valid)
    xt2 = xt.clone()
    xt2[0, 9] = 4  # the last real token: everyone sees it (fully bidirectional)
    assert _changed(base, teacher.logits(xt2, key_valid=valid))[:10] == [1] * 10
    xt3 = xt.clone()
    xt3[0, 11] = 4  # a padding token: nobody real sees it
    assert _changed(base, teacher.logits(xt3, key_valid=valid))[:10] == [0] * 10


def test_eager_with_boolean_mask_is_wrong_without_conversion():
    """Documents why to_model_mask exists: passing the bool mask to eager leaks blocks."""
    torch.manual_seed(0)
    cfg = A2DQwen3Config(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=8, block_size=B,
                         mask_token_id=V - 1, max_position_embeddings=64)
    cfg._attn_implementation = "eager"
    model = A2DQwen3LMHeadModel(cfg).eval()
    x0, xt = _inputs()
    ids = torch.cat([xt, x0], 1)
    pos = torch.arange(L).repeat(2)[None]
    raw = bd3lm_mask(L, B)[None, None]
    with torch.no_grad():
        a = model(input_ids=ids, attention_mask=raw, position_ids=pos).logits[:, :L]
        ids2 = ids.clone()
        ids2[0, 6] = 3
        b = model(input_ids=ids2, attention_mask=raw, position_ids=pos).logits[:, :L]
    assert _changed(a, b)[:4] != [0] * 4  # block 0 wrongly sees block 1
