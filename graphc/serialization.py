"""``graphc.save`` / ``graphc.load``: checkpoints that cannot run code when loaded.

A checkpoint holds nested dicts (str or int keys), lists, tuples and sets of tensors, NumPy
arrays, ints, floats, bools, strings and None: model and optimizer state dicts, training
metadata. It may also hold whole objects (``graphc.save(model, f)``, as PyTorch programs do),
stored as their class's name and their attributes, and classes and functions by name; loading
rebuilds them only for names the user allowed (:func:`add_safe_globals`), as
``torch.load(weights_only=True)`` does, so a checkpoint can never name code to run. There is
no pickle. The file is::

    magic  b"\\x89GRAPHC\\r\\n\\x1a\\n"   (11 bytes; the \\r\\n and \\x1a catch text-mode mangling)
    version          uint32 little-endian (2)
    header length    uint64 little-endian
    header crc32     uint32 little-endian: CRC-32 of the header bytes
    header           UTF-8 JSON: the structure, and per array dtype, shape, offset, size, crc32
    padding          zeros up to a multiple of 64 bytes
    data             raw little-endian array bytes: the arrays in table order, each starting at
                     the next multiple of 64 bytes, zeros in between

Every byte is checked: the header and each array by a CRC-32, padding must be zeros, and the
arrays must tile the data exactly (no overlapping or unused bytes), so a damaged file fails to
load instead of loading wrong numbers, and loading never allocates much more than the file's
size. Loading also checks the JSON, every node of the structure, dtypes (a fixed whitelist of
numeric types) and shapes against byte counts. Any problem raises
:class:`graphc.errors.CheckpointError` naming the file and what is wrong. Version 1 files
(no header checksum) are refused with a message saying so.

Data is stored once per array, as PyTorch stores shared storage once: saving the same tensor
(or tensors sharing one underlying array) several times writes its bytes once, and loading
gives back one shared tensor object (per ``requires_grad`` flag), as ``torch.load`` returns
aliased tensors. The same holds for NumPy arrays.

    >>> import io, graphc
    >>> from graphc.serialization import save, load   # also graphc.save, graphc.load
    >>> buffer = io.BytesIO()
    >>> save({"w": graphc.ones(2, 3), "epoch": 3}, buffer)
    >>> _ = buffer.seek(0)
    >>> state = load(buffer)
    >>> state["w"].shape, state["epoch"]
    ((2, 3), 3)
    >>> w = graphc.zeros(1000)
    >>> _ = buffer.seek(0)
    >>> save([w, w], buffer)   # the 4000 bytes of w are stored once
    >>> _ = buffer.seek(0)
    >>> first, second = load(buffer)
    >>> first is second
    True
"""
from __future__ import annotations

import errno
import io
import json
import math
import os
import secrets
import stat
import struct
import sys
import types
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Optional, Union

import ml_dtypes
import numpy as np

from graphc.errors import CheckpointError
from graphc.tensor import Tensor

MAGIC = b"\x89GRAPHC\r\n\x1a\n"
VERSION = 2
ALIGN = 64
_VERSION = struct.Struct("<I")
_HEADER_INFO = struct.Struct("<QI")  # header length, header CRC-32
_MAX_HEADER = 1 << 30
_CHUNK = 1 << 26  # reads of unknown length go in pieces this big, so a lie costs no memory
_MAX_DEPTH = 200

# Numeric dtypes only: nothing that NumPy would need pickle (object) or extra code to rebuild.
_DTYPES = {np.dtype(t).newbyteorder("<").str: np.dtype(t).newbyteorder("<") for t in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
    np.float16, np.float32, np.float64, np.complex64, np.complex128)}
# bfloat16 (ml_dtypes) calls itself "<V2", as a raw void type would: it is stored by name
_DTYPES["bfloat16"] = np.dtype(ml_dtypes.bfloat16)


def _dtype_key(dtype: np.dtype) -> str:
    return "bfloat16" if dtype == np.dtype(ml_dtypes.bfloat16) else dtype.str

PathLike = Union[str, os.PathLike, BinaryIO]


