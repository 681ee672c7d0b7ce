"""Device memory for the cuda backend: whether CUDA can run here, and every host<->device copy.

All copies between host and device that graphc makes go through :func:`to_device` and
:func:`to_host` (tests count them by patching these two), so that a training step whose state
lives on the device can be shown to copy nothing but its scalar inputs.

Importing this module does not import numba.cuda; :func:`cuda_module` does, on first use.
"""
from __future__ import annotations

import os
from functools import lru_cache
from types import ModuleType

import numpy as np

SIMULATOR_HINT = ("to run CUDA code without a GPU, start Python with numba's CUDA simulator on: "
                  "NUMBA_ENABLE_CUDASIM=1 (e.g. NUMBA_ENABLE_CUDASIM=1 python -m pytest "
                  "tests/cuda)")


class CudaUnavailable(RuntimeError):
    """CUDA was asked for where it cannot run; the message says what is missing and how to
    run the simulator instead."""


def simulated() -> bool:
    """Whether numba's CUDA simulator is on (NUMBA_ENABLE_CUDASIM, read as numba reads it)."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


@lru_cache(maxsize=1)
def _status() -> tuple[ModuleType | None, str]:
    """numba.cuda if it can run kernels here, else None and why not."""
    try:
        from numba import cuda
    except ImportError as exc:
        return None, (f"numba-cuda cannot be imported ({exc}); install it with "
                      f"pip install 'graphc[cuda]'")
    try:
        if cuda.is_available():
            return cuda, ""
    except Exception as exc:  # a broken driver raises instead of answering False  # noqa: BLE001
        return None, f"CUDA could not be initialized ({exc})"
    return None, "no CUDA GPU (or CUDA driver) was found"


def is_available() -> bool:
    """Whether CUDA kernels can run: a GPU with its driver, or the simulator."""
    return _status()[0] is not None


def cuda_module() -> ModuleType:
    """``numba.cuda``, or :class:`CudaUnavailable` saying what is missing."""
    module, reason = _status()
    if module is None:
        raise CudaUnavailable(f"CUDA is not available: {reason}; {SIMULATOR_HINT}")
    return module


def is_device_array(array) -> bool:
    """Whether ``array`` lives in device memory (a numba-cuda device array)."""
    if isinstance(array, (np.ndarray, np.generic)) or not hasattr(array, "copy_to_host"):
        return False
    return True


def to_device(array: np.ndarray):
    """A device copy of a host array, laid out C-contiguously with the usual strides (NumPy
    calls an array of one element contiguous whatever its strides, numba-cuda does not)."""
    array = np.asarray(array)
    canonical = np.empty(array.shape, array.dtype).strides
    if not array.flags.c_contiguous or array.strides != canonical:
        array = np.array(array, order="C")
    return cuda_module().to_device(array)


def to_host(array) -> np.ndarray:
    """A host copy of a device array."""
    return array.copy_to_host()


def device_array(shape, dtype):
    """A new, uninitialized device array."""
    return cuda_module().device_array(shape, dtype)
