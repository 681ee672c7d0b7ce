"""``grid_sample`` and ``affine_grid``: sampling an image at arbitrary points, like
``torch.nn.functional``'s (spatial transformer networks, warps, optical-flow resampling).

``grid`` holds one point per output pixel in normalized coordinates, its last axis (x, y) for
(N, C, H, W) input or (x, y, z) for (N, C, D, H, W): x indexes width, y height, z depth; -1 and 1
are the image's edges, or with ``align_corners=True`` the centres of its corner pixels.

The sampler is a composite of primitives, so it runs eagerly, differentiates with respect to
both the input and the grid, and traces inside ``@graphc.compile``:

- each coordinate is unnormalized to pixel units and padded ('border' clamps it into the image,
  'reflection' folds it back in, 'zeros' leaves it) with ``where``, so the gradient follows
  PyTorch's conventions: zero where the coordinate is clamped, the border itself included,
  and negated on a mirrored stretch;
- the neighbours ('bilinear'/trilinear: 2 per axis, 'bicubic': 4 per axis, 'nearest': the
  point rounded half to even) are read with one ``gather`` each from the flattened image,
  taps outside it reading 0;
- they are mixed with weights computed from the fractional part of the coordinate, which
  carries the gradient with respect to the grid (zero for 'nearest', as in PyTorch).

    >>> import graphc
    >>> image = graphc.arange(4.0).reshape(1, 1, 2, 2)
    >>> grid = graphc.tensor([[[[0.0, 0.0], [-1.0, -1.0], [1.0, -1.0]]]])  # centre, corners
    >>> grid_sample(image, grid, align_corners=True).tolist()
    [[[[1.5, 0.0, 1.0]]]]
    >>> theta = graphc.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])  # the identity
    >>> grid_sample(image, affine_grid(theta, [1, 1, 2, 2], align_corners=False),
    ...             align_corners=False).tolist()
    [[[[0.0, 1.0], [2.0, 3.0]]]]
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional

import numpy as np

import graphc.functions as G
from graphc import factories
from graphc.amp.autocast_mode import autocast_op
from graphc.dispatch import apply
from graphc.errors import ArgumentError, DTypeError, ShapeError
from graphc.nn.interpolation import cubic_coefficients
from graphc.tensor import Tensor
from graphc.user_warnings import warn
from ir import dtypes

_MODES = ("bilinear", "nearest", "bicubic")
_PADDING_MODES = ("zeros", "border", "reflection")
_DEFAULT_CHANGED = ("Default grid_sample and affine_grid behavior has changed to "
                    "align_corners=False since 1.3.0. Please specify align_corners=True if the "
                    "old behavior is desired. See the documentation of grid_sample for details.")


def _resolve_align_corners(align_corners: Optional[bool]) -> bool:
    """False when not given, with PyTorch's warning that the default changed (at the caller's
    line of ``grid_sample``/``affine_grid``)."""
    if align_corners is None:
        warn(_DEFAULT_CHANGED)
        return False
    return bool(align_corners)


# -- coordinates: normalized -> pixel units -> padded ---------------------------------------------
# Points are (..., dims) tensors in the grid's component order (x, y[, z]); ``extents`` are the
# image's sizes in that order (W, H[, D]), so every step is one op for all components.
def _per_component(values, like: Tensor) -> Tensor:
    return factories.tensor(np.asarray(values, dtype=like.dtype.numpy))


def _unnormalize(points: Tensor, extents: Sequence[int], align_corners: bool) -> Tensor:
    """[-1, 1] to pixel units: corner centres at 0 and size - 1 (``align_corners``), or image
    edges at -0.5 and size - 0.5 (PyTorch's CPU kernels' arithmetic)."""
    sizes = np.asarray(extents, dtype=np.float64)
    if align_corners:
        return (points + 1.0) * _per_component((sizes - 1) / 2, points)
    return (points + 1.0) * _per_component(sizes / 2, points) - 0.5


def _clip(points: Tensor, extents: Sequence[int]) -> Tensor:
    """``points`` clamped to [0, size - 1], NaN to 0. The gradient passes strictly inside only:
    PyTorch counts a coordinate exactly on the border as clamped (gradient 0), where
    ``clamp`` would pass it."""
    high = _per_component([size - 1 for size in extents], points)
    return G.where(points > 0.0, G.where(points < high, points, high), 0.0)


def _reflect(points: Tensor, extents: Sequence[int], align_corners: bool) -> Tensor:
    """``points`` folded into [low, low + span] by reflecting at its ends, as PyTorch's
    ``reflect_coordinates``: low = 0, span = size - 1 (``align_corners``) or low = -0.5,
    span = size. The gradient is -1 on mirrored stretches (+1 at ``low`` itself, as
    PyTorch's)."""
    if align_corners:
        # (a 1-pixel axis has an empty span: PyTorch puts every point at 0 with zero gradient,
        # which the clipping that follows gives whatever this returns, so any span will do)
        low, twice_spans = 0.0, [2.0 * (size - 1) if size > 1 else 1.0 for size in extents]
    else:
        low, twice_spans = -0.5, [2.0 * size for size in extents]
    twice_span = _per_component(twice_spans, points)
    shifted = points - low
    distance = G.where(shifted < 0.0, -shifted, shifted)
    double_flips = apply("trunc", [distance / twice_span])  # (no gradient)
    extra = distance - double_flips * twice_span
    mirrored = twice_span - extra
    return G.where(extra > mirrored, mirrored, extra) + low


def _pad(points: Tensor, extents: Sequence[int], padding_mode: str,
         align_corners: bool) -> Tensor:
    if padding_mode == "zeros":
        return points  # taps outside the image read 0
    if padding_mode == "reflection":
        points = _reflect(points, extents, align_corners)
    return _clip(points, extents)


# -- reading taps ---------------------------------------------------------------------------------
def _along(first: Tensor, count: int) -> Tensor:
    """(N, count, P, dims): ``first`` (N, P, dims) + 0, 1, ..., count - 1, the taps along
    each axis."""
    offsets = np.arange(count, dtype=first.dtype.numpy).reshape(count, 1, 1)
    return G.unsqueeze(first, 1) + factories.tensor(offsets)


def _per_axis(x: Tensor) -> list[Tensor]:
    """(N, K, P, dims) split into one tensor per spatial axis (in the input's order: the last
    component first), the K taps of spatial axis ``a`` laid along axis ``1 + a`` of
    (N, 1, .., 1, P) so that the axes' taps broadcast into every combination."""
    n, count, points, dims = x.shape
    out = []
    for axis in range(dims):
        shape = [n] + [1] * dims + [points]
        shape[1 + axis] = count
        out.append(G.reshape(G.narrow(x, 3, dims - 1 - axis, 1), tuple(shape)))
    return out


def _read(flat_input: Tensor, taps: Tensor, extents: Sequence[int]) -> Tensor:
    """The (N, C, K, .., K, P) values of the (N, C, prod(extents)) image at every combination
    of the integer-valued (N, K, P, dims) taps along each axis, 0 where one is outside the
    image; one ``gather`` for all of them. Outside taps (NaN included) read position 0 of
    their axis, so no gather ever reads out of bounds, compiled or not."""
    n, c, _ = flat_input.shape
    within = G.logical_and(taps >= 0.0, taps <= _per_component([s - 1 for s in extents], taps))
    strides = [math.prod(extents[:k]) for k in range(len(extents))]  # x varies fastest
    position = (G.cast(G.where(within, taps, 0.0), dtypes.i64)
                * factories.tensor(np.asarray(strides, dtype=np.int64)))
    inside = index = None
    for axis_within, axis_position in zip(_per_axis(within), _per_axis(position)):
        inside = axis_within if inside is None else G.logical_and(inside, axis_within)
        index = axis_position if index is None else index + axis_position
    count = math.prod(index.shape[1:])
    flat_index = G.broadcast_to(G.reshape(index, (n, 1, count)), (n, c, count))
    values = G.reshape(G.gather(flat_input, 2, flat_index), (n, c, *index.shape[1:]))
    return G.where(G.unsqueeze(inside, 1), values, 0.0)


def _bilinear(flat_input, points, extents, padding_mode, align_corners):
    points = _pad(_unnormalize(points, extents, align_corners), extents, padding_mode,
                  align_corners)
    low = apply("floor", [points])
    fraction = points - low
    # each corner weighs the product over axes of its distance to the opposite side
    weight = None
    for factor in _per_axis(G.stack([1.0 - fraction, fraction], 1)):
        weight = factor if weight is None else weight * factor
    values = _read(flat_input, _along(low, 2), extents)
    return G.sum(G.unsqueeze(weight, 1) * values, tuple(range(2, 2 + len(extents))))


def _nearest(flat_input, points, extents, padding_mode, align_corners):
    taps = apply("round", [_pad(_unnormalize(points, extents, align_corners), extents,
                                padding_mode, align_corners)])  # half to even: nearbyint
    values = _read(flat_input, G.unsqueeze(taps, 1), extents)
    n, c, *_, count = values.shape
    # The taps reach the result only as gather indices, so nothing ties it to the grid; PyTorch
    # gives the grid a zero gradient rather than none. ``anchor`` is 0 for every point (NaN and
    # inf included: ``t > t`` is never true) and depends on it, and x - 0.0 keeps x, even -0.0.
    anchor = G.sum(G.where(taps > taps, taps, 0.0), 2)
    return G.reshape(values, (n, c, count)) - G.unsqueeze(anchor, 1)


def _bicubic(flat_input, points, extents, padding_mode, align_corners):
    """Keys' cubic convolution over the 4 x 4 neighbours of the (unpadded) point, along x
    first, as PyTorch; padding applies to each tap's integer position, as in PyTorch, so it
    carries no gradient."""
    points = _unnormalize(points, extents, align_corners)
    low = apply("floor", [points])
    taps = _pad(_along(low - 1.0, 4), extents, padding_mode, align_corners)
    values = _read(flat_input, taps, extents)  # (N, C, 4 along y, 4 along x, P)
    along_y, along_x = _per_axis(G.stack(cubic_coefficients(points - low), 1))
    rows = G.sum(values * G.unsqueeze(along_x, 1), 3, keepdim=True)
    return G.sum(rows * G.unsqueeze(along_y, 1), (2, 3))


_SAMPLERS = {"bilinear": _bilinear, "nearest": _nearest, "bicubic": _bicubic}


def _check_sampling(input: Tensor, grid: Tensor, mode: str) -> None:
    if input.ndim not in (4, 5):
        raise ShapeError(f"grid_sample(): expected 4-D (N, C, H, W) or 5-D (N, C, D, H, W) "
                         f"input, got input with sizes {list(input.shape)}")
    if grid.ndim != input.ndim:
        raise ShapeError(f"grid_sample(): expected {input.ndim}D input and grid with the same "
                         f"number of dimensions, but got input with sizes "
                         f"{list(input.shape)} and grid with sizes {list(grid.shape)}")
    if grid.shape[0] != input.shape[0]:
        raise ShapeError(f"grid_sample(): expected grid and input to have same batch size, but "
                         f"got input with sizes {list(input.shape)} and grid with sizes "
                         f"{list(grid.shape)}")
    if grid.shape[-1] != input.ndim - 2:
        raise ShapeError(f"grid_sample(): expected grid to have size {input.ndim - 2} in last "
                         f"dimension, but got grid with sizes {list(grid.shape)}")
    for axis in range(2, input.ndim):
        if input.shape[axis] == 0:
            raise ShapeError(f"grid_sample(): expected input to have non-empty spatial "
                             f"dimensions, but input has sizes {list(input.shape)} with "
                             f"dimension {axis} being empty")
    if mode == "bicubic" and input.ndim == 5:
        raise ArgumentError("grid_sampler(): bicubic interpolation only supports 4D input")
    if not input.dtype.is_float:
        raise DTypeError(f"grid_sample(): input must be a floating-point tensor, got "
                         f"{input.dtype}")
    if grid.dtype != input.dtype:
        raise DTypeError(f"grid_sample(): grid must have the input's dtype {input.dtype}, got "
                         f"{grid.dtype}")


@autocast_op("grid_sample")
def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear",
                padding_mode: str = "zeros", align_corners: Optional[bool] = None) -> Tensor:
    """Samples (N, C, H_in, W_in) ``input`` at the (N, H, W, 2) ``grid`` points, or
    (N, C, D_in, H_in, W_in) input at (N, D, H, W, 3) points, like
    ``torch.nn.functional.grid_sample``: the result is (N, C, H, W) or (N, C, D, H, W).

    ``mode``: 'bilinear' (trilinear for 5-D), 'nearest' (half to even) or 'bicubic' (4-D
    only). ``padding_mode`` for points outside the image: 'zeros', 'border' (the nearest edge
    pixel) or 'reflection' (mirrored at the edges). ``align_corners`` (default False, with
    PyTorch's warning when not given): -1 and 1 are the corner pixels' centres rather than the
    image's edges. Differentiable with respect to ``input`` and ``grid``.

        >>> import graphc
        >>> row = graphc.tensor([[[[10.0, 20.0]]]])
        >>> grid = graphc.tensor([[[[-0.5, 0.0], [1.5, 0.0]]]])
        >>> grid_sample(row, grid, padding_mode="border", align_corners=False).tolist()
        [[[[10.0, 20.0]]]]
    """
    if mode not in _MODES:
        raise ArgumentError(f"nn.functional.grid_sample(): expected mode to be 'bilinear', "
                            f"'nearest' or 'bicubic', but got: '{mode}'")
    if padding_mode not in _PADDING_MODES:
        raise ArgumentError(f"nn.functional.grid_sample(): expected padding_mode to be "
                            f"'zeros', 'border', or 'reflection', but got: '{padding_mode}'")
    align = _resolve_align_corners(align_corners)
    _check_sampling(input, grid, mode)
    n, c, *sizes = input.shape
    dims = len(sizes)
    out_sizes = list(grid.shape[1:-1])
    count = math.prod(out_sizes)
    flat_input = G.reshape(input, (n, c, math.prod(sizes)))
    flat_grid = G.reshape(grid, (n, count, dims))
    # the grid's components (x, y[, z]) index the spatial axes from the last (x: width)
    out = _SAMPLERS[mode](flat_input, flat_grid, sizes[::-1], padding_mode, align)
    return G.reshape(out, (n, c, *out_sizes))


