"""``F.grid_sample`` and ``F.affine_grid``, as PyTorch's: every mode x padding mode x
``align_corners``, 4-D and 5-D.

Values are checked against a loop-based float64 NumPy reference written here from PyTorch's
documented semantics (unnormalize, pad by clamping or reflecting, read taps outside the image as
0, Keys' cubic kernel with A = -0.75, nearest rounding half to even); gradients with respect to
the input and the grid against finite differences (``check_grad``), with grid points kept off
integer and half-integer pixel positions, where bilinear weights, nearest rounding, clamping and
reflection have kinks or jumps that finite differences cannot measure; compiled (default
backend, llvm) against eager; and PyTorch's errors.

Tolerances: float64 values rtol=1e-10, atol=1e-12 (conftest's); float32 values against the
float64 reference rtol=1e-5, atol=1e-5 (a bicubic point sums 16 products of O(1) values rounded
in float32, so results near 0 are a few 1e-7 off, above conftest's float32 atol of 1e-6);
gradients as ``check_grad`` states (rtol=1e-5, atol=1e-7); compiled vs eager with conftest's
float32 tolerance.
"""
from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from conftest import assert_close, check_grad

MODES = ("bilinear", "nearest", "bicubic")
PADDINGS = ("zeros", "border", "reflection")
A = -0.75  # PyTorch's cubic convolution constant


# -- the reference -------------------------------------------------------------------------------
def keys(distance: float) -> float:
    """Keys' cubic convolution kernel."""
    d = abs(distance)
    if d <= 1:
        return (A + 2) * d ** 3 - (A + 3) * d ** 2 + 1
    if d < 2:
        return A * d ** 3 - 5 * A * d ** 2 + 8 * A * d - 4 * A
    return 0.0


def unnormalize(g: float, size: int, align: bool) -> float:
    return (g + 1) / 2 * (size - 1) if align else ((g + 1) * size - 1) / 2


def reflect(p: float, size: int, align: bool) -> float:
    """``p`` mirrored at the image's ends (corner pixels' centres, or its edges) until inside."""
    low, high = (0.0, size - 1.0) if align else (-0.5, size - 0.5)
    if high == low:
        return 0.0
    span = high - low
    flips = math.floor(abs(p - low) / span)
    extra = abs(p - low) - flips * span
    return low + extra if flips % 2 == 0 else high - extra


def pad(p: float, size: int, padding: str, align: bool) -> float:
    if padding == "reflection":
        p = reflect(p, size, align)
    if padding in ("border", "reflection"):
        p = min(max(p, 0.0), size - 1.0)
    return p


def pixel(image: np.ndarray, index) -> np.ndarray:
    """The channels of ``image`` (C, *spatial) at integer ``index``; zeros outside."""
    if all(0 <= i < s for i, s in zip(index, image.shape[1:])):
        return image[(slice(None), *index)]
    return np.zeros(image.shape[0])


def sample(image: np.ndarray, point, mode: str, padding: str, align: bool) -> np.ndarray:
    """``image`` (C, *spatial) at normalized ``point`` given in spatial order ((z,) y, x)."""
    sizes = image.shape[1:]
    u = [unnormalize(g, s, align) for g, s in zip(point, sizes)]
    if mode == "nearest":
        p = [pad(x, s, padding, align) for x, s in zip(u, sizes)]
        return pixel(image, [int(np.rint(x)) for x in p])  # rint: half to even
    if mode == "bilinear":
        p = [pad(x, s, padding, align) for x, s in zip(u, sizes)]
        lows = [math.floor(x) for x in p]
        total = np.zeros(image.shape[0])
        for corner in itertools.product((0, 1), repeat=len(p)):
            weight = math.prod((x - lo) if k else 1 - (x - lo)
                               for x, lo, k in zip(p, lows, corner))
            total += weight * pixel(image, [lo + k for lo, k in zip(lows, corner)])
        return total
    lows = [math.floor(x) for x in u]
    total = np.zeros(image.shape[0])
    for offsets in itertools.product(range(-1, 3), repeat=2):
        taps = [lo + o for lo, o in zip(lows, offsets)]
        weight = math.prod(keys(x - t) for x, t in zip(u, taps))
        index = [round(pad(float(t), s, padding, align)) for t, s in zip(taps, sizes)]
        total += weight * pixel(image, index)
    return total


