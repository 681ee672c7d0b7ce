"""What a reduction op folds with: combiner, identity and accumulator dtype, and a reference fold.

A :class:`Reduction` says ``acc = combine(acc, cast(x, accumulator))`` over the reduced
elements, starting from ``identity``, then ``cast(acc, result)``. The combiner is associative
and commutative up to rounding, so backends may fold in any order (PyTorch sums float32 on CPU
pairwise, in float32); an empty reduction gives the identity. An :class:`ArgReduction`
(argmax) keeps the best value and its index, and moves to element ``i`` when
``better(acc, x)`` holds; its ``rule`` says in words what that means for ties and NaN.

    >>> import numpy as np
    >>> from ir.dtypes import f32
    >>> from ir.scalar import expr as S
    >>> total = Reduction.of(f32, 0.0, S.add)
    >>> print(total.combine, "from", total.identity)
    add(acc, x) from 0.0:f32
    >>> fold(total, np.array([[1.0, 2.5], [np.nan, 1.0]], np.float32), axes=(1,))
    array([3.5, nan], dtype=float32)
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ir.dtypes import DType, from_numpy
from ir.scalar import expr as S
from ir.scalar.evaluate import evaluate

ACC = "acc"  # the names of the combiner's two variables
X = "x"


@dataclass(frozen=True)
class Reduction:
    """``acc = combine(acc, cast(x, accumulator))`` from ``identity``; the result is cast to
    ``result``. ``combine`` is an expression over the variables ``acc`` and ``x``."""

    accumulator: DType
    identity: S.ScalarExpr
    combine: S.ScalarExpr
    result: DType
    order: str = "any"  # "pairwise" where the reference sums in that order (floats)

    @staticmethod
    def of(accumulator: DType, identity: S.ScalarExpr | float,
           combine: Callable[[S.ScalarExpr, S.ScalarExpr], S.ScalarExpr],
           result: DType | None = None, order: str = "any") -> Reduction:
        """Builds the combiner by calling ``combine(acc, x)`` on the two variables."""
        if not isinstance(identity, S.ScalarExpr):
            identity = S.const(identity, accumulator)
        body = combine(S.var(ACC, accumulator), S.var(X, accumulator))
        return Reduction(accumulator, identity, body, result or accumulator, order)


@dataclass(frozen=True)
class ArgReduction:
    """The index of the best element along one axis: move to ``x`` when ``better`` (a bool
    expression over ``acc`` and ``x``) holds, starting from ``identity`` at index 0."""

    value: DType
    identity: S.ScalarExpr
    better: S.ScalarExpr
    rule: str

    @staticmethod
    def of(value: DType, identity: S.ScalarExpr,
           better: Callable[[S.ScalarExpr, S.ScalarExpr], S.ScalarExpr],
           rule: str) -> ArgReduction:
        return ArgReduction(value, identity, better(S.var(ACC, value), S.var(X, value)), rule)


def _to_last(x: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """``x`` with ``axes`` moved to the end and flattened into one."""
    axes = tuple(a % x.ndim for a in axes)
    kept = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, kept + list(axes))
    return moved.reshape(moved.shape[:len(kept)] + (-1,))


def fold(reduction: Reduction, x: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """Reduces ``x`` over ``axes`` one element after another (keepdim false): the oracle of a
    reduction's declaration."""
    rows = _to_last(x, axes)
    cast_in = S.cast(S.var(X, from_numpy(x.dtype)), reduction.accumulator)
    acc = np.broadcast_to(evaluate(reduction.identity, {}), rows.shape[:-1])
    for i in range(rows.shape[-1]):
        element = evaluate(cast_in, {X: rows[..., i]})
        acc = evaluate(reduction.combine, {ACC: acc, X: element})
    return np.asarray(acc).astype(reduction.result.numpy)


def fold_arg(reduction: ArgReduction, x: np.ndarray, axis: int) -> np.ndarray:
    """The index chosen along ``axis`` (keepdim false), scanning elements in order."""
    rows = _to_last(x, (axis,))
    best = np.broadcast_to(evaluate(reduction.identity, {}), rows.shape[:-1])
    index = np.zeros(rows.shape[:-1], np.int64)
    for i in range(rows.shape[-1]):
        element = rows[..., i]
        take = evaluate(reduction.better, {ACC: best, X: element})
        best = np.where(take, element, best)
        index = np.where(take, i, index)
    return index
