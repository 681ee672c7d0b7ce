"""``graphc.accelerator``: the current accelerator, as ``torch.accelerator`` reports it.

graphc knows one kind of accelerator, CUDA (a GPU, or numba's simulator): the device lines of
PyTorch's examples run unchanged and answer ``"cpu"`` on a machine without one.

    >>> import graphc
    >>> device = (graphc.accelerator.current_accelerator()
    ...           if graphc.accelerator.is_available() else "cpu")
    >>> graphc.ones(2).to(device).device.type == (graphc.device(device).type)
    True
"""
from __future__ import annotations

from typing import Optional

from graphc import cuda
from graphc.device import device


def is_available() -> bool:
    """Whether an accelerator (CUDA) can run here."""
    return cuda.is_available()


def current_accelerator(check_available: bool = False) -> Optional[device]:
    """``device(type='cuda')`` when CUDA is available, else None (as PyTorch answers on a
    machine without an accelerator; ``check_available`` is accepted for PyTorch's signature)."""
    return device("cuda") if is_available() else None


def device_count() -> int:
    """How many accelerators graphc can use: 1 with CUDA (graphc drives ``cuda:0``), else 0."""
    return cuda.device_count()


def synchronize(device=None) -> None:
    """Waits for the accelerator's queued work (nothing to wait for without one)."""
    if is_available():
        cuda.synchronize()


__all__ = ["current_accelerator", "device_count", "is_available", "synchronize"]
