"""Symbolic reverse-mode autodiff: derive the backward graph *as a graph*.

``differentiate(graph, output=0, wrt=None, cotangent=False)`` appends to ``graph`` the nodes that
compute the gradient of one output with respect to chosen inputs, using each op's registry
``vjp`` (the very rules eager autograd uses) through a :class:`GraphEmitter`, and adds the
gradients as extra outputs. The result is an ordinary graph, so it can be optimized, compiled,
and differentiated again (Hessian-vector products).

    >>> import ir, passes
    >>> g = ir.parse('''func @f(%x: f32[3]) -> (f32[]) {
    ...   %0: f32[3] = mul %x, %x
    ...   %1: f32[] = sum %0 {axes=[0]}
    ...   return %1
    ... }''')
    >>> [str(v.type) for v in passes.autodiff.differentiate(g).outputs]
    ['f32[]', 'f32[3]']
"""
from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Optional

from ir.emitter import GraphEmitter, input_gradients
from ir.graph import Graph, Value
from passes.registry import Pass, PassError, PassResult, option, register


class _BackwardEmitter(GraphEmitter):
    """Appends backward nodes; tells rules which operands are worth differentiating."""

    def __init__(self, graph: Graph, active: set, again: bool = True):
        super().__init__(graph)
        self.active = active
        self.again = again

    def wants(self, handle) -> bool:
        return id(handle) in self.active

    def differentiated_again(self) -> bool:
        return self.again


def active_values(graph: Graph, wrt: Sequence[Value]) -> set:
    """Float values that depend differentiably on ``wrt``."""
    active = {id(v) for v in wrt}
    for node in graph.nodes:
        if (node.opdef.differentiable and node.output.type.dtype.is_float
                and any(id(v) in active for v in node.inputs)):
            active.add(id(node.output))
    return active


def differentiate(graph: Graph, output: int = 0, wrt: Optional[Sequence[int]] = None,
                  cotangent: bool = False,
                  also: Optional[dict[int, list[Value]]] = None,
                  differentiated_again: bool = True) -> Graph:
    """Adds gradients of ``graph.outputs[output]`` w.r.t. ``graph.inputs[i] for i in wrt``.

    ``wrt`` defaults to every floating point input. A non-scalar output needs
    ``cotangent=True``, which adds an input ``%d_out`` of the output's type (the vector of a
    vector-Jacobian product). Inputs the output does not depend on get zero gradients.
    ``also`` adds, to input ``i``'s gradient, the gradients w.r.t. the values ``also[i]``, as
    if each were a variable of its own (a leaf updated in place under ``no_grad``: its value
    comes from a ``stop_gradient``). ``differentiated_again=False`` promises that the
    gradients will not be differentiated themselves, so rules may use cheaper forms whose own
    derivatives are not exact (see ``Emitter.differentiated_again``).
    """
    for index, node in enumerate(graph.nodes):
        if node.body is not None:
            raise PassError(f"autodiff: node {index} is a {node.op} node, which has no gradient "
                            "rule; run autodiff before fuse")
        if len(node.outputs) != 1:
            raise PassError(f"autodiff: node {index} ({node.op}) has {len(node.outputs)} "
                            "results; gradient rules handle single-result nodes only")
    if isinstance(output, bool) or not isinstance(output, Integral):
        raise PassError(f"autodiff: option 'output' expects an int, got {output!r}")
    if not 0 <= output < len(graph.outputs):
        raise PassError(f"autodiff: output {output} does not exist "
                        f"(the graph has {len(graph.outputs)} outputs)")
    target = graph.outputs[output]
    if wrt is None:
        wrt = [i for i, v in enumerate(graph.inputs) if v.type.dtype.is_float]
    for i in wrt:
        if not 0 <= i < len(graph.inputs) or not graph.inputs[i].type.dtype.is_float:
            raise PassError(f"autodiff: wrt index {i} is not a floating point input")
    wrt_values = [graph.inputs[i] for i in wrt]
    if not target.type.dtype.is_float:
        raise PassError(f"autodiff: output {output} has type {target.type}; only floating "
                        "point outputs can be differentiated")
    existing_nodes = list(graph.nodes)
    also = {i: list(values) for i, values in (also or {}).items()}
    extra = {id(v) for values in also.values() for v in values}
    active = active_values(graph, wrt_values + [v for vs in also.values() for v in vs])
    em = _BackwardEmitter(graph, active, differentiated_again)

    if cotangent:
        seed = graph.add_input(_fresh_name(graph, "d_out"), target.type)
    elif target.type.shape != ():
        raise PassError(f"autodiff: output {output} has shape {list(target.type.shape)}; "
                        "differentiate a scalar, or pass cotangent=true")
    else:
        seed = em.constant(1.0, target.type.dtype, ())
    grads: dict[int, Value] = {id(target): seed}

    captured: dict[int, Value] = {}  # the gradients w.r.t. the values of ``also``
    for node in reversed(existing_nodes):
        g = grads.pop(id(node.output), None)
        if g is not None and id(node.output) in extra:
            captured[id(node.output)] = g
            if not node.opdef.differentiable:  # the stop_gradient that made it a variable
                continue
        if g is None or id(node.output) not in active:
            continue
        input_grads = input_gradients(em, node.opdef, node.inputs, node.output, g, node.attrs)
        for value, ig in zip(node.inputs, input_grads):
            if ig is None or id(value) not in active:
                continue
            previous = grads.get(id(value))
            grads[id(value)] = ig if previous is None else em.add(previous, ig)

    results = []
    for i, value in zip(wrt, wrt_values):
        g = grads.get(id(value))
        for other in also.get(i, []):
            g_other = captured.get(id(other))
            if g_other is not None:
                g = g_other if g is None else em.add(g, g_other)
        results.append(g if g is not None else em.zeros(value.type.shape, value.type.dtype))
    graph.set_outputs(list(graph.outputs) + results)
    return graph


def _fresh_name(graph: Graph, base: str) -> str:
    names = {v.name for v in graph.inputs}
    name, n = base, 1
    while name in names:
        n += 1
        name = f"{base}_{n}"
    return name


@register
class Autodiff(Pass):
    """Appends the gradient of one output w.r.t. chosen inputs as extra outputs."""

    name = "autodiff"
    output: int = option(0, "index of the output to differentiate")
    wrt: tuple[int, ...] | None = option(
        None, "indices of the inputs to differentiate with respect to (default: every "
              "floating point input), e.g. wrt=[0,2]")
    cotangent: bool = option(False, "add an input %d_out seeding a vector-Jacobian product "
                                    "(needed for non-scalar outputs)")

    def apply(self, graph: Graph) -> PassResult:
        return PassResult(differentiate(graph, output=self.output, wrt=self.wrt,
                                        cotangent=self.cotangent), True)
