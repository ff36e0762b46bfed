"""The prefix of a block-diffusion generation (prompt + finished blocks) as the student sees it
(docs/method.md §E2.1, §E2.3a-b), for the sampler (tide/sample.py).

Prompts are left-padded to a multiple of the block size; pads are neither queries nor keys,
and a position id counts the non-pad tokens before it. The prefix is either recomputed at
every denoising step (:func:`prepare_block` + :func:`block_logits`, ``cache="off"``) or held
as keys/values (:class:`CachedPrefix`, ``cache="incremental"`` / ``"per_block"``).

Imports only torch and transformers (docs/architecture.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from tide.models.kv import BlockKVCache
from tide.models.masks import block_causal_mask, to_model_mask


@dataclass
class BlockContext:
    """Everything a denoising forward of one block needs (built once per block).

    ``prefix`` [N, P] holds the (left-padded) prompt and the finished blocks; ``attention_mask``
    and ``position_ids`` cover prefix + block (the plain path, ``cache="off"``).
    """

    prefix: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    block_len: int


def left_pad(prompts: list[list[int]], pad_id: int, block_size: int,
             device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad to P′ = ⌈P_max/B⌉·B (§E2.1). Returns ids [N, P′] and validity [N, P′] (False = pad)."""
    width = math.ceil(max(len(p) for p in prompts) / block_size) * block_size
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long, device=device)
    valid = torch.zeros((len(prompts), width), dtype=torch.bool, device=device)
    for i, p in enumerate(prompts):
        if p:
            ids[i, width - len(p):] = torch.tensor(p, dtype=torch.long, device=device)
            valid[i, width - len(p):] = True
    return ids, valid


