"""Chat rows -> the authors' pre-tokenized schema (docs/architecture.md, spec/method.md §1.3–1.5).

Mirrors the authors' preprocessing (PKU-YuanGroup/TIDE ``examples/a2d/bd3lm/distill_utils.py``):

* pipeline A (``distill_sft_map_fn``, cross tokenizer): student and teacher ids from each
  one's own chat template; prompt labels (= template of ``messages[:-1]`` with the
  generation prompt) set to -100 on both sides; ``ranges`` = per message content, the
  token spans ``(t_start, t_end, s_start, s_end)`` of that text in each templated string
  (character offsets -> tokens, both spans checked to decode to the same text); rows whose
  student prompt is >= ``max_length`` are dropped; the student is right-truncated.  We add
  ``chunks`` (minimal aligned chunks, ``tide.distill.chunks.align_example``) once, here,
  and apply the authors' collator-time teacher cut (end of the last chunk, at most
  ``teacher_max_length``) so training only pads.
* pipeline B (``aligned_kl_sft_map_fn``, shared tokenizer): the k-th content token of the
  assistant message in the teacher is paired with the k-th in the student; the teacher is
  cut after its last aligned position and capped at ``teacher_max_length``.

Deviation (documented): where each message content sits in a templated text.  The authors
use ``str.find`` (A: from the start of the text; B: sequentially, but not moving past
non-assistant turns), so a short content such as an MMLU answer "A" or "B" is found inside
the option list of the prompt or inside a role header ("ASSISTANT").  We locate message k
by rendering the same conversation with its content replaced by a sentinel (the template
decides where the content goes), check that the real text has the content there, and
fall back to a sequential search after the previous message only when that check fails.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Iterable

from tide.data.corpus import Messages
from tide.data.tokenizers import encode_chat, render_chat

log = logging.getLogger(__name__)

IGNORE = -100
PIPELINE_COLUMNS = {
    "A": ("input_ids", "labels", "teacher_input_ids", "teacher_labels", "ranges", "prompt_len"),
    "B": ("input_ids", "labels", "teacher_input_ids", "align_student", "align_teacher",
          "prompt_len"),
}


def as_messages(row: Any, where: str = "row") -> Messages:
    """A conversation from a row: a ``messages`` list or a dict with a ``messages`` key."""
    msgs = row.get("messages") if isinstance(row, dict) else row
    if not isinstance(msgs, list) or not msgs or not all(
            isinstance(m, dict) and "role" in m and "content" in m for m in msgs):
        raise ValueError(f"{where}: expected a non-empty list of {{'role', 'content'}} dicts "
                         f"(field 'messages'), found {type(msgs).__name__}: {str(msgs)[:120]}")
    return msgs


def dataset_features(pipeline: str | None, with_chunks: bool = True):
    """Arrow features of a built dataset: SFT (``pipeline=None``), "A" or "B"."""
    import datasets

    ids = datasets.List(datasets.Value("int64"))
    spans = datasets.List(datasets.List(datasets.Value("int64")))
    cols = {"input_ids": ids, "labels": ids, "prompt_len": datasets.Value("int64")}
    if pipeline == "A":
        cols.update(teacher_input_ids=ids, teacher_labels=ids, ranges=spans)
        if with_chunks:
            cols["chunks"] = spans
    elif pipeline == "B":
        cols.update(teacher_input_ids=ids, align_student=ids, align_teacher=ids)
    return datasets.Features(cols)


def _to_dataset(rows: list[dict], pipeline: str | None, with_chunks: bool = True):
    import datasets

    feats = dataset_features(pipeline, with_chunks)
    return datasets.Dataset.from_dict({c: [r[c] for r in rows] for c in feats}, features=feats)


# ---------------------------------------------------------------- shared pieces


def prompt_labels(tok, messages: Messages, ids: list[int]) -> tuple[list[int], int]:
    """``(labels, prompt_len)``: ids with the generation-prompt prefix set to -100."""
    prompt_len = min(len(encode_chat(tok, messages[:-1], add_generation_prompt=True)), len(ids))
    return [IGNORE] * prompt_len + ids[prompt_len:], prompt_len


SENTINEL = "\x00tide-content-sentinel\x00"


class Encoded:
    """A templated conversation: text, ids, character offsets, content spans per message."""

    def __init__(self, tok, messages: Messages):
        self.text = render_chat(tok, messages)
        enc = tok(self.text, add_special_tokens=False, return_offsets_mapping=True)
        self.ids = list(enc["input_ids"])
        self.offsets = [tuple(o) for o in enc["offset_mapping"]]
        self.spans = locate_contents(tok, messages, self.text)


def locate_contents(tok, messages: Messages, text: str) -> list[tuple[int, int] | None]:
    """Character span of each message content in ``text`` (None: empty or not found).

    Message k is located by rendering the conversation with its content replaced by
    :data:`SENTINEL`; if the real text does not hold the content at that place (a template
    that rewrites content), the first occurrence after the previous message is used.
    """
    spans: list[tuple[int, int] | None] = []
    cursor = 0
    for k, m in enumerate(messages):
        content = m["content"]
        if not content:
            spans.append(None)
            continue
        probe = [*messages[:k], {**m, "content": SENTINEL}, *messages[k + 1:]]
        start = render_chat(tok, probe).find(SENTINEL)
        if start < cursor or text[start:start + len(content)] != content:
            start = text.find(content, cursor)
        if start < 0:
            log.debug("message %d: content not found verbatim in the templated text", k)
            spans.append(None)
            continue
        spans.append((start, start + len(content)))
        cursor = start + len(content)
    return spans


def _covering_span(offsets, c0: int, c1: int) -> tuple[int, int] | None:
    """Token span covering characters [c0, c1) (authors' ``find_text_in_tokens``)."""
    idx = [i for i, (a, b) in enumerate(offsets) if a < b and a < c1 and b > c0]
    return (idx[0], idx[-1] + 1) if idx else None


def content_ranges(messages: Messages, s: Encoded, t: Encoded, student_tok, teacher_tok
                   ) -> list[list[int]]:
    """Per message content ``[t_start, t_end, s_start, s_end]`` of equal decoded text."""
    ranges = []
    for m, s_chars, t_chars in zip(messages, s.spans, t.spans):
        if s_chars is None or t_chars is None or not m["content"].strip():
            continue
        s_span, t_span = _covering_span(s.offsets, *s_chars), _covering_span(t.offsets, *t_chars)
        if s_span is None or t_span is None:
            continue
        s_dec = student_tok.decode(s.ids[s_span[0]:s_span[1]], skip_special_tokens=False)
        t_dec = teacher_tok.decode(t.ids[t_span[0]:t_span[1]], skip_special_tokens=False)
        if s_dec.strip() == t_dec.strip():  # the authors' check
            ranges.append([t_span[0], t_span[1], s_span[0], s_span[1]])
        else:
            log.debug("content spans decode differently (%r vs %r); range dropped", s_dec, t_dec)
    return ranges


# ---------------------------------------------------------------- pipeline A


def cut_teacher_a(row: dict, teacher_max_length: int | None) -> dict:
    """The authors' teacher cut: end of the last chunk, at most ``teacher_max_length``.

    Chunks reaching past the cut are dropped (the authors' boolean matrices would clip
    them to partial chunks).  Idempotent.
    """
    chunks = row["chunks"]
    cut = max(c[3] for c in chunks) if chunks else len(row["teacher_input_ids"])
    if teacher_max_length is not None:
        cut = min(cut, teacher_max_length)
    return {**row, "chunks": [c for c in chunks if c[3] <= cut],
            "teacher_input_ids": row["teacher_input_ids"][:cut],
            "teacher_labels": row["teacher_labels"][:cut]}


def add_chunks(row: dict, student_tok, teacher_tok, teacher_max_length: int | None) -> dict:
    """Add the stored ``chunks`` column to a pipeline-A row, then cut the teacher."""
    from tide.distill.chunks import align_example

    ranges = [tuple(r) for r in row["ranges"]]
    chunks = align_example(ranges, row["input_ids"], row["teacher_input_ids"], student_tok,
                           teacher_tok, max_student_len=len(row["input_ids"]))
    row = {**row, "chunks": sorted([int(v) for v in c] for c in chunks)}
    return cut_teacher_a(row, teacher_max_length)


def authors_row_a(messages: Messages, student_tok, teacher_tok, max_length: int) -> dict | None:
    """The authors' pipeline-A row (no ``chunks``, full teacher), or None if prompt >= max."""
    s, t = Encoded(student_tok, messages), Encoded(teacher_tok, messages)
    labels, prompt_len = prompt_labels(student_tok, messages, s.ids)
    if prompt_len >= max_length:
        return None
    t_labels, _ = prompt_labels(teacher_tok, messages, t.ids)
    return {"input_ids": s.ids[:max_length], "labels": labels[:max_length],
            "teacher_input_ids": t.ids, "teacher_labels": t_labels,
            "ranges": content_ranges(messages, s, t, student_tok, teacher_tok),
            "prompt_len": prompt_len}


# ---------------------------------------------------------------- pipeline B


def _inner_tokens(offsets, c0: int, c1: int) -> list[int]:
    """Tokens lying entirely inside characters [c0, c1) (authors' ``align_chat_tokens``)."""
    return [i for i, (a, b) in enumerate(offsets) if a >= c0 and b <= c1 and a < b]


def align_assistant_tokens(messages: Messages, s: Encoded, t: Encoded
                           ) -> tuple[list[int], list[int]]:
    """Pair the k-th assistant-content token of the student with the teacher's k-th."""
    align_s, align_t = [], []
    for m, s_chars, t_chars in zip(messages, s.spans, t.spans):
        if m["role"] != "assistant" or s_chars is None or t_chars is None:
            continue
        s_tok, t_tok = _inner_tokens(s.offsets, *s_chars), _inner_tokens(t.offsets, *t_chars)
        n = min(len(s_tok), len(t_tok))
        align_s += s_tok[:n]
        align_t += t_tok[:n]
    return align_s, align_t


def authors_row_b(messages: Messages, student_tok, teacher_tok, max_length: int,
                  where: str = "row") -> dict | None:
    """The authors' pipeline-B row (teacher cut after its last aligned token), or None."""
    s, t = Encoded(student_tok, messages), Encoded(teacher_tok, messages)
    labels, prompt_len = prompt_labels(student_tok, messages, s.ids)
    if prompt_len >= max_length:
        return None
    align_s, align_t = align_assistant_tokens(messages, s, t)
    s_ids, t_ids = s.ids, t.ids
    bad = [(i, j) for i, j in zip(align_s, align_t) if s_ids[i] != t_ids[j]]
    if bad:
        raise ValueError(f"{where}: pipeline B expects equal token ids at aligned positions "
                         f"(shared tokenizer), found {len(bad)} mismatches, first "
                         f"student[{bad[0][0]}]={s_ids[bad[0][0]]} vs "
                         f"teacher[{bad[0][1]}]={t_ids[bad[0][1]]}")
    pairs = [(i, j) for i, j in zip(align_s, align_t) if i < max_length]
    if pairs:
        t_ids = t_ids[: max(j for _, j in pairs) + 1]
    return {"input_ids": s_ids[:max_length], "labels": labels[:max_length],
            "teacher_input_ids": t_ids, "align_student": [i for i, _ in pairs],
            "align_teacher": [j for _, j in pairs], "prompt_len": prompt_len}


def cap_teacher_b(row: dict, teacher_max_length: int | None) -> dict:
    """Cap the teacher at ``teacher_max_length`` and drop pairs past it.  Idempotent."""
    if teacher_max_length is None or len(row["teacher_input_ids"]) <= teacher_max_length:
        return row
    keep = [k for k, t in enumerate(row["align_teacher"]) if t < teacher_max_length]
    return {**row, "teacher_input_ids": row["teacher_input_ids"][:teacher_max_length],
            "align_student": [row["align_student"][k] for k in keep],
            "align_teacher": [row["align_teacher"][k] for k in keep]}


# ---------------------------------------------------------------- datasets


def build_pipeline_dataset(rows: Iterable[Any], student_tok, teacher_tok, pipeline: str,
                           max_length: int = 512, teacher_max_length: int | None = None,
                           authors_only: bool = False):
    """Tokenize chat rows into the authors' schema for ``pipeline`` ("A" or "B").

    Returns a ``datasets.Dataset`` with the columns of docs/architecture.md: A also gets
    ``chunks`` and the teacher cut, B the teacher cap.  ``authors_only=True`` gives exactly
    the authors' published rows instead (no ``chunks``, no cut/cap; used for fixtures).
    Rows whose student prompt is >= ``max_length`` are dropped.
    """
    if pipeline not in PIPELINE_COLUMNS:
        raise ValueError(f"pipeline: expected 'A' or 'B', found {pipeline!r}")
    out, dropped = [], 0
    for i, row in enumerate(rows):
        msgs, where = as_messages(row, f"row {i}"), f"row {i}"
        if pipeline == "A":
            built = authors_row_a(msgs, student_tok, teacher_tok, max_length)
            if built is not None and not authors_only:
                built = add_chunks(built, student_tok, teacher_tok, teacher_max_length)
        else:
            built = authors_row_b(msgs, student_tok, teacher_tok, max_length, where)
            if built is not None and not authors_only:
                built = cap_teacher_b(built, teacher_max_length)
        if built is None:
            dropped += 1
        else:
            out.append(built)
    log.info("pipeline %s: %d rows kept, %d dropped (prompt >= %d tokens)",
             pipeline, len(out), dropped, max_length)
    return _to_dataset(out, pipeline, with_chunks=pipeline == "A" and not authors_only)


def sft_row(messages: Messages, tok, max_length: int) -> dict | None:
    """dllm's ``default_sft_map_fn`` + right truncation; None if prompt >= ``max_length``."""
    ids = encode_chat(tok, messages)
    labels, prompt_len = prompt_labels(tok, messages, ids)
    if prompt_len >= max_length:
        return None
    return {"input_ids": ids[:max_length], "labels": labels[:max_length], "prompt_len": prompt_len}


def build_sft_dataset(rows: Iterable[Any], tok, max_length: int = 512):
    """Single-tokenizer SFT rows (``input_ids``, ``labels``, ``prompt_len``)."""
    built = [sft_row(as_messages(r, f"row {i}"), tok, max_length) for i, r in enumerate(rows)]
    kept = [b for b in built if b is not None]
    log.info("sft: %d rows kept, %d dropped (prompt >= %d tokens)",
             len(kept), len(built) - len(kept), max_length)
    return _to_dataset(kept, None)


def save_dataset(ds, out_dir: str | os.PathLike) -> None:
    """``save_to_disk`` into a temp dir renamed into place (no half-written dataset)."""
    from tide.io import atomic_dir

    with atomic_dir(out_dir) as tmp:
        ds.save_to_disk(str(tmp))
