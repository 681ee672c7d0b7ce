"""The functional tensor API (``graphc.exp``, ``graphc.matmul``, ``graphc.softmax``, ...).

Primitive ops map one-to-one onto registry ops; composites (``softmax``, ``log_softmax``,
``logsumexp``, ``mean``, ``var``, ``gelu``, ``silu``, ``clamp``) are written here from primitives,
so eager mode, autograd and the tracer all see through them.

    >>> import graphc
    >>> graphc.softmax(graphc.tensor([0.0, 0.0]), dim=0).tolist()
    [0.5, 0.5]
"""
from __future__ import annotations

import builtins
import functools
import math
import operator
from collections import namedtuple
from collections.abc import Sequence
from typing import Optional

import numpy as np

from graphc import tracing
from graphc.amp.autocast_mode import autocast_op
from graphc.arg_checks import require_tensor
from graphc.dispatch import apply
from graphc.errors import ArgumentError, ArgumentTypeError
from graphc.profiler import recording as profiler_recording
from graphc.tensor import Tensor
from ir import dtypes
from ir.errors import DTypeError, ShapeError
from ir.evaluate import quiet_float_errors
from ir.ops.sources import check_const_number
from ir.types import wrap_dim

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


# -- operand conversion ------------------------------------------------------------------------
def scalar_dtype(value, like: dtypes.DType) -> dtypes.DType:
    """The dtype a Python number takes next to a tensor of dtype ``like``, as PyTorch types it:
    the tensor's dtype unless the number is of a higher category (bool < int < float), then
    int64 or the default float. ``graphc.result_type`` answers from this too."""
    if isinstance(value, bool):
        return like
    if isinstance(value, int):
        return dtypes.i64 if like.is_bool else like
    if isinstance(value, float):
        return like if like.is_float else dtypes.DEFAULT_FLOAT
    raise ArgumentTypeError(f"unsupported operand of type {type(value).__name__}")


def scalar_like(value, like: Tensor) -> Tensor:
    """A rank-0 tensor for a Python number used with ``like``, typed as PyTorch would."""
    dtype = scalar_dtype(value, like.dtype)
    if dtype.is_int and isinstance(value, int) and not isinstance(value, bool):
        info = np.iinfo(dtype.numpy)
        if not info.min <= value <= info.max:  # PyTorch wraps it around: a wrong number
            raise ShapeError(f"the Python int {value} does not fit the {dtype.numpy} tensor "
                             f"it is combined with ({dtype.numpy} holds {info.min}.."
                             f"{info.max}); cast the tensor to a wider dtype first, e.g. "
                             f"x.long()")
    if tracing.current() is None and profiler_recording.ACTIVE is None:
        # eager, and no profiler to see the op: the tensor apply("const", ...) makes, with the
        # same checks, without its dispatch (numbers are among the commonest operands)
        check_const_number(value, dtype)
        with quiet_float_errors():
            return Tensor._wrap(dtypes.filled((), value, dtype))
    return apply("const", [], value=value, dtype=dtype, shape=[])


def to_tensor(value, like: Optional[Tensor] = None) -> Tensor:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (bool, int, float)) and like is not None:
        return scalar_like(value, like)
    from graphc.sparse import SparseCOOTensor
    if isinstance(value, SparseCOOTensor):
        return value.to_dense()  # dense + sparse is dense, as in PyTorch
    from graphc.factories import tensor
    return tensor(value)


def operands(a, b) -> tuple[Tensor, Tensor]:
    """Two operands of a binary op as tensors; Python numbers take the other side's dtype."""
    if isinstance(a, Tensor):
        return a, to_tensor(b, a)
    if isinstance(b, Tensor):
        return to_tensor(a, b), b
    return to_tensor(a), to_tensor(b)


def _binary(op):
    def fn(a, b):
        return apply(op, list(operands(a, b)))
    fn.__name__ = op
    fn.__doc__ = f"Elementwise ``{op}`` with NumPy broadcasting and PyTorch type promotion."
    return fn


def _unary(op):
    def fn(x):
        return apply(op, [to_tensor(x)])
    fn.__name__ = op
    fn.__doc__ = f"Elementwise ``{op}``."
    return fn


_add, _sub, mul, div, pow = (_binary(o) for o in ("add", "sub", "mul", "div", "pow"))


def add(a, b, *, alpha=1) -> Tensor:
    """``a + alpha * b`` with broadcasting and PyTorch type promotion (``torch.add``)."""
    return _add(a, b if alpha == 1 else mul(b, alpha))


def sub(a, b, *, alpha=1) -> Tensor:
    """``a - alpha * b`` (``torch.sub``)."""
    return _sub(a, b if alpha == 1 else mul(b, alpha))
maximum, minimum = _binary("maximum"), _binary("minimum")
_REFLECTED = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}


def _comparison(op):
    compare = _binary(op)

    def fn(a, b):
        if isinstance(b, Tensor) and not isinstance(a, Tensor):
            a, b, op_ab = b, a, _REFLECTED[op]  # `5 < x` is `x > 5`
        else:
            op_ab = op
        known = _beyond_the_dtype(op_ab, a, b)
        return compare(a, b) if known is None else known
    fn.__name__ = op
    fn.__doc__ = f"Elementwise ``{op}`` with NumPy broadcasting and PyTorch type promotion."
    return fn


