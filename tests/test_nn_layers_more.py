"""The layers issue 10 adds to ``graphc.nn``: transposed convolutions, channel dropout,
up-sampling and pixel shuffling, scaled dot-product attention and the Embedding options.

Each layer is checked against an independent float64 NumPy oracle written here (direct loops),
its gradients against finite differences, and its compiled result (default backend, llvm)
against eager mode; parameter names, shapes and errors follow PyTorch.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from backends.kernel import LibraryCall
from conftest import assert_close, check_grad
from graphc import nn


def f32(a):
    return graphc.tensor(np.asarray(a, dtype=np.float32))


def f64(a):
    return graphc.tensor(np.asarray(a, dtype=np.float64))


def library_ops(compiled) -> list[str]:
    """Ops of the last compiled entry still run by their NumPy reference (constants aside)."""
    program = compiled.entries[-1].executable.program
    return sorted(s.op for s in program.steps if isinstance(s, LibraryCall) and s.op != "const")


# -- transposed convolution ----------------------------------------------------------------------
def conv_transpose2d_loops(x, w, b, stride, padding, output_padding, groups, dilation):
    """out[n, g*og + o, i*s - p + a*d, j*s - p + c*d] += x[n, g*cg + ci, i, j] w[g*cg + ci, o, a, c]
    over every input position and kernel tap (the scatter definition of the transpose)."""
    n, cin, h, wd = x.shape
    _, og, kh, kw = w.shape
    cg = cin // groups
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    ho = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    wo = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    out = np.zeros((n, og * groups, ho, wo))
    for g in range(groups):
        for ci in range(cg):
            for o in range(og):
                for i in range(h):
                    for j in range(wd):
                        for a in range(kh):
                            for c in range(kw):
                                r, q = i * sh - ph + a * dh, j * sw - pw + c * dw
                                if 0 <= r < ho and 0 <= q < wo:
                                    out[:, g * og + o, r, q] += (x[:, g * cg + ci, i, j]
                                                                 * w[g * cg + ci, o, a, c])
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


GEOMETRIES = [  # (cin, cout, groups, kernel, stride, padding, output_padding, dilation)
    (4, 6, 1, (3, 3), (1, 1), (0, 0), (0, 0), (1, 1)),
    (4, 6, 1, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1)),
    (4, 6, 2, (3, 2), (2, 3), (1, 0), (1, 2), (1, 1)),
    (2, 3, 1, (3, 3), (1, 1), (2, 2), (1, 1), (2, 2)),   # output_padding >= stride, < dilation
    (3, 3, 3, (2, 2), (2, 2), (0, 0), (0, 0), (1, 1)),   # depthwise
    (2, 2, 1, (3, 3), (2, 1), (3, 0), (1, 0), (1, 2)),   # padding larger than the kernel reach
]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_conv_transpose2d_matches_a_direct_loop_oracle(geometry, rng):
    cin, cout, groups, kernel, stride, padding, output_padding, dilation = geometry
    x = rng.standard_normal((2, cin, 4, 5))
    w = rng.standard_normal((cin, cout // groups, *kernel))
    b = rng.standard_normal(cout)
    out = F.conv_transpose2d(f64(x), f64(w), f64(b), stride, padding, output_padding, groups,
                             dilation)
    expected = conv_transpose2d_loops(x, w, b, stride, padding, output_padding, groups,
                                      dilation)
    assert out.shape == expected.shape
    assert_close(out, expected)


def test_conv_transpose1d_matches_the_loop_oracle_on_a_height_one_view(rng):
    x, w = rng.standard_normal((2, 4, 7)), rng.standard_normal((4, 3, 3))
    out = F.conv_transpose1d(f64(x), f64(w), None, stride=2, padding=1, output_padding=1,
                             dilation=2)
    expected = conv_transpose2d_loops(x[:, :, None], w[:, :, None], None, (1, 2), (0, 1),
                                      (0, 1), 1, (1, 2))[:, :, 0]
    assert out.shape == (2, 3, 16)   # (7 - 1) * 2 - 2 + 2 * 2 + 1 + 1
    assert_close(out, expected)


def test_conv_transpose_unbatched_input_gives_unbatched_output(rng):
    x, w = rng.standard_normal((4, 3, 3)), rng.standard_normal((4, 2, 2, 2))
    out = F.conv_transpose2d(f64(x), f64(w), stride=2)
    assert_close(out, conv_transpose2d_loops(x[None], w, None, (2, 2), (0, 0), (0, 0), 1,
                                             (1, 1))[0])


@pytest.mark.parametrize("geometry", [GEOMETRIES[1], GEOMETRIES[2], GEOMETRIES[3]])
def test_conv_transpose2d_gradients_match_finite_differences(geometry, rng):
    cin, cout, groups, kernel, stride, padding, output_padding, dilation = geometry
    x = rng.standard_normal((1, cin, 3, 3))
    w = rng.standard_normal((cin, cout // groups, *kernel))
    b = rng.standard_normal(cout)
    check_grad(lambda x, w, b: F.conv_transpose2d(x, w, b, stride, padding, output_padding,
                                                  groups, dilation), [x, w, b])


def test_conv_transpose1d_gradients_match_finite_differences(rng):
    x, w = rng.standard_normal((2, 2, 4)), rng.standard_normal((2, 3, 3))
    check_grad(lambda x, w: F.conv_transpose1d(x, w, stride=3, padding=1, output_padding=2),
               [x, w])


def test_conv_transpose2d_compiles_to_kernels_and_a_gemm_not_a_numpy_fallback(rng):
    layer = nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1)
    x = f32(rng.standard_normal((2, 4, 5, 6)))
    compiled = graphc.compile(lambda x: layer(x))
    assert_close(compiled(x), layer(x).numpy())
    assert library_ops(compiled) == []


def test_conv_transpose2d_training_step_compiled_equals_eager(rng):
    def make():
        graphc.manual_seed(3)
        return nn.Sequential(nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1),
                             nn.ReLU(), nn.ConvTranspose2d(4, 2, 3, padding=1, groups=2))

    x = f32(rng.standard_normal((2, 3, 4, 4)))
    target = f32(rng.standard_normal((2, 2, 8, 8)))
    results = []
    for compiled in (False, True):
        model = make()
        opt = graphc.optim.SGD(model.parameters(), lr=0.1)

        def step(x, t, model=model, opt=opt):
            opt.zero_grad()
            loss = F.mse_loss(model(x), t)
            loss.backward()
            opt.step()
            return loss

        run = graphc.compile(step) if compiled else step
        losses = [run(x, target).item() for _ in range(3)]
        results.append((losses, [p.numpy().copy() for p in model.parameters()]))
    (eager_losses, eager_params), (compiled_losses, compiled_params) = results
    assert_close(np.array(compiled_losses, dtype=np.float32),
                 np.array(eager_losses, dtype=np.float32))
    for got, want in zip(compiled_params, eager_params):
        assert_close(got, want)


def test_conv_transpose_parameters_have_pytorchs_names_shapes_and_init_bounds():
    graphc.manual_seed(0)
    layer = nn.ConvTranspose2d(4, 6, 3, groups=2)
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert layer.weight.shape == (4, 3, 3, 3)          # (in, out / groups, kh, kw)
    assert layer.bias.shape == (6,)
    bound = 1 / math.sqrt(3 * 3 * 3)                    # fan_in = weight.shape[1] * kh * kw
    assert np.abs(layer.weight.numpy()).max() <= bound
    assert np.abs(layer.bias.numpy()).max() <= bound
    assert nn.ConvTranspose1d(4, 2, 5, bias=False).weight.shape == (4, 2, 5)
    assert nn.ConvTranspose1d(4, 2, 5, bias=False).bias is None


def test_conv_transpose_repr_lists_the_non_default_arguments_as_pytorch():
    assert repr(nn.ConvTranspose2d(8, 3, 4, stride=2, padding=1, output_padding=1)) == (
        "ConvTranspose2d(8, 3, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), "
        "output_padding=(1, 1))")
    assert repr(nn.ConvTranspose1d(2, 4, 3, groups=2, bias=False)) == (
        "ConvTranspose1d(2, 4, kernel_size=(3,), stride=(1,), groups=2, bias=False)")


def test_conv_transpose2d_output_size_chooses_the_output_padding(rng):
    layer = nn.ConvTranspose2d(2, 1, 3, stride=3, bias=False)
    x = f64(rng.standard_normal((1, 2, 4, 4)))
    layer.double()
    smallest = layer(x)
    assert smallest.shape == (1, 1, 12, 12)             # (4 - 1) * 3 + 3
    bigger = layer(x, output_size=[1, 1, 14, 13])
    assert bigger.shape == (1, 1, 14, 13)
    assert_close(bigger[:, :, :12, :12], smallest.numpy())
    assert_close(bigger[:, :, 12:, :], np.zeros((1, 1, 2, 13)))  # nothing reaches the extra rows
    with pytest.raises(ValueError, match="valid sizes range from 12 to 14"):
        layer(x, output_size=[15, 12])


def test_conv_transpose_bad_arguments_raise_clear_errors(rng):
    x = f64(rng.standard_normal((1, 4, 3, 3)))
    with pytest.raises(ValueError, match="output_padding .* smaller than either stride"):
        F.conv_transpose2d(x, f64(np.ones((4, 2, 3, 3))), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="expects 5 input channels"):
        F.conv_transpose2d(x, f64(np.ones((5, 2, 3, 3))))
    with pytest.raises(ValueError, match="weight must be 4-D"):
        F.conv_transpose2d(x, f64(np.ones((4, 2, 3))))
    with pytest.raises(TypeError, match="floating point"):
        F.conv_transpose2d(graphc.tensor(np.ones((1, 4, 3, 3), dtype=np.int64)),
                           f64(np.ones((4, 2, 3, 3))))
    with pytest.raises(ValueError, match='Only "zeros" padding mode'):
        nn.ConvTranspose2d(4, 2, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.ConvTranspose2d(4, 3, 3, groups=2)


# -- channel dropout -----------------------------------------------------------------------------
def test_dropout2d_zeroes_whole_channels_and_scales_the_rest():
    graphc.manual_seed(0)
    out = nn.Dropout2d(0.5)(graphc.ones(8, 16, 3, 3)).numpy()
    per_channel = out.reshape(8 * 16, 9)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert (per_channel.min(1) == per_channel.max(1)).all()   # one draw per (n, c)
    kept = (per_channel[:, 0] > 0).mean()
    assert 0.3 < kept < 0.7


@pytest.mark.parametrize("shape", [(4, 6, 5), (6, 5)])
def test_dropout1d_drops_channels_of_batched_and_unbatched_input(shape):
    graphc.manual_seed(1)
    out = F.dropout1d(graphc.ones(*shape), p=0.5).numpy()
    assert out.shape == shape
    channels = out.reshape(-1, shape[-1])
    assert (channels.min(1) == channels.max(1)).all()
    assert set(np.unique(channels)) <= {0.0, 2.0}


def test_dropout3d_drops_channels_of_unbatched_input():
    graphc.manual_seed(2)
    out = nn.Dropout3d(0.25)(graphc.ones(6, 2, 2, 2)).numpy()
    channels = out.reshape(6, 8)
    assert (channels.min(1) == channels.max(1)).all()
    assert set(np.unique(channels)) <= {0.0, np.float32(1.0 / 0.75)}


def test_channel_dropout_is_the_identity_in_eval_mode_and_at_p_zero(rng):
    x = f32(rng.standard_normal((2, 3, 4, 4)))
    assert_close(nn.Dropout2d(0.9).eval()(x), x.numpy())
    assert_close(F.dropout2d(x, 0.0), x.numpy())
    assert_close(nn.Dropout1d(1.0)(x[0]), np.zeros((3, 4, 4), dtype=np.float32))


def test_dropout2d_gradient_is_the_channel_mask_scaled():
    graphc.manual_seed(4)
    x = graphc.ones(3, 4, 2, 2, requires_grad=True)
    out = F.dropout2d(x, 0.5)
    out.sum().backward()
    assert_close(x.grad, out.detach().numpy())   # d out / d x = mask / (1 - p) = out at x = 1


def test_dropout2d_warns_like_pytorch_about_3d_and_other_ranks():
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        out = F.dropout2d(graphc.ones(4, 5, 6), 0.5)
    channels = out.numpy().reshape(20, 6)            # taken as (N, C, L): one draw per (n, c)
    assert (channels.min(1) == channels.max(1)).all()
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):
        F.dropout2d(graphc.ones(4, 5), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.dropout2d(graphc.ones(2, 4, 5, 6), 0.5)


def test_dropout1d_rejects_other_ranks_with_pytorchs_runtime_error():
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input, but received a "
                                           "4D input"):
        F.dropout1d(graphc.ones(2, 3, 4, 5))
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout2d(1.5)


def test_dropout2d_compiled_draws_a_fresh_channel_mask_per_call():
    layer = nn.Dropout2d(0.5)
    compiled = graphc.compile(lambda x: layer(x))
    x = graphc.ones(4, 8, 3, 3)
    graphc.manual_seed(5)
    first, second = compiled(x).numpy(), compiled(x).numpy()
    for out in (first, second):
        channels = out.reshape(32, 9)
        assert (channels.min(1) == channels.max(1)).all()
        assert set(np.unique(channels)) <= {0.0, 2.0}
    assert not np.array_equal(first, second)


# -- interpolation -------------------------------------------------------------------------------
def nearest_loops(x, out_size, scale_factor=None, exact=False):
    """PyTorch's nearest rule along the last axis: src = floor((dst [+ 0.5]) * in / out), with
    in / out replaced by 1 / scale_factor when one is given, clamped to in - 1."""
    size = x.shape[-1]
    step = 1.0 / scale_factor if scale_factor else size / out_size
    out = np.empty(x.shape[:-1] + (out_size,))
    for d in range(out_size):
        src = math.floor(((d + 0.5) if exact else d) * step)
        out[..., d] = x[..., min(src, size - 1)]
    return out


def linear_loops(x, out_size, align_corners, scale_factor=None):
    """PyTorch's linear rule along the last axis: the source coordinate is d * (in-1)/(out-1)
    with align_corners, else (d + 0.5) * step - 0.5 clamped at 0; mix its two neighbours."""
    size = x.shape[-1]
    out = np.empty(x.shape[:-1] + (out_size,))
    for d in range(out_size):
        if align_corners:
            src = d * (size - 1) / (out_size - 1) if out_size > 1 else 0.0
        else:
            step = 1.0 / scale_factor if scale_factor else size / out_size
            src = max((d + 0.5) * step - 0.5, 0.0)
        lo = min(int(math.floor(src)), size - 1)
        hi = min(lo + 1, size - 1)
        t = src - lo
        out[..., d] = (1 - t) * x[..., lo] + t * x[..., hi]
    return out


def along(fn, x, axis, *args, **kwargs):
    return np.moveaxis(fn(np.moveaxis(x, axis, -1), *args, **kwargs), -1, axis)


@pytest.mark.parametrize("kwargs, sizes, factors", [
    (dict(scale_factor=2), (10, 14), (2.0, 2.0)),
    (dict(scale_factor=3), (15, 21), (3.0, 3.0)),
    (dict(size=(7, 3)), (7, 3), (None, None)),
    (dict(scale_factor=(1.7, 0.6)), (8, 4), (1.7, 0.6)),
    (dict(scale_factor=1.7, recompute_scale_factor=True), (8, 11), (None, None)),
])
def test_nearest_interpolation_matches_the_loop_oracle(kwargs, sizes, factors, rng):
    x = rng.standard_normal((2, 3, 5, 7))
    expected = along(nearest_loops, x, 2, sizes[0], factors[0])
    expected = along(nearest_loops, expected, 3, sizes[1], factors[1])
    assert_close(F.interpolate(f64(x), **kwargs), expected)


def test_nearest_exact_interpolation_matches_the_loop_oracle(rng):
    x = rng.standard_normal((2, 3, 5, 7))
    expected = along(nearest_loops, x, 2, 7, 1.5, exact=True)
    expected = along(nearest_loops, expected, 3, 10, 1.5, exact=True)
    assert_close(F.interpolate(f64(x), scale_factor=1.5, mode="nearest-exact"), expected)


def test_nearest_picks_the_source_pytorch_picks_with_its_float32_arithmetic():
    # dst 39 * (1 / 1.3) is 30 exactly in real numbers: PyTorch computes floorf(39.0f * 0.7692308f)
    # = 30, while the float64 product 29.999999999999996 would floor to 29
    x = graphc.arange(31.0).reshape(1, 1, 31)
    out = F.interpolate(x, scale_factor=1.3, mode="nearest")
    assert out.shape == (1, 1, 40)
    assert out[0, 0, 39].item() == 30.0


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("kwargs, sizes, factors", [
    (dict(scale_factor=2), (10, 14), (2.0, 2.0)),
    (dict(size=(3, 11)), (3, 11), (None, None)),
    (dict(scale_factor=(1.7, 0.6)), (8, 4), (1.7, 0.6)),
    (dict(scale_factor=1.7, recompute_scale_factor=True), (8, 11), (None, None)),
    (dict(size=(1, 1)), (1, 1), (None, None)),
])
def test_bilinear_interpolation_matches_the_loop_oracle(kwargs, sizes, factors, align_corners,
                                                        rng):
    x = rng.standard_normal((2, 3, 5, 7))
    expected = along(linear_loops, x, 2, sizes[0], align_corners, factors[0])
    expected = along(linear_loops, expected, 3, sizes[1], align_corners, factors[1])
    out = F.interpolate(f64(x), mode="bilinear", align_corners=align_corners, **kwargs)
    assert_close(out, expected)


def test_linear_and_trilinear_interpolation_match_the_loop_oracle(rng):
    x = rng.standard_normal((2, 3, 5))
    assert_close(F.interpolate(f64(x), scale_factor=3, mode="linear"),
                 linear_loops(x, 15, False, 3.0))
    v = rng.standard_normal((1, 2, 3, 4, 5))
    expected = v
    for axis, size in zip((2, 3, 4), (6, 8, 10)):
        expected = along(linear_loops, expected, axis, size, True)
    assert_close(F.interpolate(f64(v), size=(6, 8, 10), mode="trilinear", align_corners=True),
                 expected)


@pytest.mark.parametrize("kwargs", [
    dict(scale_factor=2, mode="bilinear"),
    dict(size=(4, 9), mode="bilinear", align_corners=True),
    dict(scale_factor=2, mode="nearest"),
    dict(size=(5, 4), mode="nearest"),
])
def test_interpolation_gradients_match_finite_differences(kwargs, rng):
    check_grad(lambda x: F.interpolate(x, **kwargs), [rng.standard_normal((1, 2, 3, 5))])


@pytest.mark.parametrize("kwargs", [
    dict(scale_factor=2, mode="nearest"),
    dict(scale_factor=1.5, mode="nearest"),
    dict(scale_factor=2, mode="bilinear"),
    dict(size=(9, 5), mode="bilinear", align_corners=True),
])
def test_upsample_compiled_equals_eager_with_gradients(kwargs, rng):
    layer = nn.Upsample(**kwargs)

    def forward_backward(x):
        out = layer(x)
        (out * out).sum().backward()
        return out

    x_eager = f32(rng.standard_normal((2, 3, 4, 4)))
    x_eager.requires_grad = True
    out_eager = forward_backward(x_eager)
    x_comp = f32(x_eager.detach().numpy())
    x_comp.requires_grad = True
    out_comp = graphc.compile(forward_backward)(x_comp)
    assert_close(out_comp, out_eager.detach().numpy())
    assert_close(x_comp.grad, x_eager.grad.numpy())


def test_upsample_modules_and_their_repr_follow_pytorch():
    assert repr(nn.Upsample(scale_factor=2, mode="bilinear")) == \
        "Upsample(scale_factor=2.0, mode='bilinear')"
    assert repr(nn.Upsample(size=(4, 5))) == "Upsample(size=(4, 5), mode='nearest')"
    x = graphc.arange(4.0).reshape(1, 1, 2, 2)
    assert nn.UpsamplingNearest2d(scale_factor=2)(x)[0, 0].tolist() == [
        [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0], [2.0, 2.0, 3.0, 3.0]]
    # align_corners=True: corners stay, the middle is the mean of 0, 1, 2 and 3
    out = nn.UpsamplingBilinear2d(size=3)(x)[0, 0].tolist()
    assert out == [[0.0, 0.5, 1.0], [1.0, 1.5, 2.0], [2.0, 2.5, 3.0]]


def test_interpolate_bad_arguments_raise_pytorchs_errors():
    x = graphc.ones(1, 1, 4, 4)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(x, size=2, scale_factor=2)
    with pytest.raises(ValueError, match="either size or scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(NotImplementedError, match="Got 4D input, but linear mode needs 3D"):
        F.interpolate(x, scale_factor=2, mode="linear")
    with pytest.raises(NotImplementedError, match="mode 'lanczos' is not supported"):
        F.interpolate(x, scale_factor=2, mode="lanczos")
    with pytest.raises(ValueError, match="recompute_scale_factor is not meaningful"):
        F.interpolate(x, size=3, recompute_scale_factor=True)
    with pytest.raises(ValueError, match="must have 2 entries"):
        F.interpolate(x, size=(1, 2, 3))


# -- pixel shuffle -------------------------------------------------------------------------------
def pixel_shuffle_loops(x, r):
    n, c, h, w = x.shape
    out = np.empty((n, c // (r * r), h * r, w * r))
    for ch in range(c // (r * r)):
        for i in range(r):
            for j in range(r):
                out[:, ch, i::r, j::r] = x[:, ch * r * r + i * r + j]
    return out


def test_pixel_shuffle_matches_the_loop_oracle_and_unshuffle_inverts_it(rng):
    x = rng.standard_normal((2, 18, 3, 4))
    out = nn.PixelShuffle(3)(f64(x))
    assert_close(out, pixel_shuffle_loops(x, 3))
    assert_close(nn.PixelUnshuffle(3)(out), x)
    batched = rng.standard_normal((2, 5, 8, 3, 4))          # extra leading dims pass through
    assert_close(F.pixel_shuffle(f64(batched), 2),
                 pixel_shuffle_loops(batched.reshape(10, 8, 3, 4), 2).reshape(2, 5, 2, 6, 8))


def test_pixel_shuffle_gradients_and_compiled_result(rng):
    check_grad(lambda x: F.pixel_shuffle(x, 2), [rng.standard_normal((1, 8, 2, 3))])
    check_grad(lambda x: F.pixel_unshuffle(x, 2), [rng.standard_normal((1, 2, 4, 6))])
    x = f32(rng.standard_normal((2, 8, 3, 3)))
    compiled = graphc.compile(lambda x: F.pixel_unshuffle(F.pixel_shuffle(x, 2) * 2.0, 2))
    assert_close(compiled(x), x.numpy() * 2)


def test_pixel_shuffle_rejects_channels_not_divisible_by_the_square():
    with pytest.raises(RuntimeError, match=r"input.size\(-3\)=7 is not divisible by 4"):
        F.pixel_shuffle(graphc.ones(1, 7, 2, 2), 2)
    with pytest.raises(RuntimeError, match="divisible by downscale_factor"):
        F.pixel_unshuffle(graphc.ones(1, 1, 3, 4), 2)


# -- scaled dot-product attention ----------------------------------------------------------------
def attention_oracle(q, k, v, allowed=None, added=None, scale=None):
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale
    if added is not None:
        scores = scores + added
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    scores = scores - scores.max(-1, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(-1, keepdims=True) @ v


@pytest.fixture
def qkv(rng):
    return (rng.standard_normal((2, 4, 5, 8)), rng.standard_normal((2, 4, 6, 8)),
            rng.standard_normal((2, 4, 6, 3)))


def test_sdpa_bool_mask_true_means_take_part(qkv, rng):
    q, k, v = qkv
    allowed = rng.random((5, 6)) < 0.6
    allowed[:, 2] = True
    out = F.scaled_dot_product_attention(f64(q), f64(k), f64(v), attn_mask=graphc.tensor(allowed))
    assert_close(out, attention_oracle(q, k, v, allowed=allowed))


def test_sdpa_float_mask_is_added_and_scale_replaces_one_over_sqrt_e(qkv, rng):
    q, k, v = qkv
    added = rng.standard_normal((2, 1, 5, 6))
    out = F.scaled_dot_product_attention(f64(q), f64(k), f64(v), attn_mask=f64(added), scale=0.3)
    assert_close(out, attention_oracle(q, k, v, added=added, scale=0.3))


def test_sdpa_is_causal_lets_query_i_see_keys_up_to_i(qkv):
    q, k, v = qkv
    allowed = np.tril(np.ones((5, 6), dtype=bool))      # top-left aligned, as PyTorch
    out = F.scaled_dot_product_attention(f64(q), f64(k), f64(v), is_causal=True)
    assert_close(out, attention_oracle(q, k, v, allowed=allowed))


def test_sdpa_enable_gqa_shares_each_key_value_head_among_query_heads(qkv):
    q, k, v = qkv
    k2, v2 = k[:, :2], v[:, :2]
    out = F.scaled_dot_product_attention(f64(q), f64(k2), f64(v2), enable_gqa=True)
    repeated = (np.repeat(k2, 2, axis=1), np.repeat(v2, 2, axis=1))
    assert_close(out, attention_oracle(q, *repeated))
    with pytest.raises(ValueError, match="multiple of the key/value heads"):
        F.scaled_dot_product_attention(f64(q), f64(k[:, :3]), f64(v[:, :3]), enable_gqa=True)


def test_sdpa_gradients_match_finite_differences(rng):
    q, k, v = (rng.standard_normal((1, 2, 3, 4)) for _ in range(3))
    added = f64(rng.standard_normal((3, 3)))
    check_grad(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=added),
               [q, k, v])


def test_sdpa_compiled_equals_eager(qkv):
    q, k, v = (f32(a) for a in qkv)
    compiled = graphc.compile(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    assert_close(compiled(q, k, v),
                 F.scaled_dot_product_attention(q, k, v, is_causal=True).numpy())


def test_sdpa_rejects_a_mask_together_with_is_causal(qkv):
    q, k, v = (f64(a) for a in qkv)
    with pytest.raises(RuntimeError, match="attn_mask should not be set when is_causal=True"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=graphc.ones(5, 6).bool(),
                                       is_causal=True)


# -- Embedding options ---------------------------------------------------------------------------
def test_embedding_max_norm_renormalizes_the_looked_up_rows_in_place(rng):
    weight = rng.standard_normal((6, 3)) * 2
    indices = np.array([[0, 2], [2, 5]])
    emb = nn.Embedding.from_pretrained(f64(weight.copy()), max_norm=1.0)
    out = emb(graphc.tensor(indices))
    expected = weight.copy()
    for row in (0, 2, 5):
        norm = np.linalg.norm(weight[row])
        if norm > 1.0:
            expected[row] = weight[row] * (1.0 / (norm + 1e-7))
    assert_close(emb.weight, expected)                  # rows 1, 3 and 4 untouched
    assert_close(out, expected[indices])


def test_embedding_max_norm_with_norm_type_one_and_infinity(rng):
    weight = rng.standard_normal((4, 3)) * 2
    for norm_type, norm_of in ((1.0, lambda r: np.abs(r).sum()),
                               (math.inf, lambda r: np.abs(r).max())):
        w = f64(weight.copy())
        F.embedding(graphc.tensor([1, 3]), w, max_norm=0.5, norm_type=norm_type)
        for row in (1, 3):
            assert norm_of(w.numpy()[row]) == pytest.approx(0.5, rel=1e-6)
        assert_close(w[0], weight[0])


def test_embedding_scale_grad_by_freq_divides_each_rows_gradient_by_its_count(rng):
    indices = np.array([[1, 3, 3], [3, 0, 1]])
    upstream = rng.standard_normal((2, 3, 4))
    emb = nn.Embedding(5, 4, scale_grad_by_freq=True).double()
    (emb(graphc.tensor(indices)) * f64(upstream)).sum().backward()
    counts = np.bincount(indices.ravel(), minlength=5)
    expected = np.zeros((5, 4))
    for pos in np.ndindex(indices.shape):
        expected[indices[pos]] += upstream[pos] / counts[indices[pos]]
    assert_close(emb.weight.grad, expected)


def test_embedding_padding_idx_row_starts_at_zero_and_gets_no_gradient():
    emb = nn.Embedding(5, 3, padding_idx=-2).double()
    assert emb.padding_idx == 3
    assert emb.weight.numpy()[3].tolist() == [0.0, 0.0, 0.0]
    emb(graphc.tensor([3, 1, 3])).sum().backward()
    assert emb.weight.grad.numpy()[3].tolist() == [0.0, 0.0, 0.0]
    assert emb.weight.grad.numpy()[1].tolist() == [1.0, 1.0, 1.0]


def test_embedding_sparse_true_gives_a_dense_gradient(rng):
    indices = graphc.tensor([[0, 2], [2, 4]])
    dense, sparse = nn.Embedding(5, 2).double(), nn.Embedding(5, 2, sparse=True).double()
    sparse.load_state_dict(dense.state_dict())
    for emb in (dense, sparse):
        (emb(indices) ** 2).sum().backward()
    assert_close(sparse.weight.grad, dense.weight.grad.numpy())
    assert repr(sparse) == "Embedding(5, 2, sparse=True)"


def test_embedding_from_pretrained_freezes_and_keeps_the_padding_row():
    weight = f32([[1.0, 2.0], [3.0, 4.0]])
    emb = nn.Embedding.from_pretrained(weight, padding_idx=0)
    assert not emb.weight.requires_grad
    assert emb.weight.numpy()[0].tolist() == [1.0, 2.0]     # from_pretrained does not zero it
    assert nn.Embedding.from_pretrained(weight, freeze=False).weight.requires_grad


def test_embedding_options_compiled_equal_eager(rng):
    weight = (rng.standard_normal((6, 3)) * 2).astype(np.float32)
    indices = graphc.tensor(np.array([[0, 2, 2], [5, 0, 1]]))

    def run(compiled):
        emb = nn.Embedding.from_pretrained(f32(weight.copy()), freeze=False, max_norm=1.5,
                                           scale_grad_by_freq=True, padding_idx=1)

        def step(i):
            out = emb(i)
            (out * out).sum().backward()
            return out

        out = (graphc.compile(step) if compiled else step)(indices)
        return out.numpy(), emb.weight.detach().numpy(), emb.weight.grad.numpy()

    for got, want in zip(run(True), run(False)):
        assert_close(got, want)


def test_embedding_rejects_a_padding_idx_outside_the_table():
    with pytest.raises(ValueError, match="padding_idx 5 must be within num_embeddings"):
        F.embedding(graphc.tensor([0]), graphc.ones(5, 2), padding_idx=5)
    with pytest.raises(TypeError, match="expected input to be an integer tensor"):
        F.embedding(graphc.ones(2), graphc.ones(5, 2))


# -- 3-D convolution and pooling -----------------------------------------------------------------
def conv3d_loops(x, w, b, stride, padding, dilation, groups):
    """out[n, o, i, j, k] = sum over (c, a, e, f) of x_padded[n, c, i*s + a*d, ...] w[o, c, a, e, f]."""
    n, cin = x.shape[:2]
    o_all, cg = w.shape[:2]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    out_size = [(xp.shape[2 + a] - dilation[a] * (w.shape[2 + a] - 1) - 1) // stride[a] + 1
                for a in range(3)]
    out = np.zeros((n, o_all, *out_size))
    og = o_all // groups
    for o in range(o_all):
        g = o // og
        for pos in np.ndindex(*out_size):
            for tap in np.ndindex(*w.shape[2:]):
                src = [pos[a] * stride[a] + tap[a] * dilation[a] for a in range(3)]
                out[:, o, pos[0], pos[1], pos[2]] += (
                    xp[:, g * cg:(g + 1) * cg, src[0], src[1], src[2]]
                    @ w[o, :, tap[0], tap[1], tap[2]])
    return out + (0 if b is None else b.reshape(1, -1, 1, 1, 1))


@pytest.mark.parametrize("stride, padding, dilation, groups", [
    ((1, 1, 1), (0, 0, 0), (1, 1, 1), 1),
    ((2, 1, 2), (1, 0, 2), (1, 2, 1), 1),
    ((1, 2, 1), (2, 1, 1), (2, 1, 1), 2),
])
def test_conv3d_matches_a_direct_loop_oracle(stride, padding, dilation, groups, rng):
    x = rng.standard_normal((2, 4, 5, 4, 6))
    w = rng.standard_normal((6, 4 // groups, 3, 2, 3))
    b = rng.standard_normal(6)
    out = F.conv3d(f64(x), f64(w), f64(b), stride, padding, dilation, groups)
    assert_close(out, conv3d_loops(x, w, b, stride, padding, dilation, groups))


def test_conv3d_same_padding_and_module_parameters(rng):
    graphc.manual_seed(0)
    layer = nn.Conv3d(2, 3, (2, 3, 1), padding="same").double()
    assert layer.weight.shape == (3, 2, 2, 3, 1)
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert np.abs(layer.weight.numpy()).max() <= 1 / math.sqrt(2 * 2 * 3 * 1)
    x = rng.standard_normal((1, 2, 4, 5, 3))
    # PyTorch's 'same' for the even depth kernel: 0 before, 1 after
    padded = np.pad(x, [(0, 0), (0, 0), (0, 1), (1, 1), (0, 0)])
    expected = conv3d_loops(padded, layer.weight.numpy(), layer.bias.numpy(), (1, 1, 1),
                            (0, 0, 0), (1, 1, 1), 1)
    assert_close(layer(f64(x)), expected)


def test_conv3d_gradients_match_finite_differences(rng):
    check_grad(lambda x, w, b: F.conv3d(x, w, b, stride=(2, 1, 1), padding=1),
               [rng.standard_normal((1, 2, 3, 3, 2)), rng.standard_normal((2, 2, 2, 2, 2)),
                rng.standard_normal(2)])


def pool3d_loops(x, kernel, stride, padding, reduce):
    """Windows of the -inf (max) or 0 (sum) padded input; ``reduce`` maps a window to a value."""
    fill = -np.inf if reduce is np.max else 0.0
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding], constant_values=fill)
    size = [(x.shape[2 + a] + 2 * padding[a] - kernel[a]) // stride[a] + 1 for a in range(3)]
    out = np.empty(x.shape[:2] + tuple(size))
    for pos in np.ndindex(*size):
        lo = [pos[a] * stride[a] for a in range(3)]
        window = xp[:, :, lo[0]:lo[0] + kernel[0], lo[1]:lo[1] + kernel[1],
                    lo[2]:lo[2] + kernel[2]]
        out[(slice(None), slice(None)) + pos] = reduce(window.reshape(*x.shape[:2], -1), axis=-1)
    return out


@pytest.mark.parametrize("kernel, stride, padding", [
    ((2, 2, 2), (2, 2, 2), (0, 0, 0)), ((3, 2, 3), (2, 1, 2), (1, 1, 1))])
def test_max_and_avg_pool3d_match_loop_oracles(kernel, stride, padding, rng):
    x = rng.standard_normal((2, 3, 5, 4, 6))
    assert_close(F.max_pool3d(f64(x), kernel, stride, padding),
                 pool3d_loops(x, kernel, stride, padding, np.max))
    assert_close(nn.AvgPool3d(kernel, stride, padding)(f64(x)),
                 pool3d_loops(x, kernel, stride, padding, np.sum) / np.prod(kernel))


def test_avg_pool3d_without_padding_in_the_divisor(rng):
    x = rng.standard_normal((1, 2, 3, 4, 3))
    total = pool3d_loops(x, (3, 3, 3), (2, 2, 2), (1, 1, 1), np.sum)
    count = pool3d_loops(np.ones_like(x), (3, 3, 3), (2, 2, 2), (1, 1, 1), np.sum)
    assert_close(F.avg_pool3d(f64(x), 3, 2, 1, count_include_pad=False), total / count)


def test_max_pool3d_gradient_goes_to_the_first_maximum_of_each_window():
    x = np.zeros((1, 1, 2, 2, 2))          # every entry ties (as after a ReLU)
    x[0, 0, 1, 1, 1] = -1.0
    t = f64(x)
    t.requires_grad = True
    F.max_pool3d(t, 2).sum().backward()
    expected = np.zeros_like(x)
    expected[0, 0, 0, 0, 0] = 1.0          # the first of the tied maxima in (d, h, w) order
    assert_close(t.grad, expected)


def test_pool3d_gradients_match_finite_differences(rng):
    x = rng.standard_normal((1, 2, 4, 3, 4))
    check_grad(lambda x: F.max_pool3d(x, (2, 2, 3), (2, 1, 1), (1, 0, 1)), [x])
    check_grad(lambda x: F.avg_pool3d(x, 2, 1, 1, count_include_pad=False), [x])
    check_grad(lambda x: F.adaptive_avg_pool3d(x, (3, 2, 3)), [x])


def test_adaptive_avg_pool3d_averages_pytorchs_windows(rng):
    x = rng.standard_normal((2, 3, 5, 4, 7))
    expected = np.empty((2, 3, 3, 2, 3))
    bounds = [[(i * n // o, -(-(i + 1) * n // o)) for i in range(o)]
              for n, o in zip((5, 4, 7), (3, 2, 3))]
    for i, (d0, d1) in enumerate(bounds[0]):
        for j, (h0, h1) in enumerate(bounds[1]):
            for k, (w0, w1) in enumerate(bounds[2]):
                expected[:, :, i, j, k] = x[:, :, d0:d1, h0:h1, w0:w1].mean(axis=(2, 3, 4))
    assert_close(nn.AdaptiveAvgPool3d((3, 2, 3))(f64(x)), expected)
    assert nn.AdaptiveAvgPool3d((None, 1, 1))(f64(x)).shape == (2, 3, 5, 1, 1)


def test_3d_network_training_step_compiled_equals_eager(rng):
    x = f32(rng.standard_normal((2, 2, 6, 6, 6)))
    target = f32(rng.standard_normal((2, 3)))
    results = []
    for compiled in (False, True):
        graphc.manual_seed(1)
        model = nn.Sequential(nn.Conv3d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool3d(2),
                              nn.Conv3d(4, 3, 2), nn.AvgPool3d(2), nn.AdaptiveAvgPool3d(1),
                              nn.Flatten())
        opt = graphc.optim.SGD(model.parameters(), lr=0.1)

        def step(x, t, model=model, opt=opt):
            opt.zero_grad()
            loss = F.mse_loss(model(x), t)
            loss.backward()
            opt.step()
            return loss

        run = graphc.compile(step) if compiled else step
        losses = [run(x, target).item() for _ in range(2)]
        results.append((losses, [p.numpy().copy() for p in model.parameters()]))
    (eager_losses, eager_params), (compiled_losses, compiled_params) = results
    np.testing.assert_allclose(compiled_losses, eager_losses, rtol=1e-5, atol=1e-6)
    for got, want in zip(compiled_params, eager_params):
        assert_close(got, want)


def test_pool3d_bad_arguments_raise_clear_errors():
    x = graphc.ones(1, 1, 4, 4, 4)
    with pytest.raises(ValueError, match="pad should be at most half"):
        F.max_pool3d(x, 2, padding=2)
    with pytest.raises(NotImplementedError, match="return_indices"):
        nn.MaxPool3d(2, return_indices=True)(x)
    with pytest.raises(ValueError, match="expected a 4-D \\(unbatched\\) or 5-D"):
        F.conv3d(graphc.ones(1, 4, 4), graphc.ones(1, 1, 1, 1, 1))


# -- alpha dropout -------------------------------------------------------------------------------
def test_alpha_dropout_maps_dropped_entries_to_selus_saturation_affinely(rng):
    # PyTorch's formula: kept x -> a x + alpha' a p, dropped -> -alpha' a (1 - p), where
    # alpha' = 1.7580993408473766 and a = ((alpha'^2 p + 1)(1 - p))^(-1/2)
    alpha, p = 1.7580993408473766, 0.2
    a = 1 / math.sqrt((alpha ** 2 * p + 1) * (1 - p))
    x = rng.standard_normal(20000)
    graphc.manual_seed(3)
    out = nn.AlphaDropout(p)(f64(x)).numpy()
    kept = np.isclose(out, a * x + alpha * a * p, rtol=1e-12, atol=1e-12)
    dropped = np.isclose(out, -alpha * a * (1 - p), rtol=1e-12, atol=1e-12)
    assert (kept | dropped).all()
    assert 0.18 < dropped.mean() < 0.22
    assert abs(out.mean()) < 0.05 and abs(out.std() - 1) < 0.05   # SELU's fixed point kept
    assert_close(nn.AlphaDropout(p).eval()(f64(x)), x)
    assert_close(F.alpha_dropout(f64(x), p), x)                      # training=False default


def test_feature_alpha_dropout_drops_whole_channels():
    graphc.manual_seed(4)
    out = nn.FeatureAlphaDropout(0.5)(graphc.zeros(4, 6, 3)).numpy().reshape(24, 3)
    assert (out.min(1) == out.max(1)).all()
    assert len(np.unique(out)) == 2


@pytest.mark.parametrize("compiled", [False, True])
def test_sdpa_query_with_every_key_masked_attends_to_nothing_with_finite_gradients(compiled):
    """PyTorch's safe softmax: that row is 0; it was NaN, and its gradient made all of the
    value's gradient NaN (one padded query poisoned a whole batch)."""
    rng = np.random.default_rng(0)
    q, k, v = (graphc.tensor(rng.standard_normal(shape), requires_grad=True)
               for shape in ((1, 2, 4), (1, 3, 4), (1, 3, 2)))
    allowed = graphc.tensor([[True, False, True], [False, False, False]])

    def attend(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)

    out = (graphc.compile(attend) if compiled else attend)(q, k, v)
    out.sum().backward()
    assert out[0, 1].tolist() == [0.0, 0.0]
    scores = q.detach().numpy()[0, 0] @ k.detach().numpy()[0].T / 2.0
    w = np.exp(scores[[0, 2]] - scores[[0, 2]].max())
    w /= w.sum()
    np.testing.assert_allclose(out[0, 0].detach().numpy(), w @ v.detach().numpy()[0, [0, 2]],
                               rtol=1e-12)
    np.testing.assert_allclose(v.grad.numpy()[0, :, 0], [w[0], 0.0, w[1]], rtol=1e-12)
    assert all(np.isfinite(t.grad.numpy()).all() for t in (q, k, v))


