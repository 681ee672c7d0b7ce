"""Scans: an inclusive running fold along one axis (``cumsum cumprod logcumsumexp``) and the
running arg-extremum (``cummax_indices cummin_indices``).

``scan(x) {axis, reverse}``: ``out[..., j, ...] = fold(x[..., 0..j, ...])`` along ``axis``
(``reverse``: from the end, ``fold(x[..., j..n-1, ...])``; gradients of scans are reverse
scans). The result has the input's shape. As in PyTorch:

- ``cumsum``/``cumprod`` of bools and integers give i64; floats keep their dtype but
  accumulate in PyTorch's CPU accumulate type (f64 for f32, f32 for f16/bf16), rounded once
  per element;
- ``logcumsumexp`` takes floats only and adds in log space (``np.logaddexp``: stable, -inf is
  its identity);
- ``cummax_indices``/``cummin_indices`` give the i64 index of the max/min so far: the *last*
  index among ties, and a NaN wins over everything (each new NaN takes over). The values are
  ``gather(x, indices)`` in the front end, so their gradient is the scatter to the indices.

The gradients: ``cumsum``: a reverse cumsum; ``cumprod``: exact with zeros in the input (not
``out / x``), see :func:`_cumprod_vjp`; ``logcumsumexp``: ``exp(x - out)`` weights, computed
in log space per sign of the cotangent.
"""
from __future__ import annotations

import numpy as np

from ir import dtypes
from ir import scalar as S
from ir.errors import DTypeError, ShapeError
from ir.registry import Attr, OpDef, register
from ir.types import normalize_axis

SCAN_ATTRS = (Attr("axis", "int"), Attr("reverse", "bool", False, required=False))


def _check_axis(op, x, axis):
    if x.ndim == 0:
        raise ShapeError(f"{op}: the IR scans along an existing axis; got a 0-d operand {x}")
    return normalize_axis(axis, x.ndim)


def _accumulated_type(op):
    """cumsum/cumprod: floats keep their dtype, bools and integers give i64 (as PyTorch)."""
    def rule(types, attrs):
        (x,) = types
        _check_axis(op, x, attrs["axis"])
        return x if x.dtype.is_float else x.with_dtype(dtypes.i64)
    return rule


def _float_type(op):
    def rule(types, attrs):
        (x,) = types
        _check_axis(op, x, attrs["axis"])
        if not x.dtype.is_float:
            raise DTypeError(f"{op}: expected a floating-point input, got {x.dtype} "
                             f"(cast it first, e.g. x.float())")
        return x
    return rule


def _index_type(op):
    def rule(types, attrs):
        (x,) = types
        _check_axis(op, x, attrs["axis"])
        return x.with_dtype(dtypes.i64)
    return rule


def _along(fn, gives_indices=False):
    """A reference ``fn(x, axis) -> same shape``, made to honour ``reverse`` (flip, scan, flip;
    an index ``j`` of the flipped axis is ``n - 1 - j`` of the input's)."""
    def ref(x, axis, reverse=False):
        axis = normalize_axis(axis, x.ndim)
        if not reverse:
            return fn(x, axis)
        out = np.flip(fn(np.flip(x, axis), axis), axis)
        return x.shape[axis] - 1 - out if gives_indices else out
    return ref


def _accumulate(ufunc):
    def fn(x, axis):
        dtype = dtypes.from_numpy(x.dtype)  # (bfloat16's NumPy kind is "V", not "f")
        out = dtype.numpy if dtype.is_float else dtypes.i64.numpy
        acc = _running_dtype(dtype).numpy
        running = ufunc.accumulate(x.astype(acc), axis=axis)
        if ufunc is not np.multiply and dtype.is_float:
            # PyTorch folds from its identity (+0.0, -inf), so a leading -0.0 gives +0.0;
            # NumPy starts from the first element (-0.0 is the only result this changes)
            running = running + 0.0
        return running.astype(out)
    return fn


def _running_arg_extremum(wins):
    """The index of the running extremum: ``wins(current, best)`` says the current element takes
    over (ties included, so the last index among ties is kept); a NaN always takes over, and
    nothing but a NaN replaces a NaN."""
    def fn(x, axis):
        moved = np.moveaxis(x, axis, -1)
        index = np.zeros(moved.shape, np.int64)
        if moved.shape[-1]:
            best, best_at = moved[..., 0], np.zeros(moved.shape[:-1], np.int64)
            for j in range(moved.shape[-1]):
                current = moved[..., j]
                take = wins(current, best)
                if dtypes.from_numpy(moved.dtype).is_float:
                    take = (take & ~np.isnan(best)) | np.isnan(current)
                best, best_at = np.where(take, current, best), np.where(take, j, best_at)
                index[..., j] = best_at
        return np.moveaxis(index, -1, axis)
    return fn


