"""The loss functions of ``graphc.nn.functional`` (re-exported there), PyTorch's semantics.

All are composites of graphc ops (``log_softmax``, ``gather``, the ``binary_cross_entropy``
primitive, ...), so they differentiate and trace. ``reduction`` is ``"none"``, ``"mean"`` or
``"sum"``; the deprecated ``size_average``/``reduce`` flags are honoured as in PyTorch.

    >>> import graphc
    >>> from graphc.nn.losses import mse_loss
    >>> mse_loss(graphc.tensor([1.0, 3.0]), graphc.tensor([0.0, 0.0])).item()
    5.0
"""
from __future__ import annotations

from typing import Optional

import graphc.functions as G
from graphc.amp.autocast_mode import autocast_op
from graphc.arg_checks import require_floating, require_tensor
from graphc.dispatch import apply
from graphc.errors import ArgumentDTypeError, ArgumentError, ShapeError
from graphc.nn.cross_entropy_eager import fused_cross_entropy
from graphc.tensor import Tensor
from graphc.user_warnings import warn
from ir import dtypes


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return G.mean(loss)
    if reduction == "sum":
        return G.sum(loss)
    if reduction == "none":
        return loss
    raise ArgumentError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    """PyTorch's deprecated ``size_average`` / ``reduce`` flags, mapped onto ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


def _check_reduction(reduction: str) -> None:
    if reduction not in ("none", "mean", "sum"):
        raise ArgumentError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


# -- losses ---------------------------------------------------------------------------------------
def _warn_if_broadcast(input: Tensor, target, loss: str) -> None:
    """Refuses an input or target that is not a tensor (a list, an array, None), as PyTorch
    does; then PyTorch's warning when a pointwise loss's target has another shape than its
    input: a [N, 1] prediction against an [N] target broadcasts to [N, N], a loss over every
    pair."""
    require_tensor(input, "input", loss)
    require_tensor(target, "target", loss)
    shape = getattr(target, "shape", None)
    if shape is not None and tuple(shape) != tuple(input.shape):
        warn(f"{loss}: using a target size {list(shape)} that is different to the "
             f"input size {list(input.shape)}; this will likely lead to incorrect "
             f"results due to broadcasting. Please ensure they have the same size.",
             UserWarning)


@autocast_op("mse_loss")
def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
             reduction: str = "mean") -> Tensor:
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _warn_if_broadcast(input, target, "mse_loss")
    diff = G.sub(input, target)
    return _reduce(G.mul(diff, diff), reduction)


@autocast_op("l1_loss")
def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
            reduction: str = "mean") -> Tensor:
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _warn_if_broadcast(input, target, "l1_loss")
    return _reduce(G.abs(G.sub(input, target)), reduction)


@autocast_op("smooth_l1_loss")
def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise ArgumentError(f"smooth_l1_loss does not support negative values for beta, got {beta}")
    _warn_if_broadcast(input, target, "smooth_l1_loss")
    signed = G.sub(input, target)
    diff = G.abs(signed)
    if beta == 0:
        return _reduce(diff, reduction)
    # the square of the signed difference: |d| * |d| has no curvature at d = 0 (sign(0) = 0),
    # so the second derivative there was 0, not 1 / beta
    quadratic = G.div(G.mul(G.mul(signed, signed), 0.5), float(beta))
    return _reduce(G.where(G.lt(diff, beta), quadratic, G.sub(diff, 0.5 * beta)), reduction)


@autocast_op("huber_loss")
def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",
               delta: float = 1.0) -> Tensor:
    if delta <= 0:
        raise ArgumentError(f"huber_loss does not support non-positive values for delta, got "
                            f"{delta}")
    _warn_if_broadcast(input, target, "huber_loss")
    signed = G.sub(input, target)
    diff = G.abs(signed)
    quadratic = G.mul(G.mul(signed, signed), 0.5)  # (as smooth_l1_loss's)
    linear_part = G.mul(G.sub(diff, 0.5 * delta), float(delta))
    return _reduce(G.where(G.lt(diff, delta), quadratic, linear_part), reduction)


def _class_last(x: Tensor) -> Tensor:
    """(N, C, d1, ...) -> (N, d1, ..., C)."""
    if x.ndim <= 2:
        return x
    return G.permute(x, [0] + list(range(2, x.ndim)) + [1])


@autocast_op("nll_loss")
def nll_loss(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
             size_average=None, ignore_index: int = -100, reduce=None,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices: ``input`` is (N, C), (N, C, d1, ...) or (C,)
    log-probabilities; ``target`` holds classes (entries equal to ``ignore_index`` count for
    nothing). ``mean`` divides by the summed weights of the counted targets, like PyTorch."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    require_floating(input, "input", "nll_loss")
    require_tensor(target, "target", "nll_loss")
    if input.ndim == 1:  # unbatched: (C,) and a scalar target
        loss = nll_loss(G.unsqueeze(input, 0), G.unsqueeze(target, 0), weight,
                        ignore_index=ignore_index, reduction=reduction)
        return G.squeeze(loss, 0) if reduction == "none" else loss
    if input.ndim < 2:
        raise ShapeError(f"nll_loss: expected input (N, C, ...), got {list(input.shape)}")
    if target.dtype not in (dtypes.i64, dtypes.u8):  # PyTorch's kernels take Long or Byte
        raise ArgumentDTypeError(f"nll_loss: target must hold class indices as int64 (or "
                                 f"uint8), as in PyTorch; got {target.dtype}"
                                 + (" (convert it with target.long())" if target.dtype.is_int else ""))
    expected = (input.shape[0],) + tuple(input.shape[2:])
    if tuple(target.shape) != expected:
        raise ShapeError(f"nll_loss: target shape {list(target.shape)} does not match input "
                         f"shape {list(input.shape)} (expected {list(expected)})")
    _check_class_weight(weight, input.shape[1])
    ignored = G.eq(target, ignore_index)
    safe = G.where(ignored, 0, target)  # ignored targets may be out of range: read class 0
    picked = G.squeeze(G.gather(input, 1, G.unsqueeze(safe, 1)), 1)
    if weight is not None:
        w = G.reshape(G.index_select(weight, 0, G.reshape(safe, (-1,))), list(safe.shape))
        w = G.where(ignored, 0.0, G.cast(w, input.dtype))
    else:
        w = G.cast(G.logical_not(ignored), input.dtype)
    loss = G.neg(G.mul(picked, w))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return G.sum(loss)
    return _weighted_mean(G.sum(loss), G.sum(w))


def _check_class_weight(weight: Optional[Tensor], classes: int) -> None:
    if weight is not None and tuple(weight.shape) != (classes,):
        raise ShapeError(f"weight tensor should be defined either for all {classes} classes or "
                         f"no classes but got weight tensor of shape: {list(weight.shape)}")


def _weighted_mean(total: Tensor, weight: Tensor) -> Tensor:
    """``total / weight``; where no target counts (``weight`` 0: every target ignored) the
    loss is NaN, as PyTorch's, and its gradient 0, as PyTorch's (the division's would be
    0 * inf = NaN, poisoning every parameter)."""
    counted = G.ne(weight, 0.0)
    return G.where(counted, G.div(total, G.where(counted, weight, 1.0)), float("nan"))


@autocast_op("cross_entropy")
def cross_entropy(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy of logits ``input`` (N, C), (N, C, d1, ...) or (C,) with class indices
    (integer ``target``) or class probabilities (float ``target`` shaped like ``input``).

    Supports ``weight``, ``ignore_index`` (index targets) and ``label_smoothing``, with
    PyTorch's exact normalization.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    require_floating(input, "input", "cross_entropy")
    require_tensor(target, "target", "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ArgumentError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    if weight is None and label_smoothing == 0:  # eagerly, the common case in one step
        fused = fused_cross_entropy(input, target, ignore_index, reduction)
        if fused is not None:
            return fused
    return composite_cross_entropy(input, target, weight, ignore_index=ignore_index,
                                   reduction=reduction, label_smoothing=label_smoothing)


def composite_cross_entropy(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                            ignore_index: int = -100, reduction: str = "mean",
                            label_smoothing: float = 0.0) -> Tensor:
    """``cross_entropy`` as ``log_softmax`` and ``nll_loss`` ops, on checked arguments: what
    traces record, and what :mod:`graphc.nn.cross_entropy_eager` computes in one step."""
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim]
    _check_class_weight(weight, classes)
    logp = G.log_softmax(input, class_dim)
    view = [1] * input.ndim
    view[class_dim] = classes
    if target.dtype.is_float:  # class probabilities
        if tuple(target.shape) != tuple(input.shape):
            raise ShapeError(f"cross_entropy: probability targets must have the input's shape "
                             f"{list(input.shape)}, got {list(target.shape)}")
        if label_smoothing > 0:
            target = G.add(G.mul(target, 1.0 - label_smoothing), label_smoothing / classes)
        terms = G.mul(logp, target)
        if weight is not None:
            terms = G.mul(terms, G.reshape(weight, view))
        loss = G.neg(G.sum(terms, class_dim))
        if reduction == "mean":
            count = input.numel() // classes
            return G.div(G.sum(loss), float(count))
        return _reduce(loss, reduction)
    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing == 0:
        return nll
    if input.ndim == 1:
        logp, target = G.unsqueeze(logp, 0), G.unsqueeze(target, 0)
        view = [1, classes]
    ignored = G.eq(target, ignore_index)
    terms = logp if weight is None else G.mul(logp, G.reshape(weight, view))
    smooth = G.where(ignored, 0.0, G.neg(G.sum(terms, 1)))
    if reduction == "none":
        smooth = G.squeeze(smooth, 0) if input.ndim == 1 else smooth
    elif reduction == "sum":
        smooth = G.sum(smooth)
    else:
        safe = G.where(ignored, 0, target)
        if weight is not None:
            counted = G.index_select(weight, 0, G.reshape(safe, (-1,)))
            counted = G.where(G.reshape(ignored, (-1,)), 0.0, G.cast(counted, input.dtype))
        else:
            counted = G.cast(G.logical_not(ignored), input.dtype)
        smooth = _weighted_mean(G.sum(smooth), G.sum(counted))
    return G.add(G.mul(nll, 1.0 - label_smoothing), G.mul(smooth, label_smoothing / classes))


@autocast_op("binary_cross_entropy")
def binary_cross_entropy(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """``-w (t log x + (1 - t) log(1 - x))`` for probabilities ``input``; logs are clamped to
    >= -100 as in PyTorch, so x = 0 or 1 gives a finite loss."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ArgumentError(f"binary_cross_entropy: target shape {list(target.shape)} must equal "
                            f"input shape {list(input.shape)}")
    G.check_range(input, 0, 1, ArgumentError,
                  "binary_cross_entropy: all elements of input should be between 0 and 1 "
                  "(probabilities; for logits use binary_cross_entropy_with_logits)")
    target = G.to_tensor(target, input)
    G.check_range(target, 0, 1, RuntimeError,
                  "binary_cross_entropy: all elements of target should be between 0 and 1")
    loss = apply("binary_cross_entropy", [input, target])
    if weight is not None:
        loss = G.mul(loss, weight)
    return _reduce(loss, reduction)


