"""Activation checkpointing (``torch.utils.checkpoint``): run part of a model without keeping
its intermediate values for backward, and recompute them when backward needs them, trading
compute for memory.

    >>> import graphc
    >>> from graphc.utils.checkpoint import checkpoint
    >>> x = graphc.tensor([0.5, 1.0], requires_grad=True)
    >>> y = checkpoint(lambda t: (t.sin() * t).exp(), x, use_reentrant=False)
    >>> y.sum().backward()
    >>> [round(g, 6) for g in x.grad.tolist()]  # exp(t sin t) (sin t + t cos t)
    [1.166947, 3.205406]

How it works: the function runs forward as usual while autograd records which nodes it made
(on this thread: ``graphc.autograd.recorders()``). Its outputs then get one node each, feeding
one node whose inputs are the tensors the recorded nodes read from outside (the arguments,
parameters, captured tensors); the recorded nodes, and the intermediate values they held, are
freed with the original outputs. In backward that node reruns the function from the same RNG
state (the same dropout masks) with grad enabled and backpropagates through the recomputed
graph, stopping at those tensors: it hands their gradients (each summed over every way the
tensor reached the function: a tensor passed twice, or passed and also captured) to the
outer backward pass, which carries them on, running their hooks, once. The recomputation
runs the same ops on the same values, so the gradients are those of the plain function, bit
for bit, except where the plain backward pass would add the terms of a sum in another order
(a tensor that reaches the function more than once, or is also used outside it): there the
last bits may differ.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

import graphc
from graphc import autograd, pytree, tracing
from graphc.tensor import Tensor
from graphc.user_warnings import warn

__all__ = ["CheckpointError", "checkpoint", "checkpoint_sequential"]


class CheckpointError(RuntimeError):
    """The recomputation did not do what the forward pass did (``determinism_check``),
    PyTorch's ``torch.utils.checkpoint.CheckpointError``. (Not ``graphc.CheckpointError``,
    which is about checkpoint *files*.)"""


_USE_REENTRANT_WARNING = (
    "{who}: the use_reentrant parameter should be passed explicitly. Starting in PyTorch 2.9, "
    "calling checkpoint without use_reentrant will raise an exception. use_reentrant=False is "
    "recommended, but if you need to preserve the current default behavior, you can pass "
    "use_reentrant=True. Refer to docs for more details on the differences between the two "
    "variants.")
_DETERMINISM_CHECKS = ("default", "none")


class _Recompute:
    """What one checkpointed call keeps for backward: the function and its arguments, the RNG
    state it started from, and where gradients leave it (``edges``: the GradFns and leaf
    tensors its recorded nodes sent gradients to)."""

    def __init__(self, function, args: tuple, kwargs: dict, rng_state, edges: list,
                 forward_nodes: int, outputs_meta: list, check: bool):
        self.function, self.args, self.kwargs = function, args, kwargs
        self.rng_state = rng_state
        self.edges = edges
        self.forward_nodes, self.outputs_meta, self.check = forward_nodes, outputs_meta, check
        self.received: dict[int, Tensor] = {}  # output index -> its gradient, this backward

    def _run_again(self) -> tuple:
        """The recomputed outputs, and per edge of ``self.edges`` the group of edges of the
        recomputed graph that stand for it: the edge itself (a parameter or captured tensor
        the function reads) and the stand-ins of every argument it came in as."""
        # the arguments as stand-ins, nodes of the recomputed graph's own: the backward pass
        # through it stops at them (and at the parameters and captured tensors it reads)
        # instead of walking on into the history that made them, which the outer pass walks
        # once; a later backward through gradients made with create_graph passes through
        position = {id(edge): i for i, edge in enumerate(self.edges)}
        groups: list[list] = [[edge] for edge in self.edges]
        strays: list = []  # stand-ins of arguments the forward's gradients did not leave by

        def standin(a):
            if not isinstance(a, Tensor):
                return a
            fresh = Tensor._wrap(a._data)
            if a.requires_grad and a.dtype.is_float:
                fresh.requires_grad = True
                fresh._grad_fn = autograd.GradFn(_StandIn(), {}, [a], fresh)
                edge = a._grad_fn if a._grad_fn is not None else a
                i = position.get(id(edge))
                (strays if i is None else groups[i]).append(fresh._grad_fn)
            return fresh
        args = tuple(standin(a) for a in self.args)
        kwargs = {k: standin(v) for k, v in self.kwargs.items()}
        current = graphc.get_rng_state() if self.rng_state is not None else None
        recorded: set = set()
        recorders = autograd.recorders()
        try:
            if self.rng_state is not None:
                graphc.set_rng_state(self.rng_state)
            recorders.append(recorded)
            with autograd.enable_grad():
                output = self.function(*args, **kwargs)
        finally:
            recorders.pop()
            if current is not None:
                graphc.set_rng_state(current)
        outputs = [o for o in pytree.flatten(output)[0] if isinstance(o, Tensor)]
        if self.check:
            self._check(len(recorded), outputs)
        return outputs, groups + [strays]

    def _check(self, nodes: int, outputs: list) -> None:
        if nodes != self.forward_nodes:
            raise CheckpointError(
                "graphc.utils.checkpoint: a different number of operations was recorded "
                "during the original forward and recomputation.\nNumber recorded during "
                f"forward: {self.forward_nodes}\nNumber recorded during recomputation: "
                f"{nodes}")
        meta = [(tuple(o.shape), o.dtype) for o in outputs]
        if meta != self.outputs_meta:
            raise CheckpointError(
                "graphc.utils.checkpoint: recomputed outputs differ in shape or dtype from "
                f"the original forward's: {self.outputs_meta} vs {meta}")

    def backward(self) -> list:
        """The gradients of the boundary tensors: one backward pass through a recomputation,
        from every output that received a gradient, with those gradients (as the plain
        graph's backward pass would run, so the sums inside round alike), stopping at the
        boundary: the outer pass carries them on (through the hooks of the boundary
        tensors, once, and the history that made them)."""
        received, self.received = self.received, {}
        outputs, groups = self._run_again()
        roots = [outputs[k] for k in sorted(received)]
        if not all(r.requires_grad for r in roots):
            raise CheckpointError("graphc.utils.checkpoint: an output that needed a gradient "
                                  "in the original forward does not in the recomputation")
        # a nested backward pass: keep the callbacks the outer one has queued
        callbacks = list(autograd.completion_callbacks())
        try:
            grads = autograd.run_backward(roots, [received[k] for k in sorted(received)],
                                          boundary=groups, retain_graph=True,
                                          create_graph=autograd.is_grad_enabled())
        finally:
            autograd.completion_callbacks()[:] = callbacks
        return grads[:-1]  # (the last group: stand-ins outside the boundary, see _run_again)


class _StandIn:
    """The op of an argument's stand-in in the recomputation: the identity (the backward
    pass through the recomputation stops at it, a later one through gradients made with
    ``create_graph`` passes on to the argument)."""
    needs_values = False
    needs_output = False
    differentiable = True
    name = "CheckpointInput"

    def vjp(self, em, inputs, output, grad, attrs):
        return [grad]


class _CheckpointOutput:
    """The op output ``index`` of a checkpointed call records: it hands its gradient to the
    call's one :class:`_CheckpointBackward` node (through a placeholder gradient, so that the
    engine runs that node after every output that gets a gradient)."""
    needs_values = False
    needs_output = False
    differentiable = True
    name = "CheckpointOutputBackward"

    def __init__(self, recompute: _Recompute, index: int):
        self.recompute, self.index = recompute, index

    def vjp(self, em, inputs, output, grad, attrs):
        self.recompute.received[self.index] = grad
        return [graphc.zeros_like(inputs[0])]


class _CheckpointBackward:
    """The op of a checkpointed call: recompute, then backpropagate to the boundary."""
    needs_values = False
    needs_output = False
    differentiable = True
    name = "CheckpointBackward"

    def __init__(self, recompute: _Recompute):
        self.recompute = recompute

    def vjp(self, em, inputs, output, grad, attrs):
        return self.recompute.backward()


def _boundary(outputs: list, made: set) -> tuple:
    """The edges by which gradients leave the nodes in ``made`` (ids), reached from
    ``outputs``, each with a tensor it was read from."""
    edges: dict[int, tuple] = {}
    seen: set = set()
    stack = [o._grad_fn for o in outputs if o._grad_fn is not None and id(o._grad_fn) in made]
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        for t, edge in zip(fn.inputs, fn.edges):
            if edge is None:
                continue
            if isinstance(edge, autograd.GradFn) and id(edge) in made:
                stack.append(edge)
            else:
                edges.setdefault(id(edge), (edge, t))
    return [e for e, _ in edges.values()], [t for _, t in edges.values()]


def checkpoint(function, *args, use_reentrant: Optional[bool] = None, context_fn=None,
               determinism_check: str = "default", debug: bool = False,
               preserve_rng_state: bool = True, **kwargs) -> Any:
    """``function(*args, **kwargs)`` without keeping its intermediate values for backward;
    backward recomputes them (``torch.utils.checkpoint.checkpoint``).

    ``use_reentrant`` should be passed, as PyTorch warns when it is not (and then defaults to
    True). Both variants run graphc's one mechanism, which is PyTorch's non-reentrant one
    (gradients reach parameters and captured tensors, ``graphc.autograd.grad`` works); with
    ``use_reentrant=True`` keyword arguments are refused and, when no tensor argument needs a
    gradient, the result needs none either (with PyTorch's warning), as PyTorch's reentrant
    variant behaves. ``preserve_rng_state``: the recomputation draws the random numbers the
    forward drew (dropout masks). ``determinism_check="default"`` compares the recomputation
    with the forward (number of recorded ops, output shapes and dtypes) and raises
    :class:`CheckpointError` when they differ; ``"none"`` skips that.

    Inside a compiled function this simply calls ``function``: a traced graph's backward is
    derived from it by the compiler, whose memory planning (and ``remat`` pass) decides what
    is kept, so there is nothing for checkpoint to drop or recompute.
    """
    if use_reentrant is None:
        warn(_USE_REENTRANT_WARNING.format(who="graphc.utils.checkpoint"))
        use_reentrant = True
    if determinism_check not in _DETERMINISM_CHECKS:
        raise ValueError(f"determinism_check should be one of {list(_DETERMINISM_CHECKS)}, "
                         f"but got {determinism_check}")
    if kwargs and use_reentrant:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
    if context_fn is not None or debug:
        raise NotImplementedError("graphc.utils.checkpoint: context_fn and debug are not "
                                  "supported")
    if tracing.current() is not None or not autograd.is_grad_enabled():
        return function(*args, **kwargs)  # nothing recorded, so nothing to drop (see above)
    if use_reentrant and not any(isinstance(a, Tensor) and a.requires_grad for a in args):
        warn("None of the inputs have requires_grad=True. Gradients will be None")
        with autograd.no_grad():  # PyTorch's reentrant variant runs the forward so
            return function(*args, **kwargs)
    rng_state = graphc.get_rng_state() if preserve_rng_state else None
    made: set = set()
    recorders = autograd.recorders()
    recorders.append(made)
    try:
        output = function(*args, **kwargs)
    finally:
        recorders.pop()
    leaves, tree = pytree.flatten(output)
    tensors = [o for o in leaves if isinstance(o, Tensor)]
    edges, boundary = _boundary(tensors, made)
    recompute = _Recompute(function, args, kwargs, rng_state, edges, len(made),
                           [(tuple(o.shape), o.dtype) for o in tensors],
                           determinism_check == "default")
    # one node for the call (its value a placeholder), fed by one node per output
    hub = Tensor._wrap(np.zeros(1))
    hub.requires_grad = True
    hub._grad_fn = autograd.GradFn(_CheckpointBackward(recompute), {}, boundary, hub)
    hub._grad_fn.edges = list(edges)  # where the recorded nodes sent gradients
    replaced = {}
    for index, out in enumerate(tensors):
        if out._grad_fn is None or id(out._grad_fn) not in made:
            continue  # an argument returned as it is, or a value without history
        fresh = Tensor._wrap(out._data)
        fresh.requires_grad = True
        fresh._grad_fn = autograd.GradFn(_CheckpointOutput(recompute, index), {}, [hub], fresh)
        replaced[id(out)] = fresh
    return pytree.unflatten(tree, [replaced.get(id(o), o) for o in leaves])


def checkpoint_sequential(functions, segments: int, input, use_reentrant: Optional[bool] = None,
                          **kwargs):
    """Runs ``functions`` (a list of callables or an ``nn.Sequential``) in ``segments``
    chunks, checkpointing every chunk but the last (``torch.utils.checkpoint.
    checkpoint_sequential``); ``preserve_rng_state`` may be passed as a keyword.

        >>> from graphc import nn
        >>> model = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2))
        >>> checkpoint_sequential(model, 2, graphc.randn(3, 4), use_reentrant=False).shape
        (3, 2)
    """
    if use_reentrant is None:
        warn(_USE_REENTRANT_WARNING.format(
            who="graphc.utils.checkpoint.checkpoint_sequential"))
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
    from graphc.nn import Sequential
    if isinstance(functions, Sequential):
        functions = list(functions.children())

    def run_function(start: int, end: int):
        def forward(input):
            for j in range(start, end + 1):
                input = functions[j](input)
            return input
        return forward

    segment_size = len(functions) // segments
    end = -1
    for start in range(0, segment_size * (segments - 1), segment_size):
        end = start + segment_size - 1
        input = checkpoint(run_function(start, end), input, use_reentrant=use_reentrant,
                           preserve_rng_state=preserve)
    return run_function(end + 1, len(functions) - 1)(input)
