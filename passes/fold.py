"""``fold``: constant folding.

A node whose operands are all ``const`` results is evaluated now, with the op's NumPy reference
through ``ir.evaluate`` (the interpreter's own path, so the bits are those the interpreter would
compute at run time), and each of its results becomes a ``const`` node. Chains fold in one walk,
shape computations included (``reshape``, ``transpose``, ``broadcast_to``, ``cast`` of a const).

    >>> import ir
    >>> g = ir.parse('''func @f(%x: f32[3]) -> (f32[3]) {
    ...   %0: f32[] = const {value=2.0, dtype=f32, shape=[]}
    ...   %1: f32[] = mul %0, %0
    ...   %2: f32[3] = broadcast_to %1 {shape=[3]}
    ...   %3: f32[3] = mul %x, %2
    ...   return %3
    ... }''')
    >>> print(ConstantFolding().apply(g).graph)
    func @f(%x: f32[3]) -> (f32[3]) {
      %0: f32[3] = const {value=4.0, dtype=f32, shape=[3]}
      %1: f32[3] = mul %x, %0
      return %1
    }

Not folded: results with more than ``max-elements`` elements (a const's value is printed in the
IR, and evaluating a huge broadcast now costs memory; ``simplify`` turns a broadcast of a
uniform const into a const of any size), source ops (random ops draw from their seed: they are
deterministic, but folding them would freeze numbers into the text), and nodes whose reference
fails on these constants (an out-of-range ``gather`` index): they fail at run time as before.
"""
from __future__ import annotations

from ir.evaluate import evaluate_results, quiet_float_errors
from ir.graph import Graph, Node
from passes.constants import Constants, is_constant
from passes.registry import Pass, PassResult, option, register
from passes.replace import ValueReplacer


@register
class ConstantFolding(Pass):
    """Evaluates nodes whose operands are all constants and replaces them by constants."""

    name = "fold"
    max_elements: int = option(4096, "largest result (in elements) folded into a constant")

    def apply(self, graph: Graph) -> PassResult:
        return PassResult(graph, _fold(graph, self.max_elements, Constants()))


def _fold(graph: Graph, max_elements: int, constants: Constants) -> bool:
    changed = False
    edits = ValueReplacer(graph)
    for node in graph.nodes:
        if node.body is not None:
            changed |= _fold(node.body, max_elements, constants)
        if not _foldable(node, max_elements) or not any(edits.is_used(v) for v in node.outputs):
            continue  # (a dead node is dce's to drop: folding it would leave a dead const)
        arrays = [constants.array(v) for v in node.inputs]
        try:
            with quiet_float_errors():
                results = evaluate_results(node.opdef, arrays, node.attrs, node.result_types)
        except (IndexError, ValueError, FloatingPointError, OverflowError, ZeroDivisionError):
            continue  # the graph reports it when it runs (integer division by zero included)
        for old, array in zip(node.outputs, results):
            edits.replace(old, constants.add(graph, array, before=node, loc=node.loc).output)
        edits.erase_if_dead(node)
    edits.finish()
    return changed or edits.changed


def _foldable(node: Node, max_elements: int) -> bool:
    """Operands all constant (at least one), deterministic, results small enough."""
    # a collective's result depends on the other processes, not on its operands alone
    return (bool(node.inputs) and node.opdef.kind not in ("source", "collective")
            and _deterministic(node)
            and all(is_constant(v) for v in node.inputs)
            and all(v.type.size <= max_elements for v in node.outputs))


def _deterministic(node: Node) -> bool:
    """No random op inside (a fused node's body may hold one)."""
    body = node.body
    if body is None:
        return True
    return all((n.op == "const" or n.opdef.kind != "source") and _deterministic(n)
               for n in body.nodes)
