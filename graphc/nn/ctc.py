"""The connectionist temporal classification loss, ``F.ctc_loss`` (PyTorch's): the negative
log-likelihood of a target label sequence summed over every alignment of it to the input frames
(labels repeated over frames, with ``blank`` frames between and around them).

    >>> import graphc
    >>> import graphc.nn.functional as F
    >>> log_probs = graphc.full((2, 1, 2), 0.5).log()   # two frames, P(blank) = P(1) = 1/2
    >>> loss = F.ctc_loss(log_probs, graphc.tensor([[1]]), [2], [1], reduction="sum")
    >>> round(loss.item(), 6)                            # -log(3/4): "1 1", "1 -", "- 1"
    0.287682

How it is computed: the forward-backward recursion (Graves et al., 2006) over the extended label
sequence ``blank l1 blank l2 ... blank`` in log space, in NumPy, vectorized over the batch and the
extended labels (a Python loop over time only), in float64 whatever the input's float dtype. It is
an eager :class:`graphc.autograd.Function` rather than a composite of graphc ops because the
recursion would unroll into a graph of O(T) steps of masked logsumexps whose -inf entries (the
unreachable states) give NaN gradients, and because PyTorch's gradient (below) is not the
derivative of the loss: a composite would differentiate to another one. Inside a compiled function
it raises a ``TraceError`` (it needs the lengths and labels as numbers).

The gradient is PyTorch's: for ``t < input_lengths[n]``

    d loss[n] / d log_probs[t, n, c] = exp(log_probs[t, n, c]) - occupancy[t, n, c]

where ``occupancy`` is the posterior probability that frame t emits label c. The derivative of
the loss itself is ``-occupancy``; the ``exp(log_probs)`` term sums to 1 over c when ``log_probs``
are normalized (``log_softmax`` outputs, as the loss expects), so it vanishes through
``log_softmax``'s backward and the gradient w.r.t. the logits is exactly the loss's derivative.
Fed log-probabilities that are not normalized, the gradient w.r.t. ``log_probs`` is therefore
``exp(log_probs)`` more than the finite-difference derivative, as in PyTorch. Frames past an
input's length get zero; an impossible alignment (infinite loss) gets NaN at its frames, or zeros
with ``zero_infinity=True``. One deliberate difference: where a log-probability is -inf, PyTorch's
gradient is NaN and graphc's is the limit, ``exp(-inf) - 0 = 0``. The gradient is not
differentiable again (as in PyTorch: a second backward through it raises).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np

import graphc.functions as G
from graphc import tracing
from graphc.amp.autocast_mode import autocast_op
from graphc.autograd_function import Function
from graphc.errors import ArgumentDTypeError, AutogradError, ShapeError
from graphc.nn.losses import _check_reduction
from graphc.tensor import Tensor

__all__ = ["ctc_loss"]

Lengths = Union[Tensor, Sequence[int], int]


@autocast_op("ctc_loss")
def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths: Lengths,
             target_lengths: Lengths, blank: int = 0, reduction: str = "mean",
             zero_infinity: bool = False) -> Tensor:
    """The CTC loss of ``log_probs`` (T, N, C) or unbatched (T, C), log-probabilities over C
    classes per frame (``log_softmax`` outputs), against ``targets``: padded (N, S) or
    concatenated 1-D (``sum(target_lengths)``). ``input_lengths`` and ``target_lengths`` (one per
    sequence, tensors or sequences of ints) say how many frames and labels each one has.
    ``reduction="mean"`` divides each loss by its target length (at least 1) and averages over
    the batch. A target that no alignment can produce (too long for its input) has an infinite
    loss; ``zero_infinity=True`` makes it (and its gradient) zero. See the module docstring for the
    gradient's convention (PyTorch's).
    """
    _check_reduction(reduction)
    if not isinstance(log_probs, Tensor):
        raise TypeError(f"ctc_loss: log_probs must be a tensor, got {type(log_probs).__name__}")
    _eager_only(log_probs, targets, input_lengths, target_lengths)
    unbatched = log_probs.ndim == 2
    if log_probs.ndim not in (2, 3):
        raise ShapeError(f"ctc_loss: log_probs must be (T, N, C) or unbatched (T, C), got shape "
                         f"{list(log_probs.shape)}")
    if not log_probs.dtype.is_float:
        raise ArgumentDTypeError(f"ctc_loss: log_probs must be floating point, got {log_probs.dtype}")
    if unbatched:
        log_probs = G.unsqueeze(log_probs, 1)
    T, N, C = log_probs.shape
    if T * N * C == 0:
        raise ValueError(f"ctc_loss: log_probs must not be empty, got shape "
                         f"{list(log_probs.shape)}")
    if not 0 <= blank < C:
        raise ValueError(f"ctc_loss: blank must be in the label range [0, {C}), got {blank}")
    frames = _lengths("input_lengths", input_lengths, N)
    label_counts = _lengths("target_lengths", target_lengths, N)
    if frames.max() > T:
        raise ValueError(f"ctc_loss: input_lengths must be at most T = {T}, got "
                         f"{int(frames.max())}")
    labels = _labels(targets, label_counts, N, C, blank, unbatched)
    loss = _CTC.apply(log_probs, labels, frames, label_counts, blank, zero_infinity)
    if reduction == "mean":
        divisor = Tensor._wrap(np.maximum(label_counts, 1).astype(log_probs.dtype.numpy))
        return G.mean(G.div(loss, divisor))
    if reduction == "sum":
        return G.sum(loss)
    return G.reshape(loss, []) if unbatched else loss


def _eager_only(*values) -> None:
    if tracing.current() is not None or any(
            isinstance(v, Tensor) and v.is_traced for v in values):
        raise tracing.TraceError(
            "ctc_loss is not supported inside a compiled function or a traced transform (vmap, "
            "jacfwd, hessian): its forward-backward recursion runs eagerly in NumPy and needs "
            "the lengths and labels as numbers. Call it outside the compiled function")


def _lengths(name: str, lengths: Lengths, batch: int) -> np.ndarray:
    """The lengths (tensor, sequence of ints, or one int when unbatched) as int64, one per
    sequence, checked."""
    if isinstance(lengths, Tensor):
        if lengths.ndim > 1:
            raise ValueError(f"ctc_loss: {name} must be 1-D (0-D when unbatched), got shape "
                             f"{list(lengths.shape)}")
        if not lengths.dtype.is_int:
            raise TypeError(f"ctc_loss: {name} must be integral, got {lengths.dtype}")
        array = lengths.numpy().reshape(-1).astype(np.int64)
    else:
        values = [lengths] if isinstance(lengths, (int, np.integer)) else list(lengths)
        if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in values):
            raise TypeError(f"ctc_loss: {name} must be ints (or an integer tensor), got "
                            f"{lengths!r}")
        array = np.asarray(values, dtype=np.int64).reshape(-1)
    if array.size != batch:
        raise ValueError(f"ctc_loss: {name} must have one length per sequence (batch size "
                         f"{batch}), got {array.size}")
    if (array < 0).any():
        raise ValueError(f"ctc_loss: {name} must be non-negative, got {int(array.min())}")
    return array


def _labels(targets, counts: np.ndarray, batch: int, classes: int, blank: int,
            unbatched: bool) -> np.ndarray:
    """The targets as an (N, max count) int64 array, rows padded with ``blank`` after their
    ``counts[n]`` labels, checked against the label range."""
    if not isinstance(targets, Tensor):
        raise TypeError(f"ctc_loss: targets must be a tensor, got {type(targets).__name__}")
    array = targets.numpy()
    if array.dtype.kind == "f" and not np.array_equal(array, np.trunc(array)):
        raise ValueError("ctc_loss: targets must hold whole numbers (class indices)")
    if array.dtype.kind not in "iuf":
        raise TypeError(f"ctc_loss: targets must hold class indices, got {targets.dtype}")
    if unbatched and array.ndim == 1:
        array = array[None]  # unbatched targets are one padded row, as in PyTorch
    width = int(counts.max())
    used = np.arange(width)[None, :] < counts[:, None]  # (N, width): the real labels
    labels = np.full((batch, width), blank, dtype=np.int64)
    if array.ndim == 2:
        if array.shape[0] != batch or array.shape[1] < width:
            raise ValueError(f"ctc_loss: padded targets must be (N, S) with N = {batch} and "
                             f"S >= max(target_lengths) = {width}, got shape {list(array.shape)}")
        labels[used] = array[:, :width][used]
    elif array.ndim == 1:
        if array.size != counts.sum():
            raise ValueError(f"ctc_loss: concatenated targets must have sum(target_lengths) = "
                             f"{int(counts.sum())} labels, got {array.size}")
        labels[used] = array  # the row-major order of `used` is the concatenation's
    else:
        raise ValueError(f"ctc_loss: targets must be padded (N, S) or concatenated 1-D, got "
                         f"shape {list(array.shape)}")
    if ((labels < 0) | (labels >= classes)).any():
        bad = labels[(labels < 0) | (labels >= classes)][0]
        raise ValueError(f"ctc_loss: target label {int(bad)} is out of the range [0, {classes})")
    return labels


# -- the forward-backward recursion ---------------------------------------------------------------
_NEG_INF = -np.inf


def _shifted(a: np.ndarray, k: int, fill) -> np.ndarray:
    """``a`` moved ``k`` places along its last axis (right for k > 0, left for k < 0)."""
    out = np.full_like(a, fill)
    if k > 0:
        out[..., k:] = a[..., :-k]
    else:
        out[..., :k] = a[..., -k:]
    return out


def _log_alphas(emit: np.ndarray, skip: np.ndarray) -> np.ndarray:
    """alpha[t, n, s]: log of the probability of the alignments of frames 0..t that end in
    extended label s (emitting it at t). Entries past a sequence's end are never read."""
    alpha = np.full_like(emit, _NEG_INF)
    alpha[0, :, :2] = emit[0, :, :2]  # start on the first blank or the first label
    for t in range(1, emit.shape[0]):
        prev = alpha[t - 1]
        came = np.logaddexp(prev, _shifted(prev, 1, _NEG_INF))
        came = np.logaddexp(came, np.where(skip, _shifted(prev, 2, _NEG_INF), _NEG_INF))
        alpha[t] = emit[t] + came
    return alpha


