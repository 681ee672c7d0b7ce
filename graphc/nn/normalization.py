"""Normalization layers: ``BatchNorm1d``, ``BatchNorm2d``, ``LayerNorm``, ``GroupNorm``.

BatchNorm keeps PyTorch's state: parameters ``weight`` (ones) and ``bias`` (zeros), buffers
``running_mean`` (zeros), ``running_var`` (ones) and ``num_batches_tracked`` (int64), momentum
0.1, eps 1e-5, unbiased running variance. In training mode the running statistics are updated in
place under ``no_grad``; inside ``@graphc.compile`` the tracer turns those updates into graph
outputs that are written back into the buffers after every call.

    >>> import graphc
    >>> from graphc import nn
    >>> bn = nn.BatchNorm2d(16)
    >>> bn
    BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
    >>> [name for name, _ in bn.named_buffers()]
    ['running_mean', 'running_var', 'num_batches_tracked']
"""
from __future__ import annotations

from typing import Optional

from graphc import factories
from graphc import functions as G
from graphc.autograd import no_grad
from graphc.errors import ArgumentError, ShapeError
from graphc.nn import functional as F
from graphc.nn import init
from graphc.nn.module import Module, Parameter
from graphc.tensor import Tensor
from ir import dtypes


def _float(dtype):
    return dtype or dtypes.DEFAULT_FLOAT


class _BatchNorm(Module):
    _expected_dims: tuple = ()
    # a checkpoint from before PyTorch counted batches (version 1) has no num_batches_tracked
    _kept_when_missing = ("num_batches_tracked",)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(factories.empty(num_features, dtype=_float(dtype)))
            self.bias = Parameter(factories.empty(num_features, dtype=_float(dtype)))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", factories.zeros(num_features,
                                                                 dtype=_float(dtype)))
            self.register_buffer("running_var", factories.ones(num_features, dtype=_float(dtype)))
            self.register_buffer("num_batches_tracked", factories.tensor(0, dtype=factories.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1)
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in self._expected_dims:
            dims = " or ".join(f"{d}D" for d in self._expected_dims)
            raise ArgumentError(f"expected {dims} input (got {input.ndim}D input of shape "
                                f"{list(input.shape)})")
        if input.shape[1] != self.num_features:
            raise ShapeError(f"{type(self).__name__}({self.num_features}) got input with "
                             f"{input.shape[1]} channels (shape {list(input.shape)})")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        training = self.training
        if training and self.track_running_stats and self.num_batches_tracked is not None:
            with no_grad():
                self.num_batches_tracked.add_(1)
                if self.momentum is None:  # cumulative moving average
                    count = self.num_batches_tracked.to(self.running_mean.dtype)
                    factor = G.div(1.0, count)
        use_batch_stats = training or (self.running_mean is None and self.running_var is None)
        track = not training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if track else None,
                            self.running_var if track else None, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization over (N, C) or (N, C, L) input."""

    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization over (N, C, H, W) input."""

    _expected_dims = (4,)


class LayerNorm(Module):
    """Normalizes over the trailing ``normalized_shape`` dims; affine ``weight`` (ones) and
    ``bias`` (zeros) of that shape."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(factories.empty(*self.normalized_shape, dtype=_float(dtype)))
            if bias:
                self.bias = Parameter(factories.empty(*self.normalized_shape,
                                                      dtype=_float(dtype)))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class GroupNorm(Module):
    """Normalizes (N, C, ...) input over groups of ``C / num_groups`` channels."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device=None, dtype=None):
        super().__init__()
        if num_channels % num_groups:
            raise ArgumentError("num_channels must be divisible by num_groups")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = Parameter(factories.ones(num_channels, dtype=_float(dtype)))
            self.bias = Parameter(factories.zeros(num_channels, dtype=_float(dtype)))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:
        n, c = input.shape[:2]
        grouped = G.reshape(input, (n, self.num_groups, -1))
        normed = G.reshape(F.layer_norm(grouped, grouped.shape[2:], eps=self.eps), input.shape)
        if self.affine:
            view = [1, c] + [1] * (input.ndim - 2)
            normed = G.add(G.mul(normed, G.reshape(self.weight, view)),
                           G.reshape(self.bias, view))
        return normed

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
