"""A preallocated key/value cache for block-wise forwards (sampler and CompDemo teacher).

Block diffusion reuses a *committed* prefix (the prompt and finished blocks; the clean x_0
half of a BD3LM teacher) under many different *trial* blocks: every denoising step of the
sampler, each of CompDemo's two noised passes. Trial tokens must not stay in the cache, so
transformers' ``DynamicCache`` would need a copy or a ``crop`` per trial, and ``crop``'s
meaning changed between transformers 5.x releases (an absolute length, then a count to
remove). This cache sidesteps both: one buffer per layer, sized once; a forward writes its
keys/values right after the committed length and attends to the buffer up to its end;
:meth:`commit` moves the committed length forward, otherwise the next forward simply
overwrites the trial slots. No copy of the prefix is made per step.

transformers' decoders (Qwen3, Qwen3-MoE) only call ``update(k, v, layer_idx)`` and, when
no ``position_ids`` are given, ``get_seq_length()``; callers here always pass position ids
and an explicit 4-D mask, which transformers returns as-is.

Imports only torch.
"""

from __future__ import annotations

import torch


class BlockKVCache:
    """Per-layer K/V buffers [N, H_kv, capacity, D] with a committed length.

    ``update`` (called by every attention layer) writes the new keys/values at
    [committed, committed + n) and returns views over [0, committed + n).
    """

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"BlockKVCache: capacity must be positive, found {capacity}")
        self.capacity = capacity
        self.committed = 0
        self._pending = 0  # tokens written by the last forward, not committed
        self._keys: dict[int, torch.Tensor] = {}
        self._values: dict[int, torch.Tensor] = {}

    # -------------------------------------------------- what transformers calls
    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int,
               *args, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        n = key_states.shape[-2]
        start, end = self.committed, self.committed + n
        if end > self.capacity:
            raise RuntimeError(f"BlockKVCache: {end} tokens exceed the capacity {self.capacity}")
        if layer_idx not in self._keys:
            bsz, heads, _, dim = key_states.shape
            self._keys[layer_idx] = key_states.new_empty(bsz, heads, self.capacity, dim)
            self._values[layer_idx] = value_states.new_empty(
                bsz, value_states.shape[1], self.capacity, value_states.shape[-1])
        k, v = self._keys[layer_idx], self._values[layer_idx]
        k[:, :, start:end] = key_states
        v[:, :, start:end] = value_states
        self._pending = n
        return k[:, :, :end], v[:, :, :end]

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.committed

    is_compileable = False

    # -------------------------------------------------- what our callers use
    def commit(self) -> None:
        """Keep the tokens of the last forward: the next forward appends after them."""
        self.committed += self._pending
        self._pending = 0

    def repeat_batch(self, n: int) -> None:
        """Batch 1 -> n copies of the committed prefix (rows that share it, e.g. Monte-Carlo
        samples of one clean sequence)."""
        for store in (self._keys, self._values):
            for i, buf in store.items():
                if buf.shape[0] != 1:
                    raise ValueError(f"BlockKVCache.repeat_batch: batch is {buf.shape[0]}, not 1")
                store[i] = buf.repeat(n, 1, 1, 1)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for s in (self._keys, self._values)
                   for t in s.values())
