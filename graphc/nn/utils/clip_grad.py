"""Gradient clipping: ``clip_grad_norm_`` (``get_total_norm`` then ``clip_grads_with_norm_``)
and ``clip_grad_value_``.

Both are written with tensor ops on the gradients and work eagerly and inside
``@graphc.compile`` (the clipped gradients are graph values; nothing is read back to Python),
except ``error_if_nonfinite=True``, which must look at the norm and so runs eagerly only.

    >>> import graphc
    >>> from graphc.nn import Parameter
    >>> from graphc.nn.utils import clip_grad_norm_
    >>> w = Parameter(graphc.zeros(2))
    >>> w.grad = graphc.tensor([3.0, 4.0])
    >>> clip_grad_norm_([w], max_norm=1.0).item()   # the norm before clipping
    5.0
    >>> [round(v, 4) for v in w.grad.tolist()]
    [0.6, 0.8]
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Optional, Union

from graphc import autograd, tracing
from graphc import functions as F
from graphc.errors import TraceError
from graphc.factories import tensor
from graphc.nn.utils.convert_parameters import _tensors
from graphc.tensor import Tensor
from graphc.user_warnings import warn
from ir import dtypes

Parameters = Union[Tensor, Iterable[Tensor]]


@F.half_in_float32
def _vector_norm(x: Tensor, norm_type: float) -> Tensor:
    """The ``norm_type``-norm of all entries of ``x`` (``torch.linalg.vector_norm``)."""
    if norm_type == math.inf:
        return x.abs().amax()
    if norm_type == -math.inf:
        return x.abs().amin()
    if norm_type == 0:
        return (x != 0).to(x.dtype).sum()
    if norm_type == 1:
        return x.abs().sum()
    if norm_type == 2:
        return (x * x).sum().sqrt()
    return (x.abs() ** norm_type).sum() ** (1.0 / norm_type)


def get_total_norm(tensors: Parameters, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: Optional[bool] = None) -> Tensor:
    """The norm of all ``tensors`` together, as if concatenated into one vector: the
    ``norm_type``-norm of their individual norms. ``foreach`` is accepted and ignored."""
    norm_type = float(norm_type)
    items = _tensors(tensors, "tensors")
    if not items:
        return tensor(0.0)
    norms = [_vector_norm(t, norm_type) for t in items]
    # in the widest of their dtypes, as PyTorch's stack promotes (float32 + float64 grads:
    # the total was float32, and so the scale of the float64 grads)
    widest = dtypes.promote(*(n.dtype for n in norms))
    total = _vector_norm(F.stack([n.to(widest) for n in norms]), norm_type)
    if error_if_nonfinite:
        if tracing.current() is not None or total.is_traced:
            raise TraceError("clip_grad_norm_(error_if_nonfinite=True) reads the norm to decide "
                             "whether to raise, which a compiled function cannot do; use "
                             "error_if_nonfinite=False inside @graphc.compile")
        if not math.isfinite(total.item()):
            raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                               "`parameters` is non-finite, so it cannot be clipped. To disable "
                               "this error and scale the gradients by the non-finite norm "
                               "anyway, set `error_if_nonfinite=False`")
    return total


def clip_grads_with_norm_(parameters: Parameters, max_norm: float, total_norm: Tensor,
                          foreach: Optional[bool] = None) -> None:
    """Scales the gradients of ``parameters`` in place by ``min(1, max_norm / (total_norm +
    1e-6))``, ``total_norm`` computed beforehand (by :func:`get_total_norm`, maybe over more
    tensors, or all-reduced); :func:`clip_grad_norm_` is the two together.

        >>> import graphc
        >>> w = graphc.nn.Parameter(graphc.zeros(2))
        >>> w.grad = graphc.tensor([3.0, 4.0])
        >>> clip_grads_with_norm_([w], 1.0, graphc.tensor(10.0))
        >>> [round(v, 4) for v in w.grad.tolist()]
        [0.3, 0.4]
    """
    with autograd.no_grad():
        grads = [p.grad for p in _tensors(parameters, "parameters") if p.grad is not None]
        if not grads:
            return
        if not isinstance(total_norm, Tensor):
            total_norm = tensor(float(total_norm))
        scale = F.clamp(float(max_norm) / (total_norm + 1e-6), max=1.0)
        for g in grads:
            g.mul_(scale.to(g.dtype))


def clip_grad_norm(parameters: Parameters, max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: Optional[bool] = None) -> Tensor:
    """Deprecated name of :func:`clip_grad_norm_` (with PyTorch's ``FutureWarning``)."""
    warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
         "`torch.nn.utils.clip_grad_norm_`.", FutureWarning)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_norm_(parameters: Parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: Optional[bool] = None) -> Tensor:
    """Scales the gradients of ``parameters`` in place so that their total norm (see
    :func:`get_total_norm`) is at most ``max_norm``; returns the total norm before clipping.

    As in PyTorch the scale is ``min(1, max_norm / (total_norm + 1e-6))``, applied always (a
    multiplication by 1 when the norm is small, so a compiled step has no branch), and
    parameters without a gradient are skipped. A non-finite norm raises ``RuntimeError`` with
    ``error_if_nonfinite=True``; otherwise the gradients become non-finite too.
    """
    params = _tensors(parameters, "parameters")
    with autograd.no_grad():
        total = get_total_norm([p.grad for p in params if p.grad is not None], norm_type,
                               error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_value_(parameters: Parameters, clip_value: float,
                     foreach: Optional[bool] = None) -> None:
    """Clamps every gradient of ``parameters`` in place to ``[-clip_value, clip_value]``."""
    clip_value = float(clip_value)
    with autograd.no_grad():
        for p in _tensors(parameters, "parameters"):
            if p.grad is not None:
                p.grad.clamp_(min=-clip_value, max=clip_value)
