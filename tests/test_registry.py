"""Every registered op, checked against its own declaration and an independent NumPy oracle.

One parametrized walk over ``ir.all_ops()``. Each op needs an entry in ``SAMPLES`` (sample
operands and attributes) and in ``ORACLES`` (its semantics written here, in float64 NumPy or
``math``, without calling graphc): registering a new op without both makes its test fail.

For each op and sample:

(a) the type rule's output type equals the shape and dtype of what the reference produces
    (raw ``opdef.reference`` and ``ir.evaluate.evaluate``) and of the eager result;
(b) eager graphc (``graphc.dispatch.apply``) equals the float64 oracle within float32 tolerance
    (``rtol=1e-5, atol=1e-6``; integer and bool results exactly);
(c) ops with a ``vjp``: eager autograd in float64 equals central finite differences
    (``eps=1e-6, rtol=1e-5, atol=1e-7``), and the same rule run symbolically on an IR graph
    through the interpreter gives the same gradient as eager autograd; ops without a ``vjp``
    are exactly the ones we expect to be non-differentiable;
(d) elementwise ops declare a typed scalar body, and the scalar evaluator runs it bit for bit
    like the reference on special values (NaN, +-inf, -0.0, denormals, extremes, integer
    limits) in every dtype combination the type rule accepts; reductions declare combiner,
    identity and accumulator, and a fold with them matches the reference;
(e) random ops are reproducible per (seed, stream), differ across streams and seeds, and have
    the right distribution on 100k samples.
"""
from __future__ import annotations

import itertools
import math
import operator
from dataclasses import dataclass, field

import numpy as np
import pytest

import backends
import graphc
import ir
from conftest import assert_close, check_grad
from graphc.dispatch import apply
from ir import dtypes
from ir import scalar as S
from ir.emitter import GraphEmitter
from ir.evaluate import evaluate, quiet_float_errors
from ir.types import TensorType

_rng = np.random.default_rng(20240601)


def U(*shape, lo=-2.0, hi=2.0, dtype=np.float32):
    """Uniform float samples, rounded to ``dtype`` (so float64 copies are exact)."""
    return _rng.uniform(lo, hi, size=shape).astype(dtype)


def away_from_zero(*shape, margin=0.2):
    """Floats in [-2, -margin] U [margin, 2]: no kinks of relu/abs/sign within FD reach."""
    magnitude = _rng.uniform(margin, 2.0, size=shape)
    return (magnitude * _rng.choice([-1.0, 1.0], size=shape)).astype(np.float32)


def I(*values, dtype=np.int64):
    return np.array(values, dtype=dtype)


def R(*shape, lo=-5, hi=5, dtype=np.int64):
    return _rng.integers(lo, hi, size=shape).astype(dtype)


@dataclass(eq=False)
class Case:
    inputs: list
    attrs: dict = field(default_factory=dict)
    id: str = ""
    grad: bool = True  # inputs keep finite differences away from kinks and domain edges


def _with_ties(x, y):
    """``y`` equal to ``x`` in a few places, so comparisons see equal operands."""
    y = y.copy()
    y.flat[::2] = x.flat[::2]
    return y


x23, y23 = U(2, 3), U(2, 3)
SEED = np.array(7, dtype=np.int64)

SAMPLES: dict[str, list[Case]] = {
    # -- unary elementwise ---------------------------------------------------------------------
    "neg": [Case([U(2, 3)], id="f32"), Case([R(4)], id="i64")],
    "exp": [Case([U(2, 3)], id="f32"), Case([R(3, 2)], id="i64-computes-in-f32")],
    "log": [Case([U(2, 3, lo=0.5, hi=3.0)], id="f32"),
            Case([R(4, lo=1, hi=9)], id="i64-computes-in-f32")],
    "sqrt": [Case([U(2, 3, lo=0.5, hi=3.0)], id="f32"), Case([I(1, 4, 9)], id="i64")],
    "rsqrt": [Case([U(2, 3, lo=0.5, hi=3.0)], id="f32")],
    "tanh": [Case([U(2, 3)], id="f32"), Case([U(3, dtype=np.float64)], id="f64")],
    "sigmoid": [Case([U(2, 3, lo=-4, hi=4)], id="f32"),
                Case([np.array([-30.0, 0.0, 30.0], np.float32)], id="saturating")],
    "relu": [Case([away_from_zero(2, 3)], id="f32"), Case([R(5)], id="i64")],
    "abs": [Case([away_from_zero(2, 3)], id="f32"), Case([R(5)], id="i64")],
    "sin": [Case([U(2, 3, lo=-3, hi=3)], id="f32")],
    "cos": [Case([U(2, 3, lo=-3, hi=3)], id="f32")],
    "erf": [Case([U(2, 3)], id="f32"), Case([np.array([-5.0, 0.0, 5.0], np.float32)], id="tails")],
    "log1p": [Case([U(2, 3, lo=-0.5, hi=2.0)], id="f32"),
              Case([np.array([1e-10, -1e-7, 0.0], np.float32)], id="tiny")],
    "expm1": [Case([U(2, 3)], id="f32"), Case([np.array([1e-10, -1e-7, 0.0], np.float32)], id="tiny")],
    "sign": [Case([np.array([-1.5, 0.0, 2.0, -0.0], np.float32)], id="f32", grad=False),
             Case([away_from_zero(2, 3)], id="zero-gradient-away-from-0"),
             Case([I(-3, 0, 4)], id="i64", grad=False)],
    "reciprocal": [Case([U(2, 3, lo=0.5, hi=2.0)], id="positive"),
                   Case([U(3, lo=-2.0, hi=-0.5)], id="negative")],
    "stop_gradient": [Case([U(2, 3)], id="f32", grad=False)],
    "cast": [Case([U(2, 3)], {"dtype": dtypes.f64}, id="f32-to-f64"),
             Case([np.array([-2.7, -0.5, 0.5, 2.7], np.float32)], {"dtype": dtypes.i32},
                  id="f32-to-i32-truncates", grad=False),
             Case([R(3)], {"dtype": dtypes.f32}, id="i64-to-f32"),
             Case([np.array([0.0, -1.5, 2.0], np.float32)], {"dtype": dtypes.bool_},
                  id="f32-to-bool", grad=False)],
    # -- binary elementwise (broadcasting and promotion) -------------------------------------
    "add": [Case([U(2, 3), U(2, 3)], id="same-shape"),
            Case([U(3, 1), U(4)], id="broadcast-both"),
            Case([U(), U(2, 3)], id="rank0-lhs"),
            Case([R(2, 3, dtype=np.int32), R(3)], id="i32+i64"),
            Case([R(2, 3), U(3)], id="i64+f32")],
    "sub": [Case([U(2, 1, 3), U(4, 1)], id="broadcast"), Case([U(3), R(3)], id="f32-i64")],
    "mul": [Case([U(2, 3), U(3)], id="broadcast"),
            Case([U(2, 3), np.array([True, False, True])], id="f32*bool")],
    "div": [Case([U(2, 3), away_from_zero(2, 1)], id="broadcast"),
            Case([I(7, -7, 3), I(2, 2, 4)], id="i64/i64-is-true-division")],
    "pow": [Case([U(2, 3, lo=0.5, hi=2.0), U(3, lo=-1.5, hi=1.5)], id="positive-base"),
            Case([U(2, 3, lo=-2.0, hi=-0.5), I(2, 3, 1)], id="negative-base-int-exponent")],
    # At a tie between exactly two candidates, central differences give each 1/2: the same
    # even split the gradient rules promise, so 2-way ties are checked like smooth points.
    "maximum": [Case([U(2, 3), U(3)], id="broadcast"),
                Case([np.array([1.0, 2.0, -1.0], np.float32),
                      np.array([1.0, 0.5, -1.0], np.float32)], id="ties-split-evenly")],
    "minimum": [Case([U(2, 1), U(3)], id="broadcast"),
                Case([np.array([1.0, 2.0, -1.0], np.float32),
                      np.array([1.0, 0.5, -1.0], np.float32)], id="ties-split-evenly")],
    **{name: [Case([x23, _with_ties(x23, y23)], id="with-equal-elements"),
              Case([U(3, 1), U(4)], id="broadcast"),
              Case([R(4, lo=0, hi=3), np.array([0.0, 1.0, 1.5, 2.0], np.float32)],
                   id="i64-vs-f32")]
       for name in ("eq", "ne", "lt", "le", "gt", "ge")},
    # bitwise: integer and bool operands only; two's complement at the int64 extremes
    **{name: [Case([R(2, 3, lo=-50, hi=50), R(3, lo=-50, hi=50)], id="i64-broadcast"),
              Case([R(4, lo=-50, hi=50, dtype=np.int32), R(4, lo=-9, hi=9)], id="i32-with-i64"),
              Case([I(-2**63, 2**63 - 1, -1, 0), I(-1, -1, 2**63 - 1, -2**63)],
                   id="i64-extremes"),
              Case([np.array([True, True, False, False]), np.array([True, False, True, False])],
                   id="bool-is-logical"),
              Case([np.array([True, False, True]), R(3, dtype=np.int32)], id="bool-with-i32")]
       for name in ("bitwise_and", "bitwise_or", "bitwise_xor")},
    "binary_cross_entropy": [
        Case([U(2, 3, lo=0.05, hi=0.95), U(2, 3, lo=0.0, hi=1.0)], id="probabilities"),
        Case([np.array([0.0, 1.0, 0.5, 1.0], np.float32), np.array([0.0, 1.0, 1.0, 0.3], np.float32)],
             id="logs-clamped-at-0-and-1", grad=False)],
    "where": [Case([np.array([[True], [False]]), U(3), U()], id="broadcast-all-three"),
              Case([U(2, 3) > 0, U(2, 3), R(2, 3)], id="f32-and-i64-branches")],
    # -- reductions -----------------------------------------------------------------------------
    "sum": [Case([U(2, 3)], {"axes": [1]}, id="axis1"),
            Case([U(2, 3)], {"axes": [-1], "keepdim": True}, id="neg-axis-keepdim"),
            Case([U(2, 3, 4)], {"axes": [0, 2]}, id="two-axes"),
            Case([U(2, 3, 4)], {"axes": [-3, -1], "keepdim": True}, id="two-neg-axes-keepdim"),
            Case([R(2, 3, dtype=np.int32)], {"axes": [0, 1]}, id="i32-sums-to-i64")],
    **{name: [Case([U(2, 3)], {"axes": [1]}, id="axis1"),
              Case([U(2, 3)], {"axes": [-1], "keepdim": True}, id="neg-axis-keepdim"),
              Case([U(2, 3, 4)], {"axes": [0, -1]}, id="two-axes"),
              Case([np.array([[1.0, 3.0, 3.0], [-2.0, 0.5, -2.0]], np.float32)],
                   {"axes": [1]}, id="two-way-ties"),
              Case([R(3, 4)], {"axes": [0], "keepdim": True}, id="i64")]
       for name in ("max", "min")},
    "argmax": [Case([U(2, 3, 4)], {"axis": -1}, id="neg-axis"),
               Case([U(3, 4)], {"axis": 0, "keepdim": True}, id="keepdim"),
               Case([np.array([[1.0, 5.0, 5.0]], np.float32)], {"axis": 1}, id="first-of-ties")],
    "argmin": [Case([U(2, 3, 4)], {"axis": -1}, id="neg-axis"),
               Case([U(3, 4)], {"axis": 0, "keepdim": True}, id="keepdim"),
               Case([np.array([[5.0, 1.0, 1.0]], np.float32)], {"axis": 1}, id="first-of-ties"),
               Case([I(0, -2**63, 5, -2**63)], {"axis": 0}, id="i64-minimum-is-no-overflow")],
    # -- movement ------------------------------------------------------------------------------
    "reshape": [Case([U(2, 3, 4)], {"shape": [4, 6]}, id="2d"),
                Case([U(2, 3)], {"shape": [6]}, id="flatten"),
                Case([U()], {"shape": [1, 1]}, id="rank0")],
    "transpose": [Case([U(2, 3)], {"perm": [1, 0]}, id="2d"),
                  Case([U(2, 3, 4)], {"perm": [2, 0, 1]}, id="3d")],
    "broadcast_to": [Case([U(3, 1)], {"shape": [2, 3, 4]}, id="new-and-stretched-axes"),
                     Case([U()], {"shape": [2, 2]}, id="rank0")],
    "slice": [Case([U(5, 4)], {"starts": [0, 1], "stops": [5, 4], "steps": [2, 1]}, id="strided"),
              Case([U(7, 3)], {"starts": [1, 0], "stops": [7, 3], "steps": [3, 2]},
                   id="strided-both"),
              Case([U(4, 3)], {"starts": [2, 0], "stops": [2, 3], "steps": [1, 1]}, id="empty")],
    "pad": [Case([U(2, 3)], {"pads": [[1, 2, 0], [0, 1, 1]]}, id="interior"),
            Case([U(3)], {"pads": [[0, 0, 2]], "value": 1.5}, id="interior-only-with-value"),
            Case([R(2, 2)], {"pads": [[1, 0, 0], [0, 1, 0]], "value": 7}, id="i64")],
    "concat": [Case([U(2, 1), U(2, 3), U(2, 2)], {"axis": 1}, id="three-on-axis1"),
               Case([U(1, 2), U(3, 2), U(2, 2)], {"axis": -2}, id="three-neg-axis"),
               Case([U(2), R(3)], {"axis": 0}, id="f32-and-i64")],
    # -- linear algebra ---------------------------------------------------------------------
    "matmul": [Case([U(2, 3), U(3, 4)], id="2d"),
               Case([U(2, 1, 3, 4), U(5, 4, 2)], id="broadcast-batch"),
               Case([R(2, 3), U(3, 2)], id="i64@f32")],
    # -- index ---------------------------------------------------------------------------------
    "gather": [Case([U(3, 4), np.array([[0, 2, 2, 1], [2, 2, 0, 0]])], {"axis": 0},
                    id="axis0-repeated"),
               Case([U(3, 4), np.array([[3, 3, 0, 1, 3]] * 3)], {"axis": -1},
                    id="neg-axis-repeated-longer"),
               Case([U(3, 4), np.array([[1, 1], [0, 3]], np.int32)], {"axis": 1},
                    id="smaller-index-i32")],
    "scatter_add": [Case([U(3, 4), np.array([[0, 2, 2, 1], [2, 2, 0, 0]]), U(2, 4)],
                         {"axis": 0}, id="axis0-repeated"),
                    Case([U(2, 5), np.array([[4, 4, 4], [0, 1, 0]]), U(2, 3)], {"axis": -1},
                         id="neg-axis-repeated")],
    # -- sources ---------------------------------------------------------------------------------
    "const": [Case([], {"value": 2.5, "dtype": dtypes.f32, "shape": [2, 3]}, id="scalar-fill"),
              Case([], {"value": [[1, 2], [3, 4], [5, 6]], "dtype": dtypes.i64, "shape": [3, 2]},
                   id="nested-list"),
              Case([], {"value": True, "dtype": dtypes.bool_, "shape": []}, id="rank0-bool"),
              Case([], {"value": [0.1, -0.2], "dtype": dtypes.f64, "shape": [2]}, id="f64")],
    "random_uniform": [Case([SEED], {"shape": [3, 4]}, id="default"),
                       Case([SEED], {"shape": [5], "dtype": dtypes.f64, "low": -2.0, "high": 3.0,
                                     "stream": 4}, id="f64-range")],
    "random_normal": [Case([SEED], {"shape": [3, 4]}, id="default"),
                      Case([SEED], {"shape": [2, 2], "dtype": dtypes.f64, "mean": 1.0, "std": 3.0,
                                    "stream": 1}, id="f64-mean-std")],
}

