"""Rounding and division ops: floor ceil round trunc frac, floor_divide remainder fmod
trunc_divide, with PyTorch's semantics on every dtype.

- ``floor ceil round trunc`` of an integer tensor is the tensor (PyTorch returns a copy);
  ``round`` rounds half to even, and with ``decimals=n`` computes PyTorch's
  ``rint(x * 10**n) / 10**n`` (``rint(x / 10**-n) * 10**-n`` for n < 0) in the tensor's dtype.
  Their gradient is zero; ``frac`` (``x - trunc(x)``, floats only) passes it through.
- ``floor_divide`` rounds the quotient down (Python's ``//``; floats: NumPy's and PyTorch's
  ``fmod``-based formula, exact, ``x // 0.0`` is ``x / 0.0``), ``remainder`` has the sign of
  the divisor (Python's ``%``; floats: ``fmod(x, y)``, plus ``y`` where the signs differ, so
  ``remainder(-0.0, 1.0)`` is -0.0 and ``remainder(-1.0, inf)`` is inf, as in PyTorch),
  ``fmod`` the sign of the dividend (C), ``trunc_divide`` rounds toward zero
  (``div(rounding_mode='trunc')``).
- Integer division by zero raises :class:`ir.errors.IntegerDivisionByZero`, a RuntimeError, as
  PyTorch's "ZeroDivisionError" on CPU. Kernels cannot raise, so the code generators keep the
  integer forms of these ops out of loop nests (``OpDef.checked_on_integers``): they run as a
  library call of this reference, and the error reaches the caller of compiled code too.
  ``INT_MIN // -1`` wraps to INT_MIN and ``INT_MIN % -1`` is 0, as PyTorch gives.
- Gradients as PyTorch's: ``remainder``: (g, -g * floor_divide(x, y)), ``fmod``: (g, -g *
  trunc_divide(x, y)); ``floor_divide``/``trunc_divide``: zero, as ``div`` with a rounding mode.
"""
from __future__ import annotations

import math

import numpy as np

from ir import scalar as S
from ir.errors import DTypeError, IntegerDivisionByZero
from ir.ops.elementwise import _binary_grads, _promoted, arith_type
from ir.registry import Attr, OpDef, register
from ir.scalar.evaluate import truncating_division


# -- type rules ------------------------------------------------------------------------------
def numeric_operands_type(op: str, floats_only: bool = False):
    """The promoted type of the operands, refusing bools (and ints, for ``floats_only``) as
    PyTorch does ("not implemented for 'Bool'")."""
    def rule(types, attrs):
        for i, t in enumerate(types):
            if t.dtype.is_bool or (floats_only and not t.dtype.is_float):
                wanted = "float" if floats_only else "integer or float"
                raise DTypeError(f"{op}: operand {i} has dtype {t.dtype}; {op} takes {wanted} "
                                 "tensors")
        return arith_type(types, attrs)
    return rule


def _round_type(types, attrs):
    out = numeric_operands_type("round")(types, attrs)
    if attrs["decimals"] != 0 and not out.dtype.is_float:
        raise DTypeError(f"round: decimals={attrs['decimals']} needs a float tensor, got "
                         f"{out.dtype}")
    return out


# -- gradients -------------------------------------------------------------------------------
def _zero_grad(em, xs, out, g, a):
    """Zeros in each float operand's own shape (a broadcast operand's gradient is summed back
    to its shape: zeros of the result's shape made a [1, 3] divisor's gradient [2, 3], which
    then broadcast into the real gradient it was added to, doubling it)."""
    return [em.zeros(em.shape(x), em.dtype(x)) if em.dtype(x).is_float else None for x in xs]


def _quotient_vjp(quotient: str):
    """``x - y * quotient(x, y)``'s gradient (remainder and fmod): PyTorch's rule."""
    def vjp(em, xs, out, g, a):
        x, y = xs
        return _binary_grads(em, xs, lambda: g,
                             lambda: em.neg(em.mul(g, getattr(em, quotient)(x, y))))
    return vjp


# -- references --------------------------------------------------------------------------------
def _check_divisor(op: str, y: np.ndarray) -> None:
    if y.dtype.kind in "iub" and not np.all(y):
        raise IntegerDivisionByZero(f"{op}: integer division by zero (ZeroDivisionError)")


def _division(op: str, on_floats, on_ints):
    def reference(x, y):
        x, y = _promoted(x, y)
        if x.dtype.kind == "f":
            return on_floats(x, y)
        _check_divisor(op, y)
        return on_ints(x, y)
    return reference


def _float_remainder(x, y):
    mod = np.fmod(x, y)
    return np.where((mod != 0) & ((y < 0) != (mod < 0)), mod + y, mod)


def _ten_to(decimals: int, dtype: np.dtype) -> np.floating:
    """10 ** |decimals| in ``dtype``: PyTorch's ``std::pow(10, decimals)`` in double, converted
    (inf beyond the dtype's range)."""
    power = 10.0 ** abs(decimals) if abs(decimals) <= 308 else math.inf
    with np.errstate(over="ignore"):
        return np.dtype(dtype).type(power)


