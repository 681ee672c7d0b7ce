"""``vmap``: map a function over a batch axis, running each op once on the whole batch.

How it works: ``vmap(fn)(*args)`` traces ``fn`` on one example (the arguments without their
batch axis) into an IR graph, then replays the graph node by node through the batching rules of
:mod:`graphc.func.batching`, on the real arguments. Values that do not depend on a batched
argument stay unbatched and are computed once. The replay is made of ordinary tensor ops, so it
is recorded by eager autograd (``grad(vmap(f))``) and traced by an enclosing ``graphc.compile``
or ``vmap`` (nested vmap); since the trace of ``fn`` may itself contain a backward pass,
``vmap(grad(f))`` gives per-example gradients.

Like ``torch.func.vmap``, the function must not branch on tensor *values* (shapes are fine) and
must not change captured tensors in place. Tensors it reads from closures or keyword arguments
are unbatched. Each op is replayed in the grad mode it was traced in, so ``no_grad`` and
``detach`` inside ``fn`` keep their meaning.

    >>> import graphc
    >>> x = graphc.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> graphc.vmap(lambda row: (row * row).sum())(x).tolist()
    [5.0, 25.0]
    >>> w = graphc.tensor([10.0, 1.0])
    >>> graphc.vmap(lambda a, b: a @ b, in_dims=(1, None))(x, w).tolist()   # over columns
    [13.0, 24.0]
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

import ir
from graphc import autograd, functions, pytree, tracing
from graphc.dispatch import apply
from graphc.errors import GraphcError, TraceError
from graphc.func.batching import batch_op, is_random, move_axis, with_batch
from graphc.random import next_seed
from graphc.tensor import Tensor


class VmapError(GraphcError, ValueError):
    """A vmap argument that does not fit (``in_dims``, ``out_dims``, batch sizes), like
    ``torch.func``'s ValueError."""


class VmapRandomnessError(GraphcError, RuntimeError):
    """A random op inside ``vmap(..., randomness='error')``."""


RANDOMNESS = ("error", "different", "same")