# -- affine_grid ----------------------------------------------------------------------------------
def _steps(count: int, align_corners: bool) -> np.ndarray:
    """Normalized pixel positions along one axis: corner centres at -1 and 1
    (``align_corners``) or the pixels' centres in (-1, 1); a 1-pixel axis sits at 0."""
    if count <= 1:
        return np.zeros(max(count, 0))
    positions = np.linspace(-1.0, 1.0, count)
    return positions if align_corners else positions * ((count - 1) / count)


@autocast_op("affine_grid")
def affine_grid(theta: Tensor, size: Sequence[int],
                align_corners: Optional[bool] = None) -> Tensor:
    """The sampling grid of a batch of affine maps, like ``torch.nn.functional.affine_grid``:
    ``theta`` (N, 2, 3) with ``size`` (N, C, H, W) gives (N, H, W, 2); (N, 3, 4) with
    (N, C, D, H, W) gives (N, D, H, W, 3). Point (x, y[, z]) of each output pixel is ``theta``
    applied to the pixel's normalized position (x, y[, z], 1), the positions laid out as
    :func:`grid_sample` reads them with the same ``align_corners`` (default False, with
    PyTorch's warning when not given). Differentiable with respect to ``theta``.

        >>> import graphc
        >>> shift = graphc.tensor([[[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]]])
        >>> affine_grid(shift, [1, 1, 1, 2], align_corners=False)[0, 0].tolist()
        [[0.0, 0.0], [1.0, 0.0]]
    """
    align = _resolve_align_corners(align_corners)
    if not theta.dtype.is_float:
        raise DTypeError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = [int(s) for s in size]
    if len(size) not in (4, 5):
        raise NotImplementedError(f"affine_grid only supports 4D and 5D sizes, for 2D and 3D "
                                  f"affine transforms, respectively. Got size {size}.")
    dims = len(size) - 2
    if theta.ndim != 3 or list(theta.shape[1:]) != [dims, dims + 1]:
        raise ShapeError(f"Expected a batch of {dims}D affine matrices of shape "
                         f"Nx{dims}x{dims + 1} for size {size}. Got theta with shape "
                         f"{list(theta.shape)}.")
    spatial = size[2:]
    if align and min(spatial) == 1:
        warn("Since version 1.3.0, affine_grid behavior has changed for unit-size "
             "grids when align_corners=True. This is not an intended use case of "
             "affine_grid. See the documentation of affine_grid for details.")
    elif min(size) <= 0:
        raise ArgumentError(f"Expected non-zero, positive output size. Got {size}")
    if theta.shape[0] != size[0]:
        raise ShapeError(f"affine_grid: theta holds {theta.shape[0]} matrices but size {size} "
                         f"asks for a batch of {size[0]}")
    axes = np.meshgrid(*[_steps(s, align) for s in spatial], indexing="ij")
    # one row (x, y[, z], 1) per output pixel, x along the last axis
    columns = [a.reshape(-1) for a in reversed(axes)] + [np.ones(math.prod(spatial))]
    base = factories.tensor(np.stack(columns, axis=1).astype(theta.dtype.numpy))
    grid = G.matmul(base, G.transpose(theta, 1, 2))  # (N, pixels, dims)
    return G.reshape(grid, (size[0], *spatial, dims))
