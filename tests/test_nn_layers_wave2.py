"""The second wave of ``graphc.nn`` layers and functions: activations, padding layers,
1-D / adaptive-max / power-average pooling, instance / RMS / local-response normalization,
parameter containers, distances, Bilinear, ChannelShuffle and EmbeddingBag.

Each is checked against an independent float64 NumPy oracle written here from PyTorch's
documented formula, its gradients against finite differences, and its compiled result (default
backend, llvm) against eager mode; parameter names, shapes and initializations follow PyTorch.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from conftest import assert_close, check_grad
from graphc import nn


def f32(a):
    return graphc.tensor(np.asarray(a, dtype=np.float32))


def f64(a):
    return graphc.tensor(np.asarray(a, dtype=np.float64))


def away_from(values, kinks, gap=0.05):
    """``values`` moved off the points where a piecewise function has a kink (finite
    differences across a kink measure neither side)."""
    values = np.array(values, dtype=np.float64)
    for k in kinks:
        close = np.abs(values - k) < gap
        values[close] = k + np.where(values[close] >= k, gap, -gap)
    return values


def compiled_equals_eager(fn, *args):
    """``graphc.compile(fn)`` on the default backend gives eager mode's result (f32)."""
    eager = fn(*args)
    compiled = graphc.compile(fn)(*args)
    eager = eager if isinstance(eager, (tuple, list)) else (eager,)
    compiled = compiled if isinstance(compiled, (tuple, list)) else (compiled,)
    for e, c in zip(eager, compiled):
        assert_close(c, e.numpy())


# -- activations ---------------------------------------------------------------------------------
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848, 1.0507009873554804934


def np_softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


ACTIVATIONS = {  # name: (graphc function, float64 oracle, kinks)
    "selu": (F.selu, lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)), [0]),
    "celu": (lambda x: F.celu(x, 0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x / 0.7)),
             [0]),
    "hardswish": (F.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6, [-3, 3]),
    "hardsigmoid": (F.hardsigmoid, lambda x: np.clip(x + 3, 0, 6) / 6, [-3, 3]),
    "hardshrink": (lambda x: F.hardshrink(x, 0.4),
                   lambda x: np.where(np.abs(x) > 0.4, x, 0.0), [-0.4, 0.4]),
    "softshrink": (lambda x: F.softshrink(x, 0.4),
                   lambda x: np.sign(x) * np.maximum(np.abs(x) - 0.4, 0), [-0.4, 0.4]),
    "tanhshrink": (F.tanhshrink, lambda x: x - np.tanh(x), []),
    "softsign": (F.softsign, lambda x: x / (1 + np.abs(x)), [0]),
    "mish": (F.mish, lambda x: x * np.tanh(np_softplus(x)), []),
    "threshold": (lambda x: F.threshold(x, 0.3, -2.0), lambda x: np.where(x > 0.3, x, -2.0),
                  [0.3]),
    "rrelu_eval": (lambda x: F.rrelu(x, 0.1, 0.3, training=False),
                   lambda x: np.where(x >= 0, x, 0.2 * x), [0]),
    "glu": (lambda x: F.glu(x, 1),
            lambda x: x[:, :3] / (1 + np.exp(-x[:, 3:])), []),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_its_pytorch_formula(name, rng):
    fn, oracle, _ = ACTIVATIONS[name]
    x = rng.uniform(-5, 5, size=(4, 6))
    assert_close(fn(f64(x)), oracle(x))
    assert_close(fn(f32(x)), oracle(x.astype(np.float32).astype(np.float64)))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradient_matches_finite_differences(name, rng):
    fn, _, kinks = ACTIVATIONS[name]
    check_grad(fn, [away_from(rng.uniform(-5, 5, size=(4, 6)), kinks)])


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_compiled_equals_eager(name, rng):
    fn, _, _ = ACTIVATIONS[name]
    compiled_equals_eager(fn, f32(rng.uniform(-5, 5, size=(4, 6))))


def test_selu_and_celu_do_not_overflow_for_large_inputs():
    x = f64([1000.0, -1000.0])
    assert_close(F.selu(x), [SELU_SCALE * 1000.0, -SELU_SCALE * SELU_ALPHA])
    x.requires_grad = True
    F.celu(x).sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))


def test_activation_modules_apply_their_functions_and_repr_as_pytorch(rng):
    x = rng.uniform(-4, 4, size=(2, 4))
    assert_close(nn.SELU()(f64(x)), ACTIVATIONS["selu"][1](x))
    assert_close(nn.Hardswish()(f64(x)), ACTIVATIONS["hardswish"][1](x))
    assert_close(nn.Tanhshrink()(f64(x)), x - np.tanh(x))
    assert_close(nn.GLU()(f64(x)), x[:, :2] / (1 + np.exp(-x[:, 2:])))
    assert repr(nn.CELU(0.5, inplace=True)) == "CELU(alpha=0.5, inplace=True)"
    assert repr(nn.Hardshrink()) == "Hardshrink(0.5)"
    assert repr(nn.GLU()) == "GLU(dim=-1)"
    assert repr(nn.Softmax2d()) == "Softmax2d()"


