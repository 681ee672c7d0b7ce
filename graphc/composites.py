"""PyTorch functions written from graphc's primitives: ``repeat flip fliplr flipud roll unbind
t addcmul addcdiv isclose allclose``.

Each is a composite (movement ops, ``gather``, ``concat``, elementwise arithmetic), so it runs
eagerly, traces into ``graphc.compile`` and differentiates through the registry's rules.

    >>> import graphc
    >>> x = graphc.tensor([[1, 2, 3], [4, 5, 6]])
    >>> graphc.flip(x, [1]).tolist(), graphc.roll(x, 1, 1).tolist()
    ([[3, 2, 1], [6, 5, 4]], [[3, 1, 2], [6, 4, 5]])
    >>> x.repeat(1, 2).tolist()
    [[1, 2, 3, 1, 2, 3], [4, 5, 6, 4, 5, 6]]
"""
from __future__ import annotations

import builtins

from graphc import functions as F
from graphc.amp.autocast_mode import autocast_op
from graphc.tensor import Tensor
from ir import dtypes
from ir.errors import AxisError, DTypeError, ShapeError
from ir.types import wrap_dim


def _int_list(values, what: str) -> list[int]:
    """``values`` as a list of ints: PyTorch takes ``f(x, 1, 2)``, ``f(x, (1, 2))`` and ints."""
    if len(values) == 1 and isinstance(values[0], (tuple, list)):
        values = values[0]
    if not builtins.all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{what} must be ints, got {list(values)}")
    return list(values)


def repeat(x: Tensor, *sizes) -> Tensor:
    """Tiles ``x``: ``sizes[i]`` copies along dim i, new leading dims first (``Tensor.repeat``).

    Built as a broadcast of ``x`` reshaped to ``[1, d0, 1, d1, ...]`` to ``[r0, d0, r1, d1,
    ...]``, then merged pairwise, so its gradient sums over the copies.
    """
    sizes = _int_list(sizes, "repeat sizes")
    if len(sizes) < x.ndim:
        raise ShapeError(f"repeat: {len(sizes)} sizes given for a tensor of rank {x.ndim}; "
                         f"the number of sizes can not be smaller than the rank")
    if builtins.any(s < 0 for s in sizes):
        raise ShapeError(f"repeat: sizes must be non-negative, got {sizes}")
    shape = [1] * (len(sizes) - x.ndim) + list(x.shape)
    spread = F.reshape(x, [n for d in shape for n in (1, d)])
    tiled = F.broadcast_to(spread, [n for r, d in zip(sizes, shape) for n in (r, d)])
    return F.reshape(tiled, [r * d for r, d in zip(sizes, shape)])


def flip(x: Tensor, dims) -> Tensor:
    """``x`` with the order of elements reversed along each of ``dims`` (``torch.flip``);
    a gather at reversed positions, so the gradient flips back."""
    from graphc.factories import arange
    dims = [dims] if isinstance(dims, int) else _int_list(dims, "flip dims")
    axes = [wrap_dim(d, x.ndim) for d in dims]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"flip: dim {dims} appears multiple times in the list of dims")
    for axis in axes if x.ndim else []:
        n = x.shape[axis]
        if n > 1:
            x = F.index_select(x, axis, arange(n - 1, -1, -1))
    return x


def fliplr(x: Tensor) -> Tensor:
    """Reverses the columns (dim 1) of a tensor of rank 2 or more."""
    if x.ndim < 2:
        raise ShapeError(f"fliplr: input must be at least 2-d, got rank {x.ndim}")
    return flip(x, [1])


def flipud(x: Tensor) -> Tensor:
    """Reverses the rows (dim 0) of a tensor of rank 1 or more."""
    if x.ndim < 1:
        raise ShapeError("flipud: input must be at least 1-d, got a 0-d tensor")
    return flip(x, [0])


