"""More activation functions of ``torch.nn.functional`` (re-exported by
:mod:`graphc.nn.functional`): ``selu celu glu hardswish hardsigmoid hardshrink softshrink
tanhshrink softsign mish threshold rrelu prelu softmax2d`` and the in-place forms
(``relu_``, ``elu_``, ...).

Each is a composite of graphc ops (``where``, ``expm1``, ``tanh``...), so it runs eagerly,
differentiates, traces and batches under ``vmap``.

    >>> import graphc
    >>> from graphc.nn.activation_functional import hardshrink, softsign
    >>> hardshrink(graphc.tensor([-1.0, 0.25, 2.0])).tolist()
    [-1.0, 0.0, 2.0]
    >>> softsign(graphc.tensor([1.0, -3.0])).tolist()
    [0.5, -0.75]
"""
from __future__ import annotations

import graphc.functions as G
from graphc import factories
from graphc.amp.autocast_mode import autocast_op
from graphc.tensor import Tensor

# SELU's constants (Klambauer et al. 2017), as PyTorch spells them
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _inplace(input: Tensor, fn, inplace: bool) -> Tensor:
    """``fn(input)``, or ``input`` rebound to it when ``inplace`` (PyTorch's ``inplace=True``)."""
    return input._assign(fn) if inplace else fn(input)


# Composites of several ops round each step to float16/bfloat16 otherwise: 2-9 ulp off
# PyTorch, which computes them in float32 (its "opmath" type)
_in_float32 = G.half_in_float32