def test_inplace_activations_rebind_their_input(rng):
    x = rng.uniform(-2, 2, size=(3, 4))
    for fn, expected in [(F.relu_, np.maximum(x, 0)),
                         (F.elu_, np.where(x > 0, x, np.expm1(x))),
                         (lambda t: F.leaky_relu_(t, 0.2), np.where(x > 0, x, 0.2 * x)),
                         (F.hardtanh_, np.clip(x, -1, 1)),
                         (F.selu_, ACTIVATIONS["selu"][1](x)),
                         (lambda t: F.threshold_(t, 0.5, 9.0), np.where(x > 0.5, x, 9.0))]:
        t = f64(x)
        out = fn(t)
        assert out is t
        assert_close(t, expected)
    t = f64(x)
    nn.Mish(inplace=True)(t)
    assert_close(t, ACTIVATIONS["mish"][1](x))


def test_rrelu_train_mode_draws_slopes_between_lower_and_upper():
    graphc.manual_seed(0)
    layer = nn.RReLU(0.1, 0.3)
    x = -np.ones((200,))
    slopes = layer(f64(x)).numpy() / x
    assert np.all((slopes >= 0.1) & (slopes <= 0.3))
    assert slopes.std() > 0.02  # random, not one slope
    layer.eval()
    assert_close(layer(f64(x)), 0.2 * x)
    assert_close(layer(f64([2.0])), [2.0])


def test_prelu_has_pytorch_parameter_and_per_channel_slopes(rng):
    layer = nn.PReLU(3, init=0.1)
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [("weight", (3,))]
    assert_close(layer.weight, [0.1, 0.1, 0.1])
    assert_close(nn.PReLU().weight, [0.25])
    x = rng.uniform(-3, 3, size=(2, 3, 4))
    a = np.array([0.1, 0.5, -0.2])
    expected = np.where(x > 0, x, a.reshape(1, 3, 1) * x)
    assert_close(F.prelu(f64(x), f64(a)), expected)
    check_grad(F.prelu, [away_from(x, [0]), a])
    compiled_equals_eager(F.prelu, f32(x), f32(a))
    with pytest.raises(RuntimeError, match="channel size"):
        F.prelu(f64(x), f64([0.1, 0.2]))


def test_glu_refuses_an_odd_dimension():
    with pytest.raises(RuntimeError, match="Halving dimension must be even"):
        F.glu(graphc.ones(2, 3))


def test_softmax2d_normalizes_over_channels(rng):
    x = rng.normal(size=(2, 3, 2, 2))
    e = np.exp(x - x.max(1, keepdims=True))
    assert_close(nn.Softmax2d()(f64(x)), e / e.sum(1, keepdims=True))
    with pytest.raises(ValueError, match="3 or 4 dims"):
        F.softmax2d(graphc.ones(2, 3))


# -- padding layers ------------------------------------------------------------------------------
PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@pytest.mark.parametrize("cls, mode, dims", [
    (nn.ReflectionPad1d, "reflect", 1), (nn.ReflectionPad2d, "reflect", 2),
    (nn.ReplicationPad1d, "replicate", 1), (nn.ReplicationPad2d, "replicate", 2),
    (nn.CircularPad1d, "circular", 1), (nn.CircularPad2d, "circular", 2),
    (nn.ReflectionPad3d, "reflect", 3), (nn.ReplicationPad3d, "replicate", 3),
    (nn.CircularPad3d, "circular", 3)])
def test_padding_layer_matches_numpy_pad(cls, mode, dims, rng):
    x = rng.normal(size=(2, 3) + (4,) * dims)
    pads = (1, 2, 2, 0, 3, 1)[:2 * dims]
    width = [(0, 0), (0, 0)] + [(pads[2 * i], pads[2 * i + 1]) for i in reversed(range(dims))]
    layer = cls(pads)
    assert_close(layer(f64(x)), np.pad(x, width, mode=PAD_MODES[mode]))
    assert_close(cls(2)(f64(x)), np.pad(x, [(0, 0), (0, 0)] + [(2, 2)] * dims,
                                        mode=PAD_MODES[mode]))
    if dims < 3:
        check_grad(layer, [x])
    compiled_equals_eager(layer, f32(x))


@pytest.mark.parametrize("cls, dims", [(nn.ConstantPad1d, 1), (nn.ConstantPad2d, 2),
                                       (nn.ConstantPad3d, 3)])