NON_DIFFERENTIABLE = {"stop_gradient", "eq", "ne", "lt", "le", "gt", "ge", "argmax", "argmin",
                      "bitwise_and", "bitwise_or", "bitwise_xor",
                      "const", "random_uniform", "random_normal"}
RANDOM_OPS = {"random_uniform", "random_normal"}


# -- the oracle: each op's meaning in float64 NumPy, written without graphc -------------------
def _loop_pad(x, pads, value=0.0):
    shape = [lo + hi + d + max(d - 1, 0) * it for d, (lo, hi, it) in zip(x.shape, pads)]
    out = np.full(shape, value, dtype=np.float64)
    for p in np.ndindex(x.shape):
        out[tuple(lo + i * (it + 1) for i, (lo, hi, it) in zip(p, pads))] = x[p]
    return out


def _loop_gather(x, index, axis):
    axis %= x.ndim
    out = np.empty(index.shape, dtype=np.float64)
    for p in np.ndindex(index.shape):
        q = list(p)
        q[axis] = index[p]
        out[p] = x[tuple(q)]
    return out


def _loop_scatter_add(x, index, src, axis):
    axis %= x.ndim
    out = np.array(x, dtype=np.float64)
    for p in np.ndindex(index.shape):
        q = list(p)
        q[axis] = index[p]
        out[tuple(q)] += src[p]
    return out


def _cast(x, dtype):
    if dtype.is_bool:
        return x != 0
    return np.trunc(x).astype(np.int64) if dtype.is_int else x


def _reduce(fn):
    return lambda x, axes, keepdim=False: fn(x, axis=tuple(axes), keepdims=keepdim)


def _on_python_ints(fn):
    """An elementwise integer op computed on Python ints (two's complement of any width)."""
    return np.vectorize(lambda x, y: fn(int(x), int(y)), otypes=[object])


def _first_index_of_min(x, axis, keepdim=False):
    return np.argmax(x == np.min(x, axis=axis, keepdims=True), axis=axis, keepdims=keepdim)


def _bce_oracle(x, y):
    with np.errstate(divide="ignore"):  # log(0) = -inf is the point of the clamp at -100
        return -(y * np.maximum(np.log(x), -100.0) + (1 - y) * np.maximum(np.log(1 - x), -100.0))


ORACLES = {
    "neg": lambda x: -x,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "rsqrt": lambda x: 1.0 / np.sqrt(x),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "relu": lambda x: np.where(x > 0, x, 0),
    "abs": np.abs,
    "sin": np.sin,
    "cos": np.cos,
    "erf": np.vectorize(math.erf, otypes=[np.float64]),
    "sign": lambda x: (x > 0).astype(np.int64) - (x < 0).astype(np.int64),
    "reciprocal": lambda x: 1.0 / x,
    "stop_gradient": lambda x: x,
    "cast": _cast,
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
    "pow": lambda x, y: x ** y,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "eq": lambda x, y: x == y,
    "ne": lambda x, y: x != y,
    "lt": lambda x, y: x < y,
    "le": lambda x, y: x <= y,
    "gt": lambda x, y: x > y,
    "ge": lambda x, y: x >= y,
    "bitwise_and": _on_python_ints(operator.and_),
    "bitwise_or": _on_python_ints(operator.or_),
    "bitwise_xor": _on_python_ints(operator.xor),
    "where": lambda c, x, y: np.where(c, x, y),
    "binary_cross_entropy": lambda x, y: _bce_oracle(x, y),
    "log1p": np.log1p,
    "expm1": np.expm1,
    "sum": _reduce(np.sum),
    "max": _reduce(np.max),
    "min": _reduce(np.min),
    "argmax": lambda x, axis, keepdim=False: np.argmax(x, axis=axis, keepdims=keepdim),
    "argmin": _first_index_of_min,
    "reshape": lambda x, shape: x.reshape(shape),
    "transpose": lambda x, perm: np.transpose(x, perm),
    "broadcast_to": lambda x, shape: np.broadcast_to(x, shape),
    "slice": lambda x, starts, stops, steps: x[tuple(slice(a, b, c) for a, b, c
                                                    in zip(starts, stops, steps))],
    "pad": _loop_pad,
    "concat": lambda *xs, axis: np.concatenate([np.asarray(x, np.float64) for x in xs], axis),
    "matmul": lambda a, b: np.einsum("...ik,...kj->...ij", a, b),
    "gather": _loop_gather,
    "scatter_add": _loop_scatter_add,
    "const": lambda value, dtype, shape: np.broadcast_to(np.array(value, np.float64), shape),
    "random_uniform": None,  # no closed form: checked statistically below
    "random_normal": None,
}

