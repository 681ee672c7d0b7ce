"""PyTorch's remaining elementwise functions, as composites of graphc ops: the NumPy-style
aliases (``multiply subtract negative greater less ...``), ``rsub sgn isposinf isneginf fmax
fmin float_power copysign heaviside vdot deg2rad rad2deg sinc`` and the bit shifts
(``bitwise_left_shift``, ``bitwise_right_shift``, ``<<``, ``>>``). Each runs eagerly,
differentiates, and compiles like the ops it is made of.

    >>> import graphc
    >>> x = graphc.tensor([-2.0, float("nan"), 3.0])
    >>> graphc.fmax(x, graphc.tensor([1.0, 5.0, float("nan")])).tolist()
    [1.0, 5.0, 3.0]
    >>> (graphc.tensor([1, -8]) << 2).tolist(), (graphc.tensor([1, -8]) >> 2).tolist()
    ([4, -32], [0, -2])
"""
from __future__ import annotations

import math

import numpy as np

from graphc import functions as F
from graphc import math_functions as M
from graphc.amp.autocast_mode import autocast_op
from graphc.errors import ArgumentError
from graphc.tensor import Tensor
from graphc.torch_functions import signbit
from ir import dtypes
from ir.errors import DTypeError

multiply, subtract, negative = F.mul, F.sub, F.neg
greater, greater_equal, less, less_equal, not_equal = F.gt, F.ge, F.lt, F.le, F.ne


def rsub(input, other, *, alpha=1) -> Tensor:
    """``other - alpha * input`` (``torch.rsub``)."""
    return F.sub(other, input if alpha == 1 else F.mul(input, alpha))


def sgn(input) -> Tensor:
    """The sign (``torch.sgn``; for real tensors, ``sign``: NaN stays NaN, unlike PyTorch)."""
    return F.sign(F.to_tensor(input))


def isposinf(input) -> Tensor:
    x = F.to_tensor(input)
    return F.eq(x, math.inf) if x.dtype.is_float else F.ne(x, x)


def isneginf(input) -> Tensor:
    x = F.to_tensor(input)
    return F.eq(x, -math.inf) if x.dtype.is_float else F.ne(x, x)


def fmax(input, other) -> Tensor:
    """The elementwise maximum ignoring NaN: a NaN loses to a number (``maximum`` propagates
    it), NaN only where both are."""
    a, b = F.operands(input, other)
    return F.where(F.isnan(a), b, F.where(F.isnan(b), a, F.maximum(a, b)))


def fmin(input, other) -> Tensor:
    """The elementwise minimum ignoring NaN (see :func:`fmax`)."""
    a, b = F.operands(input, other)
    return F.where(F.isnan(a), b, F.where(F.isnan(b), a, F.minimum(a, b)))


def float_power(input, exponent) -> Tensor:
    """``input ** exponent`` in float64 (``torch.float_power``)."""
    base = F.cast(F.to_tensor(input), dtypes.f64)
    power = exponent if not isinstance(exponent, Tensor) else F.cast(exponent, dtypes.f64)
    return F.pow(base, power)


def copysign(input, other) -> Tensor:
    """``|input|`` with the sign bit of ``other`` (-0.0 and NaNs' sign bits count), as a
    float; its gradient along ``input`` is ``sign(input)`` times that sign."""
    a = F.to_tensor(input)
    b = other if isinstance(other, Tensor) else F.to_tensor(float(other))
    # the promoted dtype, as PyTorch's (int8 and float16: float16; float32 and float64:
    # float64), floating point
    dtype = dtypes.result_type((a.dtype, a.ndim), (b.dtype, b.ndim if isinstance(other, Tensor)
                                                 else 0))
    if not isinstance(other, Tensor) and a.dtype.is_float:
        dtype = a.dtype  # a Python number does not widen a float tensor
    if not dtype.is_float:
        dtype = dtypes.DEFAULT_FLOAT
    magnitude = F.abs(F.cast(a, dtype))
    return F.where(signbit(b), F.neg(magnitude), magnitude)


def heaviside(input, values) -> Tensor:
    """0 below zero, 1 above, ``values`` at zero (``torch.heaviside``); NaN stays NaN, as in
    NumPy (PyTorch gives 0)."""
    x, v = F.operands(input, values)
    step = F.cast(F.gt(x, 0), v.dtype)
    if x.dtype.is_float:
        step = F.where(F.isnan(x), x, step)
    return F.where(F.eq(x, 0), v, step)


