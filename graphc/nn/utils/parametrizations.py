"""Built-in parametrizations (``torch.nn.utils.parametrizations``): ``weight_norm``,
``spectral_norm`` and ``orthogonal``.

    >>> import graphc
    >>> layer = weight_norm(graphc.nn.Linear(3, 2))
    >>> sorted(name for name, _ in layer.named_parameters())
    ['bias', 'parametrizations.weight.original0', 'parametrizations.weight.original1']
"""
from __future__ import annotations

from graphc import functions as F
from graphc.nn.module import Module
from graphc.nn.utils.orthogonal import _OrthMaps, _Orthogonal
from graphc.nn.utils.parametrize import register_parametrization
from graphc.tensor import Tensor

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


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


class _SpectralNorm(Module):
    """``weight / sigma``, sigma its largest singular value, estimated by power iteration on
    the buffers ``_u`` and ``_v`` (updated at each call in training mode), as PyTorch's."""

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12):
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, "
                             f"{ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError(f"Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            from graphc import autograd
            from graphc.factories import randn
            self.n_power_iterations = n_power_iterations
            matrix = self._reshape_weight_to_matrix(weight.detach())
            h, w = matrix.shape
            self.register_buffer("_u", _normalized(randn(h, dtype=weight.dtype), eps))
            self.register_buffer("_v", _normalized(randn(w, dtype=weight.dtype), eps))
            with autograd.no_grad():
                self._power_method(matrix, 15)

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        return weight_to_matrix(weight, self.dim)

    def _power_method(self, matrix: Tensor, iterations: int) -> None:
        # in place (copy_), so a compiled training step updates the buffers without retracing
        for _ in range(iterations):
            self._u.copy_(_normalized(F.matmul(matrix, self._v), self.eps))
            self._v.copy_(_normalized(F.matmul(F.transpose(matrix, 0, 1), self._u), self.eps))

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return _normalized(weight, self.eps)
        from graphc import autograd
        matrix = self._reshape_weight_to_matrix(weight)
        if self.training:
            with autograd.no_grad():
                self._power_method(matrix.detach(), self.n_power_iterations)
        u, v = self._u.detach(), self._v.detach()
        sigma = F.sum(F.mul(u, F.matmul(matrix, v)))
        return F.div(weight, sigma)

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def weight_to_matrix(weight: Tensor, dim: int) -> Tensor:
    """``weight`` as the matrix whose spectral norm is taken: dim ``dim`` first, the others
    flattened (shared with the hook-based :mod:`graphc.nn.utils.spectral_norm`)."""
    if dim != 0:
        weight = F.permute(weight, [dim] + [d for d in range(weight.ndim) if d != dim])
    return F.reshape(weight, [weight.shape[0], -1])


def _normalized(v: Tensor, eps: float) -> Tensor:
    return F.div(v, F.clamp(F.sqrt(F.sum(F.mul(v, v))), min=eps))


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim=None) -> Module:
    """Divides ``module.<name>`` by its spectral norm, estimated by ``n_power_iterations`` of
    power iteration per call in training mode (``torch.nn.utils.parametrizations.
    spectral_norm``); ``dim`` defaults to 1 for transposed convolutions, else 0."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{type(module).__name__}' has no parameter or buffer with "
                         f"name '{name}'")
    if dim is None:
        dim = 1 if "ConvTranspose" in type(module).__name__ else 0
    return register_parametrization(module, name,
                                    _SpectralNorm(weight, n_power_iterations, dim, eps))


def orthogonal(module: Module, name: str = "weight", orthogonal_map=None, *,
               use_trivialization: bool = True) -> Module:
    """Makes ``module.<name>`` (a matrix or batch of matrices) orthogonal at every access
    (``torch.nn.utils.parametrizations.orthogonal``): ``Q^T Q = I`` for tall or square
    matrices, ``Q Q^T = I`` for wide ones.

    ``orthogonal_map`` is ``"matrix_exp"`` (the default for square matrices), ``"cayley"``
    (eager only: it solves a linear system in LAPACK) or ``"householder"`` (the default
    otherwise). With ``use_trivialization`` (the default) the initial weight, orthogonalized,
    is kept in the buffer ``parametrizations.<name>[0].base`` and the original starts where
    the map gives the identity, so the module starts from its own weight made orthogonal.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{type(module).__name__}' has no parameter or buffer with "
                         f"name '{name}'")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of "
                         f"{weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = ("matrix_exp" if weight.shape[-2] == weight.shape[-1]
                          else "householder")
    orth_enum = getattr(_OrthMaps, orthogonal_map, None) if isinstance(orthogonal_map, str) \
        else None
    if orth_enum is None:
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", '
                         f'"householder". Got: {orthogonal_map}')
    if not weight.dtype.is_float:
        raise TypeError(f"orthogonal: expected a floating point weight, got {weight.dtype}")
    orth = _Orthogonal(weight, orth_enum, use_trivialization=use_trivialization)
    return register_parametrization(module, name, orth, unsafe=True)