# -- saving -------------------------------------------------------------------------------------
class _Encoder:
    def __init__(self):
        self.arrays: list[np.ndarray] = []
        self.entries: list[dict] = []
        self.size = 0
        # id of each array already stored -> (its index, the array itself: holding it keeps
        # the id from being reused by another array while saving)
        self.stored: dict[int, tuple[int, np.ndarray]] = {}

    def add_array(self, array: np.ndarray, where: str) -> int:
        """Stores ``array`` (once: an array seen before returns its first index)."""
        if id(array) in self.stored:
            return self.stored[id(array)][0]
        source = array
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder != "|" else array.dtype
        if _dtype_key(dtype) not in _DTYPES:
            raise TypeError(f"graphc.save: {where} has dtype {array.dtype}, which checkpoints "
                            f"do not store (numeric and bool dtypes only)")
        array = np.asarray(array, dtype=dtype, order="C")  # (ascontiguousarray makes 0-d 1-d)
        offset = -(-self.size // ALIGN) * ALIGN
        shape = list(array.shape)
        array = array.reshape(-1).view(np.uint8)  # its bytes: bfloat16 has no buffer format
        raw = memoryview(array) if array.size else b""
        self.entries.append({"dtype": _dtype_key(dtype), "shape": shape, "offset": offset,
                             "nbytes": array.nbytes, "crc32": zlib.crc32(raw)})
        self.arrays.append(array)
        self.size = offset + array.nbytes
        self.stored[id(source)] = (len(self.arrays) - 1, source)
        return len(self.arrays) - 1

    def encode(self, obj: Any, where: str, depth: int = 0):
        if depth > _MAX_DEPTH:
            raise ValueError(f"graphc.save: structure nested deeper than {_MAX_DEPTH} levels "
                             f"at {where} (a reference cycle?)")
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return obj if abs(obj) < 2 ** 53 else {"$int": str(obj)}
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {"$float": repr(obj)}
        if isinstance(obj, Tensor):
            if obj.is_traced:
                raise TypeError(f"graphc.save: {where} is a traced tensor (inside a compiled "
                                "function); save after the call instead")
            node = {"$tensor": self.add_array(obj._concrete("save it"), where)}
            if obj.requires_grad:
                node["requires_grad"] = True
            if _is_parameter(obj):
                node["parameter"] = True
            return node
        if isinstance(obj, np.ndarray):
            return {"$ndarray": self.add_array(obj, where)}
        if isinstance(obj, np.generic):
            return {"$scalar": self.add_array(np.asarray(obj), where)}
        if isinstance(obj, dict):
            items = []
            for key, value in obj.items():
                if isinstance(key, bool) or not isinstance(key, (str, int)):
                    raise TypeError(f"graphc.save: dict keys must be str or int, got "
                                    f"{type(key).__name__} key {key!r} at {where}")
                items.append([key, self.encode(value, f"{where}[{key!r}]", depth + 1)])
            return {"$dict": items}
        if isinstance(obj, (list, tuple)):
            kind = "$list" if isinstance(obj, list) else "$tuple"
            return {kind: [self.encode(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(obj)]}
        if isinstance(obj, (set, frozenset)):
            return {"$set": [self.encode(v, f"{where}[{i}]", depth + 1)
                             for i, v in enumerate(sorted(obj, key=repr))]}
        if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)):
            return {"$global": qualified_name(obj, where)}
        from graphc.device import device as device_type
        from ir.dtypes import DType
        if isinstance(obj, DType):  # (a config holding graphc.float16, or a loaded torch one)
            return {"$dtype": obj.name}
        if isinstance(obj, device_type):
            return {"$device": str(obj)}
        if getattr(type(obj), "_is_parametrized_class", False):
            raise TypeError(f"graphc.save: {where} is a parametrized module (its class is made "
                            f"at run time): save its state_dict() instead, as in PyTorch")
        if hasattr(obj, "__dict__") and not isinstance(obj, types.ModuleType):
            # an object (a whole nn.Module): its class by name and its attributes, rebuilt at
            # load time only if the class is an allowed global (see add_safe_globals)
            state = {key: value for key, value in vars(obj).items()}
            return {"$object": [qualified_name(type(obj), where),
                                self.encode(state, f"{where}.__dict__", depth + 1)]}
        raise TypeError(f"graphc.save: cannot save a {type(obj).__name__} at {where}; "
                        "checkpoints hold dicts, lists, tuples, sets, tensors, NumPy arrays, "
                        "numbers, strings, bools, None, and objects with a __dict__ (modules) "
                        "whose classes load back by name")


