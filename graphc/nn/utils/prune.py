"""Pruning (``torch.nn.utils.prune``): zeroing parts of a module's tensor through a mask.

Pruning ``module.<name>`` moves the parameter to ``<name>_orig`` (the same Parameter, so an
optimizer keeps updating it), adds the buffer ``<name>_mask`` and a forward pre-hook that sets
the plain attribute ``<name> = <name>_orig * <name>_mask`` before each call, as PyTorch does:
state dicts have PyTorch's keys (``weight_orig``, ``weight_mask``), so checkpoints of pruned
PyTorch models load. Pruning the same tensor again prunes only what is left (the methods are
chained in a :class:`PruningContainer`); :func:`remove` makes the pruning permanent.

    >>> import graphc
    >>> from graphc import nn
    >>> from graphc.nn.utils import prune
    >>> layer = nn.Linear(2, 2)
    >>> with graphc.no_grad():
    ...     _ = layer.weight.copy_(graphc.tensor([[1.0, -4.0], [3.0, 0.5]]))
    >>> _ = prune.l1_unstructured(layer, "weight", amount=1)
    >>> layer.weight_mask.tolist(), sorted(layer.state_dict())
    ([[1.0, 1.0], [1.0, 0.0]], ['bias', 'weight_mask', 'weight_orig'])
    >>> _ = prune.l1_unstructured(layer, "weight", amount=1)   # 1 of the 3 left
    >>> layer.weight.tolist()
    [[0.0, -4.0], [3.0, 0.0]]

Masks are computed eagerly, when a tensor is pruned (pruning inside a compiled function raises
``TraceError``). The pre-hook is plain tensor code, so a pruned module compiles: the mask is a
buffer, hence a graph input read afresh at each call, and pruning again swaps the hook and the
buffer, which retraces; a compiled forward never sees a stale mask.
"""
from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Optional

import numpy as np

from graphc import autograd, tracing
from graphc import functions as F
from graphc.factories import ones_like, rand
from graphc.nn.module import Module
from graphc.nn.module_hooks import PRE_HOOKS
from graphc.nn.utils.convert_parameters import parameters_to_vector
from graphc.tensor import Tensor

__all__ = ["BasePruningMethod", "PruningContainer", "Identity", "RandomUnstructured",
           "L1Unstructured", "RandomStructured", "LnStructured", "CustomFromMask", "identity",
           "random_unstructured", "l1_unstructured", "random_structured", "ln_structured",
           "global_unstructured", "custom_from_mask", "remove", "is_pruned"]


def _pre_hooks(module: Module) -> dict:
    """The module's forward pre-hook table: id -> (hook, flags) (see ``module_hooks``)."""
    return module.__dict__.get(PRE_HOOKS) or {}


def _not_traced(what: str, *tensors: Tensor) -> None:
    if tracing.current() is not None or any(t.is_traced for t in tensors):
        raise tracing.TraceError(
            f"prune: {what} computes a mask eagerly (once, from the tensor's values) and cannot "
            "run inside a compiled function; prune outside it and call the compiled function "
            "after (the mask is a buffer, read at each call)")


def _array(t: Tensor) -> np.ndarray:
    return np.asarray(t.detach().numpy())


def _like(values: np.ndarray, like: Tensor) -> Tensor:
    return Tensor._wrap(np.ascontiguousarray(values, dtype=like.dtype.numpy))


