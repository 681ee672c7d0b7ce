"""Autograd through compiled calls: ``loss.backward()`` after ``graphc.compile(model)(x)``.

A compiled function whose inputs require grad (its tensor arguments, or the parameters it reads)
returns outputs that carry autograd history, as ``torch.compile``'s do, so that

    >>> import graphc
    >>> model = graphc.nn.Linear(3, 1)
    >>> compiled = graphc.compile(model)
    >>> compiled(graphc.ones(2, 3)).sum().backward()
    >>> model.weight.grad.tolist()
    [[2.0, 2.0, 2.0]]

works as it does eagerly. The backward pass is a graph of its own, derived symbolically from the
traced forward graph (``passes.autodiff``), optimized and compiled by the same backend the first
time a gradient flows through the entry, and cached with it. It recomputes the forward values
it needs from the call's saved inputs rather than keeping the forward's intermediates: the
forward call stays exactly the fast compiled call, and a backward that never comes costs
nothing but the saved inputs.

A trace that calls ``backward()`` itself (a whole compiled training step) produces gradients
as write-backs and gets no history on its outputs, so its calls keep no inputs alive.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

import ir
from graphc import autograd
from graphc.device import host_array, is_on_device
from graphc.errors import AutogradError
from graphc.tensor import Tensor
from ir.emitter import GraphEmitter
from passes.autodiff import active_values, differentiate


@dataclass
class DifferentiableEntry:
    """What a cache entry needs to give its outputs autograd history.

    ``inputs`` are graph input indices whose tensors require grad; ``outputs`` the indices of
    the user outputs that depend on them differentiably. The backward executable is built on
    first use from ``graph_text`` (the traced forward graph, before optimization).
    """

    graph_text: str
    inputs: list[int]
    outputs: list[int]
    build: Any  # (graph) -> executable: the entry's pipeline and backend
    executable: Any = None
    output_types: list = field(default_factory=list)
    # input index -> the values its tensor was updated to under no_grad, as (node, result)
    # indices: its gradient adds theirs (a leaf stays a leaf at its new value, as eagerly)
    rebound: dict = field(default_factory=dict)

    def backward_executable(self):
        if self.executable is None:
            self.executable = self.build(backward_graph(self.graph_text, self.inputs,
                                                        self.outputs, self.rebound))
        return self.executable


def plan(graph: ir.Graph, n_user_outputs: int, grad_inputs: list[int], graph_text: str,
         build, rebound: Optional[dict] = None) -> Optional[DifferentiableEntry]:
    """A :class:`DifferentiableEntry` when some user output depends on ``grad_inputs`` (or on
    the values ``rebound`` names, what they were updated to under no_grad)."""
    if not grad_inputs:
        return None
    rebound = rebound or {}
    nodes = list(graph.nodes)
    active = active_values(graph, [graph.inputs[i] for i in grad_inputs]
                           + [nodes[n].outputs[k] for at in rebound.values() for n, k in at])
    outputs = [i for i, v in enumerate(graph.outputs[:n_user_outputs])
               if id(v) in active and v.type.dtype.is_float]
    if not outputs:
        return None
    # only the inputs the outputs depend on get a gradient: as eagerly, an input they do not
    # use keeps .grad None (not zeros, which an optimizer would step with: weight decay)
    needed = _reaching(graph, [graph.outputs[i] for i in outputs], active)
    inputs = [i for i in grad_inputs if id(graph.inputs[i]) in needed
              or any(id(nodes[n].outputs[k]) in needed for n, k in rebound.get(i, ()))]
    return DifferentiableEntry(graph_text, inputs, outputs, build,
                               output_types=[graph.outputs[i].type for i in outputs],
                               rebound={i: at for i, at in rebound.items() if i in inputs})


def _reaching(graph: ir.Graph, values: list, active: set) -> set:
    """The ids of the active values that ``values`` depend on differentiably."""
    needed = {id(v) for v in values}
    for node in reversed(list(graph.nodes)):
        if node.opdef.differentiable and any(id(v) in needed for v in node.outputs):
            needed.update(id(v) for v in node.inputs if id(v) in active)
    return needed


def backward_graph(graph_text: str, inputs: list[int], outputs: list[int],
                   rebound: Optional[dict] = None) -> ir.Graph:
    """The graph ``(forward inputs..., d_out...) -> (d_input for each of inputs)``: a
    vector-Jacobian product of the chosen outputs, by symbolic differentiation of
    ``sum_i <output_i, d_out_i>``; an input ``rebound`` names values for (updated to them
    under no_grad) also gets their gradients."""
    graph = ir.parse(graph_text)
    nodes = list(graph.nodes)
    also = {i: [nodes[n].outputs[k] for n, k in at] for i, at in (rebound or {}).items()}
    em = GraphEmitter(graph)
    total = None
    for k, index in enumerate(outputs):
        value = graph.outputs[index]
        cotangent = graph.add_input(f"d_out{k}", value.type)
        term = em.sum(em.mul(value, cotangent), axes=list(range(len(value.type.shape))))
        total = term if total is None else em.add(total, term)
    graph.set_outputs([total], aliases={})  # the backward overwrites no state
    # (a compiled call's backward is never differentiated again: create_graph is refused)
    differentiate(graph, output=0, wrt=inputs, also=also, differentiated_again=False)
    graph.set_outputs(list(graph.outputs[1:]), aliases={})
    graph.name = f"{graph.name}_backward"
    return graph


class _CompiledVJP:
    """The "op" an output of a compiled call records: its gradient rule runs the entry's
    backward executable on the call's saved input arrays and the incoming gradient."""

    name = "compiled_call"
    needs_values = True   # the saved arrays are the inputs' values: an in-place change is an error
    needs_output = False
    differentiable = True

    def __init__(self, entry: DifferentiableEntry, arrays: list, output: int,
                 function_name: str):
        self.entry, self.arrays, self.output, self.function = entry, arrays, output, function_name

    def vjp(self, em, inputs, output, grad, attrs):
        if autograd.is_grad_enabled():
            raise AutogradError(
                f"double backward (create_graph=True) through the compiled function "
                f"'{self.function}' is not supported: compile the function that calls "
                "backward() instead, or call it uncompiled")
        from graphc import tracing
        if grad.is_traced or tracing.current() is not None:
            # (its backward executable needs numbers: run on a trace's placeholder it gave
            # NaN under vmap/jacrev and the first call's numbers under compile, silently)
            from graphc.errors import TraceError
            raise TraceError(
                f"backward through a call of the compiled function '{self.function}' made "
                "outside this trace (a vjp's pull-back, jacrev or a vectorized jacobian of a "
                "compiled function, or a compiled function that calls backward on a result "
                "made outside it): call the uncompiled function there, or compile the whole "
                "computation, the forward call included")
        cotangents = []
        for k, out_type in enumerate(self.entry.output_types):
            if k == self.output:
                g = np.asarray(host_array(grad._data), dtype=out_type.dtype.numpy)
                g = g.reshape(out_type.shape) if g.size == np.prod(out_type.shape, dtype=int) \
                    else np.broadcast_to(g, out_type.shape)
                cotangents.append(np.asarray(g, order="C"))  # (ascontiguousarray makes 0-d 1-d)
            else:
                cotangents.append(np.zeros(out_type.shape, dtype=out_type.dtype.numpy))
        grads = self.entry.backward_executable()(*self.arrays, *cotangents)
        # a cuda entry's gradients are device arrays (its saved inputs were): they stay there
        return [Tensor._wrap(g if is_on_device(g) else np.asarray(g)) for g in grads]


def attach(entry: DifferentiableEntry, arrays: list, grad_tensors: list[Tensor],
           outputs: list, function_name: str) -> None:
    """Gives the user outputs that depend on ``grad_tensors`` (a compiled call's inputs that
    require grad, in ``entry.inputs`` order) autograd history."""
    saved = list(arrays)
    for k, index in enumerate(entry.outputs):
        out = outputs[index]
        if not isinstance(out, Tensor) or out._grad_fn is not None:
            continue
        out.requires_grad = True
        out._grad_fn = autograd.GradFn(_CompiledVJP(entry, saved, k, function_name), {},
                                       grad_tensors, out)