def test_constant_and_zero_padding_layers(cls, dims, rng):
    x = rng.normal(size=(2,) + (3,) * dims)
    pads = (1, 0, 2, 1, 0, 2)[:2 * dims]
    width = [(0, 0)] + [(pads[2 * i], pads[2 * i + 1]) for i in reversed(range(dims))]
    assert_close(cls(pads, 3.5)(f64(x)), np.pad(x, width, constant_values=3.5))
    zero = {1: nn.ZeroPad1d, 2: nn.ZeroPad2d, 3: nn.ZeroPad3d}[dims](pads)
    assert_close(zero(f64(x)), np.pad(x, width))
    compiled_equals_eager(zero, f32(x))
    assert repr(nn.ConstantPad2d(1, 3.5)) == "ConstantPad2d(padding=(1, 1, 1, 1), value=3.5)"
    assert repr(nn.ZeroPad2d((1, 0, 2, 0))) == "ZeroPad2d((1, 0, 2, 0))"
    assert repr(nn.ReflectionPad1d(2)) == "ReflectionPad1d((2, 2))"


def test_padding_layer_refuses_wrong_padding_length_and_rank():
    with pytest.raises(ValueError, match="4 values"):
        nn.ReflectionPad2d((1, 2))
    with pytest.raises(ValueError, match="3D or 4D"):
        nn.ReflectionPad2d(1)(graphc.ones(4, 4))


# -- pooling -------------------------------------------------------------------------------------
def windows_1d(length, kernel, stride, padding=0, dilation=1, ceil_mode=False):
    span = dilation * (kernel - 1) + 1
    count = (length + 2 * padding - span) / stride + 1
    count = math.ceil(count) if ceil_mode else math.floor(count)
    if ceil_mode and (count - 1) * stride >= length + padding:
        count -= 1
    return [[i * stride - padding + j * dilation for j in range(kernel)] for i in range(count)]


def max_pool1d_loops(x, kernel, stride, padding=0, dilation=1, ceil_mode=False):
    wins = windows_1d(x.shape[-1], kernel, stride, padding, dilation, ceil_mode)
    out = np.empty(x.shape[:-1] + (len(wins),))
    index = np.empty(out.shape, dtype=np.int64)
    for o, win in enumerate(wins):
        inside = [p for p in win if 0 <= p < x.shape[-1]]
        values = x[..., inside]
        out[..., o] = values.max(-1)
        index[..., o] = np.array(inside)[values.argmax(-1)]
    return out, index


@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil_mode", [
    (2, None, 0, 1, False), (3, 2, 1, 1, False), (3, 2, 1, 2, True), (4, 3, 2, 1, True)])
def test_max_pool1d_matches_loops_with_indices(kernel, stride, padding, dilation, ceil_mode, rng):
    x = rng.normal(size=(2, 3, 11))
    out, index = F.max_pool1d(f64(x), kernel, stride, padding, dilation, ceil_mode,
                              return_indices=True)
    want, want_index = max_pool1d_loops(x, kernel, stride or kernel, padding, dilation,
                                        ceil_mode)
    assert_close(out, want)
    assert_close(index, want_index)
    layer = nn.MaxPool1d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    check_grad(layer, [x])
    compiled_equals_eager(layer, f32(x))
    assert_close(layer(f64(x[0])), want[0])  # unbatched (C, L)


def avg_pool1d_loops(x, kernel, stride, padding, ceil_mode, count_include_pad):
    wins = windows_1d(x.shape[-1], kernel, stride, padding, 1, ceil_mode)
    out = np.empty(x.shape[:-1] + (len(wins),))
    for o, win in enumerate(wins):
        inside = [p for p in win if 0 <= p < x.shape[-1]]
        if count_include_pad:  # padding counts, the part past the padded end does not
            divisor = min(win[-1], x.shape[-1] + padding - 1) - win[0] + 1
        else:
            divisor = len(inside)
        out[..., o] = x[..., inside].sum(-1) / divisor
    return out


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode, include", [
    (2, None, 0, False, True), (3, 2, 1, False, True), (3, 2, 1, True, False),
    (4, 3, 2, True, True)])
def test_avg_pool1d_matches_loops(kernel, stride, padding, ceil_mode, include, rng):
    x = rng.normal(size=(2, 3, 10))
    layer = nn.AvgPool1d(kernel, stride, padding, ceil_mode, include)
    assert_close(layer(f64(x)), avg_pool1d_loops(x, kernel, stride or kernel, padding,
                                                  ceil_mode, include))
    check_grad(layer, [x])
    compiled_equals_eager(layer, f32(x))


