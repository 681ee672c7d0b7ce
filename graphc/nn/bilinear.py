"""``Bilinear`` (``y = x1^T A x2 + b``) and ``ChannelShuffle``, with ``F.bilinear`` and
``F.channel_shuffle``, as PyTorch's.

``Bilinear.weight`` is (out_features, in1_features, in2_features) and, like ``bias``, starts
U(-1/sqrt(in1_features), 1/sqrt(in1_features)), PyTorch's initialization.

    >>> import graphc
    >>> from graphc import nn
    >>> layer = nn.Bilinear(3, 4, 5)
    >>> layer, layer.weight.shape
    (Bilinear(in1_features=3, in2_features=4, out_features=5, bias=True), (5, 3, 4))
    >>> channel_shuffle(graphc.arange(4.0).reshape(1, 4, 1), 2).flatten().tolist()
    [0.0, 2.0, 1.0, 3.0]
"""
from __future__ import annotations

import math
from typing import Optional

from graphc import factories
from graphc import functions as G
from graphc.amp.autocast_mode import autocast_op
from graphc.nn import init
from graphc.nn.module import Module, Parameter
from graphc.tensor import Tensor
from ir import dtypes


@autocast_op("bilinear")
def bilinear(input1: Tensor, input2: Tensor, weight: Tensor,
             bias: Optional[Tensor] = None) -> Tensor:
    """``out[..., o] = sum_ij input1[..., i] weight[o, i, j] input2[..., j] + bias[o]``."""
    if weight.ndim != 3:
        raise RuntimeError(f"bilinear(): weight must be 3-D (out, in1, in2), got shape "
                           f"{list(weight.shape)}")
    out_features, in1, in2 = weight.shape
    if input1.shape[-1:] != (in1,) or input2.shape[-1:] != (in2,) \
            or tuple(input1.shape[:-1]) != tuple(input2.shape[:-1]):
        raise RuntimeError(f"bilinear(): input1 {list(input1.shape)} and input2 "
                           f"{list(input2.shape)} must agree on the leading dims and end in "
                           f"{in1} and {in2} features (weight {list(weight.shape)})")
    lead = list(input1.shape[:-1])
    x1 = G.reshape(input1, (-1, in1))
    x2 = G.reshape(input2, (-1, 1, in2))
    # (B, in1) @ (in1, out * in2) -> (B, out, in2), then contracted with x2 over in2
    mixed = G.matmul(x1, G.reshape(G.permute(weight, (1, 0, 2)), (in1, out_features * in2)))
    out = G.sum(G.mul(G.reshape(mixed, (-1, out_features, in2)), x2), 2)
    if bias is not None:
        out = G.add(out, bias)
    return G.reshape(out, lead + [out_features])


class Bilinear(Module):
    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in1_features, self.in2_features = in1_features, in2_features
        self.out_features = out_features
        dtype = dtype or dtypes.DEFAULT_FLOAT
        self.weight = Parameter(factories.empty(out_features, in1_features, in2_features,
                                                dtype=dtype))
        if bias:
            self.bias = Parameter(factories.empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """(N, C, *) -> channels regrouped: view as (N, groups, C / groups, *), swap those two."""
    if input.ndim < 3:
        raise RuntimeError(f"channel_shuffle expects input to have at least 3 dimensions, but "
                           f"got input with sizes {list(input.shape)}")
    channels = input.shape[1]
    if groups <= 0 or channels % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {channels} "
                           f"channels and {groups} groups.")
    n, rest = input.shape[0], list(input.shape[2:])
    grouped = G.reshape(input, [n, groups, channels // groups] + rest)
    return G.reshape(G.transpose(grouped, 1, 2), list(input.shape))


class ChannelShuffle(Module):
    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, input: Tensor) -> Tensor:
        return channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
