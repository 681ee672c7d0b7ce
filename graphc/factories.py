"""Tensor factories: ``tensor from_numpy zeros ones full arange eye randn rand ..._like``.

Inside a compiled function they build ``const`` and random nodes, so the same code traces.

    >>> import graphc
    >>> graphc.zeros(2, 3).shape
    (2, 3)
    >>> graphc.arange(4).tolist()
    [0, 1, 2, 3]
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from graphc import device as devices
from graphc import tracing
from graphc.arg_checks import require_tensor
from graphc.dispatch import apply
from graphc.errors import ArgumentTypeError
from graphc.linspace_values import linspace_values
from graphc.random import next_seed
from graphc.tensor import Tensor
from ir import dtypes
from ir.errors import ShapeError

float32, float64, int32, int64 = dtypes.f32, dtypes.f64, dtypes.i32, dtypes.i64
uint8, int8, int16 = dtypes.u8, dtypes.i8, dtypes.i16
float16, bfloat16 = dtypes.f16, dtypes.bf16
half, short = float16, int16  # torch.half, torch.short
bool = dtypes.bool_  # noqa: A001  (graphc.bool, like torch.bool)

_PYTHON_TYPES = {float: dtypes.f64, int: dtypes.i64, type(True): dtypes.bool_}  # noqa: UP003
_ALIASES = {"float": dtypes.f32, "double": dtypes.f64, "long": dtypes.i64, "int": dtypes.i32,
            "float32": dtypes.f32, "float64": dtypes.f64, "int32": dtypes.i32,
            "int64": dtypes.i64, "bool": dtypes.bool_, "uint8": dtypes.u8, "int8": dtypes.i8,
            "int16": dtypes.i16, "short": dtypes.i16, "float16": dtypes.f16,
            "half": dtypes.f16, "bfloat16": dtypes.bf16}


def as_dtype(dtype) -> dtypes.DType:
    """Accepts graphc dtypes, NumPy dtypes, Python types and names like ``"float32"``."""
    if isinstance(dtype, dtypes.DType):
        return dtype
    if dtype in _PYTHON_TYPES:
        return _PYTHON_TYPES[dtype]
    if isinstance(dtype, str) and dtype in _ALIASES:
        return _ALIASES[dtype]
    if isinstance(dtype, str) and dtype in dtypes.BY_NAME:
        return dtypes.BY_NAME[dtype]
    try:
        return dtypes.from_numpy(dtype)
    except TypeError as exc:
        raise TypeError(f"unknown dtype {dtype!r}: {exc}") from None


def _shape(size) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    from graphc.functions import sizes  # functions imports this module's factories lazily
    shape = tuple(sizes(size, "size"))
    if any(s < 0 for s in shape):
        raise ShapeError(f"negative dimension in size {list(shape)}")
    return shape


def _is_numpy_data(data) -> bool:
    return isinstance(data, (np.ndarray, np.generic))


def _may_hold_ints_beyond_int64(array: np.ndarray) -> bool:
    """Whether NumPy may have turned Python ints beyond int64 into ``array``: it makes uint64,
    object or (with negative ints) float64 arrays of them. Only then is the data walked."""
    kind = array.dtype.kind
    return kind in "uO" or (kind == "f" and np.any(np.abs(array) >= 2.0**63).item())


def _has_python_float(data) -> bool:
    return any(isinstance(v, (float, np.floating)) for v in np.array(data, dtype=object).flat)


def _infer_dtype(array: np.ndarray, data) -> dtypes.DType:
    """Python data gets PyTorch's defaults (f32 if any float, else i64, bool if all bools);
    NumPy arrays and NumPy scalars (``np.float64(2.0)``) keep their dtype.

    Python ints beyond int64 make NumPy build uint64, object or (mixed with negative ints)
    float64 arrays; they are still ints, inferred as i64, so that the range check refuses them.
    """
    kind = array.dtype.kind
    if _is_numpy_data(data):
        if kind in "fiu" or array.dtype == dtypes.bf16.numpy:
            return dtypes.from_numpy(array.dtype)
    elif kind in "iu":
        return _with_typed_elements(dtypes.i64, data)
    elif kind == "f" or (kind == "O" and all(isinstance(v, (int, float, np.number))
                                             for v in array.flat)):
        ints = _may_hold_ints_beyond_int64(array) and not _has_python_float(data)
        return _with_typed_elements(dtypes.i64 if ints else dtypes.DEFAULT_FLOAT, data)
    if kind == "b":
        return _with_typed_elements(dtypes.bool_, data)
    if data is None or kind == "O":  # None, or a list holding None or other objects
        raise ArgumentTypeError(f"expected a Tensor, a number or a nested list of numbers, but "
                                f"got {type(data).__name__} (cannot make a tensor from it)")
    raise ArgumentTypeError(f"cannot make a tensor from data of NumPy dtype {array.dtype}")


def _with_typed_elements(inferred: dtypes.DType, data) -> dtypes.DType:
    """``inferred`` (from the Python numbers) promoted with the dtypes of the NumPy scalars
    and tensors among the elements of a list: ``[1, np.float64(2)]`` is float64, as in
    PyTorch. Lists of more than 4096 elements are not looked into."""
    found, python, pending, seen = set(), set(), [data], 0
    while pending and seen < 4096:
        item = pending.pop()
        seen += 1
        if isinstance(item, (list, tuple)):
            pending.extend(item)
        elif isinstance(item, np.generic) and (item.dtype.kind in "fiub"
                                               or item.dtype == dtypes.bf16.numpy):
            found.add(dtypes.from_numpy(item.dtype))
        elif isinstance(item, Tensor):
            found.add(item.dtype)
        elif isinstance(item, type(True)):  # noqa: UP003  (this module's bool is a dtype)
            python.add(dtypes.bool_)
        elif isinstance(item, int):
            python.add(dtypes.i64)
        elif isinstance(item, float):
            python.add(dtypes.DEFAULT_FLOAT)
    if not found or pending:
        return inferred
    return dtypes.promote(*python, *found)


def _first_overflow(values: np.ndarray, dtype: dtypes.DType) -> object | None:
    """The first of ``values`` (numbers; Python ints beyond int64 in an object array) that an
    integer ``dtype`` cannot hold, floats truncated toward zero as they are stored; else None."""
    if not dtype.is_int or values.size == 0 or values.dtype.kind == "b":
        return None
    info = np.iinfo(dtype.numpy)
    flat = values.ravel()
    if flat.dtype == dtypes.bf16.numpy:
        flat = flat.astype(np.float32)  # exact; NumPy sees bfloat16 as no float kind
    if flat.dtype.kind == "O":
        for v in flat:
            if isinstance(v, (float, np.floating)) and not math.isfinite(v):
                return v
            if not info.min <= math.trunc(v) <= info.max:
                return v
        return None
    with np.errstate(invalid="ignore"):
        if flat.dtype.kind == "f":
            whole = np.trunc(flat)
            above = float(info.max) + 1.0  # 2**(bits-1) or 2**bits: exact in float64
            bad = ~np.isfinite(flat) | (whole < float(info.min)) | (whole >= above)
        else:
            bad = (flat > info.max) if flat.dtype.kind == "u" else (
                (flat < info.min) | (flat > info.max))
    return flat[np.argmax(bad)] if bad.any() else None


def _check_fits(values: np.ndarray, dtype: dtypes.DType, what: str) -> None:
    """Raises PyTorch's overflow error (a RuntimeError) if ``values`` do not fit ``dtype``."""
    bad = _first_overflow(values, dtype)
    if bad is None:
        return
    if isinstance(bad, np.generic):
        bad = bad.item()
    shown = (f"an integer of {int(bad).bit_length()} bits"  # long ints print slowly
             if isinstance(bad, int) and abs(bad) >= 10**40 else f"value {bad!r}")
    info = np.iinfo(dtype.numpy)
    raise RuntimeError(f"{what}: {shown} cannot be converted to type {dtype.numpy} without "
                       f"overflow ({dtype.numpy} holds {info.min}..{info.max})")


