"""Batching rules: how each registry op runs on a whole batch at once, for :func:`graphc.vmap`.

A *batched* value carries the vmap batch on axis 0 of its tensor; the function being mapped sees
the rest (its *logical* shape). A rule receives the op's operands (tensors), which of them are
batched, the attributes (written for the logical shapes) and the batch size, and returns the
result and whether it is batched. Rules call ordinary tensor ops (:func:`graphc.dispatch.apply`),
so the batched computation is recorded by eager autograd and traced by ``graphc.compile`` like
any other code.

Where a rule comes from, in order:

1. ``RULES[op name]``: a rule written for that op (movement, matmul, index, conv ops);
2. ``KIND_RULES[op kind]``: the default for the op's kind, so a new elementwise op or a new
   reduction with the usual ``axes``/``axis`` attributes is batched with no extra work;
3. otherwise the op runs once per example in a Python loop and the results are stacked, with a
   :class:`VmapFallbackWarning` naming the op (as ``torch.func`` does). ``LOOPED_OPS`` lists the
   registry ops known to take this path; ``tests/test_func_transforms.py`` checks that every
   registry op has a rule or is listed there.

    >>> import graphc
    >>> from graphc.func.batching import batch_op
    >>> x = graphc.tensor([[1.0, 2.0], [3.0, 4.0]])        # batch of 2 vectors
    >>> out, batched = batch_op("sum", [x], [True], {"axes": [0], "keepdim": False}, 2)
    >>> out.tolist(), batched                               # each vector summed on its own
    ([3.0, 7.0], True)
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

from graphc.dispatch import apply
from graphc.tensor import Tensor
from ir import dtypes
from ir.registry import OpDef
from ir.registry import get as get_op
from ir.types import TensorType, normalize_axis

# (op, operands, batched flags, attrs, batch size) -> (result, result is batched)
BatchRule = Callable[[OpDef, list, list, dict, int], tuple[Tensor, bool]]


class VmapFallbackWarning(UserWarning):
    """An op without a batching rule ran once per example inside vmap (correct, but slow)."""


# Ops that have no batching rule and run per example: ``fused`` only appears in graphs after the
# fusion pass, never in traced user code.
# collectives: one per example, the same calls on every rank
LOOPED_OPS = frozenset({"fused", "all_reduce", "all_gather", "reduce_scatter"})


def is_random(name: str) -> bool:
    """Random sources (a seed operand, a ``stream`` and a ``shape``): vmap draws them itself,
    as its ``randomness`` argument says, so a new random op needs no rule."""
    op = get_op(name)
    names = {a.name for a in op.attrs}
    return op.kind == "source" and op.arity == 1 and {"stream", "shape"} <= names


# -- helpers --------------------------------------------------------------------------------------
def logical_type(x: Tensor, batched: bool) -> TensorType:
    """The type the mapped function sees: the tensor's type without the batch axis."""
    return TensorType(x.dtype, x.shape[1:]) if batched else x.ir_type


def reshape(x: Tensor, shape: Sequence[int]) -> Tensor:
    shape = [int(s) for s in shape]
    return x if list(x.shape) == shape else apply("reshape", [x], shape=shape)


def with_batch(x: Tensor, batched: bool, size: int) -> Tensor:
    """``x`` with the batch on axis 0: unbatched values are broadcast along a new axis."""
    if batched:
        return x
    return apply("broadcast_to", [reshape(x, (1, *x.shape))], shape=[size, *x.shape])


def move_axis(x: Tensor, source: int, destination: int) -> Tensor:
    """``x`` with axis ``source`` moved to position ``destination`` (like ``torch.movedim``)."""
    source, destination = normalize_axis(source, x.ndim), normalize_axis(destination, x.ndim)
    if source == destination:
        return x
    perm = [a for a in range(x.ndim) if a != source]
    perm.insert(destination, source)
    return apply("transpose", [x], perm=perm)


