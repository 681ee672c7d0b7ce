"""Lazy modules: ``LazyLinear`` and ``LazyConv1d/2d/3d`` read their input size
(``in_features``, ``in_channels``) from their first input, as PyTorch's lazy modules. Until
then their parameters are :class:`UninitializedParameter` placeholders (of shape ``(0,)``
here; PyTorch refuses to tell their shape); the first call materializes them in place (the same
objects: an optimizer made before the call updates them), initializes them as the eager layer
does, and the module becomes that layer (PyTorch's ``cls_to_become``). That first call must be
eager: a compiled function cannot create parameters while it is traced.

    >>> import graphc
    >>> from graphc import nn
    >>> layer = nn.LazyLinear(3)
    >>> isinstance(layer.weight, nn.parameter.UninitializedParameter)
    True
    >>> layer(graphc.ones(2, 5)).shape, layer.weight.shape, type(layer).__name__
    ((2, 3), (3, 5), 'Linear')
    >>> conv = nn.LazyConv2d(4, 3)
    >>> conv(graphc.ones(1, 2, 8, 8)).shape, conv.in_channels, type(conv).__name__
    ((1, 4, 6, 6), 2, 'Conv2d')
"""
from __future__ import annotations

from typing import Optional

from graphc import factories, tracing
from graphc.errors import TraceError
from graphc.nn.conv import Conv1d, Conv2d, Conv3d
from graphc.nn.linear import Linear
from graphc.nn.module import Module, Parameter
from graphc.tensor import Tensor
from ir import dtypes

__all__ = ["UninitializedParameter", "LazyModuleMixin", "LazyLinear", "LazyConv1d",
           "LazyConv2d", "LazyConv3d"]


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet (``torch.nn.UninitializedParameter``):
    :meth:`materialize` gives it values in place and makes it a :class:`Parameter`."""

    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device=None, dtype=None):
        super().__init__(factories.empty(0, dtype=dtype or dtypes.DEFAULT_FLOAT), requires_grad)

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Gives this parameter (uninitialized) values of ``shape``, in place."""
        shape = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
        self._data = factories.empty(*shape, dtype=dtype or self.dtype)._data
        self._version += 1
        self.__class__ = self.cls_to_become

    def __repr__(self) -> str:
        return "<UninitializedParameter>"


class LazyModuleMixin:
    """The first call's input sizes the parameters (``torch.nn.modules.lazy.LazyModuleMixin``);
    a subclass defines ``_input_size(input)`` (checks the input, returns the size) and
    ``_materialize(size)``, and names the layer it becomes in ``cls_to_become``."""

    cls_to_become: Optional[type] = None

    def has_uninitialized_params(self) -> bool:
        return any(isinstance(p, UninitializedParameter)
                   for p in self._parameters.values())  # type: ignore[attr-defined]

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params():
            self.cls_to_become.reset_parameters(self)  # type: ignore[union-attr]

    def initialize_parameters(self, input: Tensor) -> None:
        """Materializes the parameters for ``input`` and turns this module into
        ``cls_to_become``."""
        name = type(self).__name__
        if tracing.current() is not None:
            raise TraceError(f"{name}: call the module once eagerly (a dry run) before "
                             f"compiling, so that its parameters exist; a compiled function "
                             f"cannot create them while it is traced")
        self._materialize(self._input_size(input))  # type: ignore[attr-defined]
        self.cls_to_become.reset_parameters(self)  # type: ignore[union-attr]
        self.__class__ = self.cls_to_become

    def forward(self, input: Tensor, *args, **kwargs):
        if self.has_uninitialized_params():
            self.initialize_parameters(input)  # the module is cls_to_become from here on
            return self.forward(input, *args, **kwargs)
        return self.cls_to_become.forward(self, input, *args, **kwargs)  # type: ignore


class LazyLinear(LazyModuleMixin, Linear):
    """``Linear`` whose ``in_features`` is the last dim of its first input."""

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None):
        Module.__init__(self)
        self.in_features = 0
        self.out_features = out_features
        self.weight = UninitializedParameter(dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)
        else:
            self.register_parameter("bias", None)

    def materialize_from_state_dict(self, state_dict, prefix: str) -> None:
        """Before the first call, a checkpoint's ``weight`` gives ``in_features``: the
        parameters are created at its shape for ``load_state_dict`` to fill (PyTorch's lazy
        load hook), and the module becomes a ``Linear``."""
        weight = state_dict.get(prefix + "weight")
        shape = getattr(weight, "shape", None)
        if not self.has_uninitialized_params() or shape is None or len(shape) != 2:
            return
        self._materialize(int(shape[1]))
        Linear.reset_parameters(self)
        self.__class__ = Linear

    def _input_size(self, input: Tensor) -> int:
        if input.ndim < 1:
            raise ValueError("LazyLinear: input must have at least 1 dimension (features)")
        return int(input.shape[-1])

    def _materialize(self, in_features: int) -> None:
        self.in_features = in_features
        self.weight.materialize((self.out_features, in_features))
        if self.bias is not None:
            self.bias.materialize((self.out_features,))


class _LazyConvNd(LazyModuleMixin):
    """A convolution whose ``in_channels`` is dim 1 (dim 0 unbatched) of its first input."""

    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None,
                 dtype=None):
        # in_channels 0 until the first call; reset_parameters skips the placeholders
        super().__init__(0, out_channels, kernel_size, stride, padding,  # type: ignore[call-arg]
                         dilation, groups, bias, padding_mode, device, dtype)
        self.weight = UninitializedParameter(dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)

    def _input_size(self, input: Tensor) -> int:
        spatial = self._dims  # type: ignore[attr-defined]
        if input.ndim not in (spatial + 1, spatial + 2):
            raise ValueError(f"Expected {spatial + 1}D (unbatched) or {spatial + 2}D (batched) "
                             f"input to {type(self).__name__}, but got input of size: "
                             f"{list(input.shape)}")
        return int(input.shape[1] if input.ndim == spatial + 2 else input.shape[0])

    def _materialize(self, in_channels: int) -> None:
        if in_channels % self.groups:  # type: ignore[attr-defined]
            raise ValueError(f"{type(self).__name__}: in_channels ({in_channels}) must be "
                             f"divisible by groups ({self.groups})")  # type: ignore
        self.in_channels = in_channels
        self.weight.materialize(self._weight_shape())  # type: ignore[attr-defined]
        if self.bias is not None:  # type: ignore[attr-defined]
            self.bias.materialize((self.out_channels,))  # type: ignore[attr-defined]


class LazyConv1d(_LazyConvNd, Conv1d):
    """``Conv1d`` whose ``in_channels`` is read from its first input."""

    cls_to_become = Conv1d


class LazyConv2d(_LazyConvNd, Conv2d):
    """``Conv2d`` whose ``in_channels`` is read from its first input."""

    cls_to_become = Conv2d


class LazyConv3d(_LazyConvNd, Conv3d):
    """``Conv3d`` whose ``in_channels`` is read from its first input."""

    cls_to_become = Conv3d
