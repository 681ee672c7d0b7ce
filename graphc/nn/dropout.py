"""``Dropout``: zeroes elements with probability ``p`` in training and scales by 1/(1-p).

The mask is drawn with ``graphc.rand``, so compiled code draws a fresh mask at every call and
``graphc.manual_seed`` replays the same sequence. In eval mode the layer is the identity.

    >>> import graphc
    >>> from graphc import nn
    >>> drop = nn.Dropout(0.25).eval()
    >>> drop(graphc.ones(3)).tolist()
    [1.0, 1.0, 1.0]
"""
from __future__ import annotations

from graphc.nn import functional as F
from graphc.nn.module import Module
from graphc.tensor import Tensor


class Dropout(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