def np_grid_sample(x: np.ndarray, grid: np.ndarray, mode: str, padding: str,
                   align: bool) -> np.ndarray:
    n, c = x.shape[:2]
    out_spatial = grid.shape[1:-1]
    out = np.zeros((n, c, *out_spatial))
    for b in range(n):
        for index in np.ndindex(*out_spatial):
            point = grid[(b, *index)][::-1]  # (x, y[, z]) -> spatial order
            out[(b, slice(None), *index)] = sample(x[b], point, mode, padding, align)
    return out


def np_affine_grid(theta: np.ndarray, size, align: bool) -> np.ndarray:
    """theta @ (x, y[, z], 1) at every output pixel's normalized position."""
    spatial = size[2:]

    def position(i, count):
        if count == 1:
            return 0.0
        step = 2 * i / (count - 1) - 1
        return step if align else step * (count - 1) / count

    out = np.zeros((size[0], *spatial, len(spatial)))
    for b in range(size[0]):
        for index in np.ndindex(*spatial):
            homogeneous = [position(i, s) for i, s in zip(index, spatial)][::-1] + [1.0]
            out[(b, *index)] = theta[b] @ np.array(homogeneous)
    return out


# -- grids kept off the kinks --------------------------------------------------------------------
def grid_points(rng, shape, sizes, align: bool) -> np.ndarray:
    """A (N, *out, dims) grid whose pixel coordinates are k + f with f in [0.1, 0.4] or
    [0.6, 0.9]: no point sits on an integer or half-integer pixel position. Every other point
    is inside the image; the others may lie up to 4 pixels beyond either side (outside
    [-1, 1]). ``sizes`` in spatial order."""
    extents = sizes[::-1]  # component order: x, y, z
    grid = np.zeros(shape)
    inside = (np.arange(math.prod(shape[:-1])) % 2 == 0).reshape(shape[:-1])
    for i, size in enumerate(extents):
        k = np.where(inside, rng.integers(0, size - 1, shape[:-1]),
                     rng.integers(-4, size + 4, shape[:-1]))
        f = rng.uniform(0.1, 0.4, shape[:-1]) + 0.5 * rng.integers(0, 2, shape[:-1])
        p = k + f
        grid[..., i] = 2 * p / (size - 1) - 1 if align else (2 * p + 1) / size - 1
    return grid


def combos(dims: int):
    modes = MODES if dims == 2 else MODES[:2]
    return [(m, p, a) for m in modes for p in PADDINGS for a in (False, True)]


ALL = [(2, *c) for c in combos(2)] + [(3, *c) for c in combos(3)]
SHAPES = {2: ((2, 2, 3, 4), (2, 3)), 3: ((2, 2, 2, 3, 4), (2, 2, 3))}  # input, output spatial


def t64(a):
    return graphc.tensor(np.asarray(a, dtype=np.float64))


# -- values --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dims, mode, padding, align", ALL)
def test_values_match_the_reference(dims, mode, padding, align):
    rng = np.random.default_rng(0)
    shape, out = SHAPES[dims]
    x = rng.standard_normal(shape)
    grid = grid_points(rng, (shape[0], *out, dims), shape[2:], align)
    got = F.grid_sample(t64(x), t64(grid), mode, padding, align)
    assert got.dtype == graphc.float64
    assert_close(got, np_grid_sample(x, grid, mode, padding, align))