@autocast_op("vdot")
def vdot(input, other) -> Tensor:
    """The dot product of two 1-D tensors (real tensors: :func:`graphc.dot`)."""
    return F.dot(input, other)


def deg2rad(input) -> Tensor:
    x = F.to_tensor(input)
    return F.mul(x if x.dtype.is_float else F.cast(x, dtypes.DEFAULT_FLOAT), math.pi / 180)


def rad2deg(input) -> Tensor:
    x = F.to_tensor(input)
    return F.mul(x if x.dtype.is_float else F.cast(x, dtypes.DEFAULT_FLOAT), 180 / math.pi)


def sinc(input) -> Tensor:
    """``sin(pi x) / (pi x)``, 1 at 0 (``torch.sinc``)."""
    x = F.to_tensor(input)
    x = x if x.dtype.is_float else F.cast(x, dtypes.DEFAULT_FLOAT)
    zero = F.eq(x, 0)
    scaled = F.mul(F.where(zero, F.scalar_like(1.0, x), x), math.pi)  # no 0/0 in its gradient
    return F.where(zero, F.scalar_like(1.0, x), F.div(F.sin(scaled), scaled))


def _shift_amounts(input, other, op: str):
    """The operands of a shift, both in the result's dtype: PyTorch's promotion (int8 << an
    int64 tensor is int64; a Python int takes the tensor's dtype, but makes bool int64)."""
    x, y = F.operands(input, other)
    if x.dtype.is_float or y.dtype.is_float:
        raise ArgumentError(f"{op}: shifts take integer tensors, got {x.dtype} and {y.dtype}")
    dtype = dtypes.result_type((x.dtype, x.ndim), (y.dtype, y.ndim))
    if dtype == dtypes.bool_:
        if isinstance(input, Tensor) and isinstance(other, Tensor):
            raise ArgumentError(f"{op}: shifts of two bool tensors are not defined (as in "
                                "PyTorch); cast one to an integer dtype")
        dtype = dtypes.i64  # bool << 1 is int64 [2, 0], as PyTorch
    return F.cast(x, dtype), F.cast(y, dtype)


def _two_to_the(y: Tensor, where: Tensor) -> Tensor:
    """``2 ** y`` in int64 where ``where`` holds (1 elsewhere: the caller selects another
    result there, and 2 ** 64 would not fit)."""
    return F.pow(F.cast(F.scalar_like(2, y), dtypes.i64), F.where(where, F.cast(y, dtypes.i64), 0))


def bitwise_left_shift(input, other) -> Tensor:
    """``input << other``: times 2**other, wrapping in the integer dtype (0 from the width of
    the dtype on, as PyTorch gives)."""
    x, y = _shift_amounts(input, other, "bitwise_left_shift")
    bits = x.dtype.bits
    # (a negative amount shifts everything out too, as PyTorch gives: 0; NumPy raised)
    wide = F.logical_and(F.lt(y, bits), F.ge(y, 0))
    factor = _two_to_the(y, wide)
    return F.where(wide, F.cast(F.mul(F.cast(x, dtypes.i64), factor), x.dtype),
                   F.scalar_like(0, x))


def bitwise_right_shift(input, other) -> Tensor:
    """``input >> other``: arithmetic (floor) division by 2**other; from the width of the dtype
    on, 0 or -1 by the sign."""
    x, y = _shift_amounts(input, other, "bitwise_right_shift")
    within = F.logical_and(F.lt(y, min(x.dtype.bits, 63)), F.ge(y, 0))
    factor = _two_to_the(y, within)
    shifted = F.cast(M.floor_divide(F.cast(x, dtypes.i64), factor), x.dtype)
    sign_fill = F.neg(F.cast(F.lt(x, 0), x.dtype))  # -1 below zero, else 0
    return F.where(within, shifted, sign_fill)


def positive(input) -> Tensor:
    """``input`` itself (``torch.positive``, unary ``+``); refused for bool, as PyTorch."""
    x = F.to_tensor(input)
    if x.dtype.is_bool:
        raise ArgumentError("The `+` operator, on a bool tensor is not supported.")
    return x


def isreal(input) -> Tensor:
    """True everywhere: graphc's tensors are real (``torch.isreal``)."""
    x = F.to_tensor(input)
    return F.eq(x, x) if not x.dtype.is_float else F.logical_or(F.eq(x, x), F.isnan(x))