def _align(x: Tensor, rank: int) -> Tensor:
    """A batched ``x`` with unit axes inserted after the batch, up to logical rank ``rank``, so
    that NumPy's right-aligned broadcasting never pairs the batch axis with a logical axis."""
    logical = x.shape[1:]
    return reshape(x, (x.shape[0], *([1] * (rank - len(logical))), *logical))


# -- default rules by kind -------------------------------------------------------------------------
def elementwise_rule(op: OpDef, xs: list, batched: list, attrs: dict, size: int):
    """Broadcasting ops: align every batched operand to the result's logical rank.

    PyTorch's type promotion looks at ranks (a 0-d tensor does not promote a dimensioned one),
    and a batched 0-d operand is 1-d physically: such operands are first cast to the dtype the
    logical operands promote to, so the batched op computes in the same dtype as each example.
    """
    logical = [logical_type(x, b) for x, b in zip(xs, batched)]
    rank = max(t.ndim for t in logical)
    common = dtypes.result_type(*((t.dtype, t.ndim) for t in logical))
    operands = []
    for x, b, t in zip(xs, batched, logical):
        if b and t.ndim == 0 and t.dtype != common and t.dtype != dtypes.bool_:
            x = apply("cast", [x], dtype=common)
        operands.append(_align(x, rank) if b else x)
    return apply(op.name, operands, **attrs), True


def _reduce_axes(attrs: dict, logical_rank: int) -> dict:
    """Reduction attributes shifted past the batch axis (``None`` = every logical axis)."""
    shifted = dict(attrs)
    if "axes" in attrs:
        axes = range(logical_rank) if attrs["axes"] is None else attrs["axes"]
        shifted["axes"] = [normalize_axis(a, max(logical_rank, 1)) + 1 for a in axes]
    if "axis" in attrs and attrs["axis"] is not None:
        shifted["axis"] = normalize_axis(attrs["axis"], max(logical_rank, 1)) + 1
    return shifted


def reduce_rule(op: OpDef, xs: list, batched: list, attrs: dict, size: int):
    """Reductions: the axes move one place right; a reduction over everything (``axis=None``,
    e.g. argmax of the flattened tensor) reduces each example's flattened values. It suits any
    one-operand op whose ``axes``/``axis`` attributes name the axes it works along (a scan or a
    sort along an axis too: register it in ``RULES`` or ``KIND_RULES``)."""
    (x,) = xs
    out_type = op.infer([logical_type(x, True)], attrs)
    if "axis" in attrs and attrs["axis"] is None:
        flat = reshape(x, (size, math.prod(x.shape[1:])))
        flat_attrs = {**attrs, "axis": 1, **({"keepdim": False} if "keepdim" in attrs else {})}
        out = apply(op.name, [flat], **flat_attrs)
    else:
        if x.ndim == 1:  # a batch of 0-d values: reduce a unit axis
            x = reshape(x, (size, 1))
            attrs = {**attrs, **({"axes": None} if "axes" in attrs else {"axis": 0})}
        out = apply(op.name, [x], **_reduce_axes(attrs, x.ndim - 1))
    return reshape(out, (size, *out_type.shape)), True


# scans and sorts work along one axis of one operand, as reductions do
KIND_RULES: dict[str, BatchRule] = {"elementwise": elementwise_rule, "reduce": reduce_rule,
                                    "scan": reduce_rule, "sort": reduce_rule}


# -- rules per op ------------------------------------------------------------------------------
def _out_shape(op: OpDef, xs: list, batched: list, attrs: dict) -> tuple:
    return op.infer([logical_type(x, b) for x, b in zip(xs, batched)], attrs).shape


def _reshape_rule(op, xs, batched, attrs, size):
    return reshape(xs[0], (size, *_out_shape(op, xs, batched, attrs))), True


def _transpose_rule(op, xs, batched, attrs, size):
    rank = xs[0].ndim - 1
    perm = [0] + [normalize_axis(p, rank) + 1 for p in attrs["perm"]]
    return apply("transpose", xs, perm=perm), True


