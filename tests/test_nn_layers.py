"""Layers of ``graphc.nn``: values against NumPy float64 oracles written here (explicit loops),
gradients against central finite differences, and compiled code against eager code.

Gradient checks run in float64 (``module.double()``); every oracle is independent of graphc.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
import ir
from conftest import assert_close, check_grad, numeric_gradient
from graphc import nn
from graphc.dispatch import apply
from graphc.nn import init


# -- helpers --------------------------------------------------------------------------------------
def t64(a, requires_grad=False):
    return graphc.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def check_module_grad(module, *inputs, rtol=1e-5, atol=1e-7):
    """d(sum(module(x) * w))/d(input and every parameter) equals central differences (float64).

    Perturbs parameters through the public API (``copy_`` under ``no_grad``).
    """
    module.double()
    arrays = [np.asarray(a, dtype=np.float64) if np.asarray(a).dtype.kind == "f" else np.asarray(a)
              for a in inputs]
    xs = [graphc.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = module(*xs)
    w = np.random.default_rng(99).uniform(0.5, 1.5, size=out.shape)
    module.zero_grad()
    (out * graphc.tensor(w)).sum().backward()

    def value(arrs):
        with graphc.no_grad():
            return float((module(*[graphc.tensor(a) for a in arrs]) * graphc.tensor(w)).sum())

    for i, (a, x) in enumerate(zip(arrays, xs)):
        if a.dtype.kind == "f":
            np.testing.assert_allclose(x.grad.numpy(), numeric_gradient(value, arrays, i),
                                       rtol=rtol, atol=atol, err_msg=f"input {i}")
    for name, p in module.named_parameters():
        original = p.numpy().copy()

        def with_param(arrs, p=p):
            with graphc.no_grad():
                p.copy_(graphc.tensor(arrs[0]))
            return value(arrays)

        expected = numeric_gradient(with_param, [original.copy()], 0)
        with graphc.no_grad():
            p.copy_(graphc.tensor(original))
        assert p.grad is not None, f"parameter {name} got no gradient"
        np.testing.assert_allclose(p.grad.numpy(), expected, rtol=rtol, atol=atol,
                                   err_msg=f"parameter {name}")


def loop_conv2d(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """Direct definition of PyTorch's conv2d (cross-correlation), one output at a time."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, ho, wo))
    per_group = o // groups
    for bi, oc, i, j in np.ndindex(n, o, ho, wo):
        total = 0.0 if b is None else b[oc]
        for ic, a, e in np.ndindex(cg, kh, kw):
            r = i * stride[0] - padding[0] + a * dilation[0]
            q = j * stride[1] - padding[1] + e * dilation[1]
            if 0 <= r < h and 0 <= q < wd:
                total += w[oc, ic, a, e] * x[bi, (oc // per_group) * cg + ic, r, q]
        out[bi, oc, i, j] = total
    return out


def pool_out(size, k, s, p, d=1, ceil_mode=False):
    room = size + 2 * p - d * (k - 1) - 1
    out = (-(-room // s) if ceil_mode else room // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def loop_max_pool2d(x, k, s, p=(0, 0), d=(1, 1), ceil_mode=False):
    n, c, h, w = x.shape
    ho, wo = pool_out(h, k[0], s[0], p[0], d[0], ceil_mode), pool_out(w, k[1], s[1], p[1], d[1],
                                                                      ceil_mode)
    out, idx = np.full((n, c, ho, wo), -np.inf), np.zeros((n, c, ho, wo), dtype=np.int64)
    for b, ch, i, j in np.ndindex(n, c, ho, wo):
        for a, e in np.ndindex(*k):
            r, q = i * s[0] - p[0] + a * d[0], j * s[1] - p[1] + e * d[1]
            if 0 <= r < h and 0 <= q < w and x[b, ch, r, q] > out[b, ch, i, j]:
                out[b, ch, i, j], idx[b, ch, i, j] = x[b, ch, r, q], r * w + q
    return out, idx


def loop_avg_pool2d(x, k, s, p=(0, 0), ceil_mode=False, count_include_pad=True):
    n, c, h, w = x.shape
    ho, wo = pool_out(h, k[0], s[0], p[0], 1, ceil_mode), pool_out(w, k[1], s[1], p[1], 1,
                                                                   ceil_mode)
    out = np.zeros((n, c, ho, wo))
    for b, ch, i, j in np.ndindex(n, c, ho, wo):
        r0, q0 = i * s[0] - p[0], j * s[1] - p[1]
        r1, q1 = min(r0 + k[0], h + p[0]), min(q0 + k[1], w + p[1])
        count = (r1 - r0) * (q1 - q0)
        total, real = 0.0, 0
        for r in range(max(r0, 0), min(r1, h)):
            for q in range(max(q0, 0), min(q1, w)):
                total += x[b, ch, r, q]
                real += 1
        out[b, ch, i, j] = total / (count if count_include_pad else real)
    return out


# -- Linear, Identity, Flatten --------------------------------------------------------------------
def test_linear_shapes_init_and_forward(rng):
    graphc.manual_seed(0)
    layer = nn.Linear(20, 7)
    assert layer.weight.shape == (7, 20) and layer.bias.shape == (7,)
    bound = 1 / math.sqrt(20)
    assert np.abs(layer.weight.numpy()).max() <= bound
    assert np.abs(layer.bias.numpy()).max() <= bound
    assert np.abs(layer.weight.numpy()).max() > 0.8 * bound  # really spread over the range
    x = rng.normal(size=(4, 20)).astype(np.float32)
    expected = x.astype(np.float64) @ layer.weight.numpy().T.astype(np.float64) + layer.bias.numpy()
    assert_close(layer(graphc.tensor(x)), expected, dtype="f32", rtol=1e-5, atol=1e-5)
    assert repr(layer) == "Linear(in_features=20, out_features=7, bias=True)"
    assert nn.Linear(3, 2, bias=False).bias is None
    assert nn.Linear(3, 2, dtype=graphc.float64).weight.dtype == graphc.float64


def test_linear_accepts_extra_leading_dims_and_vectors(rng):
    layer = nn.Linear(3, 2).double()
    x = rng.normal(size=(2, 5, 3))
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert_close(layer(t64(x)), x @ w.T + b)
    assert_close(layer(t64(x[0, 0])), x[0, 0] @ w.T + b)


def test_linear_gradients(rng):
    check_module_grad(nn.Linear(4, 3), rng.normal(size=(2, 4)))
    check_module_grad(nn.Linear(4, 3, bias=False), rng.normal(size=(3, 4)))


def test_identity_and_flatten(rng):
    x = graphc.tensor(rng.normal(size=(2, 3, 4, 5)))
    assert nn.Identity(54, unused="ok")(x) is x
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert nn.Unflatten(1, (6, 10))(nn.Flatten()(x)).shape == (2, 6, 10)


# -- convolution ----------------------------------------------------------------------------------
CONV_CONFIGS = [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=(2, 1), padding=(0, 2), dilation=(2, 1)),
    dict(groups=2, padding=1),
]


@pytest.mark.parametrize("config", CONV_CONFIGS, ids=["plain", "stride-pad", "mixed", "groups"])
def test_conv2d_forward_matches_loops(config, rng):
    graphc.manual_seed(1)
    conv = nn.Conv2d(4, 6, 3, **config).double()
    x = rng.normal(size=(2, 4, 7, 6))
    expected = loop_conv2d(x, conv.weight.numpy(), conv.bias.numpy(),
                           stride=conv.stride, padding=conv.padding, dilation=conv.dilation,
                           groups=conv.groups)
    assert_close(conv(t64(x)), expected)


def test_conv2d_parameters_follow_pytorch():
    graphc.manual_seed(0)
    conv = nn.Conv2d(6, 8, (3, 2), groups=2)
    assert conv.weight.shape == (8, 3, 3, 2) and conv.bias.shape == (8,)
    bound = 1 / math.sqrt(3 * 3 * 2)  # fan_in = in/groups * kh * kw
    assert np.abs(conv.weight.numpy()).max() <= bound
    assert np.abs(conv.bias.numpy()).max() <= bound
    assert repr(conv) == "Conv2d(6, 8, kernel_size=(3, 2), stride=(1, 1), groups=2)"
    assert repr(nn.Conv2d(1, 2, 3, stride=2, padding=1, bias=False)) == (
        "Conv2d(1, 2, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)")
    assert repr(nn.Conv2d(1, 2, 3, padding="same")) == (
        "Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1), padding=same)")


def test_conv2d_same_valid_unbatched_and_padding_modes(rng):
    x = rng.normal(size=(1, 2, 5, 6))
    conv = nn.Conv2d(2, 3, (2, 4), padding="same").double()
    out = conv(t64(x))
    assert out.shape == (1, 3, 5, 6)
    # PyTorch puts the odd extra padding at the end: (0, 1) rows, (1, 2) columns
    padded = np.pad(x, ((0, 0), (0, 0), (0, 1), (1, 2)))
    assert_close(out, loop_conv2d(padded, conv.weight.numpy(), conv.bias.numpy()))
    valid = nn.Conv2d(2, 3, 3, padding="valid").double()
    assert valid(t64(x)).shape == (1, 3, 3, 4)
    assert_close(valid(t64(x[0])), valid(t64(x)).numpy()[0])  # unbatched (C, H, W)
    reflect = nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect").double()
    expected = loop_conv2d(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect"),
                           reflect.weight.numpy(), reflect.bias.numpy())
    assert_close(reflect(t64(x)), expected)


@pytest.mark.parametrize("config", CONV_CONFIGS, ids=["plain", "stride-pad", "mixed", "groups"])
def test_conv2d_gradients(config, rng):
    graphc.manual_seed(2)
    check_module_grad(nn.Conv2d(2, 4, 2, **config), rng.normal(size=(1, 2, 5, 4)))


def test_conv2d_double_backward(rng):
    """The conv ops differentiate into each other: grad of (dL/dx . v) w.r.t. w matches FD."""
    x, v = rng.normal(size=(1, 2, 4, 4)), rng.normal(size=(1, 2, 4, 4))
    w = rng.normal(size=(3, 2, 2, 2))

    def first_grad_dot_v(x_arr, w_t):
        with graphc.enable_grad():  # also while check_grad evaluates under no_grad
            xt = t64(x_arr, requires_grad=True)
            out = F.conv2d(xt, w_t, stride=1, padding=1)
            (gx,) = graphc.autograd.grad((out * out).sum(), [xt], create_graph=True)
            return (gx * t64(v)).sum()

    check_grad(lambda wt: first_grad_dot_v(x, wt), [w])


def loop_conv1d(x, w, b, stride=1, padding=0, dilation=1):
    n, c, length = x.shape
    o, _, k = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    lo = (length + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    out = np.zeros((n, o, lo))
    for bi, oc, i in np.ndindex(n, o, lo):
        out[bi, oc, i] = b[oc] + sum(w[oc, ic, a] * xp[bi, ic, i * stride + a * dilation]
                                     for ic in range(c) for a in range(k))
    return out


def test_conv1d_forward_and_gradients(rng):
    graphc.manual_seed(3)
    conv = nn.Conv1d(3, 4, 3, stride=2, padding=2, dilation=2).double()
    assert conv.weight.shape == (4, 3, 3)
    assert repr(conv) == "Conv1d(3, 4, kernel_size=(3,), stride=(2,), padding=(2,), dilation=(2,))"
    x = rng.normal(size=(2, 3, 9))
    assert_close(conv(t64(x)), loop_conv1d(x, conv.weight.numpy(), conv.bias.numpy(), 2, 2, 2))
    assert conv(t64(x[0])).shape == (4, 5)
    check_module_grad(nn.Conv1d(2, 3, 2, padding=1), rng.normal(size=(2, 2, 5)))


def test_conv_shape_errors_name_the_argument():
    with pytest.raises(ir.ShapeError, match=r"weight w .* expects 4 input channels.*has 3"):
        F.conv2d(graphc.zeros(1, 3, 5, 5), graphc.zeros(2, 4, 3, 3))
    with pytest.raises(ir.ShapeError, match=r"input x must be 4-D"):
        apply("conv2d", [graphc.zeros(3, 5, 5), graphc.zeros(2, 3, 3, 3)])
    with pytest.raises(ir.ShapeError, match=r"larger than the padded input"):
        F.conv2d(graphc.zeros(1, 1, 2, 2), graphc.zeros(1, 1, 3, 3))
    with pytest.raises(ir.ShapeError, match=r"gradient g must have the convolution's output shape"):
        apply("conv2d_input_grad", [graphc.zeros(1, 1, 2, 2), graphc.zeros(1, 1, 3, 3)],
              input_shape=[1, 1, 5, 5])
    with pytest.raises(ir.ShapeError, match=r"padding \[2, 2\] must be at most half"):
        F.max_pool2d(graphc.zeros(1, 1, 6, 6), 3, padding=2)


# -- pooling --------------------------------------------------------------------------------------
@pytest.mark.parametrize("k,s,p,d,ceil", [((2, 2), (2, 2), (0, 0), (1, 1), False),
                                          ((3, 3), (2, 2), (1, 1), (1, 1), False),
                                          ((3, 2), (2, 1), (1, 0), (1, 2), True),
                                          ((2, 2), (2, 2), (1, 1), (1, 1), True)])
def test_max_pool2d_matches_loops(k, s, p, d, ceil, rng):
    x = rng.normal(size=(2, 3, 7, 6))
    out, idx = F.max_pool2d(t64(x), k, s, p, d, ceil_mode=ceil, return_indices=True)
    expected, expected_idx = loop_max_pool2d(x, k, s, p, d, ceil)
    assert_close(out, expected)
    np.testing.assert_array_equal(idx.numpy(), expected_idx)


def test_max_pool2d_module_repr_unbatched_and_gradients(rng):
    pool = nn.MaxPool2d(2)
    assert repr(pool) == ("MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, "
                          "ceil_mode=False)")
    x = rng.permutation(36).reshape(1, 1, 6, 6).astype(np.float64)  # distinct values: no ties
    assert_close(pool(t64(x[0])), loop_max_pool2d(x, (2, 2), (2, 2))[0][0])
    check_module_grad(nn.MaxPool2d(3, stride=2, padding=1), x / 7.0)


def test_max_pool2d_gradient_goes_to_the_first_maximum_and_double_backward_works():
    x = t64([[[[1.0, 1.0], [0.0, 1.0]]]], requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[[[1.0, 0.0], [0.0, 0.0]]]])
    # second order: d/dx of (grad . x) is the (constant) scatter of ones
    x = t64(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
    (g,) = graphc.autograd.grad((F.max_pool2d(x, 2) ** 2).sum(), [x], create_graph=True)
    (gg,) = graphc.autograd.grad(g.sum(), [x])
    expected = np.zeros((4, 4))
    expected[1::2, 1::2] = 2.0  # d/dx (2 * max) at the chosen elements
    assert_close(gg.numpy()[0, 0], expected)


@pytest.mark.parametrize("k,s,p,ceil,include", [((2, 2), (2, 2), (0, 0), False, True),
                                                ((3, 3), (2, 2), (1, 1), False, True),
                                                ((3, 3), (2, 2), (1, 1), False, False),
                                                ((3, 2), (2, 2), (1, 1), True, True),
                                                ((3, 2), (2, 2), (1, 1), True, False)])
def test_avg_pool2d_matches_loops(k, s, p, ceil, include, rng):
    x = rng.normal(size=(2, 2, 7, 6))
    out = F.avg_pool2d(t64(x), k, s, p, ceil_mode=ceil, count_include_pad=include)
    assert_close(out, loop_avg_pool2d(x, k, s, p, ceil, include))


def test_avg_pool2d_module_divisor_override_and_gradients(rng):
    pool = nn.AvgPool2d(2)
    assert repr(pool) == "AvgPool2d(kernel_size=2, stride=2, padding=0)"
    x = rng.normal(size=(1, 2, 4, 4))
    assert_close(F.avg_pool2d(t64(x), 2, divisor_override=3),
                 loop_avg_pool2d(x, (2, 2), (2, 2)) * 4 / 3)
    check_module_grad(nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
                      rng.normal(size=(1, 2, 5, 5)))


def loop_adaptive_avg_pool2d(x, out_h, out_w):
    n, c, h, w = x.shape
    out = np.zeros((n, c, out_h, out_w))
    for i, j in np.ndindex(out_h, out_w):
        r0, r1 = (i * h) // out_h, -(-((i + 1) * h) // out_h)
        q0, q1 = (j * w) // out_w, -(-((j + 1) * w) // out_w)
        out[:, :, i, j] = x[:, :, r0:r1, q0:q1].mean(axis=(2, 3))
    return out


@pytest.mark.parametrize("size", [1, (2, 3), (3, 2), (5, None)])
def test_adaptive_avg_pool2d_matches_loops(size, rng):
    x = rng.normal(size=(2, 3, 5, 6))
    pool = nn.AdaptiveAvgPool2d(size)
    out_h, out_w = (size, size) if isinstance(size, int) else size
    out_w = 6 if out_w is None else out_w
    assert_close(pool(t64(x)), loop_adaptive_avg_pool2d(x, out_h, out_w))


def test_adaptive_avg_pool2d_gradients_and_repr(rng):
    assert repr(nn.AdaptiveAvgPool2d((1, 1))) == "AdaptiveAvgPool2d(output_size=(1, 1))"
    check_module_grad(nn.AdaptiveAvgPool2d((2, 3)), rng.normal(size=(1, 2, 5, 4)))


# -- normalization --------------------------------------------------------------------------------
def bn_oracle(x, mean_axes, weight, bias, eps=1e-5):
    mean = x.mean(axis=mean_axes, keepdims=True)
    var = x.var(axis=mean_axes, keepdims=True)
    shape = [1, -1] + [1] * (x.ndim - 2)
    return (x - mean) / np.sqrt(var + eps) * weight.reshape(shape) + bias.reshape(shape)


@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (6, 3)), (nn.BatchNorm1d, (4, 3, 5)),
                                       (nn.BatchNorm2d, (4, 3, 2, 5))])
def test_batchnorm_train_and_eval_match_numpy(cls, shape, rng):
    bn = cls(3).double()
    with graphc.no_grad():
        bn.weight.copy_(t64([0.5, 1.0, 2.0]))
        bn.bias.copy_(t64([0.1, -0.2, 0.3]))
    axes = tuple(i for i in range(len(shape)) if i != 1)
    running_mean, running_var = np.zeros(3), np.ones(3)
    for step in range(3):
        x = rng.normal(loc=step, scale=2.0, size=shape)
        out = bn(t64(x))
        assert_close(out, bn_oracle(x, axes, bn.weight.numpy(), bn.bias.numpy()))
        n = x.size // 3
        running_mean = 0.9 * running_mean + 0.1 * x.mean(axis=axes)
        running_var = 0.9 * running_var + 0.1 * x.var(axis=axes) * n / (n - 1)  # unbiased
        assert_close(bn.running_mean, running_mean)
        assert_close(bn.running_var, running_var)
        assert bn.num_batches_tracked.item() == step + 1
        assert bn.num_batches_tracked.dtype == graphc.int64
    bn.eval()
    x = rng.normal(size=shape)
    view = [1, 3] + [1] * (len(shape) - 2)
    expected = ((x - running_mean.reshape(view)) / np.sqrt(running_var.reshape(view) + 1e-5)
                * bn.weight.numpy().reshape(view) + bn.bias.numpy().reshape(view))
    assert_close(bn(t64(x)), expected)
    assert bn.num_batches_tracked.item() == 3  # eval mode leaves the statistics alone


def test_batchnorm_defaults_repr_and_state():
    bn = nn.BatchNorm2d(4)
    assert repr(bn) == ("BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, "
                        "track_running_stats=True)")
    np.testing.assert_array_equal(bn.weight.numpy(), np.ones(4))
    np.testing.assert_array_equal(bn.bias.numpy(), np.zeros(4))
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    assert bn.num_batches_tracked.shape == ()
    plain = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(plain.state_dict()) == [] and plain.weight is None
    with pytest.raises(ValueError, match="expected 4D input"):
        bn(graphc.zeros(2, 4))


def test_batchnorm_cumulative_average_and_no_tracking(rng):
    bn = nn.BatchNorm1d(2, momentum=None).double()
    xs = [rng.normal(size=(5, 2)) for _ in range(3)]
    for x in xs:
        bn(t64(x))
    assert_close(bn.running_mean, np.mean([x.mean(0) for x in xs], axis=0))
    untracked = nn.BatchNorm1d(2, track_running_stats=False).double().eval()
    x = rng.normal(size=(5, 2))
    assert_close(untracked(t64(x)), bn_oracle(x, (0,), np.ones(2), np.zeros(2)))  # batch stats


def test_batchnorm_gradients_train_and_eval(rng):
    bn = nn.BatchNorm2d(2)
    with graphc.no_grad():
        bn.weight.copy_(graphc.tensor([0.7, 1.3]))
        bn.bias.copy_(graphc.tensor([0.2, -0.1]))
    check_module_grad(bn, rng.normal(size=(3, 2, 2, 2)))
    bn.eval()
    check_module_grad(bn, rng.normal(size=(3, 2, 2, 2)))
    check_module_grad(nn.BatchNorm1d(3), rng.normal(size=(4, 3)))


def test_layer_norm_matches_numpy_and_gradients(rng):
    ln = nn.LayerNorm((3, 4)).double()
    assert repr(ln) == "LayerNorm((3, 4), eps=1e-05, elementwise_affine=True)"
    assert ln.weight.shape == (3, 4) and np.all(ln.weight.numpy() == 1)
    with graphc.no_grad():
        ln.weight.copy_(t64(rng.normal(size=(3, 4))))
        ln.bias.copy_(t64(rng.normal(size=(3, 4))))
    x = rng.normal(size=(2, 3, 4))
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5) * ln.weight.numpy() + ln.bias.numpy()
    assert_close(ln(t64(x)), expected)
    check_module_grad(ln, x)
    check_module_grad(nn.LayerNorm(5, elementwise_affine=False), rng.normal(size=(2, 5)))