def adaptive_bounds(size, out):
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def adaptive_max_pool2d_loops(x, oh, ow):
    h, w = x.shape[-2:]
    out = np.empty(x.shape[:-2] + (oh, ow))
    index = np.empty(out.shape, dtype=np.int64)
    for i, (h0, h1) in enumerate(adaptive_bounds(h, oh)):
        for j, (w0, w1) in enumerate(adaptive_bounds(w, ow)):
            block = x[..., h0:h1, w0:w1].reshape(x.shape[:-2] + (-1,))
            best = block.argmax(-1)
            out[..., i, j] = block.max(-1)
            index[..., i, j] = (h0 + best // (w1 - w0)) * w + w0 + best % (w1 - w0)
    return out, index


@pytest.mark.parametrize("size, output", [((7, 5), (3, 2)), ((4, 6), (4, 6)),
                                          ((5, 9), (2, None))])
def test_adaptive_max_pool2d_matches_loops_with_indices(size, output, rng):
    x = rng.normal(size=(2, 3) + size)
    out, index = nn.AdaptiveMaxPool2d(output, return_indices=True)(f64(x))
    oh, ow = (size[a] if o is None else o for a, o in enumerate(output))
    want, want_index = adaptive_max_pool2d_loops(x, oh, ow)
    assert_close(out, want)
    assert_close(index, want_index)
    check_grad(lambda t: F.adaptive_max_pool2d(t, output), [x])
    compiled_equals_eager(lambda t: F.adaptive_max_pool2d(t, output, True), f32(x))


def test_adaptive_max_pool1d_matches_loops(rng):
    x = rng.normal(size=(2, 3, 10))
    out, index = F.adaptive_max_pool1d(f64(x), 4, return_indices=True)
    want, want_index = adaptive_max_pool2d_loops(x[:, :, None, :], 1, 4)
    assert_close(out, want[:, :, 0])
    assert_close(index, want_index[:, :, 0])
    assert_close(nn.AdaptiveMaxPool1d(4)(f64(x[0])), want[0, :, 0])
    check_grad(nn.AdaptiveMaxPool1d(3), [x])
    compiled_equals_eager(nn.AdaptiveMaxPool1d(3), f32(x))


def test_adaptive_max_pool_ties_keep_the_first_position():
    x = f64(np.ones((1, 1, 4, 4)))
    _, index = F.adaptive_max_pool2d(x, 2, return_indices=True)
    assert index.tolist() == [[[[0, 2], [8, 10]]]]


@pytest.mark.parametrize("p", [2.0, 3.0, 1.5])
def test_lp_pool_matches_power_sum_root(p, rng):
    x = rng.uniform(0.2, 2.0, size=(2, 3, 6, 7))
    out = nn.LPPool2d(p, (2, 3), stride=2)(f64(x))
    want = np.empty((2, 3, 3, 3))
    for i in range(3):
        for j in range(3):
            want[:, :, i, j] = (x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 3] ** p).sum((2, 3)) ** (1 / p)
    assert_close(out, want)
    check_grad(lambda t: F.lp_pool2d(t, p, (2, 3), 2), [x])
    x1 = x[:, :, 0]
    want1 = np.stack([(x1[:, :, 3 * i:3 * i + 3] ** p).sum(-1) ** (1 / p) for i in range(2)], -1)
    assert_close(nn.LPPool1d(p, 3)(f64(x1)), want1)
    compiled_equals_eager(nn.LPPool1d(p, 3), f32(x1))


def test_max_unpool2d_places_values_at_their_pooling_indices(rng):
    x = rng.normal(size=(2, 3, 4, 6))
    pooled, index = F.max_pool2d(f64(x), 2, return_indices=True)
    out = nn.MaxUnpool2d(2)(pooled, index)
    want = np.zeros_like(x)
    flat = want.reshape(2, 3, -1)
    np.put_along_axis(flat, index.numpy().reshape(2, 3, -1), pooled.numpy().reshape(2, 3, -1), -1)
    assert_close(out, want)
    assert F.max_unpool2d(pooled, index, 2, output_size=(5, 7)).shape == (2, 3, 5, 7)
    x1 = rng.normal(size=(2, 3, 8))
    pooled1, index1 = F.max_pool1d(f64(x1), 2, return_indices=True)
    out1 = nn.MaxUnpool1d(2)(pooled1, index1).numpy()
    assert_close(out1.max(-1), x1.reshape(2, 3, 4, 2).max(-1).max(-1))
    assert np.count_nonzero(out1) == 24


# -- normalization -------------------------------------------------------------------------------
def test_batchnorm3d_normalizes_5d_input_and_tracks_statistics(rng):
    bn = nn.BatchNorm3d(3)
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var",
                                                  "num_batches_tracked"]
    x = rng.normal(2.0, 3.0, size=(2, 3, 2, 3, 2)).astype(np.float32).astype(np.float64)
    axes = (0, 2, 3, 4)
    mean, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    assert_close(bn(f32(x)), (x - mean) / np.sqrt(var + 1e-5))
    assert_close(bn.running_mean, 0.1 * mean.ravel(), "f32")
    assert_close(bn.running_var, 0.9 + 0.1 * x.var(axes, ddof=1), "f32")
    with pytest.raises(ValueError, match="5D"):
        bn(graphc.ones(2, 3, 4, 4))


def instance_norm_oracle(x, eps=1e-5):
    axes = tuple(range(2, x.ndim))
    return (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)