def qualified_name(obj: Any, where: str = "") -> str:
    """``module.qualname`` of a class or function, as ``torch.serialization`` names globals."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    name = getattr(obj, "__name__", None)
    if qualname and "<locals>" in qualname and name and getattr(
            sys.modules.get(module or ""), name, None) is obj:
        qualname = name  # made by a factory (graphc.functions' ops) and bound to its name
    if not module or not qualname or "<locals>" in qualname or "<lambda>" in qualname:
        raise TypeError(f"graphc.save: {obj!r} at {where} has no importable name (a lambda or "
                        "a local class): it cannot be saved")
    return f"{module}.{qualname}"


def _is_parameter(tensor: Tensor) -> bool:
    from graphc.nn.module import Parameter  # (graphc.nn imports this module's users)
    return isinstance(tensor, Parameter)


# -- allowed globals: what a checkpoint may name (classes of saved objects, functions) ----------
_safe_globals: dict[str, Any] = {}


def add_safe_globals(safe: list) -> None:
    """Allows checkpoints to name these classes and functions, as
    ``torch.serialization.add_safe_globals`` does: loading a saved ``nn.Module`` rebuilds it
    only when its class (and every class and function it holds) is allowed.

        >>> import io, graphc
        >>> buffer = io.BytesIO()
        >>> graphc.save(graphc.nn.Linear(2, 1), buffer)
        >>> _ = buffer.seek(0)
        >>> with graphc.serialization.safe_globals([graphc.nn.Linear]):
        ...     type(graphc.load(buffer)).__name__
        'Linear'
    """
    for obj in safe:
        if isinstance(obj, tuple):  # (object, "the name it was saved under"), as torch accepts
            obj, name = obj
            _safe_globals[name] = obj
        else:
            _safe_globals[qualified_name(obj)] = obj


def get_safe_globals() -> list:
    return list(_safe_globals.values())


def clear_safe_globals() -> None:
    _safe_globals.clear()


class safe_globals:
    """``with graphc.serialization.safe_globals([...]):`` allows these globals while inside."""

    def __init__(self, safe: list):
        self.safe = list(safe)

    def __enter__(self):
        self.saved = dict(_safe_globals)
        add_safe_globals(self.safe)
        return self

    def __exit__(self, *exc):
        _safe_globals.clear()
        _safe_globals.update(self.saved)
        return False


def save(obj: Any, f: PathLike) -> None:
    """Writes ``obj`` to ``f`` (a path or a writable binary file) in graphc's checkpoint format.

    This is graphc's own format, whatever the file's name: graphc cannot write PyTorch's
    ``.pt`` (a pickle). To hand weights to PyTorch, write ``.safetensors``, the interchange
    format: ``graphc.save_file(model.state_dict(), "model.safetensors")``, which PyTorch reads
    with ``safetensors.torch.load_file``. (:func:`load` reads both graphc's files and PyTorch's
    ``.pt``.)

    Writing to a path goes through a temporary file in the same folder, renamed at the end, so
    an interrupted save never leaves a half-written checkpoint under the final name. The file
    gets the permissions ``open(path, "wb")`` would give it (a replaced file keeps its mode), and
    errors such as a missing folder name ``path``.
    """
    encoder = _Encoder()
    root = encoder.encode(obj, "obj")
    header = json.dumps({"format": "graphc-checkpoint", "root": root, "arrays": encoder.entries,
                         "data_size": encoder.size}, separators=(",", ":"),
                        allow_nan=False).encode("utf-8")
    if isinstance(f, (str, os.PathLike)):
        path = Path(f)
        if path.is_dir():  # else the rename below fails naming the temporary file
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        fd, tmp = _create_beside(path)
        try:
            with os.fdopen(fd, "wb") as out:
                _write(out, header, encoder)
            try:
                os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))  # keep a replaced file's mode
            except FileNotFoundError:
                pass
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    else:
        _write(f, header, encoder)


def _create_beside(path: Path) -> tuple[int, str]:
    """Creates a new temporary file next to ``path`` with mode 0o666 less the umask (what
    ``open(path, "wb")`` would give); errors name ``path``, not the temporary file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(str(path.parent), f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue  # another file took this random name: draw again
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
    raise FileExistsError(f"cannot create a temporary file next to {str(path)!r}")


def _write(out: BinaryIO, header: bytes, encoder: _Encoder) -> None:
    out.write(MAGIC)
    out.write(_VERSION.pack(VERSION))
    out.write(_HEADER_INFO.pack(len(header), zlib.crc32(header)))
    out.write(header)
    written = _header_start() + len(header)
    out.write(b"\0" * (_pad(written) - written))
    position = 0
    for array, entry in zip(encoder.arrays, encoder.entries):
        out.write(b"\0" * (entry["offset"] - position))
        if array.size:
            out.write(memoryview(array).cast("B"))
        position = entry["offset"] + entry["nbytes"]


def _pad(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _header_start() -> int:
    return len(MAGIC) + _VERSION.size + _HEADER_INFO.size


# -- loading ------------------------------------------------------------------------------------
def load(f: PathLike, map_location: Any = None, weights_only: Optional[bool] = True,
         mmap: Optional[bool] = None) -> Any:
    """Reads a checkpoint written by :func:`save`, or a PyTorch ``.pt`` file written by
    ``torch.save`` (its zip format, PyTorch 1.6 and later: see :mod:`graphc.torch_checkpoint`);
    tensors come back as graphc Tensors. The file's first bytes say which format it is.

    Saved objects (a whole ``nn.Module``) come back only when their classes, and the classes
    and functions they hold, are allowed globals (:func:`add_safe_globals`,
    ``with safe_globals([...])``), as with ``torch.load(weights_only=True)``; anything else is
    refused with the name to allow. ``weights_only=False`` imports any class or function the
    file names: only for files you trust, as in PyTorch; ``weights_only=None`` is the default
    (True), as in PyTorch 2.6 and later. ``map_location`` and ``mmap`` are accepted for
    compatibility and ignored (tensors load on the CPU; move them with ``.to(device)``).
    """
    weights_only = True if weights_only is None else bool(weights_only)
    if isinstance(f, (str, os.PathLike)):
        name = str(f)
        try:
            with open(f, "rb") as stream:
                return _load_stream(name, stream, True, weights_only)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise CheckpointError(f"{name}: cannot read checkpoint: {exc}") from None
    name = str(getattr(f, "name", "<file object>"))
    return _load_stream(name, f, False, weights_only)


def _load_stream(name: str, stream: BinaryIO, whole_file: bool, weights_only: bool) -> Any:
    """Dispatches on the first bytes: graphc's format, PyTorch's zip format, or PyTorch's
    legacy format (refused with a clear error). A stream that cannot seek is read as graphc's
    format."""
    from graphc import torch_checkpoint
    try:
        start = stream.tell() if stream.seekable() else None
    except (OSError, AttributeError, ValueError):
        start = None
    if start is not None:
        head = stream.read(512) or b""
        end = stream.seek(0, io.SEEK_END)
        stream.seek(start)
        if isinstance(head, (bytes, bytearray)):
            if torch_checkpoint.is_torch_zip(head):
                return torch_checkpoint.load_zip(stream, name, end - start, weights_only)
            if torch_checkpoint.is_legacy_torch(head):
                raise torch_checkpoint.legacy_error(name)
    return _Decoder(name, stream, whole_file=whole_file, weights_only=weights_only).run()


class _Decoder:
    def __init__(self, name: str, stream: BinaryIO, whole_file: bool, weights_only: bool = True):
        self.name = name
        self.stream = stream
        self.whole_file = whole_file
        self.weights_only = weights_only
        self.referenced: set[int] = set()  # arrays the structure refers to
        # (array, requires_grad, is a Parameter) -> tensor
        self.tensors: dict[tuple[int, bool, bool], Tensor] = {}

    def resolve_global(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise self.fail(f"malformed global name at {where}")
        if name in _safe_globals:
            return _safe_globals[name]
        if not self.weights_only:
            import importlib
            parts = name.split(".")
            for cut in range(len(parts) - 1, 0, -1):
                try:
                    obj: Any = importlib.import_module(".".join(parts[:cut]))
                except ImportError:
                    continue
                try:
                    for attr in parts[cut:]:
                        obj = getattr(obj, attr)
                    return obj
                except AttributeError:
                    break
            raise self.fail(f"{where}: cannot find global {name}")
        raise self.fail(
            f"{where}: the checkpoint names {name}, which is not an allowed global; if you "
            f"trust this file, allow it with graphc.serialization.add_safe_globals([{name}]) "
            f"or `with graphc.serialization.safe_globals([{name}]):`, or load it with "
            "weights_only=False")

    def fail(self, what: str) -> CheckpointError:
        return CheckpointError(f"{self.name}: {what}")

    def read_some(self, n: int, what: str) -> bytes:
        try:
            return self.stream.read(n) or b""
        except OSError as exc:
            raise self.fail(f"cannot read {what}: {exc}") from None

    def read(self, n: int, what: str) -> bytes:
        """Exactly ``n`` bytes, read in pieces: a corrupt size fails as truncation, not as a
        huge allocation."""
        pieces, got = [], 0
        while got < n:
            piece = self.read_some(min(n - got, _CHUNK), what)
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
        if got != n:
            raise self.fail(f"file is truncated: expected {n} bytes of {what}, found {got}")
        return b"".join(pieces)

    def remaining(self) -> int | None:
        """How many bytes follow the current position, or None when the stream cannot tell."""
        try:
            if not self.stream.seekable():
                return None
            here = self.stream.tell()
            end = self.stream.seek(0, io.SEEK_END)
            self.stream.seek(here)
        except (OSError, AttributeError, ValueError):
            return None
        return end - here

    def run(self) -> Any:
        header, header_len = self.read_header()
        start = _header_start() + header_len
        if any(self.read(_pad(start) - start, "the header padding")):
            raise self.fail("the padding after the header is not zeros: the file is corrupt")
        entries = self.check_entries(header)
        data_size = header["data_size"]
        data = self.read_data(data_size, verified=self.check_remaining(data_size))
        if self.whole_file and self.stream.read(1):
            raise self.fail("unexpected bytes after the end of the array data (the file was "
                            "appended to or is corrupt)")
        arrays = self.build_arrays(entries, data)
        del data
        root = self.decode(header["root"], arrays, "obj", 0)
        unused = sorted(set(range(len(arrays))) - self.referenced)
        if unused:
            raise self.fail(f"array {unused[0]} is not used by the structure (the header is "
                            "corrupt)")
        return root

    def read_header(self) -> tuple[dict, int]:
        """Reads and checks everything up to the end of the header: (header, its length)."""
        self.check_magic()
        (version,) = _VERSION.unpack(self.read(_VERSION.size, "the format version"))
        if version != VERSION:
            old = (" (version 1 files, from older graphc releases, have no header checksum: "
                   "load them with such a release and save them again)" if version == 1 else "")
            raise self.fail(f"unsupported checkpoint format version {version} (this graphc "
                            f"reads version {VERSION}){old}")
        header_len, header_crc = _HEADER_INFO.unpack(self.read(_HEADER_INFO.size,
                                                               "the header size"))
        if header_len > _MAX_HEADER:
            raise self.fail(f"header size {header_len} bytes is implausible: the file is "
                            "corrupt")
        left = self.remaining()
        if left is not None and header_len > left:
            raise self.fail(f"file is truncated: the header size is {header_len} bytes, but "
                            f"only {left} bytes follow")
        raw = self.read(header_len, "the header")
        if zlib.crc32(raw) != header_crc:
            raise self.fail("the header fails its checksum: the file is corrupt or was modified")
        return self.parse_header(raw), header_len

    def check_magic(self) -> None:
        magic = self.stream.read(len(MAGIC)) or b""
        if not isinstance(magic, (bytes, bytearray)):
            raise self.fail("the file object is open in text mode; open it with 'rb'")
        if magic == MAGIC:
            return
        if len(magic) < len(MAGIC) and MAGIC.startswith(magic):
            raise self.fail(f"file is truncated ({len(magic)} bytes): not even the "
                            "checkpoint signature is complete")
        hint = (" (it looks like a zip file, e.g. a PyTorch checkpoint, which graphc reads from "
                "a path or a seekable file)"
                if magic.startswith(b"PK") else
                " (its line endings were changed: copy it in binary mode)"
                if magic.startswith(b"\x89GRAPHC") else
                " (it looks like a .safetensors file: read it with graphc.load_file)"
                if magic[8:10] in (b'{"', b"{}") else "")
        raise self.fail(f"not a graphc checkpoint: wrong magic bytes {magic[:16]!r}, "
                        f"expected {MAGIC!r}{hint}")

    def check_remaining(self, data_size: int) -> bool:
        """Compares the data size the header promises with what the file holds, before
        allocating anything (a tampered size must not exhaust memory). False: cannot tell."""
        remaining = self.remaining()
        if remaining is None:
            return False
        if remaining < data_size:
            raise self.fail(f"file is truncated: the header promises {data_size} bytes of array "
                            f"data, but only {remaining} follow")
        if self.whole_file and remaining > data_size:
            raise self.fail(f"unexpected {remaining - data_size} bytes after the end of the "
                            "array data (the file was appended to or is corrupt)")
        return True

    def read_data(self, size: int, verified: bool) -> bytes | bytearray:
        """The array data: read into one buffer when the file is known to hold ``size`` bytes,
        else in pieces (so that a corrupt size fails as truncation, not as a huge allocation)."""
        if not verified:
            return self.read(size, "the array data")
        data = bytearray(size)
        view = memoryview(data)
        got = 0
        while got < size:
            piece = self.read_some(size - got, "the array data")
            if not piece:
                raise self.fail(f"file is truncated: expected {size} bytes of array data, "
                                f"found {got}")
            view[got:got + len(piece)] = piece
            got += len(piece)
        return data

    def parse_header(self, raw: bytes) -> dict:
        try:
            header = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise self.fail(f"the header is not valid JSON ({type(exc).__name__}: {exc}); the "
                            "file is corrupt") from None
        if not isinstance(header, dict) or header.get("format") != "graphc-checkpoint":
            raise self.fail("the header does not describe a graphc checkpoint")
        for key, kind in (("root", object), ("arrays", list), ("data_size", int)):
            if key not in header:
                raise self.fail(f"the header has no {key!r} entry")
            if not isinstance(header[key], kind) or key == "data_size" and isinstance(
                    header[key], bool):
                raise self.fail(f"the header's {key!r} entry has the wrong type")
        if header["data_size"] < 0:
            raise self.fail("the header gives a negative data size")
        return header

    def check_entries(self, header: dict) -> list:
        """Validates the array table: dtypes, shapes against byte counts, and the layout (each
        array at the next multiple of ALIGN after the one before it, the last ending where the
        data ends), so no byte is read twice or left unchecked."""
        entries = []
        data_size = header["data_size"]
        previous_end = 0
        for i, entry in enumerate(header["arrays"]):
            what = f"array {i}"
            if not isinstance(entry, dict):
                raise self.fail(f"{what}: its header entry is not an object")
            dtype = _DTYPES.get(entry.get("dtype")) if isinstance(entry.get("dtype"), str) else None
            if dtype is None:
                raise self.fail(f"{what}: dtype {entry.get('dtype')!r} is not allowed in "
                                "checkpoints (numeric and bool dtypes only)")
            shape = entry.get("shape")
            if (not isinstance(shape, list) or len(shape) > 64 or
                    not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**63
                            for d in shape)):
                raise self.fail(f"{what}: invalid shape {str(shape)[:200]}")
            fields = {}
            for key in ("offset", "nbytes", "crc32"):
                value = entry.get(key)
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise self.fail(f"{what}: invalid {key} {value!r}")
                fields[key] = value
            expected = math.prod(shape) * dtype.itemsize
            if expected != fields["nbytes"]:
                raise self.fail(f"{what}: shape {shape} of {dtype} needs {expected} bytes, but "
                                f"the header records {fields['nbytes']}")
            start, end = fields["offset"], fields["offset"] + fields["nbytes"]
            if end > data_size:
                raise self.fail(f"{what}: bytes {start}..{end} lie outside the "
                                f"{data_size} bytes of data")
            if start < previous_end:
                raise self.fail(f"{what}: bytes {start}..{end} overlap array {i - 1}, which "
                                f"ends at byte {previous_end} (the header is corrupt)")
            if start != _pad(previous_end):
                raise self.fail(f"{what}: starts at byte {start}, but the array before it "
                                f"ends at byte {previous_end}, so bytes {previous_end}..{start} "
                                f"would be unused (arrays are stored back to back, each at the "
                                f"next multiple of {ALIGN} bytes)")
            entries.append((dtype, tuple(shape), fields))
            previous_end = end
        if data_size != previous_end:
            raise self.fail(f"bytes {previous_end}..{data_size} of the data are not used by any "
                            "array (the header is corrupt)")
        return entries

    def build_arrays(self, entries: list, data: bytes | bytearray) -> list:
        arrays = []
        previous_end = 0
        for i, (dtype, shape, fields) in enumerate(entries):
            start = fields["offset"]
            if any(data[previous_end:start]):
                raise self.fail(f"the padding before array {i} is not zeros: the data is "
                                "corrupt")
            previous_end = start + fields["nbytes"]
            raw = memoryview(data)[start:previous_end]
            if zlib.crc32(raw) != fields["crc32"]:
                raise self.fail(f"array {i} ({dtype}, shape {list(shape)}) fails its checksum: "
                                "the data is corrupt or was modified")
            try:
                array = np.frombuffer(raw, dtype=dtype).reshape(shape)
            except ValueError as exc:  # zero-size, but other dims beyond what NumPy can index
                raise self.fail(f"array {i}: shape {list(shape)} is too large for NumPy "
                                f"({exc})") from None
            arrays.append(array.astype(dtype.newbyteorder("="), copy=True))  # native, writable
        return arrays

    def decode(self, node: Any, arrays: list, where: str, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise self.fail(f"structure nested deeper than {_MAX_DEPTH} levels at {where}")
        if node is None or isinstance(node, (bool, str, int, float)):
            return node
        if isinstance(node, list):
            raise self.fail(f"malformed structure at {where}: a bare JSON list")
        if not isinstance(node, dict) or len(node) == 0:
            raise self.fail(f"malformed structure at {where}")
        kind = next(iter(node))
        body = node[kind]
        allowed = {kind, "requires_grad", "parameter"} if kind == "$tensor" else {kind}
        if not set(node) <= allowed:
            raise self.fail(f"malformed {kind} node at {where}: unexpected keys "
                            f"{sorted(set(node) - allowed)}")
        if kind == "$dict":
            if not isinstance(body, list):
                raise self.fail(f"malformed dict at {where}")
            result = {}
            for item in body:
                if (not isinstance(item, list) or len(item) != 2 or isinstance(item[0], bool)
                        or not isinstance(item[0], (str, int))):
                    raise self.fail(f"malformed dict entry at {where}: {str(item)[:80]}")
                key = item[0]
                result[key] = self.decode(item[1], arrays, f"{where}[{key!r}]", depth + 1)
            return result
        if kind in ("$list", "$tuple"):
            if not isinstance(body, list):
                raise self.fail(f"malformed {kind[1:]} at {where}")
            items = [self.decode(v, arrays, f"{where}[{i}]", depth + 1) for i, v in enumerate(body)]
            return items if kind == "$list" else tuple(items)
        if kind == "$set":
            if not isinstance(body, list):
                raise self.fail(f"malformed set at {where}")
            try:
                return {self.decode(v, arrays, f"{where}[{i}]", depth + 1)
                        for i, v in enumerate(body)}
            except TypeError:
                raise self.fail(f"a set at {where} holds an unhashable value") from None
        if kind == "$global":
            return self.resolve_global(body, where)
        if kind == "$object":
            if not isinstance(body, list) or len(body) != 2:
                raise self.fail(f"malformed object at {where}")
            cls = self.resolve_global(body[0], where)
            if not isinstance(cls, type):
                raise self.fail(f"{where}: {body[0]} is not a class")
            state = self.decode(body[1], arrays, f"{where}.__dict__", depth + 1)
            if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
                raise self.fail(f"malformed object state at {where}")
            obj = cls.__new__(cls)
            obj.__dict__.update(state)  # as pickle does: no __init__, no __setattr__
            return obj
        if kind == "$int" and isinstance(body, str):
            try:
                return int(body)
            except ValueError:
                raise self.fail(f"malformed integer {body[:40]!r} at {where}") from None
        if kind == "$float" and body in ("nan", "inf", "-inf"):
            return float(body)
        if kind == "$dtype" and isinstance(body, str):
            from graphc.factories import as_dtype
            try:
                return as_dtype(body)
            except (TypeError, ValueError, KeyError):
                raise self.fail(f"unknown dtype {body[:40]!r} at {where}") from None
        if kind == "$device" and isinstance(body, str):
            from graphc.device import device as device_type
            try:
                return device_type(body)
            except (TypeError, ValueError):
                raise self.fail(f"unknown device {body[:40]!r} at {where}") from None
        if kind in ("$tensor", "$ndarray", "$scalar"):
            if not isinstance(body, int) or isinstance(body, bool) or not 0 <= body < len(arrays):
                raise self.fail(f"{where} refers to array {body!r}, but the checkpoint has "
                                f"{len(arrays)} arrays")
            self.referenced.add(body)
            array = arrays[body]
            if kind == "$ndarray":
                return array  # every reference gets the same array object: shared, as saved
            if kind == "$scalar":
                if array.ndim != 0:
                    raise self.fail(f"{where}: a NumPy scalar with shape {list(array.shape)}")
                return array[()]
            requires_grad = node.get("requires_grad", False)
            if not isinstance(requires_grad, bool):
                raise self.fail(f"{where}: requires_grad must be true or false, got "
                                f"{str(requires_grad)[:40]}")
            parameter = node.get("parameter", False)
            if not isinstance(parameter, bool):
                raise self.fail(f"{where}: parameter must be true or false")
            key = (body, requires_grad, parameter)
            if key not in self.tensors:
                self.tensors[key] = self.make_tensor(array, requires_grad, where, parameter)
            return self.tensors[key]
        raise self.fail(f"unknown node {kind!r} at {where}")

    def make_tensor(self, array: np.ndarray, requires_grad: bool, where: str,
                    parameter: bool = False) -> Tensor:
        from ir import dtypes
        try:
            dtypes.from_numpy(array.dtype)
        except TypeError:
            raise self.fail(f"{where}: a tensor of dtype {array.dtype}, which graphc tensors do "
                            "not support") from None
        if parameter:
            from graphc.nn.module import Parameter
            return Parameter(array, requires_grad=requires_grad)
        tensor = Tensor._wrap(array)
        if requires_grad and dtypes.from_numpy(array.dtype).is_float:
            tensor.requires_grad = True
        return tensor


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def read_header(f: PathLike) -> dict:
    """The parsed JSON header of a checkpoint (structure and array table), without the data."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as stream:
            return _Decoder(str(f), stream, whole_file=False).read_header()[0]
    return _Decoder(str(getattr(f, "name", "<file object>")), f, whole_file=False).read_header()[0]