def test_group_norm_matches_numpy(rng):
    gn = nn.GroupNorm(2, 4).double()
    x = rng.normal(size=(2, 4, 3))
    grouped = x.reshape(2, 2, 6)
    expected = ((grouped - grouped.mean(-1, keepdims=True))
                / np.sqrt(grouped.var(-1, keepdims=True) + 1e-5)).reshape(x.shape)
    assert_close(gn(t64(x)), expected)
    check_module_grad(gn, x)


# -- embedding ------------------------------------------------------------------------------------
def test_embedding_lookup_init_and_padding_idx(rng):
    graphc.manual_seed(0)
    emb = nn.Embedding(50, 40, padding_idx=3)
    w = emb.weight.numpy()
    assert w.shape == (50, 40)
    np.testing.assert_array_equal(w[3], np.zeros(40))
    others = np.delete(w, 3, axis=0)
    assert abs(others.mean()) < 0.05 and abs(others.std() - 1) < 0.05  # N(0, 1)
    idx = np.array([[1, 3], [7, 1]])
    assert_close(emb(graphc.tensor(idx)), w[idx])
    assert repr(emb) == "Embedding(50, 40, padding_idx=3)"
    assert nn.Embedding(5, 2, padding_idx=-1).padding_idx == 4


def test_embedding_gradients_skip_the_padding_row(rng):
    weight = rng.normal(size=(6, 3))
    idx = np.array([[0, 2, 2], [5, 0, 1]])
    (full,) = check_grad(lambda w: F.embedding(graphc.tensor(idx), w), [weight])
    w = t64(weight, requires_grad=True)
    proj = t64(np.random.default_rng(1).uniform(0.5, 1.5, size=(2, 3, 3)))
    (F.embedding(graphc.tensor(idx), w, padding_idx=2) * proj).sum().backward()
    # the padding row read by the forward pass gets no gradient; the other rows are exact
    np.testing.assert_array_equal(w.grad.numpy()[2], np.zeros(3))
    assert np.all(full[2] != 0)
    expected = np.zeros((6, 3))
    for position, row in np.ndenumerate(idx):
        if row != 2:
            expected[row] += proj.numpy()[position]
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-12)
    emb = nn.Embedding(6, 3, padding_idx=0).double()
    emb(graphc.tensor(idx)).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[0], np.zeros(3))
    np.testing.assert_array_equal(emb.weight.grad.numpy()[2], np.full(3, 2.0))


