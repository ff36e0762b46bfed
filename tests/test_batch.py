"""Teacher-side collation against the authors' collators (issue 10, item 3)."""

from __future__ import annotations

import torch

from tide.distill.batch import collate

BLOCK, EOS, PAD = 8, 3, 0


def _rows(teacher_lengths):
    rows = []
    for n in teacher_lengths:
        ids = list(range(10, 10 + 6))
        rows.append({"input_ids": ids, "labels": [-100] * 2 + ids[2:], "prompt_len": 2,
                     "teacher_input_ids": list(range(40, 40 + n)),
                     "align_student": [2, 3], "align_teacher": [2, 3],
                     "chunks": [[2, 4, 2, 4]]})
    return rows


def _collate(pipeline, rows):
    return collate(rows, pipeline=pipeline, block_size=BLOCK, max_length=32,
                   student_tokens={"eos_id": EOS, "pad_id": PAD}, teacher_max_length=40,
                   teacher_eos_id=EOS)


def test_pipeline_b_teacher_eos_block_padding_is_visible():
    """distill_wedlm.py: each teacher row is EOS-padded to a block multiple and its attention
    mask is 1 up to there; only the batch padding beyond it is masked."""
    batch = _collate("B", _rows([5, 11, 17]))
    ids, valid = batch["teacher_ids"], batch["teacher_valid"]
    assert ids.shape == (3, 24)
    assert valid.sum(1).tolist() == [8, 16, 24]  # own length rounded up to the block
    assert (ids[0, 5:8] == EOS).all() and valid[0, 5:8].all()  # EOS padding: valid
    assert not valid[0, 8:].any() and not valid[1, 16:].any()  # batch padding: masked


def test_pipeline_a_teacher_sees_only_its_tokens():
    """The bidirectional LLaDA2 teacher gets no EOS block padding of its own (masked)."""
    batch = _collate("A", _rows([5, 11]))
    assert batch["teacher_valid"].sum(1).tolist() == [4, 4]  # cut at the last chunk's end