def _elu_part(x: Tensor, alpha: float, inv_scale: float) -> Tensor:
    """``x`` for x > 0, else ``alpha * expm1(x * inv_scale)``; expm1 sees only x <= 0, so the
    unused branch never overflows (and its gradient is no NaN)."""
    positive = G.gt(x, 0)
    negative = G.where(positive, G.scalar_like(0.0, x), x)
    return G.where(positive, x, G.mul(G.expm1(G.mul(negative, float(inv_scale))), float(alpha)))


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """``scale * elu(x, alpha)`` with SELU's fixed ``scale`` and ``alpha``."""
    return _inplace(input, _in_float32(lambda x: G.mul(_elu_part(x, SELU_ALPHA, 1.0),
                                                       SELU_SCALE)), inplace)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` for x > 0, else ``alpha * (exp(x / alpha) - 1)``."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (it divides the input)")
    return _inplace(input, lambda x: _elu_part(x, alpha, 1.0 / alpha), inplace)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: the first half of ``dim`` times the sigmoid of the second half."""
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    dim = G.wrap_dim(dim, input.ndim)
    if input.shape[dim] % 2:
        raise RuntimeError(f"glu: Halving dimension must be even, but dimension {dim} is size "
                           f"{input.shape[dim]}")
    first, second = G.chunk(input, 2, dim)
    return G.mul(first, G.sigmoid(second))


def _relu6_of_shifted(x: Tensor) -> Tensor:
    """``min(max(x + 3, 0), 6)`` with hardtanh's gradient (0 at the bounds)."""
    from graphc.nn.functional import hardtanh  # functional re-exports this module
    return hardtanh(G.add(x, 3.0), 0.0, 6.0)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """``relu6(x + 3) / 6``: 0 below -3, 1 above 3, linear between."""
    return _inplace(input, lambda x: G.div(_relu6_of_shifted(x), 6.0), inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * relu6(x + 3) / 6``."""
    return _inplace(input, _in_float32(lambda x: G.mul(x, G.div(_relu6_of_shifted(x), 6.0))),
                    inplace)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x`` where ``|x| > lambd``, else 0."""
    return G.where(G.gt(G.abs(input), float(lambd)), input, G.scalar_like(0.0, input))


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0."""
    if lambd < 0:
        raise RuntimeError(f"softshrink: lambda must be greater or equal to 0, but found to be "
                           f"{lambd}.")
    zero = G.scalar_like(0.0, input)
    return G.where(G.gt(input, float(lambd)), G.sub(input, float(lambd)),
                   G.where(G.lt(input, -float(lambd)), G.add(input, float(lambd)), zero))


def tanhshrink(input: Tensor) -> Tensor:
    """``x - tanh(x)``."""
    return G.sub(input, G.tanh(input))


def softsign(input: Tensor) -> Tensor:
    """``x / (1 + |x|)``."""
    return G.div(input, G.add(G.abs(input), 1.0))


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * tanh(softplus(x))``."""
    from graphc.nn.functional import softplus  # functional re-exports this module
    return _inplace(input, _in_float32(lambda x: G.mul(x, G.tanh(softplus(x)))), inplace)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``x`` where ``x > threshold``, else ``value``."""
    return _inplace(input, lambda x: G.where(G.gt(x, float(threshold)), x,
                                             G.scalar_like(float(value), x)), inplace)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU: negative inputs times a slope drawn uniformly from
    [lower, upper] per element in training, times the mean slope ``(lower + upper) / 2`` in
    evaluation (PyTorch's ``x >= 0 ? x : x * slope``)."""
    if lower > upper:
        raise ValueError(f"rrelu: lower bound {lower} must not exceed upper bound {upper}")

    def fn(x: Tensor) -> Tensor:
        if training:
            slope = G.add(G.mul(factories.rand(*x.shape, dtype=x.dtype), float(upper - lower)),
                          float(lower))
        else:
            slope = (lower + upper) / 2.0
        return G.where(G.ge(x, 0), x, G.mul(x, slope))

    return _inplace(input, fn, inplace)


@autocast_op("prelu")
def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``x`` for x > 0, else ``weight * x``; ``weight`` has one entry, or one per channel
    (dim 1 of the input; inputs of fewer than 2 dims have one channel)."""
    count = weight.numel()
    if count == 1:
        slope = G.reshape(weight, ())
    else:
        channels = input.shape[1] if input.ndim >= 2 else 1
        if weight.ndim != 1 or count != channels:
            raise RuntimeError(f"prelu: Mismatch of parameter numbers and input channel size. "
                               f"Found parameter numbers = {count} and channel size = "
                               f"{channels}.")
        slope = G.reshape(weight, [1, count] + [1] * (input.ndim - 2))
    return G.where(G.gt(input, 0), input, G.mul(input, slope))


def softmax2d(input: Tensor) -> Tensor:
    """Softmax over the channels (dim -3) of (N, C, H, W) or (C, H, W) input."""
    if input.ndim not in (3, 4):
        raise ValueError(f"Softmax2d: expected input of 3 or 4 dims (C, H, W) or "
                         f"(N, C, H, W), got shape {list(input.shape)}")
    return G.softmax(input, -3)


# -- in-place forms, as PyTorch's F.relu_ ... -----------------------------------------------------
def relu_(input: Tensor) -> Tensor:
    return input._assign(G.relu)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    from graphc.nn.functional import elu
    return input._assign(lambda x: elu(x, alpha))


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    from graphc.nn.functional import leaky_relu
    return input._assign(lambda x: leaky_relu(x, negative_slope))


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    from graphc.nn.functional import hardtanh
    return input._assign(lambda x: hardtanh(x, min_val, max_val))


def selu_(input: Tensor) -> Tensor:
    return selu(input, inplace=True)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return celu(input, alpha, inplace=True)


def threshold_(input: Tensor, threshold_value: float, value: float) -> Tensor:
    return threshold(input, threshold_value, value, inplace=True)


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
           training: bool = False) -> Tensor:
    return rrelu(input, lower, upper, training, inplace=True)


__all__ = ["selu", "celu", "glu", "hardsigmoid", "hardswish", "hardshrink", "softshrink",
           "tanhshrink", "softsign", "mish", "threshold", "rrelu", "prelu", "softmax2d",
           "relu_", "elu_", "leaky_relu_", "hardtanh_", "selu_", "celu_", "threshold_",
           "rrelu_"]
