"""Reading PyTorch's ``.pt`` checkpoints (``torch.save``'s zip format) without PyTorch and
without running code from the file.

``graphc.load("model.pt")`` comes here when the file is a zip archive. ``torch.save`` (since
PyTorch 1.6) writes one: ``<name>/data.pkl`` (a pickle, protocol 2, of the saved structure),
``<name>/data/<key>`` (the raw little-endian bytes of each storage, stored uncompressed),
``<name>/byteorder`` and ``<name>/version``. A pickle can call any importable function, so it
is read by a restricted unpickler that knows what ``torch.load(weights_only=True)`` accepts and
builds it with graphc's own code, never importing torch:

- tensors (``torch._utils._rebuild_tensor_v2`` over a storage: graphc Tensors) and parameters
  (``_rebuild_parameter``, ``_rebuild_parameter_with_state``: ``graphc.nn.Parameter``);
- storages (``torch.FloatStorage`` ... ``torch.BFloat16Storage``, ``torch.UntypedStorage``),
  read from the zip entry named by the pickle's persistent id;
- ``collections.OrderedDict``, dicts, lists, tuples, sets, numbers, strings, bytes, None,
  ``torch.Size`` (``graphc.Size``), torch dtypes (graphc dtypes), ``torch.device`` (graphc's);
- tensors with Python attributes (``torch._tensor._rebuild_from_type_v2`` of ``torch.Tensor``
  or ``torch.nn.Parameter``): graphc tensors, the attributes dropped;
- NumPy arrays and scalars of numeric dtypes (what ``torch.save(np_array)`` writes:
  ``numpy._core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``,
  ``_codecs.encode`` for protocol 2's bytes), rebuilt from checked bytes.

Any other global is refused with a :class:`graphc.errors.CheckpointError` naming it, unless the
user allowed it with :func:`graphc.serialization.add_safe_globals` (the registry graphc's own
format uses), as PyTorch's ``add_safe_globals`` does. Sizes are checked before anything is
allocated: every zip entry's declared size against the archive's size, each storage's byte
count against its zip entry, each tensor's offset, shape and strides against its storage, and
the pickle's memo indices against its length (an index of 2**32 would make CPython's
unpickler allocate a table of that size). Damaged archives raise ``CheckpointError``.

Tensors come back as graphc tensors, each over its own row-major array (graphc has no strided
views): a tensor that is a contiguous piece of its storage shares the storage's bytes with the
other tensors over it (graphc never writes arrays in place, so this saves memory without being
observable); a strided view (a transpose, an expanded tensor) is copied. One tensor saved under
two names comes back as one object, as pickle's memo makes it.
"""
from __future__ import annotations

import _compat_pickle
import collections
import io
import math
import pickle
import pickletools
import struct
import zipfile
from typing import Any, BinaryIO

import ml_dtypes
import numpy as np

from graphc.errors import CheckpointError
from graphc.size import Size
from graphc.tensor import Tensor

ZIP_MAGIC = b"PK\x03\x04"
# A compressed entry may claim at most this many times the archive's size (torch writes its
# entries uncompressed; a deflated entry claiming more is a zip bomb or corrupt).
_MAX_EXPANSION = 32
_MAX_DEPTH = 200

# storage class name -> NumPy dtype of its elements
_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "BFloat16Storage": ml_dtypes.bfloat16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_, "ComplexFloatStorage": np.complex64,
    "ComplexDoubleStorage": np.complex128, "UntypedStorage": np.uint8,
}
# torch dtypes, as a checkpoint may name them (torch.float32 ...) -> NumPy dtypes (of graphc's)
_TORCH_DTYPES = {
    "float64": np.float64, "double": np.float64, "float32": np.float32, "float": np.float32,
    "float16": np.float16, "half": np.float16, "bfloat16": ml_dtypes.bfloat16,
    "int64": np.int64, "long": np.int64, "int32": np.int32, "int": np.int32,
    "int16": np.int16, "short": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_,
}
# torch dtypes graphc has no counterpart of (PyTorch pickles tensors of these with
# _rebuild_tensor_v3): named in a clear error instead of "global ... is not allowed"
_MISSING_TORCH_DTYPES = frozenset({
    "uint16", "uint32", "uint64", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2",
    "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2", "complex32", "chalf",
    "complex64", "cfloat", "complex128", "cdouble", "qint8", "quint8", "qint32", "quint4x2",
    "quint2x4", "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16",
})
# NumPy dtypes a checkpoint's arrays may have: numbers and bools, nothing needing code to build
_NUMPY_KINDS = "biufc"


