"""A guard that makes CPU runs catch the tensors a GPU run would put on the wrong device.

On a CPU machine every tensor lives on the CPU, so a ``torch.arange(n)`` (CPU) that later
indexes a CUDA tensor with a CUDA boolean mask — which PyTorch rejects on a GPU ("indices
should be either on cpu or on the same device as the indexed tensor") — runs fine here. The
``meta`` device does not catch it either (meta and CPU mix freely in indexing). The rule
that does: every tensor factory in the package names its device (the device of the data it
meets, or the CPU generator's device for deliberate CPU noise). :class:`ExplicitDevice` is a
``TorchFunctionMode`` that raises :class:`ImplicitDeviceError` on any factory call without
an explicit ``device=`` made from a file under ``tide/`` (third-party code is its own
business; set ``everywhere=True`` to check all callers).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

# functions that create a tensor from nothing (no input tensor to take a device from)
FACTORIES = {torch.arange, torch.zeros, torch.ones, torch.full, torch.empty, torch.tensor,
             torch.as_tensor, torch.randperm, torch.rand, torch.randn, torch.randint,
             torch.linspace, torch.logspace, torch.eye, torch.scalar_tensor,
             torch.empty_strided, torch.tril_indices, torch.triu_indices}
_PACKAGE = str(Path(__file__).resolve().parent)


class ImplicitDeviceError(RuntimeError):
    """A tensor factory was called without ``device=`` (it would land on the CPU on a GPU run)."""


class ExplicitDevice(TorchFunctionMode):
    """``with ExplicitDevice(): ...`` fails on a device-less tensor factory (see module doc).

    ``calls`` lists (function, file:line) of the factories seen, for tests that assert the
    guard looked at something.
    """

    def __init__(self, everywhere: bool = False):
        super().__init__()
        self.everywhere = everywhere
        self.calls: list[tuple[str, str]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in FACTORIES:
            frame = sys._getframe(1)
            where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
            ours = frame.f_code.co_filename.startswith(_PACKAGE)
            if ours or self.everywhere:
                self.calls.append((func.__name__, where))
                if kwargs.get("device") is None:
                    raise ImplicitDeviceError(
                        f"torch.{func.__name__} called without device= at {where}: on a GPU run "
                        "it creates a CPU tensor; pass the device of the data it meets")
        return func(*args, **kwargs)
