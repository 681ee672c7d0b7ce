"""``graphc.cuda``: whether CUDA can run here, as ``torch.cuda`` says it.

CUDA runs on a GPU with its driver and numba-cuda (``pip install 'graphc[cuda]'``), or on numba's
CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` set before Python starts), which runs kernels as
Python threads: slow, but the same code and results. Asking whether it is available imports
numba.cuda; nothing else in graphc does until a tensor or a compiled function asks for CUDA.

    >>> import graphc
    >>> graphc.cuda.is_available() in (True, False)
    True
"""
from __future__ import annotations


def is_available() -> bool:
    """Whether tensors can be put on ``"cuda"``: a GPU with its driver, or the simulator."""
    from backends.cuda.memory import is_available as available
    return available()


def device_count() -> int:
    """1 when CUDA is available (graphc drives one GPU, ``cuda:0``), else 0."""
    return 1 if is_available() else 0


def is_simulated() -> bool:
    """Whether CUDA here is numba's simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    from backends.cuda.memory import simulated
    return simulated()


def synchronize() -> None:
    """Waits for every kernel launched so far to finish (for timing)."""
    from graphc.device import require_cuda
    require_cuda()
    from numba import cuda
    cuda.synchronize()


def __getattr__(name: str):
    """``graphc.cuda.amp`` (``torch.cuda.amp``): imported when first asked for."""
    if name == "amp":
        from graphc.amp import cuda_amp
        return cuda_amp
    raise AttributeError(f"module 'graphc.cuda' has no attribute {name!r}")


__all__ = ["device_count", "is_available", "is_simulated", "synchronize"]