def _const(array: np.ndarray) -> Tensor:
    """A tensor holding ``array``: wrapped directly eagerly, a const node while tracing."""
    if tracing.current() is None:
        return Tensor._wrap(array)
    if array.size == 0:  # nothing to list: a fill value says it all (and [] has no shape)
        return apply("const", [], value=0, dtype=dtypes.from_numpy(array.dtype),
                     shape=list(array.shape))
    value = array.tolist() if array.ndim else array.item()
    return apply("const", [], value=value, dtype=dtypes.from_numpy(array.dtype),
                 shape=list(array.shape))


def _placed(result: Tensor, device, requires_grad: bool = False) -> Tensor:
    """``result`` moved to ``device`` (None: where it is; ignored while tracing, since a graph
    runs where its backend runs), then marked as requiring grad if asked: a leaf there."""
    if device is None and devices.default_device is not None:  # graphc.set_default_device
        device = devices.default_device
    if device is not None and result._value is None:
        result = Tensor._wrap(devices.move(result._data, devices.as_device(device)))
    return result.requires_grad_(True) if requires_grad else result


def tensor(data, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """A new tensor from nested lists, a number, a NumPy array or a tensor (copied), on
    ``device`` (default: the cpu, or the tensor's own device)."""
    if isinstance(data, Tensor):
        result = (data.detach().clone() if dtype is None
                  else data.detach().to(dtype, copy=True))
        return _placed(result, device, requires_grad)
    try:
        array = np.array(data)
    except ValueError as exc:
        raise ValueError(f"cannot make a tensor from ragged data: {exc}") from None
    target = as_dtype(dtype) if dtype is not None else _infer_dtype(array, data)
    if not _is_numpy_data(data):  # NumPy data is converted as NumPy does (PyTorch does too)
        exact = np.array(data, dtype=object) if _may_hold_ints_beyond_int64(array) else array
        _check_fits(exact, target, "tensor")
    ctx = tracing.current()
    if ctx is not None and isinstance(data, np.ndarray):
        # an array the traced code read: its contents may change before the next call
        result = ctx.lift_array(data, target)
    else:
        result = _const(np.array(dtypes.asarray(array, target)))
    return _placed(result, device, requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like :func:`tensor`, but returns tensors unchanged (when dtype and device already match)."""
    if isinstance(data, Tensor) and (dtype is None or as_dtype(dtype) == data.dtype):
        return _placed(data, device)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory and dtype (graphc never writes into it). Inside a
    compiled function a NumPy array argument is already a tensor (a graph input): it is
    returned as it is."""
    ctx = tracing.current()
    if ctx is not None and isinstance(array, Tensor) and id(array) in ctx.array_arguments:
        return array
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    dtype = dtypes.from_numpy(array.dtype)
    return _const(array) if ctx is None else ctx.lift_array(array, dtype)


def full(size, fill_value, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    shape = _shape(size if isinstance(size, (tuple, list)) else (size,))
    if not isinstance(fill_value, (numbers.Number, np.generic, Tensor)):
        raise TypeError(f"full(): fill_value must be a number, not {type(fill_value).__name__}")
    if dtype is None and isinstance(fill_value, Tensor):
        dtype = fill_value.dtype  # full((2,), tensor(3)) is int64, as in PyTorch
    elif dtype is None:
        dtype = (dtypes.bool_ if isinstance(fill_value, type(True)) else  # noqa: UP003
                 dtypes.i64 if isinstance(fill_value, int) else dtypes.DEFAULT_FLOAT)
    dtype = as_dtype(dtype)
    _check_fits(np.array(fill_value), dtype, "full")
    if tracing.current() is None:
        value = fill_value.item() if isinstance(fill_value, Tensor) else fill_value
        result = Tensor._wrap(dtypes.filled(shape, value, dtype))
    else:
        result = apply("const", [], value=fill_value, dtype=dtype, shape=list(shape))
    return _placed(result, device, requires_grad)


def zeros(*size, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    return full(_shape(size), 0.0, dtype=dtype or dtypes.DEFAULT_FLOAT,
                requires_grad=requires_grad,
                device=device)


def ones(*size, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    return full(_shape(size), 1.0, dtype=dtype or dtypes.DEFAULT_FLOAT,
                requires_grad=requires_grad,
                device=device)


empty = zeros


def _device_like(t: Tensor, device):
    """``*_like`` factories make tensors on ``t``'s device unless told otherwise (PyTorch)."""
    return device if device is not None or t._value is not None else t.device


def zeros_like(t: Tensor, dtype=None, device=None) -> Tensor:
    require_tensor(t, "input", "zeros_like")
    return full(t.shape, 0, dtype=dtype or t.dtype, device=_device_like(t, device))


def ones_like(t: Tensor, dtype=None, device=None) -> Tensor:
    require_tensor(t, "input", "ones_like")
    return full(t.shape, 1, dtype=dtype or t.dtype, device=_device_like(t, device))


def full_like(t: Tensor, fill_value, dtype=None, device=None) -> Tensor:
    require_tensor(t, "input", "full_like")
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=_device_like(t, device))


def arange(start, end=None, step=1, dtype=None, device=None) -> Tensor:
    """Like ``torch.arange``: integers give i64, any float argument gives f32.

    As in PyTorch, a zero step, a step that points away from ``end`` and infinite or nan bounds
    are RuntimeErrors (NumPy would divide by zero or return an empty array)::

        >>> import graphc
        >>> graphc.arange(5, 0, -2).tolist()
        [5, 3, 1]
        >>> graphc.arange(0, 5, 0)
        Traceback (most recent call last):
        ...
        RuntimeError: arange: step must be nonzero
    """
    if end is None:
        start, end = 0, start
    # 0-d tensors as the numbers they hold (an int64 one counts as an int)
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in (start, end, step))
    if dtype is not None and not as_dtype(dtype).is_float:
        # bounds and step cast to the integer dtype first, as PyTorch does: arange(0.5, 3.7,
        # dtype=int64) is [0, 1, 2], and a step of 0.5 is a zero step
        start, end, step = (math.trunc(v) if math.isfinite(v) else v for v in (start, end, step))
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if not (math.isfinite(start) and math.isfinite(end)):
        raise RuntimeError(f"arange: unsupported range: {start} -> {end}")
    if (end - start) * step < 0:
        raise RuntimeError(f"arange: upper bound and lower bound inconsistent with step sign "
                           f"(start={start}, end={end}, step={step})")
    if dtype is None:
        is_int = all(isinstance(v, int) for v in (start, end, step))
        dtype = dtypes.i64 if is_int else dtypes.DEFAULT_FLOAT
    return _placed(_const(np.arange(start, end, step, dtype=as_dtype(dtype).numpy)), device)


def linspace(start: float, end: float, steps: int, dtype=None, device=None) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` (both included), like
    ``torch.linspace``, bit for bit as its CPU kernel (:mod:`graphc.linspace_values`: each
    half computed from its own end); integer dtypes truncate toward zero, bool is refused.

        >>> import graphc
        >>> graphc.linspace(1, -1, 5, dtype=graphc.int64).tolist()
        [1, 0, 0, 0, -1]
    """
    dtype = as_dtype(dtype or dtypes.DEFAULT_FLOAT)
    if steps < 0:
        raise ValueError(f"linspace: number of steps must be non-negative, got {steps}")
    if dtype.is_bool:
        raise RuntimeError("linspace: dtype bool is not supported (as in PyTorch); "
                           "use an integer or float dtype")
    if dtype.is_int:
        return _placed(_const(_int_linspace(start, end, steps, dtype)), device)
    return _placed(_const(linspace_values(start, end, steps, np.dtype(dtype.numpy))), device)


def _int_linspace(start, end, steps: int, dtype: dtypes.DType) -> np.ndarray:
    """PyTorch's integer linspace: ``start`` and ``end`` become integers first (truncated),
    each value is computed in float64 from the nearer end, then truncated toward zero (NumPy
    floors instead)."""
    _check_fits(np.array([start, end], dtype=object), dtype, "linspace")
    start, end = math.trunc(start), math.trunc(end)
    values = linspace_values(start, end, steps, np.dtype(dtype.numpy))
    return np.trunc(values).astype(dtype.numpy)


def eye(n: int, m=None, dtype=None, device=None) -> Tensor:
    dtype = as_dtype(dtype or dtypes.DEFAULT_FLOAT)
    return _placed(_const(np.eye(n, m, dtype=dtype.numpy)), device)


def _random(op: str, shape, dtype, requires_grad, device=None, generator=None,
            **params) -> Tensor:
    dtype = as_dtype(dtype or dtypes.DEFAULT_FLOAT)
    if not dtype.is_float:
        raise TypeError(f"random tensors must be floating point, got dtype {dtype}")
    ctx = tracing.current()
    if ctx is None:
        seed = generator.next_seed() if generator is not None else next_seed()
        seed, stream = Tensor._wrap(np.array(seed, dtype=np.int64)), 0
    else:
        seed, stream = ctx.rng_seed(generator)
    result = apply(op, [seed], shape=list(shape), dtype=dtype, stream=stream, **params)
    return _placed(result, device, requires_grad)  # drawn on the host: the same numbers


def rand(*size, dtype=None, requires_grad: bool = False, device=None, generator=None) -> Tensor:
    """Uniform samples in [0, 1), drawn from graphc's global generator (or ``generator``)."""
    return _random("random_uniform", _shape(size), dtype, requires_grad, device, generator)


def randn(*size, dtype=None, requires_grad: bool = False, device=None, generator=None) -> Tensor:
    """Standard normal samples, drawn from graphc's global generator (or ``generator``)."""
    return _random("random_normal", _shape(size), dtype, requires_grad, device, generator)


def uniform(size, low: float = 0.0, high: float = 1.0, dtype=None, device=None,
            generator=None) -> Tensor:
    """Uniform samples in [low, high) of the given size (what ``Tensor.uniform_`` fills with)."""
    return _random("random_uniform", _shape((size,) if isinstance(size, int) else size), dtype,
                   False, device, generator, low=float(low), high=float(high))


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None) -> Tensor:
    """Normal samples, like ``torch.normal``: tensor ``mean``/``std`` give one sample per element
    of their broadcast shape; numbers need ``size``."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        from graphc import functions as F
        like = mean if isinstance(mean, Tensor) else std
        shape = np.broadcast_shapes(tuple(getattr(mean, "shape", ())),
                                    tuple(getattr(std, "shape", ())))
        return F.add(F.mul(randn(*shape, dtype=dtype or like.dtype, device=device,
                                 generator=generator), std), mean)
    if size is None:
        raise TypeError("normal(mean, std) with numbers needs a size, e.g. normal(0.0, 1.0, (3,))")
    return _random("random_normal", _shape((size,) if isinstance(size, int) else size), dtype,
                   False, device, generator, mean=float(mean), std=float(std))


def rand_like(t: Tensor, dtype=None, device=None) -> Tensor:
    require_tensor(t, "input", "rand_like")
    return rand(t.shape, dtype=dtype or t.dtype, device=_device_like(t, device))


def randn_like(t: Tensor, dtype=None, device=None) -> Tensor:
    require_tensor(t, "input", "randn_like")
    return randn(t.shape, dtype=dtype or t.dtype, device=_device_like(t, device))


def randint(*bounds_and_size, size=None, dtype=None, device=None, generator=None) -> Tensor:
    """Integers in [low, high), like ``torch.randint``: ``randint(high, size)`` or
    ``randint(low, high, size)``, the size a tuple (positional or keyword)."""
    args = list(bounds_and_size)
    if size is None and args and isinstance(args[-1], (tuple, list)):
        size = args.pop()
    if size is None or len(args) not in (1, 2):
        raise TypeError("randint expects (high, size) or (low, high, size), e.g. "
                        "randint(10, (3,)) or randint(0, 10, (3,))")
    low, high = (0, args[0]) if len(args) == 1 else args
    if high <= low:
        raise RuntimeError(f"randint: high ({high}) must be greater than low ({low})")
    u = rand(*_shape((size,) if isinstance(size, int) else size), dtype=dtypes.f64,
             generator=generator)
    scaled = (u * float(high - low)).to(dtypes.i64)  # truncation == floor for u >= 0
    return _placed((scaled + low).to(as_dtype(dtype or dtypes.i64)), device)


def randperm(n: int, dtype=None, device=None, generator=None) -> Tensor:
    """A random permutation of 0..n-1: the argsort of uniform keys, eagerly and compiled
    (``x[graphc.randperm(len(x))]`` shuffles inside a compiled function too).

        >>> import graphc
        >>> sorted(graphc.randperm(4).tolist())
        [0, 1, 2, 3]
    """
    from graphc.functions import cast
    from graphc.scans_sorts import argsort  # sorts are ops defined above the factories
    order = argsort(rand(n, dtype=dtypes.f64, generator=generator), 0)
    wanted = as_dtype(dtype or dtypes.i64)
    return _placed(order if wanted == dtypes.i64 else cast(order, wanted), device)