def is_nonzero(input) -> bool:
    """Whether the one element of ``input`` is nonzero (``torch.is_nonzero``); an error for no
    element or several."""
    x = F.to_tensor(input)
    n = int(np.prod(x.shape, dtype=np.int64))
    if n == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if n > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(F.reshape(x, []).item() != 0)


def angle(input) -> Tensor:
    """The argument of each element as a complex number (``torch.angle``): pi for negative
    reals, 0 otherwise (-0.0 too), NaN for NaN; a float result, with zero gradient."""
    x = F.to_tensor(input)
    x = x if x.dtype.is_float else F.cast(x, dtypes.DEFAULT_FLOAT)
    flat = F.where(F.lt(x, 0), F.scalar_like(math.pi, x), F.scalar_like(0.0, x))
    return F.where(F.isnan(x), x, F.add(flat, F.mul(F.sub(x, x.detach()), 0.0)))


def logaddexp2(input, other) -> Tensor:
    """``log2(2**a + 2**b)`` without overflow (``torch.logaddexp2``); ``(-inf, -inf)`` gives
    -inf."""
    a, b = M._float_pair("logaddexp2", input, other)
    # as logaddexp: the larger plus log2(1 + 2**(smaller - larger)), each branch fed only where
    # it is taken, so the derivatives stay exact at a tie
    first = F.ge(a, b)
    zero = F.scalar_like(0.0, a)
    from_a = F.add(a, F.div(F.log1p(M.exp2(F.where(first, F.sub(b, a), zero))), math.log(2)))
    from_b = F.add(b, F.div(F.log1p(M.exp2(F.where(first, zero, F.sub(a, b)))), math.log(2)))
    return F.where(F.logical_and(F.eq(a, b), F.isinf(a)), a, F.where(first, from_a, from_b))


def ldexp(input, other) -> Tensor:
    """``input * 2**other`` (``torch.ldexp``), promoted as PyTorch's ``input * pow(2.0,
    other)``: an integer input gives the default float dtype."""
    exponent = F.to_tensor(other)
    scale = F.pow(F.scalar_like(2.0, exponent if exponent.dtype.is_float
                                else F.cast(exponent, dtypes.DEFAULT_FLOAT)), exponent)
    return F.mul(input, scale)


def frexp(input):
    """``(mantissa, exponent)`` with ``input == mantissa * 2**exponent`` and ``0.5 <=
    |mantissa| < 1`` (``torch.frexp``); 0, inf and NaN give themselves and exponent 0. The
    exponent is int32; the mantissa's gradient is ``2**-exponent``.

        >>> import graphc
        >>> m, e = graphc.frexp(graphc.tensor([8.0, -3.0]))
        >>> m.tolist(), e.tolist()
        ([0.5, -0.75], [4, 2])
    """
    x = F.to_tensor(input)
    if not x.dtype.is_float:
        raise DTypeError("torch.frexp() only supports floating-point dtypes")
    from graphc import return_types
    magnitude = F.abs(x.detach())
    regular = F.logical_and(F.isfinite(magnitude), F.gt(magnitude, 0))
    safe = F.where(regular, magnitude, F.scalar_like(1.0, magnitude))
    wide = F.cast(safe, dtypes.f64)  # (log2 of a float16 would round the exponent)
    exponent = F.add(M.floor(M.log2(wide)), 1.0)
    for _ in range(2):  # log2 may round across a power of two: one step up or down mends it
        scaled = _times_power_of_two(wide, F.neg(exponent))
        exponent = F.where(F.ge(scaled, 1.0), F.add(exponent, 1.0),
                           F.where(F.lt(scaled, 0.5), F.sub(exponent, 1.0), exponent))
    exponent = F.where(regular, exponent, F.scalar_like(0.0, exponent))
    mantissa = F.cast(_times_power_of_two(F.cast(x, dtypes.f64), F.neg(exponent)), x.dtype)
    return return_types.frexp(F.where(regular, mantissa, x), F.cast(exponent, dtypes.i32))


def _times_power_of_two(x: Tensor, power: Tensor) -> Tensor:
    """``x * 2**power`` in two halves, so that neither factor overflows or underflows where
    the product does not (a subnormal's exponent is beyond -1022)."""
    half = M.floor(F.div(power, 2.0))
    two = F.scalar_like(2.0, x)
    return F.mul(F.mul(x, F.pow(two, half)), F.pow(two, F.sub(power, half)))


