"""``Conv1d``, ``Conv2d``, ``Conv3d`` and ``ConvTranspose1d``/``2d``/``3d`` with PyTorch's
arguments, parameter shapes and initialization.

``weight`` is (out_channels, in_channels / groups, *kernel_size) for a convolution and
(in_channels, out_channels / groups, *kernel_size) for a transposed one, initialized with
``kaiming_uniform_(a=sqrt(5))``; ``bias`` is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) where fan_in
is ``weight.shape[1] * prod(kernel_size)``, as PyTorch.

    >>> import graphc
    >>> from graphc import nn
    >>> conv = nn.Conv2d(1, 8, 3, padding=1)
    >>> conv
    Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    >>> conv(graphc.zeros(2, 1, 28, 28)).shape
    (2, 8, 28, 28)
"""
from __future__ import annotations

from typing import Union

from graphc.errors import ArgumentError
from graphc.nn import functional as F
from graphc.nn import init
from graphc.nn.linear import _empty
from graphc.nn.module import Module, Parameter
from graphc.tensor import Tensor

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    _dims = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding: Union[int, tuple, str] = 0, dilation=1, groups: int = 1,
                 bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        n = self._dims
        if groups <= 0:
            raise ArgumentError("groups must be a positive integer")
        if in_channels % groups:
            raise ArgumentError("in_channels must be divisible by groups")
        if out_channels % groups:
            raise ArgumentError("out_channels must be divisible by groups")
        if padding_mode not in _PADDING_MODES:
            raise ArgumentError(f"padding_mode must be one of {_PADDING_MODES}, got "
                                f"{padding_mode!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = F._tuple(kernel_size, n, "kernel_size")
        self.stride = F._tuple(stride, n, "stride")
        self.dilation = F._tuple(dilation, n, "dilation")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ArgumentError(f"invalid padding string {padding!r}, should be one of "
                                    "{'valid', 'same'}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ArgumentError("padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = F._tuple(padding, n, "padding")
        self.groups = groups
        self.padding_mode = padding_mode
        self.output_padding = (0,) * n
        self.transposed = False
        self.weight = Parameter(_empty(*self._weight_shape(), dtype=dtype))
        if bias:
            self.bias = Parameter(_empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _weight_shape(self) -> tuple:
        return (self.out_channels, self.in_channels // self.groups, *self.kernel_size)

    def reset_parameters(self) -> None:
        init.default_weight_and_bias_(self.weight, self.bias)

    def _explicit_padding(self, input: Tensor):
        """For padding_mode != 'zeros': pad with F.pad first, then convolve unpadded."""
        if self.padding_mode == "zeros":
            return input, self.padding
        if self.padding == "valid":
            return input, 0
        if self.padding == "same":
            total = [d * (k - 1) for k, d in zip(self.kernel_size, self.dilation)]
            pairs = [(t // 2, t - t // 2) for t in total]
        else:
            pairs = [(p, p) for p in self.padding]
        flat = [v for lo_hi in reversed(pairs) for v in lo_hi]
        return F.pad(input, flat, mode=self.padding_mode), 0

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._dims:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._dims:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L) or (C, L) input."""

    _dims = 1

    def forward(self, input: Tensor) -> Tensor:
        x, padding = self._explicit_padding(input)
        return F.conv1d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                        self.groups)


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W) or (C, H, W) input."""

    _dims = 2

    def forward(self, input: Tensor) -> Tensor:
        x, padding = self._explicit_padding(input)
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                        self.groups)


class Conv3d(_ConvNd):
    """3-D convolution over (N, C, D, H, W) or (C, D, H, W) input (``F.conv3d``: a sum of 2-D
    convolutions over the kernel's depth taps).

        >>> import graphc
        >>> graphc.nn.Conv3d(2, 4, 3, padding=1)(graphc.zeros(1, 2, 5, 6, 7)).shape
        (1, 4, 5, 6, 7)
    """

    _dims = 3

    def forward(self, input: Tensor) -> Tensor:
        x, padding = self._explicit_padding(input)
        return F.conv3d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                        self.groups)

class _ConvTransposeNd(_ConvNd):
    """The transposed convolutions: PyTorch's argument order (``output_padding`` third from
    the end, ``dilation`` after ``bias``) and only zero padding."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None):
        name = type(self).__name__
        if padding_mode != "zeros":
            raise ArgumentError(f'Only "zeros" padding mode is supported for {name}')
        if isinstance(padding, str):
            raise ArgumentError(f"{name}: padding must be an int or a tuple of ints, got "
                                f"{padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)
        self.output_padding = F._tuple(output_padding, self._dims, "output_padding")
        self.transposed = True

    def _weight_shape(self) -> tuple:
        return (self.in_channels, self.out_channels // self.groups, *self.kernel_size)

    def _output_padding(self, input: Tensor, output_size) -> tuple:
        """``output_padding``, or the one that gives ``output_size`` (PyTorch's rule: the size
        must lie in [smallest, smallest + stride - 1] along each spatial axis)."""
        if output_size is None:
            return self.output_padding
        n = self._dims
        wanted = [int(v) for v in output_size][-n:]
        if len(wanted) != n:
            raise ArgumentError(f"{type(self).__name__}: output_size must have {n} or {n + 2} "
                                f"elements (got {len(list(output_size))})")
        spatial = input.shape[-n:]
        padding = []
        for size, want, k, s, p, d in zip(spatial, wanted, self.kernel_size, self.stride,
                                          self.padding, self.dilation):
            smallest = (size - 1) * s - 2 * p + d * (k - 1) + 1
            if not smallest <= want <= smallest + s - 1:
                raise ArgumentError(f"requested an output size of {wanted}, but valid sizes range "
                                    f"from {smallest} to {smallest + s - 1} (for an input of "
                                    f"{list(spatial)})")
            padding.append(want - smallest)
        return tuple(padding)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution over (N, Cin, L) or (Cin, L) input.

        >>> import graphc
        >>> up = graphc.nn.ConvTranspose1d(4, 2, 3, stride=2, padding=1, output_padding=1)
        >>> up(graphc.zeros(5, 4, 10)).shape
        (5, 2, 20)
    """

    _dims = 1

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        return F.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups,
                                  self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution over (N, Cin, H, W) or (Cin, H, W) input, e.g. a DCGAN
    generator's up-sampling step.

        >>> import graphc
        >>> up = graphc.nn.ConvTranspose2d(8, 3, 4, stride=2, padding=1, bias=False)
        >>> up
        ConvTranspose2d(8, 3, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
        >>> up(graphc.zeros(1, 8, 16, 16)).shape
        (1, 3, 32, 32)
        >>> up(graphc.zeros(1, 8, 16, 16), output_size=[33, 33]).shape
        (1, 3, 33, 33)
    """

    _dims = 2

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups,
                                  self.dilation)


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution over (N, Cin, D, H, W) or (Cin, D, H, W) input
    (``F.conv_transpose3d``), e.g. a volumetric decoder's up-sampling step.

        >>> import graphc
        >>> up = graphc.nn.ConvTranspose3d(4, 2, 3, stride=2, padding=1, output_padding=1)
        >>> up(graphc.zeros(1, 4, 3, 4, 5)).shape
        (1, 2, 6, 8, 10)
        >>> up(graphc.zeros(1, 4, 3, 4, 5), output_size=[5, 7, 10]).shape
        (1, 2, 5, 7, 10)
    """

    _dims = 3

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        return F.conv_transpose3d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups,
                                  self.dilation)