def test_float32_values_match_the_float64_reference():
    rng = np.random.default_rng(1)
    for dims, mode, padding, align in ALL:
        shape, out = SHAPES[dims]
        x = rng.standard_normal(shape).astype(np.float32)
        grid = grid_points(rng, (shape[0], *out, dims), shape[2:], align).astype(np.float32)
        got = F.grid_sample(graphc.tensor(x), graphc.tensor(grid), mode, padding, align)
        assert got.dtype == graphc.float32
        want = np_grid_sample(x.astype(np.float64), grid.astype(np.float64), mode, padding,
                              align)
        assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_one_pixel_axes_and_points_on_the_borders():
    """Unit-size axes (with align_corners every point is on the pixel's centre) and points
    exactly on pixel centres, the image's edges and beyond: the values are continuous there."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 1, 3))
    ticks = [-3.0, -1.0, -0.5, 0.0, 1 / 3, 0.5, 1.0, 1.5, 3.0]
    grid = np.array(list(itertools.product(ticks, ticks))).reshape(1, 9, 9, 2)
    for mode, padding, align in combos(2):
        got = F.grid_sample(t64(x), t64(grid), mode, padding, align)
        assert_close(got, np_grid_sample(x, grid, mode, padding, align))
    x3 = rng.standard_normal((1, 1, 1, 2, 3))
    grid3 = np.array(list(itertools.product(ticks[::2], repeat=3))).reshape(1, 5, 5, 5, 3)
    for mode, padding, align in combos(3):
        got = F.grid_sample(t64(x3), t64(grid3), mode, padding, align)
        assert_close(got, np_grid_sample(x3, grid3, mode, padding, align))


def test_nearest_rounds_half_to_even():
    x = t64(np.arange(5.0).reshape(1, 1, 1, 5))
    # align_corners=True on 5 pixels: x = 2 g + 2, so g = -0.75, -0.25, 0.25 are 0.5, 1.5, 2.5
    grid = t64([[[[-0.75, 0.0], [-0.25, 0.0], [0.25, 0.0]]]])
    got = F.grid_sample(x, grid, mode="nearest", align_corners=True)
    assert got.tolist() == [[[[0.0, 2.0, 2.0]]]]


def test_grid_x_indexes_width_and_y_height():
    x = t64(np.arange(6.0).reshape(1, 1, 2, 3))  # rows [0 1 2], [3 4 5]
    grid = t64([[[[1.0, -1.0], [-1.0, 1.0]]]])  # (x, y): top right, bottom left
    assert F.grid_sample(x, grid, align_corners=True).tolist() == [[[[2.0, 3.0]]]]
    cube = t64(np.arange(8.0).reshape(1, 1, 2, 2, 2))  # index d * 4 + h * 2 + w
    grid3 = t64([[[[[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]]]]])
    assert F.grid_sample(cube, grid3, align_corners=True).tolist() == [[[[[1.0, 2.0, 4.0]]]]]


def test_empty_batch_channels_and_output():
    assert F.grid_sample(graphc.zeros(0, 2, 3, 4), graphc.zeros(0, 5, 6, 2),
                         align_corners=False).shape == (0, 2, 5, 6)
    assert F.grid_sample(graphc.zeros(1, 0, 3, 4), graphc.zeros(1, 5, 6, 2),
                         align_corners=False).shape == (1, 0, 5, 6)
    assert F.grid_sample(graphc.zeros(1, 2, 3, 4, 5), graphc.zeros(1, 0, 6, 7, 3),
                         mode="nearest", align_corners=True).shape == (1, 2, 0, 6, 7)


# -- gradients -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dims, mode, padding, align", ALL)
def test_gradients_match_finite_differences(dims, mode, padding, align):
    rng = np.random.default_rng(3)
    shape = (1, 1, 2, 3) if dims == 2 else (1, 1, 2, 2, 3)
    out = (2, 3) if dims == 2 else (1, 2, 3)
    x = rng.standard_normal(shape)
    grid = grid_points(rng, (1, *out, dims), shape[2:], align)
    grads = check_grad(lambda a, g: F.grid_sample(a, g, mode, padding, align), [x, grid])
    if mode == "nearest":  # PyTorch's: a zero gradient for the grid, not none
        assert np.array_equal(grads[1], np.zeros_like(grid))
    else:
        # (the inside points, half of them, have a gradient in every component)
        assert np.count_nonzero(grads[1]) >= grid.size // 2


def grid_gradient(values, xs, padding, align=True):
    """d out / d grid_x at the points ``xs`` of a 1 x len(values) image row."""
    image = t64(np.array(values, dtype=np.float64).reshape(1, 1, 1, -1))
    grid = graphc.tensor(np.array([[[[x, 0.0] for x in xs]]]), requires_grad=True)
    F.grid_sample(image, grid, "bilinear", padding, align).sum().backward()
    return grid.grad.numpy()[0, 0, :, 0].tolist()


def test_grid_gradient_at_the_borders_follows_pytorch():
    """PyTorch counts a point clamped exactly onto the border as clamped (gradient 0), and
    negates the gradient on a mirrored stretch. Row [0, 10, 30], align_corners=True: pixel
    position = g + 1, one unit of g per pixel."""
    values = [0.0, 10.0, 30.0]
    # inside: the slope of the segment; on or past either border: clamped
    assert grid_gradient(values, [-0.5, 0.5, -1.0, 1.0, -1.5, 1.5], "border") == [
        10.0, 20.0, 0.0, 0.0, 0.0, 0.0]
    # past the right border at 2.5 reads 1.5 (slope 20, mirrored: -20); past the left at -0.5
    # reads 0.5 (slope 10, mirrored: -10); on the borders: 0
    assert grid_gradient(values, [1.5, -1.5, 1.0, -1.0], "reflection") == [
        -20.0, -10.0, 0.0, 0.0]
    # zeros: on the right border the right neighbour is outside (0): slope 0 - 30
    assert grid_gradient(values, [1.0], "zeros") == [-30.0]


# -- affine_grid ---------------------------------------------------------------------------------
@pytest.mark.parametrize("align", [False, True])
def test_affine_grid_values_and_gradient(align):
    rng = np.random.default_rng(4)
    for size, matrix in (([2, 3, 3, 4], (2, 3)), ([2, 1, 2, 3, 4], (3, 4)), ([1, 1, 1, 3], (2, 3))):
        theta = rng.standard_normal((size[0], *matrix))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (the unit-size warning of align_corners=True)
            got = F.affine_grid(t64(theta), size, align)
            assert_close(got, np_affine_grid(theta, size, align))
            check_grad(lambda t, s=size: F.affine_grid(t, s, align), [theta])


@pytest.mark.parametrize("align", [False, True])
def test_identity_theta_reproduces_the_input(align):
    rng = np.random.default_rng(5)
    for size in ([2, 3, 4, 5], [1, 2, 3, 4, 5]):
        x = rng.standard_normal(size)
        dims = len(size) - 2
        identity = np.broadcast_to(np.eye(dims, dims + 1), (size[0], dims, dims + 1))
        grid = F.affine_grid(t64(identity), size, align)
        for padding in PADDINGS:
            assert_close(F.grid_sample(t64(x), grid, "bilinear", padding, align), x)


# -- compiled ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dims, mode, padding, align", [
    (2, "bilinear", "reflection", False), (2, "bicubic", "border", True),
    (2, "nearest", "zeros", False), (3, "bilinear", "border", True),
])
def test_compiled_matches_eager_with_gradients(dims, mode, padding, align):
    rng = np.random.default_rng(6)
    shape = (2, 2, 3, 4) if dims == 2 else (2, 2, 2, 3, 4)
    theta = rng.standard_normal((2, dims, dims + 1)).astype(np.float32)
    x = rng.standard_normal(shape).astype(np.float32)
    out_size = [2, 2, 3, 5] if dims == 2 else [2, 2, 2, 3, 2]

    def step(image, matrix):
        grid = F.affine_grid(matrix, out_size, align) * 1.5  # reaching outside the image
        out = F.grid_sample(image, grid, mode, padding, align)
        (out * out).sum().backward()
        return out, image.grad, matrix.grad

    def run(fn):
        return fn(graphc.tensor(x, requires_grad=True), graphc.tensor(theta, requires_grad=True))

    for got, want in zip(run(graphc.compile(step)), run(step)):
        assert_close(got, want.numpy())


# -- arguments -----------------------------------------------------------------------------------
def test_default_align_corners_warns_as_pytorch_and_is_false():
    x, grid = t64(np.ones((1, 1, 2, 2))), t64(np.full((1, 1, 1, 2), 0.3))
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        default = F.grid_sample(x, grid)
    assert default.tolist() == F.grid_sample(x, grid, align_corners=False).tolist()
    theta = t64(np.eye(2, 3)[None])
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        grid = F.affine_grid(theta, [1, 1, 2, 3])
    assert grid.tolist() == F.affine_grid(theta, [1, 1, 2, 3], align_corners=False).tolist()


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.grid_sample(graphc.zeros(1, 2, 3, 4), graphc.zeros(1, 5, 6, 3), align_corners=False),
     RuntimeError, "expected grid to have size 2 in last dimension"),
    (lambda: F.grid_sample(graphc.zeros(1, 2, 3, 4, 5), graphc.zeros(1, 5, 6, 7, 2),
                           align_corners=False),
     RuntimeError, "expected grid to have size 3 in last dimension"),
    (lambda: F.grid_sample(graphc.zeros(1, 2, 3, 4), graphc.zeros(2, 5, 6, 2), align_corners=False),
     RuntimeError, "expected grid and input to have same batch size"),
    (lambda: F.grid_sample(graphc.zeros(1, 2, 3, 4), graphc.zeros(1, 5, 6, 2, 2),
                           align_corners=False),
     RuntimeError, "same number of dimensions"),
    (lambda: F.grid_sample(graphc.zeros(2, 3, 4), graphc.zeros(2, 3, 1), align_corners=False),
     RuntimeError, "expected 4-D .* or 5-D .* input"),
    (lambda: F.grid_sample(graphc.zeros(1, 2, 0, 4), graphc.zeros(1, 5, 6, 2), align_corners=False),
     RuntimeError, "non-empty spatial dimensions.*dimension 2 being empty"),
    (lambda: F.grid_sample(graphc.zeros(1, 2, 3, 4, 5), graphc.zeros(1, 5, 6, 7, 3),
                           mode="bicubic", align_corners=False),
     RuntimeError, "bicubic interpolation only supports 4D input"),
    (lambda: F.grid_sample(graphc.zeros(1, 2, 3, 4), graphc.zeros(1, 5, 6, 2), mode="area"),
     ValueError, "expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: 'area'"),
    (lambda: F.grid_sample(graphc.zeros(1, 2, 3, 4), graphc.zeros(1, 5, 6, 2),
                           padding_mode="circular"),
     ValueError, "expected padding_mode to be 'zeros', 'border', or 'reflection'"),
    (lambda: F.grid_sample(graphc.zeros(1, 2, 3, 4), graphc.zeros(1, 5, 6, 2, dtype=graphc.float64),
                           align_corners=False),
     RuntimeError, "grid must have the input's dtype f32, got f64"),
    (lambda: F.grid_sample(graphc.zeros(1, 2, 3, 4, dtype=graphc.int64),
                           graphc.zeros(1, 5, 6, 2, dtype=graphc.int64), align_corners=False),
     NotImplementedError, "input must be a floating-point tensor"),
    (lambda: F.affine_grid(graphc.zeros(1, 3, 3), [1, 1, 3, 4], align_corners=False),
     ValueError, r"shape Nx2x3 for size \[1, 1, 3, 4\]. Got theta with shape \[1, 3, 3\]"),
    (lambda: F.affine_grid(graphc.zeros(1, 2, 3), [1, 1, 3, 4, 5], align_corners=False),
     ValueError, "shape Nx3x4"),
    (lambda: F.affine_grid(graphc.zeros(1, 2, 3, dtype=graphc.int64), [1, 1, 3, 4],
                           align_corners=False),
     ValueError, "Expected theta to have floating point type, but got i64"),
    (lambda: F.affine_grid(graphc.zeros(1, 2, 3), [1, 1, 3], align_corners=False),
     NotImplementedError, "affine_grid only supports 4D and 5D sizes"),
    (lambda: F.affine_grid(graphc.zeros(1, 2, 3), [1, 1, 0, 4], align_corners=False),
     ValueError, "Expected non-zero, positive output size"),
    (lambda: F.affine_grid(graphc.zeros(1, 2, 3), [2, 1, 3, 4], align_corners=False),
     RuntimeError, r"theta holds 1 matrices but size \[2, 1, 3, 4\] asks for a batch of 2"),
])
def test_errors_name_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_reexported_by_functional():
    from graphc.nn import grid_sampling
    assert F.grid_sample is grid_sampling.grid_sample
    assert F.affine_grid is grid_sampling.affine_grid
    assert {"grid_sample", "affine_grid"} <= set(F.__all__)
