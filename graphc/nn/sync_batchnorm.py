"""``SyncBatchNorm``: batch normalization whose statistics are those of the global batch, the
union of every rank's batch in a data-parallel job (``torch.nn.SyncBatchNorm``).

In training mode the per-channel count, sum and sum of squared deviations are summed over the
ranks with ``all_reduce`` ops (two passes: the global mean first, then the deviations from it,
which keeps the variance as accurate as one process's). The ops carry their gradient rules, so
backward sums the ranks' contributions the same way, eagerly and in compiled steps, and every
rank's output, gradients and running statistics are those of one process normalizing the
whole batch. Outside a process group, in a world of one, or in eval mode, it is the BatchNorm
of its input's rank.

    >>> import graphc
    >>> from graphc import nn
    >>> bn = nn.SyncBatchNorm(3)
    >>> bn(graphc.ones(4, 3, 2)).shape  # no process group: a BatchNorm
    (4, 3, 2)
"""
from __future__ import annotations

from typing import Any

from graphc import factories
from graphc import functions as G
from graphc.autograd import no_grad
from graphc.dispatch import apply
from graphc.distributed import process_group
from graphc.nn import functional as F
from graphc.nn.module import Module
from graphc.nn.normalization import _BatchNorm
from graphc.tensor import Tensor


class SyncBatchNorm(_BatchNorm):
    """Batch normalization over the global batch of all ranks, for input of any rank >= 2
    (N, C, ...). ``process_group`` must be None (the default group)."""

    _expected_dims = (2, 3, 4, 5)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 process_group: Any = None, device: Any = None, dtype: Any = None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        if process_group is not None:
            raise ValueError("SyncBatchNorm: graphc has only the default process group "
                             "(pass process_group=None)")

    def forward(self, input: Tensor) -> Tensor:
        world = process_group.get_world_size() if process_group.is_initialized() else 1
        if not self.training or world == 1:
            return super().forward(input)
        self._check_input_dim(input)
        axes = [0] + list(range(2, input.ndim))
        view = [1, self.num_features] + [1] * (input.ndim - 2)
        local = factories.tensor(float(input.numel() // self.num_features), dtype=input.dtype)
        count = _summed(local, world)
        mean = G.div(_summed(G.sum(input, axes), world), count)
        centered = G.sub(input, G.reshape(mean, view))
        var = G.div(_summed(G.sum(G.mul(centered, centered), axes), world), count)
        if self.track_running_stats and self.num_batches_tracked is not None:
            self._update_running_stats(mean, var, count)
        return F.batch_norm(input, mean, var, self.weight, self.bias, False, 0.0, self.eps)

    def _update_running_stats(self, mean: Tensor, var: Tensor, count: Tensor) -> None:
        with no_grad():
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor: Any = G.div(1.0, self.num_batches_tracked.to(self.running_mean.dtype))
                keep: Any = G.sub(1.0, factor)
            else:
                factor, keep = self.momentum, 1.0 - self.momentum
            unbiased = G.mul(var.detach(), G.div(count, G.sub(count, 1.0)))
            self.running_mean.mul_(keep).add_(G.mul(mean.detach(), factor))
            self.running_var.mul_(keep).add_(G.mul(unbiased, factor))

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """``module`` with every BatchNorm layer in it replaced by a SyncBatchNorm holding the
        same parameters and buffers (``module`` itself when it has none)."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            converted = cls(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats, process_group)
            for name in ("weight", "bias"):
                if getattr(module, name) is not None:
                    setattr(converted, name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                if getattr(module, name) is not None:
                    setattr(converted, name, getattr(module, name))
            converted.train(module.training)
            return converted
        for name, child in list(module._modules.items()):
            if child is not None:
                replaced = cls.convert_sync_batchnorm(child, process_group)
                if replaced is not child:
                    setattr(module, name, replaced)
        return module


def _summed(tensor: Tensor, world: int) -> Tensor:
    """The sum over the ranks, as an op that backward differentiates (its cotangent summed)."""
    return apply("all_reduce", [tensor], reduce="sum", world=world)