def _log_betas(emit: np.ndarray, skip: np.ndarray, frames: np.ndarray,
               counts: np.ndarray) -> np.ndarray:
    """beta[t, n, s]: log of the probability of the alignments of frames t..end that start in
    extended label s (emitting it at t); -inf past a sequence's frames or labels."""
    positions = np.arange(emit.shape[2])[None, :]
    inside = positions <= 2 * counts[:, None]
    last = (positions == 2 * counts[:, None]) | (positions == 2 * counts[:, None] - 1)
    skip_from = _shifted(skip, -2, False)  # s may go to s + 2
    beta = np.full_like(emit, _NEG_INF)
    for t in range(emit.shape[0] - 1, -1, -1):
        after = beta[t + 1] if t + 1 < emit.shape[0] else beta[t]
        goes = np.logaddexp(after, _shifted(after, -1, _NEG_INF))
        goes = np.logaddexp(goes, np.where(skip_from, _shifted(after, -2, _NEG_INF), _NEG_INF))
        ends_here = (t == frames - 1)[:, None] & last
        before_end = (t < frames - 1)[:, None] & inside
        beta[t] = np.where(ends_here, emit[t], np.where(before_end, emit[t] + goes, _NEG_INF))
    return beta


def _extended(labels: np.ndarray, blank: int) -> tuple[np.ndarray, np.ndarray]:
    """``blank l1 blank l2 ... blank`` per row, and where a label may be reached by skipping the
    blank before it (not between two equal labels)."""
    batch, width = labels.shape
    ext = np.full((batch, 2 * width + 1), blank, dtype=np.int64)
    ext[:, 1::2] = labels
    skip = np.zeros(ext.shape, dtype=bool)
    skip[:, 2:] = ext[:, 2:] != ext[:, :-2]
    return ext, skip


