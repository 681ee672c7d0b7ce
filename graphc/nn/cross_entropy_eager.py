"""Eager ``F.cross_entropy`` of class indices in one step: the common case of a training loop.

``F.cross_entropy`` is a composite (``log_softmax`` then ``nll_loss``): 26 ops forward and 16
more backward, each a dispatch, so on a small batch the loss cost ten times the model's
forward. :func:`fused_cross_entropy` computes the very same values with the NumPy operations
those ops' references run, in the same order, and records one gradient node whose rule runs the
composite's backward ops in NumPy, in the order the backward engine runs them: values and
gradients keep every bit (``benchmarks/eager_bits_check.py`` compares them with the
composite's, infinities and NaNs included).

It answers None, and the caller computes the composite, for anything else: a trace (compiled
code, ``vmap``), a device array, the profiler, half precision, class weights, label smoothing,
probability targets, other ranks, empty inputs, or targets out of range (the composite raises
the error). A backward with ``create_graph=True`` (double backward, ``graphc.func.jvp``) runs
the composite's backward on the saved logits instead, so its result has history.

    >>> import graphc
    >>> x = graphc.tensor([[2.0, 0.5, -1.0]], requires_grad=True)
    >>> loss = graphc.nn.functional.cross_entropy(x, graphc.tensor([0]))
    >>> loss.grad_fn.name
    'cross_entropy'
    >>> loss.backward()
    >>> round(x.grad.sum().item(), 6)   # softmax - one-hot sums to 0
    0.0
"""
from __future__ import annotations

import weakref
from typing import Optional

import numpy as np

from graphc import autograd, tracing
from graphc.errors import AutogradError
from graphc.profiler import recording as profiler_recording
from graphc.tensor import Tensor
from ir.evaluate import quiet_float_errors, restore_float_errors, silence_float_errors

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_I64 = np.dtype(np.int64)
_trace_state = tracing._local
_grad_mode = autograd._state


def fused_cross_entropy(input: Tensor, target: Tensor, ignore_index: int,
                        reduction: str) -> Optional[Tensor]:
    """``F.cross_entropy(input, target, ignore_index=, reduction=)`` for (N, C) float32/float64
    logits and (N,) int64 classes on the host, eagerly; None where the composite must run.
    The caller has checked the arguments (reduction, dtypes)."""
    if _trace_state.ctx is not None or profiler_recording.ACTIVE is not None:
        return None
    a, t = input._data, target._data
    if (type(a) is not np.ndarray or type(t) is not np.ndarray or input._value is not None
            or target._value is not None or a.ndim != 2 or a.dtype not in _FLOATS
            or t.dtype != _I64 or t.shape != a.shape[:1] or not a.size):
        return None
    if not a.flags.c_contiguous:  # (as the references see it: the sums' bits follow layout)
        a = np.ascontiguousarray(a)
    quiet = silence_float_errors()  # (inf and nan are results, as in every op)
    try:
        saved = _Saved(a, t, ignore_index, reduction)
        if saved.safe.min() < 0 or saved.safe.max() >= a.shape[1]:
            return None  # (the composite's gather names the bad class)
        out = Tensor._wrap(saved.forward())
    finally:
        restore_float_errors(quiet)
    if input.requires_grad and _grad_mode.enabled:
        out.requires_grad = True
        out._grad_fn = autograd.GradFn(_CrossEntropyBackward(saved, input, target, ignore_index,
                                                             reduction), {}, [input], out)
    return out