def _beyond_the_dtype(op: str, x, n) -> Optional[Tensor]:
    """``x <op> n`` for an integer tensor ``x`` and a Python int ``n`` its dtype cannot hold
    (``int8_tensor == 1000``): known without looking at ``x`` (all False for ``==``, all True
    for ``<`` when ``n`` is above the range...); else None. PyTorch wraps ``n`` into the dtype
    first (``int8 == 1000`` compares with -24, ``uint8 < -1000`` with 24): wrong answers,
    which graphc does not copy."""
    if not (isinstance(x, Tensor) and x.dtype.is_int and isinstance(n, int)
            and not isinstance(n, bool)):
        return None
    info = np.iinfo(x.dtype.numpy)
    if info.min <= n <= info.max:
        return None
    above = n > info.max
    truth = {"eq": False, "ne": True, "lt": above, "le": above, "gt": not above,
             "ge": not above}[op]
    # every element equals itself (integers have no NaN): a result of x's shape, traceable
    return apply("eq" if truth else "ne", [x, x])


eq, ne, lt, le, gt, ge = (_comparison(o) for o in ("eq", "ne", "lt", "le", "gt", "ge"))
neg, exp, log, sqrt, rsqrt, tanh, sigmoid, relu, abs, sin, cos, erf, sign, reciprocal = (
    _unary(o) for o in ("neg", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "relu", "abs",
                        "sin", "cos", "erf", "sign", "reciprocal"))
log1p, expm1 = _unary("log1p"), _unary("expm1")
subtract, multiply, divide, true_divide = sub, mul, div, div
negative = neg


def log1p_exp(z: Tensor) -> Tensor:
    """``log(1 + exp(z))`` (softplus) without overflow, with its derivatives exact everywhere:
    ``log1p(exp(z))`` for z <= 0, ``z + log1p(exp(-z))`` above, each branch fed only values
    where it is finite (the other branch's gradient then passes no NaN through ``where``).
    The form ``max(z, 0) + log1p(exp(-|z|))`` has no curvature at 0 (its second derivative
    there came out 0, not 1/4), and with ``relu`` for the max no slope (0, not 1/2)."""
    positive = gt(z, 0)
    zero = scalar_like(0.0, z)
    above, below = where(positive, z, zero), where(positive, zero, z)
    return where(positive, add(above, log1p(exp(neg(above)))), log1p(exp(below)))


def cast(x: Tensor, dtype) -> Tensor:
    from graphc.factories import as_dtype
    dtype = as_dtype(dtype)
    return x if x.dtype == dtype else apply("cast", [x], dtype=dtype)


def where(condition, input=None, other=None) -> Tensor:
    """``input`` where ``condition`` is true, else ``other`` (all broadcast); like ``torch.where``.

    The branch-free way to make data-dependent choices inside compiled functions. With the
    condition alone, ``nonzero(condition, as_tuple=True)`` (eager only: its size depends on
    the values).
    """
    if input is None and other is None:
        from graphc.data_dependent import nonzero  # (a module above this one)
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where() takes a condition alone, or a condition, input and other")
    condition = to_tensor(condition)
    if condition.dtype != dtypes.bool_:
        condition = cast(condition, dtypes.bool_)
    input, other = operands(input, other)
    return apply("where", [condition, input, other])


def masked_fill(x: Tensor, mask, value) -> Tensor:
    """``value`` where ``mask`` is true (broadcast), else ``x``; like ``Tensor.masked_fill``,
    in ``x``'s dtype (an int tensor filled with 2.7 gets 2, as in PyTorch)."""
    value = to_tensor(value, x)
    return where(mask, value if value.dtype == x.dtype else cast(value, x.dtype), x)


def square(x: Tensor) -> Tensor:
    """``x * x``; bools square to int64, as ``torch.square`` (``pow(x, 2)``) gives."""
    x = to_tensor(x)
    if x.dtype.is_bool:
        x = cast(x, dtypes.i64)
    return mul(x, x)


def logical_not(x: Tensor) -> Tensor:
    return eq(cast(x, dtypes.bool_), False)


def logical_and(a, b) -> Tensor:
    a, b = operands(a, b)
    return minimum(cast(a, dtypes.bool_), cast(b, dtypes.bool_))


def logical_or(a, b) -> Tensor:
    a, b = operands(a, b)
    return maximum(cast(a, dtypes.bool_), cast(b, dtypes.bool_))


def logical_xor(a, b) -> Tensor:
    a, b = operands(a, b)
    return ne(cast(a, dtypes.bool_), cast(b, dtypes.bool_))


bitwise_and, bitwise_or, bitwise_xor = (
    _binary(o) for o in ("bitwise_and", "bitwise_or", "bitwise_xor"))