def test_lp_pool_of_infinite_norm_is_max_pooling_of_magnitudes_as_pytorchs():
    x = graphc.tensor([[[-5.0, 2.0, 1.0, -3.0]]])
    assert F.lp_pool1d(x, float("inf"), 2).tolist() == [[[5.0, 3.0]]]  # was [[1, 1]]
    assert F.lp_pool1d(x, -float("inf"), 2).tolist() == [[[2.0, 1.0]]]
    x2 = graphc.arange(16.0).reshape(1, 1, 4, 4)
    assert F.lp_pool2d(x2, float("inf"), 2).tolist() == [[[[5.0, 7.0], [13.0, 15.0]]]]


def test_max_unpool_refuses_an_output_size_its_indices_cannot_come_from():
    pooled, indices = F.max_pool2d(graphc.arange(16.0).reshape(1, 1, 4, 4), 2,
                                   return_indices=True)
    assert F.max_unpool2d(pooled, indices, 2, output_size=(5, 5)).shape == (1, 1, 5, 5)
    with pytest.raises(ValueError, match=r"invalid output_size \[4, 7\]"):
        F.max_unpool2d(pooled, indices, 2, output_size=(4, 7))


@pytest.mark.parametrize("mode, shape", [("linear", (1, 1, 4)), ("bilinear", (1, 1, 4, 3)),
                                         ("trilinear", (1, 1, 4, 2, 3))])