class BasePruningMethod(ABC):
    """A way of pruning a tensor: subclasses define :meth:`compute_mask` and a class attribute
    ``PRUNING_TYPE`` (``"unstructured"``, ``"structured"`` with an attribute ``dim``, or
    ``"global"``), which says what a later method in a :class:`PruningContainer` may prune.
    An instance is the forward pre-hook of the module it pruned."""

    _tensor_name: Optional[str] = None
    PRUNING_TYPE: str

    def __call__(self, module: Module, inputs) -> None:
        """The pre-hook: ``module.<name> = <name>_orig * <name>_mask``, before ``forward``."""
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The mask of ``t`` (a tensor of its shape: 0 where pruned), given the mask so far
        ``default_mask`` (what is already 0 stays 0)."""

    def apply_mask(self, module: Module) -> Tensor:
        """``<name>_orig`` times ``<name>_mask`` (in the original's dtype)."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned")
        mask = getattr(module, self._tensor_name + "_mask")
        orig = getattr(module, self._tensor_name + "_orig")
        return F.mul(mask.to(orig.dtype), orig)

    @classmethod
    def apply(cls, module: Module, name: str, *args, importance_scores: Optional[Tensor] = None,
              **kwargs) -> BasePruningMethod:
        """Prunes ``module.<name>`` with ``cls(*args, **kwargs)`` (chained after an earlier
        pruning of it, if any) and returns the method (or container) that is now its hook."""
        method = _composite_method(cls, module, name, *args, **kwargs)
        orig = getattr(module, name)
        _not_traced(f"{cls.__name__}.apply", orig)
        if importance_scores is not None:
            if tuple(importance_scores.shape) != tuple(orig.shape):
                raise AssertionError(
                    f"importance_scores should have the same shape as parameter {name} of "
                    f"{module}, got {importance_scores.shape} vs {orig.shape}")
        else:
            importance_scores = orig
        first = not isinstance(method, PruningContainer)
        if first:
            module.register_parameter(name + "_orig", orig)
            del module._parameters[name]
            default_mask = ones_like(orig)
        else:
            default_mask = getattr(module, name + "_mask").detach().clone()
        try:
            with autograd.no_grad():
                mask = method.compute_mask(importance_scores, default_mask=default_mask)
            module.register_buffer(name + "_mask", mask)
            setattr(module, name, method.apply_mask(module))
            module.register_forward_pre_hook(method)
        except Exception:
            if first:  # leave the module as it was
                orig = getattr(module, name + "_orig")
                module.__dict__.pop(name, None)
                module.register_parameter(name, orig)
                del module._parameters[name + "_orig"]
            raise
        return method

    def prune(self, t: Tensor, default_mask: Optional[Tensor] = None,
              importance_scores: Optional[Tensor] = None) -> Tensor:
        """``t`` times its mask (computed from ``importance_scores``, default ``t``)."""
        if importance_scores is not None:
            if tuple(importance_scores.shape) != tuple(t.shape):
                raise AssertionError(
                    "importance_scores should have the same shape as tensor t, got "
                    f"{importance_scores.shape} vs {t.shape}")
        else:
            importance_scores = t
        default_mask = default_mask if default_mask is not None else ones_like(t)
        with autograd.no_grad():
            mask = self.compute_mask(importance_scores, default_mask=default_mask)
        return F.mul(t, mask)

    def remove(self, module: Module) -> None:
        """Makes the pruning permanent: ``<name>`` is again a parameter (the ``_orig`` one,
        holding the pruned values); ``<name>_orig`` and ``<name>_mask`` are dropped."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned before pruning can be "
                                 "removed")
        weight = self.apply_mask(module)
        module.__dict__.pop(self._tensor_name, None)
        orig = module._parameters[self._tensor_name + "_orig"]
        with autograd.no_grad():
            orig.data = weight.detach()
        del module._parameters[self._tensor_name + "_orig"]
        del module._buffers[self._tensor_name + "_mask"]
        setattr(module, self._tensor_name, orig)


def _composite_method(cls, module: Module, name: str, *args, **kwargs) -> BasePruningMethod:
    """``cls(*args, **kwargs)``, or, when ``name`` was pruned before, the container of the
    earlier method(s) with it appended; the earlier hook is unregistered."""
    table = _pre_hooks(module)
    found = [(key, hook) for key, (hook, _) in list(table.items())
             if isinstance(hook, BasePruningMethod) and hook._tensor_name == name]
    if len(found) > 1:
        raise AssertionError(f"Avoid adding multiple pruning hooks to the same tensor {name} "
                             f"of module {module}. Use a PruningContainer.")
    method = cls(*args, **kwargs)
    method._tensor_name = name
    if not found:
        return method
    key, old = found[0]
    del table[key]
    if isinstance(old, PruningContainer):
        old.add_pruning_method(method)
        return old
    container = PruningContainer(old)
    container.add_pruning_method(method)
    return container


class PruningContainer(BasePruningMethod):
    """The pruning methods applied one after the other to one tensor: the last one prunes
    only the units the earlier ones left (entries, or channels along its ``dim``)."""

    def __init__(self, *args) -> None:
        self._pruning_methods: tuple[BasePruningMethod, ...] = ()
        if len(args) == 1:
            self._tensor_name = args[0]._tensor_name
            self.add_pruning_method(args[0])
        else:
            for method in args:
                self.add_pruning_method(method)

    def add_pruning_method(self, method: BasePruningMethod) -> None:
        """Appends ``method`` (it must act on this container's tensor)."""
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if method is not None and self._tensor_name != method._tensor_name:
            raise ValueError("Can only add pruning methods acting on the parameter named "
                             f"'{self._tensor_name}' to PruningContainer {self}. Found "
                             f"'{method._tensor_name}'")
        self._pruning_methods += (method,)

    def __len__(self) -> int:
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, idx):
        return self._pruning_methods[idx]

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The last method's mask computed on the part of ``t`` the mask so far keeps (the
        entries equal to 1; the channels not all 0 for a structured method; all of it for a
        global one), written into a copy of ``default_mask``."""
        method = self._pruning_methods[-1]
        values, mask = _array(t), _array(default_mask)
        new_mask = mask.astype(values.dtype, copy=True)
        if method.PRUNING_TYPE == "unstructured":
            slc: object = mask == 1
        elif method.PRUNING_TYPE == "structured":
            if not hasattr(method, "dim"):
                raise AttributeError('Pruning methods of PRUNING_TYPE "structured" need to '
                                     "have the attribute `dim` defined.")
            dim = method.dim + values.ndim if method.dim < 0 else method.dim
            if dim < 0:
                raise IndexError(f"Index is out of bounds for tensor with dimensions "
                                 f"{values.ndim}")
            others = tuple(d for d in range(values.ndim) if d != dim)
            index = [slice(None)] * values.ndim
            index[dim] = mask.sum(axis=others) != 0
            slc = tuple(index)
        elif method.PRUNING_TYPE == "global":
            slc = (slice(None),) * values.ndim
        else:
            raise ValueError(f"Unrecognized PRUNING_TYPE {method.PRUNING_TYPE}")
        part = method.compute_mask(_like(values[slc], t), default_mask=_like(mask[slc],
                                                                             default_mask))
        new_mask[slc] = _array(part)
        return _like(new_mask, t)


class Identity(BasePruningMethod):
    """Prunes nothing: the mask is all ones (a pruned-looking module with nothing pruned)."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        return default_mask

    @classmethod
    def apply(cls, module, name):  # type: ignore[override]
        return super().apply(module, name)


