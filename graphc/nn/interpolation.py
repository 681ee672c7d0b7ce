"""Resampling of spatial axes: ``interpolate`` (nearest, nearest-exact, linear, bilinear,
trilinear) and ``pixel_shuffle``/``pixel_unshuffle``, like ``torch.nn.functional``.

Every mode is separable: the output along one spatial axis depends on that axis only, so the
result is built one axis at a time from primitives that compile and differentiate:

- *nearest* picks one source position per output position: an ``index_select`` with indices
  computed here with PyTorch's float32 arithmetic (so the same source is chosen), or for an
  integer up-scaling factor a broadcast and a reshape;
- *linear* mixes the two neighbouring sources: a small (out, in) interpolation matrix with two
  non-zeros per row applied with ``matmul`` along the axis, exact and fast.

    >>> import graphc
    >>> x = graphc.tensor([[[1.0, 2.0]]])
    >>> interpolate(x, scale_factor=2, mode="nearest").tolist()
    [[[1.0, 1.0, 2.0, 2.0]]]
    >>> interpolate(x, size=3, mode="linear", align_corners=True).tolist()
    [[[1.0, 1.5, 2.0]]]
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional, Union

import numpy as np

import graphc.functions as G
from graphc import factories
from graphc.errors import ArgumentError, ArgumentTypeError, ShapeError, UnsupportedArgumentError
from graphc.tensor import Tensor

_LINEAR_RANK = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
_NEAREST = ("nearest", "nearest-exact")


def _per_axis(value, dims: int, name: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != dims:
            raise ArgumentError(f"interpolate: {name} {tuple(value)} must have {dims} entries, one "
                                f"per spatial dimension of the input")
        return list(value)
    return [value] * dims


def _output_sizes(input: Tensor, size, scale_factor, recompute_scale_factor):
    """(output sizes, the scales the coordinate mapping uses: None where it uses in/out)."""
    dims = input.ndim - 2
    if size is not None and scale_factor is not None:
        raise ArgumentError("only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ArgumentError("either size or scale_factor should be defined")
    if size is not None:
        if recompute_scale_factor:
            raise ArgumentError("recompute_scale_factor is not meaningful with an explicit size.")
        sizes = [int(s) for s in _per_axis(size, dims, "size")]
        if min(sizes) < 1:
            raise ArgumentError(f"interpolate: size {sizes} must be positive")
        return sizes, [None] * dims
    factors = [float(f) for f in _per_axis(scale_factor, dims, "scale_factor")]
    if min(factors) <= 0:
        raise ArgumentError(f"interpolate: scale_factor {factors} must be positive")
    sizes = [math.floor(n * f) for n, f in zip(input.shape[2:], factors)]
    if min(sizes) < 1:
        raise ArgumentError(f"interpolate: input of shape {list(input.shape)} scaled by {factors} "
                            f"has an empty output {sizes}")
    return sizes, ([None] * dims if recompute_scale_factor else factors)


def nearest_indices(in_size: int, out_size: int, scale: Optional[float],
                    exact: bool = False) -> np.ndarray:
    """Source position of each output position for nearest(-exact) resampling, computed in
    float32 as PyTorch's CPU kernels do (``floor(dst * s)`` or ``floor((dst + 0.5) * s)``,
    with ``s = 1 / scale_factor`` or ``in / out``)."""
    step = np.float32(1.0 / scale if scale else np.float32(in_size) / np.float32(out_size))
    dst = np.arange(out_size, dtype=np.float32)
    if exact:
        dst = dst + np.float32(0.5)
    src = np.floor(dst * step).astype(np.int64)
    return np.minimum(src, in_size - 1)


def linear_weights(in_size: int, out_size: int, scale: Optional[float],
                   align_corners: bool) -> np.ndarray:
    """The (out, in) matrix of linear interpolation along one axis (PyTorch's source-index rule:
    ``dst * (in - 1) / (out - 1)`` with ``align_corners``, else ``(dst + 0.5) / scale - 0.5``
    clamped at 0; each row mixes the two neighbours of the source position)."""
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        src = dst * ((in_size - 1) / (out_size - 1)) if out_size > 1 else np.zeros(out_size)
    else:
        step = 1.0 / scale if scale else in_size / out_size
        src = np.maximum((dst + 0.5) * step - 0.5, 0.0)
    low = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    high = np.minimum(low + 1, in_size - 1)
    frac = src - low
    weights = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    np.add.at(weights, (rows, low), 1.0 - frac)
    np.add.at(weights, (rows, high), frac)
    return weights


def cubic_coefficients(t):
    """The weights of the 4 taps at ``floor(src) - 1 .. floor(src) + 2`` for the fraction
    ``t = src - floor(src)``: Keys' cubic convolution with PyTorch's A = -0.75 (the same in
    ``interpolate`` and ``grid_sample``). ``t`` is a NumPy array or a Tensor; for a Tensor the
    gradient flows through ``t``."""
    a = -0.75

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def cubic_weights(in_size: int, out_size: int, scale: Optional[float],
                  align_corners: bool) -> np.ndarray:
    """The (out, in) matrix of PyTorch's bicubic interpolation along one axis: Keys' cubic
    convolution (A = -0.75) over the 4 neighbours of the source position (not clamped at 0,
    unlike the linear modes), indices past the edge clamped to it."""
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        src = dst * ((in_size - 1) / (out_size - 1)) if out_size > 1 else np.zeros(out_size)
    else:
        step = 1.0 / scale if scale else in_size / out_size
        src = (dst + 0.5) * step - 0.5
    base = np.floor(src)
    taps = cubic_coefficients(src - base)
    weights = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    for k, coefficient in enumerate(taps):
        index = np.clip(base.astype(np.int64) - 1 + k, 0, in_size - 1)
        np.add.at(weights, (rows, index), coefficient)
    return weights


def _nearest_along(x: Tensor, axis: int, index: np.ndarray) -> Tensor:
    size = x.shape[axis]
    if len(index) == size and np.array_equal(index, np.arange(size)):
        return x
    factor = len(index) // size
    if len(index) == factor * size and np.array_equal(index, np.arange(len(index)) // factor):
        # integer up-scaling: each source repeated ``factor`` times, a broadcast and a reshape
        shape = list(x.shape)
        repeated = G.expand(G.unsqueeze(x, axis + 1),
                            tuple(shape[:axis + 1] + [factor] + shape[axis + 1:]))
        return G.reshape(repeated, tuple(shape[:axis] + [len(index)] + shape[axis + 1:]))
    return G.index_select(x, axis, factories.tensor(index))


def _linear_along(x: Tensor, axis: int, weights: np.ndarray) -> Tensor:
    if weights.shape[0] == weights.shape[1] and np.array_equal(weights, np.eye(len(weights))):
        return x
    matrix = factories.tensor(weights.astype(x.dtype.numpy))
    if axis == x.ndim - 1:
        return G.matmul(x, G.transpose(matrix, 0, 1))
    if axis == x.ndim - 2:
        return G.matmul(matrix, x)
    moved = G.transpose(x, axis, -1)
    return G.transpose(G.matmul(moved, G.transpose(matrix, 0, 1)), axis, -1)


def interpolate(input: Tensor, size: Union[int, Sequence[int], None] = None,
                scale_factor: Union[float, Sequence[float], None] = None,
                mode: str = "nearest", align_corners: Optional[bool] = None,
                recompute_scale_factor: Optional[bool] = None, antialias: bool = False) -> Tensor:
    """Resamples the spatial axes of (N, C, L), (N, C, H, W) or (N, C, D, H, W) ``input`` to
    ``size`` or by ``scale_factor``, like ``torch.nn.functional.interpolate``.

    ``mode`` is 'nearest', 'nearest-exact', 'linear' (3-D input), 'bilinear' or 'bicubic'
    (4-D), 'trilinear' (5-D) or 'area' (adaptive average pooling to the output size).
    ``align_corners`` (linear modes only, default False) maps the corner pixels' centres onto
    each other. With ``scale_factor`` the output size is
    ``floor(in * scale_factor)`` and the coordinate mapping uses ``1 / scale_factor``, unless
    ``recompute_scale_factor`` asks for ``in / out``, as with ``size``.

        >>> import graphc
        >>> interpolate(graphc.ones(1, 2, 3, 4), scale_factor=2, mode="bilinear").shape
        (1, 2, 6, 8)
    """
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported by graphc")
    if mode not in _NEAREST and mode not in _LINEAR_RANK and mode not in ("area", "bicubic"):
        raise UnsupportedArgumentError(f"interpolate: mode {mode!r} is not supported; graphc has "
                                       f"{', '.join(_NEAREST + tuple(_LINEAR_RANK))}, area")
    if input.ndim not in (3, 4, 5):
        raise ArgumentError(f"interpolate: input must be 3-D, 4-D or 5-D (N, C, spatial...), got "
                            f"shape {list(input.shape)}")
    if mode == "area":  # PyTorch's: adaptive average pooling to the output size
        if align_corners is not None:
            raise ArgumentError("align_corners option can only be set with the interpolating "
                                "modes: linear | bilinear | bicubic | trilinear")
        sizes, _ = _output_sizes(input, size, scale_factor, recompute_scale_factor)
        from graphc.nn import functional as F
        from graphc.nn.volumetric import adaptive_avg_pool3d
        pool = {3: F.adaptive_avg_pool1d, 4: F.adaptive_avg_pool2d,
                5: adaptive_avg_pool3d}[input.ndim]
        return pool(input, sizes[0] if input.ndim == 3 else tuple(sizes))
    if mode in _NEAREST:
        if align_corners is not None:
            raise ArgumentError("align_corners option can only be set with the interpolating "
                                "modes: linear | bilinear | bicubic | trilinear")
    elif input.ndim - 2 != _LINEAR_RANK[mode]:
        raise UnsupportedArgumentError(f"Got {input.ndim}D input, but {mode} mode needs "
                                       f"{_LINEAR_RANK[mode] + 2}D input")
    elif not input.dtype.is_float:
        raise ArgumentTypeError(f"interpolate: mode {mode!r} needs floating-point input, got "
                                f"{input.dtype}")
    sizes, scales = _output_sizes(input, size, scale_factor, recompute_scale_factor)
    out = input
    if mode == "bicubic":  # separable: one cubic matrix per axis (a copy if no size changes)
        if list(input.shape[2:]) == list(sizes):
            return input * 1
        for axis, (in_size, out_size, scale) in enumerate(zip(input.shape[2:], sizes, scales),
                                                          2):
            out = _linear_along(out, axis, cubic_weights(in_size, out_size, scale,
                                                         bool(align_corners)))
        return out
    for axis, (in_size, out_size, scale) in enumerate(zip(input.shape[2:], sizes, scales), 2):
        if mode in _NEAREST:
            index = nearest_indices(in_size, out_size, scale, exact=mode == "nearest-exact")
            out = _nearest_along(out, axis, index)
        elif in_size != out_size:  # an axis keeping its size is copied, whatever the scale,
            # as PyTorch's linear kernels do (scale_factor=1.2 on 4 pixels keeps 4)
            weights = linear_weights(in_size, out_size, scale, bool(align_corners))
            out = _linear_along(out, axis, weights)
    return out if out is not input else input * 1  # (a new tensor, as for other sizes)


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
             align_corners: Optional[bool] = None) -> Tensor:
    """The deprecated ``F.upsample``: :func:`interpolate`."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """Bilinear with ``align_corners=True`` (the deprecated function's convention)."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def _check_shuffle(name: str, input: Tensor, factor: int) -> None:
    if input.ndim < 3:
        raise RuntimeError(f"{name} expects input to have at least 3 dimensions, but got input "
                           f"with {input.ndim} dimension(s)")
    if not isinstance(factor, int) or factor < 1:
        raise RuntimeError(f"{name} expects a positive integer factor, got {factor!r}")


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r) with r = ``upscale_factor``: channel
    ``c * r^2 + i * r + j`` becomes the sub-pixel (i, j) of channel c.

        >>> import graphc
        >>> pixel_shuffle(graphc.arange(4.0).reshape(1, 4, 1, 1), 2).tolist()
        [[[[0.0, 1.0], [2.0, 3.0]]]]
    """
    _check_shuffle("pixel_shuffle", input, upscale_factor)
    r = upscale_factor
    *lead, channels, h, w = input.shape
    if channels % (r * r):
        raise ShapeError(f"pixel_shuffle expects its input's 'channel' dimension to be "
                         f"divisible by the square of upscale_factor, but input.size(-3)="
                         f"{channels} is not divisible by {r * r}")
    k = len(lead)
    split = G.reshape(input, (*lead, channels // (r * r), r, r, h, w))
    moved = G.permute(split, (*range(k + 1), k + 3, k + 1, k + 4, k + 2))
    return G.reshape(moved, (*lead, channels // (r * r), h * r, w * r))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """The inverse of :func:`pixel_shuffle`: (*, C, H * r, W * r) -> (*, C * r^2, H, W).

        >>> import graphc
        >>> pixel_unshuffle(graphc.arange(4.0).reshape(1, 1, 2, 2), 2).flatten().tolist()
        [0.0, 1.0, 2.0, 3.0]
    """
    _check_shuffle("pixel_unshuffle", input, downscale_factor)
    r = downscale_factor
    *lead, channels, h, w = input.shape
    if h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle expects height and width to be divisible by "
                           f"downscale_factor, but input.size(-2)={h} and input.size(-1)={w} "
                           f"are not both divisible by {r}")
    k = len(lead)
    split = G.reshape(input, (*lead, channels, h // r, r, w // r, r))
    moved = G.permute(split, (*range(k + 1), k + 2, k + 4, k + 1, k + 3))
    return G.reshape(moved, (*lead, channels * r * r, h // r, w // r))