def test_interpolate_copies_an_axis_whose_size_the_scale_keeps_as_pytorch(mode, shape):
    """floor(4 * 1.2) = 4: PyTorch's linear kernels copy such an axis; the 1/1.2 coordinate
    mapping gave [0, .75, 1.58, 2.42] for [0, 1, 2, 3]."""
    x = graphc.arange(float(np.prod(shape)), dtype=graphc.float64).reshape(*shape)
    scales = (1.2,) * (len(shape) - 2)
    out = F.interpolate(x, scale_factor=scales, mode=mode)
    np.testing.assert_array_equal(out.numpy(), x.numpy())
    assert out is not x
    grown = F.interpolate(x, scale_factor=(2.0,) + scales[1:], mode=mode)  # axis 2 does change
    assert grown.shape[2] == 8 and grown.shape[3:] == x.shape[3:]


def test_relu_and_silu_take_inplace_as_pytorchs_functional():
    x = graphc.tensor([-1.0, 2.0])
    assert F.relu(x, inplace=True) is x and x.tolist() == [0.0, 2.0]
    y = graphc.tensor([0.0, 1.0])
    assert F.silu(y, inplace=True) is y
    np.testing.assert_allclose(y.numpy(), [0.0, 1.0 / (1.0 + math.exp(-1.0))], rtol=1e-6)
    assert F.relu(graphc.tensor([-3.0])).tolist() == [0.0]


