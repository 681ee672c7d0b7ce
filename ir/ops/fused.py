"""``fused``: a node whose semantics is an isolated body, a nested graph.

The body's inputs (block arguments) are bound to the node's operands, in order, and its outputs
(``yield``) are the node's results. Nothing from the enclosing graph is visible in the body, so
the body can be verified, run, printed and code-generated on its own. ``ir.rewriter.outline``
makes one from a set of nodes; the interpreter runs it by running the body::

    >>> import ir, numpy as np
    >>> g = ir.parse('''func @f(%x: f32[3], %b: f32[3]) -> (f32[3]) {
    ...   %0: f32[3] = fused %x, %b {
    ...     (%a: f32[3], %c: f32[3]):
    ...     %0: f32[3] = add %a, %c
    ...     %1: f32[3] = relu %0
    ...     yield %1
    ...   }
    ...   return %0
    ... }''')
    >>> from ir.evaluate import run_graph
    >>> run_graph(g, [np.array([1., -2., 3.], np.float32), np.ones(3, np.float32)])[0]
    array([2., 0., 4.], dtype=float32)
"""
from __future__ import annotations

from ir.errors import ShapeError
from ir.evaluate import run_graph
from ir.graph import Graph
from ir.registry import Attr, OpDef, register


def _fused_type(types, attrs):
    body = attrs["body"]
    if not isinstance(body, Graph):
        raise ShapeError(f"fused: attribute 'body' must be a graph, got {type(body).__name__}")
    if len(types) != len(body.inputs):
        raise ShapeError(f"fused: {len(types)} operand(s), but the body takes "
                         f"{len(body.inputs)} argument(s)")
    for i, (given, argument) in enumerate(zip(types, body.inputs)):
        if given != argument.type:
            raise ShapeError(f"fused: operand {i} has type {given}, but body argument "
                             f"%{argument.name} has type {argument.type}")
    if not body.outputs:
        raise ShapeError("fused: the body yields no values (a fused node needs a result)")
    results = tuple(v.type for v in body.outputs)
    return results[0] if len(results) == 1 else results


def _run_body(*arrays, body):
    results = run_graph(body, arrays)
    return results[0] if len(results) == 1 else results


register(OpDef(
    "fused", "fused", None, _fused_type, _run_body,
    attrs=(Attr("body", "graph"),),
    doc="runs its body (a nested graph) on its operands; the body's outputs are its results",
))
