"""Built-in parametrizations (``torch.nn.utils.parametrizations``): ``weight_norm``.

    >>> import graphc
    >>> layer = weight_norm(graphc.nn.Linear(3, 2))
    >>> sorted(name for name, _ in layer.named_parameters())
    ['bias', 'parametrizations.weight.original0', 'parametrizations.weight.original1']
"""
from __future__ import annotations

from graphc import functions as F
from graphc.nn.module import Module
from graphc.nn.utils.parametrize import register_parametrization
from graphc.tensor import Tensor

__all__ = ["weight_norm"]


def norm_except_dim(v: Tensor, dim: int) -> Tensor:
    """The 2-norm of ``v`` over every dimension but ``dim`` (kept, with size 1 elsewhere), as
    PyTorch's ``norm_except_dim``; ``dim=None`` (or -1 in the old API) is the whole norm."""
    if dim is None or dim == -1:
        return F.sqrt(F.sum(F.mul(v, v)))
    dim = dim % v.ndim
    axes = [d for d in range(v.ndim) if d != dim]
    return F.sqrt(F.sum(F.mul(v, v), axes, keepdim=True)) if axes else F.abs(v)


class _WeightNorm(Module):
    """``g * v / ||v||``, the norm over every dimension but ``dim``."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return F.mul(weight_v, F.div(weight_g, norm_except_dim(weight_v, self.dim)))

    def right_inverse(self, weight: Tensor):
        return norm_except_dim(weight, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim=0) -> Module:
    """Splits ``module.<name>`` into a magnitude ``original0`` (its norm over every dimension
    but ``dim``) and a direction ``original1`` (``torch.nn.utils.parametrizations.weight_norm``):
    the weight is ``original0 * original1 / ||original1||`` at every access."""
    if dim is not None and dim < -1:
        dim = dim + getattr(module, name).ndim
    return register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
