"""``vjp``, ``jvp`` and the Jacobians ``jacrev``, ``jacfwd``, ``hessian`` (``torch.func`` names).

Forward mode is derived from reverse mode by *transposing the VJP* (the double-VJP trick): for a
dummy cotangent ``u``, ``g(u) = J^T u`` is linear in ``u``, so differentiating ``<g(u), t>`` with
respect to ``u`` gives ``J t``. Every op's forward rule thus follows from its registry VJP, at
the cost of one extra backward pass. ``jacrev`` maps the VJP over the rows of an identity with
:func:`vmap`, ``jacfwd`` maps the JVP over its columns, and ``hessian`` is ``jacfwd(jacrev)``.

    >>> import graphc
    >>> from graphc.func import jvp, hessian
    >>> f = lambda x: (x ** 3).sum()
    >>> x = graphc.tensor([1.0, 2.0])
    >>> jvp(f, (x,), (graphc.tensor([1.0, 0.0]),))[1].item()   # 3 x0^2
    3.0
    >>> hessian(f)(x).tolist()                                   # diag(6 x)
    [[6.0, 0.0], [0.0, 12.0]]
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Union

import numpy as np

from graphc import autograd, pytree
from graphc.dispatch import apply
from graphc.errors import AutogradError
from graphc.func.batching import move_axis, reshape
from graphc.func.grad import (
    _differentiable_arg,
    detached,
    reaches_captured,
    refuse_changed_arguments,
)
from graphc.func.vmap import vmap
from graphc.tensor import Tensor


def _as_tensor_tree(tree_value, what: str):
    leaves, tree = pytree.flatten(tree_value)
    for i, leaf in enumerate(leaves):
        if not isinstance(leaf, Tensor):
            raise AutogradError(f"{what}: leaf {i} is a {type(leaf).__name__}, expected a tensor")
    return leaves, tree


def _zeros_like(x: Tensor) -> Tensor:
    from graphc.factories import zeros_like
    return zeros_like(x)


def _ones_like(x: Tensor) -> Tensor:
    from graphc.factories import ones_like
    return ones_like(x)


def _track(primals: tuple, what: str):
    """The primals' leaves, made differentiable; and whether an outer transform tracks them."""
    leaves, tree = _as_tensor_tree(primals, what)
    xs, nested = [], False
    for i, leaf in enumerate(leaves):
        x, is_nested = _differentiable_arg(leaf, i)
        xs.append(x)
        nested = nested or is_nested
    return xs, tree, nested


def _check_like(values: list, like: list, what: str) -> None:
    for i, (v, x) in enumerate(zip(values, like)):
        if tuple(v.shape) != tuple(x.shape):
            raise AutogradError(f"{what}: leaf {i} has shape {list(v.shape)}, expected "
                                f"{list(x.shape)} (the shape of the value it pairs with)")


def _pull_back(outs: list, cotangents: list, xs: list, create_graph: bool) -> list:
    """``J^T v`` for each of ``xs`` (zeros where an input does not reach the outputs)."""
    pairs = [(o, c) for o, c in zip(outs, cotangents) if o.requires_grad]
    grads = [None] * len(xs)
    if pairs:
        grads = autograd.grad([o for o, _ in pairs], xs, grad_outputs=[c for _, c in pairs],
                              retain_graph=True, create_graph=create_graph, allow_unused=True)
    return [_zeros_like(x) if g is None else g for x, g in zip(xs, grads)]


def vjp(fn: Callable, *primals, has_aux: bool = False):
    """``(fn(*primals), vjp_fn)``; ``vjp_fn(cotangents)`` (shaped like the output) returns the
    tuple of ``J^T cotangents``, one per primal, like ``torch.func.vjp``. With ``has_aux=True``,
    ``fn`` returns ``(output, aux)`` and ``vjp`` returns ``(output, vjp_fn, aux)``.

        >>> import graphc
        >>> out, vjp_fn = graphc.func.vjp(lambda x: x * x, graphc.tensor([1.0, 3.0]))
        >>> vjp_fn(graphc.ones(2))[0].tolist()
        [2.0, 6.0]
    """
    xs, tree, nested = _track(primals, "vjp: primals")
    versions = [x._version for x in xs]
    with autograd.enable_grad():
        result = fn(*pytree.unflatten(tree, xs))
    refuse_changed_arguments(xs, versions, "vjp")
    out, aux = result if has_aux else (result, None)
    outs, out_tree = _as_tensor_tree(out, "vjp: output of fn")
    nested = nested or reaches_captured(outs, xs)

    def vjp_fn(cotangents):
        cts, ct_tree = _as_tensor_tree(cotangents, "vjp_fn: cotangents")
        if ct_tree != out_tree:
            raise AutogradError(f"vjp_fn: cotangents have structure {ct_tree}, but the output "
                                f"of fn has structure {out_tree}")
        _check_like(cts, outs, "vjp_fn: cotangent")
        create = nested or any(c.requires_grad for c in cts)
        return pytree.unflatten(tree, _pull_back(outs, cts, xs, create))

    if not nested:
        out, aux = detached(out), detached(aux)
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


