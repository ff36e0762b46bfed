"""The BD3LM student: a Qwen3 decoder run without a causal mask (dllm's ``a2d-qwen3``).

The released students (``dllm-hub/Qwen3-0.6B-diffusion-bd3lm-v0.1`` and the TIDE
checkpoints) store a Qwen3 config with ``model_type: a2d-qwen3`` and Qwen3 weights; every
layer uses the caller's explicit 4-D mask. We register the same model type locally so
``AutoModelForMaskedLM.from_pretrained`` loads both our tiny students and that format.
"""

from __future__ import annotations

import torch
from transformers import (
    AutoConfig,
    AutoModelForMaskedLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

from tide.models.masks import bd3lm_mask, to_model_mask


class A2DQwen3Config(Qwen3Config):
    """Qwen3 config + the two fields a block-diffusion student needs."""

    model_type = "a2d-qwen3"

    def __init__(self, block_size: int = 32, mask_token_id: int | None = None, **kwargs):
        self.block_size = block_size
        self.mask_token_id = mask_token_id
        super().__init__(**kwargs)


class A2DQwen3LMHeadModel(Qwen3ForCausalLM):
    """Qwen3 weights; attention is whatever 4-D mask the caller passes (never causal)."""

    config_class = A2DQwen3Config


AutoConfig.register("a2d-qwen3", A2DQwen3Config, exist_ok=True)
AutoModelForMaskedLM.register(A2DQwen3Config, A2DQwen3LMHeadModel, exist_ok=True)


def bd3lm_logits(model, x_t: torch.Tensor, x_0: torch.Tensor, block_size: int | None = None,
                 *, xt_first: bool = True, key_valid: torch.Tensor | None = None) -> torch.Tensor:
    """Run the BD3LM training layout and return the logits of the x_t half.

    Input ids = [x_t ; x_0] (2L), position ids 0..L-1 twice, BD3LM block mask
    (docs/method.md §E1). No AR shift: position i predicts x_0[i].
    ``xt_first=False`` is the teacher order [x_0 ; x_t] (docs/method.md §1.4).
    ``key_valid`` [B, L] marks non-pad tokens (the teacher masks padding; the student
    does not, as in dllm). Returns [B, L, V].
    """
    bsz, length = x_0.shape
    inner = getattr(model, "module", model)  # DDP wraps the model; config/dtype live inside
    block_size = block_size or inner.config.block_size
    ids = torch.cat([x_t, x_0] if xt_first else [x_0, x_t], dim=1)  # [B, 2L]
    pos = torch.arange(length, device=x_0.device).repeat(2)[None].expand(bsz, -1)  # [B, 2L]
    mask = bd3lm_mask(length, block_size, xt_first=xt_first, device=x_0.device)  # [2L, 2L]
    if key_valid is not None:
        from tide.models.masks import with_key_padding

        mask = with_key_padding(mask, key_valid.repeat(1, 2))  # [B, 1, 2L, 2L]
    attn = to_model_mask(mask, inner.config._attn_implementation, inner.dtype)
    # Only the x_t half's logits are used: skip the LM head on x_0 (forward and backward;
    # at a 152k vocabulary that head is about a quarter of the 0.6B model's FLOPs).
    keep = torch.arange(length, device=x_0.device) if xt_first else length
    logits = model(input_ids=ids, attention_mask=attn, position_ids=pos,
                   logits_to_keep=keep).logits  # [B, L, V]
    if logits.shape[1] == 2 * length:  # a (remote-code) model without logits_to_keep
        logits = logits[:, :length] if xt_first else logits[:, length:]
    return logits


class BD3LMCleanPrefix:
    """The clean x_0 half of the BD3LM layout, computed once; x_t halves run against it.

    In [x_t ; x_0] (or [x_0 ; x_t]) the x_0 queries attend only to x_0 keys, so x_0's
    keys/values do not depend on x_t. CompDemo's two teacher passes share x_0 and differ
    only in x_t (docs/method.md §1.2): running x_0 once (no LM head) and each x_t half against
    its K/V gives the same logits as :func:`bd3lm_logits` on each full 2L sequence
    (tests/test_bench.py) for 3L instead of 4L token-forwards and 2L instead of 4L LM-head
    rows. The masks are the rows/columns of the same :func:`bd3lm_mask` (with padding).
    ``rows``: one clean sequence (batch 1) shared by that many x_t rows (Monte-Carlo
    likelihood samples, tide/bench/likelihood.py).
    """

    def __init__(self, model, x_0: torch.Tensor, block_size: int | None = None, *,
                 xt_first: bool = True, key_valid: torch.Tensor | None = None,
                 rows: int | None = None):
        from tide.models.kv import BlockKVCache
        from tide.models.masks import with_key_padding

        self.model = model
        bsz, length = x_0.shape
        block_size = block_size or model.config.block_size
        mask = bd3lm_mask(length, block_size, xt_first=xt_first, device=x_0.device)  # [2L, 2L]
        if key_valid is not None:
            mask = with_key_padding(mask, key_valid.repeat(1, 2))  # [B, 1, 2L, 2L]
        mask = mask if mask.dim() == 4 else mask[None, None]
        idx = torch.arange(length, device=x_0.device)
        x0_idx, xt_idx = (idx + length, idx) if xt_first else (idx, idx + length)
        keys = torch.cat([x0_idx, xt_idx])  # cache order: x_0 first, then the x_t being run
        impl, dtype = model.config._attn_implementation, model.dtype
        self._xt_mask = to_model_mask(mask[:, :, xt_idx][:, :, :, keys], impl, dtype)
        self._pos = idx[None].expand(bsz, -1)
        self.cache = BlockKVCache(2 * length)
        # through the model's root, not ``model.base_model``: an FSDP-sharded teacher gathers
        # its root parameters (embeddings) only in the root's forward; no LM-head rows
        model(input_ids=x_0, position_ids=self._pos, past_key_values=self.cache,
              attention_mask=to_model_mask(mask[:, :, x0_idx][:, :, :, x0_idx], impl, dtype),
              use_cache=True, logits_to_keep=torch.arange(0, device=x_0.device))
        self.cache.commit()
        if rows is not None:
            if bsz != 1:
                raise ValueError(f"BD3LMCleanPrefix: rows= needs one clean sequence, found {bsz}")
            self.cache.repeat_batch(rows)
            self._xt_mask = self._xt_mask.expand(rows, *self._xt_mask.shape[1:])
            self._pos = self._pos.expand(rows, -1)

    def logits(self, x_t: torch.Tensor) -> torch.Tensor:
        """Logits [B, L, V] of an x_t half (what :func:`bd3lm_logits` returns)."""
        return self.model(input_ids=x_t, attention_mask=self._xt_mask, position_ids=self._pos,
                          past_key_values=self.cache, use_cache=True).logits


def student_from_causal(causal_model, *, block_size: int, mask_token_id: int,
                        attn_implementation: str = "sdpa") -> A2DQwen3LMHeadModel:
    """Convert a trained Qwen3 AR model into a BD3LM student (same weights, new model type).

    This is what dllm's a2d conversion does to Qwen/Qwen3-0.6B before BD3LM SFT.
    """
    cfg_dict = causal_model.config.to_dict()
    for key in ("model_type", "architectures", "transformers_version", "auto_map"):
        cfg_dict.pop(key, None)
    cfg = A2DQwen3Config(block_size=block_size, mask_token_id=mask_token_id, **cfg_dict)
    cfg._attn_implementation = attn_implementation
    student = A2DQwen3LMHeadModel(cfg)
    missing, unexpected = student.load_state_dict(causal_model.state_dict(), strict=False)
    if [k for k in missing if "lm_head" not in k] or unexpected:
        raise ValueError(f"AR → BD3LM conversion: missing {missing}, unexpected {unexpected}")
    return student
