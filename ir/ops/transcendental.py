"""Trigonometric, hyperbolic and other transcendental elementwise ops: tan asin acos atan sinh
cosh asinh acosh atanh log2 log10 exp2, atan2 hypot xlogy.

Results are floats; integer and bool operands compute in float32, as PyTorch does (``hypot``
takes floats only, as PyTorch's). Each op's body is one scalar primitive of the same name (C99's
function: libm in the code generators), so the reference and the body agree bit for bit.
Gradients are PyTorch's formulas (``derivatives.yaml``), written from registry ops.
"""
from __future__ import annotations

import math

import numpy as np

from ir import scalar as S
from ir.ops.elementwise import (
    _as_float,
    _binary_grads,
    _math,
    _promoted_float,
    _unary,
    div_type,
    float_type,
)
from ir.ops.rounding import numeric_operands_type
from ir.registry import OpDef, register


def _square(em, x):
    return em.mul(x, x)


def _one(em, like):
    return em.scalar(1.0, like)


# name: (NumPy ufunc, gradient of one operand: (em, x, out, g) -> gradient, needs the output)
_UNARY = {
    "tan": (np.tan, lambda em, x, out, g: em.mul(g, em.add(_one(em, out), _square(em, out)))),
    "asin": (np.arcsin, lambda em, x, out, g: em.mul(g, em.rsqrt(em.sub(_one(em, x),
                                                                        _square(em, x))))),
    "acos": (np.arccos, lambda em, x, out, g: em.neg(em.mul(g, em.rsqrt(
        em.sub(_one(em, x), _square(em, x)))))),
    "atan": (np.arctan, lambda em, x, out, g: em.div(g, em.add(_one(em, x), _square(em, x)))),
    "sinh": (np.sinh, lambda em, x, out, g: em.mul(g, em.cosh(x))),
    "cosh": (np.cosh, lambda em, x, out, g: em.mul(g, em.sinh(x))),
    "asinh": (np.arcsinh, lambda em, x, out, g: em.mul(g, em.rsqrt(em.add(_square(em, x),
                                                                          _one(em, x))))),
    "acosh": (np.arccosh, lambda em, x, out, g: em.mul(g, em.rsqrt(em.sub(_square(em, x),
                                                                          _one(em, x))))),
    "atanh": (np.arctanh, lambda em, x, out, g: em.div(g, em.sub(_one(em, x), _square(em, x)))),
    "log2": (np.log2, lambda em, x, out, g: em.div(g, em.mul(x, em.scalar(math.log(2.0), g)))),
    "log10": (np.log10, lambda em, x, out, g: em.div(g, em.mul(x, em.scalar(math.log(10.0), g)))),
    "exp2": (np.exp2, lambda em, x, out, g: em.mul(g, em.mul(out, em.scalar(math.log(2.0), g)))),
}

for _name, (_ufunc, _grad) in _UNARY.items():
    _unary(_name, float_type, lambda x, _f=_ufunc: _f(_as_float(x)),
           lambda em, xs, out, g, a, _grad=_grad: [_grad(em, xs[0], out, g)],
           _math(getattr(S, _name)), needs_output=_name in ("tan", "exp2"),
           doc=f"Elementwise {_name} (C99's {_name}); integers compute in float32.")


def _float_body(build):
    return lambda xs, a, out, common: build(*(S.cast(v, out) for v in xs))


def _atan2_vjp(em, xs, out, g, a):
    y, x = xs
    # PyTorch's atan2_backward, with its 0 where x^2 + y^2 is 0 (the origin, or squares that
    # underflow): 0/0 there made the whole gradient NaN; the unused branch divides by 1
    denominator = em.add(_square(em, x), _square(em, y))
    at_origin = em.eq(denominator, em.scalar(0, denominator))
    safe = em.where(at_origin, em.scalar(1, denominator), denominator)
    scale = em.where(at_origin, em.scalar(0, g), em.div(g, safe))
    return _binary_grads(em, xs, lambda: em.mul(scale, x), lambda: em.neg(em.mul(scale, y)))


def _hypot_vjp(em, xs, out, g, a):
    x, y = xs
    return _binary_grads(em, xs, lambda: em.mul(g, em.div(x, out)),
                         lambda: em.mul(g, em.div(y, out)))


def _xlogy_reference(x, y):
    x, y = _promoted_float(x, y)
    with np.errstate(all="ignore"):
        product = np.where(x == 0, x.dtype.type(0), x * np.log(y))
    return np.where(np.isnan(y), y, product)


def _xlogy_body(xs, a, out, common):
    x, y = (S.cast(v, out) for v in xs)
    product = S.select(S.eq(x, 0), S.const(0, out), S.mul(x, S.log(y)))
    return S.select(S.ne(y, y), y, product)


def _xlogy_vjp(em, xs, out, g, a):
    """PyTorch's: ``xlogy(g, y)`` masked to 0 where x == 0 and y <= 0, and ``g * x / y``."""
    x, y = xs

    def grad_x():
        at_zero = em.bitwise_and(em.eq(x, em.scalar(0, x)), em.le(y, em.scalar(0, y)))
        return em.where(at_zero, em.scalar(0, g), em.xlogy(g, y))

    return _binary_grads(em, xs, grad_x, lambda: em.div(em.mul(g, x), y))


register(OpDef("atan2", "elementwise", 2, div_type,
               lambda y, x: np.arctan2(*_promoted_float(y, x)), vjp=_atan2_vjp,
               scalar=_float_body(S.atan2), doc="atan2(y, x): the angle of (x, y), in (-pi, pi]."))
register(OpDef("hypot", "elementwise", 2, numeric_operands_type("hypot", floats_only=True),
               lambda x, y: np.hypot(*_promoted_float(x, y)), vjp=_hypot_vjp, needs_output=True,
               scalar=_float_body(S.hypot), doc="sqrt(x**2 + y**2) without overflow."))
register(OpDef("xlogy", "elementwise", 2, div_type, _xlogy_reference, vjp=_xlogy_vjp,
               scalar=_xlogy_body, doc="x * log(y), 0 where x == 0 (NaN where y is NaN)."))
