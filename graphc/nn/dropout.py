"""Dropout layers: ``Dropout`` zeroes elements with probability ``p`` in training and scales
the rest by 1/(1-p); ``Dropout1d``/``Dropout2d``/``Dropout3d`` zero whole channels;
``AlphaDropout``/``FeatureAlphaDropout`` keep the statistics of SELU activations.

The masks are drawn with ``graphc.rand``, so compiled code draws a fresh mask at every call and
``graphc.manual_seed`` replays the same sequence. In eval mode the layers are the identity.

    >>> import graphc
    >>> from graphc import nn
    >>> drop = nn.Dropout(0.25).eval()
    >>> drop(graphc.ones(3)).tolist()
    [1.0, 1.0, 1.0]
    >>> nn.Dropout2d(0.5)
    Dropout2d(p=0.5, inplace=False)
"""
from __future__ import annotations

from graphc.nn import functional as F
from graphc.nn.module import Module
from graphc.tensor import Tensor


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """Zeroes whole channels of (N, C, L) or (C, L) input: ``F.dropout1d``."""

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zeroes whole channels of (N, C, H, W) input: ``F.dropout2d`` (3-D input is taken as
    (N, C, L) with PyTorch's warning)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) input: ``F.dropout3d``."""

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout3d(input, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutNd):
    """Dropout for SELU networks: keeps zero mean and unit variance (``F.alpha_dropout``)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.alpha_dropout(input, self.p, self.training, self.inplace)


class FeatureAlphaDropout(_DropoutNd):
    """``AlphaDropout`` of whole channels (``F.feature_alpha_dropout``)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.feature_alpha_dropout(input, self.p, self.training, self.inplace)
