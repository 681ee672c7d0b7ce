"""Parametrizations (``torch.nn.utils.parametrize``): a module's tensor computed from other
tensors by a module of its own, at every access.

    >>> import graphc
    >>> from graphc import nn
    >>> class Symmetric(nn.Module):
    ...     def forward(self, x):
    ...         return x.triu() + x.triu(1).mT
    >>> layer = nn.Linear(3, 3)
    >>> _ = register_parametrization(layer, "weight", Symmetric())
    >>> w = layer.weight
    >>> bool((w == w.mT).all()), list(layer.parametrizations.weight.original.shape)
    (True, [3, 3])

As in PyTorch, the module's class is swapped for a subclass with a property of that name,
which calls ``module.parametrizations[name]`` on the tensors it keeps (``original``, or
``original0``, ``original1``... when the parametrization's ``right_inverse`` returns several);
those are the parameters an optimizer updates and the state dict saves
(``parametrizations.weight.original``). Assigning the tensor (``layer.weight = w``) stores
``right_inverse(w)``. It compiles: the property runs as traced code.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

from graphc import autograd
from graphc.nn.container import ModuleDict, ModuleList
from graphc.nn.module import Module, Parameter
from graphc.tensor import Tensor

__all__ = ["register_parametrization", "remove_parametrizations", "is_parametrized",
           "ParametrizationList", "cached"]


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, applied in order, and the tensor(s) they start from
    (``original``, or ``original0``...: what ``right_inverse`` of the first one gave).

    Unless ``unsafe``, the parametrized tensor must keep the original's shape and dtype (checked
    before anything is changed, with PyTorch's messages); a ``right_inverse`` that returns one
    tensor may not change the dtype."""

    def __init__(self, modules: Sequence[Module], original: Tensor, unsafe: bool = False):
        super().__init__(modules)
        self.unsafe = unsafe
        new: Union[Tensor, Sequence[Tensor]] = original
        with autograd.no_grad():
            for module in reversed(list(self)):
                if hasattr(module, "right_inverse"):
                    try:
                        new = module.right_inverse(new)
                    except NotImplementedError:  # as PyTorch: taken as the identity
                        pass
        pieces = _checked_originals(original, new)
        if not unsafe:  # (before the original changes: a refused registration changes nothing)
            with autograd.no_grad():
                _check_same_space(self._apply_chain(pieces), original,
                                  "Registering a parametrization may not change the {what} of "
                                  "the tensor, unless `unsafe` flag is enabled.\n"
                                  "unparametrized {what}: {old}\nparametrized {what}: {new}")
        if isinstance(new, Tensor):
            self.is_tensor, self.ntensors = True, 1
            if new is not original:
                with autograd.no_grad():  # the same Parameter, so optimizers keep it
                    original.data = new.detach()
            _keep(self, "original", original)
        else:
            self.is_tensor, self.ntensors = False, len(pieces)
            for i, piece in enumerate(pieces):
                _keep(self, f"original{i}", piece, requires_grad=original.requires_grad,
                      parameter=isinstance(original, Parameter))

    def right_inverse(self, value: Tensor) -> None:
        """Stores ``value`` as the original(s), through the ``right_inverse`` of each
        parametrization in reverse order (each must have one, as in PyTorch). A value of
        another shape gives the original that shape, as PyTorch's ``set_`` does."""
        with autograd.no_grad():
            for module in reversed(list(self)):
                if not hasattr(module, "right_inverse"):
                    raise RuntimeError(f"parametrization {type(module).__name__} does not "
                                       "implement right_inverse.")
                value = module.right_inverse(value)
            if self.is_tensor:
                if not isinstance(value, Tensor):
                    raise ValueError(f"`right_inverse` should return a tensor. Got "
                                     f"{type(value).__name__}")
                _store(self.original, value, "The tensor returned by `right_inverse`", "`original`")
                return
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"'right_inverse' must return a sequence of tensors. Got "
                                 f"{type(value).__name__}.")
            if len(value) != self.ntensors:
                raise ValueError(f"'right_inverse' must return a sequence of tensors of length "
                                 f"{self.ntensors}. Got a sequence of length {len(value)}.")
            for i, piece in enumerate(value):
                if not isinstance(piece, Tensor):
                    raise ValueError(f"'right_inverse' must return a sequence of tensors. Got "
                                     f"element {i} of type {type(piece).__name__}.")
            for i, piece in enumerate(value):  # (all checked first: none stored, or all)
                _store(getattr(self, f"original{i}"), piece, f"Tensor {i} returned by "
                       "`right_inverse`", f"`original{i}`")

    def _apply_chain(self, originals: list[Tensor]):
        first, *rest = list(self)
        x = first(*originals)
        for module in rest:
            x = module(x)
        return x

    def forward(self) -> Tensor:
        if self.is_tensor:
            return self._apply_chain([self.original])
        return self._apply_chain([getattr(self, f"original{i}") for i in range(self.ntensors)])


