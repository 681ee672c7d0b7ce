"""More loss functions of ``torch.nn.functional`` (re-exported there), PyTorch's formulas:
``cosine_embedding_loss margin_ranking_loss hinge_embedding_loss soft_margin_loss
multilabel_soft_margin_loss multi_margin_loss multilabel_margin_loss triplet_margin_loss
poisson_nll_loss gaussian_nll_loss``.

Each is a composite of graphc ops, so it differentiates and traces; ``reduction`` is
``'none'``, ``'mean'`` or ``'sum'`` (and the deprecated ``size_average``/``reduce`` flags are
honoured where PyTorch has them).

    >>> import graphc
    >>> from graphc.nn.losses_more import margin_ranking_loss
    >>> x1, x2 = graphc.tensor([1.0, 2.0]), graphc.tensor([2.0, 0.0])
    >>> margin_ranking_loss(x1, x2, graphc.tensor([1.0, 1.0]), reduction="none").tolist()
    [1.0, 0.0]
"""
from __future__ import annotations

import math
from typing import Optional

import graphc.functions as G
from graphc import factories, tracing
from graphc.amp.autocast_mode import autocast_op
from graphc.errors import ArgumentError
from graphc.nn.distance import pairwise_distance
from graphc.nn.losses import _legacy_reduction, _reduce
from graphc.tensor import Tensor


def _same_shape(a: Tensor, b: Tensor, who: str, what: str = "input and target") -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{who}: {what} must have the same shape, got {list(a.shape)} and "
                         f"{list(b.shape)}")


@autocast_op("cosine_embedding_loss")
def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """``1 - cos(x1, x2)`` where target is 1, ``max(0, cos(x1, x2) - margin)`` where it is -1;
    the cosine over the last dim with PyTorch's 1e-12 added to each squared norm."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if input1.ndim not in (1, 2) or tuple(input1.shape) != tuple(input2.shape):
        raise RuntimeError(f"cosine_embedding_loss: expected 1D or 2D inputs of one shape, got "
                           f"{list(input1.shape)} and {list(input2.shape)}")
    if target.ndim != input1.ndim - 1:
        raise RuntimeError(f"cosine_embedding_loss: {input1.ndim}D inputs need a "
                           f"{input1.ndim - 1}D target, got shape {list(target.shape)}")
    dim = input1.ndim - 1
    dot = G.sum(G.mul(input1, input2), dim)
    square1 = G.add(G.sum(G.mul(input1, input1), dim), 1e-12)
    square2 = G.add(G.sum(G.mul(input2, input2), dim), 1e-12)
    cos = G.div(dot, G.sqrt(G.mul(square1, square2)))
    zero = G.scalar_like(0.0, cos)
    positive = G.where(G.eq(target, 1), G.sub(1.0, cos), zero)
    negative = G.where(G.eq(target, -1), G.clamp(G.sub(cos, float(margin)), min=0.0), zero)
    return _reduce(G.add(positive, negative), reduction)


@autocast_op("margin_ranking_loss")
def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """``max(0, -target * (x1 - x2) + margin)``."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if not (input1.ndim == input2.ndim == target.ndim):
        raise RuntimeError(f"margin_ranking_loss: All input tensors should have same dimension "
                           f"but got sizes: input1: {list(input1.shape)}, input2: "
                           f"{list(input2.shape)}, target: {list(target.shape)}")
    loss = G.add(G.mul(G.neg(target), G.sub(input1, input2)), float(margin))
    return _reduce(G.clamp(loss, min=0.0), reduction)