def bitwise_not(x) -> Tensor:
    """``~x``: flips every bit of an integer tensor, negates a bool one (like ``torch.bitwise_not``).

        >>> import graphc
        >>> graphc.bitwise_not(graphc.tensor([0, 5, -1])).tolist()
        [-1, -6, 0]
    """
    x = to_tensor(x)
    if x.dtype.is_float:
        raise DTypeError(f"bitwise_not: got a tensor of dtype {x.dtype}; bitwise ops take "
                         "integer or bool tensors")
    # xor with all ones (-1, the largest value of an unsigned dtype, True for bool): how LLVM
    # spells `not`, and one primitive fewer
    ones = (True if x.dtype.is_bool else
            int(np.iinfo(x.dtype.numpy).max) if x.dtype.is_unsigned else -1)
    return bitwise_xor(x, ones)


def isnan(x: Tensor) -> Tensor:
    return ne(x, x)


def isinf(x: Tensor) -> Tensor:
    return eq(abs(x), math.inf)


def isfinite(x: Tensor) -> Tensor:
    return logical_not(logical_or(isnan(x), isinf(x)))


def clamp(x: Tensor, min=None, max=None) -> Tensor:
    """Limits ``x`` to [min, max]; the gradient is 1 inside (bounds included), as in PyTorch."""
    if min is None and max is None:
        raise ArgumentError("clamp: at least one of 'min' or 'max' must not be None")
    if min is not None:
        x = where(_past_bound(lt, x, min), to_tensor(min, x), x)
    if max is not None:
        x = where(_past_bound(gt, x, max), to_tensor(max, x), x)
    return x


def _past_bound(beyond, x: Tensor, bound):
    """Where ``x`` is clamped to ``bound``: beyond it, or where the bound is NaN (PyTorch's
    clamp gives NaN there; a comparison with NaN is false)."""
    if isinstance(bound, Tensor):
        return logical_or(beyond(x, bound), ne(bound, bound))
    if bound != bound:  # a NaN bound: every element
        return logical_or(eq(x, x), ne(x, x))
    return beyond(x, bound)


clip = clamp


# -- reductions ---------------------------------------------------------------------------------
def _axes(x: Tensor, dim) -> list[int]:
    """The axes a reduction over ``dim`` (None for all, an int or a list of ints) covers.

    An empty ``dim`` (``()``, ``[]``) reduces every axis too, as in PyTorch (NumPy and JAX
    reduce none: ``x.sum(dim=tuple(range(1, x.ndim)))`` of a 1-D ``x`` is its total here).
    A 0-d tensor accepts dim 0 and -1 (see ``wrap_dim``), which name the scalar itself: it has
    no axis to reduce, so the reduction leaves its one element as it is, as in PyTorch.

        >>> import graphc
        >>> graphc.ones(2, 3).sum(dim=()).item()
        6.0
    """
    if dim is None or (isinstance(dim, (list, tuple)) and not dim):
        return list(range(x.ndim))
    dims = list(dim) if isinstance(dim, (list, tuple)) else [dim]
    axes = sorted(wrap_dim(d, x.ndim) for d in dims)
    return axes if x.ndim else []


def _real_dim(x: Tensor, dim: int, op: str) -> int:
    """``dim`` of an op that needs an actual axis to work along (PyTorch refuses 0-d here)."""
    if x.ndim == 0:
        raise RuntimeError(f"{op}() cannot be applied to a 0-d tensor: it has no dim {dim}")
    return wrap_dim(dim, x.ndim)


