"""Helpers the distributions share (``torch.distributions.utils``): turning numbers into
tensors and broadcasting parameters, logits <-> probabilities, cached parameters."""
from __future__ import annotations

from collections.abc import Callable
from numbers import Number
from typing import Any

import graphc
from graphc.tensor import Tensor

__all__ = ["broadcast_all", "clamp_probs", "lazy_property", "logits_to_probs",
           "probs_to_logits"]

euler_constant = 0.57721566490153286060  # Euler-Mascheroni constant


def is_number(value) -> bool:
    """A Python number: parameters that are all numbers give a distribution an empty batch."""
    return isinstance(value, Number)


def broadcast_all(*values) -> tuple:
    """The values as tensors of one broadcast shape (``torch.distributions.utils.broadcast_all``):
    numbers take the dtype of the first tensor among them (the default dtype when all are
    numbers).

        >>> loc, scale = broadcast_all(graphc.zeros(3), 1.0)
        >>> scale.shape, scale.dtype
        ((3,), f32)
    """
    if not all(isinstance(v, (Tensor, Number)) for v in values):
        raise ValueError("Input arguments must all be instances of Number or graphc.Tensor.")
    dtype = next((v.dtype for v in values if isinstance(v, Tensor)),
                 graphc.get_default_dtype())
    tensors = [v if isinstance(v, Tensor) else graphc.tensor(float(v), dtype=dtype)
               for v in values]
    if len(tensors) == 1:
        return (tensors[0],)
    return tuple(graphc.broadcast_tensors(*tensors))


def sum_rightmost(value, dim: int):
    """``value`` summed over its ``dim`` rightmost dimensions (a number is left alone)."""
    if dim == 0 or not isinstance(value, Tensor):
        return value
    return value.reshape(tuple(value.shape[:value.ndim - dim]) + (-1,)).sum(-1)


def clamp_probs(probs: Tensor) -> Tensor:
    """Probabilities clamped into ``[eps, 1 - eps]`` of their dtype, so their logs are finite.

        >>> clamp_probs(graphc.tensor([0.0, 0.5], dtype=graphc.float64)).tolist()
        [2.220446049250313e-16, 0.5]
    """
    eps = graphc.finfo(probs.dtype).eps
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """Log-odds (``is_binary``) or log-probabilities of probabilities (clamped first)."""
    clamped = clamp_probs(probs)
    if is_binary:
        return clamped.log() - (-clamped).log1p()
    return clamped.log()


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """The sigmoid of log-odds (``is_binary``), or the softmax of logits over the last dim."""
    if is_binary:
        return logits.sigmoid()
    return logits.softmax(-1)


class lazy_property:
    """A property computed on first access and then stored on the instance, as PyTorch's
    ``probs``/``logits`` pair: setting one of them in ``__init__`` makes the other lazy."""

    def __init__(self, wrapped: Callable[[Any], Any]):
        self.wrapped = wrapped
        self.__doc__ = wrapped.__doc__
        self.__name__ = wrapped.__name__

    def __get__(self, instance, obj_type=None) -> Any:
        if instance is None:
            return self
        value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value