class _Saved:
    """The forward pass of the composite in NumPy (each line one op of ``log_softmax`` or
    ``nll_loss``), keeping what its backward reads. (``np.add.reduce`` is what ``np.sum``
    calls, without its Python wrapper.)"""

    def __init__(self, a: np.ndarray, t: np.ndarray, ignore_index: int, reduction: str):
        self.dtype, self.reduction, self.shape = a.dtype, reduction, a.shape
        shift = np.maximum.reduce(a, axis=(1,), keepdims=True)  # logsumexp, shifted by the maximum
        shift = np.where(np.isinf(shift), self.dtype.type(0), shift)
        self.exp = np.exp(a - shift)
        self.total = np.add.reduce(self.exp, axis=(1,), keepdims=True)
        self.logp = a - (np.log(self.total) + shift)
        ignored = t == ignore_index  # nll_loss
        self.safe = np.where(ignored, 0, t)
        self.w = np.logical_not(ignored).astype(self.dtype)

    def forward(self) -> np.ndarray:
        rows = np.arange(self.shape[0])
        loss = np.negative(self.logp[rows, self.safe] * self.w)
        self.logp = None  # (the backward reads exp and total, as the composite's)
        if self.reduction == "none":
            return loss
        total = np.asarray(np.add.reduce(loss, axis=(0,)), self.dtype)
        if self.reduction == "sum":
            return total
        count = np.asarray(np.add.reduce(self.w, axis=(0,)), self.dtype)
        self.counted = count != 0
        self.count = np.where(self.counted, count, self.dtype.type(1))
        return np.asarray(np.where(self.counted, total / self.count, self.dtype.type(np.nan)))

    def backward(self, g: np.ndarray) -> np.ndarray:
        """The composite's backward ops on the loss gradient ``g``, in the engine's order."""
        n, c = self.shape
        g = g.astype(self.dtype, copy=False)  # (each op casts its gradient to its input's dtype)
        if self.reduction == "mean":
            g = np.where(self.counted, g, self.dtype.type(0)) / self.count
        if self.reduction != "none":
            g = np.broadcast_to(g, (n,))
        picked = np.negative(g) * self.w
        logp_grad = np.zeros((n, c), self.dtype)  # gather's gradient: a scatter_add
        np.add.at(logp_grad, (np.arange(n), self.safe), picked)
        lse_grad = np.add.reduce(np.negative(logp_grad), axis=(1,)).reshape(n, 1)
        return logp_grad + np.broadcast_to(lse_grad / self.total, (n, c)) * self.exp


class _CrossEntropyBackward:
    """The "op" of a fused cross entropy's result: its rule is the composite's backward."""

    name = "cross_entropy"
    needs_values = False  # (the logits may change in place afterwards, as in the composite)
    needs_output = False
    differentiable = True

    def __init__(self, saved: _Saved, input: Tensor, target: Tensor, ignore_index: int,
                 reduction: str):
        self.saved = saved
        self.input = weakref.ref(input)
        self.input_version = input._version
        self.target, self.ignore_index, self.reduction = target, ignore_index, reduction

    def vjp(self, em, inputs, output, grad, attrs):
        (x,) = inputs
        if x is not self.input():  # freed by the first backward (stand-ins)
            raise AutogradError("trying to backward through cross_entropy a second time, after "
                                "its saved values were freed; pass retain_graph=True to the "
                                "first backward()")
        g = grad._data
        if em.differentiated_again() or type(g) is not np.ndarray or grad._value is not None:
            return [self._composite_gradient(x, grad)]
        with quiet_float_errors():
            return [Tensor._wrap(self.saved.backward(g))]

    def _composite_gradient(self, x: Tensor, grad: Tensor) -> Tensor:
        """Under ``create_graph``: the composite recomputed on ``x`` and differentiated by a
        nested backward pass that stops at ``x``, so the gradient has history."""
        if x._version != self.input_version:
            raise AutogradError("the logits of cross_entropy were modified by an in-place "
                                "operation, and a backward with create_graph=True needs them; "
                                "use an out-of-place op instead")
        from graphc.nn.losses import composite_cross_entropy
        edge = x if x._grad_fn is None else x._grad_fn
        loss = composite_cross_entropy(x, self.target, ignore_index=self.ignore_index,
                                       reduction=self.reduction)
        callbacks = list(autograd.completion_callbacks())  # (a nested pass: keep the outer's)
        try:
            (gradient,) = autograd.run_backward([loss], [grad], boundary=[[edge]],
                                                retain_graph=True, create_graph=True)
        finally:
            autograd.completion_callbacks()[:] = callbacks
        return gradient


__all__ = ["fused_cross_entropy"]
