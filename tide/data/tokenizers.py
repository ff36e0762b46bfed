"""Train the tiny student and teacher tokenizers, with their chat templates.

Three real byte-level BPE tokenizers (``tokenizers`` library) wrapped as
``transformers`` fast tokenizers and written with ``save_pretrained``, so
``AutoTokenizer.from_pretrained(dir)`` reloads them, chat template included. They mirror
the paper's three tokenizers (spec/models.md, spec/method.md §1.4):

``student`` (Qwen3 / BD3LM-like)
    ids ``[0, N_bpe)`` byte-level BPE, then the specials shared with teacher_b
    ``<|endoftext|>`` (pad), ``<|im_start|>``, ``<|im_end|>`` (eos); these end the
    shared prefix ``[0, V_sh)``.  Then student-only ``<think>``, ``</think>``,
    ``<|mask|>`` (mask, last id like Qwen3-BD3LM's 151669).  Qwen3 chat template with
    the empty think block on every assistant turn (``enable_thinking=False``).
``teacher_a`` (LLaDA2.0-mini-like, cross tokenizer)
    a different BPE (own vocabulary size, digits split individually, trained on a
    shuffled subsample) whose specials come first: ``<|endoftext|>`` (pad),
    ``<role>``, ``</role>``, ``<|role_end|>`` (eos), ``<|mdm_mask|>`` (mask).
    Template ``<role>HUMAN</role>{c}<|role_end|><role>ASSISTANT</role>{c}<|role_end|>``.
``teacher_b`` (WeDLM-like, shared tokenizer)
    exactly the student's ids below ``V_sh``, then its own specials in its own order
    ``<|wedlm_extra_0|>``, ``<|mask_wedlm|>`` (mask), ``<think>``, ``</think>``, so its
    mask id differs from the student's.  Native Qwen template without the think block.

Training is deterministic: the same corpus gives byte-identical files.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Iterable, Iterator

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from tide.data.corpus import Messages

log = logging.getLogger(__name__)

# Caps, not targets: on the tiny default's corpus BPE runs out of merges first (student
# 1405 tokens, teacher_a 1180 with its digits split). Whole words and two-digit numbers are
# then single tokens, so a copied name or number is one token, which the 2-layer tiny
# BD3LM learns to place; at a 512 cap they were 2-4 pieces each and every diffusion model
# scored 0 on the generative benchmarks (docs/heldout_diagnosis.md, "Vocabulary").
STUDENT_VOCAB_SIZE = 2048
TEACHER_A_VOCAB_SIZE = 2400
TEACHER_A_SAMPLE_FRACTION = 0.75
TEACHER_A_SAMPLE_SEED = 1234

SHARED_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
STUDENT_SPECIALS = ["<think>", "</think>", "<|mask|>"]
TEACHER_B_SPECIALS = ["<|wedlm_extra_0|>", "<|mask_wedlm|>", "<think>", "</think>"]
TEACHER_A_SPECIALS = ["<|endoftext|>", "<role>", "</role>", "<|role_end|>", "<|mdm_mask|>"]
TEACHER_A_ROLES = {"system": "SYSTEM", "user": "HUMAN", "assistant": "ASSISTANT"}

# Jinja sources, as they appear in chat_template.jinja (the "\n" are Jinja escapes).
STUDENT_TEMPLATE = (
    "{%- for message in messages -%}\n"
    "{%- if message['role'] == 'assistant' -%}\n"
    "{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' + message['content'] + '<|im_end|>\\n' -}}\n"
    "{%- else -%}\n"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}\n"
    "{%- endif -%}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' -}}\n"
    "{%- endif -%}\n"
)
TEACHER_A_TEMPLATE = (
    "{%- set names = {'system': 'SYSTEM', 'user': 'HUMAN', 'assistant': 'ASSISTANT'} -%}\n"
    "{%- for message in messages -%}\n"
    "{{- '<role>' + names[message['role']] + '</role>' + message['content'] + '<|role_end|>' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "{{- '<role>ASSISTANT</role>' -}}\n"
    "{%- endif -%}\n"
)
TEACHER_B_TEMPLATE = (
    "{%- for message in messages -%}\n"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "{{- '<|im_start|>assistant\\n' -}}\n"
    "{%- endif -%}\n"
)

#: directory names under the tokenizer output dir
NAMES = ("student", "teacher_a", "teacher_b")


def _specials(tokens: Iterable[str]) -> list[AddedToken]:
    return [AddedToken(t, special=True, normalized=False) for t in tokens]


def _train_bpe(texts: Iterable[str], vocab_size: int, specials: list[str],
               split_digits: bool) -> Tokenizer:
    """A byte-level BPE trained on ``texts``; ``specials`` take the first ids."""
    tok = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    # every newline its own pre-token: a template's trailing blank line ("</think>\n\n")
    # then encodes the same alone (the generation prompt) and before the reply, so prompt
    # labels and evaluation prompts end on the same tokens as training saw (a learnt "\n\n"
    # merge otherwise splits differently when the reply follows)
    newlines = pre_tokenizers.Split("\n", behavior="isolated")
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [newlines, pre_tokenizers.Digits(individual_digits=True), byte_level] if split_digits
        else [newlines, byte_level])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, show_progress=False, special_tokens=_specials(specials),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def _role_texts(conversations: Iterable[Messages], roles: dict[str, str] | None = None) -> Iterator[str]:
    """Role name + content per message: the tokenizer also learns its role headers."""
    for messages in conversations:
        for m in messages:
            role = roles.get(m["role"], m["role"]) if roles else m["role"]
            yield f"{role}\n{m['content']}"


def _wrap(tok: Tokenizer, template: str, eos: str, pad: str, mask: str):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token=pad,
                                   mask_token=mask, chat_template=template)


def build_tokenizers(conversations: list[Messages]) -> tuple[dict, int]:
    """Train all three tokenizers in memory: ``({name: tokenizer}, V_sh)``."""
    n_bpe = STUDENT_VOCAB_SIZE - len(SHARED_SPECIALS) - len(STUDENT_SPECIALS)
    base = _train_bpe(_role_texts(conversations), n_bpe, [], split_digits=False)
    base.add_special_tokens(_specials(SHARED_SPECIALS))
    shared_vocab_size = base.get_vocab_size(with_added_tokens=True)

    student = Tokenizer.from_str(base.to_str())
    student.add_special_tokens(_specials(STUDENT_SPECIALS))
    teacher_b = Tokenizer.from_str(base.to_str())
    teacher_b.add_special_tokens(_specials(TEACHER_B_SPECIALS))

    sample = list(conversations)
    random.Random(TEACHER_A_SAMPLE_SEED).shuffle(sample)
    sample = sample[: max(1, int(len(sample) * TEACHER_A_SAMPLE_FRACTION))]
    teacher_a = _train_bpe(_role_texts(sample, TEACHER_A_ROLES), TEACHER_A_VOCAB_SIZE,
                           TEACHER_A_SPECIALS, split_digits=True)

    toks = {
        "student": _wrap(student, STUDENT_TEMPLATE, "<|im_end|>", "<|endoftext|>", "<|mask|>"),
        "teacher_a": _wrap(teacher_a, TEACHER_A_TEMPLATE, "<|role_end|>", "<|endoftext|>",
                           "<|mdm_mask|>"),
        "teacher_b": _wrap(teacher_b, TEACHER_B_TEMPLATE, "<|im_end|>", "<|endoftext|>",
                           "<|mask_wedlm|>"),
    }
    check_shared_prefix(toks["student"], toks["teacher_b"], shared_vocab_size)
    return toks, shared_vocab_size


def check_shared_prefix(student, teacher, shared_vocab_size: int) -> None:
    """Raise unless ids ``[0, V_sh)`` map to the same tokens in both tokenizers."""
    s_vocab, t_vocab = student.get_vocab(), teacher.get_vocab()
    s_inv = {i: t for t, i in s_vocab.items() if i < shared_vocab_size}
    t_inv = {i: t for t, i in t_vocab.items() if i < shared_vocab_size}
    if s_inv != t_inv or len(s_inv) != shared_vocab_size:
        bad = sorted(i for i in range(shared_vocab_size) if s_inv.get(i) != t_inv.get(i))
        raise ValueError(f"shared vocabulary: expected ids [0, {shared_vocab_size}) identical in "
                         f"student and teacher, found {len(bad)} differing ids (first: {bad[:5]})")


def summary(toks: dict, shared_vocab_size: int) -> dict:
    """The ``tokenizers.json`` content: sizes and special ids per tokenizer."""
    out: dict = {"shared_vocab_size": shared_vocab_size}
    for name, tok in toks.items():
        out[name] = {"vocab_size": len(tok), "mask_token_id": tok.mask_token_id,
                     "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}
    return out


def train_tokenizers(corpus: list[Messages] | dict[str, list[Messages]],
                     out_dir: str | os.PathLike) -> dict:
    """Train and save ``out_dir/{student,teacher_a,teacher_b}/`` + ``out_dir/tokenizers.json``.

    ``corpus`` is a list of conversations or :func:`tide.data.corpus.make_corpus`'s dict
    (then only its ``train`` split is used).  Returns the summary dict.
    """
    from tide.io import atomic_dir, atomic_write_json

    conversations = corpus["train"] if isinstance(corpus, dict) else corpus
    toks, shared_vocab_size = build_tokenizers(conversations)
    out_dir = Path(out_dir)
    for name, tok in toks.items():
        with atomic_dir(out_dir / name) as tmp:
            tok.save_pretrained(tmp)
    info = summary(toks, shared_vocab_size)
    atomic_write_json(out_dir / "tokenizers.json", info)
    log.info("tokenizers written to %s: %s", out_dir, info)
    return info


def load_tokenizer(path: str | os.PathLike):
    """Load a tokenizer directory (ours or a hub checkpoint) with ``AutoTokenizer``."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


def render_chat(tok, messages: Messages, add_generation_prompt: bool = False) -> str:
    """The chat-template text (``apply_chat_template(..., tokenize=False)``)."""
    return tok.apply_chat_template(messages, tokenize=False,
                                   add_generation_prompt=add_generation_prompt)


def encode_chat(tok, messages: Messages, add_generation_prompt: bool = False) -> list[int]:
    """Token ids of the chat-template text, as ``apply_chat_template(tokenize=True)`` gives.

    Rendering then encoding without added special tokens is exactly what
    ``apply_chat_template`` does; doing it by hand keeps the ids a plain list across
    transformers versions (v5 returns a ``BatchEncoding`` by default).
    """
    text = render_chat(tok, messages, add_generation_prompt)
    return tok(text, add_special_tokens=False)["input_ids"]