def _prune_lowest(amount, t: Tensor, default_mask: Tensor, scores) -> Tensor:
    """``default_mask`` with the ``amount`` entries (a count, or a fraction of ``t``'s) of
    lowest ``scores()`` zeroed, ties broken by position (``scores`` is called only when there
    is something to prune: a random draw is not made otherwise)."""
    size = t.numel()
    k = _compute_nparams_toprune(amount, size)
    _validate_pruning_amount(k, size)
    mask = _array(default_mask).copy()
    if k != 0:
        mask.reshape(-1)[np.argsort(scores().reshape(-1), kind="stable")[:k]] = 0
    return _like(mask, default_mask)


class RandomUnstructured(BasePruningMethod):
    """Prunes ``amount`` entries (a count, or a fraction of them) chosen at random."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        # (the highest random draws are pruned)
        return _prune_lowest(self.amount, t, default_mask, lambda: -_array(rand(*t.shape)))

    @classmethod
    def apply(cls, module, name, amount):  # type: ignore[override]
        return super().apply(module, name, amount=amount)


class L1Unstructured(BasePruningMethod):
    """Prunes the ``amount`` entries (a count, or a fraction of them) of smallest absolute
    value (of the importance scores, when given)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        return _prune_lowest(self.amount, t, default_mask, lambda: np.abs(_array(t)))

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None):  # type: ignore[override]
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


