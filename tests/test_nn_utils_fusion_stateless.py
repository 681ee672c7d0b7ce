"""nn.utils.fusion (batch norm folded into conv / linear), stateless.functional_call,
clip_grads_with_norm_ and the memory-format no-ops, as torch.nn.utils's. Fused layers are
compared in float64 against the two layers run one after the other (rtol=1e-12); the fusion
formula against a NumPy reference; compiled fused forwards against eager (rtol=1e-12)."""
import warnings

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.nn import utils

RNG = np.random.default_rng(5)


def t(array):
    return graphc.tensor(array, dtype=graphc.float64)


def trained_bn(bn):
    with graphc.no_grad():
        bn.running_mean.copy_(t(RNG.standard_normal(bn.num_features)))
        bn.running_var.copy_(t(RNG.uniform(0.5, 2.0, bn.num_features)))
        if bn.weight is not None:
            bn.weight.copy_(t(RNG.standard_normal(bn.num_features)))
            bn.bias.copy_(t(RNG.standard_normal(bn.num_features)))
    return bn.eval()


@pytest.mark.parametrize("conv, bn, x_shape, transpose", [
    (nn.Conv1d(2, 3, 3), nn.BatchNorm1d(3), (2, 2, 7), False),
    (nn.Conv2d(2, 4, 3, bias=False), nn.BatchNorm2d(4), (1, 2, 6, 6), False),
    (nn.Conv3d(1, 2, 2), nn.BatchNorm3d(2, affine=False), (1, 1, 4, 4, 4), False),
    (nn.ConvTranspose2d(2, 3, 3), nn.BatchNorm2d(3), (1, 2, 4, 4), True),
])
def test_fuse_conv_bn_eval_equals_the_two_layers(conv, bn, x_shape, transpose):
    conv, bn = conv.double().eval(), trained_bn(bn.double())
    fused = utils.fuse_conv_bn_eval(conv, bn, transpose=transpose)
    assert fused is not conv and isinstance(fused.weight, nn.Parameter)
    x = t(RNG.standard_normal(x_shape))
    np.testing.assert_allclose(fused(x).numpy(), bn(conv(x)).numpy(), rtol=1e-12, atol=1e-12)
    compiled = graphc.compile(lambda x: fused(x))
    np.testing.assert_allclose(compiled(x).numpy(), fused(x).numpy(), rtol=1e-12, atol=1e-12)


def test_fuse_conv_bn_weights_formula():
    w, b = RNG.standard_normal((3, 2, 2)), RNG.standard_normal(3)
    rm, rv = RNG.standard_normal(3), RNG.uniform(0.5, 2, 3)
    g, beta = RNG.standard_normal(3), RNG.standard_normal(3)
    fw, fb = utils.fuse_conv_bn_weights(t(w), t(b), t(rm), t(rv), 1e-3, t(g), t(beta))
    scale = g / np.sqrt(rv + 1e-3)
    np.testing.assert_allclose(fw.numpy(), w * scale[:, None, None], rtol=1e-14)
    np.testing.assert_allclose(fb.numpy(), (b - rm) * scale + beta, rtol=1e-14)
    fw, fb = utils.fuse_conv_bn_weights(nn.Parameter(t(w)), None, t(rm), t(rv), 1e-3, None,
                                        None)
    np.testing.assert_allclose(fb.numpy(), -rm / np.sqrt(rv + 1e-3), rtol=1e-14)
    assert fw.requires_grad and not fb.requires_grad  # as PyTorch: the zeros bias does not


def test_fuse_linear_bn_eval_and_errors():
    linear, bn = nn.Linear(4, 3).double().eval(), trained_bn(nn.BatchNorm1d(3).double())
    x = t(RNG.standard_normal((5, 4)))
    fused = utils.fuse_linear_bn_eval(linear, bn)
    np.testing.assert_allclose(fused(x).numpy(), bn(linear(x)).numpy(), rtol=1e-12)
    with pytest.raises(AssertionError, match="Fusion only for eval!"):
        utils.fuse_linear_bn_eval(linear.train(), bn)
    with pytest.raises(AssertionError, match="linear.out_features == bn.num_features"):
        utils.fuse_linear_bn_eval(linear.eval(), nn.BatchNorm1d(2).eval())
    with pytest.raises(AssertionError, match="Fusion only for eval!"):
        utils.fuse_conv_bn_eval(nn.Conv2d(1, 1, 1), nn.BatchNorm2d(1).eval())


def test_stateless_functional_call_warns_and_calls_func_functional_call():
    layer = nn.Linear(2, 1).double()
    weight, bias = t([[1.0, 2.0]]), t([0.5])
    with pytest.warns(FutureWarning, match="stateless.functional_call` is deprecated"):
        out = utils.stateless.functional_call(layer, {"weight": weight, "bias": bias},
                                              (t([[3.0, 4.0]]),))
    assert out.tolist() == [[11.5]]
    assert layer.weight is not weight  # restored


def test_clip_grads_with_norm_uses_the_given_norm():
    a, b = nn.Parameter(t([3.0, 0.0])), nn.Parameter(t([4.0]))
    a.grad, b.grad = t([3.0, 0.0]), t([4.0])
    total = utils.get_total_norm([a.grad, b.grad])
    assert total.item() == 5.0
    utils.clip_grads_with_norm_([a, b], max_norm=1.0, total_norm=total)
    np.testing.assert_allclose(a.grad.numpy(), [3 / (5 + 1e-6), 0], rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), [4 / (5 + 1e-6)], rtol=1e-12)
    utils.clip_grads_with_norm_(a, max_norm=10.0, total_norm=t(1.0))  # never scales up
    np.testing.assert_allclose(a.grad.numpy(), [3 / (5 + 1e-6), 0], rtol=1e-12)
    with pytest.warns(FutureWarning, match="clip_grad_norm` is now deprecated"):
        utils.clip_grad_norm([a, b], 100.0)


def test_memory_format_conversions_are_no_ops():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv3d(2, 2, 1))
    before = [p.numpy().copy() for p in model.parameters()]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert utils.convert_conv2d_weight_memory_format(model, "channels_last") is model
        assert utils.convert_conv3d_weight_memory_format(model, "channels_last_3d") is model
    for p, old in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), old)
