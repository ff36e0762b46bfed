"""Fast sampler paths (tide/sample.py) against the plain one (``cache="off"``).

The KV-cached paths must give the plain path's logits (up to float rounding) and therefore
its greedy tokens, with left padding, batch > 1, a partial last block and EOS stopping;
confidence-threshold decoding must commit at least one token per step and reduce to the
fixed schedule in its limits.
"""

from __future__ import annotations

import pytest
import torch

from test_sampler import chat_prompt, make_student, student, tok  # noqa: F401 (fixtures)
from tide.models.kv import BlockKVCache
from tide.models.prefix import CachedPrefix, block_logits, left_pad, prepare_block
from tide.sample import SamplerSettings, generate


@pytest.fixture(scope="module")
def prompts(tok):
    texts = ["Hi", "Tom has 3 apples and buys 4 more. How many apples does Tom have?",
             "What is the capital of France?\nA. Paris\nB. Rome\nC. Oslo\nD. Lima\nAnswer:"]
    ids = [chat_prompt(tok, t) for t in texts]
    assert len({len(p) for p in ids}) == 3  # different left padding per row
    return ids


def _ids(tok):
    return dict(mask_id=tok.convert_tokens_to_ids("<|mask|>"), pad_id=tok.pad_token_id,
                eos_ids={tok.eos_token_id})


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_cached_block_logits_equal_full_recomputation(tok, prompts, attn):
    """Step logits against the cache == logits of the whole sequence, block after block."""
    model = make_student(tok, attn_implementation=attn)
    B, n = 8, 8
    x, valid = left_pad(prompts, tok.pad_token_id, B, "cpu")
    cached = CachedPrefix(model, x, valid, B, capacity=x.shape[1] + 3 * n)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        block = torch.randint(0, len(tok), (len(prompts), n), generator=gen)
        before = cached.cache.committed
        full = block_logits(model, prepare_block(model, x, valid, n, B), block)
        fast = cached.logits(block)
        torch.testing.assert_close(fast, full, atol=1e-4, rtol=1e-4)
        some = torch.rand(block.shape, generator=gen) < 0.5  # LM head on still-masked slots only
        torch.testing.assert_close(cached.logits(block, some)[some], full[some], atol=1e-4, rtol=1e-4)
        cached.logits(block.flip(1))  # a trial step: must not change what the cache keeps
        assert cached.cache.committed == before
        torch.testing.assert_close(cached.logits(block), full, atol=1e-4, rtol=1e-4)
        cached.append(block)
        assert cached.cache.committed == before + n
        x = torch.cat([x, block], 1)
        valid = torch.cat([valid, valid.new_ones(block.shape)], 1)


@pytest.mark.parametrize("threshold", [None, 0.6])
@pytest.mark.parametrize("max_new,steps,block", [(20, 20, 8), (24, 6, 8)])
def test_greedy_tokens_identical_across_cache_modes(tok, student, prompts, threshold,
                                                    max_new, steps, block):
    """Batch of 3 left-padded prompts, partial last block (20 = 8+8+4), both commit rules."""
    outs = {}
    for mode in ("off", "per_block", "incremental"):
        s = SamplerSettings(max_new_tokens=max_new, steps=steps, block_size=block,
                            stop_on_eos=False, cache=mode, threshold=threshold)
        trace = []
        outs[mode] = (generate(student, prompts, s, **_ids(tok),
                               on_step=lambda b, j, blk, m: trace.append(blk)), len(trace))
    assert outs["off"] == outs["per_block"] == outs["incremental"]
    assert all(len(r) > 0 for r in outs["off"][0])
    # a row alone gives the same tokens as in the batch (cached path)
    s = SamplerSettings(max_new_tokens=max_new, steps=steps, block_size=block,
                        stop_on_eos=False, threshold=threshold)
    assert [generate(student, [p], s, **_ids(tok))[0] for p in prompts] == outs["incremental"][0]


def test_eos_stop_identical_across_cache_modes(tok, prompts):
    """An EOS-prone student: every mode stops after the same block with the same tokens."""
    model = make_student(tok, seed=3)
    eos = tok.eos_token_id
    with torch.no_grad():  # tied embeddings: a long EOS vector makes EOS a frequent argmax
        model.model.embed_tokens.weight[eos] *= 4
    results = {}
    for mode in ("off", "per_block", "incremental"):
        s = SamplerSettings(max_new_tokens=64, steps=64, block_size=8, cache=mode)
        blocks = set()
        out = generate(model, prompts, s, **_ids(tok), on_step=lambda b, *_: blocks.add(b))
        results[mode] = (out, blocks)
    assert results["off"] == results["per_block"] == results["incremental"]
    out, blocks = results["incremental"]
    assert len(blocks) < 8  # stopped early: every row produced EOS
    assert all(len(r) < 64 for r in out)


def test_threshold_commits_at_least_one_and_reduces_to_schedule(tok, student, prompts):
    mask_id = _ids(tok)["mask_id"]
    # threshold 0.6: every step commits >= 1 token per row that still has masked slots
    trace = []
    s = SamplerSettings(max_new_tokens=16, steps=16, block_size=8, stop_on_eos=False,
                        threshold=0.6)
    generate(student, prompts, s, **_ids(tok), on_step=lambda b, j, blk, m: trace.append((b, blk, m)))
    prev = {}
    for b, blk, m in trace:
        before = prev.get(b, torch.ones_like(m))
        newly = before & ~m
        assert ((newly.sum(1) >= 1) | ~before.any(1)).all()
        assert not (blk[m] != mask_id).any()  # still-masked slots hold the mask id
        prev[b] = m
    assert len(trace) <= 16
    # any argmax has probability >= 1/V: a tiny threshold commits a whole block per step,
    # which is the fixed schedule with one step per block
    tiny = SamplerSettings(max_new_tokens=16, steps=16, block_size=8, stop_on_eos=False,
                           threshold=1e-6)
    one_step = SamplerSettings(max_new_tokens=16, steps=2, block_size=8, stop_on_eos=False)
    assert generate(student, prompts, tiny, **_ids(tok)) == generate(student, prompts, one_step, **_ids(tok))


def test_settings_validate_cache_and_threshold():
    with pytest.raises(ValueError, match="cache"):
        SamplerSettings(cache="sometimes")
    with pytest.raises(ValueError, match="threshold"):
        SamplerSettings(threshold=0.0)
    with pytest.raises(ValueError, match="threshold"):
        SamplerSettings(threshold=1.5)


def test_kv_cache_overflow_is_an_error():
    cache = BlockKVCache(capacity=4)
    k = torch.zeros(1, 2, 3, 8)
    cache.update(k, k, 0)
    cache.commit()
    with pytest.raises(RuntimeError, match="capacity"):
        cache.update(k, k, 0)
