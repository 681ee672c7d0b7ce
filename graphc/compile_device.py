"""Which backend a cache entry of ``graphc.compile(fn)`` (no ``backend=``) runs on: the one where
its inputs are, as ``torch.compile`` runs where the model's tensors are.

The inputs are the call's tensor arguments and the state the trace lifted to graph inputs
(parameters, buffers, gradients, optimizer state). All on the cpu: the default CPU backend
(:func:`backends.default_backend`). All on ``cuda:0``: the ``cuda`` backend. 0-d cpu tensors
(step counts, numbers made tensors) and host scalars the graph reads (learning rates, seeds)
may join CUDA inputs, as in PyTorch; any other mix is PyTorch's error naming two of them.

    >>> import numpy as np, backends
    >>> cpu = backends.BackendChoice("llvm", "default")
    >>> follow_inputs(cpu, [("argument x", np.ones(2))]).describe()
    'llvm (default)'
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import backends
from graphc.device import CPU, CUDA0, DeviceError, is_on_device

CUDA_BACKEND = "cuda"


def follow_inputs(cpu_choice: backends.BackendChoice,
                  inputs: Iterable[tuple[str, Any]]) -> backends.BackendChoice:
    """The backend for a graph whose inputs are ``inputs`` ((label, NumPy or device array)
    pairs): ``cpu_choice`` when none is on the device, else ``cuda`` with the reason. Raises
    :class:`DeviceError` naming a device input and a cpu input (not 0-d) when they mix."""
    on_device, on_host = None, None
    for label, array in inputs:
        if is_on_device(array):
            on_device = on_device or label
        elif on_host is None and getattr(array, "ndim", 0):
            on_host = label
    if on_device is None:
        return cpu_choice
    if on_host is not None:
        raise DeviceError(
            f"Expected all tensors to be on the same device, but found at least two devices, "
            f"{CUDA0} and {CPU}! (the compiled function's {on_device} is on {CUDA0} and its "
            f"{on_host} on {CPU}; move them with .to('cuda') or .cpu(), or Module.to(device))")
    return backends.BackendChoice(CUDA_BACKEND, f"the inputs are on {CUDA0}")