@autocast_op("binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Optional[Tensor] = None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight: Optional[Tensor] = None) -> Tensor:
    """``BCE(sigmoid(input), target)`` computed stably from logits:
    ``(1 - t) x + (1 + (pw - 1) t) softplus(-x)``; the gradient is exact everywhere."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ArgumentError(f"binary_cross_entropy_with_logits: target shape "
                            f"{list(target.shape)} must equal input shape {list(input.shape)}")
    z = G.neg(input)
    softplus_z = G.log1p_exp(z)
    if pos_weight is not None:
        softplus_z = G.mul(softplus_z, G.add(G.mul(G.sub(pos_weight, 1.0), target), 1.0))
    loss = G.add(G.mul(G.sub(1.0, target), input), softplus_z)
    if weight is not None:
        loss = G.mul(loss, weight)
    return _reduce(loss, reduction)


@autocast_op("kl_div")
def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """``target * (log target - input)`` for log-probabilities ``input``; 'batchmean' divides
    the sum by the batch size."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if log_target:
        loss = G.mul(G.exp(target), G.sub(target, input))
    else:
        positive = G.gt(target, 0)
        safe = G.where(positive, target, 1.0)
        # target * log(target) (0 at 0) - target * input, PyTorch's form: the second term
        # outside the where, so d2/d(input)d(target) is -1 at target 0 too
        # (an input of -inf where the target is 0, a masked log-probability, counts 0 as
        # 0 * log 0 does, not 0 * -inf = NaN)
        masked = G.logical_and(G.eq(target, 0), G.isinf(input))
        loss = G.sub(G.where(positive, G.mul(target, G.log(safe)), 0.0),
                     G.mul(target, G.where(masked, 0.0, input)))
    if reduction == "batchmean":
        return G.div(G.sum(loss), float(input.shape[0]))
    return _reduce(loss, reduction)
