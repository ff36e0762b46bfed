"""Minimal aligned chunks between two tokenizations of the same text (tokenkit-style).

docs/method.md §1.3.  Inside each matched content range both token lists are turned into
bytes; a two-pointer walk closes a chunk whenever the cumulative byte lengths of the two
sides agree.  Chunks are therefore the minimal spans whose edges are token boundaries on
both sides; chunks whose bytes differ are dropped.  Template tokens lie outside every
range and never enter a chunk.

Tokenizer objects are passed in (nothing heavy is imported here): a
``transformers.PreTrainedTokenizerFast`` or ``tokenizers.Tokenizer`` with a ByteLevel BPE
model, or a ``tiktoken.Encoding``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

Chunk = tuple[int, int, int, int]  # (s_start, s_end, t_start, t_end), half-open


@lru_cache(maxsize=1)
def _unicode_to_byte() -> dict[str, int]:
    """Inverse of GPT-2's ``bytes_to_unicode``: the printable stand-in char -> its byte."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:  # control/space bytes are shifted past 255 so they stay printable
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def _byte_level_bytes(token: str) -> bytes:
    table = _unicode_to_byte()
    try:
        return bytes(table[ch] for ch in token)
    except KeyError as err:
        raise ValueError(f"token {token!r} is not a ByteLevel token (char {err.args[0]!r} is "
                         "outside the GPT-2 byte alphabet); only ByteLevel BPE tokenizers "
                         "and tiktoken encodings are supported") from None


def token_bytes(tokenizer, ids: Sequence[int]) -> list[bytes]:
    """The bytes each token id stands for (docs/method.md §1.3).

    tiktoken: ``decode_single_token_bytes``.  HF ByteLevel BPE: the vocabulary string
    mapped back through the GPT-2 byte alphabet; added/special tokens -> their UTF-8 text
    (they are matched on raw text, not byte-level encoded).
    """
    ids = [int(i) for i in ids]
    if hasattr(tokenizer, "decode_single_token_bytes"):  # tiktoken.Encoding
        return [tokenizer.decode_single_token_bytes(i) for i in ids]
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)  # HF fast -> tokenizers.Tokenizer
    if not hasattr(backend, "id_to_token"):
        raise TypeError(f"unsupported tokenizer type {type(tokenizer).__name__}: expected a "
                        "PreTrainedTokenizerFast, tokenizers.Tokenizer or tiktoken.Encoding")
    added = {i: tok.content for i, tok in backend.get_added_tokens_decoder().items()}
    out = []
    for i in ids:
        if i in added:
            out.append(added[i].encode("utf-8"))
            continue
        token = backend.id_to_token(i)
        if token is None:
            raise ValueError(f"token id {i} is outside the tokenizer's vocabulary")
        out.append(_byte_level_bytes(token))
    return out


def leading_spaces(tokens: Sequence[bytes]) -> int:
    """Number of consecutive space bytes at the start of a token list (across tokens)."""
    count = 0
    for token in tokens:
        stripped = token.lstrip(b" ")
        count += len(token) - len(stripped)
        if stripped:
            break
    return count


def reconcile_leading_spaces(s_bytes: Sequence[bytes],
                             t_bytes: Sequence[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Pad the side with fewer leading spaces with spaces on its first token (tokenkit).

    The same message can be located in two templated texts with or without the space that
    follows its header (one tokenizer folds it into the content's first token, the other
    does not); without this step the byte lengths never agree and the whole message yields
    no chunk. tokenkit's ``get_alignment_indices`` counts the leading spaces of both sides
    and prepends the difference to the first token of the shorter side (docs/method.md §1.3).
    """
    s_list, t_list = list(s_bytes), list(t_bytes)
    if not s_list or not t_list:
        return s_list, t_list
    diff = leading_spaces(s_list) - leading_spaces(t_list)
    if diff > 0:
        t_list[0] = b" " * diff + t_list[0]
    elif diff < 0:
        s_list[0] = b" " * -diff + s_list[0]
    return s_list, t_list


def align_minimal_chunks(s_bytes: Sequence[bytes], t_bytes: Sequence[bytes]) -> list[Chunk]:
    """Minimal chunks of two byte tokenizations of the same text (docs/method.md §1.3).

    A difference in leading spaces is first reconciled as tokenkit does
    (:func:`reconcile_leading_spaces`). Two-pointer walk: advance the side whose cumulative byte length is behind (the student
    on ties); when both sides have advanced and the lengths agree, close the chunk.
    Returns relative half-open spans (s_start, s_end, t_start, t_end); chunks whose
    concatenated bytes differ, and an unclosed tail, are dropped.
    """
    s_bytes, t_bytes = reconcile_leading_spaces(s_bytes, t_bytes)
    chunks: list[Chunk] = []
    i = j = 0  # next student / teacher token
    s0 = t0 = 0  # start of the open chunk
    len_s = len_t = 0  # cumulative byte lengths
    while i < len(s_bytes) or j < len(t_bytes):
        if (len_s <= len_t and i < len(s_bytes)) or j >= len(t_bytes):
            len_s += len(s_bytes[i])
            i += 1
        else:
            len_t += len(t_bytes[j])
            j += 1
        if len_s == len_t and i > s0 and j > t0:
            if b"".join(s_bytes[s0:i]) == b"".join(t_bytes[t0:j]):
                chunks.append((s0, i, t0, j))
            s0, t0 = i, j
    return chunks


def align_example(ranges: Sequence[Sequence[int]], student_ids: Sequence[int],
                  teacher_ids: Sequence[int], student_tok, teacher_tok,
                  max_student_len: int | None = None) -> list[list[int]]:
    """Absolute minimal chunks [s0, s1, t0, t1] of one example (docs/method.md §1.3).

    ``ranges``: per message content ``(t_start, t_end, s_start, s_end)`` (the authors'
    format; token spans of equal text).  Alignment runs inside each range only.  Chunks
    must end within ``max_student_len`` (default: ``len(student_ids)``, i.e. the student
    is truncated on the right); a truncated range still yields exactly its chunks that
    close before the cut, because the walk only depends on the tokens before a boundary.
    """
    s_limit = len(student_ids) if max_student_len is None else min(max_student_len,
                                                                    len(student_ids))
    out: list[list[int]] = []
    for t_start, t_end, s_start, s_end in ranges:
        s_end_eff, t_end_eff = min(s_end, s_limit), min(t_end, len(teacher_ids))
        if s_start >= s_end_eff or t_start >= t_end_eff:
            continue
        s_b = token_bytes(student_tok, student_ids[s_start:s_end_eff])
        t_b = token_bytes(teacher_tok, teacher_ids[t_start:t_end_eff])
        for a, b, c, d in align_minimal_chunks(s_b, t_b):
            out.append([s_start + a, s_start + b, t_start + c, t_start + d])
    return out


def chunk_matrices(chunks: Sequence[Sequence[int]], student_len: int, teacher_len: int):
    """Boolean student-tokens × chunks [Ls, C] and teacher-tokens × chunks [Lt, C] (§1.3).

    Spans are clipped to the given lengths (callers drop chunks past a cut beforehand).
    """
    import torch  # kept local: this module is also used at data-building time

    s_mat = torch.zeros(student_len, len(chunks), dtype=torch.bool, device="cpu")  # [Ls, C] (host side)
    t_mat = torch.zeros(teacher_len, len(chunks), dtype=torch.bool, device="cpu")  # [Lt, C]
    for c, (s0, s1, t0, t1) in enumerate(chunks):
        s_mat[s0:min(s1, student_len), c] = True
        t_mat[t0:min(t1, teacher_len), c] = True
    return s_mat, t_mat