def nextafter(input, other) -> Tensor:
    """The next representable number after ``input`` towards ``other`` (``torch.nextafter``),
    in their float dtype; the gradient passes to ``input`` unchanged where it differs from
    ``other`` (0 where they are equal), as PyTorch's. Eager only
    (NumPy's ``nextafter``): it raises ``TraceError`` when compiled."""
    a, b = F.operands(input, other)
    if not (a.dtype.is_float and b.dtype.is_float):
        raise DTypeError(f"nextafter: takes float tensors, got {a.dtype} and {b.dtype}")
    from graphc import tracing
    from graphc.device import host_array
    from graphc.errors import TraceError
    if tracing.current() is not None or a.is_traced or b.is_traced:
        raise TraceError("nextafter is not supported inside a compiled function yet: it "
                         "steps through the bits of the floats in NumPy, eagerly. Call it "
                         "outside the compiled function")
    dtype = dtypes.result_type((a.dtype, a.ndim), (b.dtype, b.ndim))
    a, b = F.cast(a, dtype), F.cast(b, dtype)
    stepped = np.nextafter(host_array(a.detach()._data), host_array(b.detach()._data))
    value = Tensor._wrap(np.asarray(stepped, dtype=dtype.numpy))
    if a.requires_grad:  # PyTorch's: the gradient to input where it moved, 0 where a == b
        moved = F.cast(F.ne(a.detach(), b.detach()), dtype)
        value = F.add(value, F.mul(F.sub(a, a.detach()), moved))
    if b.requires_grad:  # (a zero gradient into other, not none, as PyTorch's)
        value = F.add(value, F.mul(F.sub(b, b.detach()), 0.0))
    return value


_EUCLID_STEPS = {8: 13, 16: 25, 32: 48, 64: 94}  # > the steps of consecutive Fibonacci numbers


def gcd(input, other) -> Tensor:
    """The greatest common divisor, nonnegative (``torch.gcd``): ``gcd(0, 0) == 0``. Integer
    tensors only. Euclid's algorithm, unrolled as many steps as the dtype's worst case (two
    consecutive Fibonacci numbers) needs, so it compiles; eagerly it stops once all are done.

        >>> import graphc
        >>> graphc.gcd(graphc.tensor([12, -9, 0]), graphc.tensor([18, 6, 5])).tolist()
        [6, 3, 5]
    """
    a, b = _integer_pair("gcd", input, other)
    from graphc import tracing
    a, b = F.abs(a), F.abs(b)
    eager = tracing.current() is None and not (a.is_traced or b.is_traced)
    for _ in range(_EUCLID_STEPS[a.dtype.bits]):
        if eager and not bool(F.any(F.ne(b, 0)).item()):
            break
        done = F.eq(b, 0)
        rest = M.remainder(a, F.where(done, F.scalar_like(1, b), b))
        a, b = F.where(done, a, b), F.where(done, b, rest)
    return F.abs(a)  # (abs of the dtype's minimum wraps to itself, as PyTorch's)


def lcm(input, other) -> Tensor:
    """The least common multiple, 0 if either is 0 (``torch.lcm``): PyTorch's ``|a / gcd *
    b|`` computed in a C++ ``int`` or wider, then wrapped into the dtype (so an int8 lcm
    beyond 127 may come out negative, as there)."""
    a, b = _integer_pair("lcm", input, other)
    g = gcd(a, b)
    zero = F.eq(g, 0)
    wide = [F.cast(t, dtypes.i64) for t in (a, F.where(zero, F.scalar_like(1, g), g), b)]
    product = F.abs(F.mul(M.floor_divide(wide[0], wide[1]), wide[2]))
    return F.where(zero, F.scalar_like(0, g), F.cast(product, a.dtype))


def _integer_pair(op: str, input, other) -> tuple[Tensor, Tensor]:
    a, b = F.operands(input, other)
    if a.dtype.is_float or b.dtype.is_float or a.dtype.is_bool or b.dtype.is_bool:
        raise DTypeError(f"{op}: takes integer tensors, got {a.dtype} and {b.dtype}")
    dtype = dtypes.result_type((a.dtype, a.ndim), (b.dtype, b.ndim))
    return F.cast(a, dtype), F.cast(b, dtype)