# -- folds: what a code generator carries along the axis ----------------------------------------
def _running_dtype(dtype):
    """The accumulator, PyTorch's CPU accumulate type: f64 for f32/f64, f32 for f16/bf16, i64
    for the rest."""
    if dtype.is_float:
        return dtypes.f32 if dtype.is_low_precision_float else dtypes.f64
    return dtypes.i64


def _result_dtype(dtype):
    return dtype if dtype.is_float else dtypes.i64


def _sum_fold(dtype):
    return S.Reduction.of(_running_dtype(dtype), 0, S.add, result=_result_dtype(dtype))


def _product_fold(dtype):
    return S.Reduction.of(_running_dtype(dtype), 1, S.mul, result=_result_dtype(dtype))


def log_add_exp(acc, x):
    """``log(exp(acc) + exp(x))`` as NumPy's ``logaddexp`` and PyTorch's helper: the larger
    plus ``log1p`` of the exp of the difference, except for two equal infinities (their
    difference is NaN), which are the result themselves; NaN propagates."""
    hi, lo = S.maximum(acc, x), S.minimum(acc, x)
    same_infinity = S.logical_and(S.eq(lo, hi), S.eq(S.abs_(lo), S.const(np.inf, acc.dtype)))
    return S.select(same_infinity, hi, S.add(hi, S.log1p(S.exp(S.sub(lo, hi)))))


def _log_add_exp_fold(dtype):
    return S.Reduction.of(dtypes.f64, -np.inf, log_add_exp, result=dtype)


def _running_arg_fold(op: str):
    """The running arg-extremum: the current element takes over on ``>=`` (``<=``), so the
    last of equal extrema is kept; a NaN takes over from anything, only a NaN from a NaN."""
    wins, start = (S.ge, S.lowest) if op == "cummax_indices" else (S.le, S.highest)

    def fold(dtype):
        def better(best, x):
            if not dtype.is_float:
                return wins(x, best)
            return S.logical_or(S.logical_and(wins(x, best), S.eq(best, best)), S.ne(x, x))
        return S.ArgReduction.of(dtype, start(dtype), better,
                                 rule="the last index of the extremum so far; NaN takes over")
    return fold


# -- gradients -------------------------------------------------------------------------------
def _cumsum_vjp(em, xs, out, g, attrs):
    return [em.cumsum(g, axis=attrs["axis"], reverse=not attrs["reverse"])]


def _shift(em, x, axis, fill, toward_end):
    """``x`` moved one place along ``axis`` (toward the end or the start), ``fill`` coming in:
    turns an inclusive scan into an exclusive one."""
    shape = em.shape(x)
    n = len(shape)
    pads = [[0, 0, 0] for _ in range(n)]
    pads[axis] = [1, 0, 0] if toward_end else [0, 1, 0]
    padded = em.pad(x, pads=pads, value=fill)
    starts = [0] * n
    stops = list(shape)
    if not toward_end:
        starts[axis], stops[axis] = 1, shape[axis] + 1
    return em.slice(padded, starts=starts, stops=stops, steps=[1] * n)


def exclusive_cumprod(em, x, axis: int, reverse: bool):
    """The product of the elements strictly before each one along ``axis`` (after it, with
    ``reverse``): 1 at the first. ``prod``'s gradient is the forward one times the reverse one."""
    running = em.cumprod(x, axis=axis, reverse=reverse)
    return _shift(em, running, axis, 1.0, toward_end=not reverse)


def _cumprod_vjp(em, xs, out, g, attrs):
    """d out_k / d x_i = prod_{j <= k, j != i} x_j for k >= i. With ``x_i != 0`` that is
    ``out_k / x_i``, so before the first zero the gradient is ``revcumsum(g * out) / x``;
    after the first zero every such product contains that zero: 0. At the first zero ``z``
    it is ``prod_{j<z} x_j * sum_{k>=z} g_k prod_{z<j<=k} x_j``: two more scans with the
    elements outside each product replaced by 1 (PyTorch's cumprod_backward, in scans).

    Differentiated again, the zeros after ``z`` are wrong: their derivative along ``x_z`` is
    not 0. There the exact form is ``x_z * R_i`` with ``R`` this gradient for ``x`` with its
    first zero replaced by 1: its value is 0, its derivative along ``x_z`` is ``R_i`` and along
    any other ``x_m`` it is ``x_z * dR_i/dx_m = 0``. Hessians are exact; ``R``'s own zeros make
    third derivatives at two zeros inexact."""
    (x,) = xs
    axis, reverse = normalize_axis(attrs["axis"], len(em.shape(x))), attrs["reverse"]
    grad, first_zero, after = _cumprod_grad(em, x, out, g, axis, reverse)
    if not em.differentiated_again():
        return [grad]
    one, zero = em.scalar(1, x), em.scalar(0, x)
    first_zero_replaced = em.where(first_zero, one, x)
    rest, _, _ = _cumprod_grad(em, first_zero_replaced,
                               em.cumprod(first_zero_replaced, axis=axis, reverse=reverse),
                               g, axis, reverse)
    zero_carried = em.cumsum(em.where(first_zero, x, zero), axis=axis, reverse=reverse)  # x_z
    return [em.where(after, em.mul(zero_carried, rest), grad)]