class _CTC(Function):
    """Per-sequence negative log-likelihoods; the gradient is PyTorch's (module docstring)."""

    @staticmethod
    def forward(ctx, log_probs, labels, frames, counts, blank, zero_infinity):
        lp = log_probs.numpy().astype(np.float64)
        T, N, _ = lp.shape
        ext, skip = _extended(labels, blank)
        emit = lp[:, np.arange(N)[:, None], ext]  # (T, N, 2 * width + 1)
        with np.errstate(invalid="ignore", over="ignore"):
            alpha = _log_alphas(emit, skip)
            end = alpha[np.maximum(frames - 1, 0), np.arange(N)]  # (N, 2 * width + 1)
            rows = np.arange(N)
            ll = np.logaddexp(end[rows, 2 * counts],
                              np.where(counts > 0, end[rows, np.maximum(2 * counts - 1, 0)],
                                       _NEG_INF))
        ll = np.where(frames == 0, np.where(counts == 0, 0.0, _NEG_INF), ll)
        nll = -ll
        infinite = np.isinf(nll)
        ctx.lp, ctx.ext, ctx.skip, ctx.emit, ctx.alpha = lp, ext, skip, emit, alpha
        ctx.frames, ctx.counts, ctx.nll = frames, counts, nll
        ctx.infinite, ctx.zero_infinity = infinite, zero_infinity
        ctx.save_for_backward(log_probs)
        if zero_infinity:
            nll = np.where(infinite, 0.0, nll)
        return Tensor._wrap(nll.astype(log_probs.dtype.numpy))

    @staticmethod
    def backward(ctx, grad):
        (log_probs,) = ctx.saved_tensors
        table = _gradient_table(ctx)
        return (_Scaled.apply(grad, log_probs, table.astype(log_probs.dtype.numpy)),
                None, None, None, None, None)


