"""3-D convolution and pooling over (N, C, D, H, W) input, written from the 2-D primitives, so
they run eagerly, differentiate and compile (re-exported by :mod:`graphc.nn.functional`).

- ``conv3d`` is a sum over the depth taps of the kernel: for tap t, the depth slices
  ``t * dilation + stride * od`` of the input, folded into the batch, go through ``conv2d``
  with the weight's plane t (one GEMM per tap once compiled);
- ``conv_transpose3d`` is its adjoint: one ``conv_transpose2d`` of every depth plane, the
  kernel's depth taps folded into the output channels (one GEMM), then a 1-D transposed
  convolution along the depth with the identity as kernel, which scatters tap t of input
  plane i to output plane ``stride * i + dilation * t - padding`` and adds what overlaps;
- ``max_pool3d`` pools each depth plane with ``max_pool2d`` (channels and depth folded
  together), then keeps the first maximum over the depth taps (so the gradient goes to the
  first maximum in (d, h, w) order, as PyTorch's);
- ``avg_pool3d`` sums windows one axis at a time from strided slices and divides by PyTorch's
  divisor, whose per-axis counts multiply; ``adaptive_avg_pool3d`` averages axis by axis.

    >>> import graphc
    >>> import graphc.nn.functional as F
    >>> F.conv3d(graphc.ones(1, 2, 4, 4, 4), graphc.ones(3, 2, 2, 2, 2)).shape
    (1, 3, 3, 3, 3)
    >>> F.conv_transpose3d(graphc.ones(1, 2, 3, 3, 3), graphc.ones(2, 4, 2, 2, 2), stride=2).shape
    (1, 4, 6, 6, 6)
    >>> F.max_pool3d(graphc.ones(1, 2, 4, 4, 4), 2).shape
    (1, 2, 2, 2, 2)
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

import graphc.functions as G
from graphc import factories
from graphc.amp.autocast_mode import autocast_op
from graphc.dispatch import apply
from graphc.nn.functional import (
    _adaptive_mean,
    _batched,
    _same_padding,
    _squeeze_if,
    _transposed_geometry,
    _tuple,
    _window_counts,
    conv2d,
    conv_transpose1d,
    conv_transpose2d,
    max_pool2d,
)
from graphc.tensor import Tensor
from ir.ops.conv import conv_output_size


def _strided(x: Tensor, axis: int, start: int, step: int, count: int) -> Tensor:
    """``count`` entries of ``x`` along ``axis`` from ``start`` every ``step``."""
    starts, stops, steps = [0] * x.ndim, list(x.shape), [1] * x.ndim
    starts[axis], stops[axis], steps[axis] = start, start + step * (count - 1) + 1, step
    return apply("slice", [x], starts=starts, stops=stops, steps=steps)


@autocast_op("conv3d")
def conv3d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """3-D convolution of ``input`` (N, C, D, H, W) or (C, D, H, W) with ``weight``
    (O, C/groups, kd, kh, kw); ``padding`` may be an int, a triple, 'valid' or 'same'."""
    x, unbatched = _batched(input, 5, "conv3d")
    if weight.ndim != 5:
        raise ValueError(f"conv3d: weight must be 5-D (out, in/groups, kd, kh, kw), got shape "
                         f"{list(weight.shape)}")
    stride, dilation = _tuple(stride, 3, "stride"), _tuple(dilation, 3, "dilation")
    kernel = tuple(weight.shape[2:])
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"conv3d: padding must be 'valid', 'same' or numbers, got "
                             f"{padding!r}")
        pairs = (_same_padding(kernel, dilation, stride, "conv3d") if padding == "same"
                 else [(0, 0)] * 3)
    else:
        pairs = [(p, p) for p in _tuple(padding, 3, "padding")]
    if any(pairs[0]):
        x = G.pad(x, [0, 0, 0, 0, *pairs[0]])
    hw_padding = [lo for lo, _ in pairs[1:]]
    extra = [hi - lo for lo, hi in pairs[1:]]
    if any(extra):  # 'same' with an even kernel: one more on the high side, as PyTorch
        x = G.pad(x, [0, extra[1], 0, extra[0]])
    n, c, depth, h, w = x.shape
    out_depth = conv_output_size(depth, kernel[0], stride[0], 0, dilation[0])
    if out_depth < 1:
        raise ValueError(f"conv3d: kernel {list(kernel)} (dilation {list(dilation)}) is deeper "
                         f"than the padded input of shape {list(x.shape)}")
    total = None
    for tap in range(kernel[0]):
        planes = _strided(x, 2, tap * dilation[0], stride[0], out_depth)  # N, C, Do, H, W
        folded = G.reshape(G.permute(planes, (0, 2, 1, 3, 4)), (n * out_depth, c, h, w))
        plane_weight = G.squeeze(G.narrow(weight, 2, tap, 1), 2)
        part = conv2d(folded, plane_weight, None, stride[1:], hw_padding, dilation[1:], groups)
        total = part if total is None else G.add(total, part)
    out = G.permute(G.reshape(total, (n, out_depth, *total.shape[1:])), (0, 2, 1, 3, 4))
    if bias is not None:
        out = G.add(out, G.reshape(bias, (1, -1, 1, 1, 1)))
    return _squeeze_if(out, unbatched)


@autocast_op("conv_transpose3d")
def conv_transpose3d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """3-D transposed convolution of ``input`` (N, Cin, D, H, W) or (Cin, D, H, W) with
    ``weight`` (Cin, Cout/groups, kd, kh, kw), like ``torch.nn.functional.conv_transpose3d``:
    out = (D - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1 per axis.

        >>> import graphc
        >>> y = conv_transpose3d(graphc.ones(1, 1, 2, 1, 1), graphc.ones(1, 1, 2, 1, 1), stride=2)
        >>> y.flatten().tolist()
        [1.0, 1.0, 1.0, 1.0]
    """
    x, unbatched = _batched(input, 5, "conv_transpose3d")
    stride, padding, output_padding, dilation, size = _transposed_geometry(
        "conv_transpose3d", x, weight, input.shape, stride, padding, output_padding, groups,
        dilation)
    n, cin, depth, h, w = x.shape
    per_group, taps = weight.shape[1], weight.shape[2]
    cout = per_group * groups
    # H and W: every input plane through one conv_transpose2d whose output channels are
    # (out channel, depth tap) pairs; weight (Cin, Cout/g, kd, kh, kw) is already laid out so
    planes = G.reshape(G.permute(x, (0, 2, 1, 3, 4)), (n * depth, cin, h, w))
    flat_weight = G.reshape(weight, (cin, per_group * taps, *weight.shape[3:]))
    spread = conv_transpose2d(planes, flat_weight, None, stride[1:], padding[1:],
                              output_padding[1:], groups, dilation[1:])
    out_h, out_w = spread.shape[2:]
    # D: rows (n, out channel, h, w) of (tap, input plane) values, scattered by a 1-D
    # transposed convolution whose kernel is the identity over the taps
    rows = G.reshape(spread, (n, depth, cout, taps, out_h * out_w))
    rows = G.reshape(G.permute(rows, (0, 2, 4, 3, 1)), (n * cout * out_h * out_w, taps, depth))
    identity = G.reshape(factories.eye(taps, dtype=rows.dtype), (taps, 1, taps))
    out = conv_transpose1d(rows, identity, None, stride[0], padding[0], output_padding[0], 1,
                           dilation[0])
    out = G.permute(G.reshape(out, (n, cout, out_h, out_w, size[0])), (0, 1, 4, 2, 3))
    if bias is not None:
        out = G.add(out, G.reshape(bias, (1, -1, 1, 1, 1)))
    return _squeeze_if(out, unbatched)


@autocast_op("max_pool3d")
def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    """Max over (kd, kh, kw) windows of (N, C, D, H, W) or (C, D, H, W) input; padding counts
    as -inf. ``return_indices`` is not supported (graphc raises NotImplementedError)."""
    if return_indices:
        raise NotImplementedError("max_pool3d: return_indices=True is not supported by graphc")
    x, unbatched = _batched(input, 5, "max_pool3d")
    kernel = _tuple(kernel_size, 3, "kernel_size")
    stride = kernel if stride is None or (isinstance(stride, (list, tuple)) and not stride) \
        else _tuple(stride, 3, "stride")
    padding, dilation = _tuple(padding, 3, "padding"), _tuple(dilation, 3, "dilation")
    for k, p, d in zip(kernel, padding, dilation):
        if 2 * p > d * (k - 1) + 1:
            raise ValueError(f"max_pool3d: pad should be at most half of effective kernel "
                             f"size, but got padding={list(padding)}, kernel_size="
                             f"{list(kernel)} and dilation={list(dilation)}")
    n, c, depth, h, w = x.shape
    planes = max_pool2d(G.reshape(x, (n, c * depth, h, w)), kernel[1:], stride[1:], padding[1:],
                        dilation[1:], ceil_mode)
    planes = G.reshape(planes, (n, c, depth, *planes.shape[2:]))
    out_depth = conv_output_size(depth, kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
    if out_depth < 1:
        raise ValueError(f"max_pool3d: kernel {list(kernel)} does not fit the padded input of "
                         f"shape {list(x.shape)}")
    reach = (out_depth - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1
    high = padding[0] + max(0, reach - (depth + 2 * padding[0]))
    if padding[0] or high:
        planes = G.pad(planes, [0, 0, 0, 0, padding[0], high], -math.inf)
    best = None
    for tap in range(kernel[0]):
        part = _strided(planes, 2, tap * dilation[0], stride[0], out_depth)
        if best is None:
            best = part
        else:  # strictly greater (or NaN) replaces: the first maximum keeps the gradient
            best = G.where(G.logical_or(G.gt(part, best), G.isnan(part)), part, best)
    return _squeeze_if(best, unbatched)


@autocast_op("avg_pool3d")
@G.half_in_float32  # (window sums of float16 overflow where their means do not)
def avg_pool3d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: Optional[int] = None) -> Tensor:
    """Mean over (kd, kh, kw) windows, with PyTorch's divisor (zero padding counted unless
    ``count_include_pad`` is False, or ``divisor_override``)."""
    x, unbatched = _batched(input, 5, "avg_pool3d")
    kernel = _tuple(kernel_size, 3, "kernel_size")
    stride = kernel if stride is None or (isinstance(stride, (list, tuple)) and not stride) \
        else _tuple(stride, 3, "stride")
    padding = _tuple(padding, 3, "padding")
    for k, p in zip(kernel, padding):
        if 2 * p > k:
            raise ValueError(f"avg_pool3d: pad should be at most half of kernel size, but got "
                             f"padding={list(padding)} and kernel_size={list(kernel)}")
    sizes = x.shape[2:]
    out = [conv_output_size(s, k, st, p, 1, ceil_mode)
           for s, k, st, p in zip(sizes, kernel, stride, padding)]
    if min(out) < 1:
        raise ValueError(f"avg_pool3d: kernel {list(kernel)} does not fit the padded input of "
                         f"shape {list(x.shape)}")
    extra = [max(0, (o - 1) * st + k - (s + 2 * p))
             for o, st, k, s, p in zip(out, stride, kernel, sizes, padding)]
    pads = [v for p, e in zip(reversed(padding), reversed(extra)) for v in (p, p + e)]
    total = G.pad(x, pads) if any(pads) else x
    for axis, (k, st, o) in enumerate(zip(kernel, stride, out), 2):
        parts = [_strided(total, axis, i, st, o) for i in range(k)]
        total = parts[0]
        for part in parts[1:]:
            total = G.add(total, part)
    if divisor_override is not None:
        return _squeeze_if(G.div(total, float(divisor_override)), unbatched)
    counts = [_window_counts(s, k, st, p, o, count_include_pad)
              for s, k, st, p, o in zip(sizes, kernel, stride, padding, out)]
    divisor = np.einsum("i,j,k->ijk", *counts)
    if np.all(divisor == divisor.flat[0]):
        return _squeeze_if(G.div(total, float(divisor.flat[0])), unbatched)
    return _squeeze_if(G.div(total, factories.tensor(divisor.astype(total.dtype.numpy))),
                       unbatched)


@autocast_op("adaptive_avg_pool3d")
def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:
    """Averages over PyTorch's adaptive windows along D, H and W (None keeps that size)."""
    x, unbatched = _batched(input, 5, "adaptive_avg_pool3d")
    sizes = output_size if isinstance(output_size, (list, tuple)) else (output_size,) * 3
    if len(sizes) != 3:
        raise ValueError(f"adaptive_avg_pool3d: output_size needs 3 values, got {sizes}")
    for axis, size in enumerate(sizes, 2):
        x = _adaptive_mean(x, axis, x.shape[axis] if size is None else int(size))
    return _squeeze_if(x, unbatched)