@pytest.mark.parametrize("shape, size", [((1, 2, 7), 3), ((1, 2, 5, 7), (2, 3)),
                                         ((1, 1, 4, 5, 6), (2, 3, 4))])
def test_interpolate_area_is_adaptive_average_pooling(shape, size):
    x = graphc.tensor(np.random.default_rng(0).standard_normal(shape))
    pooled = {3: F.adaptive_avg_pool1d, 4: F.adaptive_avg_pool2d,
              5: nn.functional.adaptive_avg_pool3d}[len(shape)](x, size)
    np.testing.assert_array_equal(F.interpolate(x, size=size, mode="area").numpy(),
                                  pooled.numpy())
    check_grad(lambda t: F.interpolate(t, size=size, mode="area"), [x.numpy()])


def test_gumbel_softmax_hard_samples_follow_the_softmax_with_the_soft_gradient():
    graphc.manual_seed(0)
    logits = graphc.tensor([[1.0, 2.0, 0.5]])
    draws = np.stack([F.gumbel_softmax(logits, tau=0.1, hard=True).numpy()[0]
                      for _ in range(4000)])
    assert set(np.unique(draws)) == {0.0, 1.0} and (draws.sum(1) == 1).all()
    probabilities = np.exp([1.0, 2.0, 0.5]) / np.exp([1.0, 2.0, 0.5]).sum()
    # the Gumbel-max trick: argmax(logits + g) ~ softmax(logits); 4000 draws, 5 sigma
    np.testing.assert_allclose(draws.mean(0), probabilities, atol=0.04)
    graphc.manual_seed(1)
    x = graphc.tensor([[1.0, 2.0, 0.5]], requires_grad=True)
    (F.gumbel_softmax(x, hard=True) * graphc.tensor([1.0, 2.0, 3.0])).sum().backward()
    graphc.manual_seed(1)
    y = graphc.tensor([[1.0, 2.0, 0.5]], requires_grad=True)
    (F.gumbel_softmax(y) * graphc.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-6)


def test_bicubic_interpolation_uses_keys_cubic_convolution_and_is_exact_on_cubics():
    """PyTorch's bicubic (A = -0.75): the weights of each output row sum to 1 (a constant is
    reproduced); at a source position on a pixel, the pixel itself; separable."""
    from graphc.nn.interpolation import cubic_weights
    weights = cubic_weights(7, 13, None, align_corners=True)
    np.testing.assert_allclose(weights.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(weights[::2], np.eye(7), atol=1e-12)  # 13 = 2 * 7 - 1 points
    x = graphc.tensor(np.random.default_rng(0).standard_normal((1, 2, 5, 7)))
    out = F.interpolate(x, size=(9, 13), mode="bicubic", align_corners=True)
    rows, cols = cubic_weights(5, 9, None, True), cubic_weights(7, 13, None, True)
    np.testing.assert_allclose(out.numpy(), rows @ x.numpy() @ cols.T, rtol=1e-12)
    check_grad(lambda t: F.interpolate(t, scale_factor=(1.5, 0.7), mode="bicubic"),
               [x.numpy()])
    assert F.interpolate(x, size=(5, 7), mode="bicubic").tolist() == x.tolist()