def test_embedding_from_pretrained_is_frozen():
    emb = nn.Embedding.from_pretrained(graphc.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert not emb.weight.requires_grad
    assert emb(graphc.tensor([1])).tolist() == [[3.0, 4.0]]


# -- dropout --------------------------------------------------------------------------------------
def test_dropout_train_scales_survivors_and_eval_is_identity():
    drop = nn.Dropout(0.25)
    assert repr(drop) == "Dropout(p=0.25, inplace=False)"
    x = graphc.ones(200, 100)
    out = drop(x).numpy()
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)
    drop.eval()
    assert drop(x) is x
    assert np.all(F.dropout(x, 1.0).numpy() == 0) and F.dropout(x, 0.0) is x
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


def test_dropout_gradient_is_the_scaled_mask():
    x = graphc.ones(50, requires_grad=True)
    out = F.dropout(x, 0.5)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), out.detach().numpy())


def test_dropout_is_reproducible_under_manual_seed():
    graphc.manual_seed(7)
    a = F.dropout(graphc.ones(64), 0.5).numpy()
    graphc.manual_seed(7)
    b = F.dropout(graphc.ones(64), 0.5).numpy()
    np.testing.assert_array_equal(a, b)


def test_compiled_dropout_draws_a_fresh_mask_each_call_and_replays_after_seed():
    drop = nn.Dropout(0.5)
    f = graphc.compile(lambda x: drop(x))
    x = graphc.ones(64)
    graphc.manual_seed(11)
    first = [f(x).numpy() for _ in range(3)]
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first[1], first[2])
    graphc.manual_seed(11)
    again = [f(x).numpy() for _ in range(3)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert set(np.unique(first[0])) <= {0.0, 2.0}
    drop.eval()  # the training guard fails: retrace into the identity
    np.testing.assert_array_equal(f(x).numpy(), np.ones(64))
    assert len(f.entries) == 2


# -- activations ----------------------------------------------------------------------------------
_x = np.array([-3.0, -1.2, -0.3, 0.4, 1.1, 2.5])
_erf = np.vectorize(math.erf)
ACTIVATIONS = [
    (nn.ReLU(), np.maximum(_x, 0), "ReLU()"),
    (nn.GELU(), 0.5 * _x * (1 + _erf(_x / math.sqrt(2))), "GELU(approximate='none')"),
    (nn.GELU("tanh"), 0.5 * _x * (1 + np.tanh(math.sqrt(2 / math.pi) * (_x + 0.044715 * _x ** 3))),
     "GELU(approximate='tanh')"),
    (nn.SiLU(), _x / (1 + np.exp(-_x)), "SiLU()"),
    (nn.Tanh(), np.tanh(_x), "Tanh()"),
    (nn.Sigmoid(), 1 / (1 + np.exp(-_x)), "Sigmoid()"),
    (nn.LeakyReLU(), np.where(_x > 0, _x, 0.01 * _x), "LeakyReLU(negative_slope=0.01)"),
    (nn.LeakyReLU(0.2), np.where(_x > 0, _x, 0.2 * _x), "LeakyReLU(negative_slope=0.2)"),
    (nn.ELU(), np.where(_x > 0, _x, np.expm1(_x)), "ELU(alpha=1.0)"),
    (nn.Softplus(), np.log1p(np.exp(_x)), "Softplus(beta=1.0, threshold=20.0)"),
    (nn.LogSigmoid(), -np.log1p(np.exp(-_x)), "LogSigmoid()"),
    (nn.Hardtanh(), np.clip(_x, -1, 1), "Hardtanh(min_val=-1.0, max_val=1.0)"),
    (nn.ReLU6(), np.clip(_x, 0, 6), "ReLU6()"),
    (nn.Softmax(dim=0), np.exp(_x) / np.exp(_x).sum(), "Softmax(dim=0)"),
    (nn.LogSoftmax(dim=0), _x - np.log(np.exp(_x).sum()), "LogSoftmax(dim=0)"),
]


@pytest.mark.parametrize("module,expected,text", ACTIVATIONS, ids=[a[2] for a in ACTIVATIONS])
def test_activation_values_gradients_and_repr(module, expected, text):
    assert repr(module) == text
    assert_close(module(t64(_x)), expected)
    check_grad(module, [_x])  # _x avoids the kinks at 0, +-1


def test_softmax_default_dim_follows_pytorch_legacy_rule(rng):
    x = rng.normal(size=(2, 3, 4))
    assert_close(nn.Softmax()(t64(x)).sum(dim=0), np.ones((3, 4)))       # 3-D: dim 0
    assert_close(nn.Softmax()(t64(x[0])).sum(dim=1), np.ones(3))         # 2-D: dim 1


def test_inplace_relu_rebinds_its_input():
    x = graphc.tensor([-1.0, 2.0])
    y = nn.ReLU(inplace=True)(x)
    assert y is x and x.tolist() == [0.0, 2.0]
    assert repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"


# -- functional extras ----------------------------------------------------------------------------
@pytest.mark.parametrize("mode,np_mode", [("reflect", "reflect"), ("replicate", "edge"),
                                          ("circular", "wrap"), ("constant", "constant")])
def test_pad_modes_match_numpy(mode, np_mode, rng):
    x = rng.normal(size=(1, 2, 4, 5))
    out = F.pad(t64(x), (2, 1, 0, 3), mode=mode)
    assert_close(out, np.pad(x, ((0, 0), (0, 0), (0, 3), (2, 1)), mode=np_mode))
    check_grad(lambda t: F.pad(t, (1, 2), mode=mode), [x[0, 0]])


def test_one_hot():
    out = F.one_hot(graphc.tensor([[0, 2], [1, 2]]))
    assert out.dtype == graphc.int64 and out.shape == (2, 2, 3)
    assert out.tolist() == [[[1, 0, 0], [0, 0, 1]], [[0, 1, 0], [0, 0, 1]]]
    assert F.one_hot(graphc.tensor([1]), num_classes=4).tolist() == [[0, 1, 0, 0]]


# -- init -----------------------------------------------------------------------------------------
def test_calculate_gain_and_fans():
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == math.sqrt(2 / 6)
    assert init.calculate_gain("conv2d") == 1 and init.calculate_gain("selu") == 0.75
    assert init._calculate_fan_in_and_fan_out(graphc.empty(8, 3, 5, 2)) == (30, 80)
    with pytest.raises(ValueError):
        init._calculate_fan_in_and_fan_out(graphc.empty(4))


def test_init_functions_fill_in_place_with_the_right_distribution():
    w = graphc.empty(200, 300)
    same = w
    bound = math.sqrt(6 / 500)
    init.xavier_uniform_(w)
    assert w is same and np.abs(w.numpy()).max() <= bound
    assert abs(w.numpy().std() - bound / math.sqrt(3)) < 0.01 * bound
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(w.numpy().std() - math.sqrt(2 / 200)) < 0.02 * math.sqrt(2 / 200)
    init.kaiming_uniform_(w, a=math.sqrt(5))
    assert np.abs(w.numpy()).max() <= 1 / math.sqrt(300)
    init.xavier_normal_(w, gain=2.0)
    assert abs(w.numpy().std() - 2 * math.sqrt(2 / 500)) < 0.02 * 2 * math.sqrt(2 / 500)
    init.normal_(w, 3.0, 0.5)
    assert abs(w.numpy().mean() - 3.0) < 0.01 and abs(w.numpy().std() - 0.5) < 0.01
    init.uniform_(w, -2.0, -1.0)
    assert w.numpy().min() >= -2.0 and w.numpy().max() < -1.0
    init.trunc_normal_(w, std=1.0, a=-0.5, b=0.5)
    assert np.abs(w.numpy()).max() <= 0.5
    init.constant_(w, 0.3)
    assert np.all(w.numpy() == np.float32(0.3))
    init.zeros_(w)
    assert np.all(w.numpy() == 0)
    init.ones_(w)
    assert np.all(w.numpy() == 1) and w.dtype == graphc.float32


def test_init_works_on_parameters_and_is_reproducible_under_manual_seed():
    graphc.manual_seed(5)
    a = nn.Sequential(nn.Linear(3, 4), nn.Conv2d(2, 3, 2)).state_dict()
    graphc.manual_seed(5)
    b = nn.Sequential(nn.Linear(3, 4), nn.Conv2d(2, 3, 2)).state_dict()
    for key in a:
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
    c = nn.Linear(3, 4)  # the generator moved on
    assert not np.array_equal(c.weight.numpy(), a["0.weight"].numpy())
    p = nn.Linear(2, 2).weight
    init.zeros_(p)
    assert p.requires_grad and p.is_leaf and np.all(p.numpy() == 0)


# -- compiled vs eager ----------------------------------------------------------------------------
def _small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, groups=2), nn.GELU(), nn.AvgPool2d(1),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.LayerNorm(6), nn.Linear(6, 3))


