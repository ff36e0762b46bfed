"""The teacher's LM head at scored positions only (``train.teacher_lm_head: scored``).

The distillation term reads the teacher's logits only where it scores: pipeline B at the
teacher positions of masked aligned pairs, pipeline A at the teacher tokens of active
chunks. The full [B, Lt, Vt] logits (fp32 after the upcast, twice with CompDemo) are the
largest tensor of a pipeline-A step at the paper's shapes. While :func:`lm_head_rows` is
open, a forward pre-hook on the model's output embedding replaces its input, the final
hidden states [B, Lt, H], by the N scored rows: the model returns logits [N, 1, Vt]. The
model is still called through its root (an FSDP-sharded teacher gathers its LM head
there). Same values at those positions (tests/test_train_objective.py).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def lm_head_rows(model: torch.nn.Module, rows: torch.Tensor, pos: torch.Tensor, seq_len: int):
    """Inside: the model's LM head runs on hidden rows ``(rows[i], pos[i])`` only and the
    model's logits are [N, 1, V]. ``seq_len``: the length of the sequence whose positions
    ``pos`` index (the teacher's); a forward that keeps no position (a clean-prefix pass)
    is left alone, any other length is an error (the model ignored ``logits_to_keep``)."""
    head = model.get_output_embeddings()
    if head is None:
        raise ValueError(f"{type(model).__name__}: no output embedding to restrict to the "
                         "scored positions; set train.teacher_lm_head: all")

    def pre(_module, args):
        hidden = args[0]
        if hidden.dim() != 3 or hidden.shape[1] == 0:
            return None
        if hidden.shape[1] != seq_len:
            raise ValueError(f"teacher_lm_head scored: the LM head received {hidden.shape[1]} "
                             f"positions, expected the scored sequence's {seq_len} (the model "
                             "does not honour logits_to_keep); set train.teacher_lm_head: all")
        return (hidden[rows, pos][:, None, :], *args[1:])  # [N, 1, H]

    handle = head.register_forward_pre_hook(pre)
    try:
        yield
    finally:
        handle.remove()