@autocast_op("hinge_embedding_loss")
def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """``x`` where target is 1, ``max(0, margin - x)`` where it is -1 (PyTorch's formula,
    which adds both terms for other target values)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    zero = G.scalar_like(0.0, input)
    below_margin = G.where(G.ne(target, 1), G.clamp(G.sub(float(margin), input), min=0.0), zero)
    itself = G.where(G.ne(target, -1), input, zero)
    return _reduce(G.add(below_margin, itself), reduction)


@autocast_op("soft_margin_loss")
def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """``log(1 + exp(-target * input))``, computed without overflow."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _same_shape(input, target, "soft_margin_loss")
    return _reduce(G.log1p_exp(G.neg(G.mul(input, target))), reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                                size_average=None, reduce=None,
                                reduction: str = "mean") -> Tensor:
    """Per sample, the mean over classes of ``-(y log sigmoid(x) + (1 - y) log sigmoid(-x))``
    (times ``weight``), then ``reduction`` over the samples."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _same_shape(input, target, "multilabel_soft_margin_loss")
    # log sigmoid(x) = -softplus(-x), log sigmoid(-x) = -softplus(x)
    loss = G.add(G.mul(target, G.log1p_exp(G.neg(input))),
                 G.mul(G.sub(1.0, target), G.log1p_exp(input)))
    if weight is not None:
        loss = G.mul(loss, weight)
    classes = input.shape[-1] if input.ndim else 1
    return _reduce(G.div(G.sum(loss, -1 if input.ndim else None), float(classes)), reduction)


def _check_class_target(input: Tensor, target: Tensor, who: str) -> None:
    if input.ndim not in (1, 2):
        raise ValueError(f"{who}: expected (C) or (N, C) input, got shape {list(input.shape)}")
    if not target.dtype.is_int:
        raise TypeError(f"{who}: target must be an integer tensor of class indices, got "
                        f"{target.dtype}")


@autocast_op("multi_margin_loss")
def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0,
                      weight: Optional[Tensor] = None, size_average=None, reduce=None,
                      reduction: str = "mean") -> Tensor:
    """Per sample, ``sum over i != y of max(0, margin - x[y] + x[i]) ** p / C`` (each term times
    ``weight[y]``); ``p`` is 1 or 2."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: only p == 1 and p == 2 supported, got {p}")
    _check_class_target(input, target, "multi_margin_loss")
    x = input if input.ndim == 2 else G.unsqueeze(input, 0)
    y = G.reshape(target, (-1,))
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"multi_margin_loss: target of shape {list(target.shape)} does not "
                         f"match input of shape {list(input.shape)}")
    classes = x.shape[1]
    if tracing.current() is None and y.numel():
        low, high = int(G.amin(y).item()), int(G.amax(y).item())
        if low < 0 or high >= classes:
            raise IndexError(f"multi_margin_loss: target values must be in [0, {classes}), got "
                             f"values from {low} to {high}")
    chosen = G.gather(x, 1, G.unsqueeze(y, 1))  # (N, 1): x[y]
    hinge = G.clamp(G.add(G.sub(x, chosen), float(margin)), min=0.0)
    if p == 2:
        hinge = G.mul(hinge, hinge)
    if weight is not None:
        hinge = G.mul(hinge, G.unsqueeze(G.index_select(weight, 0, y), 1))
    others = G.ne(G.unsqueeze(y, 1), factories.arange(classes))  # i != y
    loss = G.div(G.sum(G.where(others, hinge, G.scalar_like(0.0, hinge)), 1), float(classes))
    if input.ndim == 1:
        loss = G.reshape(loss, ())
    return _reduce(loss, reduction)


@autocast_op("multilabel_margin_loss")
def multilabel_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                           reduction: str = "mean") -> Tensor:
    """Per sample, ``sum over targets j and non-targets i of max(0, 1 - (x[j] - x[i])) / C``;
    ``target`` holds class indices, ended by the first -1 (PyTorch's layout)."""
    from graphc.scans_sorts import cumsum
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_class_target(input, target, "multilabel_margin_loss")
    _same_shape(input, target, "multilabel_margin_loss")
    x = input if input.ndim == 2 else G.unsqueeze(input, 0)
    t = target if target.ndim == 2 else G.unsqueeze(target, 0)
    classes = x.shape[1]
    # the entries before the first negative one are the targets
    listed = G.eq(cumsum(G.cast(G.lt(t, 0), factories.int64), 1), 0)
    hits = G.logical_and(G.unsqueeze(listed, 2),
                         G.eq(G.unsqueeze(t, 2), factories.arange(classes)))  # (N, k, C)
    count = G.sum(G.cast(hits, x.dtype), 1)  # how often each class is listed (N, C)
    is_target = G.gt(count, 0.0)
    # pair (j, i): hinge of target j against non-target i, counted once per listing of j
    hinge = G.clamp(G.sub(1.0, G.sub(G.unsqueeze(x, 2), G.unsqueeze(x, 1))), min=0.0)
    pairs = G.mul(G.unsqueeze(count, 2), G.cast(G.logical_not(G.unsqueeze(is_target, 1)),
                                                x.dtype))
    loss = G.div(G.sum(G.mul(hinge, pairs), (1, 2)), float(classes))
    if input.ndim == 1:
        loss = G.reshape(loss, ())
    return _reduce(loss, reduction)


