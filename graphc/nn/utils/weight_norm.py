"""The original weight normalization (``torch.nn.utils.weight_norm``, which PyTorch keeps
beside the parametrization): ``module.<name>`` computed from the parameters ``<name>_g``
(magnitude) and ``<name>_v`` (direction).

    >>> import graphc
    >>> layer = weight_norm(graphc.nn.Linear(3, 2))
    >>> sorted(name for name, _ in layer.named_parameters())
    ['bias', 'weight_g', 'weight_v']

PyTorch recomputes the weight in a forward pre-hook and stores it on the module; here it is
a property computed at each access (as a parametrization is), so a compiled step computes it
in its graph instead of storing a new tensor into the module at every call (which retraces).
"""
from __future__ import annotations

from graphc import autograd
from graphc.nn.module import Module, Parameter
from graphc.nn.utils.parametrizations import norm_except_dim
from graphc.nn.utils.parametrize import inject_property, restore_class

__all__ = ["weight_norm", "remove_weight_norm"]


def _weight(name: str, dim):
    def get(module: Module):
        g, v = getattr(module, name + "_g"), getattr(module, name + "_v")
        return v * (g / norm_except_dim(v, dim))
    get._weight_norm = (name, dim)  # type: ignore[attr-defined]
    return get


def weight_norm(module: Module, name: str = "weight", dim=0) -> Module:
    """Replaces the parameter ``name`` by ``name_g`` and ``name_v`` (``torch.nn.utils.
    weight_norm``); ``dim=None`` normalizes over the whole tensor."""
    if isinstance(getattr(type(module), name, None), property):
        raise RuntimeError(f"cannot register two weight_norm hooks on the same parameter "
                           f"{name}")
    weight = getattr(module, name)
    if dim is not None and dim < -1:
        dim += weight.ndim
    del module._parameters[name]
    module.register_parameter(name + "_g", Parameter(norm_except_dim(weight.detach(), dim)))
    module.register_parameter(name + "_v", Parameter(weight.detach()))
    inject_property(module, name, property(_weight(name, dim)))
    return module


def remove_weight_norm(module: Module, name: str = "weight") -> Module:
    """Undoes :func:`weight_norm`: ``name`` is one parameter again, holding the current weight."""
    held = getattr(type(module), name, None)
    if not isinstance(held, property) or not hasattr(held.fget, "_weight_norm"):
        raise ValueError(f"weight_norm of '{name}' not found in {type(module).__name__}")
    with autograd.no_grad():
        weight = getattr(module, name).detach()
    restore_class(module, name)
    del module._parameters[name + "_g"], module._parameters[name + "_v"]
    module.register_parameter(name, Parameter(weight))
    return module
