"""Tests for tide.sample: the block-diffusion sampler (docs/method.md §E2).

A tiny random BD3LM student and a small byte-level BPE tokenizer are built once per
session; ``make_tokenizer`` / ``make_student`` are reused by tests/test_eval.py.
"""

from __future__ import annotations

import math
import types

import pytest
import torch

from tide.models.prefix import left_pad, prepare_block
from tide.sample import SamplerSettings, generate, num_transfer_tokens, trim_and_decode

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<|mask|>"]
CHAT_TEMPLATE = (
    "{%- for m in messages -%}"
    "{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{ '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif -%}"
)
TRAIN_TEXTS = [
    "Tom has 3 apples and buys 4 more. How many apples does Tom have? The answer is 7.",
    "Anna has 12 pencils and gives 5 to a friend. The answer is 7.",
    "The following are multiple choice questions (with answers) about geography.",
    "What is the capital of France?\nA. Paris\nB. Rome\nC. Oslo\nD. Lima\nAnswer: A",
    "user\nQ: How many cards?\nA: Let's think step by step. 2 + 3 = 5.",
    "assistant\nThe answer is 42. 0 1 2 3 4 5 6 7 8 9 #### 10, 100, 1000.",
] * 20


# ---------------------------------------------------------------- shared builders


def make_tokenizer(vocab_size: int = 320):
    """Byte-level BPE + Qwen3-style specials and chat template (empty think block)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = [AddedToken(t, special=True, normalized=False) for t in SPECIALS]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TRAIN_TEXTS, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", mask_token="<|mask|>",
                                   chat_template=CHAT_TEMPLATE)


def make_student(tok, *, seed: int = 0, attn_implementation: str = "sdpa", block_size: int = 32,
                 init_range: float = 0.5):
    """A tiny random a2d-qwen3 student (peaked logits: larger init than the default)."""
    from tide.models.student import A2DQwen3Config, A2DQwen3LMHeadModel

    torch.manual_seed(seed)
    cfg = A2DQwen3Config(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, block_size=block_size,
        mask_token_id=tok.convert_tokens_to_ids("<|mask|>"), max_position_embeddings=1024,
        tie_word_embeddings=True, initializer_range=init_range,
        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=None,
        attn_implementation=attn_implementation)
    return A2DQwen3LMHeadModel(cfg).eval()


def chat_prompt(tok, text: str) -> list[int]:
    s = tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                add_generation_prompt=True)
    return tok(s, add_special_tokens=False)["input_ids"]


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def tok():
    return make_tokenizer()


@pytest.fixture(scope="module")
def student(tok):
    return make_student(tok)


@pytest.fixture(scope="module")
def prompts(tok):
    texts = ["Hi", "Tom has 3 apples and buys 4 more. How many apples does Tom have?",
             "What is the capital of France?\nA. Paris\nB. Rome\nC. Oslo\nD. Lima\nAnswer:",
             "Anna has 12 pencils and gives 5 to a friend. How many are left? Think step by step."]
    ids = [chat_prompt(tok, t) for t in texts]
    assert len({len(p) for p in ids}) == 4  # different lengths: different left padding
    return ids


def _ids(tok):
    return dict(mask_id=tok.convert_tokens_to_ids("<|mask|>"), pad_id=tok.pad_token_id,
                eos_ids={tok.eos_token_id})


# ---------------------------------------------------------------- schedule


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 31, 32])
def test_schedule_steps_equal_tokens_gives_one_per_step(n):
    assert num_transfer_tokens(n, n) == [1] * n


@pytest.mark.parametrize("n,steps", [(32, 1), (32, 7), (32, 64), (3, 2), (5, 10), (17, 4), (1, 9)])
def test_schedule_sums_to_masked_and_drops_zeros(n, steps):
    ks = num_transfer_tokens(n, steps)
    assert sum(ks) == n and all(k > 0 for k in ks) and len(ks) <= steps


def test_schedule_known_values():
    assert num_transfer_tokens(32, 8) == [4] * 8
    assert num_transfer_tokens(32, 1) == [32]
    assert num_transfer_tokens(3, 2) == [2, 1]  # round(1.5) = 2 (half to even)
    assert num_transfer_tokens(7, 2) == [4, 3]  # round(3.5) = 4
    assert num_transfer_tokens(5, 2) == [2, 3]  # round(2.5) = 2
    # linear schedule closed form round(r / (S - j)), when no float32 tie is involved
    r, expected = 30, []
    for j in range(4):
        k = round(r / (4 - j))
        expected.append(k)
        r -= k
    assert num_transfer_tokens(30, 4) == expected
    assert num_transfer_tokens(0, 4) == []


def test_settings_validation():
    with pytest.raises(NotImplementedError, match="cfg_scale"):
        SamplerSettings(cfg_scale=0.5)
    with pytest.raises(ValueError, match="remasking"):
        SamplerSettings(remasking="entropy")
    with pytest.raises(ValueError, match="steps"):
        SamplerSettings(steps=0)


def test_left_pad_to_block_multiple():
    ids, valid = left_pad([[5, 6, 7], [1] * 9], pad_id=0, block_size=4, device="cpu")
    assert ids.shape == (2, 12)
    assert ids[0].tolist() == [0] * 9 + [5, 6, 7] and valid[0].sum() == 3
    assert valid[1].tolist() == [False] * 3 + [True] * 9


def test_prepare_block_positions_and_mask(tok):
    model = make_student(tok)
    ids, valid = left_pad([[5, 6, 7], [1] * 6], pad_id=0, block_size=4, device="cpu")
    ctx = prepare_block(model, ids, valid, 2, 4)
    assert ctx.position_ids.tolist() == [[0] * 5 + [0, 1, 2, 3, 4], [0, 0, 0, 1, 2, 3, 4, 5, 6, 7]]
    m = ctx.attention_mask[0, 0]  # sdpa: bool, True = may attend
    assert m.dtype == torch.bool
    assert not m[5:, :5].any()  # row 0: nobody attends its pads
    assert m[8, 9] and m[9, 8] and m[8, 5]  # the block is bidirectional and sees the prompt
    assert not m[5, 8]  # the prompt (block 1) does not see the new block (block 2)


# ---------------------------------------------------------------- real tiny student


def test_batch_invariance_greedy(tok, student, prompts):
    s = SamplerSettings(max_new_tokens=20, steps=20, block_size=8)  # blocks 8, 8, 4
    one = [generate(student, [p], s, **_ids(tok))[0] for p in prompts]
    batch = generate(student, prompts, s, **_ids(tok))
    assert batch == one
    assert any(len(r) > 0 for r in one)
    rev = generate(student, prompts[::-1], s, **_ids(tok))
    assert rev[::-1] == one


def test_committed_tokens_never_change_and_one_per_step(tok, student, prompts):
    s = SamplerSettings(max_new_tokens=16, steps=16, block_size=8, stop_on_eos=False)
    trace = []
    generate(student, prompts, s, **_ids(tok),
             on_step=lambda b, j, blk, m: trace.append((b, j, blk, m)))
    assert [(b, j) for b, j, _, _ in trace] == [(b, j) for b in (0, 1) for j in range(8)]
    mask_id = _ids(tok)["mask_id"]
    for b in (0, 1):
        steps = [(blk, m) for bb, _, blk, m in trace if bb == b]
        prev_blk, prev_m = torch.full_like(steps[0][0], mask_id), torch.ones_like(steps[0][1])
        for blk, m in steps:
            newly = prev_m & ~m
            assert (newly.sum(1) == 1).all()  # exactly one token per row per step
            assert not (m & ~prev_m).any()  # never remasked
            assert torch.equal(blk[~prev_m], prev_blk[~prev_m])  # committed ones unchanged
            assert (blk[m] == mask_id).all()
            prev_blk, prev_m = blk, m
        assert not prev_m.any()


def test_parallel_schedule_commits_several_per_step(tok, student, prompts):
    s = SamplerSettings(max_new_tokens=8, steps=2, block_size=8, stop_on_eos=False)
    counts = []
    last = [torch.ones(len(prompts), 8, dtype=torch.bool)]

    def hook(b, j, blk, m):
        counts.append((last[0] & ~m).sum(1).tolist())
        last[0] = m

    generate(student, prompts, s, **_ids(tok), on_step=hook)
    assert counts == [[4] * 4, [4] * 4]


def test_sdpa_and_eager_agree(tok, prompts):
    sdpa = make_student(tok, seed=3, attn_implementation="sdpa")
    eager = make_student(tok, seed=3, attn_implementation="eager")
    assert eager.config._attn_implementation == "eager"
    s = SamplerSettings(max_new_tokens=16, steps=16, block_size=8)
    assert generate(sdpa, prompts, s, **_ids(tok)) == generate(eager, prompts, s, **_ids(tok))


def test_pads_are_not_attended(tok, student, prompts):
    """Changing the pad id (what sits in the padded slots) changes nothing."""
    s = SamplerSettings(max_new_tokens=8, steps=8, block_size=8)
    ids = _ids(tok)
    a = generate(student, prompts, s, **ids)
    b = generate(student, prompts, s, **{**ids, "pad_id": 17})
    assert a == b


def test_temperature_sampling_is_seeded(tok, student, prompts):
    s = SamplerSettings(max_new_tokens=8, steps=8, block_size=8, temperature=1.0,
                        stop_on_eos=False)
    run = [generate(student, prompts, s, **_ids(tok),
                    generator=torch.Generator().manual_seed(7)) for _ in range(2)]
    assert run[0] == run[1]
    greedy = generate(student, prompts, SamplerSettings(max_new_tokens=8, steps=8, block_size=8,
                                                        stop_on_eos=False), **_ids(tok))
    assert run[0] != greedy


def test_trim_and_decode_skips_specials(tok):
    ids = tok("The answer is 7.", add_special_tokens=False)["input_ids"]
    assert trim_and_decode(tok, ids + [tok.convert_tokens_to_ids("<think>")]) == "The answer is 7."


# ---------------------------------------------------------------- scripted model: EOS


class ScriptedModel(torch.nn.Module):
    """Predicts eos at position id ``eos_pos`` and token ``filler`` elsewhere.

    Position ids count non-pad tokens, so rows with different prompt lengths hit eos at
    different generated indices.
    """

    def __init__(self, vocab: int, eos: int, eos_pos: int, filler: int):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.vocab, self.eos, self.eos_pos, self.filler = vocab, eos, eos_pos, filler
        self.config = types.SimpleNamespace(_attn_implementation="sdpa")
        self.dtype = torch.float32
        self.calls = 0

    def forward(self, input_ids, attention_mask, position_ids, **_):
        self.calls += 1
        logits = torch.zeros(*input_ids.shape, self.vocab)
        target = torch.where(position_ids == self.eos_pos, self.eos, self.filler)
        logits.scatter_(-1, target[..., None], 5.0)
        return types.SimpleNamespace(logits=logits)


def test_eos_stops_when_all_rows_done():
    eos, filler = 3, 9
    model = ScriptedModel(vocab=16, eos=eos, eos_pos=12, filler=filler)
    prompts = [[1] * 4, [1] * 10]  # eos at generated index 8 and 2
    # the scripted model has no attention layers to cache: count calls on the plain path
    s = SamplerSettings(max_new_tokens=32, steps=32, block_size=4, cache="off")
    blocks = set()
    out = generate(model, prompts, s, mask_id=15, pad_id=0, eos_ids={eos},
                   on_step=lambda b, *_: blocks.add(b))
    assert out == [[filler] * 8, [filler] * 2]
    assert blocks == {0, 1, 2}  # row 0 finishes in block 2 (indices 8..11): then stop
    assert model.calls == 3 * 4

    model.calls = 0
    s_all = SamplerSettings(max_new_tokens=32, steps=32, block_size=4, stop_on_eos=False,
                            cache="off")
    out_all = generate(model, prompts, s_all, mask_id=15, pad_id=0, eos_ids={eos})
    assert out_all == out and model.calls == 32


def test_row_without_eos_runs_to_max_new_tokens():
    model = ScriptedModel(vocab=16, eos=3, eos_pos=1000, filler=9)
    s = SamplerSettings(max_new_tokens=10, steps=5, block_size=4, cache="off")  # blocks 4, 4, 2
    out = generate(model, [[1, 2], [1]], s, mask_id=15, pad_id=0, eos_ids={3})
    assert out == [[9] * 10, [9] * 10]
    assert model.calls == 3 * math.ceil(5 / 3)  # steps_per_block = 2, every block needs 2


def test_confidence_in_the_logits_dtype_as_dllm():
    """bf16 logits whose near-1 confidences tie in bf16 but not in fp32 (issue 10, item 4).

    dllm computes softmax in the logits' dtype and ranks with torch.topk: slots 1 and 2 tie
    at 1.0 in bf16 and topk keeps slot 1; an fp32 softmax would rank slot 2 first.
    """
    import torch.nn.functional as F

    from tide.sample import SamplerSettings, propose, select_commits

    g = torch.Generator().manual_seed(0)
    for _ in range(11):  # the 11th draw of this generator is such a case (found by search)
        logits = (torch.randn(1, 4, 64, generator=g) * 3).bfloat16()
        logits[0, :, 0] += 12
    x0, conf = propose(logits, SamplerSettings(), None)
    dllm_conf = torch.gather(F.softmax(logits, dim=-1), -1, x0[..., None]).squeeze(-1)
    assert conf.dtype == torch.bfloat16 and torch.equal(conf, dllm_conf)
    masked = torch.ones(1, 4, dtype=torch.bool)
    fp32_conf = torch.softmax(logits.float(), -1).gather(-1, x0[..., None]).squeeze(-1)
    assert torch.topk(fp32_conf, 1).indices.item() == 2  # what the fp32 choice would be
    commit = select_commits(conf, masked, 1)
    assert commit[0].nonzero().flatten().tolist() == [torch.topk(dllm_conf, 1).indices.item()] == [1]


def test_generated_pad_is_padding_in_later_blocks(tok, student, prompts):
    """Issue 10 item 6: dllm finds padding by value, so a generated token equal to pad_id is
    no key and takes no position in later blocks. With the switch on (the paper default)
    the three prefix modes agree; the tokens after it differ from the switch off."""
    mask_id = tok.mask_token_id
    never = {tok.convert_tokens_to_ids("<|im_end|>")}
    base = SamplerSettings(max_new_tokens=24, steps=24, block_size=8, stop_on_eos=False,
                           generated_pad_as_padding=False)
    first = generate(student, prompts[:1], base, mask_id=mask_id, pad_id=tok.pad_token_id,
                     eos_ids=never)[0]
    # call the token committed at block 0, slot 2 "the pad": it recurs nowhere in the prompt
    pad = next(t for t in first[:8] if t not in prompts[0])
    assert SamplerSettings().generated_pad_as_padding is True
    out = {}
    for cache in ("off", "per_block", "incremental"):
        s = SamplerSettings(**{**base.__dict__, "cache": cache, "generated_pad_as_padding": True})
        out[cache] = generate(student, prompts[:1], s, mask_id=mask_id, pad_id=pad, eos_ids=never)
    assert out["off"] == out["per_block"] == out["incremental"]
    kept = generate(student, prompts[:1], base, mask_id=mask_id, pad_id=pad, eos_ids=never)
    assert kept[0][:8] == out["off"][0][:8]  # block 0 is the same either way
    assert kept[0][8:] != out["off"][0][8:]  # later blocks no longer see the pad
