"""Stand-in tokenizers whose special tokens sit at the real ids (see tide/rehearsal/__init__).

A real Qwen3 vocabulary cannot be shipped or downloaded here, and a tiny vocabulary would
move the special ids. So each stand-in is a small byte-level BPE (trained on the rehearsal
text) whose vocabulary is padded with unreachable filler entries (no merge produces them)
up to the first real special id; the special tokens then take exactly the real ids. The
BPE part is not Qwen's, so token ids of ordinary text differ from the real tokenizer's;
what the workflow reads from a tokenizer (special ids, vocabulary size, chat template,
shared-prefix length V_sh) is the real repository's.
"""

from __future__ import annotations

import json

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

#: Qwen3's added tokens, ids 151643..151668 (Qwen/Qwen3-0.6B tokenizer_config.json
#: ``added_tokens_decoder``); the first 151643 ids are BPE.
QWEN3_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
    "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>",
    "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
    "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
    "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>",
    "<think>", "</think>",
]
QWEN3_FIRST_SPECIAL = 151643
QWEN3_EMBED_ROWS = 151936
#: ids below V_sh are identical in the Qwen3 and WeDLM tokenizers (method.md §3)
SHARED_VOCAB_SIZE = 151646
STUDENT_MASK_ID = 151669          # dllm's added ``<|mask|>`` (student_and_eval.md §1)
WEDLM_MASK_ID = 151665            # method.md §1.4, authors' distill_wedlm.py default
LLADA2_MASK_ID = 156895           # method.md §1.4, authors' distill.py default
LLADA2_EMBED_ROWS = 157184        # LLaDA2.0-mini config.json vocab_size [I]
LLADA2_FIRST_SPECIAL = 156892     # [I] ids before the mask chosen so the mask lands at 156895
LLADA2_SPECIALS = ["<|endoftext|>", "<role>", "</role>", "<|mask|>", "<|role_end|>"]

# Chat templates written here (not copied): the structure each real template produces.
QWEN3_TEMPLATE = (
    "{%- for message in messages -%}\n"
    "{%- if message['role'] == 'assistant' -%}\n"
    "{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' + message['content'] + '<|im_end|>\\n' -}}\n"
    "{%- else -%}\n"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}\n"
    "{%- endif -%}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "{{- '<|im_start|>assistant\\n' -}}\n"
    "{%- if enable_thinking is defined and enable_thinking is false -%}\n"
    "{{- '<think>\\n\\n</think>\\n\\n' -}}\n"
    "{%- endif -%}\n"
    "{%- endif -%}\n"
)
WEDLM_TEMPLATE = (
    "{%- for message in messages -%}\n"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "{{- '<|im_start|>assistant\\n' -}}\n"
    "{%- endif -%}\n"
)
LLADA2_TEMPLATE = (
    "{%- set names = {'system': 'SYSTEM', 'user': 'HUMAN', 'assistant': 'ASSISTANT'} -%}\n"
    "{%- for message in messages -%}\n"
    "{{- '<role>' + names[message['role']] + '</role>' + message['content'] + '<|role_end|>' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "{{- '<role>ASSISTANT</role>' -}}\n"
    "{%- endif -%}\n"
)


def _bpe(texts: list[str], vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    return tok


def padded_bpe(texts: list[str], first_special: int, specials: list[str], *,
               bpe_size: int = 1200, base: Tokenizer | None = None) -> Tokenizer:
    """A BPE of ``bpe_size`` learned tokens, padded to ``first_special`` ids, + ``specials``.

    The filler entries ``<tide_unused_i>`` are in the vocabulary but unreachable (no merge
    yields them), so encoding never produces them; the specials get ids
    ``first_special, first_special + 1, ...`` in order.
    """
    if base is not None:  # same BPE ids (shared prefix), own specials
        tok = Tokenizer.from_str(base.to_str())
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
        return tok
    data = json.loads(_bpe(texts, bpe_size).to_str())
    vocab = data["model"]["vocab"]
    for i in range(len(vocab), first_special):
        vocab[f"<tide_unused_{i}>"] = i
    tok = Tokenizer.from_str(json.dumps(data))
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    return tok


def wrap(tok: Tokenizer, *, template: str, eos: str, pad: str, mask: str | None):
    from transformers import PreTrainedTokenizerFast

    kw = {"mask_token": mask} if mask else {}
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token=pad,
                                   chat_template=template, **kw)


def build(texts: list[str]) -> dict:
    """``{"qwen3", "student", "wedlm", "llada2"}`` → transformers fast tokenizers."""
    base = padded_bpe(texts, QWEN3_FIRST_SPECIAL, [])
    qwen = padded_bpe(texts, QWEN3_FIRST_SPECIAL, QWEN3_SPECIALS, base=base)
    student = Tokenizer.from_str(qwen.to_str())
    student.add_special_tokens([AddedToken("<|mask|>", special=True, normalized=False)])
    # WeDLM: Qwen3's ids below V_sh, its own specials above (mask at 151665) [I: strings]
    wedlm_specials = QWEN3_SPECIALS[:3] + [f"<|wedlm_reserved_{i}|>" for i in range(19)] \
        + ["<|mask|>"] + QWEN3_SPECIALS[23:]
    wedlm = padded_bpe(texts, QWEN3_FIRST_SPECIAL, wedlm_specials, base=base)
    llada2 = padded_bpe(texts, LLADA2_FIRST_SPECIAL, LLADA2_SPECIALS, bpe_size=1500)
    toks = {
        "qwen3": wrap(qwen, template=QWEN3_TEMPLATE, eos="<|im_end|>", pad="<|endoftext|>",
                      mask=None),
        "student": wrap(student, template=QWEN3_TEMPLATE, eos="<|im_end|>",
                        pad="<|endoftext|>", mask="<|mask|>"),
        "wedlm": wrap(wedlm, template=WEDLM_TEMPLATE, eos="<|im_end|>", pad="<|endoftext|>",
                      mask="<|mask|>"),
        "llada2": wrap(llada2, template=LLADA2_TEMPLATE, eos="<|role_end|>",
                       pad="<|endoftext|>", mask="<|mask|>"),
    }
    expect = {"student": STUDENT_MASK_ID, "wedlm": WEDLM_MASK_ID, "llada2": LLADA2_MASK_ID}
    for name, mask_id in expect.items():
        if toks[name].mask_token_id != mask_id:
            raise AssertionError(f"stand-in tokenizer {name}: mask id {toks[name].mask_token_id}, "
                                 f"expected the real {mask_id}")
    return toks