def test_compiled_cnn_matches_eager_forward_backward_and_running_stats(rng):
    graphc.manual_seed(0)
    eager, compiled_model = _small_cnn(), _small_cnn()
    compiled_model.load_state_dict(eager.state_dict())

    @graphc.compile
    def step(x, y):
        loss = F.cross_entropy(compiled_model(x), y)
        loss.backward()
        return loss

    for _ in range(3):
        x = graphc.tensor(rng.normal(size=(2, 1, 8, 8)).astype(np.float32))
        y = graphc.tensor(rng.integers(0, 3, size=2))
        eager.zero_grad(), compiled_model.zero_grad()
        expected = F.cross_entropy(eager(x), y)
        expected.backward()
        assert_close(step(x, y), expected.numpy(), dtype="f32", rtol=1e-5, atol=1e-5)
        for (name, p), q in zip(eager.named_parameters(), compiled_model.parameters()):
            assert_close(q.grad, p.grad.numpy(), dtype="f32", rtol=1e-4, atol=1e-5)
    assert len(step.entries) == 1
    for (name, a), b in zip(eager.state_dict().items(), compiled_model.state_dict().values()):
        assert_close(b, a.numpy(), dtype="f32", rtol=1e-5, atol=1e-6)
    assert compiled_model[1].num_batches_tracked.item() == 3
    eager.eval(), compiled_model.eval()
    x = graphc.tensor(rng.normal(size=(2, 1, 8, 8)).astype(np.float32))
    assert_close(graphc.compile(compiled_model)(x), eager(x).numpy(), dtype="f32",
                 rtol=1e-5, atol=1e-5)