@autocast_op("triplet_margin_loss")
def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2, eps: float = 1e-6, swap: bool = False, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    """``max(0, margin + d(a, p) - d(a, n))`` with ``pairwise_distance``; ``swap`` uses
    ``min(d(a, n), d(p, n))`` for the negative distance."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if not (anchor.ndim == positive.ndim == negative.ndim):
        raise RuntimeError(f"triplet_margin_loss: The anchor, positive, and negative tensors "
                           f"are expected to have the same number of dimensions, but got: "
                           f"anchor {anchor.ndim}D, positive {positive.ndim}D, and negative "
                           f"{negative.ndim}D inputs")
    to_positive = pairwise_distance(anchor, positive, p, eps)
    to_negative = pairwise_distance(anchor, negative, p, eps)
    if swap:
        to_negative = G.minimum(to_negative, pairwise_distance(positive, negative, p, eps))
    return _reduce(G.clamp(G.add(G.sub(to_positive, to_negative), float(margin)), min=0.0),
                   reduction)


def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function=None, margin: float = 1.0,
                                      swap: bool = False, reduction: str = "mean") -> Tensor:
    """``max(0, margin + d(a, p) - d(a, n))`` with any distance ``d`` (default
    :func:`pairwise_distance`), as ``torch.nn.functional.triplet_margin_with_distance_loss``;
    ``swap`` uses ``min(d(a, n), d(p, n))`` for the negative distance.

        >>> import graphc
        >>> a, p, n = graphc.zeros(1, 2), graphc.ones(1, 2), graphc.zeros(1, 2)
        >>> l1 = lambda x, y: (x - y).abs().sum(-1)
        >>> F = graphc.nn.functional
        >>> F.triplet_margin_with_distance_loss(a, p, n, distance_function=l1).item()
        3.0
    """
    if margin <= 0:
        raise ValueError(f"triplet_margin_with_distance_loss: expected margin to be greater "
                         f"than 0, got {margin} instead")
    if not (anchor.ndim == positive.ndim == negative.ndim):
        raise RuntimeError(f"triplet_margin_with_distance_loss: The anchor, positive, and "
                           f"negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {anchor.ndim}D, positive "
                           f"{positive.ndim}D, and negative {negative.ndim}D inputs")
    distance = pairwise_distance if distance_function is None else distance_function
    to_positive = distance(anchor, positive)
    to_negative = distance(anchor, negative)
    if swap:
        to_negative = G.minimum(to_negative, distance(positive, negative))
    return _reduce(G.clamp(G.add(G.sub(to_positive, to_negative), float(margin)), min=0.0),
                   reduction)


@autocast_op("poisson_nll_loss")
def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """Poisson negative log likelihood: ``exp(x) - t * x`` for log-rate input, else
    ``x - t * log(x + eps)``; ``full`` adds Stirling's ``t log t - t + log(2 pi t) / 2`` where
    t > 1."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if log_input:
        loss = G.sub(G.exp(input), G.mul(target, input))
    else:
        loss = G.sub(input, G.mul(target, G.log(G.add(input, float(eps)))))
    if full:
        safe = G.where(G.gt(target, 1.0), target, G.scalar_like(1.0, target))
        stirling = G.add(G.sub(G.mul(safe, G.log(safe)), safe),
                         G.mul(G.log(G.mul(safe, 2 * math.pi)), 0.5))
        loss = G.add(loss, G.where(G.gt(target, 1.0), stirling, G.scalar_like(0.0, stirling)))
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """Gaussian negative log likelihood ``(log(var) + (input - target)^2 / var) / 2`` (plus
    ``log(2 pi) / 2`` when ``full``). ``var`` has the input's shape, or lacks its last dim, or
    has 1 there (one variance for all), or is a number; values below ``eps`` are raised to
    ``eps`` with the gradient of the unclamped ``var`` (PyTorch clamps under no_grad)."""
    if not isinstance(var, Tensor):
        var = G.scalar_like(float(var), input)
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = G.unsqueeze(var, -1)  # homoscedastic over the last dim
        elif not (var.ndim == input.ndim and tuple(input.shape[:-1]) == tuple(var.shape[:-1])
                  and var.shape[-1] == 1) and var.ndim != 0:
            raise ValueError(f"gaussian_nll_loss: var of shape {list(var.shape)} does not "
                             f"match input of shape {list(input.shape)}")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    G.check_range(var, 0, math.inf, ArgumentError, "gaussian_nll_loss: var has negative "
                  "entry/entries", nan_ok=True)
    raised = G.clamp(var.detach(), min=float(eps))
    var = G.add(var, G.sub(raised, var.detach()))  # value clamp(var), gradient of var
    diff = G.sub(input, target)
    loss = G.mul(G.add(G.log(var), G.div(G.mul(diff, diff), var)), 0.5)
    if full:
        loss = G.add(loss, 0.5 * math.log(2 * math.pi))
    return _reduce(loss, reduction)


__all__ = ["cosine_embedding_loss", "margin_ranking_loss", "hinge_embedding_loss",
           "soft_margin_loss", "multilabel_soft_margin_loss", "multi_margin_loss",
           "multilabel_margin_loss", "triplet_margin_loss", "triplet_margin_with_distance_loss",
           "poisson_nll_loss",
           "gaussian_nll_loss"]