def block_causal_inputs(model, valid: torch.Tensor, block_size: int
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention mask and position ids of a block-aligned sequence with validity ``valid`` [N, L]
    (§E2.3a).

    Physical block id = index div B; allowed(q, k) ⇔ bid(k) ≤ bid(q), pads neither queries
    nor keys; position id = number of non-pad tokens before the position (pads: 0).
    Returns the model's mask [N, 1, L, L] and position ids [N, L].
    """
    n_rows, length = valid.shape
    block_ids = (torch.arange(length, device=valid.device) // block_size)[None].expand(n_rows, -1)
    mask = block_causal_mask(block_ids, valid)  # [N, 1, L, L] bool
    attn = to_model_mask(mask, model.config._attn_implementation, model.dtype)
    positions = (torch.cumsum(valid.long(), dim=1) - 1).clamp(min=0) * valid.long()  # [N, L]
    return attn, positions


def prepare_block(model, prefix: torch.Tensor, prefix_valid: torch.Tensor, block_len: int,
                  block_size: int) -> BlockContext:
    """Mask and position ids for prefix + one block of ``block_len`` tokens (§E2.3a;
    :func:`block_causal_inputs`)."""
    valid = torch.cat([prefix_valid, prefix_valid.new_ones(prefix.shape[0], block_len)], dim=1)
    attn, positions = block_causal_inputs(model, valid, block_size)  # over [N, L] = prefix + block
    return BlockContext(prefix=prefix, attention_mask=attn, position_ids=positions,
                        block_len=block_len)


def block_logits(model, ctx: BlockContext, block: torch.Tensor) -> torch.Tensor:
    """One denoising forward (§E2.3e): logits [N, n, V] of the ``block`` [N, n] tokens.

    The plain path (``cache="off"``): the whole prefix is recomputed at every step.
    """
    ids = torch.cat([ctx.prefix, block], dim=1)
    out = model(input_ids=ids, attention_mask=ctx.attention_mask,
                position_ids=ctx.position_ids, use_cache=False)
    return out.logits[:, -ctx.block_len:]


def _step_mask(model, key_valid: torch.Tensor, n: int) -> torch.Tensor:
    """Mask of n block queries over [prefix ; block] keys: every non-pad key (§E2.3a).

    The block's physical id is the largest so far, so bid(k) ≤ bid(q) holds for all keys;
    only pads are excluded. ``key_valid`` [N, K] -> [N, 1, n, K].
    """
    mask = key_valid[:, None, None, :].expand(-1, 1, n, -1)
    return to_model_mask(mask, model.config._attn_implementation, model.dtype)


class CachedPrefix:
    """The prompt and committed blocks as keys/values (§E2.3b); steps run only the block.

    ``mode="incremental"`` appends each committed block's K/V once; ``"per_block"`` re-runs
    the whole prefix when a block is committed (dllm). Denoising steps write their block's
    K/V after the committed prefix without committing it (tide/models/kv.py), so the cache
    never grows with trial blocks — the "copy of the prefix cache" of §E2.3e, without a copy.
    """

    def __init__(self, model, prefix: torch.Tensor, prefix_valid: torch.Tensor, block_size: int,
                 capacity: int, mode: str = "incremental"):
        if mode not in ("incremental", "per_block"):
            raise ValueError(f"CachedPrefix: mode must be 'incremental' or 'per_block', found {mode!r}")
        self.model, self.block_size, self.capacity, self.mode = model, block_size, capacity, mode
        self._prefill(prefix, prefix_valid)

    def _prefill(self, prefix: torch.Tensor, prefix_valid: torch.Tensor) -> None:
        """Block-causal forward of a whole (block-aligned) prefix into a fresh cache."""
        self.cache = BlockKVCache(self.capacity)
        self.prefix, self.valid = prefix, prefix_valid  # [N, P]
        self.n_valid = prefix_valid.long().sum(1)  # [N] non-pad tokens so far
        attn, positions = block_causal_inputs(self.model, prefix_valid, self.block_size)
        self.model.base_model(input_ids=prefix, attention_mask=attn, position_ids=positions,
                              past_key_values=self.cache, use_cache=True)
        self.cache.commit()

    def _block_inputs(self, block: torch.Tensor) -> dict:
        n = block.shape[1]
        key_valid = torch.cat([self.valid, self.valid.new_ones(block.shape[0], n)], dim=1)
        positions = self.n_valid[:, None] + torch.arange(n, device=block.device)[None]  # [N, n]
        return dict(input_ids=block, attention_mask=_step_mask(self.model, key_valid, n),
                    position_ids=positions, past_key_values=self.cache, use_cache=True)

    def logits(self, block: torch.Tensor, still_masked: torch.Tensor | None = None) -> torch.Tensor:
        """One denoising forward of the block [N, n] against the cache: logits [N, n, V].

        With ``still_masked`` [N, n] the LM head runs only on positions still masked in some
        row (the others are never committed again; their logits are left 0). At a 152k
        vocabulary the head is a quarter of the 0.6B student's FLOPs.
        """
        if still_masked is None:
            return self.model(**self._block_inputs(block)).logits
        keep = still_masked.any(0).nonzero().flatten()  # [k] positions masked in some row
        part = self.model(**self._block_inputs(block), logits_to_keep=keep).logits  # [N, k, V]
        if part.shape[1] == block.shape[1]:  # a model without logits_to_keep: all positions
            return part
        out = part.new_zeros(block.shape[0], block.shape[1], part.shape[-1])
        out[:, keep] = part
        return out

    def append(self, block: torch.Tensor, block_valid: torch.Tensor | None = None) -> None:
        """Commit a finished block [N, n]: its K/V join the prefix (no LM head needed).

        ``block_valid`` [N, n] (default all True) marks committed tokens that later blocks
        treat as padding (``SamplerSettings.generated_pad_as_padding``)."""
        if block_valid is None:
            block_valid = self.valid.new_ones(block.shape)
        prefix = torch.cat([self.prefix, block], dim=1)
        valid = torch.cat([self.valid, block_valid], dim=1)
        if self.mode == "per_block":
            self._prefill(prefix, valid)
            return
        inputs = self._block_inputs(block)
        # positions and keys as the prefill of ``valid`` would give them
        key_valid = torch.cat([self.valid, block_valid], dim=1)
        inputs["position_ids"] = (self.n_valid[:, None]
                                  + torch.cumsum(block_valid.long(), dim=1) - 1).clamp(min=0)
        inputs["attention_mask"] = _step_mask(self.model, key_valid, block.shape[1])
        self.model.base_model(**inputs)
        self.cache.commit()
        self.prefix, self.valid = prefix, valid
        self.n_valid = self.n_valid + block_valid.long().sum(1)
