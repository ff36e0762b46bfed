"""Teacher adapters: one interface over two very different diffusion teachers.

``Teacher.logits(...)`` returns logits over the teacher's *own* vocabulary for the
teacher's *own* token positions; mapping to the student (shared-vocab slice, token
pairing, chunk alignment) is the objective's job (tide/distill/objective.py).

- Pipeline A, LLaDA2.0-mini-like: one sequence, full bidirectional attention that only
  blocks padding, its own mask id (docs/method.md §1.4).
- Pipeline B, WeDLM-like: run as a BD3LM over [x_0 ; x_t] with the block mask overriding
  the model's causal mask, logits from the x_t half (docs/method.md §1.4).

Teachers are frozen, eval mode, no gradients, reduced precision on GPU.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from tide.models.masks import bidirectional_mask, to_model_mask
from tide.models.student import BD3LMCleanPrefix, bd3lm_logits


@dataclass
class Teacher:
    """A frozen diffusion teacher with its own tokenizer ids."""

    model: torch.nn.Module
    kind: str  # "bidirectional" (pipeline A) | "bd3lm" (pipeline B)
    mask_token_id: int
    block_size: int = 32
    concat_order: str = "x0_xt"  # pipeline B only: "x0_xt" (authors) | "xt_x0" (ablation)
    # (clean, key_valid, prefix) while a ``shared_clean`` block is open
    _shared: tuple | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in ("bidirectional", "bd3lm"):
            raise ValueError(f"teacher kind: expected 'bidirectional' or 'bd3lm', found {self.kind!r}")
        if self.concat_order not in ("x0_xt", "xt_x0"):
            raise ValueError(f"concat_order: expected 'x0_xt' or 'xt_x0', found {self.concat_order!r}")
        self.model.eval().requires_grad_(False)

    @property
    def vocab_size(self) -> int:
        return self.model.config.vocab_size

    @torch.no_grad()
    def logits(self, noised: torch.Tensor, clean: torch.Tensor | None = None,
               key_valid: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher logits [B, L_t, V_t] for the noised teacher sequence (fp32, no grad)."""
        if self._shared is not None and clean is self._shared[0] and key_valid is self._shared[1]:
            return self._shared[2].logits(noised).float()
        out = diffusion_logits(self.model, self.kind, noised, clean, key_valid,
                               block_size=self.block_size, concat_order=self.concat_order)
        return out.float()  # loss maths in fp32 (docs/method.md §3)

    @contextmanager
    def shared_clean(self, clean: torch.Tensor, key_valid: torch.Tensor | None = None):
        """Inside this block, bd3lm passes over this same ``clean`` x_0 tensor reuse its K/V.

        CompDemo's two passes differ only in x_t (pipeline B): x_0 is run once, and each
        ``logits(noised, clean, key_valid)`` call runs only x_t (:class:`BD3LMCleanPrefix`;
        same logits within float rounding). A bidirectional teacher (pipeline A) sees the
        noised tokens everywhere, so nothing is shared there.
        """
        if self.kind != "bd3lm":
            yield
            return
        with torch.no_grad():
            prefix = BD3LMCleanPrefix(self.model, clean, self.block_size,
                                      xt_first=self.concat_order == "xt_x0", key_valid=key_valid)
        self._shared = (clean, key_valid, prefix)
        try:
            yield
        finally:
            self._shared = None


def diffusion_logits(model, kind: str, noised: torch.Tensor, clean: torch.Tensor | None,
                     key_valid: torch.Tensor | None, *, block_size: int,
                     concat_order: str = "x0_xt") -> torch.Tensor:
    """Forward of a diffusion teacher (also used to train the tiny ones, with grad).

    ``bidirectional`` needs only ``noised`` (masked chunks already replaced by its mask id);
    ``bd3lm`` also needs ``clean`` x_0 for the [x_0 ; x_t] layout. Returns [B, L, V].
    """
    if key_valid is None:
        key_valid = torch.ones_like(noised, dtype=torch.bool)
    if kind == "bidirectional":
        mask = bidirectional_mask(key_valid)  # [B, 1, L, L]
        return model(input_ids=noised, attention_mask=bidirectional_model_mask(model, mask)).logits
    if clean is None:
        raise ValueError("a bd3lm teacher needs the clean sequence x_0")
    return bd3lm_logits(model, noised, clean, block_size,
                        xt_first=concat_order == "xt_x0", key_valid=key_valid)


def bidirectional_model_mask(model, mask: torch.Tensor) -> torch.Tensor:
    """The boolean [B, 1, L, L] mask in the form this bidirectional teacher takes.

    The native LLaDA2 class (tide/models/llada2.py) takes the boolean keep-mask on sdpa and
    eager alike. A LLaDA2 checkpoint loaded through its published remote code is refused:
    that code inverts a 4-D mask on eager and rejects a boolean one on CUDA sdpa, and does not
    run correctly under transformers 5 at all. Native transformers decoders (the tiny
    Qwen3-MoE teacher) get :func:`to_model_mask`.
    """
    from tide.models.llada2 import MODEL_TYPE as LLADA2, LLaDA2MoeForCausalLM

    inner = getattr(model, "module", model)
    if isinstance(inner, LLaDA2MoeForCausalLM):
        return mask
    if getattr(inner.config, "model_type", None) == LLADA2:
        raise ValueError(
            f"LLaDA2 teacher loaded as {type(inner).__name__} (its remote code); load it with "
            "tide.models.load_teacher_model, which uses the native LLaDA2MoeForCausalLM")
    return to_model_mask(mask, inner.config._attn_implementation, inner.dtype)

