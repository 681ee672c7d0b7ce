"""Forward hooks of :class:`graphc.nn.Module`, as PyTorch's: a pre-hook sees (and may replace)
the arguments of ``forward``, a hook sees (and may replace) its result.

    >>> import graphc
    >>> layer = graphc.nn.Linear(2, 2)
    >>> seen = []
    >>> handle = layer.register_forward_hook(lambda m, args, out: seen.append(out.shape))
    >>> _ = layer(graphc.ones(3, 2)); handle.remove(); _ = layer(graphc.ones(1, 2))
    >>> seen
    [(3, 2)]

Inside a compiled function hooks run while tracing, like the rest of ``forward``: what they
compute is part of the graph, and adding or removing one retraces (the hook tables are read
and guarded like any attribute of the module).
"""
from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from graphc.nn.module_backward_hooks import has_backward_hooks, hooked_call

PRE_HOOKS, HOOKS = "_forward_pre_hooks", "_forward_hooks"
_next_id = itertools.count()


class RemovableHandle:
    """What ``register_*_hook`` returns: ``remove()`` unregisters the hook; as a context
    manager it removes it on exit."""

    def __init__(self, table: OrderedDict):
        self._table = table
        self.id = next(_next_id)

    def remove(self) -> None:
        self._table.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def add_hook(module, table_name: str, hook: Callable, prepend: bool, **flags) -> RemovableHandle:
    """Adds ``hook`` (with its calling ``flags``) to the module's table ``table_name``."""
    if not callable(hook):
        raise TypeError(f"a hook must be callable, got {type(hook).__name__}")
    table = module.__dict__.get(table_name)
    if table is None:
        table = OrderedDict()
        object.__setattr__(module, table_name, table)
    handle = RemovableHandle(table)
    table[handle.id] = (hook, flags)
    if prepend:
        table.move_to_end(handle.id, last=False)
    return handle


def has_hooks(module) -> bool:
    """Whether ``module`` has forward or backward hooks (its call goes through
    :func:`call_with_hooks`)."""
    state = module.__dict__
    return bool(state.get(PRE_HOOKS) or state.get(HOOKS) or has_backward_hooks(module))


def call_with_hooks(module, args: tuple, kwargs: dict) -> Any:
    """``module.forward(*args, **kwargs)`` between its pre-hooks and hooks, in PyTorch's order
    and with its rules for what a hook's result replaces; backward hooks are attached to the
    arguments after the pre-hooks and to the output after the hooks, as in PyTorch."""
    for hook, flags in list(module.__dict__.get(PRE_HOOKS, {}).values()):
        if flags["with_kwargs"]:
            result = hook(module, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError("a forward pre-hook registered with with_kwargs=True must "
                                       f"return None or a tuple (args, kwargs), got {result!r}")
                args, kwargs = result
        else:
            result = hook(module, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
    backward = hooked_call(module, args)
    if backward is not None:
        args = backward.wrapped_args
    post = list(module.__dict__.get(HOOKS, {}).values())
    try:
        output = module.forward(*args, **kwargs)
    except Exception:
        for hook, flags in post:  # always_call hooks run even when forward raised
            if flags["always_call"]:
                _run_hook(module, hook, flags, args, kwargs, None)
        raise
    for hook, flags in post:
        result = _run_hook(module, hook, flags, args, kwargs, output)
        if result is not None:
            output = result
    return output if backward is None else backward.wrap_output(output)


def _run_hook(module, hook, flags, args, kwargs, output):
    if flags["with_kwargs"]:
        return hook(module, args, kwargs, output)
    return hook(module, args, output)
