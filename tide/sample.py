"""Block-diffusion sampler of the BD3LM student (docs/method.md §E2, dllm ``BD3LMSampler``).

Prompts are left-padded to a multiple of the block size B, then the answer is generated one
block of B mask tokens at a time. Inside a block, each denoising step predicts every still
masked slot and commits the most confident ones; committed tokens are never remasked.

Rows never interact: each row has its own left padding (pads are neither queries nor keys),
its own position ids (number of non-pad tokens before a position) and its own commits, so a
row's tokens do not depend on the batch it is in (tests/test_sampler.py).

How the prefix (prompt + finished blocks) is computed is ``SamplerSettings.cache``
(tide/models/prefix.py); all three give the same tokens up to floating-point rounding
(tests/test_sampler_fast.py):

- ``"incremental"`` (default): the prompt's keys/values are computed once, each finished
  block's once when it is committed (:class:`CachedPrefix`); a denoising step runs only
  the n block tokens against that cache. Valid because earlier blocks never attend to later
  ones (§E2.3b).
- ``"per_block"``: dllm's reference way, the whole prefix is re-run once per block, then the
  steps run against it (§E2.3b).
- ``"off"``: every step recomputes the whole sequence (:func:`prepare_block` +
  :func:`block_logits`), the plain path the others are tested against.

``SamplerSettings.threshold`` switches from the fixed schedule to confidence-threshold
parallel decoding (Fast-dLLM): each step commits every still-masked slot whose confidence
reaches the threshold, and at least the most confident one.

Imports only torch and transformers (docs/architecture.md).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable

import torch

from tide.models.prefix import CachedPrefix, block_logits, left_pad, prepare_block

log = logging.getLogger(__name__)

REMASKING = ("low_confidence", "random")
CACHE_MODES = ("incremental", "per_block", "off")


@dataclass
class SamplerSettings:
    """Sampler knobs; defaults are dllm's (§E2), the eval protocol overrides them (§E4)."""

    max_new_tokens: int = 128
    steps: int = 128  # total budget over all blocks, not per block (§E2.2)
    block_size: int = 32
    temperature: float = 0.0
    remasking: str = "low_confidence"
    cfg_scale: float = 0.0
    stop_on_eos: bool = True
    cache: str = "incremental"  # how the prefix is computed: CACHE_MODES (module docstring)
    threshold: float | None = None  # confidence-threshold parallel decoding instead of `steps`
    # dllm finds padding by value (x != pad_id) over the whole sequence, so a *generated*
    # token equal to pad_id is padding for every later block: no key, no position (docs/method.md §E2,
    # issue 10 item 6). True = the authors' behaviour (paper default); False keeps it valid.
    generated_pad_as_padding: bool = True

    def __post_init__(self) -> None:
        for name in ("max_new_tokens", "steps", "block_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"SamplerSettings.{name}: expected a positive int, found {value!r}")
        if self.remasking not in REMASKING:
            raise ValueError(f"SamplerSettings.remasking: expected one of {REMASKING}, "
                             f"found {self.remasking!r}")
        if self.cache not in CACHE_MODES:
            raise ValueError(f"SamplerSettings.cache: expected one of {CACHE_MODES}, "
                             f"found {self.cache!r}")
        if self.threshold is not None and not 0 < self.threshold <= 1:
            raise ValueError(f"SamplerSettings.threshold: expected None or a confidence in "
                             f"(0, 1], found {self.threshold!r}")
        if not self.temperature >= 0:
            raise ValueError(f"SamplerSettings.temperature: expected >= 0, found {self.temperature!r}")
        if self.cfg_scale != 0:
            raise NotImplementedError(
                f"SamplerSettings.cfg_scale: only 0 is supported (the protocol of §E4), "
                f"found {self.cfg_scale!r}")


def _reverse_mask_prob(s: float, t: float) -> float:
    """Linear schedule α(t) = 1 − t: P(still masked at s | masked at t) = (1−α(s))/(1−α(t)).

    Computed in float32 like dllm's ``LinearAlphaScheduler.reverse_mask_prob`` so the rounded
    counts match it bit for bit.
    """
    s32 = torch.tensor(s, dtype=torch.float32, device="cpu")  # host scalars
    t32 = torch.tensor(t, dtype=torch.float32, device="cpu")
    return ((1 - (1 - s32)) / (1 - (1 - t32))).item()


def num_transfer_tokens(masked: int, steps: int) -> list[int]:
    """Tokens to commit at each step of a block (§E2.3d, dllm ``get_num_transfer_tokens``).

    Step j of S commits k_j = round(r·(1 − s/t)) with r the number still masked,
    t = (S−j)/S and s = t − 1/S (round half to even, as ``torch.round``); zero entries are
    dropped, so the list may be shorter than ``steps``. It sums to ``masked``; S = masked
    gives one token per step.
    """
    if masked < 0 or steps < 1:
        raise ValueError(f"num_transfer_tokens: expected masked >= 0 and steps >= 1, "
                         f"found masked={masked}, steps={steps}")
    remaining, out = masked, []
    for j in range(steps):
        if remaining == 0:
            break
        t, s = (steps - j) / steps, (steps - 1 - j) / steps
        expected = torch.tensor(remaining, dtype=torch.float64, device="cpu") * (1 - _reverse_mask_prob(s, t))
        k = min(int(torch.round(expected).item()), remaining)
        remaining -= k
        if k > 0:
            out.append(k)
    return out


def _uniform(shape, device: torch.device, generator: torch.Generator | None,
             dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """U[0, 1) draws on ``device`` from ``generator``, wherever that generator lives: PyTorch
    refuses a CPU generator for a CUDA tensor, and the evaluation seeds a CPU one (the same
    draws on any device), so draw on the generator's device and move."""
    where = generator.device if generator is not None else device
    return torch.rand(shape, dtype=dtype, device=where, generator=generator).to(device)


def propose(logits: torch.Tensor, settings: SamplerSettings,
            generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Candidate tokens and their confidence (§E2.3e).

    x̂ = argmax(logits) at T = 0, else argmax(logits + T·Gumbel) in float64. Confidence is
    softmax(logits)[x̂] in the logits' own dtype (``low_confidence``; dllm's sampler: in a bf16
    evaluation near-1 confidences tie in bf16, and an fp32 softmax would break those ties
    differently) or a uniform draw (``random``).
    """
    if settings.temperature > 0:
        u = _uniform(logits.shape, logits.device, generator, torch.float64)
        gumbel = -torch.log(-torch.log(u.clamp_min(1e-300)))
        x0 = torch.argmax(logits.double() + settings.temperature * gumbel, dim=-1)
    else:
        x0 = torch.argmax(logits, dim=-1)
    if settings.remasking == "low_confidence":
        probs = torch.softmax(logits, dim=-1)  # logits' dtype, as dllm
        conf = torch.gather(probs, -1, x0[..., None]).squeeze(-1)
    else:
        conf = _uniform(x0.shape, logits.device, generator)
    return x0, conf


def select_commits(conf: torch.Tensor, still_masked: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean [N, n]: the top-k most confident still-masked slots of each row (§E2.3e).

    Ranked in the confidences' own dtype (ties included) as dllm's ``torch.topk`` does.
    """
    scores = torch.where(still_masked, conf, torch.full_like(conf, -math.inf))
    k = min(k, still_masked.shape[1])
    idx = torch.topk(scores, k, dim=-1).indices  # [N, k]
    commit = torch.zeros_like(still_masked).scatter_(1, idx, True)
    return commit & still_masked


def threshold_commits(conf: torch.Tensor, still_masked: torch.Tensor,
                      threshold: float) -> torch.Tensor:
    """Boolean [N, n]: masked slots with confidence ≥ threshold, and at least the most
    confident masked slot of every row that still has one (Fast-dLLM parallel decoding)."""
    scores = torch.where(still_masked, conf.float(), torch.full_like(conf, -math.inf, dtype=torch.float))
    best = torch.zeros_like(still_masked).scatter_(1, scores.argmax(-1, keepdim=True), True)
    return still_masked & ((scores >= threshold) | best)


StepHook = Callable[[int, int, torch.Tensor, torch.Tensor], None]


def _denoise_block(step_logits: Callable[..., torch.Tensor], block: torch.Tensor,
                   settings: SamplerSettings, steps: int, generator, on_step: StepHook | None,
                   block_index: int) -> torch.Tensor:
    """Run the schedule (or the threshold rule) of one block; returns the finished block [N, n].

    ``step_logits(block, still_masked)`` is one denoising forward: logits [N, n, V], needed
    only where ``still_masked``.
    """
    still_masked = torch.ones_like(block, dtype=torch.bool)
    n = block.shape[1]
    # schedule: k_j tokens per step; threshold: at most n steps, each commits >= 1 per row
    plan = num_transfer_tokens(n, steps) if settings.threshold is None else [None] * n
    for j, k in enumerate(plan):
        if not still_masked.any():
            break
        x0, conf = propose(step_logits(block, still_masked), settings, generator)
        if k is None:
            commit = threshold_commits(conf, still_masked, settings.threshold)
        else:
            commit = select_commits(conf, still_masked, k)
        block = torch.where(commit, x0, block)
        still_masked &= ~commit
        if on_step is not None:
            on_step(block_index, j, block.clone(), still_masked.clone())
    if still_masked.any():  # cannot happen: the schedule sums to n
        raise RuntimeError("sampler: block finished with masked slots left")
    return block


def _trim(generated: torch.Tensor, eos_ids: set[int]) -> list[list[int]]:
    """Per row: the generated ids cut before the first eos/eot (§E2.4)."""
    rows = []
    for row in generated.tolist():
        cut = next((i for i, t in enumerate(row) if t in eos_ids), len(row))
        rows.append(row[:cut])
    return rows


@torch.inference_mode()
def generate(model, prompts: list[list[int]], settings: SamplerSettings, *, mask_id: int,
             pad_id: int, eos_ids: set[int], generator: torch.Generator | None = None,
             on_step: StepHook | None = None) -> list[list[int]]:
    """Generate an answer for each prompt (token ids, chat template already applied), §E2.

    Returns the generated ids per row (after the prompt, cut at the first eos). ``on_step``
    (block index, step index, block ids [N, n], still-masked [N, n]) observes every step.
    """
    if not prompts:
        return []
    if not eos_ids:
        raise ValueError("generate: eos_ids is empty; expected the tokenizer's eos/eot ids")
    device = next(model.parameters()).device if hasattr(model, "parameters") else "cpu"
    B = settings.block_size
    x, valid = left_pad(prompts, pad_id, B, device)
    prompt_width = x.shape[1]
    num_blocks = math.ceil(settings.max_new_tokens / B)
    steps_per_block = math.ceil(settings.steps / num_blocks)
    eos = torch.tensor(sorted(eos_ids), device=device)
    done = torch.zeros(len(prompts), dtype=torch.bool, device=device)
    cached = None
    if settings.cache != "off":
        cached = CachedPrefix(model, x, valid, B, capacity=prompt_width + settings.max_new_tokens,
                              mode=settings.cache)
    for b in range(num_blocks):
        n = min(B, settings.max_new_tokens - b * B)
        if cached is None:
            ctx = prepare_block(model, x, valid, n, B)
            step_logits = lambda blk, _masked, ctx=ctx: block_logits(model, ctx, blk)  # noqa: E731
        else:
            step_logits = cached.logits
        block = torch.full((len(prompts), n), mask_id, dtype=torch.long, device=device)
        block = _denoise_block(step_logits, block, settings, steps_per_block, generator, on_step, b)
        x = torch.cat([x, block], dim=1)
        block_valid = (block != pad_id) if settings.generated_pad_as_padding \
            else torch.ones_like(block, dtype=torch.bool)
        valid = torch.cat([valid, block_valid], dim=1)
        done |= torch.isin(block, eos).any(dim=1)
        if settings.stop_on_eos and bool(done.all()):
            log.debug("sampler: all %d rows hit eos after block %d/%d", len(prompts), b + 1, num_blocks)
            break
        if cached is not None and b + 1 < num_blocks:
            cached.append(block, block_valid)
    return _trim(x[:, prompt_width:], eos_ids)


def trim_and_decode(tokenizer, ids: list[int]) -> str:
    """Decode generated ids skipping special tokens (§E2.4; ids already cut at eos)."""
    return tokenizer.decode(ids, skip_special_tokens=True)