def _round_reference(x, decimals):
    if x.dtype.kind != "f":
        return x.copy()
    if decimals == 0:
        return np.rint(x)
    scale = _ten_to(decimals, x.dtype)
    return np.rint(x * scale) / scale if decimals > 0 else np.rint(x / scale) * scale


# -- scalar bodies -----------------------------------------------------------------------------
def _operands(xs, out):
    return [S.cast(v, out) for v in xs]


def _signs_differ(mod, y):
    """``mod != 0`` and ``mod`` and ``y`` on opposite sides of zero: where fmod's result needs
    a correction to round down."""
    return S.logical_and(S.ne(mod, 0), S.ne(S.lt(y, 0), S.lt(mod, 0)))


def _floor_divide_body(xs, a, out, common):
    x, y = _operands(xs, out)
    mod = S.fmod(x, y)
    if not out.is_float:
        return S.sub(S.trunc_div(x, y), S.cast(_signs_differ(mod, y), out))
    # NumPy's npy_divmod and PyTorch's div_floor_floating: exact for every pair of floats
    quotient = S.div(S.sub(x, mod), y)
    quotient = S.select(_signs_differ(mod, y), S.sub(quotient, 1), quotient)
    down = S.floor(quotient)
    down = S.select(S.gt(S.sub(quotient, down), 0.5), S.add(down, 1), down)
    exact = S.div(x, y)
    rounded = S.select(S.ne(quotient, 0), down, S.copysign(S.const(0, out), exact))
    return S.select(S.eq(y, 0), exact, rounded)


def _remainder_body(xs, a, out, common):
    x, y = _operands(xs, out)
    mod = S.fmod(x, y)
    return S.select(_signs_differ(mod, y), S.add(mod, y), mod)


def _trunc_divide_body(xs, a, out, common):
    x, y = _operands(xs, out)
    return S.trunc(S.div(x, y)) if out.is_float else S.trunc_div(x, y)


def _rounding_body(build):
    return lambda xs, a, out, common: build(xs[0]) if out.is_float else xs[0]


def _round_body(xs, a, out, common):
    x, decimals = xs[0], a["decimals"]
    if not out.is_float:
        return x
    if decimals == 0:
        return S.round_(x)
    scale = float(_ten_to(decimals, out.numpy))
    return S.div(S.round_(S.mul(x, scale)), scale) if decimals > 0 else S.mul(
        S.round_(S.div(x, scale)), scale)


# -- registrations -----------------------------------------------------------------------------
for _name, _ufunc, _build in [("floor", np.floor, S.floor), ("ceil", np.ceil, S.ceil),
                              ("trunc", np.trunc, S.trunc)]:
    register(OpDef(_name, "elementwise", 1, numeric_operands_type(_name),
                   lambda x, _f=_ufunc: _f(x) if x.dtype.kind == "f" else x.copy(),
                   vjp=_zero_grad, scalar=_rounding_body(_build), needs_values=False,
                   doc=f"{_name} of floats; integers unchanged. Zero gradient."))
register(OpDef("round", "elementwise", 1, _round_type, _round_reference,
               attrs=(Attr("decimals", "int", 0, required=False),), vjp=_zero_grad,
               scalar=_round_body, needs_values=False,
               doc="Round half to even (to ``decimals`` places); integers unchanged."))
register(OpDef("frac", "elementwise", 1, numeric_operands_type("frac", floats_only=True),
               lambda x: x - np.trunc(x), vjp=lambda em, xs, out, g, a: [g],
               scalar=lambda xs, a, out, common: S.sub(xs[0], S.trunc(xs[0])),
               needs_values=False, doc="x - trunc(x): the fractional part, sign of x."))

register(OpDef("floor_divide", "elementwise", 2, numeric_operands_type("floor_divide"),
               _division("floor_divide", np.floor_divide, np.floor_divide), vjp=_zero_grad,
               scalar=_floor_divide_body, needs_values=False, checked_on_integers=True,
               doc="x // y, rounded down (Python's //)."))
register(OpDef("trunc_divide", "elementwise", 2, numeric_operands_type("trunc_divide"),
               _division("trunc_divide", lambda x, y: np.trunc(x / y), truncating_division),
               vjp=_zero_grad, scalar=_trunc_divide_body, needs_values=False,
               checked_on_integers=True, doc="x / y rounded toward zero (C's integer /)."))
register(OpDef("remainder", "elementwise", 2, numeric_operands_type("remainder"),
               _division("remainder", _float_remainder, np.remainder),
               vjp=_quotient_vjp("floor_divide"), scalar=_remainder_body,
               checked_on_integers=True, doc="x - y * floor(x / y): the sign of y (Python's %)."))
register(OpDef("fmod", "elementwise", 2, numeric_operands_type("fmod"),
               _division("fmod", np.fmod, np.fmod),
               vjp=_quotient_vjp("trunc_divide"),
               scalar=lambda xs, a, out, common: S.fmod(*_operands(xs, out)),
               checked_on_integers=True, doc="x - y * trunc(x / y): the sign of x (C's fmod)."))
