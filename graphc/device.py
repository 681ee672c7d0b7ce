"""Devices with PyTorch's names: ``graphc.device("cuda")``, where tensors live, and moves.

A tensor on ``cpu`` holds a NumPy array; a tensor on ``cuda:0`` holds a numba-cuda device array
(``backends.cuda``, imported only when CUDA is asked for). Eager ops on device tensors run as
small single-op kernels of the cuda backend, compiled once per op, attributes and operand
types (:func:`run_on_device`); 0-d cpu tensors (Python numbers made tensors) may join them, as
in PyTorch, and any other mix of devices is an error naming both. Copies between host and
device happen only when asked (``.to()``, ``.cpu()``, ``.numpy()``, ``.item()``) or at the
boundary of a compiled graph given host arrays.

    >>> import graphc
    >>> graphc.device("cuda:0")
    device(type='cuda', index=0)
    >>> str(graphc.device("cpu")), graphc.tensor([1.0]).device
    ('cpu', device(type='cpu'))
    >>> graphc.device("tpu")
    Traceback (most recent call last):
    ...
    graphc.device.DeviceError: unknown device 'tpu': graphc knows 'cpu' and 'cuda' (or 'cuda:0')
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from graphc.errors import GraphcError


class DeviceError(GraphcError, RuntimeError):
    """A device that does not exist or cannot run here, or tensors on different devices in
    one op (a RuntimeError, as PyTorch's are)."""


class device:  # noqa: N801  (graphc.device, like torch.device)
    """Where a tensor lives: ``device("cpu")``, ``device("cuda")``, ``device("cuda:0")``,
    ``device("cuda", 0)``. Tensors on CUDA are on ``cuda:0`` (graphc drives one GPU)."""

    __slots__ = ("type", "index")

    def __init__(self, type: str | device, index: Optional[int] = None):
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        if not isinstance(type, str):
            raise TypeError(f"device() expects a string like 'cuda' or 'cpu', got "
                            f"{type.__class__.__name__}")
        name, _, number = type.partition(":")
        if name not in ("cpu", "cuda"):
            raise DeviceError(f"unknown device {type!r}: graphc knows 'cpu' and 'cuda' "
                              f"(or 'cuda:0')")
        if number:
            if index is not None or not number.isdigit():
                raise DeviceError(f"invalid device string {type!r}")
            index = int(number)
        if name == "cpu" and index not in (None, 0):
            raise DeviceError(f"there is one cpu device, got index {index}")
        self.type, self.index = name, index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


CPU = device("cpu")
CUDA0 = device("cuda", 0)
# where factories put tensors when no device= is given (graphc.set_default_device); None: the
# cpu, without a move
default_device: Optional[device] = None


def as_device(where) -> device:
    """The device ``where`` names (a device, ``"cuda"``, ``"cuda:0"``, ``"cpu"``, or a GPU
    index); CUDA devices are checked to exist and to be able to run here."""
    if isinstance(where, int) and not isinstance(where, bool):
        where = device("cuda", where)
    target = where if isinstance(where, device) else device(where)
    if target.type == "cpu":
        return CPU
    if target.index not in (None, 0):
        raise DeviceError(f"CUDA device {target.index} does not exist: graphc drives one GPU, "
                          f"cuda:0")
    require_cuda()
    return CUDA0


def require_cuda() -> None:
    """Raises :class:`DeviceError` saying what is missing when CUDA cannot run here."""
    from backends.cuda.memory import CudaUnavailable, cuda_module
    try:
        cuda_module()
    except CudaUnavailable as exc:
        raise DeviceError(str(exc)) from None


def is_on_device(data) -> bool:
    """Whether a tensor's data is a device array (NumPy data never is; tested without
    importing CUDA)."""
    return not isinstance(data, np.ndarray) and hasattr(data, "copy_to_host")


def device_of(data) -> device:
    return CUDA0 if is_on_device(data) else CPU


def move(data, target: device):
    """``data`` (a NumPy or device array) on ``target``: itself when already there, else a copy."""
    from backends.cuda import memory
    if target.type == "cpu":
        return memory.to_host(data) if is_on_device(data) else data
    return data if is_on_device(data) else memory.to_device(data)


def host_array(data) -> np.ndarray:
    """The values as a NumPy array (a host copy of device data)."""
    if is_on_device(data):
        from backends.cuda import memory
        return memory.to_host(data)
    return data


def copy(data):
    """A copy of ``data`` on the same device."""
    if is_on_device(data):
        from backends.cuda import memory
        result = memory.device_array(data.shape, data.dtype)
        result.copy_to_device(data)
        return result
    return data.copy()


def common_device(op: str, tensors) -> device:
    """The device an eager op on ``tensors`` runs on: CUDA if any operand is there. 0-d cpu
    tensors (numbers) may join CUDA operands, as in PyTorch; other mixes are an error."""
    found = CPU
    for t in tensors:
        if is_on_device(t._data):
            found = CUDA0
    if found is CPU:
        return CPU
    for t in tensors:
        if not is_on_device(t._data) and t._data.ndim:
            raise DeviceError(f"Expected all tensors to be on the same device, but found at "
                              f"least two devices, cuda:0 and cpu! ({op}: a cpu tensor of shape "
                              f"{list(t._data.shape)} among cuda tensors; move it with .to('cuda') "
                              f"or .cuda())")
    return CUDA0


_KERNELS: dict[tuple, object] = {}


def run_on_device(opdef, arrays: list, attrs: dict, out_type):
    """``opdef`` on device (and 0-d host) arrays: a one-node graph compiled by the cuda backend
    once per op, attributes and operand types, then reused. Returns the device array."""
    import backends
    from ir.dtypes import from_numpy
    from ir.graph import Graph
    from ir.types import TensorType

    types = tuple(TensorType(from_numpy(np.dtype(a.dtype)), tuple(a.shape)) for a in arrays)
    key = (opdef.name, repr(sorted(attrs.items())), types)
    executable = _KERNELS.get(key)
    if executable is None:
        graph = Graph(opdef.name)
        inputs = [graph.add_input(f"a{i}", t) for i, t in enumerate(types)]
        graph.set_outputs(graph.add_node(opdef.name, inputs, attrs).outputs)
        try:
            cuda = backends.get("cuda")
        except backends.BackendError as exc:
            raise DeviceError(str(exc)) from None
        executable = _KERNELS[key] = cuda.compile(graph)
    (result,) = executable(*arrays)  # type: ignore[operator]
    assert tuple(result.shape) == out_type.shape
    return result