def _checked_originals(original: Tensor, new) -> list[Tensor]:
    """What ``right_inverse`` gave at registration, as a list of tensors, checked as PyTorch
    does: a tensor of the original's dtype, or a sequence of tensors."""
    if isinstance(new, Tensor):
        if new.dtype != original.dtype:
            raise ValueError("When `right_inverse` outputs one tensor, it may not change the "
                             f"dtype.\noriginal.dtype: {original.dtype}\n"
                             f"right_inverse(original).dtype: {new.dtype}")
        return [new]
    if not isinstance(new, (list, tuple)):
        raise ValueError("'right_inverse' must return a Tensor or a Sequence of tensors (list, "
                         f"tuple...). Got {type(new).__name__}")
    for i, piece in enumerate(new):
        if not isinstance(piece, Tensor):
            raise ValueError("'right_inverse' must return a Tensor or a Sequence of tensors "
                             f"(list, tuple...). Got element {i} of the sequence with type "
                             f"{type(piece).__name__}.")
    return list(new)


def _check_same_space(result, reference: Tensor, message: str) -> None:
    """``result`` must be a tensor of ``reference``'s dtype and shape (``message`` is formatted
    with ``what``, ``old`` and ``new``)."""
    if not isinstance(result, Tensor):
        raise ValueError(f"A parametrization must return a tensor. Got {type(result).__name__}.")
    if result.dtype != reference.dtype:
        raise ValueError(message.format(what="dtype", old=reference.dtype, new=result.dtype))
    if result.shape != reference.shape:
        raise ValueError(message.format(what="shape", old=list(reference.shape),
                                        new=list(result.shape)))


def _store(original: Tensor, value: Tensor, what: str, name: str) -> None:
    """``original`` takes ``value`` (same dtype, as PyTorch requires): in place when the shapes
    agree (compiled code updates it as state), else rebound to the new shape (PyTorch's
    ``set_``; copy_ would have broadcast a smaller value silently)."""
    if value.dtype != original.dtype:
        raise ValueError(f"{what} has dtype {value.dtype} while {name} has dtype "
                         f"{original.dtype}")
    if value.shape == original.shape:
        original.copy_(value)
    else:
        original.data = value.detach().clone()


def _keep(owner: Module, name: str, tensor: Tensor, requires_grad: Optional[bool] = None,
          parameter: Optional[bool] = None) -> None:
    """``tensor`` as a parameter of ``owner`` if it is (or ``parameter`` says so), else a
    buffer."""
    if parameter is None:
        parameter = isinstance(tensor, Parameter)
    if parameter:
        if not isinstance(tensor, Parameter):
            tensor = Parameter(tensor.detach(), requires_grad=bool(requires_grad))
        owner.register_parameter(name, tensor)
    else:
        owner.register_buffer(name, tensor)


def inject_property(module: Module, name: str, value: property) -> None:
    """Gives ``module`` a class of its own (once: a subclass of its class) with the property
    ``name``: a tensor computed at each access, so compiled code computes it in its graph."""
    cls = type(module)
    if not getattr(cls, "_is_parametrized_class", False):
        cls = type(f"Parametrized{cls.__name__}", (cls,), {
            "_is_parametrized_class": True, "__module__": cls.__module__,
            "__getstate__": _refuse_pickling, "__deepcopy__": _deepcopy})
        object.__setattr__(module, "__class__", cls)
    setattr(cls, name, value)


def _refuse_pickling(self):
    # (its class is made at run time: pickle could not find it by name when loading)
    raise RuntimeError("Serialization of parametrized modules is only supported through "
                       "state_dict() (as in PyTorch)")


def _deepcopy(self, memo):
    """A copy of the module and its parametrizations (the class, made at run time, shared)."""
    import copy
    if id(self) in memo:
        return memo[id(self)]
    replica = self.__class__.__new__(self.__class__)
    memo[id(self)] = replica
    object.__setattr__(replica, "__dict__", copy.deepcopy(self.__dict__, memo))
    return replica


def restore_class(module: Module, name: str) -> None:
    """Removes the property ``name``; the module's own class comes back with the last one."""
    cls = type(module)
    delattr(cls, name)
    if not any(isinstance(v, property) for k, v in vars(cls).items()):
        object.__setattr__(module, "__class__", cls.__bases__[0])


def _inject_property(module: Module, name: str) -> None:
    def get(self) -> Tensor:
        return self.parametrizations[name]()

    def set_(self, value: Tensor) -> None:
        self.parametrizations[name].right_inverse(value)

    inject_property(module, name, property(get, set_))