# -- conv family and max-pool indices (ir/ops/conv.py; owned by the nn layers work) ---------------
def _loop_conv2d(x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * padding[0], wd + 2 * padding[1]))
    xp[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + wd] = x
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, ho, wo))
    per_group = o // groups
    for b, oc, i, j, ic, a, e in np.ndindex(n, o, ho, wo, cg, kh, kw):
        channel = (oc // per_group) * cg + ic
        out[b, oc, i, j] += (w[oc, ic, a, e]
                             * xp[b, channel, i * stride[0] + a * dilation[0],
                                  j * stride[1] + e * dilation[1]])
    return out


def _loop_conv2d_input_grad(g, w, input_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                            groups=1):
    n, c, h, wd = input_shape
    o, cg, kh, kw = w.shape
    grad = np.zeros((n, c, h + 2 * padding[0], wd + 2 * padding[1]))
    per_group = o // groups
    for b, oc, i, j, ic, a, e in np.ndindex(*g.shape, cg, kh, kw):
        channel = (oc // per_group) * cg + ic
        grad[b, channel, i * stride[0] + a * dilation[0], j * stride[1] + e * dilation[1]] += (
            g[b, oc, i, j] * w[oc, ic, a, e])
    return grad[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + wd]


def _loop_conv2d_weight_grad(x, g, weight_shape, stride=(1, 1), padding=(0, 0),
                             dilation=(1, 1), groups=1):
    n, c, h, wd = x.shape
    o, cg, kh, kw = weight_shape
    xp = np.zeros((n, c, h + 2 * padding[0], wd + 2 * padding[1]))
    xp[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + wd] = x
    out = np.zeros(weight_shape)
    per_group = o // groups
    for b, oc, i, j, ic, a, e in np.ndindex(*g.shape, cg, kh, kw):
        channel = (oc // per_group) * cg + ic
        out[oc, ic, a, e] += g[b, oc, i, j] * xp[b, channel, i * stride[0] + a * dilation[0],
                                                 j * stride[1] + e * dilation[1]]
    return out


def _loop_max_pool2d_indices(x, kernel_size, stride, padding=(0, 0), dilation=(1, 1),
                             ceil_mode=False):
    """Scans each window's real elements in row-major order and keeps the first maximum."""
    n, c, h, w = x.shape

    def out_size(size, k, s, p, d):
        room = size + 2 * p - d * (k - 1) - 1
        out = (-(-room // s) if ceil_mode else room // s) + 1
        return out - 1 if ceil_mode and (out - 1) * s >= size + p else out

    ho = out_size(h, kernel_size[0], stride[0], padding[0], dilation[0])
    wo = out_size(w, kernel_size[1], stride[1], padding[1], dilation[1])
    out = np.zeros((n, c, ho, wo), dtype=np.int64)
    for b, ch, i, j in np.ndindex(n, c, ho, wo):
        best, best_value = None, None
        for a, e in np.ndindex(*kernel_size):
            r = i * stride[0] - padding[0] + a * dilation[0]
            q = j * stride[1] - padding[1] + e * dilation[1]
            if 0 <= r < h and 0 <= q < w and (best is None or x[b, ch, r, q] > best_value):
                best, best_value = r * w + q, x[b, ch, r, q]
        out[b, ch, i, j] = best
    return out


_CONV_B = {"stride": [2, 1], "padding": [1, 2], "dilation": [1, 2], "groups": 2}
_POOL_TIES = np.array([[[[1.0, 1.0, -np.inf], [1.0, 0.5, -np.inf], [-np.inf, -np.inf, -np.inf]]]],
                      np.float32)
SAMPLES.update({
    "conv2d": [Case([U(2, 3, 5, 5), U(4, 3, 3, 3)], id="default"),
               Case([U(1, 4, 6, 7), U(6, 2, 3, 2)], _CONV_B, id="strided-padded-dilated-groups")],
    "conv2d_input_grad": [
        Case([U(2, 4, 3, 3), U(4, 3, 3, 3)], {"input_shape": [2, 3, 5, 5]}, id="default"),
        Case([U(1, 6, 3, 9), U(6, 2, 3, 2)], {**_CONV_B, "input_shape": [1, 4, 6, 7]},
             id="strided-padded-dilated-groups"),
        Case([U(1, 1, 2, 2), U(1, 1, 3, 3)], {"stride": [2, 2], "input_shape": [1, 1, 6, 6]},
             id="stride-leaves-rows-unused")],
    "conv2d_weight_grad": [
        Case([U(2, 3, 5, 5), U(2, 4, 3, 3)], {"weight_shape": [4, 3, 3, 3]}, id="default"),
        Case([U(1, 4, 6, 7), U(1, 6, 3, 9)], {**_CONV_B, "weight_shape": [6, 2, 3, 2]},
             id="strided-padded-dilated-groups")],
    "max_pool2d_indices": [
        Case([U(2, 3, 4, 4)], {"kernel_size": [2, 2], "stride": [2, 2]}, id="2x2"),
        Case([U(1, 2, 5, 6)], {"kernel_size": [3, 2], "stride": [2, 1], "padding": [1, 1],
                               "dilation": [1, 2], "ceil_mode": True}, id="padded-dilated-ceil"),
        Case([_POOL_TIES], {"kernel_size": [2, 2], "stride": [1, 1], "padding": [1, 1]},
             id="ties-and-minus-inf")],
})
ORACLES.update({
    "conv2d": _loop_conv2d,
    "conv2d_input_grad": _loop_conv2d_input_grad,
    "conv2d_weight_grad": _loop_conv2d_weight_grad,
    "max_pool2d_indices": _loop_max_pool2d_indices,
})
NON_DIFFERENTIABLE |= {"max_pool2d_indices"}
# -- end of the conv block -------------------------------------------------------------------------


# -- products, scans and sorts (ir/ops/reduce.py prod, ir/ops/scan.py, ir/ops/sort.py) ------------
def _loop_along(axis, step, start, reverse=False, out_dtype=None):
    """An oracle for a scan: a Python loop along ``axis`` carrying ``step(carry, x, j)``."""
    def run(x):
        ax = axis % x.ndim
        out = np.empty(x.shape, out_dtype or (np.float64 if x.dtype.kind == "f" else np.int64))
        for p in np.ndindex(*(d for i, d in enumerate(x.shape) if i != ax)):
            carry = start
            order = range(x.shape[ax])
            for j in (reversed(order) if reverse else order):
                q = p[:ax] + (j,) + p[ax:]
                carry = step(carry, x[q].item(), j)
                out[q] = carry[1] if isinstance(carry, tuple) else carry
        return out
    return run


def _scan_oracle(step, start, out_dtype=None):
    return lambda x, axis, reverse=False: _loop_along(axis, step, start, reverse, out_dtype)(x)


def _log_add(acc, v):
    if math.isnan(acc) or math.isnan(v):
        return math.nan
    hi, lo = max(acc, v), min(acc, v)
    return hi if lo == -math.inf else hi + math.log1p(math.exp(lo - hi))


def _running_index(takes_over):
    """(best value, its index): a NaN always takes over; ties move to the later index."""
    def step(carry, v, j):
        best, _ = carry
        if carry[1] < 0 or math.isnan(v) or (not math.isnan(best) and takes_over(v, best)):
            return (v, j)
        return carry
    return _scan_oracle(step, (math.nan, -1), np.int64)


def _sort_key(v, descending):
    nan = isinstance(v, float) and math.isnan(v)
    return (not nan, -v if not nan else 0) if descending else (nan, v if not nan else 0)


def _loop_argsort(x, axis, descending=False):
    ax = axis % x.ndim
    out = np.empty(x.shape, np.int64)
    for p in np.ndindex(*(d for i, d in enumerate(x.shape) if i != ax)):
        row = [x[p[:ax] + (j,) + p[ax:]].item() for j in range(x.shape[ax])]
        # Python's sort is stable; NaN is the largest value
        order = sorted(range(len(row)), key=lambda j: _sort_key(row[j], descending))
        for k, j in enumerate(order):
            out[p[:ax] + (k,) + p[ax:]] = j
    return out


_NAN_ROWS = np.array([[2.0, np.nan, 1.0, 2.0, -0.0, 0.0], [np.nan, 3.0, np.nan, -np.inf, 3.0, 1.0]],
                     np.float32)
_ZEROS = np.array([[1.5, 0.0, -2.0, 0.0, 0.5], [0.75, -1.25, 0.0, 1.5, 2.0]], np.float32)
SAMPLES.update({
    "prod": [Case([U(2, 3, 4, lo=0.5, hi=1.5)], {"axes": [1]}, id="axis1"),
             Case([U(2, 3, 4)], {"axes": [0, 2], "keepdim": True}, id="two-axes-keepdim"),
             Case([_ZEROS], {"axes": [1]}, id="zeros-in-rows"),
             Case([R(2, 5, lo=-3, hi=4, dtype=np.int32)], {"axes": [0, 1]}, id="i32-gives-i64"),
             Case([np.array([[True, False], [True, True]])], {"axes": [1]}, id="bool")],
    "cumsum": [Case([U(3, 4)], {"axis": 1}, id="axis1"),
               Case([U(3, 4)], {"axis": 0, "reverse": True}, id="reverse"),
               Case([R(2, 5, dtype=np.int32)], {"axis": -1}, id="i32-gives-i64"),
               Case([np.array([True, False, True])], {"axis": 0}, id="bool"),
               Case([U(2, 0)], {"axis": 1}, id="empty")],
    "cumprod": [Case([U(3, 4, lo=0.5, hi=1.5)], {"axis": 1}, id="axis1"),
                Case([_ZEROS], {"axis": 1}, id="zeros"),
                Case([_ZEROS], {"axis": 1, "reverse": True}, id="zeros-reverse"),
                Case([R(2, 4, lo=-3, hi=4)], {"axis": 0}, id="i64")],
    "logcumsumexp": [Case([U(3, 4)], {"axis": 1}, id="axis1"),
                     Case([U(2, 3, lo=-3, hi=3, dtype=np.float64)], {"axis": 0, "reverse": True},
                          id="f64-reverse"),
                     Case([np.array([80.0, 90.0, -np.inf, 90.0], np.float32)], {"axis": 0},
                          id="large-and-minus-inf", grad=False)],
    "cummax_indices": [Case([_NAN_ROWS], {"axis": 1}, id="ties-nan"),
                       Case([R(3, 4, lo=0, hi=3)], {"axis": 0}, id="i64-ties"),
                       Case([R(2, 5, lo=0, hi=3)], {"axis": 1, "reverse": True}, id="reverse")],
    "cummin_indices": [Case([_NAN_ROWS], {"axis": 1}, id="ties-nan"),
                       Case([np.array([True, False, False, True])], {"axis": 0}, id="bool")],
    "argsort": [Case([_NAN_ROWS], {"axis": 1}, id="nan-ties-ascending"),
                Case([_NAN_ROWS], {"axis": 1, "descending": True}, id="nan-ties-descending"),
                Case([R(4, 3, lo=0, hi=3, dtype=np.int32)], {"axis": 0}, id="i32-axis0"),
                Case([np.array([True, False, True, False])], {"axis": 0, "descending": True},
                     id="bool"),
                Case([U(3, 0)], {"axis": 1}, id="empty-rows")],
})
ORACLES.update({
    "prod": lambda x, axes, keepdim=False: np.multiply.reduce(
        x.astype(np.float64 if x.dtype.kind == "f" else np.int64), axis=tuple(axes),
        keepdims=keepdim),
    "cumsum": _scan_oracle(lambda acc, v, j: acc + v, 0),
    "cumprod": _scan_oracle(lambda acc, v, j: acc * v, 1),
    "logcumsumexp": _scan_oracle(lambda acc, v, j: _log_add(acc, v), -math.inf),
    "cummax_indices": _running_index(lambda v, best: v >= best),
    "cummin_indices": _running_index(lambda v, best: v <= best),
    "argsort": _loop_argsort,
})
NON_DIFFERENTIABLE |= {"cummax_indices", "cummin_indices", "argsort"}
# -- scatter family (ir/ops/index.py; owned by the scatter/index work) ---------------------------
def _loop_scatter(x, index, src, axis):
    """Writes ``src`` in row-major order of ``index``: the last duplicate wins."""
    axis %= x.ndim
    out = np.array(x, dtype=np.float64)
    for p in np.ndindex(index.shape):
        q = list(p)
        q[axis] = index[p]
        out[tuple(q)] = src[p]
    return out


def _loop_scatter_reduce(x, index, src, axis, reduce):
    combine = {"prod": operator.mul, "amax": max, "amin": min}[reduce]
    axis %= x.ndim
    out = np.array(x, dtype=np.float64)
    for p in np.ndindex(index.shape):
        q = list(p)
        q[axis] = index[p]
        out[tuple(q)] = combine(out[tuple(q)], float(src[p]))
    return out


_SCATTER_INDEX = np.array([[0, 2, 2, 1], [2, 2, 0, 0]])
# amax/amin samples keep ties away from finite-difference reach; one has exact ties (grad=False
# there: the rule shares the gradient, a one-sided quantity FD cannot check)
_DISTINCT = (np.arange(20, dtype=np.float32).reshape(5, 4) * 0.37 - 3.1)
SAMPLES.update({
    "scatter": [Case([U(3, 4), _SCATTER_INDEX, U(2, 4)], {"axis": 0}, id="axis0-duplicates"),
                Case([U(2, 5), np.array([[4, 1, 3], [0, 1, 2]], np.int32), U(2, 3)],
                     {"axis": -1}, id="neg-axis-i32"),
                Case([R(3, 4), _SCATTER_INDEX, R(2, 4)], {"axis": 0}, id="i64")],
    "scatter_reduce": [
        Case([U(3, 4), _SCATTER_INDEX, U(2, 4)], {"axis": 0, "reduce": "prod"}, id="prod"),
        Case([U(3, 4), _SCATTER_INDEX, np.array([[0.0, 1.5, 0.0, 2.0], [0.0, -1.0, 0.5, 1.0]],
                                                 np.float32)],
             {"axis": 0, "reduce": "prod"}, id="prod-with-zeros"),
        Case([_DISTINCT[:3], _SCATTER_INDEX, _DISTINCT[3:][::-1] * 1.3],
             {"axis": 0, "reduce": "amax"}, id="amax"),
        Case([_DISTINCT[:3], _SCATTER_INDEX, _DISTINCT[3:] * -0.7],
             {"axis": 0, "reduce": "amin"}, id="amin"),
        Case([np.array([[1.0, 2.0], [3.0, 3.0]], np.float32), np.array([[1, 0], [1, 1]]),
              np.array([[3.0, 2.0], [1.0, 3.0]], np.float32)], {"axis": 0, "reduce": "amax"},
             grad=False, id="amax-ties"),
        Case([R(3, 4), _SCATTER_INDEX, R(2, 4)], {"axis": 0, "reduce": "amin"}, id="i64-amin")],
})
ORACLES.update({"scatter": _loop_scatter, "scatter_reduce": _loop_scatter_reduce})
# -- end of the scatter block ----------------------------------------------------------------------
# -- rounding, division, transcendental functions (ir/ops/rounding.py, transcendental.py) ------
def off_integers(*shape):
    """Floats in [-3, 3] at least 0.2 from every integer (and half-integer ties 0.2 away from
    .5 rounding edges of ``decimals=1``): no jump of floor/round within FD reach."""
    return (_rng.integers(-3, 3, size=shape) + _rng.uniform(0.2, 0.45, size=shape)
            * _rng.choice([1.0, -1.0], size=shape) + 0.5 * (_rng.random(shape) < 0.5)
            ).astype(np.float32) + np.float32(0.0)


# numerators and divisors whose quotients are >= 0.1 from an integer (FD stays on one branch)
DIVIDENDS = np.array([1.5, -2.3, 3.7, -0.8, 2.9, -5.1], np.float32)
DIVISORS = np.array([0.7, 0.4, -1.1, -0.3, 1.3, -2.0], np.float32)
INT_DIVIDENDS = I(7, -7, 7, -7, 0, 6, -2**63, 5, -5, 2**63 - 1)
INT_DIVISORS = I(2, 2, -2, -2, 3, -3, -1, 5, 1, -1)


def _python_elementwise(fn):
    """``fn`` on Python numbers, elementwise: ints of any width if every operand is an integer
    array, else Python floats."""
    def run(*arrays):
        on_ints = all(a.dtype.kind in "iu" for a in arrays)
        values = [a.astype(object) if on_ints else a.astype(np.float64) for a in arrays]
        out = np.vectorize(lambda *v: fn(*(x if isinstance(x, int) else float(x) for x in v)),
                           otypes=[object])(*values)
        return out.astype(np.int64 if on_ints else np.float64)
    return run


def _wrap_i64(value: int) -> int:
    return (value + 2**63) % 2**64 - 2**63


def _trunc_quotient(a: int, b: int) -> int:
    """C's integer division, exactly (no wrap-around)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _python_round(x, decimals=0):
    return np.vectorize(lambda v: float(round(float(v), decimals)), otypes=[np.float64])(x)


def _quiet(fn):
    """``fn`` with NumPy's float warnings off (atanh(1) is inf, hypot(inf, nan) is inf)."""
    def run(*args, **kwargs):
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)
    return run


def _on_floats(fn):
    return lambda x: x if x.dtype.kind in "iub" else fn(x)


for _name in ("floor", "ceil", "trunc"):
    SAMPLES[_name] = [Case([off_integers(2, 3)], id="f32"),
                      Case([np.array([-2.5, -0.5, -0.0, 0.5, 2.5, 1e8], np.float32)],
                           id="edges", grad=False),
                      Case([R(4)], id="i64-unchanged"), Case([R(3, dtype=np.int32)], id="i32")]
SAMPLES.update({
    "round": [Case([off_integers(2, 3)], id="f32"),
              Case([np.array([0.5, 1.5, 2.5, -0.5, -1.5, 0.49999997], np.float32)],
                   id="half-to-even", grad=False),
              Case([np.array([0.123, -1.987, 12.3456, 0.0], np.float64)], {"decimals": 2},
                   id="decimals-2"),
              Case([np.array([1234.5, -1777.0, 49.0], np.float32)], {"decimals": -2},
                   id="decimals-minus-2", grad=False),
              Case([R(4)], id="i64-unchanged")],
    "frac": [Case([off_integers(2, 3)], id="f32"),
             Case([np.array([-2.5, -0.0, 3.0, 1e8], np.float64)], id="sign-of-x", grad=False)],
    **{name: [Case([DIVIDENDS, DIVISORS], id="f32-signs"),
              Case([U(2, 3, lo=0.1, hi=9.0), np.float32(2.5) * np.ones((), np.float32)],
                   id="f32-by-0d", grad=False),
              Case([INT_DIVIDENDS, INT_DIVISORS], id="i64-signs-and-limits"),
              Case([R(2, 3, dtype=np.int32), np.array(3, np.int64)], id="i32-by-0d-i64"),
              Case([R(3), np.array([1.3, -2.7, 0.45], np.float32)], id="i64-by-f32")]
       for name in ("floor_divide", "remainder", "fmod", "trunc_divide")},
    "tan": [Case([U(2, 3, lo=-1.2, hi=1.2)], id="f32"), Case([R(3, lo=-1, hi=2)], id="i64")],
    "asin": [Case([U(2, 3, lo=-0.9, hi=0.9)], id="f32"),
           Case([I(0, 1, -1)], id="i64", grad=False)],
    "acos": [Case([U(2, 3, lo=-0.9, hi=0.9)], id="f32"),
           Case([I(0, 1, -1)], id="i64", grad=False)],
    "atan": [Case([U(2, 3, lo=-5, hi=5)], id="f32"), Case([R(3)], id="i64")],
    "sinh": [Case([U(2, 3, lo=-3, hi=3)], id="f32"), Case([R(3)], id="i64")],
    "cosh": [Case([U(2, 3, lo=-3, hi=3)], id="f32"), Case([R(3)], id="i64")],
    "asinh": [Case([U(2, 3, lo=-5, hi=5)], id="f32"), Case([R(3)], id="i64")],
    "acosh": [Case([U(2, 3, lo=1.2, hi=5)], id="f32"), Case([I(1, 2, 5)], id="i64", grad=False)],
    "atanh": [Case([U(2, 3, lo=-0.9, hi=0.9)], id="f32"),
            Case([I(0, 1, -1)], id="i64", grad=False)],
    "log2": [Case([U(2, 3, lo=0.1, hi=9)], id="f32"), Case([I(1, 2, 8, 1024)], id="i64")],
    "log10": [Case([U(2, 3, lo=0.1, hi=9)], id="f32"), Case([I(1, 10, 1000)], id="i64")],
    "exp2": [Case([U(2, 3, lo=-5, hi=5)], id="f32"), Case([I(0, 3, -2, 10)], id="i64")],
    "atan2": [Case([U(2, 3), away_from_zero(3)], id="broadcast"),
              Case([np.array([0.0, -0.0, 0.0, -0.0, 1.0], np.float32),
                    np.array([0.0, 0.0, -0.0, -0.0, -np.inf], np.float32)],
                   id="signed-zeros-and-inf", grad=False),
              Case([R(3), R(3, lo=1, hi=4)], id="i64")],
    "hypot": [Case([away_from_zero(2, 3), away_from_zero(3)], id="broadcast"),
              Case([np.array([3e30, np.inf, 0.0], np.float32),
                    np.array([4e30, np.nan, -0.0], np.float32)], id="no-overflow", grad=False)],
    "xlogy": [Case([U(2, 3), U(2, 3, lo=0.2, hi=3)], id="f32"),
              Case([np.array([0.0, 0.0, 2.0, 0.0], np.float32),
                    np.array([0.0, np.nan, 0.0, np.inf], np.float32)], id="zero-x", grad=False),
              Case([I(0, 2, 3), I(0, 4, 1)], id="i64-computes-in-f32")],
})
ORACLES.update({
    "floor": _on_floats(np.vectorize(math.floor, otypes=[np.float64])),
    "ceil": _on_floats(np.vectorize(math.ceil, otypes=[np.float64])),
    "trunc": _on_floats(np.vectorize(math.trunc, otypes=[np.float64])),
    "round": lambda x, decimals=0: x if x.dtype.kind in "iub" else _python_round(x, decimals),
    "frac": lambda x: np.vectorize(lambda v: v - math.trunc(v), otypes=[np.float64])(x),
    "floor_divide": _python_elementwise(lambda a, b: _wrap_i64(a // b) if isinstance(a, int)
                                        else math.floor(a / b)),
    "remainder": _python_elementwise(lambda a, b: a % b),
    "fmod": _python_elementwise(lambda a, b: a - b * _trunc_quotient(a, b) if isinstance(a, int)
                                else math.fmod(a, b)),
    "trunc_divide": _python_elementwise(lambda a, b: _wrap_i64(_trunc_quotient(a, b))
                                        if isinstance(a, int) else math.trunc(a / b)),
    # float64 NumPy (math raises at the poles: atanh(1) is inf)
    "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh,
    "cosh": np.cosh, "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": _quiet(np.arctanh),
    "log2": np.log2, "log10": np.log10,
    "exp2": lambda x: 2.0 ** np.asarray(x, np.float64),
    "atan2": np.vectorize(math.atan2, otypes=[np.float64]),
    "hypot": _quiet(np.vectorize(math.hypot, otypes=[np.float64])),
    "xlogy": np.vectorize(lambda x, y: math.nan if math.isnan(y) else 0.0 if x == 0
                          else -x * math.inf if y == 0 else x * math.log(y),
                          otypes=[np.float64]),
})


# -- fused: a node that runs its body (ir/ops/fused.py) --------------------------------------------
def _fused_oracle(*arrays, body):
    """The body's meaning composed from the primitives' oracles above (not from graphc)."""
    env = {id(v): a for v, a in zip(body.inputs, arrays)}
    for node in body.nodes:
        operands = [env[id(v)] for v in node.inputs]
        env[id(node.output)] = np.asarray(ORACLES[node.op](*operands, **node.attrs))
    results = [env[id(v)] for v in body.outputs]
    return results[0] if len(results) == 1 else tuple(results)


ADD_RELU_BODY = ir.parse("""func @body(%a: f32[2,3], %c: f32[3]) -> (f32[2,3]) {
  %0: f32[2,3] = add %a, %c
  %1: f32[2,3] = relu %0
  return %1
}""")
EXP_MUL_SUM_BODY = ir.parse("""func @body(%a: f32[2,3], %b: f32[2,3]) -> (f32[2]) {
  %0: f32[2,3] = exp %a
  %1: f32[2,3] = mul %0, %b
  %2: f32[2] = sum %1 {axes=[1]}
  return %2
}""")
# Collectives in the test process: a world of one (the communicator ir.ops.collective uses
# until graphc.distributed.init_process_group), where every rank is this one; the values over
# real MPI processes are checked by tests/distributed. (Fixed values: drawing from _rng here
# would change every sample drawn after these.)
_PARTS = np.array([[[0.5, -1.25], [2.0, 0.75]]], np.float32)
SAMPLES.update({
    "all_reduce": [Case([x23], {"reduce": "sum", "world": 1}, id="sum"),
                   Case([_PARTS[0, 0]], {"reduce": "avg", "world": 1}, id="avg"),
                   Case([I(3, -2, 7)], {"reduce": "max", "world": 1}, id="max-int")],
    "all_gather": [Case([x23], {"world": 1})],
    "reduce_scatter": [Case([_PARTS[:, 0]], {"reduce": "sum", "world": 1}, id="sum"),
                       Case([_PARTS], {"reduce": "avg", "world": 1}, id="avg")],
})
ORACLES.update({
    "all_reduce": lambda x, reduce, world: x,
    "all_gather": lambda x, world: x[None],
    "reduce_scatter": lambda x, reduce, world: x[0],
})

SAMPLES["fused"] = [Case([x23, U(3)], {"body": ADD_RELU_BODY}, id="add-relu"),
                    Case([x23, y23], {"body": EXP_MUL_SUM_BODY}, id="exp-mul-sum")]
ORACLES["fused"] = _fused_oracle
NON_DIFFERENTIABLE |= {"fused"}  # autodiff runs before fusion

# -- the small dtypes: u8 i8 i16 f16 bf16 (values kept in range here: wrap-around and rounding
# have their own tests in tests/test_dtypes_small.py) ------------------------------------------
BF16 = dtypes.bf16.numpy
_SMALL_DTYPE_SAMPLES = {
    "neg": [Case([R(5, dtype=np.int8)], id="i8"), Case([R(4, dtype=np.int16)], id="i16")],
    "exp": [Case([U(2, 3, dtype=np.float16)], id="f16", grad=False),
            Case([U(2, 3, dtype=BF16)], id="bf16", grad=False),
            Case([R(4, lo=0, hi=9, dtype=np.uint8)], id="u8-computes-in-f32")],
    "tanh": [Case([U(2, 3, dtype=BF16)], id="bf16", grad=False)],
    "sigmoid": [Case([U(2, 3, lo=-4, hi=4, dtype=np.float16)], id="f16", grad=False)],
    "abs": [Case([R(5, dtype=np.int8)], id="i8")],
    "add": [Case([R(2, 3, lo=0, hi=9, dtype=np.uint8), R(3, dtype=np.int8)], id="u8+i8-is-i16"),
            Case([U(2, 3, dtype=np.float16), U(3, dtype=BF16)], id="f16+bf16-is-f32",
                 grad=False),
            Case([U(2, 3, dtype=BF16), np.array(1.5)], id="bf16+f64-0d-is-bf16", grad=False)],
    "mul": [Case([R(2, 3, lo=-9, hi=9, dtype=np.int8), R(3, lo=-9, hi=9, dtype=np.int8)],
                 id="i8"),
            Case([U(2, 3, dtype=BF16), U(2, 3, dtype=BF16)], id="bf16", grad=False)],
    "div": [Case([R(4, lo=0, hi=200, dtype=np.uint8), R(4, lo=1, hi=9, dtype=np.uint8)],
                 id="u8/u8-is-f32"),
            Case([U(3, dtype=np.float16), U(3, lo=0.5, hi=2.0, dtype=np.float16)], id="f16",
                 grad=False)],
    "maximum": [Case([R(4, dtype=np.int16), np.array([3, 0, 7, 255], np.uint8)], id="i16-u8")],
    "lt": [Case([U(4, dtype=np.float16), U(4, dtype=BF16)], id="f16-vs-bf16")],
    "cast": [Case([np.array([0.0, 1.7, 200.2, 255.0], np.float32)], {"dtype": dtypes.u8},
                  id="f32-to-u8-truncates", grad=False),
             Case([np.array([-1.5, 0.3, 2.7], np.float64)], {"dtype": dtypes.i8},
                  id="f64-to-i8-truncates", grad=False),
             Case([U(2, 3)], {"dtype": dtypes.bf16}, id="f32-to-bf16", grad=False),
             Case([U(2, 3, dtype=np.float16)], {"dtype": dtypes.f32}, id="f16-to-f32",
                  grad=False)],
    "where": [Case([U(3) > 0, U(3, dtype=np.float16), U(3, dtype=np.float16)], id="f16",
                   grad=False)],
    "sum": [Case([U(4, 50, dtype=np.float16)], {"axes": [1]}, id="f16-accumulates-in-f32",
                 grad=False),
            Case([U(3, 40, dtype=BF16)], {"axes": [0, 1]}, id="bf16-accumulates-in-f32",
                 grad=False),
            Case([R(2, 3, lo=0, hi=255, dtype=np.uint8)], {"axes": [0, 1]}, id="u8-sums-to-i64")],
    "max": [Case([U(3, 4, dtype=BF16)], {"axes": [1]}, id="bf16", grad=False)],
    "argmax": [Case([R(3, 4, dtype=np.int8)], {"axis": 1}, id="i8")],
    "matmul": [Case([U(3, 4, dtype=np.float16), U(4, 2, dtype=np.float16)], id="f16",
                    grad=False),
               Case([U(3, 4, dtype=BF16), U(4, 2, dtype=BF16)], id="bf16", grad=False)],
    "transpose": [Case([U(2, 3, dtype=BF16)], {"perm": [1, 0]}, id="bf16", grad=False)],
    "concat": [Case([R(2, lo=0, hi=9, dtype=np.uint8), R(3, dtype=np.int8)], {"axis": 0},
                    id="u8-and-i8-is-i16")],
}
for _name, _cases_of_dtype in _SMALL_DTYPE_SAMPLES.items():
    SAMPLES[_name] = SAMPLES[_name] + _cases_of_dtype


def case_dtypes(name: str, case: Case) -> set:
    """Every dtype a sample's graph holds: its operands', its results' and a cast's target."""
    opdef = ir.get_op(name)
    types = [TensorType(dtypes.from_numpy(np.asarray(a).dtype), np.shape(a)) for a in case.inputs]
    results = opdef.infer_results(types, opdef.check_attrs(case.attrs))
    return {t.dtype for t in types} | {t.dtype for t in results} | {
        v for v in case.attrs.values() if isinstance(v, dtypes.DType)}


OP_NAMES = [op.name for op in ir.all_ops()]


def _as64(a):
    """Floats as float64, and the 8/16-bit integers as int64 (NumPy's exp of uint8 is float16)."""
    dtype = dtypes.from_numpy(a.dtype)
    if dtype.is_float:
        return a.astype(np.float64)
    return a.astype(np.int64) if dtype.is_int and dtype.bits < 32 else a


def _cases(name):
    cases = SAMPLES.get(name)
    assert cases, (f"op {name!r} has no sample inputs: add a list of Case(...) for it to SAMPLES "
                   "in tests/test_registry.py")
    return cases


def _all_cases(keep=lambda name, case: True):
    """(op name, sample index) pairs; an op without samples still yields one (failing) pair."""
    params = []
    for name in OP_NAMES:
        cases = SAMPLES.get(name) or [None]
        params += [pytest.param(name, i, id=f"{name}-{c.id or i}" if c else name)
                   for i, c in enumerate(cases) if c is None or keep(name, c)]
    return params


def _differentiable_at(name, case):
    """Samples for gradient checks: a vjp, some float operand, and no kink within reach."""
    return (ir.get_op(name).vjp is not None and case.grad
            and any(a.dtype.kind == "f" for a in case.inputs))


def test_every_registered_op_has_samples_and_an_oracle():
    missing = [n for n in OP_NAMES if not SAMPLES.get(n) or n not in ORACLES]
    assert not missing, f"ops without sample inputs or an oracle in test_registry.py: {missing}"
    stale = sorted((set(SAMPLES) | set(ORACLES)) - set(OP_NAMES))
    assert not stale, f"test tables name ops that are not registered: {stale}"


# -- (a) type rule vs reference -----------------------------------------------------------------
@pytest.mark.parametrize("name,i", _all_cases())
def test_type_rule_matches_reference_output(name, i):
    opdef = ir.get_op(name)
    case = _cases(name)[i]
    attrs = opdef.check_attrs(case.attrs)
    types = [TensorType(dtypes.from_numpy(a.dtype), a.shape) for a in case.inputs]
    out_type = opdef.infer(types, attrs)

    with quiet_float_errors():
        raw = np.asarray(opdef.reference(*case.inputs, **attrs))
        evaluated = evaluate(opdef, case.inputs, attrs, out_type)
    assert raw.shape == out_type.shape, f"reference shape {raw.shape} vs type rule {out_type}"
    assert raw.dtype == out_type.dtype.numpy, f"reference dtype {raw.dtype} vs type rule {out_type}"

    assert evaluated.shape == out_type.shape and evaluated.dtype == out_type.dtype.numpy

    eager = apply(name, [graphc.tensor(a) for a in case.inputs], **case.attrs)
    assert eager.ir_type == out_type


# -- (b) eager graphc vs the float64 oracle ----------------------------------------------------
@pytest.mark.parametrize("name,i", _all_cases(lambda name, case: name not in RANDOM_OPS))
def test_eager_matches_float64_oracle(name, i):
    """Random ops have no closed form; the test_random_* tests below check them instead."""
    case = _cases(name)[i]
    assert name in ORACLES, f"op {name!r} has no oracle in ORACLES"
    eager = apply(name, [graphc.tensor(a) for a in case.inputs], **case.attrs)
    expected = ORACLES[name](*[_as64(a) for a in case.inputs], **case.attrs)
    expected = np.asarray(expected)
    if eager.dtype.is_float:
        # f16 and bf16 results within their own precision; f32 and f64 within f32's
        tolerance = eager.dtype.name if eager.dtype.is_low_precision_float else "f32"
        assert_close(eager, expected.astype(np.float64), dtype=tolerance)
    else:
        np.testing.assert_array_equal(eager.numpy(), expected)


# -- (c) gradients ---------------------------------------------------------------------------
def _grad_cases(name):
    return [c for c in _cases(name) if _differentiable_at(name, c)]


@pytest.mark.parametrize("name", OP_NAMES)
def test_differentiability_is_as_expected(name):
    opdef = ir.get_op(name)
    if name in NON_DIFFERENTIABLE:
        assert opdef.vjp is None, f"{name} is expected to have no gradient rule"
    else:
        assert opdef.vjp is not None, (f"{name} has no gradient rule; if that is intended add it "
                                       "to NON_DIFFERENTIABLE in tests/test_registry.py")
        assert _grad_cases(name), f"{name} has no sample usable for a gradient check"


@pytest.mark.parametrize("name,i", _all_cases(_differentiable_at))
def test_eager_gradient_matches_finite_differences(name, i):
    case = _cases(name)[i]
    check_grad(lambda *ts: apply(name, list(ts), **case.attrs), case.inputs)


@pytest.mark.parametrize("name,i", _all_cases(_differentiable_at))
def test_symbolic_gradient_equals_eager_gradient(name, i):
    """The one vjp rule, emitted into an IR graph and interpreted, equals eager autograd."""
    opdef = ir.get_op(name)
    case = _cases(name)[i]
    arrays = [_as64(a) for a in case.inputs]
    attrs = opdef.check_attrs(case.attrs)

    tensors = [graphc.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = apply(name, tensors, **case.attrs)
    cotangent = np.random.default_rng(5).uniform(0.5, 1.5, size=out.shape)
    out.backward(graphc.tensor(cotangent))

    graph = ir.Graph("vjp")
    values = [graph.add_input(f"x{k}", TensorType(dtypes.from_numpy(a.dtype), a.shape))
              for k, a in enumerate(arrays)]
    g = graph.add_input("g", out.ir_type)
    result = graph.add_node(name, values, attrs).output
    grads = opdef.vjp(GraphEmitter(graph), values, result, g, attrs)
    assert len(grads) == len(arrays)
    graph.set_outputs([v for v in grads if v is not None])
    ir.verify(graph)
    computed = iter(backends.get("interpreter").compile(graph)(*arrays, cotangent))

    for t, symbolic in zip(tensors, grads):
        if not t.requires_grad:
            assert symbolic is None, "integer and bool operands get no gradient"
            continue
        assert symbolic is not None and symbolic.type == t.ir_type
        assert_close(next(computed), t.grad.numpy(), dtype="f64")


# -- (d) scalar bodies and reduction folds, on special values in every dtype -------------------
# The scalar evaluator computes each primitive in its node's dtype with the same IEEE operations
# (and, for transcendental functions, the same NumPy routines) the references use, so every body
# must agree with its reference bit for bit: NaN positions, signs of zero, integer wrap-around.
# No ulp slack is granted; a body that needs some (a different formula) must say so here.
ELEMENTWISE = [op.name for op in ir.all_ops() if op.kind == "elementwise"]
REDUCTIONS = [op.name for op in ir.all_ops() if op.kind == "reduce"]
BODY_ATTRS = {"cast": [{"dtype": d} for d in dtypes.ALL]}


def special_values(dtype: dtypes.DType) -> np.ndarray:
    """Where scalar code goes wrong (NaN, +-inf, -0.0, denormals, extremes, integer limits) and a
    few random values, as a 1-d array of ``dtype``."""
    rng = np.random.default_rng(99)
    if dtype.is_bool:
        return np.array([False, True])
    if dtype.is_int:
        info = np.iinfo(dtype.numpy)
        fixed = [0, 1, -1, 2, -2, 3, -7, info.min, info.max, info.min + 1, info.max - 1]
        # wrapped around into the narrow types (-1 is 255 in u8, 1000 is -24 in i8)
        return np.array(fixed + list(rng.integers(-1000, 1000, size=5)),
                        np.int64).astype(dtype.numpy)
    info = dtypes.finfo(dtype)
    fixed = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.0, 3.0, 1e-7,
             info.smallest_subnormal, -info.smallest_subnormal, info.tiny, info.max, info.min]
    randoms = rng.uniform(-4, 4, size=4).tolist() + np.exp(rng.uniform(-30, 30, size=3)).tolist()
    return np.array(fixed + randoms, dtype.numpy)


# Values an op's reference rejects, kept out of the walk (operand position -> filter):
# NumPy raises on negative integer exponents, also after a 0-d i64 exponent wraps to i32
# (PyTorch gives 0 or +-1; a separate issue).
# The same after a 0-d exponent converts to a narrower type (u8 255 is i8 -1): integer
# exponents are kept to 0..127.
DOMAINS = {("pow", 1): lambda v, out: v[(v >= 0) & (v <= 127)] if out.is_int else v,
           # integer division by zero raises (test_integer_semantics.py checks that); a 0-d
           # i64 divisor of a narrower tensor is converted to its dtype first, so 2**8, 2**16
           # and -2**63 can be zeros too
           **{(name, 1): lambda v, out: v[(v != 0) & (v.astype(np.int8) != 0)
                                          & (v.astype(np.int16) != 0) & (v.astype(np.int32) != 0)]
              if out.is_int else v
              for name in ("floor_divide", "remainder", "fmod", "trunc_divide")}}


def _result_dtype(name, operand_dtypes, attrs):
    opdef = ir.get_op(name)
    return opdef.infer([TensorType(d, (2,)) for d in operand_dtypes], opdef.check_attrs(attrs)).dtype


def _accepted(name, operand_dtypes, attrs):
    opdef = ir.get_op(name)
    try:
        opdef.infer([TensorType(d, (2,)) for d in operand_dtypes], opdef.check_attrs(attrs))
    except ir.ShapeError:
        return False
    return True


def _body_params(supported=dtypes.ALL):
    """(op, operand dtypes, attrs) for every elementwise op and dtype combination it accepts,
    among the ``supported`` dtypes (a backend's; the others it refuses)."""
    params = []
    for name in ELEMENTWISE:
        arity = ir.get_op(name).arity
        for attrs in BODY_ATTRS.get(name, [{}]):
            if any(isinstance(v, dtypes.DType) and v not in supported for v in attrs.values()):
                continue
            for combo in itertools.product(supported, repeat=arity):
                if _accepted(name, combo, attrs) and _result_dtype(name, combo, attrs) in supported:
                    label = "-".join(d.name for d in combo) + "".join(
                        f"-to-{v}" for v in attrs.values())
                    params.append(pytest.param(name, combo, attrs, id=f"{name}-{label}"))
    return params


def _layouts(columns):
    """Operand arrays to run: a grid of every combination of the operands' values (all operands
    dimensioned), then each operand in turn as a 0-d tensor (which PyTorch promotes
    differently) against the grid of the others."""
    n = len(columns)

    def grid(cols):
        return [c.reshape([-1 if k == i else 1 for k in range(len(cols))])
                for i, c in enumerate(cols)]

    yield grid(columns)
    if n > 1:
        for k in range(n):
            for value in columns[k]:
                arrays = grid(columns[:k] + columns[k + 1:])
                yield arrays[:k] + [np.array(value)] + arrays[k:]


def assert_same_bits(got: np.ndarray, want: np.ndarray, explain) -> None:
    """Equal dtype and values; floats bit for bit (NaN positions and signs of zero too)."""
    assert got.dtype == want.dtype, f"dtype {got.dtype} != {want.dtype}; {explain()}"
    if dtypes.from_numpy(got.dtype).is_float:
        bits = {2: np.uint16, 4: np.uint32, 8: np.uint64}[got.dtype.itemsize]
        same = (np.isnan(got) & np.isnan(want)) | (got.view(bits) == want.view(bits))
    else:
        same = got == want
    if not np.all(same):
        bad = np.argwhere(~same)[:5]
        raise AssertionError(f"{explain()}\n" + "\n".join(
            f"  at {tuple(int(i) for i in p)}: body {got[tuple(p)]!r}, reference "
            f"{want[tuple(p)]!r}" for p in bad))


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_every_elementwise_op_declares_a_typed_scalar_body(name):
    assert callable(ir.get_op(name).scalar), f"{name} declares no scalar body"


@pytest.mark.parametrize("name,operand_dtypes,attrs", _body_params())
def test_scalar_body_equals_reference_bit_for_bit_on_special_values(name, operand_dtypes, attrs):
    opdef = ir.get_op(name)
    attrs = opdef.check_attrs(attrs)
    columns = [special_values(d) for d in operand_dtypes]
    out_dtype = opdef.infer([TensorType(d, (2,)) for d in operand_dtypes], attrs).dtype
    columns = [DOMAINS.get((name, k), lambda v, out: v)(c, out_dtype)
               for k, c in enumerate(columns)]
    for arrays in _layouts(columns):
        types = [TensorType(dtypes.from_numpy(a.dtype), a.shape) for a in arrays]
        out_type = opdef.infer(types, attrs)
        variables, body = opdef.scalar_body(types, attrs)
        assert body.dtype == out_type.dtype, f"body is {body.dtype}, the op gives {out_type}"
        got = S.evaluate(body, {v.value: a for v, a in zip(variables, arrays)})
        with quiet_float_errors():
            want = evaluate(opdef, arrays, attrs, out_type)
        assert_same_bits(np.broadcast_to(got, out_type.shape), want,
                         lambda types=types, body=body:
                         f"{name} on {', '.join(map(str, types))}: body {body}")


def _rows(dtype):
    """2-d test data of ``dtype``: special values in rows (shuffled and in order)."""
    values = special_values(dtype)
    rng = np.random.default_rng(3)
    return np.stack([values, values[::-1]] + [rng.permutation(values) for _ in range(4)])


def _numeric(a: np.ndarray) -> np.ndarray:
    """``a`` as NumPy's testing functions compare it: bfloat16 (which they take for no float,
    so NaN != NaN) as float32, exactly."""
    return a.astype(np.float32) if a.dtype == dtypes.bf16.numpy else a


@pytest.mark.parametrize("name", REDUCTIONS)
def test_every_reduction_declares_how_it_folds(name):
    assert callable(ir.get_op(name).reduction), f"{name} declares no combiner/identity"


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "cumsum", "cumprod"])
@pytest.mark.parametrize("dtype", dtypes.ALL, ids=str)
def test_reduction_identity_is_neutral_for_its_combiner(name, dtype):
    """combine(identity, v) == v for every special value v (zeros up to their sign: the sum of
    [-0.0] is +0.0 in NumPy and PyTorch alike, since both start from +0.0)."""
    fold = ir.get_op(name).reduction(dtype)
    values = special_values(dtype).astype(fold.accumulator.numpy)
    identity = S.evaluate(fold.identity, {})
    assert identity.dtype == fold.accumulator.numpy
    got = S.evaluate(fold.combine, {"acc": identity, "x": values})
    np.testing.assert_array_equal(_numeric(got), _numeric(values))


@pytest.mark.parametrize("name", ["sum", "max", "min"])
@pytest.mark.parametrize("dtype", dtypes.ALL, ids=str)
def test_reduction_fold_matches_reference(name, dtype):
    """A sequential fold with the declared combiner, identity and accumulator equals the
    reference: exactly, except float sums (the reference adds pairwise, so rounding differs:
    dtype tolerance on finite data, and exact on rows whose NaN or inf result is order-free)."""
    opdef = ir.get_op(name)
    fold = opdef.reduction(dtype)
    data = [_rows(dtype)]
    float_sum = name == "sum" and dtype.is_float
    if float_sum:
        finite = np.random.default_rng(4).uniform(-3, 3, size=(4, 9)).astype(dtype.numpy)
        assert_close(S.fold(fold, finite, axes=(1,)), opdef.reference(finite, [1], False),
                     dtype=dtype.name)
        nan, inf = np.nan, np.inf
        data = [np.array([[nan, 1, 2], [inf, 1, -3], [inf, -inf, 1], [-inf, 5, 6]], dtype.numpy)]
    if name == "sum":
        data.append(np.zeros((3, 0), dtype.numpy))  # empty: the identity
    for x in data:
        for axes in ([1], [0, 1]):
            with quiet_float_errors():
                want = opdef.reference(x, axes, False)
            got = S.fold(fold, x, axes=axes)
            assert got.dtype == want.dtype == opdef.infer(
                [TensorType(dtype, x.shape)], {"axes": axes, "keepdim": False}).dtype.numpy
            # zeros compare equal: the sign of max(+0.0, -0.0) depends on the order of the scan
            np.testing.assert_array_equal(_numeric(got), _numeric(want),
                                          err_msg=f"{name} of {x} over {axes}")


SCANS = [op.name for op in ir.all_ops() if op.kind == "scan"]


def _scan_by_declaration(fold, x: np.ndarray) -> np.ndarray:
    """Runs a scan's declared fold along the last axis of ``x`` one element after another,
    keeping every step: what the code generators' scan kernels do."""
    from ir.scalar.reduction import ACC, X
    steps = []
    if isinstance(fold, S.Reduction):
        cast_in = S.cast(S.var(X, dtypes.from_numpy(x.dtype)), fold.accumulator)
        acc = np.broadcast_to(S.evaluate(fold.identity, {}), x.shape[:-1])
        for i in range(x.shape[-1]):
            acc = S.evaluate(fold.combine, {ACC: acc, X: S.evaluate(cast_in, {X: x[..., i]})})
            steps.append(np.asarray(acc).astype(fold.result.numpy))
    else:
        best = np.broadcast_to(S.evaluate(fold.identity, {}), x.shape[:-1])
        index = np.zeros(x.shape[:-1], np.int64)
        for i in range(x.shape[-1]):
            take = S.evaluate(fold.better, {ACC: best, X: x[..., i]})
            best, index = np.where(take, x[..., i], best), np.where(take, i, index)
            steps.append(index)
    return np.stack(steps, axis=-1)


@pytest.mark.parametrize("name", SCANS)
@pytest.mark.parametrize("dtype", dtypes.ALL, ids=str)
def test_scan_fold_declaration_matches_reference_on_special_values(name, dtype):
    """Every step of the declared fold equals the reference bit for bit (cumsum/cumprod
    accumulate sequentially in f64 or i64, so the order is the reference's too)."""
    opdef = ir.get_op(name)
    if name == "logcumsumexp" and not dtype.is_float:
        pytest.skip("logcumsumexp takes floats only (its type rule says so)")
    x = _rows(dtype)
    with quiet_float_errors():
        want = opdef.reference(x, axis=1)
        got = _scan_by_declaration(opdef.reduction(dtype), x)
    assert_same_bits(got, want, lambda: f"{name} of {x}")


def test_integer_sums_accumulate_in_i64_without_wrapping():
    big = np.array([[np.iinfo(np.int32).max] * 3], np.int32)
    expected = 3 * (2**31 - 1)  # beyond i32: an i32 accumulator would wrap around
    assert S.fold(ir.get_op("sum").reduction(dtypes.i32), big, axes=(1,))[0] == expected
    assert int(apply("sum", [graphc.tensor(big)], axes=[1]).numpy()[0]) == expected


@pytest.mark.parametrize("dtype", dtypes.ALL, ids=str)
def test_argmax_fold_picks_the_first_maximum_and_the_first_nan(dtype):
    opdef = ir.get_op("argmax")
    fold = opdef.reduction(dtype)
    rows = [_rows(dtype)]
    if dtype.is_float:
        rows.append(np.array([[1, np.nan, np.nan], [-np.inf, -np.inf, -np.inf], [3, 5, 5],
                              [np.nan, 7, np.nan]], dtype.numpy))
    for x in rows:
        for axis in (0, 1):
            np.testing.assert_array_equal(S.fold_arg(fold, x, axis),
                                          opdef.reference(x, axis, False))


# -- type rules reject ill-typed programs ---------------------------------------------------
F = dtypes.f32
BAD = [
    ("add", [(F, (2, 3)), (F, (4,))], {}, ["[2, 3]", "[4]"]),
    ("matmul", [(F, (2, 3)), (F, (4, 5))], {}, ["3 != 4"]),
    ("matmul", [(F, (3,)), (F, (3, 2))], {}, ["rank"]),
    ("reshape", [(F, (2, 3))], {"shape": [4, 2]}, ["6 elements"]),
    ("transpose", [(F, (2, 3))], {"perm": [0, 0]}, ["permutation"]),
    ("sum", [(F, (2, 3))], {"axes": [2]}, ["out of range"]),
    ("sum", [(F, (2, 3))], {"axes": [1, -1]}, ["repeat"]),
    ("slice", [(F, (4,))], {"starts": [3], "stops": [2], "steps": [1]}, ["start <= stop"]),
    ("concat", [(F, (2, 3)), (F, (3, 3))], {"axis": 1}, ["operand 1"]),
    ("where", [(F, (2,)), (F, (2,)), (F, (2,))], {}, ["bool"]),
    ("gather", [(F, (3, 4)), (F, (3, 4))], {"axis": 0}, ["index must be"]),
    ("scatter_add", [(dtypes.i64, (3,)), (dtypes.i64, (2,)), (F, (2,))], {"axis": 0},
     ["does not fit"]),
    ("random_normal", [(dtypes.i32, ())], {"shape": [2]}, ["seed"]),
    ("broadcast_to", [(F, (3, 2))], {"shape": [3, 3]}, ["[3, 2]", "[3, 3]"]),
    ("fused", [(F, (2, 3)), (F, (2,))], {"body": ADD_RELU_BODY},
     ["operand 1", "f32[2]", "%c", "f32[3]"]),
    ("fused", [(F, (2, 3))], {"body": ADD_RELU_BODY}, ["1 operand", "2 argument"]),
]


@pytest.mark.parametrize("name,operands,attrs,words", BAD, ids=[b[0] for b in BAD])
def test_type_rules_reject_ill_typed_operands_with_a_clear_message(name, operands, attrs, words):
    opdef = ir.get_op(name)
    with pytest.raises(ir.ShapeError) as info:
        opdef.infer([TensorType(d, s) for d, s in operands], opdef.check_attrs(attrs))
    for word in words:
        assert word in str(info.value)


def test_unknown_and_missing_attributes_are_rejected():
    with pytest.raises(ir.ShapeError, match="unknown attribute"):
        ir.get_op("sum").check_attrs({"axes": [0], "keepdims": True})
    with pytest.raises(ir.ShapeError, match="missing attribute 'axes'"):
        ir.get_op("sum").check_attrs({})


# -- (e) random ops ---------------------------------------------------------------------------
N = 100_000


def _draw(op, seed=7, **attrs):
    return apply(op, [graphc.tensor(np.array(seed, np.int64))], shape=[N], **attrs).numpy()


@pytest.mark.parametrize("op", sorted(RANDOM_OPS))
def test_random_same_seed_and_stream_give_the_same_numbers(op):
    np.testing.assert_array_equal(_draw(op, stream=3), _draw(op, stream=3))


@pytest.mark.parametrize("op", sorted(RANDOM_OPS))
def test_random_other_stream_or_seed_gives_other_numbers(op):
    base = _draw(op, stream=0)
    for other in (_draw(op, stream=1), _draw(op, seed=8, stream=0)):
        # independent draws: equal elements only by (float32) coincidence
        assert np.mean(base == other) < 1e-3


@pytest.mark.parametrize("dtype", [dtypes.f32, dtypes.f64])
def test_random_uniform_distribution(dtype):
    low, high = -2.0, 3.0
    u = _draw("random_uniform", dtype=dtype, low=low, high=high)
    assert u.dtype == dtype.numpy
    assert u.min() >= low and u.max() < high
    # mean 0.5 +- 6 standard errors (se = 5/sqrt(12 N) ~ 0.0046); variance 25/12 within 2%
    # (its relative standard error is ~0.3%); each of 10 equal bins holds 10% +- 1%
    # (binomial se ~ 0.1%)
    assert abs(u.mean() - 0.5) < 0.03
    assert abs(u.var() / (25 / 12) - 1) < 0.02
    counts = np.histogram(u, bins=10, range=(low, high))[0] / N
    assert np.all(np.abs(counts - 0.1) < 0.01)


@pytest.mark.parametrize("dtype", [dtypes.f32, dtypes.f64])
def test_random_normal_distribution(dtype):
    z = _draw("random_normal", dtype=dtype, mean=1.5, std=2.0)
    assert z.dtype == dtype.numpy and np.all(np.isfinite(z))
    # mean within 0.05 (se = 2/sqrt(N) ~ 0.0063); variance 4 within 3% (relative se ~ 0.45%);
    # P(|z - mean| < std) = 0.6827 within 0.01 (se ~ 0.0015); tails within 5 sigma exist
    # neither too often nor at all
    assert abs(z.mean() - 1.5) < 0.05
    assert abs(z.var() / 4.0 - 1) < 0.03
    assert abs(np.mean(np.abs(z - 1.5) < 2.0) - math.erf(1 / math.sqrt(2))) < 0.01
    assert abs(np.mean(np.abs(z - 1.5) < 4.0) - math.erf(2 / math.sqrt(2))) < 0.005


def test_random_uniform_never_returns_high_even_for_the_largest_random_word(monkeypatch):
    """[low, high) must hold after rounding to the output dtype, for every possible word."""
    from ir.ops import sources
    monkeypatch.setattr(sources, "random_bits",
                        lambda seed, stream, count: np.full(count, 2**64 - 1, dtype=np.uint64))
    for dtype, low, high in [(dtypes.f32, 0.0, 1.0), (dtypes.f32, -2.0, 3.0),
                             (dtypes.f64, -2.0, 3.0)]:
        u = apply("random_uniform", [graphc.tensor(np.array(1, np.int64))], shape=[4],
                  dtype=dtype, low=low, high=high).numpy()
        assert np.all(u < high) and np.all(u >= low), (dtype, u)
