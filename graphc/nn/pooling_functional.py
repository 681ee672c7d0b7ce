"""More pooling functions of ``torch.nn.functional`` (re-exported there): ``max_pool1d
avg_pool1d adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d lp_pool1d lp_pool2d max_unpool1d
max_unpool2d``.

The 1-D forms run the 2-D ones on a height-1 view. Adaptive max pooling gathers each output's
window from a table of flat positions (windows of unequal size repeat their first position,
which changes no maximum), so values and gradients are ``gather``'s, and ties keep the first
position in row-major order, as PyTorch's kernel does.

    >>> import graphc
    >>> from graphc.nn.pooling_functional import adaptive_max_pool1d, max_pool1d
    >>> x = graphc.tensor([[[1.0, 3.0, 2.0, 5.0, 4.0]]])
    >>> max_pool1d(x, 2).tolist()
    [[[3.0, 5.0]]]
    >>> out, index = adaptive_max_pool1d(x, 2, return_indices=True)
    >>> out.tolist(), index.tolist()
    ([[[3.0, 5.0]]], [[[1, 3]]])
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Optional

import numpy as np

import graphc.functions as G
from graphc import factories
from graphc.tensor import Tensor


def _functional():
    from graphc.nn import functional  # it re-exports this module
    return functional


def _single(value, name: str) -> int:
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ValueError(f"{name} needs 1 value, got {tuple(value)}")
        return int(value[0])
    return int(value)


def _as_2d(x: Tensor, who: str) -> Tensor:
    if x.ndim not in (2, 3):
        raise ValueError(f"{who}: expected 2D (C, L) or 3D (N, C, L) input, got shape "
                         f"{list(x.shape)}")
    return G.unsqueeze(x, -2)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over windows of (N, C, L) or (C, L) input; indices are positions along L."""
    kernel = _single(kernel_size, "kernel_size")
    step = kernel if stride is None or stride == [] or stride == () else _single(stride, "stride")
    result = _functional().max_pool2d(
        _as_2d(input, "max_pool1d"), (1, kernel), (1, step), (0, _single(padding, "padding")),
        (1, _single(dilation, "dilation")), ceil_mode=ceil_mode, return_indices=return_indices)
    if return_indices:
        return G.squeeze(result[0], -2), G.squeeze(result[1], -2)
    return G.squeeze(result, -2)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over windows of (N, C, L) or (C, L) input."""
    kernel = _single(kernel_size, "kernel_size")
    step = kernel if stride is None or stride == [] or stride == () else _single(stride, "stride")
    out = _functional().avg_pool2d(_as_2d(input, "avg_pool1d"), (1, kernel), (1, step),
                                   (0, _single(padding, "padding")), ceil_mode,
                                   count_include_pad)
    return G.squeeze(out, -2)


def _adaptive_windows(size: int, out: int) -> list:
    """PyTorch's adaptive windows along one axis: [floor(i*size/out), ceil((i+1)*size/out))."""
    return [range(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def _adaptive_max_pool(input: Tensor, output_size, return_indices: bool, nd: int, who: str):
    """Max over PyTorch's adaptive windows of the last ``nd`` dims of a (N, C, *spatial) or
    (C, *spatial) input; the indices are flat positions in the spatial dims (int64)."""
    names = "(C, L)", "(C, H, W)", "(C, D, H, W)"
    if input.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{who}: expected {nd + 1}D {names[nd - 1]} or {nd + 2}D (N, "
                         f"{names[nd - 1][1:]} input, got shape {list(input.shape)}")
    unbatched = input.ndim == nd + 1
    x = G.unsqueeze(input, 0) if unbatched else input
    n, c, spatial = x.shape[0], x.shape[1], tuple(x.shape[2:])
    sizes = output_size if isinstance(output_size, (list, tuple)) else (output_size,) * nd
    if len(sizes) != nd:
        raise ValueError(f"{who}: output_size must be {nd} values, got {sizes}")
    outs = tuple(spatial[a] if s is None else int(s) for a, s in enumerate(sizes))
    if min(outs) < 1 or min(spatial) < 1:
        raise ValueError(f"{who}: output size {outs} and input of shape "
                         f"{list(input.shape)} must be non-empty")
    strides = [int(np.prod(spatial[a + 1:], dtype=np.int64)) for a in range(nd)]
    per_axis = [_adaptive_windows(spatial[a], outs[a]) for a in range(nd)]
    windows = [[sum(i * st for i, st in zip(point, strides))
                for point in itertools.product(*ranges)]
               for ranges in itertools.product(*per_axis)]
    widest = max(len(win) for win in windows)
    table = np.array([win + [win[0]] * (widest - len(win)) for win in windows], np.int64)
    count, total = len(windows), int(np.prod(spatial, dtype=np.int64))
    flat = G.reshape(x, (n, c, total))
    candidates = G.reshape(G.index_select(flat, 2, factories.tensor(table.reshape(-1))),
                           (n, c, count, widest))
    best = G.argmax(candidates.detach(), -1, keepdim=True)  # (N, C, outputs, 1)
    positions = G.broadcast_to(factories.tensor(table), (n, c, count, widest))
    index = G.squeeze(G.gather(positions, 3, best), 3)  # (N, C, outputs)
    out = G.reshape(G.gather(flat, 2, index), (n, c) + outs)
    index = G.reshape(index, (n, c) + outs)
    if unbatched:
        out, index = G.squeeze(out, 0), G.squeeze(index, 0)
    return (out, index) if return_indices else out


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max over PyTorch's adaptive windows of (N, C, H, W) or (C, H, W) input; the indices
    are flat positions h * W + w (int64). An entry of ``output_size`` that is None keeps that
    input size."""
    return _adaptive_max_pool(input, output_size, return_indices, 2, "adaptive_max_pool2d")


def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False):
    """Max over PyTorch's adaptive windows of (N, C, D, H, W) or (C, D, H, W) input
    (``torch.nn.functional.adaptive_max_pool3d``); the indices are flat positions
    (d * H + h) * W + w (int64). An entry of ``output_size`` that is None keeps that size.

        >>> import graphc
        >>> x = graphc.arange(8.0).reshape(1, 1, 2, 2, 2)
        >>> out, index = adaptive_max_pool3d(x, 1, return_indices=True)
        >>> out.flatten().tolist(), index.flatten().tolist()
        ([7.0], [7])
    """
    return _adaptive_max_pool(input, output_size, return_indices, 3, "adaptive_max_pool3d")


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Max over PyTorch's adaptive windows of (N, C, L) or (C, L) input."""
    out, index = adaptive_max_pool2d(_as_2d(input, "adaptive_max_pool1d"),
                                     (1, _single(output_size, "output_size")),
                                     return_indices=True)
    out, index = G.squeeze(out, -2), G.squeeze(index, -2)
    return (out, index) if return_indices else out


def _lp_root(mean_of_powers: Tensor, window: int, norm_type: float) -> Tensor:
    """PyTorch's ``(sign(m) * relu(|m|) * window) ** (1 / p)`` of the windows' mean powers."""
    m = mean_of_powers
    return G.pow(G.mul(G.mul(G.sign(m), G.relu(G.abs(m))), float(window)), 1.0 / norm_type)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """``(sum over each window of x ** p) ** (1 / p)`` along L (power-average pooling)."""
    kernel = _single(kernel_size, "kernel_size")
    if math.isinf(norm_type):  # p = +-inf: the max (min) of |x| over each window, as PyTorch
        sign = 1 if norm_type > 0 else -1
        return sign * _functional().max_pool1d(sign * input.abs(), kernel, stride, 0, 1,
                                               ceil_mode)
    powered = G.pow(input, float(norm_type))
    return _lp_root(avg_pool1d(powered, kernel, stride, 0, ceil_mode), kernel, norm_type)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """``(sum over each (kh, kw) window of x ** p) ** (1 / p)``."""
    kh, kw = kernel_size if isinstance(kernel_size, (list, tuple)) else (kernel_size,) * 2
    if math.isinf(norm_type):
        sign = 1 if norm_type > 0 else -1
        return sign * _functional().max_pool2d(sign * input.abs(), (kh, kw), stride, 0, 1,
                                               ceil_mode)
    powered = G.pow(input, float(norm_type))
    mean = _functional().avg_pool2d(powered, (kh, kw), stride, 0, ceil_mode)
    return _lp_root(mean, int(kh) * int(kw), norm_type)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size: Optional[Sequence] = None) -> Tensor:
    """Places each value of ``input`` at its flat position ``indices`` (from ``max_pool2d``
    with ``return_indices=True``) in a zero (N, C, H, W) output; by default
    H = (h - 1) * stride - 2 * padding + kernel_size (PyTorch's)."""
    from graphc.index_ops import scatter
    kernel = kernel_size if isinstance(kernel_size, (list, tuple)) else (kernel_size,) * 2
    step = kernel if stride is None else (stride if isinstance(stride, (list, tuple))
                                          else (stride,) * 2)
    pads = padding if isinstance(padding, (list, tuple)) else (padding,) * 2
    if input.ndim not in (3, 4) or tuple(indices.shape) != tuple(input.shape):
        raise ValueError(f"max_unpool2d: expected 3D or 4D input and indices of its shape, got "
                         f"{list(input.shape)} and {list(indices.shape)}")
    default = [(s - 1) * st - 2 * p + k
               for s, st, p, k in zip(input.shape[-2:], step, pads, kernel)]
    size = default if output_size is None else [int(s) for s in list(output_size)[-2:]]
    for axis, (want, base, st) in enumerate(zip(size, default, step)):
        # PyTorch's check: another size puts the maxima at other places, silently
        if not base - st < want < base + st:
            raise ValueError(f"max_unpool2d: invalid output_size {list(size)} (size {axis} must "
                             f"be between {base - st + 1} and {base + st - 1})")
    lead = list(input.shape[:-2])
    # (the window count, not -1: with a batch of 0 there is nothing to infer -1 from)
    windows = input.shape[-2] * input.shape[-1]
    flat_in = G.reshape(input, lead + [windows])
    zeros = factories.zeros(*lead, size[0] * size[1], dtype=input.dtype)
    out = scatter(zeros, -1, G.reshape(indices, lead + [windows]), flat_in)
    return G.reshape(out, lead + size)


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size: Optional[Sequence] = None) -> Tensor:
    """``max_unpool2d`` along L of (N, C, L) or (C, L) input."""
    kernel = _single(kernel_size, "kernel_size")
    step = kernel if stride is None else _single(stride, "stride")
    size = None if output_size is None else (1, int(list(output_size)[-1]))
    out = max_unpool2d(G.unsqueeze(input, -2), G.unsqueeze(indices, -2), (1, kernel),
                       (1, step), (0, _single(padding, "padding")), size)
    return G.squeeze(out, -2)


__all__ = ["max_pool1d", "avg_pool1d", "adaptive_max_pool1d", "adaptive_max_pool2d",
           "adaptive_max_pool3d",
           "lp_pool1d", "lp_pool2d", "max_unpool1d", "max_unpool2d"]