def unflatten(input: Tensor, dim: int, sizes) -> Tensor:
    """``dim`` split into ``sizes`` (one of them may be -1), as ``torch.unflatten``."""
    x = F.to_tensor(input)
    axis = F.wrap_dim(dim, x.ndim)
    sizes = [int(s) for s in sizes]
    return F.reshape(x, list(x.shape[:axis]) + sizes + list(x.shape[axis + 1:]))


def _fill_diagonal_(self: Tensor, fill_value, wrap: bool = False) -> Tensor:
    """Writes ``fill_value`` on the main diagonal, in place (``Tensor.fill_diagonal_``): a
    matrix's, or for more dimensions the positions with all indices equal (all sizes alike);
    ``wrap`` continues a tall matrix's diagonal every ``columns + 1`` rows."""
    if self.ndim < 2:
        raise ArgumentError(f"fill_diagonal_: the tensor must have at least 2 dimensions, got "
                            f"shape {list(self.shape)}")
    if self.ndim > 2 and len(set(self.shape)) != 1:
        raise ArgumentError(f"fill_diagonal_: all dimensions must be of equal length, got "
                            f"shape {list(self.shape)}")
    from graphc.factories import arange
    if self.ndim == 2:
        rows, cols = self.shape
        r = F.reshape(arange(rows), [rows, 1])
        c = F.reshape(arange(cols), [1, cols])
        period = cols + 1
        flat = F.add(F.mul(r, cols), c)
        on = F.eq(F.reshape(r, [rows, 1]), c) if not wrap else F.eq(
            M.remainder(flat, period), 0)
        if not wrap:
            on = F.logical_and(on, F.lt(r, cols))
    else:
        n, ndim = self.shape[0], self.ndim
        index = [F.reshape(arange(n), [n if a == b else 1 for b in range(ndim)])
                 for a in range(ndim)]
        on = F.eq(index[0], index[1])
        for other in index[2:]:
            on = F.logical_and(on, F.eq(index[0], other))
    return self._assign(lambda old: F.masked_fill(old, on, fill_value))


def _install() -> None:
    names = ["multiply", "subtract", "negative", "greater", "greater_equal", "less",
             "less_equal", "not_equal", "sgn", "isposinf", "isneginf", "fmax", "fmin",
             "float_power", "copysign", "heaviside", "deg2rad", "rad2deg", "sinc", "vdot",
             "bitwise_left_shift", "bitwise_right_shift", "unflatten", "positive", "isreal",
             "is_nonzero", "angle", "logaddexp2", "ldexp", "frexp", "nextafter", "gcd", "lcm"]
    for name in names:
        setattr(Tensor, name, globals()[name])
    for name in ("multiply", "subtract", "negative", "sgn", "copysign", "float_power",
                 "deg2rad", "rad2deg", "sinc", "bitwise_left_shift", "bitwise_right_shift",
                 "heaviside", "fmax", "fmin", "ldexp", "gcd", "lcm", "nextafter"):
        fn = globals()[name]
        setattr(Tensor, name + "_", lambda self, *a, _fn=fn, **k: self._assign(
            lambda old: _fn(old, *a, **k)))
    Tensor.logical_not_ = lambda self: self._assign(F.logical_not)
    Tensor.fill_diagonal_ = _fill_diagonal_
    Tensor.__lshift__ = bitwise_left_shift
    Tensor.__rshift__ = bitwise_right_shift
    Tensor.__rlshift__ = lambda self, other: bitwise_left_shift(other, self)
    Tensor.__rrshift__ = lambda self, other: bitwise_right_shift(other, self)
    Tensor.__ilshift__ = lambda self, other: self._assign(lambda old: bitwise_left_shift(old, other))
    Tensor.__irshift__ = lambda self, other: self._assign(
        lambda old: bitwise_right_shift(old, other))


_install()

__all__ = ["angle", "bitwise_left_shift", "bitwise_right_shift", "copysign", "deg2rad",
           "float_power", "fmax", "fmin", "frexp", "gcd", "greater", "greater_equal", "heaviside",
           "is_nonzero", "isneginf", "isposinf", "isreal", "lcm", "ldexp", "less", "less_equal",
           "logaddexp2", "multiply", "negative", "nextafter", "not_equal", "positive",
           "rad2deg", "rsub", "sgn", "sinc", "subtract", "unflatten", "vdot"]