def test_compiled_batchnorm_training_writes_running_stats_back_every_call(rng):
    eager, compiled_bn = nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    f = graphc.compile(compiled_bn)
    for step in range(3):
        x = graphc.tensor(rng.normal(loc=step, size=(5, 3)).astype(np.float32))
        assert_close(f(x), eager(x).numpy(), dtype="f32")
        assert_close(compiled_bn.running_mean, eager.running_mean.numpy(), dtype="f32")
        assert_close(compiled_bn.running_var, eager.running_var.numpy(), dtype="f32")
        assert compiled_bn.num_batches_tracked.item() == step + 1
    assert len(f.entries) == 1
    assert "running_mean (data)" in f.explain()


TRACEABLE = {
    "conv1d-same": lambda x: F.conv1d(x[:, :, 0], graphc.ones(3, 2, 4, dtype=x.dtype),
                                      padding="same"),
    "max_pool-ceil": lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True),
    "avg_pool-exclude-pad": lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
    "adaptive": lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
    "pad-reflect": lambda x: F.pad(x, (1, 2, 2, 1), mode="reflect"),
    "layer_norm": lambda x: F.layer_norm(x, x.shape[-2:]),
    "embedding": lambda x: F.embedding(graphc.tensor([[0, 1], [1, 1]]), x[0, 0], padding_idx=1),
    "softplus": lambda x: F.softplus(x * 30),
}