def _gradient_table(ctx) -> np.ndarray:
    """d nll[n] / d log_probs[t, n, c], PyTorch's convention: exp(log_probs) - occupancy."""
    lp, ext, emit = ctx.lp, ctx.ext, ctx.emit
    T, N, C = lp.shape
    with np.errstate(invalid="ignore", over="ignore"):
        beta = _log_betas(emit, ctx.skip, ctx.frames, ctx.counts)
        log_both = ctx.alpha + beta
        finite_nll = np.where(ctx.infinite, 0.0, ctx.nll)
        # alpha and beta both emit frame t's label: divide one emission out; where the state is
        # unreachable its occupancy is 0 (even where the emission is -inf: no NaN from -inf+inf)
        occupancy = np.where(log_both == _NEG_INF, 0.0,
                             np.exp(log_both - emit + finite_nll[None, :, None]))
    # add each state's occupancy into its label's column: one bincount over flat indices
    frame_seq = np.arange(T)[:, None, None] * N + np.arange(N)[None, :, None]
    index = frame_seq * C + ext[None, :, :]
    summed = np.bincount(index.ravel(), weights=occupancy.ravel(), minlength=T * N * C)
    table = np.exp(lp) - summed.reshape(T, N, C)
    in_input = np.arange(T)[:, None] < ctx.frames[None, :]  # (T, N)
    impossible = ctx.infinite[None, :] & in_input
    table = np.where(impossible[..., None], 0.0 if ctx.zero_infinity else np.nan, table)
    return np.where(in_input[..., None], table, 0.0)


class _Scaled(Function):
    """``table * grad`` per sequence: the gradient ``_CTC`` returns. Its own backward raises, as
    PyTorch's does, rather than leave out how ``table`` depends on ``log_probs``."""

    @staticmethod
    def forward(ctx, grad, log_probs, table):
        return Tensor._wrap(table * grad.numpy()[None, :, None])

    @staticmethod
    def backward(ctx, grad):
        raise AutogradError("the gradient of ctc_loss is not differentiable (nor is PyTorch's): "
                            "a second backward through it is not supported")