class RandomStructured(BasePruningMethod):
    """Prunes ``amount`` whole channels along ``dim`` (a count, or a fraction of them) chosen
    at random."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, dim: int = -1) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.dim = dim

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        _validate_structured_pruning(t)
        _validate_pruning_dim(t, self.dim)
        size = t.shape[self.dim]
        k = _compute_nparams_toprune(self.amount, size)
        _validate_pruning_amount(k, size)
        if k == 0:
            return default_mask
        prob = _array(rand(size))
        threshold = np.sort(prob)[k - 1]  # the k-th smallest, as torch.kthvalue
        return _channel_mask(t, self.dim, prob > threshold, default_mask)

    @classmethod
    def apply(cls, module, name, amount, dim=-1):  # type: ignore[override]
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(BasePruningMethod):
    """Prunes the ``amount`` channels along ``dim`` (a count, or a fraction of them) of
    smallest ``n``-norm (``n`` as ``torch.norm``'s ``p``: a number, ``inf``, ``-inf`` or
    ``'fro'``)."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, n, dim: int = -1) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.n = n
        self.dim = dim

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        _validate_structured_pruning(t)
        _validate_pruning_dim(t, self.dim)
        size = t.shape[self.dim]
        k = _compute_nparams_toprune(self.amount, size)
        _validate_pruning_amount(k, size)
        if k == 0:
            return default_mask
        norm = _compute_norm(_array(t), self.n, self.dim)
        keep = np.zeros(size, dtype=bool)
        keep[np.argsort(-norm, kind="stable")[:size - k]] = True
        return _channel_mask(t, self.dim, keep, default_mask)

    @classmethod
    def apply(cls, module, name, amount, n, dim,  # type: ignore[override]
              importance_scores=None):
        return super().apply(module, name, amount=amount, n=n, dim=dim,
                             importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Prunes where a given ``mask`` is 0."""

    PRUNING_TYPE = "global"

    def __init__(self, mask: Tensor) -> None:
        self.mask = mask

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        if tuple(default_mask.shape) != tuple(self.mask.shape):
            raise AssertionError(f"default_mask shape {default_mask.shape} must match "
                                 f"self.mask shape {self.mask.shape}")
        mask = _array(default_mask) * _array(self.mask).astype(default_mask.dtype.numpy)
        return _like(mask, default_mask)

    @classmethod
    def apply(cls, module, name, mask):  # type: ignore[override]
        return super().apply(module, name, mask=mask)


def _channel_mask(t: Tensor, dim: int, keep: np.ndarray, default_mask: Tensor) -> Tensor:
    """Ones in the channels ``keep`` selects along ``dim``, zeros elsewhere, times the mask so
    far."""
    mask = np.zeros(t.shape, dtype=t.dtype.numpy)
    index = [slice(None)] * t.ndim
    index[dim] = keep
    mask[tuple(index)] = 1
    return _like(mask * _array(default_mask).astype(mask.dtype), t)


def identity(module: Module, name: str) -> Module:
    """Prunes nothing, but makes ``module.<name>`` look pruned (``_orig``, an all-ones mask)."""
    Identity.apply(module, name)
    return module


def random_unstructured(module: Module, name: str, amount) -> Module:
    """Prunes ``amount`` random entries of ``module.<name>`` (an int count or a float
    fraction)."""
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module: Module, name: str, amount,
                    importance_scores: Optional[Tensor] = None) -> Module:
    """Prunes the ``amount`` entries of ``module.<name>`` of smallest absolute value (of
    ``importance_scores``, when given)."""
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module: Module, name: str, amount, dim: int) -> Module:
    """Prunes ``amount`` random channels of ``module.<name>`` along ``dim``."""
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module: Module, name: str, amount, n, dim: int,
                  importance_scores: Optional[Tensor] = None) -> Module:
    """Prunes the ``amount`` channels of ``module.<name>`` along ``dim`` of smallest
    ``n``-norm."""
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def global_unstructured(parameters, pruning_method, importance_scores=None, **kwargs) -> None:
    """Prunes the tensors ``(module, name)`` of ``parameters`` together, as one vector, with
    ``pruning_method(**kwargs)`` (an unstructured method, e.g. ``L1Unstructured`` with
    ``amount``): the smallest entries over all of them go, whichever tensor they are in.

        >>> import graphc
        >>> a, b = graphc.nn.Linear(2, 2), graphc.nn.Linear(2, 1)
        >>> global_unstructured([(a, "weight"), (b, "weight")], L1Unstructured, amount=3)
        >>> int(a.weight_mask.sum().item() + b.weight_mask.sum().item())
        3
    """
    if not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured(): parameters is not an Iterable")
    parameters = list(parameters)
    importance_scores = importance_scores if importance_scores is not None else {}
    if not isinstance(importance_scores, dict):
        raise TypeError("global_unstructured(): importance_scores must be of type dict")
    with autograd.no_grad():
        scores = parameters_to_vector([importance_scores.get((module, name),
                                                             getattr(module, name))
                                       for module, name in parameters])
        default_mask = parameters_to_vector([
            getattr(module, name + "_mask", None) if hasattr(module, name + "_mask")
            else ones_like(getattr(module, name)) for module, name in parameters])
    container = PruningContainer()
    container._tensor_name = "temp"
    method = pruning_method(**kwargs)
    method._tensor_name = "temp"
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError('Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. '
                        f"Found method {pruning_method} of type {method.PRUNING_TYPE}")
    container.add_pruning_method(method)
    final_mask = _array(container.compute_mask(scores, default_mask))
    pointer = 0
    for module, name in parameters:
        param = getattr(module, name)
        count = param.numel()
        piece = final_mask[pointer:pointer + count].reshape(param.shape)
        custom_from_mask(module, name, mask=_like(piece, default_mask))
        pointer += count


def custom_from_mask(module: Module, name: str, mask: Tensor) -> Module:
    """Prunes ``module.<name>`` where ``mask`` is 0."""
    CustomFromMask.apply(module, name, mask)
    return module


def remove(module: Module, name: str) -> Module:
    """Makes the pruning of ``module.<name>`` permanent: it is a parameter again, holding the
    pruned values, and the ``_orig`` parameter, the mask and the hook are gone."""
    table = _pre_hooks(module)
    for key, (hook, _) in list(table.items()):
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del table[key]
            return module
    raise ValueError(f"Parameter '{name}' of module {module} has to be pruned before pruning "
                     "can be removed")


def is_pruned(module: Module) -> bool:
    """Whether ``module`` or one of its submodules has a pruning hook."""
    return any(isinstance(hook, BasePruningMethod)
               for sub in module.modules() for hook, _ in _pre_hooks(sub).values())


def _validate_pruning_amount_init(amount) -> None:
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (
            not isinstance(amount, numbers.Integral)
            and (float(amount) > 1.0 or float(amount) < 0.0)):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a "
                         "non-negative integer")


def _validate_pruning_amount(amount, tensor_size: int) -> None:
    if isinstance(amount, numbers.Integral) and amount > tensor_size:
        raise ValueError(f"amount={amount} should be smaller than the number of parameters to "
                         f"prune={tensor_size}")


def _validate_structured_pruning(t: Tensor) -> None:
    if t.ndim <= 1:
        raise ValueError("Structured pruning can only be applied to multidimensional tensors. "
                         f"Found tensor of shape {tuple(t.shape)} with {t.ndim} dims")


def _compute_nparams_toprune(amount, tensor_size: int) -> int:
    if isinstance(amount, numbers.Integral):
        return int(amount)
    return round(amount * tensor_size)


def _validate_pruning_dim(t: Tensor, dim: int) -> None:
    if dim >= t.ndim:
        raise IndexError(f"Invalid index {dim} for tensor of size {tuple(t.shape)}")


def _compute_norm(values: np.ndarray, n, dim: int) -> np.ndarray:
    """The ``n``-norm of each channel of ``values`` along ``dim`` (``torch.norm(p=n)``)."""
    dim = dim % values.ndim
    flat = np.abs(np.moveaxis(values, dim, 0).reshape(values.shape[dim], -1)).astype(
        np.float64)
    if n == "fro":
        n = 2
    if n == np.inf:
        return flat.max(axis=1)
    if n == -np.inf:
        return flat.min(axis=1)
    if n == 0:
        return (flat != 0).sum(axis=1).astype(np.float64)
    if isinstance(n, str):
        raise ValueError(f"ln_structured: unsupported norm n={n!r} (a number, inf, -inf or "
                         "'fro' is expected)")
    return (flat ** n).sum(axis=1) ** (1.0 / n)