@pytest.mark.parametrize("name", sorted(TRACEABLE))
def test_functional_ops_trace_and_differentiate_like_eager(name, rng):
    fn = TRACEABLE[name]
    x = rng.normal(size=(2, 2, 5, 6))

    @graphc.compile
    def value_and_grad(x):
        out = fn(x)
        (grad,) = graphc.autograd.grad((out * out).sum(), [x])
        return out, grad

    xt = t64(x, requires_grad=True)
    out = fn(xt)
    (grad,) = graphc.autograd.grad((out * out).sum(), [xt])
    got_out, got_grad = value_and_grad(t64(x, requires_grad=True))
    assert_close(got_out, out.detach().numpy())
    assert_close(got_grad, grad.numpy())


def test_inplace_dropout_rebinds_its_input_and_backpropagates():
    x = graphc.ones(40, requires_grad=True)
    h = x * 3.0
    out = nn.Dropout(0.5, inplace=True)(h)
    assert out is h
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), out.detach().numpy())  # 3 * 2 or 0
    assert set(np.unique(out.detach().numpy())) <= {0.0, 6.0}


def test_layers_follow_the_default_dtype_as_pytorchs_do():
    # Linear, Conv, norms, Embedding, Bilinear, PReLU made float32 parameters whatever
    # set_default_dtype said (a float64 model then mixed dtypes silently)
    nn = graphc.nn
    graphc.set_default_dtype(graphc.float64)
    try:
        layers = [nn.Linear(2, 3), nn.Conv2d(1, 2, 3), nn.ConvTranspose1d(1, 2, 3),
                  nn.LayerNorm(3), nn.BatchNorm1d(3), nn.GroupNorm(1, 2), nn.Embedding(3, 2),
                  nn.Bilinear(2, 2, 3), nn.PReLU(), nn.MultiheadAttention(4, 2),
                  nn.EmbeddingBag(3, 2), nn.RMSNorm(3), nn.LSTM(2, 3)]
        for layer in layers:
            kinds = {t.dtype for t in list(layer.parameters()) + list(layer.buffers())
                     if t.dtype.is_float}
            assert kinds == {graphc.float64}, type(layer).__name__
        out = nn.Linear(2, 3)(graphc.ones(4, 2))
        assert out.dtype == graphc.float64
    finally:
        graphc.set_default_dtype(graphc.float32)
    assert nn.Linear(2, 3).weight.dtype == graphc.float32