class _Placeholder:
    """Base of what the unpickler builds in place of tensors, storages, dtypes and arrays.

    Pickle's BUILD opcode sets attributes of (or calls ``__setstate__`` on) any object on its
    stack: a file could otherwise change graphc's shared objects (its dtypes, this module's
    classes) for the whole process. So every allowed global is a fresh function or a builtin
    type whose attributes cannot be set, everything they build is a placeholder whose
    ``__setstate__`` refuses (or checks) what BUILD gives it, and :class:`_Finisher` turns
    placeholders into values after unpickling.
    """

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        raise pickle.UnpicklingError(f"BUILD on a {type(self).__name__[1:]} is not allowed")


class _Storage(_Placeholder):
    """A storage read from the archive: its bytes, element dtype and element count."""

    __slots__ = ("raw", "dtype", "length")

    def __init__(self, raw: bytearray, dtype: np.dtype, length: int):
        self.raw, self.dtype, self.length = raw, dtype, length


class _StorageType(_Placeholder):
    """What a ``torch.<X>Storage`` global unpickles to: a token naming the element dtype."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _PendingTensor(_Placeholder):
    """A tensor (or parameter) to make from ``array`` once unpickling is over."""

    __slots__ = ("array", "requires_grad", "parameter")

    def __init__(self, array: np.ndarray, requires_grad: Any, parameter: bool = False):
        self.array, self.requires_grad, self.parameter = array, bool(requires_grad), parameter


class _TorchDType(_Placeholder):
    """``torch.float32`` and friends: graphc's dtype of that name, once unpickling is over."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


class _TensorClass(_Placeholder):
    """``torch.Tensor`` or ``torch.nn.Parameter`` as ``_rebuild_from_type_v2`` names them."""

    __slots__ = ("parameter",)

    def __init__(self, parameter: bool):
        self.parameter = parameter


class _NDArrayClass(_Placeholder):
    """``numpy.ndarray`` as a pickle names it: only ``_reconstruct``'s first argument (the
    class itself could be called through NEWOBJ to allocate any size)."""

    __slots__ = ()


def is_torch_zip(head: bytes) -> bool:
    """Whether a file's first bytes are a zip archive's (``torch.save``'s format)."""
    return head.startswith(ZIP_MAGIC)


def is_legacy_torch(head: bytes) -> bool:
    """Whether a file's first bytes are a pickle (``torch.save`` before PyTorch 1.6, or with
    ``_use_new_zipfile_serialization=False``) or a tar archive (PyTorch before 0.4)."""
    return head[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05") or \
        head[257:262] == b"ustar"


def legacy_error(name: str) -> CheckpointError:
    return CheckpointError(
        f"{name}: this is PyTorch's legacy (pre-1.6, non-zip) checkpoint format, which graphc "
        "does not read; re-save it with a recent PyTorch (torch.save(torch.load(path), "
        "new_path)), or as .safetensors (safetensors.torch.save_file)")


def load_zip(f: BinaryIO, name: str, archive_size: int, weights_only: bool = True) -> Any:
    """Reads a ``torch.save`` zip archive from the seekable binary file ``f``."""
    try:
        archive = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError,
            OverflowError, struct.error) as exc:
        raise CheckpointError(f"{name}: not a readable zip archive ({exc}): the PyTorch "
                              "checkpoint is truncated or corrupt") from None
    with archive:
        reader = _ArchiveReader(archive, name, archive_size)
        return reader.load(weights_only)


