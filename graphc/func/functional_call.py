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


def _tied(module, replacements: dict) -> dict:
    """``replacements`` with each tied name's partners given the same tensor (a different one
    given for two tied names is an error, as in PyTorch)."""
    names_of: dict[int, list[str]] = {}
    for name, tensor in [*module.named_parameters(remove_duplicate=False),
                         *module.named_buffers(remove_duplicate=False)]:
        names_of.setdefault(id(tensor), []).append(name)
    result = dict(replacements)
    for names in names_of.values():
        given = [n for n in names if n in replacements]
        if len(names) < 2 or not given:
            continue
        values = {id(replacements[n]) for n in given}
        if len(values) > 1:
            raise ValueError(f"functional_call got different values for the tied weights "
                             f"{', '.join(given)}; give one, or pass tie_weights=False")
        for name in names:
            result.setdefault(name, replacements[given[0]])
    return result


def _named_state(module):
    yield from module.named_parameters()
    yield from module.named_buffers()


def functional_call(module, parameter_and_buffer_dicts, args=(), kwargs=None, *,
                    tie_weights: bool = True, strict: bool = False):
    """``module(*args, **kwargs)`` with the named tensors of ``parameter_and_buffer_dicts`` (a
    dict, or a tuple of dicts) standing in for its parameters and buffers, which are restored
    afterwards, like ``torch.func.functional_call``. ``strict=True`` requires every parameter
    and buffer to be given. A non-tuple ``args`` is the single positional argument. With
    ``tie_weights`` (the default, as PyTorch's), a tensor given for one of several names of a
    tied parameter (an embedding shared with the output layer) stands in for all of them."""
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
    if tie_weights:
        replacements = _tied(module, replacements)
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


def stack_module_state(models) -> tuple[dict, dict]:
    """The parameters and buffers of same-shaped ``models`` stacked on a new first axis
    (``torch.func.stack_module_state``): for an ensemble run by ``vmap`` over
    ``functional_call``. The stacked parameters are new leaves requiring grad (as the models'
    do); buffers are stacked as they are.

        >>> import graphc
        >>> models = [graphc.nn.Linear(2, 3) for _ in range(4)]
        >>> params, buffers = stack_module_state(models)
        >>> params["weight"].shape, params["weight"].requires_grad
        ((4, 3, 2), True)
    """
    from graphc import autograd
    from graphc.functions import stack
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: expected at least one model")
    first = models[0]
    for i, model in enumerate(models[1:], 1):
        if type(model) is not type(first) or model.training != first.training:
            raise RuntimeError(f"stack_module_state: model {i} is a {type(model).__name__} in "
                               f"{'train' if model.training else 'eval'} mode; expected the "
                               f"same class and mode as model 0")
    with autograd.no_grad():
        params = {name: stack([dict(m.named_parameters())[name] for m in models])
                  for name, _ in first.named_parameters()}
        buffers = {name: stack([dict(m.named_buffers())[name] for m in models])
                   for name, _ in first.named_buffers()}
    for name, p in first.named_parameters():
        params[name].requires_grad_(p.requires_grad)
    return params, buffers