@pytest.mark.parametrize("cls, spatial", [(nn.InstanceNorm1d, (5,)), (nn.InstanceNorm2d, (3, 4)),
                                          (nn.InstanceNorm3d, (2, 3, 2))])
def test_instance_norm_normalizes_each_sample_and_channel(cls, spatial, rng):
    layer = cls(3)
    assert list(layer.named_parameters()) == [] and list(layer.named_buffers()) == []
    x = rng.normal(1.0, 2.0, size=(2, 3) + spatial)
    assert_close(layer(f64(x)), instance_norm_oracle(x))
    assert_close(layer(f64(x[0])), instance_norm_oracle(x[:1])[0])  # unbatched
    check_grad(lambda t: F.instance_norm(t), [x])
    compiled_equals_eager(layer, f32(x))


def test_instance_norm_affine_and_running_statistics_as_pytorch(rng):
    layer = nn.InstanceNorm1d(3, affine=True, track_running_stats=True, momentum=0.2)
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [("weight", (3,)),
                                                                   ("bias", (3,))]
    assert_close(layer.weight, np.ones(3))
    assert_close(layer.bias, np.zeros(3))
    x = rng.normal(1.0, 2.0, size=(4, 3, 6)).astype(np.float32).astype(np.float64)
    w, b = np.array([0.5, 2.0, -1.0]), np.array([0.1, 0.0, 0.3])
    with graphc.no_grad():
        layer.weight.copy_(f32(w))
        layer.bias.copy_(f32(b))
    out = layer(f32(x))
    assert_close(out, instance_norm_oracle(x) * w.reshape(1, 3, 1) + b.reshape(1, 3, 1))
    # running stats: the batch mean of per-instance mean and unbiased variance
    assert_close(layer.running_mean, 0.2 * x.mean(2).mean(0), "f32")
    assert_close(layer.running_var, 0.8 + 0.2 * x.var(2, ddof=1).mean(0), "f32")
    layer.eval()  # evaluation normalizes with the running statistics
    rm, rv = layer.running_mean.numpy(), layer.running_var.numpy()
    want = (x - rm.reshape(1, 3, 1)) / np.sqrt(rv.reshape(1, 3, 1) + 1e-5)
    assert_close(layer(f32(x)), want * w.reshape(1, 3, 1) + b.reshape(1, 3, 1))
    assert repr(layer) == ("InstanceNorm1d(3, eps=1e-05, momentum=0.2, affine=True, "
                           "track_running_stats=True)")


def test_group_norm_function_matches_the_module_formula(rng):
    x = rng.normal(size=(2, 6, 3, 2))
    w, b = rng.normal(size=6), rng.normal(size=6)
    g = x.reshape(2, 3, -1)
    normed = ((g - g.mean(2, keepdims=True)) / np.sqrt(g.var(2, keepdims=True) + 1e-5))
    want = normed.reshape(x.shape) * w.reshape(1, 6, 1, 1) + b.reshape(1, 6, 1, 1)
    assert_close(F.group_norm(f64(x), 3, f64(w), f64(b)), want)
    check_grad(lambda t, ww, bb: F.group_norm(t, 3, ww, bb), [x, w, b])
    compiled_equals_eager(lambda t: F.group_norm(t, 2), f32(x))
    with pytest.raises(RuntimeError, match="divisible by num_groups"):
        F.group_norm(f64(x), 4)


def test_rms_norm_matches_formula_with_dtype_epsilon(rng):
    layer = nn.RMSNorm((3, 4))
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [("weight", (3, 4))]
    assert_close(layer.weight, np.ones((3, 4)))
    x = rng.normal(size=(2, 3, 4))
    rms = np.sqrt((x ** 2).mean((1, 2), keepdims=True) + np.finfo(np.float64).eps)
    assert_close(layer(f64(x)), x / rms)
    w = rng.normal(size=4)
    rms = np.sqrt((x ** 2).mean(2, keepdims=True) + 1e-3)
    assert_close(F.rms_norm(f64(x), 4, f64(w), eps=1e-3), x / rms * w)
    check_grad(lambda t, ww: F.rms_norm(t, (4,), ww, 1e-3), [x, w])
    compiled_equals_eager(layer, f32(x))


