"""More normalization functions of ``torch.nn.functional`` (re-exported there):
``instance_norm``, ``group_norm``, ``rms_norm``, ``local_response_norm``.

Composites of graphc reductions, so they differentiate, trace and batch under ``vmap``.

    >>> import graphc
    >>> from graphc.nn.normalization_functional import rms_norm
    >>> out = rms_norm(graphc.tensor([[3.0, 4.0]]), (2,), eps=0.0)  # rms = sqrt(12.5)
    >>> [round(v, 5) for v in out[0].tolist()]
    [0.84853, 1.13137]
"""
from __future__ import annotations

from typing import Optional

import numpy as np

import graphc.functions as G
from graphc.amp.autocast_mode import autocast_op
from graphc.autograd import no_grad
from graphc.tensor import Tensor


def _channel_view(t: Tensor, ndim: int) -> Tensor:
    """A per-channel (C,) tensor shaped to broadcast over (N, C, *spatial)."""
    return G.reshape(t, [1, -1] + [1] * (ndim - 2))


def _affine(out: Tensor, weight: Optional[Tensor], bias: Optional[Tensor]) -> Tensor:
    if weight is not None:
        out = G.mul(out, _channel_view(weight, out.ndim))
    if bias is not None:
        out = G.add(out, _channel_view(bias, out.ndim))
    return out


@G.half_in_float32
def instance_norm(input: Tensor, running_mean: Optional[Tensor] = None,
                  running_var: Optional[Tensor] = None, weight: Optional[Tensor] = None,
                  bias: Optional[Tensor] = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalizes each (sample, channel) of (N, C, *spatial) input over its spatial axes.

    With ``use_input_stats`` and running statistics given, these are updated in place as
    PyTorch does: by the batch average of the per-instance mean and unbiased variance.
    Without ``use_input_stats`` the running statistics normalize (evaluation mode).
    """
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected (N, C, *spatial) input of at least 3 dims, "
                         f"got shape {list(input.shape)}")
    axes = list(range(2, input.ndim))
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: Expected running_mean and running_var to be "
                             "defined when use_input_stats is false")
        mean = _channel_view(running_mean, input.ndim)
        var = _channel_view(running_var, input.ndim)
    else:
        count = int(np.prod(input.shape[2:]))
        if count <= 1:
            raise ValueError(f"instance_norm: expected more than 1 spatial element when "
                             f"training, got input of shape {list(input.shape)}")
        mean = G.mean(input, axes, keepdim=True)
        var = G.var(input, axes, unbiased=False, keepdim=True)
        if running_mean is not None and running_var is not None:
            with no_grad():
                batch_mean = G.mean(G.reshape(mean.detach(), input.shape[:2]), 0)
                unbiased = G.mul(G.reshape(var.detach(), input.shape[:2]), count / (count - 1))
                running_mean.mul_(1.0 - momentum).add_(
                    G.cast(G.mul(batch_mean, momentum), running_mean.dtype))
                running_var.mul_(1.0 - momentum).add_(
                    G.cast(G.mul(G.mean(unbiased, 0), momentum), running_var.dtype))
    out = G.mul(G.sub(input, mean), G.rsqrt(G.add(var, float(eps))))
    return _affine(out, weight, bias)


@autocast_op("group_norm")
@G.half_in_float32
def group_norm(input: Tensor, num_groups: int, weight: Optional[Tensor] = None,
               bias: Optional[Tensor] = None, eps: float = 1e-5) -> Tensor:
    """Normalizes (N, C, *) input over groups of C / num_groups channels (biased variance),
    then scales and shifts each channel by ``weight`` and ``bias``."""
    if input.ndim < 2:
        raise RuntimeError(f"group_norm: expected input of at least 2 dims (N, C, *), got "
                           f"shape {list(input.shape)}")
    n, c = input.shape[:2]
    if num_groups < 1 or c % num_groups:
        raise RuntimeError(f"group_norm: Expected number of channels in input to be divisible "
                           f"by num_groups, but got input of shape {list(input.shape)} and "
                           f"num_groups={num_groups}")
    grouped = G.reshape(input, (n, num_groups, -1))
    mean = G.mean(grouped, 2, keepdim=True)
    var = G.var(grouped, 2, unbiased=False, keepdim=True)
    normed = G.reshape(G.mul(G.sub(grouped, mean), G.rsqrt(G.add(var, float(eps)))),
                       input.shape)
    return _affine(normed, weight, bias)


@autocast_op("rms_norm")
@G.half_in_float32
def rms_norm(input: Tensor, normalized_shape, weight: Optional[Tensor] = None,
             eps: Optional[float] = None) -> Tensor:
    """``x / sqrt(mean(x^2) + eps) * weight`` over the trailing ``normalized_shape`` dims;
    ``eps=None`` is the machine epsilon of the input's dtype (PyTorch's default)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape:  # it would normalize over no axis (an empty dim reduces every axis)
        raise RuntimeError("rms_norm: normalized_shape must name at least one trailing dimension, "
                         "got []")
    if tuple(input.shape[input.ndim - len(shape):]) != shape or len(shape) > input.ndim:
        raise RuntimeError(f"rms_norm: normalized_shape {list(shape)} does not match the "
                           f"trailing dimensions of input of shape {list(input.shape)}")
    if eps is None:
        eps = float(np.finfo(input.dtype.numpy).eps) if input.dtype.is_float else 1e-7
    axes = list(range(input.ndim - len(shape), input.ndim))
    out = G.mul(input, G.rsqrt(G.add(G.mean(G.mul(input, input), axes, keepdim=True),
                                     float(eps))))
    return out if weight is None else G.mul(out, weight)


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """``x / (k + alpha * mean of x^2 over size neighbouring channels) ** beta`` (the window
    of channel c is [c - size // 2, c + (size - 1) // 2], zero beyond the ends)."""
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: Expected 3D or higher dimensionality input "
                         f"(got {input.ndim} dimensions)")
    if input.numel() == 0:
        return input
    channels = input.shape[1]
    squares = G.mul(input, input)
    pads = [0, 0] * (input.ndim - 2) + [size // 2, (size - 1) // 2]
    padded = G.pad(squares, pads)
    window = None
    for offset in range(size):
        part = G.narrow(padded, 1, offset, channels)
        window = part if window is None else G.add(window, part)
    div = G.pow(G.add(G.mul(G.div(window, float(size)), float(alpha)), float(k)), float(beta))
    return G.div(input, div)


__all__ = ["instance_norm", "group_norm", "rms_norm", "local_response_norm"]
