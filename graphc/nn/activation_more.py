"""More activation layers, PyTorch's names, arguments and reprs: ``SELU CELU GLU Hardswish
Hardsigmoid Hardshrink Softshrink Tanhshrink Softsign Mish Threshold RReLU PReLU Softmax2d``.

    >>> import graphc
    >>> from graphc import nn
    >>> nn.PReLU(3), nn.Threshold(0.1, 20.0)
    (PReLU(num_parameters=3), Threshold(threshold=0.1, value=20.0))
    >>> nn.RReLU()
    RReLU(lower=0.125, upper=0.3333333333333333)
    >>> nn.PReLU()(graphc.tensor([-2.0, 1.0])).tolist()
    [-0.5, 1.0]
"""
from __future__ import annotations

from graphc import factories
from graphc.nn import activation_functional as AF
from graphc.nn.activation import _Inplace
from graphc.nn.module import Module, Parameter
from graphc.tensor import Tensor
from ir import dtypes


def _inplace_repr(inplace: bool) -> str:
    return ", inplace=True" if inplace else ""


class SELU(_Inplace):
    def _fn(self, x):
        return AF.selu(x)


class CELU(_Inplace):
    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__(inplace)
        self.alpha = alpha

    def _fn(self, x):
        return AF.celu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + _inplace_repr(self.inplace)


class Hardswish(_Inplace):
    def _fn(self, x):
        return AF.hardswish(x)


class Hardsigmoid(_Inplace):
    def _fn(self, x):
        return AF.hardsigmoid(x)


class Mish(_Inplace):
    def _fn(self, x):
        return AF.mish(x)


class Threshold(_Inplace):
    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__(inplace)
        self.threshold, self.value = threshold, value

    def _fn(self, x):
        return AF.threshold(x, self.threshold, self.value)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + _inplace_repr(self.inplace)


class RReLU(_Inplace):
    """Random negative slopes in [lower, upper] in training, their mean in evaluation."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__(inplace)
        self.lower, self.upper = lower, upper

    def _fn(self, x):
        return AF.rrelu(x, self.lower, self.upper, self.training)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + _inplace_repr(self.inplace)


class _Lambd(Module):
    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def extra_repr(self) -> str:
        return str(self.lambd)


class Hardshrink(_Lambd):
    def forward(self, input: Tensor) -> Tensor:
        return AF.hardshrink(input, self.lambd)


class Softshrink(_Lambd):
    def forward(self, input: Tensor) -> Tensor:
        return AF.softshrink(input, self.lambd)


class Tanhshrink(Module):
    def forward(self, input: Tensor) -> Tensor:
        return AF.tanhshrink(input)


class Softsign(Module):
    def forward(self, input: Tensor) -> Tensor:
        return AF.softsign(input)


class GLU(Module):
    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return AF.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax2d(Module):
    def forward(self, input: Tensor) -> Tensor:
        return AF.softmax2d(input)


class PReLU(Module):
    """``x`` for x > 0, else ``weight * x``, with a learned ``weight`` of ``num_parameters``
    entries (1, or one per channel) initialized to ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(factories.empty(num_parameters,
                                                dtype=dtype or dtypes.DEFAULT_FLOAT))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        from graphc.nn import init as nn_init
        nn_init.constant_(self.weight, self.init)

    def forward(self, input: Tensor) -> Tensor:
        return AF.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