def test_local_response_norm_matches_channel_window_loops(rng):
    x = rng.normal(size=(2, 5, 3, 2))
    size, alpha, beta, k = 3, 0.2, 0.75, 1.5
    want = np.empty_like(x)
    for c in range(5):
        lo, hi = max(0, c - size // 2), min(5, c + (size - 1) // 2 + 1)
        window = (x[:, lo:hi] ** 2).sum(1)
        want[:, c] = x[:, c] / (k + alpha * window / size) ** beta
    layer = nn.LocalResponseNorm(size, alpha, beta, k)
    assert_close(layer(f64(x)), want)
    assert_close(F.local_response_norm(f64(x[:, :, 0]), size, alpha, beta, k), (
        x[:, :, 0] / (k + alpha * np.stack([(x[:, max(0, c - 1):c + 2, 0] ** 2).sum(1)
                                             for c in range(5)], 1) / size) ** beta))
    check_grad(layer, [x])
    compiled_equals_eager(nn.LocalResponseNorm(2), f32(x))
    assert repr(nn.LocalResponseNorm(2)) == "LocalResponseNorm(2, alpha=0.0001, beta=0.75, k=1.0)"


# -- containers ----------------------------------------------------------------------------------
class WithParameterContainers(nn.Module):
    def __init__(self):
        super().__init__()
        self.scales = nn.ParameterList([nn.Parameter(graphc.ones(2)), graphc.zeros(3)])
        self.table = nn.ParameterDict({"b": graphc.ones(1), "a": nn.Parameter(graphc.ones(4))})

    def forward(self, x):
        return x * self.scales[0] + self.table["b"]


def test_parameter_list_and_dict_register_parameters_with_pytorch_names():
    model = WithParameterContainers()
    # (a plain dict's keys sorted, as PyTorch's ParameterDict sorts them)
    assert [(n, p.shape) for n, p in model.named_parameters()] == [
        ("scales.0", (2,)), ("scales.1", (3,)), ("table.a", (4,)), ("table.b", (1,))]
    assert list(model.state_dict()) == ["scales.0", "scales.1", "table.a", "table.b"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in model.parameters())
    model.scales.append(graphc.ones(5))
    model.table["c"] = graphc.ones(6)
    assert len(model.scales) == 3 and model.scales[-1].shape == (5,)
    assert list(model.table.keys()) == ["a", "b", "c"] and "c" in model.table
    assert "scales.2" in model.state_dict() and "table.c" in model.state_dict()
    del model.table["a"]
    assert list(model.table) == ["b", "c"]
    assert model.table.pop("c").shape == (6,)
    with pytest.raises(IndexError):
        model.scales[3]


def test_parameter_containers_train_and_compile(rng):
    model = WithParameterContainers()
    x = f32(rng.normal(size=(2,)))
    loss = model(x).sum()
    loss.backward()
    assert_close(model.scales[0].grad, x.numpy())
    assert_close(model.table["b"].grad, [2.0])
    compiled_equals_eager(model, x)


# -- distances, Bilinear, ChannelShuffle ---------------------------------------------------------
def test_cosine_similarity_matches_formula_and_broadcasts(rng):
    a, b = rng.normal(size=(4, 5)), rng.normal(size=(1, 5))
    want = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert_close(F.cosine_similarity(f64(a), f64(b)), want)
    assert_close(nn.CosineSimilarity(dim=0)(f64(a.T), f64(b.T)), want)
    check_grad(lambda x, y: F.cosine_similarity(x, y), [a, b])
    compiled_equals_eager(nn.CosineSimilarity(), f32(a), f32(b))
    zero = F.cosine_similarity(f64(np.zeros((1, 5))), f64(b))
    assert_close(zero, [0.0])


def test_pairwise_distance_adds_eps_to_the_difference(rng):
    a, b = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    for p in (1.0, 2.0, 3.0):
        want = (np.abs(a - b + 1e-6) ** p).sum(1) ** (1 / p)
        assert_close(F.pairwise_distance(f64(a), f64(b), p), want)
    assert_close(nn.PairwiseDistance(keepdim=True)(f64(a), f64(b)),
                 np.linalg.norm(a - b + 1e-6, axis=1, keepdims=True))
    check_grad(lambda x, y: F.pairwise_distance(x, y), [a, b])
    compiled_equals_eager(nn.PairwiseDistance(), f32(a), f32(b))


def test_pdist_lists_upper_triangle_distances_in_row_major_order(rng):
    x = rng.normal(size=(5, 3))
    want = [np.linalg.norm(x[i] - x[j]) for i in range(5) for j in range(i + 1, 5)]
    assert_close(F.pdist(f64(x)), want)
    want1 = [np.abs(x[i] - x[j]).sum() for i in range(5) for j in range(i + 1, 5)]
    assert_close(F.pdist(f64(x), 1), want1)
    check_grad(F.pdist, [x])
    compiled_equals_eager(F.pdist, f32(x))


def test_normalize_of_a_zero_vector_is_zero_with_finite_gradient(rng):
    x = rng.normal(size=(3, 4))
    assert_close(F.normalize(f64(x)), x / np.linalg.norm(x, axis=1, keepdims=True))
    check_grad(F.normalize, [x])
    z = graphc.zeros(2, 3, dtype=graphc.float64, requires_grad=True)
    out = F.normalize(z)
    out.sum().backward()
    assert_close(out, np.zeros((2, 3)))
    assert_close(z.grad, np.full((2, 3), 1e12))  # 1 / eps, as PyTorch


def test_bilinear_matches_einsum_and_pytorch_init(rng):
    graphc.manual_seed(0)
    layer = nn.Bilinear(3, 4, 2)
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [("weight", (2, 3, 4)),
                                                                   ("bias", (2,))]
    bound = 1 / math.sqrt(3)
    big = nn.Bilinear(16, 4, 64)
    assert np.abs(big.weight.numpy()).max() <= bound * 0.5 + 1e-7
    assert big.weight.numpy().std() == pytest.approx(0.25 / math.sqrt(3), rel=0.1)
    x1, x2 = rng.normal(size=(5, 3)), rng.normal(size=(5, 4))
    w, b = rng.normal(size=(2, 3, 4)), rng.normal(size=2)
    assert_close(F.bilinear(f64(x1), f64(x2), f64(w), f64(b)),
                 np.einsum("bi,oij,bj->bo", x1, w, x2) + b)
    assert_close(F.bilinear(f64(x1[None]), f64(x2[None]), f64(w)),
                 np.einsum("bi,oij,bj->bo", x1, w, x2)[None])
    check_grad(F.bilinear, [x1, x2, w, b])
    compiled_equals_eager(layer, f32(x1), f32(x2))


def test_channel_shuffle_interleaves_groups(rng):
    x = rng.normal(size=(2, 6, 3))
    want = x.reshape(2, 2, 3, 3).transpose(0, 2, 1, 3).reshape(2, 6, 3)
    assert_close(nn.ChannelShuffle(2)(f64(x)), want)
    compiled_equals_eager(nn.ChannelShuffle(3), f32(x))
    with pytest.raises(RuntimeError, match="divisible by groups"):
        F.channel_shuffle(f64(x), 4)


# -- EmbeddingBag --------------------------------------------------------------------------------
def embedding_bag_loops(indices, offsets, weight, mode, padding_idx=None, psw=None):
    bounds = list(offsets) + [len(indices)]
    out = np.zeros((len(offsets), weight.shape[1]))
    for b in range(len(offsets)):
        rows = [(k, i) for k, i in enumerate(indices[bounds[b]:bounds[b + 1]], bounds[b])
                if i != padding_idx]
        if not rows:
            continue
        vectors = np.stack([weight[i] * (1.0 if psw is None else psw[k]) for k, i in rows])
        out[b] = {"sum": vectors.sum, "mean": vectors.mean, "max": vectors.max}[mode](0)
    return out


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_reduces_bags_given_by_offsets(mode, rng):
    weight = rng.normal(size=(6, 3))
    indices, offsets = np.array([1, 2, 4, 5, 4, 3, 2, 0]), np.array([0, 2, 2, 5])
    want = embedding_bag_loops(indices, offsets, weight, mode)
    idx, off = graphc.tensor(indices), graphc.tensor(offsets)
    assert_close(F.embedding_bag(idx, f64(weight), off, mode=mode), want)
    check_grad(lambda w: F.embedding_bag(idx, w, off, mode=mode), [weight])
    compiled_equals_eager(lambda w, i, o: F.embedding_bag(i, w, o, mode=mode), f32(weight),
                          idx, off)
    padded = embedding_bag_loops(indices, offsets, weight, mode, padding_idx=4)
    assert_close(F.embedding_bag(idx, f64(weight), off, mode=mode, padding_idx=4), padded)
    last = F.embedding_bag(idx, f64(weight), graphc.tensor([0, 2, 2, 5, 8]), mode=mode,
                           include_last_offset=True)
    assert_close(last, want)


def test_embedding_bag_2d_input_and_per_sample_weights(rng):
    weight = rng.normal(size=(5, 2))
    indices = np.array([[0, 1, 2], [4, 4, 1]])
    layer = nn.EmbeddingBag(5, 2, mode="sum", _weight=f64(weight))
    assert_close(layer(graphc.tensor(indices)), weight[indices].sum(1))
    psw = rng.normal(size=(6,))
    want = embedding_bag_loops(indices.ravel(), [0, 3], weight, "sum", psw=psw)
    assert_close(layer(graphc.tensor(indices.ravel()), graphc.tensor([0, 3]), f64(psw)), want)
    with pytest.raises(NotImplementedError, match="only supported for mode='sum'"):
        F.embedding_bag(graphc.tensor(indices), f64(weight), per_sample_weights=f64(psw),
                        mode="mean")
    with pytest.raises(ValueError, match="offsets has to be None"):
        layer(graphc.tensor(indices), graphc.tensor([0]))
    bag = nn.EmbeddingBag(10, 3, padding_idx=2)
    assert repr(bag) == "EmbeddingBag(10, 3, mode=mean, padding_idx=2)"
    assert [(n, p.shape) for n, p in bag.named_parameters()] == [("weight", (10, 3))]
    assert_close(bag.weight[2], np.zeros(3))


# -- PyTorch module paths ------------------------------------------------------------------------
def test_new_layers_are_at_their_pytorch_module_paths():
    m = nn.modules
    assert m.activation.PReLU is nn.PReLU and m.padding.ReflectionPad2d is nn.ReflectionPad2d
    assert m.pooling.AdaptiveMaxPool2d is nn.AdaptiveMaxPool2d
    assert m.instancenorm.InstanceNorm2d is nn.InstanceNorm2d
    assert m.batchnorm.BatchNorm3d is nn.BatchNorm3d
    assert m.normalization.RMSNorm is nn.RMSNorm
    assert m.container.ParameterList is nn.ParameterList
    assert m.distance.CosineSimilarity is nn.CosineSimilarity
    assert m.sparse.EmbeddingBag is nn.EmbeddingBag
    assert m.linear.Bilinear is nn.Bilinear
    assert m.channelshuffle.ChannelShuffle is nn.ChannelShuffle


# -- vmap ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [
    lambda t: F.adaptive_max_pool2d(t, 2), lambda t: F.local_response_norm(t, 2),
    lambda t: F.instance_norm(t), F.mish, lambda t: F.max_pool1d(t[:, 0], 2),
    lambda t: F.pad(t, (1, 2, 2, 1), "reflect"), lambda t: F.pdist(t[0, 0])],
    ids=["adaptive_max_pool2d", "local_response_norm", "instance_norm", "mish", "max_pool1d",
         "reflect_pad", "pdist"])
