"""Activation layers: thin modules over :mod:`graphc.nn.functional`, with PyTorch's reprs.

    >>> import graphc
    >>> from graphc import nn
    >>> nn.Softmax(dim=1), nn.GELU(), nn.LeakyReLU()
    (Softmax(dim=1), GELU(approximate='none'), LeakyReLU(negative_slope=0.01))
    >>> nn.ReLU()(graphc.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
"""
from __future__ import annotations

from typing import Optional

from graphc import functions as G
from graphc.nn import functional as F
from graphc.nn.module import Module
from graphc.tensor import Tensor


class _Inplace(Module):
    """An elementwise activation with PyTorch's ``inplace`` flag (rebinds the input tensor)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def _fn(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, input: Tensor) -> Tensor:
        if self.inplace:
            return input._assign(self._fn)
        return self._fn(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU(_Inplace):
    def _fn(self, x):
        return G.relu(x)


class ReLU6(_Inplace):
    def _fn(self, x):
        return F.relu6(x)


class SiLU(_Inplace):
    def _fn(self, x):
        return G.silu(x)


class LeakyReLU(_Inplace):
    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False):
        super().__init__(inplace)
        self.negative_slope = negative_slope

    def _fn(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(_Inplace):
    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__(inplace)
        self.alpha = alpha

    def _fn(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Hardtanh(_Inplace):
    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__(inplace)
        self.min_val, self.max_val = min_val, max_val

    def _fn(self, x):
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (
            ", inplace=True" if self.inplace else "")


class GELU(Module):
    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return G.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Tanh(Module):
    def forward(self, input: Tensor) -> Tensor:
        return G.tanh(input)


class Sigmoid(Module):
    def forward(self, input: Tensor) -> Tensor:
        return G.sigmoid(input)


class LogSigmoid(Module):
    def forward(self, input: Tensor) -> Tensor:
        return F.logsigmoid(input)


class Softplus(Module):
    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class _SoftmaxBase(Module):
    def __init__(self, dim: Optional[int] = None):
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_SoftmaxBase):
    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim)


class LogSoftmax(_SoftmaxBase):
    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim)


class Softmin(_SoftmaxBase):
    def forward(self, input: Tensor) -> Tensor:
        return F.softmin(input, self.dim)
