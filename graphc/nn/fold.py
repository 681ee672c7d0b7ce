"""``nn.Unfold`` and ``nn.Fold``: modules around ``F.unfold`` (im2col) and ``F.fold`` (col2im).

    >>> import graphc
    >>> from graphc import nn
    >>> nn.Unfold(kernel_size=2)(graphc.zeros(1, 3, 4, 4)).shape
    (1, 12, 9)
"""
from __future__ import annotations

from graphc import windows
from graphc.nn.module import Module
from graphc.tensor import Tensor


class Unfold(Module):
    """Extracts sliding blocks: ``[N, C, H, W]`` -> ``[N, C*kh*kw, L]``."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation = kernel_size, dilation
        self.padding, self.stride = padding, stride

    def forward(self, input: Tensor) -> Tensor:
        return windows.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Fold(Module):
    """Sums sliding blocks back into an image: ``[N, C*kh*kw, L]`` -> ``[N, C, H, W]``."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input: Tensor) -> Tensor:
        return windows.fold(input, self.output_size, self.kernel_size, self.dilation,
                            self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")