def test_new_functions_batch_under_vmap_as_a_loop(fn, rng):
    from graphc.func import vmap
    x = rng.normal(size=(3, 2, 3, 4, 5))
    batched = vmap(fn)(f64(x))
    assert_close(batched, np.stack([fn(f64(x[i])).numpy() for i in range(3)]))


def test_functional_activations_accept_pytorchs_inplace_flag(rng):
    x = rng.uniform(-3, 8, size=(2, 5))
    for name, expected in [("relu6", np.clip(x, 0, 6)),
                           ("elu", np.where(x > 0, x, np.expm1(x))),
                           ("leaky_relu", np.where(x > 0, x, 0.01 * x)),
                           ("hardtanh", np.clip(x, -1, 1))]:
        fn = getattr(F, name)
        assert_close(fn(f64(x), inplace=False), expected)
        t = f64(x)
        assert fn(t, inplace=True) is t
        assert_close(t, expected)


def test_lazy_linear_reads_in_features_from_its_first_input_and_becomes_linear(rng):
    graphc.manual_seed(0)
    layer = nn.LazyLinear(64)
    assert layer.weight.shape == (0,)
    x = f32(rng.normal(size=(2, 100)))
    out = layer(x)
    assert type(layer) is nn.Linear and layer.in_features == 100
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [("weight", (64, 100)),
                                                                   ("bias", (64,))]
    w = layer.weight.numpy()
    assert np.abs(w).max() <= 0.1 + 1e-7  # U(-1/sqrt(in), 1/sqrt(in)), Linear's init
    assert w.std() == pytest.approx(0.1 / math.sqrt(3), rel=0.05)
    assert_close(out, x.numpy().astype(np.float64) @ w.T.astype(np.float64)
                 + layer.bias.numpy())
    compiled_equals_eager(layer, x)
    with pytest.raises(graphc.errors.TraceError, match="eagerly"):
        graphc.compile(nn.LazyLinear(3))(x)