def sum(x: Tensor, dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    if dtype is None:
        return apply("sum", [x], axes=_axes(x, dim), keepdim=keepdim)
    x = cast(x, dtype)
    # integers add in i64: cast back, so a narrower integer dtype wraps as PyTorch's does
    # (uint8 [100, 200, 4] sums to 48), the bits accumulating in that dtype would give
    return cast(apply("sum", [x], axes=_axes(x, dim), keepdim=keepdim), dtype)


_HALF = (dtypes.f16, dtypes.bf16)


def half_in_float32(fn):
    """``fn`` computed in float32 for a float16/bfloat16 first argument, its result cast back:
    sums of squares (variances, norms) overflow float16 at 256 (a layer norm of [300, -200]
    came out 0), and PyTorch accumulates them in float32."""
    @functools.wraps(fn)
    def widened(x, *args, **kwargs):
        requested = kwargs.get("dtype")
        if isinstance(x, Tensor) and x.dtype in _HALF and (requested is None
                                                          or requested in _HALF):
            # (computed in float32 whatever half dtype= asks for: it is the result's dtype)
            inner = {k: v for k, v in kwargs.items() if k != "dtype"}
            return cast(fn(cast(x, dtypes.f32), *args, **inner), requested or x.dtype)
        return fn(x, *args, **kwargs)  # (a wider dtype= is the computation's: vector_norm's)
    return widened


@half_in_float32  # (the sum of float16 values may pass 65504 where their mean does not)
def mean(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The arithmetic mean over ``dim`` (all dims when None), like ``torch.mean``: of a
    floating point tensor, or computed in ``dtype`` (a floating point dtype) when given. As in
    PyTorch, an integer or bool tensor without ``dtype`` is an error, not a silent float32.

        >>> import graphc
        >>> graphc.tensor([1, 2]).mean(dtype=graphc.float64).item()
        1.5
    """
    if dtype is not None:
        from graphc.factories import as_dtype
        dtype = as_dtype(dtype)
        if not dtype.is_float:
            raise DTypeError(f"mean(): could not infer output dtype. Optional dtype must be "
                             f"either a floating point or complex dtype. Got: {dtype}")
        x = cast(x, dtype)
    elif not x.dtype.is_float:
        raise DTypeError(f"mean(): could not infer output dtype. Input dtype must be either a "
                         f"floating point or complex dtype. Got: {x.dtype} (pass dtype= or "
                         f"cast it, e.g. x.float().mean())")
    axes = _axes(x, dim)
    count = 1
    for a in axes:
        count *= x.shape[a]
    return div(sum(x, axes, keepdim), float(count))


@half_in_float32
def var(x: Tensor, dim=None, unbiased: Optional[bool] = None, keepdim: bool = False, *,
        correction: Optional[int] = None) -> Tensor:
    """Variance with Bessel's correction by default (``correction=1``), like ``torch.var``."""
    if not x.dtype.is_float:
        raise DTypeError(f"std and var only support floating point and complex dtypes, got "
                         f"{x.dtype} (cast it first, e.g. x.float())")
    if correction is None:
        correction = 0 if unbiased is False else 1
    axes = _axes(x, dim)
    count = 1
    for a in axes:
        count *= x.shape[a]
    centered = sub(x, mean(x, axes, keepdim=True))
    # builtins.max: this module's own max() is the tensor reduction
    denominator = float(builtins.max(count - correction, 0))
    return div(sum(mul(centered, centered), axes, keepdim), denominator)


@half_in_float32  # (the variance of a float16 x may pass 65504 where its root does not)
def std(x: Tensor, dim=None, unbiased: Optional[bool] = None, keepdim: bool = False, *,
        correction: Optional[int] = None) -> Tensor:
    """The square root of :func:`var`. Where it is 0 (a constant slice) its gradient is 0,
    as PyTorch's; the square root's own is infinite there, and 0 times it NaN."""
    variance = var(x, dim, unbiased, keepdim, correction=correction)
    nonzero = ne(variance, 0.0)  # NaN included: its root stays NaN
    return where(nonzero, sqrt(where(nonzero, variance, 1.0)), 0.0)


def amax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return apply("max", [x], axes=_axes(x, dim), keepdim=keepdim)


def amin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return apply("min", [x], axes=_axes(x, dim), keepdim=keepdim)


def _arg_extremum(op: str, x: Tensor, dim: int | None, keepdim: bool) -> Tensor:
    if dim is not None:
        dim = wrap_dim(dim, x.ndim)
    if dim is None or x.ndim == 0:  # over all elements (a 0-d tensor's dim is itself)
        flat = apply(op, [reshape(x, (-1,))], axis=0, keepdim=False)
        return reshape(flat, [1] * x.ndim) if keepdim else flat
    return apply(op, [x], axis=dim, keepdim=keepdim)


def argmax(x: Tensor, dim: Optional[int] = None, keepdim: bool = False) -> Tensor:
    """Index of the first maximum (of the flattened tensor without ``dim``); a nan counts as
    the maximum, as in PyTorch."""
    return _arg_extremum("argmax", x, dim, keepdim)


def argmin(x: Tensor, dim: Optional[int] = None, keepdim: bool = False) -> Tensor:
    """Index of the first minimum; a nan counts as the minimum, as in PyTorch.

        >>> import graphc
        >>> graphc.argmin(graphc.tensor([0, -2**63, 5])).item()
        1
    """
    return _arg_extremum("argmin", x, dim, keepdim)


def max(x: Tensor, dim=None, keepdim: bool = False):
    """``max(x)`` is the largest element; ``max(x, dim)`` is (values, indices); ``max(x, y)``
    with a tensor second argument is the elementwise maximum."""
    if isinstance(dim, Tensor):
        return maximum(x, dim)
    if dim is None:
        return amax(x)
    return _values_at(x, dim, keepdim, argmax(x, dim, keepdim=True))


def min(x: Tensor, dim=None, keepdim: bool = False):
    if isinstance(dim, Tensor):
        return minimum(x, dim)
    if dim is None:
        return amin(x)
    return _values_at(x, dim, keepdim, argmin(x, dim, keepdim=True))


def _values_at(x: Tensor, dim: int, keepdim: bool, indices: Tensor) -> ValuesIndices:
    """(values, indices) of max/min over ``dim``: the values are gathered at the indices, so
    the gradient goes to the selected element only, as in PyTorch (amax/amin split ties)."""
    values = gather(x, dim, indices)
    if not keepdim:
        values, indices = squeeze_(values, dim), squeeze_(indices, dim)
    return ValuesIndices(values, indices)


def all(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Whether every element is nonzero: bool, or uint8 for a uint8 ``x`` (as PyTorch)."""
    result = logical_not(_any(logical_not(x), dim, keepdim))
    return cast(result, x.dtype) if x.dtype == dtypes.u8 else result


def any(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Whether some element is nonzero: bool, or uint8 for a uint8 ``x`` (as PyTorch)."""
    result = _any(x, dim, keepdim)
    return cast(result, x.dtype) if x.dtype == dtypes.u8 else result


def check_range(x: Tensor, low: float, high: float, error: type, message: str,
                nan_ok: bool = False) -> None:
    """Raises ``error(message)`` if an element of ``x`` is outside [low, high] (NaN is, unless
    ``nan_ok``): at once for a concrete ``x``, in NumPy (eager losses stay as fast as
    without); for a traced one as the compiled graph runs (:func:`graphc.tracing.check`)."""
    from graphc import tracing
    from graphc.device import host_array
    if tracing.current() is None:
        values = host_array(x._data)
        with np.errstate(invalid="ignore"):
            inside = (values >= low) & (values <= high)
        if not (inside | np.isnan(values) if nan_ok else inside).all():
            raise error(message)
        return
    x = x.detach()
    inside = logical_and(ge(x, low), le(x, high))
    if nan_ok:
        inside = logical_or(inside, isnan(x))
    tracing.check(_any(logical_not(inside), None, False), error, message)


def _any(x: Tensor, dim, keepdim: bool) -> Tensor:
    if isinstance(dim, (list, tuple)) and not dim:
        return cast(x, dtypes.bool_)  # PyTorch's any/all over no dims, unlike its sum's
    return gt(sum(cast(x, dtypes.bool_), dim, keepdim), 0)


@autocast_op("logsumexp")
def logsumexp(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) computed stably by shifting with the (detached) maximum."""
    axes = _axes(x, dim)
    if builtins.any(x.shape[a] == 0 for a in axes):  # log of an empty sum: -inf (PyTorch)
        result = log(sum(exp(x), axes, keepdim=True))
        return result if keepdim else reshape(result, [d for i, d in enumerate(x.shape)
                                                       if i not in axes])
    shift = amax(x, axes, keepdim=True).detach()
    shift = where(isinf(shift), 0.0, shift)  # all -inf rows stay -inf instead of nan
    total = sum(exp(sub(x, shift)), axes, keepdim=True)
    result = add(log(total), shift)
    return result if keepdim else reshape(result, [d for i, d in enumerate(x.shape)
                                                   if i not in axes])


def _refuse_integer_softmax(name: str, x: Tensor) -> None:
    """As PyTorch: softmax of integers (or bools) is not implemented; ``dtype=`` casts first."""
    if not x.dtype.is_float:  # (graphc has no complex tensors)
        raise DTypeError(f"{name} is not implemented for {x.dtype} tensors: pass "
                         f"dtype=graphc.float32 (or convert the input) to compute it in floats")


@autocast_op("softmax")
def softmax(x: Tensor, dim: int = -1, dtype=None) -> Tensor:
    if dtype is not None:
        x = cast(x, dtype)
    _refuse_integer_softmax("softmax", x)
    if x.dtype in _HALF:  # in float32, rounded once, as PyTorch's kernels (3-10x closer)
        return cast(softmax(cast(x, dtypes.f32), dim), x.dtype)
    if x.ndim and x.shape[wrap_dim(dim, x.ndim)] == 0:  # nothing to normalize (amax: an error)
        return exp(x)
    shifted = exp(sub(x, amax(x, dim, keepdim=True).detach()))
    return div(shifted, sum(shifted, dim, keepdim=True))


@autocast_op("log_softmax")
def log_softmax(x: Tensor, dim: int = -1, dtype=None) -> Tensor:
    if dtype is not None:
        x = cast(x, dtype)
    _refuse_integer_softmax("log_softmax", x)
    if x.dtype in _HALF:  # in float32, rounded once, as PyTorch's kernels (6-10x closer)
        return cast(log_softmax(cast(x, dtypes.f32), dim), x.dtype)
    return sub(x, logsumexp(x, dim, keepdim=True))


@half_in_float32  # (1 + tanh(...)) cancels in float16: gelu(-3.6) was 0, not -4.4e-4
def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """GELU: exact (erf) by default, ``approximate="tanh"`` for the tanh form. Float16 and
    bfloat16 inputs are computed in float32, as PyTorch computes them."""
    if approximate == "tanh":
        # 0.5 * x * (1 + tanh(z)) as x * sigmoid(2z), the same function: 1 + tanh(z) cancels
        # for z below about -4 (float32 kept 2-3 digits at x = -5, none from x = -9)
        inner = mul(add(x, mul(pow(x, 3.0), 0.044715)), 2.0 * math.sqrt(2.0 / math.pi))
        return mul(x, sigmoid(inner))
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return mul(mul(x, 0.5), add(erf(mul(x, 1.0 / math.sqrt(2.0))), 1.0))


@half_in_float32  # sigmoid(-17) underflows float16: silu(-17.3) was -0, not -5.4e-7
def _silu(x: Tensor) -> Tensor:
    return mul(x, sigmoid(x))


def silu(x: Tensor, inplace: bool = False) -> Tensor:
    """``x * sigmoid(x)``; ``inplace`` (``F.silu``'s) writes it into ``x``."""
    return x._assign(_silu) if inplace else _silu(x)


_relu = relu


def relu(x: Tensor, inplace: bool = False) -> Tensor:  # noqa: F811  (the unary op, plus inplace)
    """``max(x, 0)``; ``inplace`` (``F.relu``'s) writes it into ``x``. (``F.relu`` is this very
    function: checkpoints of modules holding it name ``graphc.functions.relu``.)"""
    return x._assign(_relu) if inplace else _relu(to_tensor(x))


# -- linear algebra -----------------------------------------------------------------------------
@autocast_op("matmul")
def matmul(a, b) -> Tensor:
    """Matrix product with NumPy/PyTorch rules: 1-D operands are promoted and then squeezed."""
    if getattr(a, "is_sparse", False):  # a sparse COO matrix times a dense one
        from graphc.sparse import mm as sparse_mm
        return sparse_mm(a, b)
    a, b = to_tensor(a), to_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul: both arguments need at least one dimension")
    squeeze = []
    if a.ndim == 1:
        a = reshape(a, (1, a.shape[0]))
        squeeze.append(-2)
    if b.ndim == 1:
        b = reshape(b, (b.shape[0], 1))
        squeeze.append(-1)
    out = apply("matmul", [a, b])
    for axis in sorted(squeeze):
        out = squeeze_(out, axis)
    return out


@autocast_op("mm")
def mm(a: Tensor, b: Tensor) -> Tensor:
    """``torch.mm``: the product of two matrices (2-D, no broadcasting; a sparse COO ``a``
    too)."""
    if not getattr(a, "is_sparse", False):
        a, b = to_tensor(a), to_tensor(b)
        if a.ndim != 2 or b.ndim != 2:
            raise ShapeError(f"mm: both arguments must be matrices (2-D), got shapes "
                             f"{list(a.shape)} and {list(b.shape)}")
    return matmul(a, b)


@autocast_op("bmm")
def bmm(a: Tensor, b: Tensor) -> Tensor:
    """``torch.bmm``: batches of matrix products, [B, n, m] @ [B, m, p] (no broadcasting)."""
    a, b = to_tensor(a), to_tensor(b)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ShapeError(f"bmm: expects two 3-D tensors with the same batch size, got shapes "
                         f"{list(a.shape)} and {list(b.shape)}")
    return matmul(a, b)


@autocast_op("dot")
@half_in_float32  # (float16 products overflow: dot([300, -300], [300, 300]) was nan, not 0)
def dot(a: Tensor, b: Tensor) -> Tensor:
    """Inner product of two 1-D tensors of the same length (no broadcasting, as in PyTorch)."""
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise ShapeError(f"dot: expects two 1-D tensors of the same length, got shapes "
                         f"{list(a.shape)} and {list(b.shape)}")
    return sum(mul(a, b))


# -- shapes -------------------------------------------------------------------------------------
def sizes(shape, what: str) -> list[int]:
    """``shape``'s sizes as ints: ints and integer tensors (``__index__``), never a float
    truncated (``zeros(2.5)``, ``view(2.0, 3)``: a TypeError, as in PyTorch)."""
    try:
        return [operator.index(s) for s in shape]
    except TypeError:
        bad = next(s for s in shape if not hasattr(type(s), "__index__"))
        raise ArgumentTypeError(f"{what}: sizes must be ints, got {type(bad).__name__} {bad!r} in "
                                f"{list(shape)}") from None


def _resolve_shape(x: Tensor, shape) -> list[int]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    shape = sizes(shape, "reshape")
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: only one dimension can be -1, got {shape}")
    if -1 in shape:
        known = 1
        for s in shape:
            if s != -1:
                known *= s
        if known == 0 or x.numel() % known:
            raise ShapeError(f"reshape: cannot reshape {list(x.shape)} into {shape}")
        shape[shape.index(-1)] = x.numel() // known
    return shape


def reshape(x: Tensor, *shape) -> Tensor:
    target = _resolve_shape(x, shape)
    if list(x.shape) == target:
        return x
    return apply("reshape", [x], shape=target)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    a, b = wrap_dim(dim0, x.ndim), wrap_dim(dim1, x.ndim)
    if x.ndim == 0:
        return x  # dims 0 and -1 both name the scalar itself
    if a == b:
        return x
    perm = list(range(x.ndim))
    perm[a], perm[b] = perm[b], perm[a]
    return apply("transpose", [x], perm=perm)  # (permute would check the dims again)


def permute(x: Tensor, *dims) -> Tensor:
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = dims[0]
    perm = [wrap_dim(d, x.ndim) for d in dims]
    if perm == list(range(x.ndim)):
        return x
    return apply("transpose", [x], perm=perm)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    dim = wrap_dim(dim, x.ndim + 1)
    return reshape(x, list(x.shape[:dim]) + [1] + list(x.shape[dim:]))


def squeeze_(x: Tensor, dim=None) -> Tensor:
    if dim is None:
        return reshape(x, [d for d in x.shape if d != 1])
    dims = {wrap_dim(d, x.ndim) for d in (dim if isinstance(dim, (list, tuple)) else [dim])}
    return reshape(x, [d for i, d in enumerate(x.shape) if not (i in dims and d == 1)])


squeeze = squeeze_


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    start, end = wrap_dim(start_dim, x.ndim), wrap_dim(end_dim, x.ndim)
    if x.ndim == 0:
        return reshape(x, [1])
    if start > end:
        raise ShapeError(f"flatten: start_dim ({start_dim}) cannot come after end_dim "
                         f"({end_dim}) for a tensor of {x.ndim} dims")
    merged = 1
    for d in x.shape[start:end + 1]:
        merged *= d
    return reshape(x, list(x.shape[:start]) + [merged] + list(x.shape[end + 1:]))


def broadcast_to(x: Tensor, shape) -> Tensor:
    shape = [int(s) for s in shape]
    if list(x.shape) == shape:
        return x
    return apply("broadcast_to", [x], shape=shape)


def expand(x: Tensor, *sizes) -> Tensor:
    """Broadcasts to ``sizes``; -1 keeps that dimension (like ``torch.Tensor.expand``)."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = sizes[0]
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ShapeError(f"expand: {len(sizes)} sizes given for a tensor of rank {x.ndim}")
    if builtins.any(s == -1 for s in sizes[:lead]):
        raise ShapeError(f"expand: -1 is not allowed for the new leading dimensions {list(sizes)}")
    shape = [x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes)]
    return broadcast_to(x, shape)


def _nonempty(tensors, op: str) -> list[Tensor]:
    if isinstance(tensors, Tensor) or tensors is None:  # a Tensor would give its rows
        raise ArgumentTypeError(f"{op}(): argument 'tensors' must be a tuple or list of "
                                f"Tensors, not {type(tensors).__name__}")
    for i, t in enumerate(tensors):
        if t is None:
            raise ArgumentTypeError(f"{op}(): expected Tensor as element {i} of argument "
                                    f"'tensors', but got None")
    tensors = [to_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError(f"{op}() expects a non-empty sequence of tensors")
    return tensors


@autocast_op("cat")
def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    tensors = _nonempty(tensors, "cat")
    if len(tensors) == 1:
        return tensors[0]
    return apply("concat", tensors, axis=wrap_dim(dim, tensors[0].ndim))


concat = concatenate = cat


@autocast_op("stack")
def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    tensors = _nonempty(tensors, "stack")
    dim = wrap_dim(dim, tensors[0].ndim + 1)
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """``length`` elements of ``dim`` from ``start`` (negative: counted from the end); ``start``
    may be a 0-d integer tensor, as in PyTorch."""
    dim = _real_dim(x, dim, "narrow")
    start, length = operator.index(start), operator.index(length)
    if length < 0:
        raise ShapeError(f"narrow(): length must be non-negative, got {length}")
    if start < 0:
        start += x.shape[dim]
    starts, stops = [0] * x.ndim, list(x.shape)
    starts[dim], stops[dim] = start, start + length
    return apply("slice", [x], starts=starts, stops=stops, steps=[1] * x.ndim)


def split(x: Tensor, split_size_or_sections, dim: int = 0) -> list[Tensor]:
    dim = _real_dim(x, dim, "split")
    size = x.shape[dim]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ShapeError(f"split: split_size must be positive, got {step}")
        sizes = [step] * (size // step) + ([size % step] if size % step else [])
        sizes = sizes or [0]  # an empty dimension is one empty piece, as in PyTorch
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != size or builtins.min(sizes, default=0) < 0:
            raise ShapeError(f"split: sizes {sizes} must be non-negative and add up to "
                             f"{size}, the size of dimension {dim}")
    pieces, start = [], 0
    for s in sizes:
        pieces.append(narrow(x, dim, start, s))
        start += s
    return pieces


def chunk(x: Tensor, chunks: int, dim: int = 0) -> list[Tensor]:
    if chunks <= 0:
        raise ShapeError(f"chunk: chunks must be positive, got {chunks}")
    size = x.shape[_real_dim(x, dim, "chunk")]
    if size == 0:  # PyTorch's chunks of an empty dimension: that many empty pieces
        return [narrow(x, dim, 0, 0) for _ in range(chunks)]
    return split(x, -(-size // chunks), dim)


def _at_least_1d(x: Tensor) -> Tensor:
    return reshape(x, [1]) if x.ndim == 0 else x


def gather(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """``out[i][j] = x[index[i][j]][j]`` for dim 0, like ``torch.gather``.

    As in PyTorch, a 0-d ``x`` or ``index`` counts as 1-d of size 1:

        >>> import graphc
        >>> graphc.gather(graphc.tensor(5.0), 0, graphc.tensor(0)).tolist()
        5.0
    """
    axis = wrap_dim(dim, x.ndim)
    if x.ndim and index.ndim:
        return apply("gather", [x, index], axis=axis)
    picked = apply("gather", [_at_least_1d(x), _at_least_1d(index)], axis=axis)
    return reshape(picked, list(index.shape))


def scatter_add(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of ``x`` with ``src`` added at ``index`` along ``dim``, like ``torch.scatter_add``
    (0-d operands count as 1-d of size 1, as in ``gather``)."""
    axis = wrap_dim(dim, x.ndim)
    if x.ndim and index.ndim and src.ndim:
        return apply("scatter_add", [x, index, src], axis=axis)
    operands = [_at_least_1d(t) for t in (x, index, src)]
    return reshape(apply("scatter_add", operands, axis=axis), list(x.shape))


def index_select(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """Selects entries of ``x`` along ``dim`` at the positions in (any-shaped) ``index``."""
    dim = _real_dim(x, dim, "index_select")
    index = to_tensor(index)
    flat = reshape(index, (-1,))
    k = flat.shape[0]
    view = [1] * x.ndim
    view[dim] = k
    target = list(x.shape)
    target[dim] = k
    picked = gather(x, dim, broadcast_to(reshape(flat, view), target))
    return reshape(picked, list(x.shape[:dim]) + list(index.shape) + list(x.shape[dim + 1:]))


def pad(x: Tensor, pad: Sequence[int], value: float = 0.0) -> Tensor:
    """Constant padding; ``pad`` lists (left, right) pairs from the *last* axis, like ``F.pad``.
    A negative amount crops that many elements from that side, as in PyTorch."""
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ShapeError(f"pad: needs (left, right) pairs for at most {x.ndim} axes, got {pad}")
    pads = [[0, 0, 0] for _ in range(x.ndim)]
    crops = []
    for i in range(len(pad) // 2):
        lo, hi = int(pad[2 * i]), int(pad[2 * i + 1])
        axis = x.ndim - 1 - i
        if x.shape[axis] + lo + hi < 0:
            raise ShapeError(f"pad: the input size {x.shape[axis]} of dim {axis}, plus negative "
                             f"padding {lo} and {hi}, gives a negative output size")
        # (builtins: this module's max() and min() are the tensor reductions)
        pads[axis] = [builtins.max(lo, 0), builtins.max(hi, 0), 0]
        if lo < 0 or hi < 0:
            crops.append((axis, -builtins.min(lo, 0), x.shape[axis] + lo + hi))
    grows = builtins.any(lo or hi for lo, hi, _ in pads)
    out = x if crops and not grows else apply("pad", [x], pads=pads, value=float(value))
    for axis, start, length in crops:
        out = narrow(out, axis, start, length)
    return out


def outer(a: Tensor, b: Tensor) -> Tensor:
    return mul(unsqueeze(a, 1), unsqueeze(b, 0))


def _diagonal_offsets(x: Tensor, op: str) -> Tensor:
    """``col - row`` for every element of the last two axes of ``x``."""
    from graphc.factories import arange
    if x.ndim < 2:
        raise ShapeError(f"{op}: input tensor must have at least 2 dimensions, got shape "
                         f"{list(x.shape)}")
    rows = unsqueeze(arange(x.shape[-2]), 1)
    cols = unsqueeze(arange(x.shape[-1]), 0)
    return sub(cols, rows)


def _zero_of(x: Tensor) -> Tensor:
    """A rank-0 zero of ``x``'s dtype (False for bool), so selecting it keeps the dtype."""
    return apply("const", [], value=0, dtype=x.dtype, shape=[])


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle (on and below ``diagonal``) of the last two axes; the rest 0."""
    return where(le(_diagonal_offsets(x, "tril"), diagonal), x, _zero_of(x))


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle (on and above ``diagonal``) of the last two axes; the rest 0."""
    return where(ge(_diagonal_offsets(x, "triu"), diagonal), x, _zero_of(x))


# -- ``axis=``: the NumPy name PyTorch accepts for ``dim=`` --------------------------------------
def _accepting_axis(fn, tensor_first: bool = True):
    """``fn`` that also takes ``axis=`` for ``dim=``, as PyTorch's functions and methods do
    (``x.sum(axis=1)``, ``graphc.cat(xs, axis=0)``); giving both is a TypeError. With
    ``tensor_first``, a first argument that is not a tensor (a list, None) is refused as PyTorch
    refuses it, instead of failing inside ``fn``."""
    @functools.wraps(fn)
    def with_axis(*args, axis=None, **kwargs):
        if tensor_first and args and not isinstance(args[0], Tensor):
            require_tensor(args[0], "input", fn.__name__)
        if axis is not None:
            if "dim" in kwargs:
                raise TypeError(f"{fn.__name__}() got both dim= and its alias axis=; give one")
            kwargs["dim"] = axis
        return fn(*args, **kwargs)
    return with_axis


(sum, mean, var, std, amax, amin, argmax, argmin, max, min, all, any, logsumexp, softmax,
 log_softmax, unsqueeze, squeeze, narrow, split, chunk, index_select, gather) = (
    _accepting_axis(fn) for fn in (
        sum, mean, var, std, amax, amin, argmax, argmin, max, min, all, any, logsumexp, softmax,
        log_softmax, unsqueeze, squeeze, narrow, split, chunk, index_select, gather))
cat, stack = (_accepting_axis(fn, tensor_first=False) for fn in (cat, stack))  # take sequences
concat = concatenate = cat
