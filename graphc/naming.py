"""Readable names for the state a compiled function reads (``model.0.weight``, ``opt.state...``).

Names come from the variables the function refers to (its closure and the globals it names):
modules contribute their parameter and buffer names, optimizers their state, tensors their own
variable name.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional


def _has(obj, name: str) -> bool:
    """``hasattr`` for any object: a user class whose ``__getattr__`` raises KeyError for a
    missing name has none (naming is best effort; it must not break a compile)."""
    try:
        return hasattr(obj, name)
    except Exception:
        return False


def _referenced_variables(fn) -> dict[str, Callable[[], object]]:
    """The variables ``fn`` refers to, each with a getter reading its *current* value."""
    found: dict[str, Callable[[], object]] = {}
    self_obj = getattr(fn, "__self__", None)
    if self_obj is not None:
        found["self"] = lambda: self_obj
        fn = getattr(fn, "__func__", fn)
    if hasattr(fn, "named_parameters"):  # compile(model): the module itself
        module = fn
        found["model"] = lambda: module
        fn = type(fn).forward
    code = getattr(fn, "__code__", None)
    if code is None:
        return found
    for name, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or ()):
        found[name] = lambda cell=cell: cell.cell_contents
    globals_ = getattr(fn, "__globals__", {})
    for name in code.co_names:
        if name in globals_:
            found.setdefault(name, lambda name=name: globals_[name])
    return found


def _referenced_objects(fn) -> dict[str, object]:
    objects = {}
    for name, get in _referenced_variables(fn).items():
        try:
            objects[name] = get()
        except (ValueError, KeyError):  # an empty closure cell, a deleted global
            pass
    return objects


def _names_of_state(fn) -> dict[int, str]:
    from graphc.tensor import Tensor
    names: dict[int, str] = {}
    objects = _referenced_objects(fn)

    def join(prefix, name):
        return f"{prefix}.{name}" if prefix else name

    for var, obj in objects.items():
        if isinstance(obj, Tensor):
            names.setdefault(id(obj), var)
        elif (not isinstance(obj, type)  # a module class (its methods are unbound)
              and _has(obj, "named_parameters") and _has(obj, "named_buffers")):
            for name, t in obj.named_parameters():
                names.setdefault(id(t), join(var, name))
            for name, t in obj.named_buffers():
                names.setdefault(id(t), join(var, name))
            if _has(obj, "named_modules"):
                for name, module in obj.named_modules():
                    names.setdefault(id(module), join(var, name))
    for var, obj in objects.items():
        if _has(obj, "param_groups") and isinstance(getattr(obj, "state", None), dict):
            names.setdefault(id(obj), var)
            for param, state in obj.state.items():
                base = names.get(id(param), "param")
                for key, value in state.items():
                    if isinstance(value, Tensor):
                        names.setdefault(id(value), f"{var}.state.{base}.{key}")
    return names


def state_namer(fn) -> Callable[[object], Optional[str]]:
    """A function mapping a tensor (or module) to its name in ``fn``'s world, or None.

    State created while tracing (optimizer buffers made on the first step) is found by looking
    again on a miss.
    """
    names = _names_of_state(fn)

    def name_of(tensor) -> Optional[str]:
        if id(tensor) not in names:
            names.update(_names_of_state(fn))
        return names.get(id(tensor))

    return name_of