def test_compiling_a_forward_that_names_a_module_class_works(rng):
    linear_class = nn.Linear  # a class (unbound named_parameters) the forward reads

    class Checked(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = linear_class(3, 2)

        def forward(self, x):
            return linear_class.forward(self.inner, x)

    model, x = Checked(), f32(rng.normal(size=(4, 3)))
    compiled_equals_eager(model, x)


def test_functional_relu_stays_the_function_transformer_checkpoints_name(tmp_path):
    from graphc.serialization import safe_globals
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0)
    graphc.save(layer, tmp_path / "layer.pt")
    allowed = [type(m) for m in layer.modules()] + [F.relu,
                                                    nn.modules.linear.NonDynamicallyQuantizableLinear]
    with safe_globals(allowed):  # what word_language_model allows: torch.nn.functional.relu
        loaded = graphc.load(tmp_path / "layer.pt")
    assert loaded.activation is F.relu


def test_lazy_linear_loads_a_checkpoint_before_its_first_call_as_pytorch():
    layer = nn.LazyLinear(2)
    result = layer.load_state_dict({"weight": graphc.ones(2, 3), "bias": graphc.zeros(2)})
    assert not result.missing_keys and type(layer) is nn.Linear and layer.in_features == 3
    assert layer(graphc.ones(1, 3)).tolist() == [[3.0, 3.0]]
    nested = nn.Sequential(nn.LazyLinear(4))
    nested.load_state_dict({"0.weight": graphc.ones(4, 5), "0.bias": graphc.ones(4)})
    assert nested[0].weight.shape == (4, 5)