def roll(x: Tensor, shifts, dims=None) -> Tensor:
    """Rotates ``x`` by ``shifts`` along ``dims`` (``torch.roll``): elements pushed past the
    end come back at the start. Without ``dims`` the flattened tensor is rolled. Two slices and
    a concat per dim."""
    shifts = [shifts] if isinstance(shifts, int) else _int_list(shifts, "roll shifts")
    if dims is None:
        if len(shifts) != 1:
            raise ShapeError(f"roll: {len(shifts)} shifts given without dims; give one shift, "
                             f"or one dim per shift")
        return F.reshape(roll(F.reshape(x, [-1]), shifts, 0), list(x.shape))
    dims = [dims] if isinstance(dims, int) else _int_list(dims, "roll dims")
    if x.ndim == 0:
        raise AxisError(f"roll: dimension specified as {dims[0]} but the tensor has no "
                        f"dimensions")
    if len(dims) != len(shifts):
        raise ShapeError(f"roll: shifts and dims must have the same length, got {len(shifts)} "
                         f"shifts and {len(dims)} dims")
    for shift, dim in zip(shifts, dims):
        axis = wrap_dim(dim, x.ndim)
        n = x.shape[axis]
        if n == 0 or shift % n == 0:
            continue
        cut = n - shift % n
        x = F.cat([F.narrow(x, axis, cut, n - cut), F.narrow(x, axis, 0, cut)], axis)
    return x


def unbind(x: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices of ``x`` along ``dim``, that dim removed (``torch.unbind``)."""
    if x.ndim == 0:
        raise AxisError(f"unbind: dimension specified as {dim} but the tensor has no dimensions")
    axis = wrap_dim(dim, x.ndim)
    return tuple(F.squeeze(F.narrow(x, axis, i, 1), axis) for i in range(x.shape[axis]))


def t(x: Tensor) -> Tensor:
    """The transpose of a matrix; tensors of rank 0 and 1 are returned as they are (``Tensor.t``)."""
    if x.ndim > 2:
        raise ShapeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D; "
                         f"use transpose(dim0, dim1) or .mT")
    return F.transpose(x, 0, 1) if x.ndim == 2 else x


@autocast_op("addcmul")
def addcmul(input: Tensor, tensor1, tensor2, *, value=1) -> Tensor:
    """``input + value * tensor1 * tensor2`` (``torch.addcmul``)."""
    product = F.mul(tensor1, tensor2)
    return F.add(input, product if value == 1 else F.mul(product, value))


@autocast_op("addcdiv")
def addcdiv(input: Tensor, tensor1, tensor2, *, value=1) -> Tensor:
    """``input + value * tensor1 / tensor2`` (``torch.addcdiv``); integer division is refused,
    as in PyTorch."""
    tensor1, tensor2 = F.to_tensor(tensor1), F.to_tensor(tensor2)
    if not (tensor1.dtype.is_float or tensor2.dtype.is_float):
        raise DTypeError("addcdiv: integer division with addcdiv is not supported; give a "
                         "floating point tensor1 or tensor2")
    quotient = F.div(tensor1, tensor2)
    return F.add(input, quotient if value == 1 else F.mul(quotient, value))


def isclose(a, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """Elementwise ``|a - b| <= atol + rtol * |b|`` (``torch.isclose``): infinities are close
    only to themselves, NaN to nothing unless ``equal_nan``. Both must have the same dtype.

        >>> import graphc
        >>> graphc.isclose(graphc.tensor([1.0, 1e-9, float("nan")]),
        ...                graphc.tensor([1.0 + 1e-6, 0.0, float("nan")])).tolist()
        [True, True, False]
    """
    a, b = F.operands(a, b)
    if a.dtype != b.dtype:
        raise DTypeError(f"isclose: both inputs must have the same dtype, got {a.dtype} and "
                         f"{b.dtype}")
    if rtol < 0 or atol < 0:
        raise ShapeError(f"isclose: rtol and atol must be non-negative, got rtol={rtol}, "
                         f"atol={atol}")
    equal = F.eq(a, b)
    if a.dtype.is_bool or (rtol == 0 and atol == 0):
        return equal
    if not a.dtype.is_float:  # integers: the tolerance test in float64, as a difference may wrap
        a, b = F.cast(a, dtypes.f64), F.cast(b, dtypes.f64)
    within = F.le(F.abs(F.sub(a, b)), F.add(F.mul(F.abs(b), rtol), atol))
    close = F.logical_or(equal, F.logical_and(within, F.isfinite(F.sub(a, b))))
    if equal_nan:
        close = F.logical_or(close, F.logical_and(F.isnan(a), F.isnan(b)))
    return close


def allclose(a, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """Whether every element is :func:`isclose` (a Python bool, as ``torch.allclose``)."""
    return builtins.bool(F.all(isclose(a, b, rtol, atol, equal_nan)).item())


__all__ = ["addcdiv", "addcmul", "allclose", "flip", "fliplr", "flipud", "isclose", "repeat",
           "roll", "t", "unbind"]