def register_parametrization(module: Module, tensor_name: str, parametrization: Module, *,
                             unsafe: bool = False) -> Module:
    """Makes ``module.<tensor_name>`` the result of ``parametrization`` (a module) applied to
    the tensor it held (``torch.nn.utils.parametrize.register_parametrization``); a second
    call on the same name chains another parametrization after the first."""
    if not isinstance(parametrization, Module):
        raise TypeError(f"a parametrization must be a Module, got {type(parametrization).__name__}")
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        chain = module.parametrizations[tensor_name]
        if not unsafe:
            _check_chained(module, tensor_name, parametrization)
        chain.append(parametrization)
        chain.unsafe |= unsafe  # (as PyTorch: once unsafe, the chain stays unsafe)
        return module
    if tensor_name in module._parameters:
        original = module._parameters[tensor_name]
    elif tensor_name in module._buffers:
        original = module._buffers[tensor_name]
    else:
        raise ValueError(f"module '{type(module).__name__}' has no parameter or buffer with "
                         f"name '{tensor_name}'")
    if original is None:
        raise ValueError(f"cannot parametrize '{tensor_name}': it is None")
    # made first (it checks, unless unsafe): a refused parametrization leaves the module as it was
    parametrizations = ParametrizationList([parametrization], original, unsafe=unsafe)
    delattr(module, tensor_name)
    if "parametrizations" not in module._modules:
        module.parametrizations = ModuleDict()
    module.parametrizations[tensor_name] = parametrizations
    _inject_property(module, tensor_name)
    return module


def _check_chained(module: Module, tensor_name: str, parametrization: Module) -> None:
    """PyTorch's checks of a parametrization added to a chain: it and its ``right_inverse``
    map tensors of the parametrized tensor's shape and dtype to such tensors."""
    with autograd.no_grad():
        current = getattr(module, tensor_name)
        result = parametrization(current)
        _check_same_space(result, current,
                          "Registering a parametrization may not change the {what} of the "
                          "tensor, unless the `unsafe` flag is enabled.\n"
                          f"module.{tensor_name}.{{what}}: {{old}}\n"
                          f"parametrization(module.{tensor_name}).{{what}}: {{new}}")
        if not hasattr(parametrization, "right_inverse"):
            return
        try:
            back = parametrization.right_inverse(result)
        except NotImplementedError:
            return
    if not isinstance(back, Tensor):
        raise ValueError(f"parametrization.right_inverse must return a tensor. Got: "
                         f"{type(back).__name__}")
    _check_same_space(back, current,
                      "The tensor returned by parametrization.right_inverse must have the same "
                      f"{{what}} as module.{tensor_name}, unless the `unsafe` flag is enabled.\n"
                      f"module.{tensor_name}.{{what}}: {{old}}\nreturned {{what}}: {{new}}")


def is_parametrized(module: Module, tensor_name: Optional[str] = None) -> bool:
    """Whether ``module`` has a parametrization (of ``tensor_name``, if given)."""
    parametrizations = module._modules.get("parametrizations")
    if not isinstance(parametrizations, ModuleDict):
        return False
    return len(parametrizations) > 0 if tensor_name is None else tensor_name in parametrizations


def remove_parametrizations(module: Module, tensor_name: str,
                            leave_parametrized: bool = True) -> Module:
    """Removes the parametrizations of ``tensor_name``: it becomes a plain parameter again,
    holding the parametrized value (or, with ``leave_parametrized=False``, the original)."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"module '{type(module).__name__}' has no parametrization on "
                         f"'{tensor_name}'")
    chain = module.parametrizations[tensor_name]
    with autograd.no_grad():
        if leave_parametrized:
            value = getattr(module, tensor_name).detach()
        elif chain.is_tensor:
            value = chain.original.detach()
        else:
            raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor "
                             "that is parametrized in terms of a sequence of tensors.")
    was_parameter = isinstance(chain.original if chain.is_tensor else chain.original0, Parameter)
    restore_class(module, tensor_name)
    del module.parametrizations[tensor_name]
    if was_parameter:
        original = chain.original if chain.is_tensor else None
        if isinstance(original, Parameter):  # the same Parameter object, as PyTorch keeps it
            if leave_parametrized:
                with autograd.no_grad():
                    original.data = value
            module.register_parameter(tensor_name, original)
        else:
            module.register_parameter(tensor_name, Parameter(value))
    else:
        module.register_buffer(tensor_name, value)
    if not is_parametrized(module):
        del module.parametrizations
    return module


class cached:
    """``with parametrize.cached():`` PyTorch computes each parametrized tensor once inside;
    graphc computes it at each access (the same values: a context with no effect)."""

    def __enter__(self) -> cached:
        return self

    def __exit__(self, *exc) -> None:
        return None
