"""The original spectral normalization (``torch.nn.utils.spectral_norm``, which PyTorch keeps
beside the parametrization): ``module.<name>`` is ``<name>_orig / sigma``, sigma the largest
singular value of the weight (as a matrix, dim ``dim`` first), estimated from the buffers
``<name>_u`` and ``<name>_v``; a forward pre-hook runs ``n_power_iterations`` steps of power
iteration on them before each call in training mode (none in eval mode), as PyTorch's.

    >>> import graphc
    >>> layer = spectral_norm(graphc.nn.Linear(4, 3))
    >>> sorted(layer.state_dict())
    ['bias', 'weight_orig', 'weight_u', 'weight_v']

As :func:`weight_norm` here, the weight is a property computed at each access from
``weight_orig`` and the current ``u``, ``v`` (PyTorch stores the tensor its hook computed on the
module): a compiled step computes it in its graph, and before the first call ``layer.weight`` is
already normalized (PyTorch's is the raw weight until the first forward).
"""
from __future__ import annotations

from graphc import autograd
from graphc import functions as F
from graphc.nn.module import Module, Parameter
from graphc.nn.utils.parametrizations import _normalized, weight_to_matrix
from graphc.nn.utils.parametrize import inject_property, restore_class

__all__ = ["spectral_norm", "remove_spectral_norm"]


class _SpectralNormHook:
    """The forward pre-hook: power iteration on ``<name>_u``, ``<name>_v`` in training mode."""

    def __init__(self, name: str, n_power_iterations: int, dim: int, eps: float):
        self.name, self.n_power_iterations, self.dim, self.eps = name, n_power_iterations, dim, eps

    def matrix(self, module: Module):
        return weight_to_matrix(getattr(module, self.name + "_orig"), self.dim)

    def __call__(self, module: Module, inputs) -> None:
        if not module.training:
            return
        u, v = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        with autograd.no_grad():
            matrix = self.matrix(module).detach()
            for _ in range(self.n_power_iterations):  # v first, then u: PyTorch's order
                v.copy_(_normalized(F.matmul(F.transpose(matrix, 0, 1), u), self.eps))
                u.copy_(_normalized(F.matmul(matrix, v), self.eps))

    def weight(self, module: Module):
        u = getattr(module, self.name + "_u").detach()
        v = getattr(module, self.name + "_v").detach()
        sigma = F.sum(F.mul(u, F.matmul(self.matrix(module), v)))
        return F.div(getattr(module, self.name + "_orig"), sigma)


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim=None) -> Module:
    """Replaces the parameter ``name`` by ``name_orig`` and the buffers ``name_u``, ``name_v``
    (``torch.nn.utils.spectral_norm``); ``dim`` defaults to 1 for transposed convolutions, else
    0. See the module's docstring."""
    held = getattr(type(module), name, None)
    if isinstance(held, property) and hasattr(held.fget, "_spectral_norm"):
        raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter "
                           f"{name}")
    weight = module._parameters.get(name)
    if weight is None:
        raise ValueError(f"spectral_norm: module '{type(module).__name__}' has no parameter "
                         f"'{name}'")
    if n_power_iterations <= 0:
        raise ValueError(f"Expected n_power_iterations to be positive, but got "
                         f"n_power_iterations={n_power_iterations}")
    if dim is None:
        dim = 1 if "ConvTranspose" in type(module).__name__ else 0
    if not -weight.ndim <= dim < max(weight.ndim, 1):
        raise IndexError(f"spectral_norm: dim {dim} is out of range for a weight of "
                         f"{weight.ndim} dims")
    dim = dim % weight.ndim
    from graphc.factories import randn
    hook = _SpectralNormHook(name, n_power_iterations, dim, eps)
    with autograd.no_grad():
        h, w = weight_to_matrix(weight.detach(), dim).shape
        u = _normalized(randn(h, dtype=weight.dtype), eps)
        v = _normalized(randn(w, dtype=weight.dtype), eps)
    del module._parameters[name]
    module.register_parameter(name + "_orig", weight)
    module.register_buffer(name + "_u", u)
    module.register_buffer(name + "_v", v)

    def get(self):
        return hook.weight(self)
    get._spectral_norm = (hook, module.register_forward_pre_hook(hook))  # type: ignore
    inject_property(module, name, property(get))
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Undoes :func:`spectral_norm`: ``name`` is one parameter again, holding the normalized
    weight at the current ``u``, ``v`` (no power iteration), as PyTorch's."""
    held = getattr(type(module), name, None)
    if not isinstance(held, property) or not hasattr(held.fget, "_spectral_norm"):
        raise ValueError(f"spectral_norm of '{name}' not found in {type(module).__name__}")
    hook, handle = held.fget._spectral_norm
    with autograd.no_grad():
        weight = hook.weight(module).detach()
    handle.remove()
    restore_class(module, name)
    del module._parameters[name + "_orig"]
    del module._buffers[name + "_u"], module._buffers[name + "_v"]
    module.register_parameter(name, Parameter(weight))
    return module