class _ArchiveReader:
    def __init__(self, archive: zipfile.ZipFile, name: str, archive_size: int):
        self.archive = archive
        self.name = name
        self.archive_size = archive_size
        self.storages: dict[str, bytearray] = {}
        # bytes that copies of strided views may take in all (a stride-0 view of one element
        # could otherwise ask for any size)
        self.copy_budget = max(_MAX_EXPANSION * archive_size, 1 << 26)
        pickles = [i.filename for i in archive.infolist() if i.filename.endswith("data.pkl")
                   and i.filename.count("/") == 1]
        if len(pickles) != 1:
            raise self.fail("a zip archive, but not a PyTorch checkpoint (nor a graphc one): "
                            f"expected one '<name>/data.pkl' entry, found {len(pickles)}")
        self.prefix = pickles[0][:-len("data.pkl")]
        byteorder = self.read_entry(self.prefix + "byteorder", optional=True)
        if byteorder not in (None, b"little", b"big"):
            raise self.fail(f"unknown byte order {byteorder[:20]!r} in {self.prefix}byteorder")
        self.big_endian = byteorder == b"big"

    def fail(self, what: str) -> CheckpointError:
        return CheckpointError(f"{self.name}: {what}")

    def read_entry(self, entry: str, optional: bool = False, expected_size: int | None = None
                   ) -> bytearray | None:
        """The bytes of zip entry ``entry``, after checking its declared size (against
        ``expected_size`` and the archive's size) so that nothing unbounded is allocated."""
        try:
            info = self.archive.getinfo(entry)
        except KeyError:
            if optional:
                return None
            raise self.fail(f"the archive has no entry {entry!r} (the checkpoint is incomplete "
                            "or corrupt)") from None
        if expected_size is not None and info.file_size != expected_size:
            raise self.fail(f"entry {entry!r} holds {info.file_size} bytes, but the checkpoint "
                            f"says it holds {expected_size} (the file is corrupt)")
        stored = info.compress_type == zipfile.ZIP_STORED
        bound = self.archive_size * (1 if stored else _MAX_EXPANSION)
        if info.file_size > bound or stored and info.file_size != info.compress_size:
            raise self.fail(f"entry {entry!r} claims {info.file_size} bytes "
                            f"({info.compress_size} stored) in a {self.archive_size}-byte "
                            "archive: refused (a zip bomb or a corrupt file)")
        data = bytearray(info.file_size)
        try:
            with self.archive.open(info) as stream:
                got = stream.readinto(data)  # type: ignore[attr-defined]  # (a ZipExtFile)
                if got != info.file_size or stream.read(1):
                    raise self.fail(f"entry {entry!r} is truncated: expected "
                                    f"{info.file_size} bytes, read {got}")
        except CheckpointError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError,
                NotImplementedError, OverflowError, struct.error) as exc:
            raise self.fail(f"cannot read entry {entry!r}: {exc} (the checkpoint is "
                            "truncated or corrupt)") from None
        return data

    def load(self, weights_only: bool) -> Any:
        data = self.read_entry(self.prefix + "data.pkl")
        assert data is not None
        _check_pickle(bytes(data), self)
        unpickler = _RestrictedUnpickler(io.BytesIO(data), self, weights_only)
        try:
            root = unpickler.load()
        except CheckpointError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
                AttributeError, OverflowError) as exc:
            raise self.fail(f"the checkpoint's pickle is malformed: {type(exc).__name__}: "
                            f"{exc}") from None
        return _Finisher(self).finish(root)

    def storage(self, pid: Any) -> _Storage:
        """A persistent id ``('storage', <X>Storage, key, location, numel)`` -> the storage's
        bytes (one buffer per key, shared by the tensors over it), dtype and element count."""
        if (not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage"
                or not isinstance(pid[1], _StorageType) or not isinstance(pid[2], str)
                or not isinstance(pid[4], int) or isinstance(pid[4], bool) or pid[4] < 0):
            raise self.fail(f"unsupported persistent id {str(pid)[:120]} (graphc reads "
                            "tensor storages only)")
        _, storage_type, key, _location, numel = pid
        dtype = storage_type.dtype
        # UntypedStorage counts bytes; typed storages count elements
        nbytes = numel if storage_type.name == "UntypedStorage" else numel * dtype.itemsize
        if key not in self.storages:
            if not key.isalnum():
                raise self.fail(f"storage key {key[:40]!r} is not a plain name")
            raw = self.read_entry(f"{self.prefix}data/{key}", expected_size=nbytes)
            assert raw is not None
            self.storages[key] = raw
        raw = self.storages[key]
        if len(raw) != nbytes:
            raise self.fail(f"storage {key} is used with {nbytes} and {len(raw)} bytes")
        if len(raw) % dtype.itemsize:
            raise self.fail(f"storage {key} of {len(raw)} bytes does not hold whole {dtype} "
                            "elements")
        return _Storage(raw, dtype, len(raw) // dtype.itemsize)

    def tensor(self, storage: Any, offset: Any, size: Any, stride: Any) -> np.ndarray:
        """The array of a tensor over ``storage``, after checking that every element its
        offset, size and stride reach lies inside the storage."""
        if not isinstance(storage, _Storage):
            raise self.fail("a tensor is rebuilt from something that is not a storage")
        raw, dtype, length = storage.raw, storage.dtype, storage.length
        ints = lambda xs: isinstance(xs, tuple) and all(
            isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in xs)
        if not (ints(size) and ints(stride) and len(size) == len(stride) and len(size) <= 64
                and isinstance(offset, int) and not isinstance(offset, bool) and offset >= 0):
            raise self.fail(f"a tensor has invalid offset {offset!r}, size {str(size)[:80]} or "
                            f"stride {str(stride)[:80]}")
        count = math.prod(size)
        last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if count else offset - 1
        if count and last >= length or offset > length:
            raise self.fail(f"a tensor of size {list(size)}, stride {list(stride)} at offset "
                            f"{offset} reaches element {last} of a storage of {length} "
                            "elements (the checkpoint is corrupt)")
        order = dtype if dtype.itemsize == 1 else \
            dtype.newbyteorder(">") if self.big_endian else dtype.newbyteorder("<")
        flat = np.frombuffer(raw, dtype=order)
        if count == 0:
            return np.zeros(size, dtype=dtype)
        contiguous = all(s == math.prod(size[i + 1:]) for i, (n, s) in
                         enumerate(zip(size, stride)) if n > 1)
        if contiguous:
            array = flat[offset:offset + count].reshape(size)
        else:  # a strided view: copied to row-major (graphc has no strided tensors)
            self.copy_budget -= count * dtype.itemsize
            if self.copy_budget < 0:
                raise self.fail(
                    f"a strided tensor of size {list(size)}, stride {list(stride)} would be "
                    f"copied into {count * dtype.itemsize} bytes from a storage of "
                    f"{len(raw)}: more than graphc copies for a {self.archive_size}-byte file "
                    "(an expanded tensor? save it contiguous: .contiguous() or .clone())")
            array = np.lib.stride_tricks.as_strided(
                flat[offset:], shape=size, strides=[s * dtype.itemsize for s in stride],
                writeable=False).copy()
        if order != dtype:  # big-endian file: bytes swapped into native order
            array = array.astype(dtype)
        return array


def _check_pickle(data: bytes, reader: _ArchiveReader) -> None:
    """Walks the pickle's opcodes without running them: memo indices must be small (CPython's
    unpickler grows its memo table to the largest index it sees before storing anything)."""
    limit = len(data)
    try:
        for opcode, arg, _pos in pickletools.genops(data):
            if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"):
                if not isinstance(arg, int) or arg > limit:
                    raise reader.fail(f"the checkpoint's pickle uses memo index {arg}, more "
                                      f"than its {limit} bytes could fill (corrupt or hostile)")
    except CheckpointError:
        raise
    except (ValueError, EOFError) as exc:
        raise reader.fail(f"the checkpoint's pickle is malformed or truncated: {exc}") from None


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds what ``torch.load(weights_only=True)`` allows, with graphc's code (see the
    module docstring); any other global is an error naming it."""

    def __init__(self, file: BinaryIO, reader: _ArchiveReader, weights_only: bool):
        super().__init__(file)
        self.reader = reader
        self.weights_only = weights_only

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names (protocol 2 pickles write them: subprocess.call is commands.call),
        # read as pickle reads them, so that errors name the Python 3 global
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        full = f"{module}.{name}"
        built_in = _allowed_global(full, self.reader)
        if built_in is not None:
            return built_in
        from graphc.serialization import _safe_globals  # the registry add_safe_globals fills
        if full in _safe_globals:
            return _safe_globals[full]
        if not self.weights_only and not module.split(".")[0] == "torch":
            return super().find_class(module, name)
        raise self.reader.fail(
            f"global '{full}' is not allowed; add it with graphc.serialization."
            "add_safe_globals if you trust this file (graphc builds tensors, storages, "
            "ordered dicts, plain containers and numeric NumPy arrays only)")

    def persistent_load(self, pid: Any) -> Any:
        return self.reader.storage(pid)


def _allowed_global(full: str, reader: _ArchiveReader) -> Any:
    """graphc's builder for an allowed global name, or None."""
    builder = _builder(full, reader)
    if builder is None or isinstance(builder, _Placeholder) or builder in _BUILTIN_TYPES:
        return builder  # a builtin type (no settable attributes), a fresh placeholder, or None
    # a fresh function per lookup: BUILD on it cannot change anything shared
    return lambda *args: builder(*args)


