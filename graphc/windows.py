"""Sliding windows: ``Tensor.unfold`` (windows along one dimension as a new last dimension)
and ``unfold``/``fold`` of ``torch.nn.functional`` (im2col and its adjoint col2im), written from
``index_select``, ``slice``, ``pad`` and ``concat`` so that they trace and have gradients.

    >>> import graphc
    >>> graphc.arange(5.0).unfold(0, 2, 2).tolist()
    [[0.0, 1.0], [2.0, 3.0]]
"""
from __future__ import annotations

from graphc import functions as F
from graphc.dispatch import apply
from graphc.errors import ShapeError
from graphc.tensor import Tensor
from ir.ops.conv import conv_output_size
from ir.types import wrap_dim


def unfold_dim(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """``Tensor.unfold``: every window of ``size`` elements along ``dimension``, ``step`` apart,
    with the windows in place of ``dimension`` and each window's elements in a new last one."""
    if step <= 0:
        raise ShapeError(f"unfold(): step must be positive, got {step}")
    if input.ndim == 0:
        input = F.reshape(input, [1])
    dim = wrap_dim(dimension, input.ndim)
    length = input.shape[dim]
    if not 0 <= size <= length:
        raise ShapeError(f"unfold(): size {size} must be between 0 and the size {length} of "
                         f"dimension {dim}")
    count = (length - size) // step + 1
    from graphc.factories import arange
    starts = F.mul(arange(count), step)
    positions = F.add(F.unsqueeze(starts, 1), F.unsqueeze(arange(size), 0))  # [count, size]
    windows = F.index_select(input, dim, positions)  # dim becomes [count, size]
    return F.permute(windows, [d for d in range(windows.ndim) if d != dim + 1] + [dim + 1])


def _pair(value, name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2:
        raise ShapeError(f"{name} must be an int or a pair, got {value!r}")
    return int(pair[0]), int(pair[1])


def _blocks(spatial, kernel, dilation, padding, stride) -> tuple[int, int]:
    counts = [conv_output_size(size, k, s, p, d)
              for size, k, d, p, s in zip(spatial, kernel, dilation, padding, stride)]
    if min(counts) <= 0:
        raise ShapeError(f"unfold/fold: the kernel {list(kernel)} (dilation {list(dilation)}) "
                         f"does not fit the padded input of spatial size {list(spatial)}")
    return counts[0], counts[1]


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """``torch.nn.functional.unfold`` (im2col): ``[N, C, H, W]`` -> ``[N, C*kh*kw, L]``, the
    sliding blocks as columns (each kernel offset one strided slice of the padded input)."""
    if input.ndim not in (3, 4):
        raise ShapeError(f"unfold(): input must be [N, C, H, W] or [C, H, W], got shape "
                         f"{list(input.shape)}")
    batched = input.ndim == 4
    x = input if batched else F.unsqueeze(input, 0)
    kernel, dil = _pair(kernel_size, "kernel_size"), _pair(dilation, "dilation")
    pad, step = _pair(padding, "padding"), _pair(stride, "stride")
    n, c, h, w = x.shape
    oh, ow = _blocks((h, w), kernel, dil, pad, step)
    if pad != (0, 0):
        x = F.pad(x, [pad[1], pad[1], pad[0], pad[0]])
    columns = []
    for a in range(kernel[0]):
        for e in range(kernel[1]):
            r0, c0 = a * dil[0], e * dil[1]
            columns.append(apply("slice", [x], starts=[0, 0, r0, c0],
                                 stops=[n, c, r0 + (oh - 1) * step[0] + 1,
                                        c0 + (ow - 1) * step[1] + 1],
                                 steps=[1, 1, step[0], step[1]]))
    stacked = F.stack(columns, 2)  # [N, C, kh*kw, oh, ow]
    out = F.reshape(stacked, [n, c * kernel[0] * kernel[1], oh * ow])
    return out if batched else F.squeeze(out, 0)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """``torch.nn.functional.fold`` (col2im), the adjoint of ``unfold``: ``[N, C*kh*kw, L]`` ->
    ``[N, C, H, W]``, overlapping values summed (each kernel offset padded into place)."""
    if input.ndim not in (2, 3):
        raise ShapeError(f"fold(): input must be [N, C*kh*kw, L] or [C*kh*kw, L], got shape "
                         f"{list(input.shape)}")
    batched = input.ndim == 3
    cols = input if batched else F.unsqueeze(input, 0)
    out_h, out_w = _pair(output_size, "output_size")
    kernel, dil = _pair(kernel_size, "kernel_size"), _pair(dilation, "dilation")
    pad, step = _pair(padding, "padding"), _pair(stride, "stride")
    n, ckk, blocks = cols.shape
    per_block = kernel[0] * kernel[1]
    oh, ow = _blocks((out_h, out_w), kernel, dil, pad, step)
    if ckk % per_block or blocks != oh * ow:
        raise ShapeError(f"fold(): input of shape {list(input.shape)} must be [N, C*{per_block},"
                         f" {oh * ow}] for kernel {list(kernel)} and output size "
                         f"{[out_h, out_w]}")
    c = ckk // per_block
    x = F.reshape(cols, [n, c, per_block, oh, ow])
    ph, pw = out_h + 2 * pad[0], out_w + 2 * pad[1]
    total = None
    for i, (a, e) in enumerate((a, e) for a in range(kernel[0]) for e in range(kernel[1])):
        part = F.squeeze(F.narrow(x, 2, i, 1), 2)
        r0, c0 = a * dil[0], e * dil[1]
        pads = [[0, 0, 0], [0, 0, 0],
                [r0, ph - (r0 + (oh - 1) * step[0] + 1), step[0] - 1],
                [c0, pw - (c0 + (ow - 1) * step[1] + 1), step[1] - 1]]
        placed = apply("pad", [part], pads=pads, value=0.0)
        total = placed if total is None else F.add(total, placed)
    out = apply("slice", [total], starts=[0, 0, pad[0], pad[1]],
                stops=[n, c, pad[0] + out_h, pad[1] + out_w], steps=[1, 1, 1, 1])
    return out if batched else F.squeeze(out, 0)


Tensor.unfold = unfold_dim