def _broadcast_to_rule(op, xs, batched, attrs, size):
    shape = list(attrs["shape"])
    return apply("broadcast_to", [_align(xs[0], len(shape))], shape=[size, *shape]), True


def _slice_rule(op, xs, batched, attrs, size):
    return apply("slice", xs, starts=[0, *attrs["starts"]], stops=[size, *attrs["stops"]],
                 steps=[1, *attrs["steps"]]), True


def _pad_rule(op, xs, batched, attrs, size):
    return apply("pad", xs, pads=[[0, 0, 0], *attrs["pads"]], value=attrs["value"]), True


def _concat_rule(op, xs, batched, attrs, size):
    axis = normalize_axis(attrs["axis"], logical_type(xs[0], batched[0]).ndim) + 1
    parts = [with_batch(x, b, size) for x, b in zip(xs, batched)]
    return apply("concat", parts, axis=axis), True


def _matmul_rule(op, xs, batched, attrs, size):
    """``[..., m, k] @ [..., k, n]``: vectors become matrices, then the batched operands get
    unit batch axes so that both operands' logical batch axes line up right-aligned."""
    a, b = xs
    la, lb = logical_type(a, batched[0]), logical_type(b, batched[1])
    out_shape = _out_shape(op, xs, batched, attrs)

    def as_matrix(x, is_batched, t, axis):  # a vector [k] becomes [1, k] (axis -2) or [k, 1]
        if t.ndim != 1:
            return x
        lead = (x.shape[0],) if is_batched else ()
        return reshape(x, (*lead, 1, t.shape[0]) if axis == -2 else (*lead, t.shape[0], 1))

    a = as_matrix(a, batched[0], la, -2)
    b = as_matrix(b, batched[1], lb, -1)
    rank = max(la.ndim, lb.ndim, 2)
    a = _align(a, rank) if batched[0] else a
    b = _align(b, rank) if batched[1] else b
    return reshape(apply("matmul", [a, b]), (size, *out_shape)), True


def _index_rule(op, xs, batched, attrs, size):
    """gather and the scatters pair each position with an index of the same rank: every operand
    gets the batch axis and the axis moves one place right."""
    rank = logical_type(xs[0], batched[0]).ndim
    parts = [with_batch(x, b, size) for x, b in zip(xs, batched)]
    return apply(op.name, parts, **{**attrs, "axis": normalize_axis(attrs["axis"], rank) + 1}), True


def _fold(x: Tensor) -> Tensor:
    """[B, N, ...] -> [B * N, ...]"""
    return reshape(x, (x.shape[0] * x.shape[1], *x.shape[2:]))


def _as_groups(x: Tensor) -> Tensor:
    """[B, N, C, ...] -> [N, B * C, ...]: the batch becomes extra channel groups."""
    x = move_axis(x, 0, 1)
    return reshape(x, (x.shape[0], x.shape[1] * x.shape[2], *x.shape[3:]))


