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
    (``original``, or ``original0``...: what ``right_inverse`` of the first one gave)."""

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
        if isinstance(new, Tensor):
            self.is_tensor, self.ntensors = True, 1
            if new is not original:
                with autograd.no_grad():  # the same Parameter, so optimizers keep it
                    original.data = new.detach()
            _keep(self, "original", original)
        else:
            self.is_tensor, self.ntensors = False, len(new)
            for i, piece in enumerate(new):
                _keep(self, f"original{i}", piece, requires_grad=original.requires_grad,
                      parameter=isinstance(original, Parameter))

    def right_inverse(self, value: Tensor) -> None:
        """Stores ``value`` as the original(s), through the ``right_inverse`` of each
        parametrization in reverse order."""
        with autograd.no_grad():
            for module in reversed(list(self)):
                if hasattr(module, "right_inverse"):
                    value = module.right_inverse(value)
                elif not self.unsafe and len(self) > 1:
                    raise RuntimeError(f"parametrization {type(module).__name__} does not "
                                       "implement right_inverse")
            if self.is_tensor:
                if not isinstance(value, Tensor):
                    raise ValueError("right_inverse must return a tensor for this "
                                     "parametrization")
                self.original.copy_(value)
            else:
                if len(value) != self.ntensors:
                    raise ValueError(f"right_inverse must return {self.ntensors} tensors, got "
                                     f"{len(value)}")
                for i, piece in enumerate(value):
                    getattr(self, f"original{i}").copy_(piece)

    def forward(self) -> Tensor:
        first, *rest = list(self)
        if self.is_tensor:
            x = first(self.original)
        else:
            x = first(*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for module in rest:
            x = module(x)
        return x


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
    if is_parametrized(module, tensor_name):
        module.parametrizations[tensor_name].append(parametrization)
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
    if not unsafe:
        with autograd.no_grad():
            result = parametrization(original) if not hasattr(parametrization, "right_inverse") \
                else None
        if result is not None and (result.shape != original.shape
                                   or result.dtype != original.dtype):
            raise ValueError(f"the parametrization changes the shape or dtype of "
                             f"'{tensor_name}' ({list(original.shape)} {original.dtype} -> "
                             f"{list(result.shape)} {result.dtype}); pass unsafe=True to allow it")
    delattr(module, tensor_name)
    if "parametrizations" not in module._modules:
        module.parametrizations = ModuleDict()
    module.parametrizations[tensor_name] = ParametrizationList([parametrization], original,
                                                               unsafe=unsafe)
    _inject_property(module, tensor_name)
    return module


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
            raise ValueError("cannot leave the original of a parametrization with several "
                             "tensors: use leave_parametrized=True")
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
