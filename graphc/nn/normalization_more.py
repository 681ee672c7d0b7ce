"""More normalization layers: ``BatchNorm3d``, ``InstanceNorm1d/2d/3d``, ``RMSNorm`` and
``LocalResponseNorm``, with PyTorch's parameters, buffers, defaults and reprs.

InstanceNorm defaults to ``affine=False, track_running_stats=False`` (PyTorch's); with
``affine`` it has ``weight`` (ones) and ``bias`` (zeros), with ``track_running_stats`` the
buffers ``running_mean``, ``running_var``, ``num_batches_tracked``, updated in training by the
batch average of the per-instance statistics and used in evaluation.

    >>> import graphc
    >>> from graphc import nn
    >>> nn.InstanceNorm2d(3)
    InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False)
    >>> nn.RMSNorm(4)
    RMSNorm((4,), eps=None, elementwise_affine=True)
    >>> out = nn.InstanceNorm1d(2)(graphc.tensor([[1.0, 3.0], [2.0, 2.0]]))  # (C, L) input
    >>> [[round(v, 4) for v in row] for row in out.tolist()]
    [[-1.0, 1.0], [0.0, 0.0]]
"""
from __future__ import annotations

from typing import Optional

from graphc import factories
from graphc import functions as G
from graphc.errors import ArgumentError
from graphc.nn import init
from graphc.nn import normalization_functional as NF
from graphc.nn.module import Module, Parameter
from graphc.nn.normalization import _BatchNorm, _float
from graphc.tensor import Tensor


class BatchNorm3d(_BatchNorm):
    """Batch normalization over (N, C, D, H, W) input."""

    _expected_dims = (5,)


class _InstanceNorm(_BatchNorm):
    """PyTorch's ``_InstanceNorm``: the state of ``_BatchNorm`` with other defaults."""

    _spatial = 1

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device=None,
                 dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        rank = self._spatial + 2
        if input.ndim not in (rank - 1, rank):
            raise ArgumentError(f"{type(self).__name__}: expected {rank - 1}D or {rank}D input "
                                f"(got {input.ndim}D input of shape {list(input.shape)})")
        unbatched = input.ndim == rank - 1
        x = G.unsqueeze(input, 0) if unbatched else input
        if self.affine and x.shape[1] != self.num_features:
            raise ArgumentError(f"{type(self).__name__}: expected input's size at dim 1 to match "
                                f"num_features ({self.num_features}), but got: {x.shape[1]}.")
        use_input_stats = self.training or not self.track_running_stats
        momentum = 0.0 if self.momentum is None else self.momentum
        out = NF.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                               use_input_stats, momentum, self.eps)
        return G.squeeze(out, 0) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization over (N, C, L) or (C, L) input."""

    _spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization over (N, C, H, W) or (C, H, W) input."""

    _spatial = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalization over (N, C, D, H, W) or (C, D, H, W) input."""

    _spatial = 3


class RMSNorm(Module):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the trailing ``normalized_shape`` dims;
    ``weight`` (ones) when ``elementwise_affine``; ``eps=None`` is the dtype's epsilon."""

    def __init__(self, normalized_shape, eps: Optional[float] = None,
                 elementwise_affine: bool = True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(factories.empty(*self.normalized_shape, dtype=_float(dtype)))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input: Tensor) -> Tensor:
        return NF.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class LocalResponseNorm(Module):
    """Normalizes each channel by its ``size`` neighbours: ``x / (k + alpha * mean(x^2)) **
    beta``."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input: Tensor) -> Tensor:
        return NF.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
