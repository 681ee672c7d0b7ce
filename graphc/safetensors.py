"""``.safetensors`` files, the weights format of the model hubs, read and written through the
``safetensors`` package's NumPy API, as ``safetensors.torch`` does for PyTorch.

A safetensors file is a JSON header (each tensor's name, dtype, shape and byte range, plus
optional string metadata) and the raw little-endian bytes: no code, nothing but tensors. It is
the format to exchange weights with PyTorch (``safetensors.torch.save_file(model.state_dict(),
path)`` there, ``model.load_state_dict(graphc.load_file(path))`` here, and back), since
``graphc.save`` writes graphc's own format and graphc cannot write ``.pt`` files.

    >>> import os, tempfile, graphc
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> graphc.save_file({"w": graphc.ones(2, 3), "b": graphc.zeros(3)}, path)
    >>> state = graphc.load_file(path)
    >>> sorted(state), state["w"].shape
    (['b', 'w'], (2, 3))

Requires the ``safetensors`` package (the ``safetensors`` extra: ``pip install
graphc[safetensors]``); importing this module does not.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Union

import ml_dtypes
import numpy as np

from graphc.errors import CheckpointError
from graphc.tensor import Tensor

__all__ = ["save_file", "load_file", "save", "load"]


def _package():
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError("graphc's .safetensors support needs the safetensors package "
                          "(0.8 or later): pip install 'graphc[safetensors]'") from None
    return safetensors


def _arrays(tensors: Any, metadata: Any, what: str) -> dict[str, np.ndarray]:
    """The row-major NumPy arrays to write, after PyTorch's checks: a dict of str keys to
    tensors, string metadata, and no two entries sharing memory."""
    from ir import dtypes
    if not isinstance(tensors, dict):
        raise TypeError(f"{what}: expected a dict of name -> tensor, got "
                        f"{type(tensors).__name__}")
    if metadata is not None and not (isinstance(metadata, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise TypeError(f"{what}: metadata must be a dict of str to str, got {metadata!r:.80}")
    arrays: dict[str, np.ndarray] = {}
    owners: dict[int, list[str]] = {}  # id of a tensor's array -> the names saving it
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"{what}: key {name!r} is invalid, expected str but received "
                            f"{type(name).__name__}")
        if isinstance(value, Tensor):
            if value.is_traced:
                raise TypeError(f"{what}: {name!r} is a traced tensor (inside a compiled "
                                "function); save after the call instead")
            array = value._concrete("save it")
        elif isinstance(value, np.ndarray):
            array = value
        else:
            raise ValueError(f"{what}: key {name!r} is invalid, expected a tensor but "
                             f"received {type(value).__name__}")
        try:
            dtypes.from_numpy(array.dtype)
        except TypeError:
            raise TypeError(f"{what}: {name!r} has dtype {array.dtype}, which graphc does not "
                            "save (numeric and bool dtypes only)") from None
        owners.setdefault(id(array), []).append(name)
        arrays[name] = np.asarray(array, order="C")  # (ascontiguousarray makes 0-d 1-d)
    shared = [names for names in owners.values() if len(names) > 1]
    if shared:
        # as safetensors.torch.save_file: tied weights are saved once, and tied again on load
        raise RuntimeError(
            f"{what}: some tensors share memory, this will lead to duplicate memory on disk "
            f"and potential differences when loading them again: {shared}. Save one name of "
            "each shared tensor and tie them again after loading")
    return arrays


def save(tensors: dict, metadata: Optional[dict] = None) -> bytes:
    """The bytes of a safetensors file holding ``tensors`` (``safetensors.torch.save``)."""
    arrays = _arrays(tensors, metadata, "graphc.safetensors.save")
    return _package().numpy.save(arrays, metadata=metadata)


def save_file(tensors: dict, filename: Union[str, os.PathLike],
              metadata: Optional[dict] = None) -> None:
    """Writes a dict of name -> tensor (a state dict) to ``filename`` as safetensors.

    As ``safetensors.torch.save_file``: the keys must be strings, ``metadata`` a dict of
    strings, and tensors that share memory (one tensor under two names, as tied weights are)
    are refused with a RuntimeError naming them. float16 and bfloat16 are stored as safetensors'
    ``F16`` and ``BF16``.
    """
    arrays = _arrays(tensors, metadata, "graphc.save_file")
    _package().numpy.save_file(arrays, filename, metadata=metadata)


def load(data: bytes) -> dict[str, Tensor]:
    """The tensors of a safetensors file given as bytes (``safetensors.torch.load``)."""
    package = _package()
    try:  # (deserialize, not safetensors.numpy.load, which has no bfloat16)
        entries = package.deserialize(bytes(data))
        arrays = {}
        for key, entry in entries:
            dtype = _FROM_SAFETENSORS.get(entry["dtype"])
            if dtype is None:
                raise TypeError(f"tensor {key!r} has dtype {entry['dtype']}, which graphc "
                                "tensors do not have")
            arrays[key] = np.frombuffer(entry["data"], dtype=dtype).reshape(entry["shape"]).copy()
    except (package.SafetensorError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"<bytes>: not a valid safetensors file: {exc}") from None
    return _tensors(arrays, "<bytes>")


_FROM_SAFETENSORS = {"F64": np.float64, "F32": np.float32, "F16": np.float16,
                     "BF16": ml_dtypes.bfloat16, "I64": np.int64, "I32": np.int32,
                     "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def load_file(filename: Union[str, os.PathLike], device: Any = "cpu") -> dict[str, Tensor]:
    """Reads a safetensors file into a dict of name -> graphc Tensor;
    ``model.load_state_dict(graphc.load_file(path))`` loads weights saved by PyTorch.

    A damaged file raises :class:`graphc.errors.CheckpointError` naming it; a missing one
    FileNotFoundError. ``device`` is accepted as in ``safetensors.torch.load_file``; tensors
    load on the CPU.
    """
    package = _package()
    name = os.fspath(filename)
    if not os.path.exists(name):
        raise FileNotFoundError(f"No such file: {name!r}")
    try:
        with package.safe_open(name, framework="np") as handle:
            arrays = {key: handle.get_tensor(key) for key in handle.keys()}
    except (package.SafetensorError, OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{name}: not a valid safetensors file: {exc}") from None
    return _tensors(arrays, name)


def _tensors(arrays: dict[str, np.ndarray], name: str) -> dict[str, Tensor]:
    from ir import dtypes
    result = {}
    for key, array in arrays.items():
        try:
            dtypes.from_numpy(array.dtype)
        except TypeError:
            raise CheckpointError(f"{name}: tensor {key!r} has dtype {array.dtype}, which "
                                  "graphc tensors do not support") from None
        native = array.dtype.newbyteorder("=")
        if not (array.dtype == native and array.flags.c_contiguous and _in_own_memory(array)):
            array = np.array(array, dtype=native, order="C", copy=True)
        result[key] = Tensor._wrap(array)
    return result


def _in_own_memory(array: np.ndarray) -> bool:
    """Whether ``array`` lies in a private, writable buffer (safetensors 0.8 copies each tensor
    into a bytearray), not in a mapped file, which truncating the file would invalidate."""
    base: Any = array
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return isinstance(base, bytearray) and array.flags.writeable
