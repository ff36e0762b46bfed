"""Training precision of the distilled student (``train.precision`` in the config).

* ``bf16_pure`` — the authors' setting and the paper default: the student's weights are
  bf16 and AdamW updates them in place (bf16 moments, no fp32 master copy; dllm's config
  dtype ``bfloat16`` with the HF Trainer's ``--bf16``). An update smaller than half a bf16
  ulp of its weight is lost: bf16 keeps 8 significant bits, so half an ulp of w is
  2^(⌊log2 |w|⌋ − 8); AdamW's early steps move each weight by ≈ lr = 5e-5 ≈ 2^-14.3, lost
  for every |w| ≥ 2^-6 ≈ 0.016. RMSNorm weights (≈ 1) never move; N(0, 0.02) weights move
  only when small (≈ half of them; tests/test_precision.py measures both).
* ``bf16_mixed`` — the standard way: fp32 master weights and fp32 AdamW states, the
  forward and backward under bf16 autocast (weights cast per op, gradients back in fp32).
* ``fp32`` — fp32 throughout (the tiny default on CPU).

fp16 training has no gradient scaler here; it is refused at validation (tide/config.py).
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("bf16_pure", "bf16_mixed", "fp32")
DEFAULT_FOR_DTYPE = {"bfloat16": "bf16_pure", "float32": "fp32"}


def resolve(raw: dict) -> str:
    """The run's precision: ``train.precision``, else the one ``dtype`` always meant
    (bfloat16 → bf16_pure, float32 → fp32). float16 without it is an error (no scaler)."""
    explicit = (raw.get("train") or {}).get("precision")
    if explicit is not None:
        return explicit
    if raw["dtype"] not in DEFAULT_FOR_DTYPE:
        raise ValueError(f"field train.precision: dtype {raw['dtype']!r} would train the student "
                         "in pure float16 without a gradient scaler (updates underflow, losses "
                         f"overflow); set train.precision to one of {list(PRECISIONS)}")
    return DEFAULT_FOR_DTYPE[raw["dtype"]]


def weights_dtype(precision: str) -> torch.dtype:
    """dtype the trained weights (and so AdamW's states) are held in."""
    check(precision)
    return torch.bfloat16 if precision == "bf16_pure" else torch.float32


def autocast(precision: str, device: torch.device | str):
    """Context of the forward/backward: bf16 autocast for ``bf16_mixed``, else nothing."""
    check(precision)
    if precision != "bf16_mixed":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def check(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"train.precision: expected one of {list(PRECISIONS)}, found {precision!r}")


def check_model(model: torch.nn.Module, precision: str) -> None:
    """The trainable weights must be held in ``weights_dtype(precision)`` (an fp32 master copy
    for bf16_mixed, bf16 for bf16_pure): a mismatch would silently train another way."""
    want = weights_dtype(precision)
    found = {p.dtype for p in model.parameters() if p.requires_grad}
    if found and found != {want}:
        raise ValueError(f"train.precision {precision}: expected trainable weights in {want}, "
                         f"found {sorted(str(d) for d in found)}")
