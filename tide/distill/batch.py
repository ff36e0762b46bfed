"""Collation: rows of the shared data schema -> padded tensors.

Student rows follow dllm's BD3LM collator (docs/method.md §E1): EOS is appended up to
a multiple of the block size and those EOS tokens are trained; batch padding (label -100)
then fills whole trailing blocks, which earlier blocks never attend to.
"""

from __future__ import annotations

import math

import torch

# collation runs on the host (data-loading side); the training loop moves the batch
HOST = torch.device("cpu")


def _round_up(n: int, k: int) -> int:
    return max(k, math.ceil(n / k) * k)


def pad_student(rows: list[dict], *, block_size: int, eos_id: int, pad_id: int,
                max_length: int) -> dict:
    """input_ids/labels [B, L] with trained EOS padding to the block, then -100 padding."""
    seqs = []
    for r in rows:
        ids, labels = list(r["input_ids"])[:max_length], list(r["labels"])[:max_length]
        extra = min(_round_up(len(ids), block_size), max_length) - len(ids)
        seqs.append((ids + [eos_id] * extra, labels + [eos_id] * extra))
    length = max(_round_up(len(s[0]), block_size) for s in seqs)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long, device=HOST)
    labels = torch.full((len(rows), length), -100, dtype=torch.long, device=HOST)
    for i, (s_ids, s_lab) in enumerate(seqs):
        ids[i, : len(s_ids)] = torch.tensor(s_ids, device=HOST)
        labels[i, : len(s_lab)] = torch.tensor(s_lab, device=HOST)
    prompt = torch.zeros_like(ids, dtype=torch.bool, device=HOST)
    valid = torch.zeros_like(ids, dtype=torch.bool, device=HOST)
    for i, (r, (s_ids, _)) in enumerate(zip(rows, seqs)):
        prompt[i, : int(r.get("prompt_len", 0))] = True
        valid[i, : len(s_ids)] = True
    return {"input_ids": ids, "labels": labels, "prompt": prompt, "valid": valid}


def pad_teacher(rows: list[dict], *, block_size: int, eos_id: int, max_length: int,
                field: str = "teacher_input_ids",
                eos_visible: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher ids padded with its EOS to a multiple of the block (docs/method.md §1.4), capped.

    Returns ids [B, Lt] and key_valid [B, Lt]. Batch padding (past a row's own block-rounded
    length) is always invalid, i.e. masked by the teacher. ``eos_visible``: a row's own EOS
    block padding is valid too, as the authors' WeDLM collator marks it (attention mask 1 up
    to the block-rounded length, ``distill_wedlm.py``), so the teacher's last block sees that
    the answer ended; otherwise only the row's real tokens are valid.
    """
    seqs = [list(r[field])[:max_length] for r in rows]
    length = min(max(_round_up(len(s), block_size) for s in seqs), _round_up(max_length, block_size))
    ids = torch.full((len(rows), length), eos_id, dtype=torch.long, device=HOST)
    valid = torch.zeros((len(rows), length), dtype=torch.bool, device=HOST)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long, device=HOST)
        valid[i, : min(_round_up(len(s), block_size), length) if eos_visible else len(s)] = True
    return ids, valid


def pair_tensors(rows: list[dict], student_len: int, teacher_len: int) -> dict:
    """Pipeline B token pairing -> index tensors [B, P] and validity [B, P]."""
    pairs = [[(s, t) for s, t in zip(r["align_student"], r["align_teacher"])
              if s < student_len and t < teacher_len] for r in rows]
    width = max(1, max(len(p) for p in pairs))
    s_idx = torch.zeros((len(rows), width), dtype=torch.long, device=HOST)
    t_idx = torch.zeros((len(rows), width), dtype=torch.long, device=HOST)
    valid = torch.zeros((len(rows), width), dtype=torch.bool, device=HOST)
    for i, p in enumerate(pairs):
        if p:
            s_idx[i, : len(p)] = torch.tensor([a for a, _ in p], device=HOST)
            t_idx[i, : len(p)] = torch.tensor([b for _, b in p], device=HOST)
            valid[i, : len(p)] = True
    return {"pair_student": s_idx, "pair_teacher": t_idx, "pair_valid": valid}


def chunk_tensors(rows: list[dict], student_len: int, teacher_len: int) -> dict:
    """Pipeline A stored chunks -> token×chunk matrices [B, Ls, C], [B, Lt, C], validity [B, C]."""
    chunks = [[c for c in r["chunks"] if c[1] <= student_len and c[3] <= teacher_len]
              for r in rows]
    width = max(1, max(len(c) for c in chunks))
    s_mat = torch.zeros((len(rows), student_len, width), dtype=torch.bool, device=HOST)
    t_mat = torch.zeros((len(rows), teacher_len, width), dtype=torch.bool, device=HOST)
    valid = torch.zeros((len(rows), width), dtype=torch.bool, device=HOST)
    for i, cs in enumerate(chunks):
        for j, (s0, s1, t0, t1) in enumerate(cs):
            s_mat[i, s0:s1, j] = True
            t_mat[i, t0:t1, j] = True
            valid[i, j] = True
    return {"student_chunks": s_mat, "teacher_chunks": t_mat, "chunk_valid": valid}


def collate(rows: list[dict], *, pipeline: str | None, block_size: int, max_length: int,
            student_tokens: dict, teacher_max_length: int | None = None,
            teacher_eos_id: int | None = None) -> dict:
    """Collate rows for SFT (``pipeline=None``) or distillation (``"A"``/``"B"``)."""
    batch = pad_student(rows, block_size=block_size, max_length=max_length, **student_tokens)
    if pipeline is None:
        return batch
    if pipeline == "A":
        # the teacher is cut at the end of the last chunk that fits the student (docs/method.md §1.4)
        rows = [{**r, "teacher_input_ids": list(r["teacher_input_ids"])[: max(
            (c[3] for c in r["chunks"]), default=len(r["teacher_input_ids"]))]} for r in rows]
    # pipeline B (WeDLM, BD3LM layout): its EOS block padding is visible, as in the authors'
    # collator; pipeline A (LLaDA2, bidirectional) sees only its real tokens
    t_ids, t_valid = pad_teacher(rows, block_size=block_size, eos_id=teacher_eos_id,
                                 max_length=teacher_max_length, eos_visible=pipeline == "B")
    batch.update(teacher_ids=t_ids, teacher_valid=t_valid)
    ls, lt = batch["input_ids"].shape[1], t_ids.shape[1]
    if pipeline == "B":
        batch.update(pair_tensors(rows, ls, lt))
    else:
        batch.update(chunk_tensors(rows, ls, lt))
    return batch
