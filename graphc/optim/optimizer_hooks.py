"""Hooks of optimizers, as PyTorch's: around ``step`` (``register_step_pre_hook``,
``register_step_post_hook``, and the global ``register_optimizer_step_pre_hook`` /
``_post_hook`` of ``graphc.optim.optimizer``) and around state dicts.

    >>> import graphc
    >>> w = graphc.nn.Parameter(graphc.ones(2))
    >>> opt = graphc.optim.SGD([w], lr=0.1)
    >>> steps = []
    >>> handle = opt.register_step_post_hook(lambda opt, args, kwargs: steps.append(1))
    >>> w.grad = graphc.ones(2); opt.step(); handle.remove(); opt.step()
    >>> steps
    [1]

Inside a compiled function the hooks run as the step is traced, so what they compute is part
of the graph; adding or removing one retraces (the hooks in place are guarded).
"""
from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable

from graphc import tracing
from graphc.errors import ArgumentTypeError
from graphc.nn.module_hooks import RemovableHandle

_global_step_pre_hooks: OrderedDict = OrderedDict()
_global_step_post_hooks: OrderedDict = OrderedDict()
_stepping: set[int] = set()  # optimizers inside a hooked step (a subclass calling super().step)

__all__ = ["register_optimizer_step_pre_hook", "register_optimizer_step_post_hook"]


def _add(table: OrderedDict, hook: Callable, prepend: bool = False) -> RemovableHandle:
    if not callable(hook):
        raise ArgumentTypeError(f"a hook must be callable, got {type(hook).__name__}")
    handle = RemovableHandle(table)
    table[handle.id] = hook
    if prepend:
        table.move_to_end(handle.id, last=False)
    return handle


def register_optimizer_step_pre_hook(hook: Callable) -> RemovableHandle:
    """``hook(optimizer, args, kwargs)`` before every optimizer's ``step``; it may return new
    ``(args, kwargs)``."""
    return _add(_global_step_pre_hooks, hook)


def register_optimizer_step_post_hook(hook: Callable) -> RemovableHandle:
    """``hook(optimizer, args, kwargs)`` after every optimizer's ``step``."""
    return _add(_global_step_post_hooks, hook)


def own_table(optimizer, name: str) -> OrderedDict:
    table = optimizer.__dict__.get(name)
    if table is None:
        table = OrderedDict()
        optimizer.__dict__[name] = table
    return table


def _step_hooks(optimizer) -> tuple[list, list]:
    """The (pre, post) step hooks to run, in PyTorch's order: the global pre-hooks before the
    optimizer's own, its own post-hooks before the global ones."""
    own = optimizer.__dict__
    return ([*_global_step_pre_hooks.values(),
             *own.get("_optimizer_step_pre_hooks", {}).values()],
            [*own.get("_optimizer_step_post_hooks", {}).values(),
             *_global_step_post_hooks.values()])


def _step_hook_ids(optimizer) -> tuple[int, ...]:
    pre, post = _step_hooks(optimizer)
    return tuple(map(id, pre + post))


def running_step_hooks(step: Callable) -> Callable:
    """``step`` with the step hooks around it (once, for the outermost hooked ``step`` of a
    call: a subclass's step calling ``super().step()`` runs them once)."""
    @functools.wraps(step)
    def hooked(self, *args, **kwargs):
        if id(self) in _stepping:
            return step(self, *args, **kwargs)
        pre, post = _step_hooks(self)
        ctx = tracing.current()
        if ctx is not None:  # a hook added after the trace would not run: retrace then
            ctx.guard(f"{type(self).__name__}'s step hooks are {len(pre)} and {len(post)}",
                      lambda: _step_hook_ids(self), tuple(map(id, pre + post)), owner=self)
        if not pre and not post:
            return step(self, *args, **kwargs)
        _stepping.add(id(self))
        try:
            for hook in pre:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(f"an optimizer step pre-hook must return None or a "
                                           f"tuple (args, kwargs), got {result!r}")
                    args, kwargs = result
            out = step(self, *args, **kwargs)
            for hook in post:
                hook(self, args, kwargs)
        finally:
            _stepping.discard(id(self))
        return out

    hooked._runs_step_hooks = True  # type: ignore[attr-defined]
    return hooked