def vmap(fn: Callable, in_dims: Any = 0, out_dims: Any = 0, randomness: str = "error",
         *, chunk_size: int | None = None) -> Callable:
    """Vectorizes ``fn`` over axis ``in_dims`` of its arguments, like ``torch.func.vmap``.

    ``in_dims``: an int (every positional argument is mapped over that axis), ``None`` (not
    mapped), or a tuple with one entry per positional argument, each an int, None or a pytree of
    them matching that argument (an int there stands for a whole subtree; a dict's keys in the
    argument's order, as PyTorch pairs dict entries by position). ``out_dims`` says where the
    batch axis goes in each output (an int, or a pytree matching the outputs). ``randomness``:
    ``'error'`` (random ops raise), ``'different'`` (each example draws its own numbers) or
    ``'same'`` (one draw shared by the batch). ``chunk_size`` maps that many examples at a time
    (less memory, same result).

        >>> import graphc
        >>> batched_dot = graphc.vmap(graphc.dot)
        >>> batched_dot(graphc.ones(3, 4), graphc.ones(3, 4)).tolist()
        [4.0, 4.0, 4.0]
    """
    if randomness not in RANDOMNESS:
        raise VmapError(f"vmap: randomness must be one of {RANDOMNESS}, got {randomness!r}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise VmapError(f"vmap: chunk_size must be a positive int or None, got {chunk_size!r}")

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        leaves, tree = pytree.flatten(args)
        dims = _leaf_dims(in_dims, args, leaves)
        size = _batch_size(leaves, dims)
        if chunk_size is None or chunk_size >= size:
            return _vmap_call(fn, tree, leaves, dims, size, kwargs, out_dims, randomness)
        outputs = []
        from graphc import random as grandom
        # randomness="same": every chunk draws what the first did (the generator's state
        # restored before each, as PyTorch does), else chunks gave different numbers
        same = randomness == "same" and tracing.current() is None
        state = grandom.default_generator.get_state() if same else None
        for start in range(0, size, chunk_size):
            length = min(chunk_size, size - start)
            part = [x if d is None else _narrow(x, d, start, length) for x, d in zip(leaves, dims)]
            if state is not None:
                grandom.default_generator.set_state(state)
            outputs.append(_vmap_call(fn, tree, part, dims, length, kwargs, out_dims, randomness))
        return _concat_chunks(outputs, out_dims)

    return wrapped


# -- arguments -----------------------------------------------------------------------------------
def _leaf_dims(in_dims, args: tuple, leaves: list) -> list:
    """One mapped axis (or None) per argument leaf, from ``in_dims`` (a prefix pytree of args)."""
    if isinstance(in_dims, (int, type(None))):
        dims = [in_dims] * len(leaves)
    elif isinstance(in_dims, (tuple, list)):
        if len(in_dims) != len(args):
            raise VmapError(f"vmap: in_dims has {len(in_dims)} entries but the function got "
                            f"{len(args)} positional arguments; give one entry per argument")
        dims = []
        for i, (dim, arg) in enumerate(zip(in_dims, args)):
            dims.extend(_broadcast_prefix(dim, arg, f"in_dims[{i}]"))
    else:
        raise VmapError(f"vmap: in_dims must be an int, None or a tuple, got "
                        f"{type(in_dims).__name__}")
    for i, (x, d) in enumerate(zip(leaves, dims)):
        if d is None:
            continue
        if not isinstance(d, int):
            raise VmapError(f"vmap: in_dims entries must be int or None, got {d!r}")
        if not isinstance(x, Tensor):
            raise VmapError(f"vmap: got in_dim={d} for argument leaf {i}, a "
                            f"{type(x).__name__}; only tensors can be mapped (use None for it)")
        if not -x.ndim <= d < x.ndim:
            raise VmapError(f"vmap: in_dim={d} is out of range for argument leaf {i} of shape "
                            f"{list(x.shape)} (it has {x.ndim} dimension(s))")
    return dims


def _broadcast_prefix(dims, obj, where: str) -> list:
    """``dims`` (an int/None, or a pytree prefix of ``obj``: an int/None there stands for the
    whole subtree) as one entry per leaf of ``obj``. A dict of ``dims`` must have the keys of
    the dict it describes, in the same order where the order matters: PyTorch's vmap pairs a
    dict's entries by position (each dict flattened in its own insertion order), not by key,
    so matching by key would give another result than PyTorch's, silently."""
    if isinstance(dims, (int, type(None))):
        return [dims] * len(pytree.flatten(obj)[0])
    if isinstance(dims, dict) and isinstance(obj, dict):
        if set(dims) != set(obj):
            raise VmapError(f"vmap: {where} has keys {sorted(map(repr, dims))} but the dict it "
                            f"describes has keys {sorted(map(repr, obj))}")
        if [dims[key] for key in obj] != list(dims.values()):
            # pairing by position and by key differ (same values in another order agree)
            raise VmapError(f"vmap: {where} lists its keys in the order {list(dims)} but the "
                            f"dict it describes has them in the order {list(obj)}; PyTorch's "
                            f"vmap pairs dict entries by position, not by key, so write "
                            f"{where}'s keys in the order of the dict it describes")
        return [d for key in obj for d in _broadcast_prefix(dims[key], obj[key],
                                                              f"{where}[{key!r}]")]
    if type(dims) is type(obj) and type(obj) in (list, tuple):
        if len(dims) != len(obj):
            raise VmapError(f"vmap: {where} has {len(dims)} entries but the {type(obj).__name__} "
                            f"it describes has {len(obj)}")
        return [d for i, (dim, item) in enumerate(zip(dims, obj))
                for d in _broadcast_prefix(dim, item, f"{where}[{i}]")]
    leaves, tree = pytree.flatten(obj)
    dim_leaves, dim_tree = pytree.flatten(dims)
    if dim_tree != tree:
        raise VmapError(f"vmap: {where} has structure {dim_tree} but the value it describes has "
                        f"structure {tree}")
    return dim_leaves


def _batch_size(leaves: list, dims: list) -> int:
    sizes = {x.shape[d] for x, d in zip(leaves, dims) if d is not None}
    if not sizes:
        raise VmapError("vmap: in_dims maps no tensor argument (all None); at least one input "
                        "must be mapped")
    if len(sizes) > 1:
        detail = ", ".join(f"argument leaf {i}: {x.shape[d]} (in_dim={d})"
                           for i, (x, d) in enumerate(zip(leaves, dims)) if d is not None)
        raise VmapError("vmap: expected all mapped tensors to have the same size in the mapped "
                        f"dimension, got {detail}")
    return sizes.pop()


def _narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    dim = dim % x.ndim
    starts, stops = [0] * x.ndim, list(x.shape)
    starts[dim], stops[dim] = start, start + length
    return apply("slice", [x], starts=starts, stops=stops, steps=[1] * x.ndim)


def _concat_chunks(outputs: list, out_dims):
    flat = [pytree.flatten(o) for o in outputs]
    tree = flat[0][1]
    dims = _broadcast_prefix(out_dims, outputs[0], "out_dims")
    joined = [flat[0][0][i] if d is None else apply("concat", [f[0][i] for f in flat], axis=d)
              for i, d in enumerate(dims)]
    return pytree.unflatten(tree, joined)


# -- tracing one example -----------------------------------------------------------------------
class _ExampleTrace(tracing.TraceContext):
    """The trace of ``fn`` on one example. Tensors of an enclosing trace (``graphc.compile`` or
    an outer vmap) become inputs like concrete ones, and each node remembers the grad mode it
    was built in."""

    def __init__(self):
        super().__init__(ir.Graph("vmap"))
        self.grad_modes: dict[int, bool] = {}

    def emit(self, op, values, attrs):
        node = self.graph.add_node(op, values, attrs)  # replayed at once: no source locations
        self.grad_modes[id(node)] = autograd.is_grad_enabled()
        return node.output

    def value_of(self, tensor):
        if tensor._value is not None and tensor._trace is not self:
            key = id(tensor)
            if key not in self._current:
                value = self.add_input(tensor._name_hint or "captured", tensor.ir_type)
                self._current[key] = value
                self._owners[key] = tensor
                self.lifted.append(tracing.Lifted("tensor", value.name, value, tensor=tensor))
            return self._current[key]
        return super().value_of(tensor)


def _trace_example(fn, tree, leaves, dims, kwargs):
    """Traces ``fn`` on the arguments without their batch axes; returns the trace, the graph
    inputs standing for the argument leaves (None for non-tensors) and the output tree."""
    ctx = _ExampleTrace()
    example, arg_values = [], []
    for i, (x, d) in enumerate(zip(leaves, dims)):
        if not isinstance(x, Tensor):
            example.append(x)
            arg_values.append(None)
            continue
        shape = x.shape if d is None else x.shape[:d % x.ndim] + x.shape[d % x.ndim + 1:]
        value = ctx.add_input(f"arg{i}", ir.TensorType(x.dtype, shape))
        surrogate = Tensor._traced(value, ctx)
        surrogate.requires_grad = x.requires_grad  # an outer grad tracks it: inner grads nest
        example.append(surrogate)
        arg_values.append(value)
    with tracing.nested_trace(ctx):
        try:
            result = fn(*pytree.unflatten(tree, example), **kwargs)
        except TraceError as exc:
            if "vmap traces" in str(exc):
                raise
            raise TraceError(f"{exc} (vmap traces the function on one example like compile "
                             "does: it may branch on shapes, not on tensor values)") from exc
        out_leaves, out_tree = pytree.flatten(result)
        for i, out in enumerate(out_leaves):
            if not isinstance(out, Tensor):
                raise VmapError(f"vmap: the function must return tensors (or pytrees of them); "
                                f"output leaf {i} is a {type(out).__name__}")
        out_values = [ctx.value_of(out) for out in out_leaves]
    outer = tracing.current()
    if outer is not None:  # Python state fn read (module.training): the enclosing trace's guards
        for guard in ctx.guards:
            if guard.subject is None:
                outer.guard(guard.description, guard.check, guard.expected)
    if ctx.write_backs():
        names = ", ".join(w.name for w in ctx.write_backs())
        raise VmapError(f"vmap: the function changed tensors it did not create ({names}) in place "
                        "or assigned their .grad; return new values instead")
    for i, (surrogate, value) in enumerate(zip(example, arg_values)):
        if value is not None and surrogate._value is not value:
            # (the change would be lost: PyTorch writes it back into the batched argument)
            raise VmapError(f"vmap: the function changed its argument {i} in place (an "
                            f"in-place op or setitem on it); graphc's vmap cannot write that "
                            f"back into the batch: return the new value instead")
    return ctx, arg_values, out_tree, out_values


# -- replaying it on the batch ----------------------------------------------------------------
def _vmap_call(fn, tree, leaves, dims, size, kwargs, out_dims, randomness):
    ctx, arg_values, out_tree, out_values = _trace_example(fn, tree, leaves, dims, kwargs)
    env: dict[int, tuple[Tensor, bool]] = {}
    for x, d, value in zip(leaves, dims, arg_values):
        if value is not None:
            env[id(value)] = (x, False) if d is None else (move_axis(x, d, 0), True)
    for lifted in ctx.lifted:
        env[id(lifted.value)] = (_lifted_tensor(lifted), False)
    random_draw = _RandomDraws(randomness, size)
    for node in ctx.graph.nodes:
        operands = [env[id(v)] for v in node.inputs]
        with autograd.set_grad_enabled(ctx.grad_modes[id(node)]):
            if is_random(node.op):
                env[id(node.output)] = random_draw(node)
            else:
                env[id(node.output)] = batch_op(node.op, [t for t, _ in operands],
                                                [b for _, b in operands], node.attrs, size)
    for value, error, message, _ in ctx.checks:  # value checks (tracing.check): any example's
        flag, batched = env[id(value)]
        tracing.check(functions.any(flag) if batched else flag, error, message)
    results = [env[id(v)] for v in out_values]
    dims_out = _broadcast_prefix(out_dims, pytree.unflatten(out_tree, [x for x, _ in results]),
                                 "out_dims")
    outputs = []
    for i, ((x, batched), d) in enumerate(zip(results, dims_out)):
        if d is None:
            if batched:
                raise VmapError(f"vmap: out_dims is None for output leaf {i}, but it depends on "
                                "a mapped input; only unbatched outputs can have out_dims None")
            outputs.append(x)
            continue
        if not isinstance(d, int) or not -(x.ndim + 1 - batched) <= d <= x.ndim - batched:
            raise VmapError(f"vmap: out_dims={d!r} is out of range for output leaf {i} of "
                            f"(per-example) shape {list(x.shape[batched:])}")
        outputs.append(move_axis(with_batch(x, batched, size), 0, d))
    return pytree.unflatten(out_tree, outputs)


def _lifted_tensor(lifted) -> Tensor:
    """The tensor a lifted read of the trace stands for, read now."""
    if lifted.kind == "tensor":
        return lifted.tensor
    if lifted.kind == "grad":
        return lifted.tensor.grad
    if lifted.kind in ("scalar", "array"):  # read at every call: so in an enclosing trace too
        dtype, outer = lifted.value.type.dtype, tracing.current()
        if outer is not None and lifted.kind == "scalar":
            return outer.lift_scalar(lifted.name, lifted.getter, dtype, source=lifted.source)
        if outer is not None:
            return outer.lift_array(lifted.tensor, dtype)
        return Tensor._wrap(np.asarray(lifted.getter(), dtype=dtype.numpy))
    if lifted.kind == "rng":  # replaced per random op (see _RandomDraws)
        return Tensor._wrap(np.array(0, dtype=np.int64))
    raise AssertionError(f"unknown lifted read {lifted.kind}")


class _RandomDraws:
    """Replays random ops under vmap's ``randomness``, each with a fresh seed."""

    def __init__(self, randomness: str, size: int):
        self.randomness = randomness
        self.size = size
        self.seed = None

    def __call__(self, node) -> tuple[Tensor, bool]:
        if self.randomness == "error":
            raise VmapRandomnessError(
                f"vmap: called random operation {node.op} while in randomness error mode; use "
                "vmap(..., randomness='different') or 'same', or draw the numbers outside vmap")
        outer = tracing.current()
        if outer is not None:
            seed, stream = outer.rng_seed()
        else:
            if self.seed is None:
                self.seed = Tensor._wrap(np.array(next_seed(), dtype=np.int64))
            seed, stream = self.seed, node.attrs["stream"]
        attrs = {**node.attrs, "stream": stream}
        if self.randomness == "same":
            return apply(node.op, [seed], **attrs), False
        attrs["shape"] = [self.size, *attrs["shape"]]
        return apply(node.op, [seed], **attrs), True


__all__ = ["vmap", "VmapError", "VmapRandomnessError"]
