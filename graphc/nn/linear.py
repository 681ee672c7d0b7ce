"""``Linear``, ``Identity``, ``Flatten`` and ``Unflatten``.

``Linear.weight`` has PyTorch's shape (out_features, in_features) and initialization:
``kaiming_uniform_(a=sqrt(5))``, i.e. U(-1/sqrt(in), 1/sqrt(in)), and the bias likewise.

    >>> import graphc
    >>> from graphc import nn
    >>> layer = nn.Linear(784, 128)
    >>> layer
    Linear(in_features=784, out_features=128, bias=True)
    >>> layer(graphc.zeros(32, 784)).shape
    (32, 128)
"""
from __future__ import annotations

from graphc import factories
from graphc import functions as G
from graphc.nn import functional as F
from graphc.nn import init
from graphc.nn.module import Module, Parameter
from graphc.tensor import Tensor
from ir import dtypes


def _empty(*shape, dtype=None) -> Tensor:
    return factories.empty(*shape, dtype=dtype or dtypes.DEFAULT_FLOAT)


class Identity(Module):
    """Returns its input; extra constructor arguments are accepted and ignored (as PyTorch)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """``y = x @ weight.T + bias``.

    Args: ``in_features``, ``out_features``, ``bias=True``; ``device`` is accepted and ignored,
    ``dtype`` picks the parameters' dtype (float32 by default).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(_empty(out_features, in_features, dtype=dtype))
        if bias:
            self.bias = Parameter(_empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.default_weight_and_bias_(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Flattens dims ``start_dim..end_dim`` (default: all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return G.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expands dim ``dim`` into ``unflattened_size``."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        dim = self.dim % input.ndim
        shape = list(input.shape[:dim]) + list(self.unflattened_size) + list(input.shape[dim + 1:])
        return G.reshape(input, shape)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
