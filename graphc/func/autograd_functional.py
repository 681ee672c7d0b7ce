"""``graphc.autograd.functional``: ``torch.autograd.functional``'s higher-order derivatives.

``jacobian``, ``hessian``, ``vjp``, ``jvp``, ``hvp`` and ``vhp`` with torch's signatures and
output structure: ``inputs`` is a tensor or a tuple of tensors, and results come as a tensor or
as tuples (nested tuples for a tuple of outputs and a tuple of inputs). Results are detached
unless ``create_graph=True``. ``vectorize=True`` computes Jacobian rows with ``vmap`` (one
batched backward pass) instead of one backward pass per row; both give the same numbers.

    >>> import graphc
    >>> from graphc.autograd.functional import jacobian, hessian
    >>> jacobian(lambda x: x ** 2, graphc.tensor([1.0, 3.0])).tolist()
    [[2.0, 0.0], [0.0, 6.0]]
    >>> hessian(lambda x, y: (x * y).sum(), (graphc.tensor([1.0]), graphc.tensor([2.0])))[0][1]
    tensor([[1.]])
"""
from __future__ import annotations

from collections.abc import Callable

from graphc import autograd
from graphc.errors import AutogradError
from graphc.func.batching import reshape
from graphc.func.vmap import vmap
from graphc.tensor import Tensor


def _as_tuple(value, what: str, fn_name: str) -> tuple[bool, tuple]:
    """(was a tuple, the values as a tuple); every value must be a tensor."""
    is_tuple = isinstance(value, (tuple, list))
    values = tuple(value) if is_tuple else (value,)
    for i, v in enumerate(values):
        if not isinstance(v, Tensor):
            raise TypeError(f"The {what} given to {fn_name} must be either a Tensor or a tuple of "
                            f"Tensors but the value at index {i} has type {type(v).__name__}.")
    return is_tuple, values


def _prepare(inputs: tuple, create_graph: bool) -> tuple:
    out = []
    for i, x in enumerate(inputs):
        if not x.dtype.is_float:
            raise AutogradError(f"input {i} has dtype {x.dtype}; only floating point inputs can "
                                "be differentiated")
        if create_graph and x.requires_grad:
            out.append(x)  # results stay differentiable with respect to x itself
        else:
            out.append(x.detach().requires_grad_(True))
    return tuple(out)


def _zeros_like(x):
    from graphc.factories import zeros_like
    return zeros_like(x)


def _grads(outputs, inputs, grad_outputs, create_graph: bool, strict: bool, what: str) -> tuple:
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    grads = [None] * len(inputs)
    if pairs:
        grads = autograd.grad([o for o, _ in pairs], list(inputs),
                              grad_outputs=[g for _, g in pairs], retain_graph=True,
                              create_graph=create_graph, allow_unused=True)
    if strict:
        for i, g in enumerate(grads):
            if g is None:
                raise RuntimeError(f"The output of the user-provided function is independent of "
                                   f"input {i}. This is not allowed in strict mode ({what}).")
    return tuple(_zeros_like(x) if g is None else g for x, g in zip(inputs, grads))


def _finish(values: tuple, create_graph: bool) -> tuple:
    return values if create_graph else tuple(v.detach() for v in values)


def _default_v(v, outputs: tuple, what: str, fn_name: str) -> tuple:
    if v is None:
        if len(outputs) != 1 or outputs[0].numel() != 1:
            raise RuntimeError(f"The vector v can only be None if the {what} of the user-provided "
                               f"function is a single Tensor with a single element ({fn_name}).")
        from graphc.factories import ones_like
        return (ones_like(outputs[0]),)
    _, vs = _as_tuple(v, "v", fn_name)
    if len(vs) != len(outputs):
        raise RuntimeError(f"v has {len(vs)} tensors but the {what} has {len(outputs)} ({fn_name})")
    for i, (a, b) in enumerate(zip(vs, outputs)):
        if tuple(a.shape) != tuple(b.shape):
            raise RuntimeError(f"Mismatch in shape: entry {i} of v has shape {list(a.shape)} but "
                               f"the {what} has shape {list(b.shape)} ({fn_name})")
    return vs


def _call(func: Callable, inputs: tuple, fn_name: str) -> tuple[bool, tuple]:
    with autograd.enable_grad():
        return _as_tuple(func(*inputs), "outputs of the user-provided function", fn_name)


def vjp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), v^T J)``; the VJP has the structure of ``inputs``."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "vjp")
    xs = _prepare(xs, create_graph)
    out_tuple, outs = _call(func, xs, "vjp")
    vs = _default_v(v, outs, "output", "vjp")
    result = _finish(_grads(outs, xs, vs, create_graph, strict, "vjp"), create_graph)
    outs = _finish(outs, create_graph)
    return (outs if out_tuple else outs[0]), (result if in_tuple else result[0])


def jvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), J v)``; the JVP has the structure of the outputs (double-VJP trick)."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "jvp")
    xs = _prepare(xs, create_graph)
    vs = _default_v(v, xs, "input", "jvp")
    out_tuple, outs = _call(func, xs, "jvp")
    with autograd.enable_grad():
        # (a dummy cotangent of ones, not zeros: a rule may split it by sign, logcumsumexp's
        # does, with a kink at 0 that gave zeros; as func.jvp)
        us = tuple((_zeros_like(o) + 1).detach().requires_grad_(True) for o in outs)
        gs = _grads(outs, xs, us, True, strict, "jvp")
        result = _grads(gs, us, vs, create_graph, False, "jvp")
    result, outs = _finish(result, create_graph), _finish(outs, create_graph)
    return (outs if out_tuple else outs[0]), (result if out_tuple else result[0])


def jacobian(func: Callable, inputs, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: for output ``i`` and input ``j`` a tensor of shape
    ``outputs[i].shape + inputs[j].shape``, nested in tuples as the outputs and inputs are."""
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(f"jacobian: strategy must be 'reverse-mode' or 'forward-mode', got "
                         f"{strategy!r}")
    in_tuple, xs = _as_tuple(inputs, "inputs", "jacobian")
    xs = _prepare(xs, create_graph)
    out_tuple, outs = _call(func, xs, "jacobian")
    rows = []  # per output: per input a [n_out, *x.shape] tensor
    for o in outs:
        n = o.numel()
        if n == 0:
            rows.append(tuple(reshape(_zeros_like(x), (0, *x.shape)) for x in xs))
            continue
        basis = _identity_rows(o)

        def row(e, o=o):
            return _grads((o,), xs, (e,), create_graph, strict, "jacobian")

        if vectorize:
            rows.append(vmap(row)(basis))
        else:
            per_row = [row(basis[k]) for k in range(n)]
            from graphc.functions import stack
            rows.append(tuple(stack([r[j] for r in per_row]) for j in range(len(xs))))
    jac = tuple(tuple(_finish(tuple(reshape(r, (*o.shape, *x.shape)) for r, x in zip(per, xs)),
                              create_graph)) for per, o in zip(rows, outs))
    jac = tuple(j if in_tuple else j[0] for j in jac)
    return jac if out_tuple else jac[0]


def _identity_rows(o: Tensor) -> Tensor:
    """``[n, *o.shape]``: row k is the k-th unit cotangent for ``o``."""
    from graphc.factories import eye
    return reshape(eye(o.numel(), dtype=o.dtype), (o.numel(), *o.shape))


def _scalar_output(func: Callable, fn_name: str) -> Callable:
    def wrapped(*xs):
        out = func(*xs)
        if not isinstance(out, Tensor) or out.numel() != 1:
            shape = list(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise RuntimeError(f"The function given to {fn_name} should return a single "
                               f"Tensor with a single element, got {shape}")
        return out
    return wrapped


def hessian(func: Callable, inputs, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of scalar ``func``: ``H[i][j]`` of shape ``inputs[i].shape + inputs[j].shape``
    (a single tensor for a single input)."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "hessian")
    scalar = _scalar_output(func, "hessian")

    def gradient(*ys):
        out = scalar(*ys)
        grads = _grads((out,), ys, (_ones(out),), True, strict, "hessian")
        return tuple(reshape(g, y.shape) for g, y in zip(grads, ys))

    h = jacobian(gradient, xs, create_graph=create_graph, strict=strict, vectorize=vectorize)
    return h if in_tuple else h[0][0]


def _ones(x):
    from graphc.factories import ones_like
    return ones_like(x)


def vhp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), v^T H)`` for scalar ``func``; the product has the structure of inputs."""
    return _hessian_product(func, inputs, v, create_graph, strict, "vhp")


def hvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), H v)`` for scalar ``func``. The Hessian of a twice continuously
    differentiable function is symmetric, so this is ``v^T H`` computed by double backward."""
    return _hessian_product(func, inputs, v, create_graph, strict, "hvp")


def _hessian_product(func, inputs, v, create_graph, strict, fn_name):
    in_tuple, xs = _as_tuple(inputs, "inputs", fn_name)
    xs = _prepare(xs, create_graph)
    vs = _default_v(v, xs, "input", fn_name)
    with autograd.enable_grad():
        out = _scalar_output(func, fn_name)(*xs)
        grads = _grads((out,), xs, (_ones(out),), True, strict, fn_name)
        dot = sum(((g * u).sum() for g, u in zip(grads, vs)), start=_zeros_like(out).sum())
        result = _grads((dot,), xs, (_ones(dot),), create_graph, strict, fn_name)
    result = _finish(result, create_graph)
    out = out if create_graph else out.detach()
    return out, (result if in_tuple else result[0])