_BUILTIN_TYPES = (tuple, set, frozenset, complex, collections.OrderedDict)


def _unsupported_dtype(dtype: Any, reader: _ArchiveReader) -> CheckpointError:
    """The error for a tensor (or a dtype value) of a torch dtype graphc does not have."""
    name = dtype.name if isinstance(dtype, _TorchDType) else "of another kind"
    return reader.fail(
        f"it holds a tensor or dtype torch.{name}, which graphc has no dtype for (graphc has "
        f"bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32 and float64); "
        f"convert it in PyTorch before saving (for example t.to(torch.int32) for uint16, "
        f"t.float() for float8)")


def _rebuild_tensor_v3(reader: _ArchiveReader):
    """PyTorch pickles tensors of dtypes without a typed storage (uint16, float8, ...) this
    way: none of them is a graphc dtype."""
    def rebuild(storage, offset, size, stride, requires_grad=False, hooks=None, dtype=None,
                *metadata):
        raise _unsupported_dtype(dtype, reader)
    return rebuild


def _builder(full: str, reader: _ArchiveReader) -> Any:
    module, _, name = full.rpartition(".")
    if module in ("torch", "torch.storage") and name in _STORAGE_DTYPES:
        return _StorageType(name)
    if module == "torch._utils":
        if name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return lambda storage, offset, size, stride, requires_grad=False, *_: (
                _PendingTensor(reader.tensor(storage, offset, size, stride), requires_grad))
        if name == "_rebuild_tensor_v3":
            return _rebuild_tensor_v3(reader)
        if name in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
            return lambda data, requires_grad, *_: _parameter(data, requires_grad)
    if full == "torch._tensor._rebuild_from_type_v2":
        return _rebuild_from_type
    if full in ("torch.Tensor", "torch.nn.parameter.Parameter"):
        return _TensorClass(parameter=name == "Parameter")
    if full == "torch.device":
        return _device
    if module == "torch" and (name in _TORCH_DTYPES or name in _MISSING_TORCH_DTYPES):
        return _TorchDType(name)
    if full == "torch.Size":
        return Size
    if full == "builtins.tuple":
        return tuple
    if full == "collections.OrderedDict":
        return collections.OrderedDict
    if full in ("builtins.set", "builtins.frozenset", "builtins.complex"):
        return {"set": set, "frozenset": frozenset, "complex": complex}[name]
    if full == "_codecs.encode":
        return _latin1_bytes
    if module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        if name == "_reconstruct":
            return _PendingArray.reconstruct
        if name == "scalar":
            return _numpy_scalar
    if full == "numpy.ndarray":
        return _NDArrayClass()
    if full == "numpy.dtype":
        return _PendingDType
    return None


