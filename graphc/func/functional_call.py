"""``functional_call``: call a module with other tensors in place of its parameters and buffers.

This is what makes module code work under function transforms: the parameters become ordinary
function arguments (``grad`` over a dict of them, ``vmap`` with ``in_dims=None`` for them).

    >>> import graphc
    >>> from graphc import nn
    >>> layer = nn.Linear(2, 1)
    >>> params = {"weight": graphc.tensor([[1.0, 2.0]]), "bias": graphc.tensor([0.5])}
    >>> graphc.func.functional_call(layer, params, (graphc.tensor([[3.0, 4.0]]),)).tolist()
    [[11.5]]
"""
from __future__ import annotations

from collections.abc import Mapping

from graphc.tensor import Tensor


def _slot(module, dotted: str):
    """The table (``_parameters`` or ``_buffers``) and key holding ``dotted`` in ``module``."""
    *path, leaf = dotted.split(".")
    owner = module
    for part in path:
        if part not in owner._modules:
            raise KeyError(f"functional_call: module has no submodule '{part}' (in '{dotted}')")
        owner = owner._modules[part]
    for table in (owner._parameters, owner._buffers):
        if leaf in table:
            return table, leaf
    raise KeyError(f"functional_call: '{dotted}' is not a parameter or buffer of the module; "
                   f"it has {sorted(name for name, _ in _named_state(module))}")


def _named_state(module):
    yield from module.named_parameters()
    yield from module.named_buffers()


def functional_call(module, parameter_and_buffer_dicts, args=(), kwargs=None, *,
                    strict: bool = False):
    """``module(*args, **kwargs)`` with the named tensors of ``parameter_and_buffer_dicts`` (a
    dict, or a tuple of dicts) standing in for its parameters and buffers, which are restored
    afterwards, like ``torch.func.functional_call``. ``strict=True`` requires every parameter
    and buffer to be given. A non-tuple ``args`` is the single positional argument."""
    dicts = (parameter_and_buffer_dicts if isinstance(parameter_and_buffer_dicts, (tuple, list))
             else (parameter_and_buffer_dicts,))
    replacements: dict = {}
    for d in dicts:
        if not isinstance(d, Mapping):
            raise TypeError(f"functional_call: expected a dict of tensors, got {type(d).__name__}")
        for name, value in d.items():
            if name in replacements:
                raise ValueError(f"functional_call: '{name}' is given in more than one dict")
            if not isinstance(value, Tensor):
                raise TypeError(f"functional_call: '{name}' must be a tensor, got "
                                f"{type(value).__name__}")
            replacements[name] = value
    if strict:
        missing = sorted(set(n for n, _ in _named_state(module)) - set(replacements))
        if missing:
            raise KeyError(f"functional_call(strict=True): missing {', '.join(missing)}")
    args = args if isinstance(args, tuple) else (args,)
    slots = [(_slot(module, name), value) for name, value in replacements.items()]
    saved = [(table, key, table[key]) for (table, key), _ in slots]
    try:
        for (table, key), value in slots:
            table[key] = value
        return module(*args, **(kwargs or {}))
    finally:
        for table, key, old in saved:
            table[key] = old