def _from_groups(x: Tensor, size: int) -> Tensor:
    """[N, B * C, ...] -> [B, N, C, ...]"""
    x = reshape(x, (x.shape[0], size, x.shape[1] // size, *x.shape[2:]))
    return move_axis(x, 1, 0)


def _conv_attrs(attrs: dict, size: int) -> dict:
    return {**attrs, "groups": attrs["groups"] * size}


def _conv2d_rule(op, xs, batched, attrs, size):
    """Images only: the batch folds into N. A batched weight: each example's filters become
    channel groups of one convolution (``groups * B``), the usual per-example trick."""
    x, w = xs
    if not batched[1]:
        out = apply("conv2d", [_fold(x), w], **attrs)
        return reshape(out, (size, x.shape[1], *out.shape[1:])), True
    x = with_batch(x, batched[0], size)
    out = apply("conv2d", [_as_groups(x), _fold(w)], **_conv_attrs(attrs, size))
    return _from_groups(out, size), True


def _conv2d_input_grad_rule(op, xs, batched, attrs, size):
    g, w = xs
    n, c, h, wd = attrs["input_shape"]
    if not batched[1]:
        out = apply(op.name, [_fold(g), w], **{**attrs, "input_shape": [size * n, c, h, wd]})
        return reshape(out, (size, n, c, h, wd)), True
    g = with_batch(g, batched[0], size)
    out = apply(op.name, [_as_groups(g), _fold(w)],
                **{**_conv_attrs(attrs, size), "input_shape": [n, size * c, h, wd]})
    return _from_groups(out, size), True


def _conv2d_weight_grad_rule(op, xs, batched, attrs, size):
    """Per-example weight gradients: examples become channel groups, so the sum over N stays
    within each example and the result is ``[B * O, C / groups, kh, kw]``."""
    x, g = (with_batch(t, b, size) for t, b in zip(xs, batched))
    o, *rest = attrs["weight_shape"]
    out = apply(op.name, [_as_groups(x), _as_groups(g)],
                **{**_conv_attrs(attrs, size), "weight_shape": [size * o, *rest]})
    return reshape(out, (size, o, *rest)), True


def _pool_rule(op, xs, batched, attrs, size):
    (x,) = xs
    out = apply(op.name, [_fold(x)], **attrs)
    return reshape(out, (size, x.shape[1], *out.shape[1:])), True


RULES: dict[str, BatchRule] = {
    "reshape": _reshape_rule,
    "transpose": _transpose_rule,
    "broadcast_to": _broadcast_to_rule,
    "slice": _slice_rule,
    "pad": _pad_rule,
    "concat": _concat_rule,
    "matmul": _matmul_rule,
    "gather": _index_rule,
    "scatter_add": _index_rule,
    "scatter": _index_rule,
    "scatter_reduce": _index_rule,
    "conv2d": _conv2d_rule,
    "conv2d_input_grad": _conv2d_input_grad_rule,
    "conv2d_weight_grad": _conv2d_weight_grad_rule,
    "max_pool2d_indices": _pool_rule,
}


def rule_for(op: OpDef) -> BatchRule | None:
    """The batching rule of ``op``: its own, else its kind's default; None: it runs per example."""
    return RULES.get(op.name) or KIND_RULES.get(op.kind)


def has_rule(name: str) -> bool:
    """Whether vmap batches op ``name`` in one call (random ops: by vmap's ``randomness``)."""
    return get_op(name).kind == "source" or rule_for(get_op(name)) is not None


def _example(x: Tensor, index: int) -> Tensor:
    """Example ``index`` of a batched tensor (its batch axis dropped)."""
    part = apply("slice", [x], starts=[index] + [0] * (x.ndim - 1),
                 stops=[index + 1, *x.shape[1:]], steps=[1] * x.ndim)
    return reshape(part, x.shape[1:])


def loop_rule(op: OpDef, xs: list, batched: list, attrs: dict, size: int):
    """The fallback: run the op once per example and stack the results."""
    warnings.warn(f"vmap: op '{op.name}' has no batching rule, so it runs once per example in a "
                  "Python loop (add one to graphc/func/batching.py)", VmapFallbackWarning,
                  stacklevel=4)
    results = []
    for i in range(size):
        out = apply(op.name, [_example(x, i) if b else x for x, b in zip(xs, batched)], **attrs)
        results.append(reshape(out, (1, *out.shape)))
    return apply("concat", results, axis=0), True


def batch_op(name: str, xs: Sequence[Tensor], batched: Sequence[bool], attrs: dict,
             size: int) -> tuple[Tensor, bool]:
    """Applies op ``name`` to operands of which ``batched`` ones carry the batch on axis 0;
    returns the result and whether it is batched."""
    op = get_op(name)
    attrs = op.check_attrs(attrs)
    xs, batched = list(xs), list(batched)
    if not any(batched):
        return apply(name, xs, **attrs), False
    rule = rule_for(op) or loop_rule
    return rule(op, xs, batched, attrs, size)