def _rebuild_from_type(func: Any, new_type: Any, args: Any, state: Any) -> _PendingTensor:
    """``torch._tensor._rebuild_from_type_v2``: what torch.save writes for a tensor with Python
    attributes (``t.note = ...``). ``state`` (the attributes) is dropped: not restored yet."""
    if not isinstance(new_type, _TensorClass) or not isinstance(args, tuple):
        raise pickle.UnpicklingError("_rebuild_from_type_v2 is allowed for torch.Tensor and "
                                     "torch.nn.Parameter only")
    tensor = func(*args)
    if not isinstance(tensor, _PendingTensor):
        raise pickle.UnpicklingError("_rebuild_from_type_v2 did not rebuild a tensor")
    if new_type.parameter and not tensor.parameter:
        return _parameter(tensor, True)
    return tensor


def _device(kind: Any, index: Any = None) -> Any:
    from graphc.device import device
    if not isinstance(kind, str) or not (index is None or type(index) is int):
        raise pickle.UnpicklingError(f"malformed torch.device({str(kind)[:20]}, "
                                     f"{str(index)[:20]})")
    return device(kind, index)


def _latin1_bytes(text: Any, encoding: Any = "utf-8") -> bytes:
    """``_codecs.encode``, as protocol 2 pickles write bytes (``encode(str, 'latin1')``)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is allowed only as protocol 2's bytes "
                                     "(a str and 'latin1')")
    return text.encode("latin1")


def _numeric_dtype(spec: Any) -> np.dtype:
    if isinstance(spec, _PendingDType):
        return spec.dtype()
    raise pickle.UnpicklingError(f"expected a NumPy dtype, got {type(spec).__name__}")


class _PendingDType(_Placeholder):
    """``numpy.dtype(name, align, copy)`` and its ``__setstate__``: a numeric dtype only."""

    __slots__ = ("base", "byteorder")

    def __init__(self, name: Any, align: Any = False, copy: Any = True):
        if not isinstance(name, str) or len(name) > 8:
            raise pickle.UnpicklingError(f"unsupported NumPy dtype {str(name)[:40]}")
        try:
            self.base = np.dtype(name)
        except TypeError:
            raise pickle.UnpicklingError(f"unknown NumPy dtype {name!r}") from None
        if self.base.kind not in _NUMPY_KINDS or self.base.fields is not None:
            raise pickle.UnpicklingError(f"NumPy dtype {name!r} is not numeric: refused")
        self.byteorder = "="

    def __setstate__(self, state: Any) -> None:
        if (not isinstance(state, tuple) or len(state) < 5
                or state[1] not in ("<", ">", "|", "=")
                or any(part is not None for part in state[2:5])):
            raise pickle.UnpicklingError(f"unsupported NumPy dtype state {str(state)[:80]}")
        self.byteorder = state[1]

    def dtype(self) -> np.dtype:
        if self.byteorder == "<":
            return self.base.newbyteorder("<")
        return self.base.newbyteorder(">") if self.byteorder == ">" else self.base


class _PendingArray(_Placeholder):
    """``numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')`` and its ``__setstate__``
    ``(version, shape, dtype, fortran, raw bytes)``: checked, then built by NumPy from the
    bytes; :class:`_Finisher` swaps the array in after unpickling."""

    __slots__ = ("array",)

    @staticmethod
    def reconstruct(cls: Any, shape: Any, typecode: Any) -> _PendingArray:
        if not isinstance(cls, _NDArrayClass):
            raise pickle.UnpicklingError("NumPy _reconstruct is allowed for numpy.ndarray only")
        return _PendingArray()

    def __init__(self):
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if self.array is not None:
            raise pickle.UnpicklingError("a NumPy array's state is set twice")
        if not isinstance(state, tuple) or len(state) != 5:
            raise pickle.UnpicklingError("malformed NumPy array state")
        _version, shape, dtype_spec, fortran, raw = state
        dtype = _numeric_dtype(dtype_spec)
        if not (isinstance(shape, tuple) and len(shape) <= 64 and all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
            raise pickle.UnpicklingError(f"invalid NumPy array shape {str(shape)[:80]}")
        if not isinstance(raw, (bytes, bytearray)):
            raise pickle.UnpicklingError("NumPy array data is not bytes")
        if math.prod(shape) * dtype.itemsize != len(raw):
            raise pickle.UnpicklingError(f"a NumPy array of shape {list(shape)} and dtype "
                                         f"{dtype} needs {math.prod(shape) * dtype.itemsize} "
                                         f"bytes, but the checkpoint holds {len(raw)}")
        array = np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran else "C")
        self.array = array.astype(dtype.newbyteorder("="), order="C")  # native and writable


def _numpy_scalar(dtype_spec: Any, raw: Any = None) -> np.generic:
    dtype = _numeric_dtype(dtype_spec)
    if not isinstance(raw, bytes) or len(raw) != dtype.itemsize:
        raise pickle.UnpicklingError(f"a NumPy {dtype} scalar needs {dtype.itemsize} bytes")
    return np.frombuffer(raw, dtype=dtype)[0].astype(dtype.newbyteorder("="))


def _parameter(data: Any, requires_grad: Any) -> _PendingTensor:
    if not isinstance(data, _PendingTensor) or data.parameter:
        raise pickle.UnpicklingError("a parameter is rebuilt from something that is not a "
                                     "tensor")
    return _PendingTensor(data.array, requires_grad, parameter=True)


class _Finisher:
    """Replaces the placeholders the unpickler built by tensors, arrays and dtypes, inside
    containers and allowed objects' attributes, keeping shared objects shared."""

    def __init__(self, reader: _ArchiveReader):
        self.reader = reader
        self.done: dict[int, Any] = {}

    def finish(self, obj: Any, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise self.reader.fail(f"the checkpoint is nested deeper than {_MAX_DEPTH} levels")
        if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes, bytearray,
                                           Tensor, np.generic)):
            return obj
        if id(obj) in self.done:
            return self.done[id(obj)]
        if isinstance(obj, _PendingTensor):
            result: Any = self.tensor(obj)
        elif isinstance(obj, _PendingArray):
            if obj.array is None:
                raise self.reader.fail("a NumPy array without its data (malformed pickle)")
            result = obj.array
        elif isinstance(obj, _PendingDType):
            result = obj.dtype()
        elif isinstance(obj, _TorchDType):
            from ir import dtypes
            if obj.name not in _TORCH_DTYPES:
                raise _unsupported_dtype(obj, self.reader)
            result = dtypes.from_numpy(np.dtype(_TORCH_DTYPES[obj.name]))
        elif isinstance(obj, dict):
            self.done[id(obj)] = obj  # before the values: a dict may hold itself
            for key, value in obj.items():
                if isinstance(key, _Placeholder):
                    raise self.reader.fail(f"a {type(key).__name__[1:]} as a dict key")
                obj[key] = self.finish(value, depth + 1)
            return obj
        elif isinstance(obj, list):
            self.done[id(obj)] = obj
            obj[:] = [self.finish(value, depth + 1) for value in obj]
            return obj
        elif type(obj) is Size:  # (ints only: nothing to finish)
            result = obj
        elif isinstance(obj, tuple):
            result = tuple(self.finish(value, depth + 1) for value in obj)
        elif isinstance(obj, (set, frozenset)):
            try:
                result = type(obj)(self.finish(value, depth + 1) for value in obj)
            except TypeError:
                raise self.reader.fail("a set holds an unhashable value (a NumPy array)") from None
        elif isinstance(obj, _Placeholder):  # a storage or class, not used to build a tensor
            raise self.reader.fail(f"the checkpoint holds a bare {type(obj).__name__[1:]}, "
                                   "which graphc builds tensors from but does not return")
        else:  # built by an allowed global (a device, or a class add_safe_globals allowed)
            self.done[id(obj)] = obj
            state = getattr(obj, "__dict__", None)
            if type(state) is dict:  # an object's attributes may hold tensors and arrays
                for key, value in state.items():
                    state[key] = self.finish(value, depth + 1)
            return obj
        self.done[id(obj)] = result
        return result

    def tensor(self, pending: _PendingTensor) -> Tensor:
        from ir import dtypes
        array = pending.array
        try:
            is_float = dtypes.from_numpy(array.dtype).is_float
        except TypeError:
            raise self.reader.fail(f"a tensor of dtype {array.dtype}, which graphc tensors do "
                                   "not support") from None
        if pending.parameter:
            from graphc.nn.module import Parameter
            return Parameter(Tensor._wrap(array),
                             requires_grad=pending.requires_grad and is_float)
        tensor = Tensor._wrap(array)
        tensor.requires_grad = pending.requires_grad and is_float
        return tensor