def jvp(fn: Callable, primals: tuple, tangents: tuple, *, has_aux: bool = False):
    """``(fn(*primals), J tangents)``: forward-mode derivative, like ``torch.func.jvp``.

    ``primals`` and ``tangents`` are tuples of the same structure. Computed by transposing the
    VJP (see the module docstring), so it composes with ``grad``, ``vmap`` and compile.

        >>> import graphc
        >>> _, t = graphc.func.jvp(graphc.sin, (graphc.tensor([0.0]),), (graphc.tensor([2.0]),))
        >>> t.tolist()                                                   # cos(0) * 2
        [2.0]
    """
    if not isinstance(primals, tuple) or not isinstance(tangents, tuple):
        raise AutogradError("jvp: primals and tangents must be tuples, e.g. jvp(f, (x,), (t,))")
    xs, tree, nested = _track(primals, "jvp: primals")
    ts, t_tree = _as_tensor_tree(tangents, "jvp: tangents")
    if t_tree != tree:
        raise AutogradError(f"jvp: tangents have structure {t_tree}, primals {tree}")
    _check_like(ts, xs, "jvp: tangent")
    versions = [x._version for x in xs]
    with autograd.enable_grad():
        result = fn(*pytree.unflatten(tree, xs))
        refuse_changed_arguments(xs, versions, "jvp")
        out, aux = result if has_aux else (result, None)
        outs, out_tree = _as_tensor_tree(out, "jvp: output of fn")
        nested = nested or reaches_captured(outs, xs)
        # g(u) = J^T u for a dummy cotangent u; then J t = d<g(u), t>/du. u is ones, not zeros:
        # g is linear in u, but a rule may split u by sign (logcumsumexp sums its positive and
        # negative parts in log space) and so have a kink at u = 0
        us = [_ones_like(o).requires_grad_() if o.dtype.is_float else None for o in outs]
        routed = [(o, u) for o, u in zip(outs, us) if u is not None]
        gs = _pull_back([o for o, _ in routed], [u for _, u in routed], xs, create_graph=True)
        for g in gs:  # J^T u should be linear in u: a nonzero constant means a backward
            # that cannot be differentiated (once_differentiable): J t would come out 0
            if not g.requires_grad and not g.is_traced and g.numpy().any():
                raise AutogradError("jvp: the function's gradient cannot be differentiated "
                                    "(a custom Function with a once_differentiable backward?), "
                                    "and jvp differentiates it")
        pairs = [(g, t) for g, t in zip(gs, ts) if g.requires_grad]
        create = nested or any(t.requires_grad for t in ts)
        found = [None] * len(routed)
        if pairs:
            found = autograd.grad([g for g, _ in pairs], [u for _, u in routed],
                                  grad_outputs=[t for _, t in pairs], create_graph=create,
                                  allow_unused=True)
    it = iter(found)
    tangents_out = []
    for o, u in zip(outs, us):
        t = next(it) if u is not None else None
        tangents_out.append(_zeros_like(o) if t is None else t)
    if not nested:
        outs, aux = [o.detach() for o in outs], detached(aux)
    result = (pytree.unflatten(out_tree, outs), pytree.unflatten(out_tree, tangents_out))
    return (*result, aux) if has_aux else result


def _positions(argnums, nargs: int) -> tuple[tuple[int, ...], bool]:
    single = isinstance(argnums, int)
    positions = (argnums,) if single else tuple(argnums)
    for p in positions:
        if not -nargs <= p < nargs:
            raise AutogradError(f"argnums {p} is out of range for {nargs} positional arguments")
    return tuple(p % nargs for p in positions), single


def _basis(n: int, dtype, pieces: Sequence[tuple]) -> list:
    """The rows of the n x n identity, cut into one tensor ``[n, *shape]`` per piece's shape."""
    eye = np.eye(n, dtype=dtype.numpy)
    out, start = [], 0
    for shape in pieces:
        size = int(np.prod(shape, dtype=np.int64))
        out.append(Tensor._wrap(np.ascontiguousarray(eye[:, start:start + size]).reshape(n, *shape)))
        start += size
    return out


