"""Gradient transforms in JAX style: ``graphc.grad``, ``graphc.value_and_grad`` and
``torch.func``'s ``grad_and_value``.

They run eagerly on the autograd tape and compose with ``graphc.compile`` (the backward pass is
traced into the same graph) and with themselves (``grad(grad(f))``).

    >>> import graphc
    >>> f = lambda x: (x ** 3).sum()
    >>> graphc.grad(f)(graphc.tensor([2.0])).tolist()          # 3x^2
    [12.0]
    >>> graphc.grad(graphc.grad(f))(graphc.tensor(2.0)).item()  # 6x
    12.0
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Union

from graphc import autograd, pytree
from graphc.errors import AutogradError
from graphc.tensor import Tensor


def _differentiable_arg(x, position: int) -> tuple[Tensor, bool]:
    """The tensor to differentiate for argument ``position``, and whether it is nested (an outer
    transform already tracks it, so the gradient must stay differentiable)."""
    if not isinstance(x, Tensor):
        from graphc.factories import tensor
        x = tensor(x)
    if not x.dtype.is_float:
        raise AutogradError(f"grad: argument {position} has dtype {x.dtype}; only floating "
                            "point arguments can be differentiated")
    if x.requires_grad:
        # an outer transform tracks it: differentiate a node of its own (x * 1), so a function
        # that also captures x (grad(lambda y: (x * y).sum())(x)) sees two variables, not one
        with autograd.enable_grad():
            return x * 1, True
    return x.detach().requires_grad_(True), False


def refuse_changed_arguments(inputs: list, versions: list, who: str) -> None:
    """The function changed a differentiated argument in place: refused, as torch.func does
    (the gradient would be taken at the changed value, silently wrong)."""
    for i, (x, version) in enumerate(zip(inputs, versions)):
        if x._version != version:
            raise AutogradError(f"{who}: the function changed the argument it is "
                                f"differentiated with respect to (leaf {i}) in place; "
                                f"change a copy of it instead (x = x * 2)")


def reaches_captured(outputs, inputs) -> bool:
    """Whether ``outputs`` depend on tensors requiring grad besides ``inputs`` (parameters or
    outer variables the function captures): their gradients must then stay differentiable,
    as torch.func's do (a gradient penalty on a critic's weights; a grad nested in a grad
    over a variable the inner function captures)."""
    own = {id(t) for t in inputs}
    stop = {id(t._grad_fn) for t in inputs if t._grad_fn is not None}
    seen: set = set()
    stack = [t._grad_fn for t in outputs if isinstance(t, Tensor) and t._grad_fn is not None]
    stack += [t for t in outputs if isinstance(t, Tensor) and t._grad_fn is None
              and t.requires_grad and id(t) not in own]
    while stack:
        node = stack.pop()
        if isinstance(node, Tensor):  # a leaf
            if id(node) not in own and node.requires_grad:
                return True
            continue
        if id(node) in seen or id(node) in stop:
            continue
        seen.add(id(node))
        stack.extend(edge for edge in node.edges if edge is not None)
    return False


def detached(tree):
    """``tree`` with each tensor leaf detached (what a transform returns when no outer
    transform tracks its inputs: like torch.func, no internal history leaks out)."""
    leaves, structure = pytree.flatten(tree)
    return pytree.unflatten(structure, [x.detach() if isinstance(x, Tensor) else x
                                        for x in leaves])


def value_and_grad(fn: Callable, argnums: Union[int, Sequence[int]] = 0,
                   has_aux: bool = False) -> Callable:
    """Returns a function computing ``(fn(*args), gradient of fn w.r.t. args[argnums])``.

    ``fn`` must return a scalar tensor (or ``(scalar, aux)`` with ``has_aux=True``, giving
    ``((value, aux), grads)``). With a tuple ``argnums`` the gradients come as a tuple. An
    argument may be a pytree of tensors (e.g. a dict of parameters): its gradient is the same
    pytree.
    """
    single = isinstance(argnums, int)
    positions = (argnums,) if single else tuple(argnums)

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        args = list(args)
        for p in positions:
            if p >= len(args):
                raise AutogradError(f"grad: argnums {p} is out of range for {len(args)} "
                                    "positional arguments")
        nested = False
        inputs, trees = [], []
        for p in positions:  # an argument may be a pytree of tensors (a dict of parameters)
            leaves, tree = pytree.flatten(args[p])
            for i, leaf in enumerate(leaves):
                leaves[i], is_nested = _differentiable_arg(leaf, p)
                nested = nested or is_nested
            args[p] = pytree.unflatten(tree, leaves)
            inputs.extend(leaves)
            trees.append((tree, len(leaves)))
        versions = [x._version for x in inputs]
        with autograd.enable_grad():
            result = fn(*args, **kwargs)
        refuse_changed_arguments(inputs, versions, "grad")
        value, aux = result if has_aux else (result, None)
        if not isinstance(value, Tensor) or value.numel() != 1:
            shape = list(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise AutogradError(f"grad: the function must return a scalar tensor, got {shape}"
                                + ("" if has_aux else " (pass has_aux=True for (value, aux))"))
        nested = nested or reaches_captured([value], inputs)
        if value.requires_grad:
            grads = autograd.grad(value, inputs, create_graph=nested, allow_unused=True)
        else:  # the value does not depend on the arguments: zero gradients, as torch.func
            grads = [None] * len(inputs)
        from graphc.factories import zeros_like
        grads = [zeros_like(x) if g is None else g for x, g in zip(inputs, grads)]
        per_arg, start = [], 0
        for tree, count in trees:
            per_arg.append(pytree.unflatten(tree, grads[start:start + count]))
            start += count
        out_grads = per_arg[0] if single else tuple(per_arg)
        if not nested:
            value, aux = value.detach(), detached(aux)
        return ((value, aux) if has_aux else value), out_grads

    return wrapped


def grad(fn: Callable, argnums: Union[int, Sequence[int]] = 0, has_aux: bool = False) -> Callable:
    """Returns a function computing the gradient of scalar ``fn`` w.r.t. ``args[argnums]``."""
    vg = value_and_grad(fn, argnums, has_aux)

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        (value_aux, grads) = vg(*args, **kwargs)
        return (grads, value_aux[1]) if has_aux else grads

    return wrapped


def grad_and_value(fn: Callable, argnums: Union[int, Sequence[int]] = 0,
                   has_aux: bool = False) -> Callable:
    """``torch.func.grad_and_value``: like :func:`value_and_grad`, in torch's order:
    ``(grad, value)``, or ``(grad, (value, aux))`` with ``has_aux=True``.

        >>> import graphc
        >>> g, v = graphc.func.grad_and_value(lambda x: (x * x).sum())(graphc.tensor([3.0]))
        >>> g.tolist(), v.item()
        ([6.0], 9.0)
    """
    vg = value_and_grad(fn, argnums, has_aux)

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        value, grads = vg(*args, **kwargs)
        return grads, value

    return wrapped
