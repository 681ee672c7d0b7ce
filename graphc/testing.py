"""``graphc.testing``: ``assert_close`` and ``make_tensor``, as ``torch.testing``'s, for users'
own test suites.

    >>> import graphc
    >>> graphc.testing.assert_close(graphc.tensor([1.0, 2.0]), graphc.tensor([1.0, 2.0000001]))
    >>> graphc.testing.assert_close(graphc.tensor([1.0, 2.0]), graphc.tensor([1.0, 2.1]))
    Traceback (most recent call last):
    ...
    AssertionError: Tensor-likes are not close!
    <BLANKLINE>
    Mismatched elements: 1 / 2 (50.0%)
    Greatest absolute difference: 0.09999990463256836 at index (1,) (up to 1e-05 allowed)
    Greatest relative difference: 0.04761900380253792 at index (1,) (up to 1.3e-06 allowed)
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from graphc.tensor import Tensor
from ir import dtypes

__all__ = ["assert_close", "make_tensor"]

# PyTorch's default (rtol, atol) per dtype; integers and bool compare exactly
_TOLERANCES = {dtypes.f16: (1e-3, 1e-5), dtypes.bf16: (1.6e-2, 1e-5),
               dtypes.f32: (1.3e-6, 1e-5), dtypes.f64: (1e-7, 1e-7)}


def assert_close(actual, expected, *, allow_subclasses: bool = True, rtol=None, atol=None,
                 equal_nan: bool = False, check_device: bool = True, check_dtype: bool = True,
                 check_layout: bool = True, check_stride: bool = False, msg=None) -> None:
    """Raises ``AssertionError`` unless ``|actual - expected| <= atol + rtol * |expected|``
    elementwise, with ``torch.testing.assert_close``'s defaults per dtype (float32: rtol 1.3e-6,
    atol 1e-5; float64: 1e-7 and 1e-7; integers exactly) and its messages. Tensors, Python
    numbers and (nested) sequences and mappings of them are compared item by item; shapes,
    dtypes and devices must match. ``rtol`` and ``atol`` go together: give both or neither.
    ``msg`` (a string, or a function of the generated message) replaces the message."""
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got "
                         f"no {'rtol' if rtol is None else 'atol'}.")
    _compare(actual, expected, (), dict(rtol=rtol, atol=atol, equal_nan=equal_nan,
                                        check_device=check_device, check_dtype=check_dtype,
                                        msg=msg))


def _compare(actual, expected, path: tuple, options: dict) -> None:
    if isinstance(actual, Tensor) or isinstance(expected, Tensor):
        if not (isinstance(actual, Tensor) and isinstance(expected, Tensor)):
            raise TypeError(f"No comparison pair was able to handle inputs of type "
                            f"{type(actual)} and {type(expected)}.")
        _compare_tensors(actual, expected, path, options)
    elif isinstance(actual, (bool, int, float)) and isinstance(expected, (bool, int, float)):
        _compare_scalars(actual, expected, path, options)
    elif isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            _fail(f"The keys of the mappings do not match:\n{sorted(map(str, actual))} != "
                  f"{sorted(map(str, expected))}", path, options)
        for key in expected:
            _compare(actual[key], expected[key], path + (key,), options)
    elif (isinstance(actual, Sequence) and isinstance(expected, Sequence)
          and not isinstance(actual, str) and not isinstance(expected, str)):
        if len(actual) != len(expected):
            _fail(f"The length of the sequences mismatch: {len(actual)} != {len(expected)}",
                  path, options)
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, path + (i,), options)
    else:
        raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} "
                        f"and {type(expected)}.")


def _compare_tensors(actual: Tensor, expected: Tensor, path: tuple, options: dict) -> None:
    for attribute in ("shape", "device", "dtype"):
        if attribute == "device" and not options["check_device"]:
            continue
        if attribute == "dtype" and not options["check_dtype"]:
            continue
        mine, theirs = getattr(actual, attribute), getattr(expected, attribute)
        if mine != theirs:
            _fail(f"The values for attribute '{attribute}' do not match: {mine} != {theirs}.",
                  path, options)
    a, e = actual.detach().cpu().numpy(), expected.detach().cpu().numpy()
    rtol, atol = _tolerances(actual.dtype, expected.dtype, options)
    bad = _mismatches(a, e, rtol, atol, options["equal_nan"])
    if not bad.any():
        return
    exact = rtol == 0 and atol == 0
    # differences as PyTorch shows them: integers and bool in int64 (relative ones in float32),
    # float16/bfloat16 in float32
    kind = np.int64 if not actual.dtype.is_float else (
        np.float64 if actual.dtype == dtypes.f64 else np.float32)
    a, e = a.astype(kind), e.astype(kind)
    with np.errstate(all="ignore"):
        abs_diff = np.abs(a - e)
        rel_diff = (abs_diff / np.abs(e) if kind is not np.int64
                    else abs_diff.astype(np.float32) / np.abs(e).astype(np.float32))
    lines = [f"Tensor-likes are not {'equal' if exact else 'close'}!", "",
             f"Mismatched elements: {int(bad.sum())} / {bad.size} "
             f"({100.0 * bad.sum() / bad.size:.1f}%)"]
    for label, diff, allowed in (("absolute", abs_diff, atol), ("relative", rel_diff, rtol)):
        index = _greatest(diff, bad)
        line = f"Greatest {label} difference: {diff[index].item()} at index {index}"
        lines.append(line if exact else f"{line} (up to {allowed} allowed)")
    _fail("\n".join(lines), path, options)


def _compare_scalars(actual, expected, path: tuple, options: dict) -> None:
    if options["check_dtype"] and type(actual) is not type(expected):
        _fail(f"The values for attribute 'dtype' do not match: {type(actual)} != "
              f"{type(expected)}.", path, options)
    is_float = isinstance(actual, float) or isinstance(expected, float)
    rtol, atol = (options["rtol"], options["atol"]) if options["rtol"] is not None else (
        (1e-7, 1e-7) if is_float else (0.0, 0.0))
    if not _mismatches(np.float64(actual), np.float64(expected), rtol, atol,
                       options["equal_nan"]).any():
        return
    difference = abs(actual - expected)
    relative = difference / abs(expected) if expected else math.inf
    _fail(f"Scalars are not {'close' if is_float else 'equal'}!\n\nExpected {expected} but got "
          f"{actual}.\nAbsolute difference: {difference} (up to {atol} allowed)\nRelative "
          f"difference: {relative} (up to {rtol} allowed)", path, options)


def _tolerances(a, e, options: dict) -> tuple[float, float]:
    if options["rtol"] is not None:
        return options["rtol"], options["atol"]
    pairs = [_TOLERANCES.get(d, (0.0, 0.0)) for d in (a, e)]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _mismatches(a: np.ndarray, e: np.ndarray, rtol: float, atol: float, equal_nan: bool):
    if a.dtype.kind == "b" or e.dtype.kind == "b" or (rtol == 0 and atol == 0
                                                       and a.dtype.kind in "iu"):
        return np.asarray(a != e)
    a, e = np.asarray(a, np.float64), np.asarray(e, np.float64)
    with np.errstate(all="ignore"):
        close = np.abs(a - e) <= atol + rtol * np.abs(e)
    close |= a == e  # equal infinities
    if equal_nan:
        close |= np.isnan(a) & np.isnan(e)
    return ~close


def _greatest(diff: np.ndarray, bad: np.ndarray) -> tuple:
    """The index of the greatest difference among the mismatches (NaN counts as greatest)."""
    scores = np.where(bad, np.nan_to_num(diff.astype(np.float64), nan=np.inf), -np.inf)
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(scores)), diff.shape))


def _fail(message: str, path: tuple, options: dict):
    if path:
        message += "\n\nThe failure occurred for item " + "".join(f"[{p!r}]" for p in path)
    msg = options["msg"]
    if callable(msg):
        message = msg(message)
    elif msg is not None:
        message = msg
    raise AssertionError(message)


def make_tensor(*shape, dtype, device=None, low=None, high=None, requires_grad: bool = False,
                noncontiguous: bool = False, exclude_zero: bool = False,
                memory_format=None) -> Tensor:
    """A tensor of ``shape`` with uniform random values in ``[low, high)`` from graphc's
    generator (``graphc.manual_seed`` repeats it), as ``torch.testing.make_tensor``: floats
    default to [-9, 9), integers to [-9, 10) (unsigned from 0), bools are random;
    ``exclude_zero`` replaces zeros (by 1, or a float's ``eps``). graphc tensors are always
    contiguous, so ``noncontiguous`` and ``memory_format`` change nothing."""
    from graphc import factories
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    dtype = factories.as_dtype(dtype)
    if dtype.is_bool:
        result = factories.randint(0, 2, shape, device=device).bool()
    elif dtype.is_int:
        info = np.iinfo(dtype.numpy)
        lo = max(int(info.min), -9 if low is None else math.ceil(low))
        hi = min(int(info.max) + 1, 10 if high is None else math.ceil(high))
        if not lo < hi:
            raise ValueError(f"make_tensor: low ({low}) must be below high ({high})")
        result = factories.randint(lo, hi, shape, dtype=dtype, device=device)
        if exclude_zero:
            result = result.masked_fill(result == 0, 1)
    else:
        lo = -9.0 if low is None else float(low)
        hi = 9.0 if high is None else float(high)
        if not lo <= hi:
            raise ValueError(f"make_tensor: low ({lo}) must not exceed high ({hi})")
        result = (factories.rand(*shape, dtype=dtype, device=device) * (hi - lo) + lo)
        if exclude_zero:
            from graphc.dtype_info import finfo
            result = result.masked_fill(result == 0, finfo(dtype).eps)
    return result.requires_grad_() if requires_grad else result