def jacrev(fn: Callable, argnums: Union[int, Sequence[int]] = 0, *, has_aux: bool = False,
           chunk_size: int | None = None) -> Callable:
    """The Jacobian of ``fn`` by reverse mode: ``vmap`` of its VJP over the output's basis.

    For an output of shape ``O`` and an argument of shape ``I`` the Jacobian has shape ``O + I``;
    tuple ``argnums`` give a tuple, pytree outputs a pytree of those (as ``torch.func.jacrev``).

        >>> import graphc
        >>> graphc.func.jacrev(lambda x: x * x)(graphc.tensor([1.0, 2.0])).tolist()
        [[2.0, 0.0], [0.0, 4.0]]
    """
    @functools.wraps(fn)
    def wrapped(*args):
        positions, single = _positions(argnums, len(args))

        def of_selected(*selected):
            full = list(args)
            for p, x in zip(positions, selected):
                full[p] = x
            return fn(*full)

        result = vjp(of_selected, *(args[p] for p in positions), has_aux=has_aux)
        out, vjp_fn = result[0], result[1]
        outs, out_tree = _as_tensor_tree(out, "jacrev: output of fn")
        n = sum(o.numel() for o in outs)
        dtype = outs[0].dtype if outs else None
        basis = pytree.unflatten(out_tree, _basis(n, dtype, [o.shape for o in outs]))
        rows = vmap(vjp_fn, chunk_size=chunk_size)(basis)  # per primal: [n, *x.shape]
        jacobians, start = [], 0
        def output_rows(r, o, start):  # (a primal may be a pytree: each of its leaves)
            leaves, tree = pytree.flatten(r)
            return pytree.unflatten(tree, [reshape(_rows(leaf, start, o.numel()),
                                                   (*o.shape, *leaf.shape[1:]))
                                           for leaf in leaves])

        for o in outs:  # each output's rows of every primal's Jacobian
            per_arg = [output_rows(r, o, start) for r in rows]
            jacobians.append(per_arg[0] if single else tuple(per_arg))
            start += o.numel()
        jac = pytree.unflatten(out_tree, jacobians)
        return (jac, result[2]) if has_aux else jac

    return wrapped


def _rows(x: Tensor, start: int, length: int) -> Tensor:
    if start == 0 and length == x.shape[0]:
        return x
    return apply("slice", [x], starts=[start] + [0] * (x.ndim - 1),
                 stops=[start + length, *x.shape[1:]], steps=[1] * x.ndim)


def jacfwd(fn: Callable, argnums: Union[int, Sequence[int]] = 0, *, has_aux: bool = False,
           randomness: str = "error") -> Callable:
    """The Jacobian of ``fn`` by forward mode: ``vmap`` of its JVP over each argument's basis.
    Same shapes as :func:`jacrev` (``O + I``); cheaper when the output is the larger side.

        >>> import graphc
        >>> graphc.func.jacfwd(lambda x: x.sum() * x)(graphc.tensor([1.0, 2.0])).tolist()
        [[4.0, 1.0], [2.0, 5.0]]
    """
    @functools.wraps(fn)
    def wrapped(*args):
        positions, single = _positions(argnums, len(args))
        per_arg, out_tree, aux = [], None, None
        for p in positions:
            # an argument may be a pytree of tensors (a dict of parameters): one Jacobian per
            # leaf, in the argument's structure, as jacrev's
            in_leaves, in_tree = pytree.flatten(args[p])
            per_leaf = []
            for j, x in enumerate(in_leaves):
                if not isinstance(x, Tensor):
                    from graphc.factories import tensor
                    x = tensor(x)

                def at(xj, p=p, j=j, in_leaves=in_leaves, in_tree=in_tree):
                    full, leaves = list(args), list(in_leaves)
                    leaves[j] = xj
                    full[p] = pytree.unflatten(in_tree, leaves)
                    return fn(*full)

                def push(t, x=x, at=at):
                    pushed = jvp(at, (x,), (t,), has_aux=has_aux)
                    return (pushed[1], pushed[2]) if has_aux else pushed[1]

                (basis,) = _basis(x.numel(), x.dtype, [x.shape])
                cols = vmap(push, randomness=randomness,
                            out_dims=(0, None) if has_aux else 0)(basis)
                if has_aux:
                    cols, aux = cols
                leaves, out_tree = pytree.flatten(cols)
                # [n, *O] -> [*O, n] -> [*O, *I]
                per_leaf.append([reshape(move_axis(c, 0, c.ndim - 1), (*c.shape[1:], *x.shape))
                                 for c in leaves])
            per_arg.append([pytree.unflatten(in_tree, [jac[i] for jac in per_leaf])
                            for i in range(len(per_leaf[0]))])
        jacobians = [per_arg[0][i] if single else tuple(a[i] for a in per_arg)
                     for i in range(len(per_arg[0]))]
        jac = pytree.unflatten(out_tree, jacobians)
        return (jac, aux) if has_aux else jac

    return wrapped


def hessian(fn: Callable, argnums: Union[int, Sequence[int]] = 0) -> Callable:
    """The Hessian of scalar ``fn``: ``jacfwd(jacrev(fn, argnums), argnums)``, shape ``I + I``.

        >>> import graphc
        >>> graphc.func.hessian(lambda x: (x[0] * x[1]) ** 2)(graphc.tensor([1.0, 2.0])).tolist()
        [[8.0, 8.0], [8.0, 2.0]]
    """
    return jacfwd(jacrev(fn, argnums), argnums)