def _cumprod_grad(em, x, out, g, axis: int, reverse: bool):
    """:func:`_cumprod_vjp`'s value, and the masks of the first zero and of what follows it."""
    one, zero = em.scalar(1, x), em.scalar(0, x)
    is_zero = em.eq(x, zero)
    zeros_so_far = em.cumsum(is_zero, axis=axis, reverse=reverse)
    before = em.eq(zeros_so_far, em.constant(0, dtypes.i64))
    first_zero = em.bitwise_and(is_zero, em.eq(zeros_so_far, em.constant(1, dtypes.i64)))
    # past the first zero (the first zero itself excluded: it implies "some zero so far")
    after = em.bitwise_xor(em.gt(zeros_so_far, em.constant(0, dtypes.i64)), first_zero)
    nonzero_x = em.where(before, x, one)
    before_grad = em.div(em.cumsum(em.mul(g, out), axis=axis, reverse=not reverse), nonzero_x)
    prefix = em.cumprod(nonzero_x, axis=axis, reverse=reverse)  # prod_{j<z} x_j at z
    tail = em.cumprod(em.where(after, x, one), axis=axis, reverse=reverse)
    at_zero = em.mul(prefix, em.cumsum(em.mul(g, tail), axis=axis, reverse=not reverse))
    grad = em.where(before, before_grad, em.where(first_zero, at_zero, zero))
    return grad, first_zero, after


def _logcumsumexp_vjp(em, xs, out, g, attrs):
    """grad_i = sum_{k >= i} g_k exp(x_i - out_k), summed in log space separately for the
    positive and the negative part of ``g`` (PyTorch's stable form): no exp overflows.

    An empty part's log is half the dtype's lowest finite number, not -inf (log 0): -inf - (-inf)
    would be NaN in this rule's own derivative (a Hessian), and ``log`` only ever sees
    positive numbers, so no 0 * inf appears when the rule is differentiated again. A NaN in
    ``g`` reaches every gradient it feeds (the sign split alone would drop it)."""
    (x,) = xs
    axis, reverse = attrs["axis"], attrs["reverse"]
    zero, one = em.scalar(0, g), em.scalar(1, g)
    # (half of it: lowest - out must stay finite in float16 too)
    empty = em.scalar(float(dtypes.finfo(em.dtype(g)).min) / 2, g)

    def part(selected, weights):  # exp(x_i + log sum_{k>=i} w_k exp(-out_k)), w > 0 where selected
        log_weights = em.where(selected, em.log(em.where(selected, weights, one)), empty)
        log_terms = em.sub(log_weights, out)
        return em.exp(em.add(x, em.logcumsumexp(log_terms, axis=axis, reverse=not reverse)))

    grad = em.sub(part(em.gt(g, zero), g), part(em.lt(g, zero), em.neg(g)))
    nan_in_g = em.cumsum(em.where(em.ne(g, g), g, zero), axis=axis, reverse=not reverse)
    return [em.add(grad, nan_in_g)]


register(OpDef("cumsum", "scan", 1, _accumulated_type("cumsum"), _along(_accumulate(np.add)),
               attrs=SCAN_ATTRS, vjp=_cumsum_vjp, needs_values=False, reduction=_sum_fold))
register(OpDef("cumprod", "scan", 1, _accumulated_type("cumprod"),
               _along(_accumulate(np.multiply)), attrs=SCAN_ATTRS, vjp=_cumprod_vjp,
               needs_output=True, reduction=_product_fold))
register(OpDef("logcumsumexp", "scan", 1, _float_type("logcumsumexp"),
               _along(_accumulate(np.logaddexp)), attrs=SCAN_ATTRS, vjp=_logcumsumexp_vjp,
               needs_output=True, reduction=_log_add_exp_fold))
register(OpDef("cummax_indices", "scan", 1, _index_type("cummax_indices"),
               _along(_running_arg_extremum(lambda cur, best: cur >= best), True), attrs=SCAN_ATTRS,
               reduction=_running_arg_fold("cummax_indices")))
register(OpDef("cummin_indices", "scan", 1, _index_type("cummin_indices"),
               _along(_running_arg_extremum(lambda cur, best: cur <= best), True), attrs=SCAN_ATTRS,
               reduction=_running_arg_fold("cummin_indices")))
