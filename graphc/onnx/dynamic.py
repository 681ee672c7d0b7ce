"""Dynamic dimensions for ONNX export: which sizes in a traced graph follow them, and how.

A trace sees concrete sizes, so a batch size read in Python (``x.view(x.shape[0], -1)``) is
baked into attributes as a number. To export a graph whose batch dimension is symbolic, the
program is traced again with each dynamic dimension one larger (and once more with all of them
two larger): the graphs must have the same nodes, and every integer of an attribute that
changes is then an affine function of the dynamic sizes (``constant + sum(coef * size)``),
checked on the last trace. A size that is not (``batch * seq`` with both dynamic, a graph
whose nodes change with the size) is refused with the IR line that bakes it in.

    >>> solve([6, 7, 8], [2], ['batch'])  # size 2 -> 6, 3 -> 7, 4 -> 8: batch + 4
    (4, {'batch': 1})
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import ir
from graphc.onnx.errors import OnnxExportError
from graphc.onnx.lowering import Affine, NotAffine, SizeForm, ir_line


@dataclass
class Symbol:
    """One dynamic dimension: its name, its size in the example, and where inputs have it."""

    name: str
    size: int
    places: list[tuple[int, int]] = field(default_factory=list)  # (graph input, axis)


def solve(values: list[int], base_sizes: list[int], names: list[str]) -> Optional[Affine]:
    """The affine form of a size seen as ``values``: first with the symbols ``names`` at
    ``base_sizes``, then with symbol k one larger (one value per symbol), then with every
    symbol two larger. None when the size is not affine in them."""
    base = values[0]
    coefficients = {name: values[1 + k] - base for k, name in enumerate(names)
                    if values[1 + k] != base}
    if base + 2 * sum(coefficients.values()) != values[-1]:
        return None
    sizes = dict(zip(names, base_sizes))
    constant = base - sum(c * sizes[name] for name, c in coefficients.items())
    return constant, coefficients


def _flat_ints(value) -> Optional[list[int]]:
    """The integers of an attribute (an int or nested lists of ints), or None for others."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return [value]
    if isinstance(value, (list, tuple)):
        out: list[int] = []
        for item in value:
            inner = _flat_ints(item)
            if inner is None:
                return None
            out.extend(inner)
        return out
    return None


def _value_keys(graph: ir.Graph) -> dict[int, tuple[int, int]]:
    keys = {id(v): (-1, i) for i, v in enumerate(graph.inputs)}
    for n, node in enumerate(graph.nodes):
        for i, v in enumerate(node.outputs):
            keys[id(v)] = (n, i)
    return keys


_WHY_IT_CHANGES = (
    "the program depends on that size (a Python loop over it, as in an RNN unrolled over time) "
    "or graphc's optimizations do (an example size of 1 is often special), so no single ONNX "
    "graph serves every size. Export without that dynamic axis, or with an example size of at "
    "least 2")


def _same_structure(graphs: list[ir.Graph], symbols: list[Symbol]) -> None:
    base = graphs[0]
    base_keys = _value_keys(base)
    names = ", ".join(f"'{s.name}'" for s in symbols)
    dynamic_inputs = {place[0] for s in symbols for place in s.places}
    for other in graphs[1:]:
        for index, (a, b) in enumerate(zip(base.inputs, other.inputs)):
            if index not in dynamic_inputs and a.type.shape != b.type.shape:
                # state or a constant array the program made from the size (an interpolation
                # matrix): an initializer of the example's size would fail at any other size
                raise OnnxExportError(
                    f"graphc.onnx.export: graph input %{a.name} (state or a constant the "
                    f"program computes from the sizes) has shape {list(a.type.shape)}, then "
                    f"{list(b.type.shape)} as the dynamic dimension(s) {names} change: no single "
                    f"ONNX initializer serves every size. Export without that dynamic axis")
        keys = _value_keys(other)
        if len(other.nodes) != len(base.nodes):
            raise OnnxExportError(
                f"graphc.onnx.export: the traced graph changes with the size of the dynamic "
                f"dimension(s) {names} ({len(base.nodes)} nodes, then {len(other.nodes)}): "
                f"{_WHY_IT_CHANGES}")
        for a, b in zip(base.nodes, other.nodes):
            same_inputs = [base_keys[id(v)] for v in a.inputs] == [keys[id(v)] for v in b.inputs]
            if a.op != b.op or not same_inputs or set(a.attrs) != set(b.attrs):
                raise OnnxExportError(
                    f"graphc.onnx.export: the traced graph changes with the size of the "
                    f"dynamic dimension(s) {names}, first at IR line: {ir_line(a)} (then "
                    f"{ir_line(b)}): {_WHY_IT_CHANGES}")


def size_forms(graphs: list[ir.Graph], symbols: list[Symbol]
               ) -> tuple[dict[int, dict[str, list[SizeForm]]],
                          list[list[SizeForm]]]:
    """Compares the traces (base, one per symbol, all together; see the module docstring).

    Returns, per node of the base graph (by ``id``), the attributes with sizes that change and
    the form of each of their integers (None where it stays, :class:`NotAffine` where it is no
    sum of the sizes), and per output of the base graph the form of each of its dimensions."""
    _same_structure(graphs, symbols)
    base_sizes = [s.size for s in symbols]
    names = [s.name for s in symbols]

    def form(values: list[int], where: str) -> SizeForm:
        if all(v == values[0] for v in values):
            return None
        solved = solve(values, base_sizes, names)
        return NotAffine(where, tuple(values)) if solved is None else solved

    nodes: dict[int, dict[str, list[SizeForm]]] = {}
    for position, node in enumerate(graphs[0].nodes):
        others = [g.nodes[position] for g in graphs]
        changed: dict[str, list[SizeForm]] = {}
        for attr, value in node.attrs.items():
            seen = [n.attrs[attr] for n in others]
            if attr == "body" or all(_equal(v, value) for v in seen):
                continue
            if attr == "value":  # a number computed from a size, as a mean's count
                seen = [int(v) if isinstance(v, float) and v.is_integer() else v for v in seen]
            ints = [_flat_ints(v) for v in seen]
            where = f"attribute '{attr}' of IR line {ir_line(node)}"
            if any(i is None for i in ints) or len({len(i) for i in ints}) != 1:  # type: ignore[arg-type]
                raise OnnxExportError(
                    f"graphc.onnx.export: {where} changes with the dynamic dimension(s) "
                    f"{', '.join(names)} (not as sizes ONNX can compute); export with fixed "
                    f"sizes")
            changed[attr] = [form(list(column), where) for column in zip(*ints)]  # type: ignore[arg-type]
        if changed:
            nodes[id(node)] = changed
    outputs = []
    for index, value in enumerate(graphs[0].outputs):
        shapes = [g.outputs[index].type.shape for g in graphs]
        outputs.append([form([s[axis] for s in shapes], f"dimension {axis} of output {index}")
                        for axis in range(len(value.type.shape))])
    return nodes, outputs


def _equal(a, b) -> bool:
    try:
        return bool(a == b)
    except ValueError:  # arrays
        import numpy as np
        return bool(np.array_equal(a, b))


def describe(form: SizeForm, fallback: str) -> str:
    """A readable name of a dynamic size, used as an ONNX ``dim_param``: ``2*batch+1``
    (``fallback`` for a size that is no sum of dynamic sizes)."""
    if not isinstance(form, tuple):
        return fallback
    constant, coefficients = form
    terms = [name if c == 1 else f"{c}*{name}" for name, c in sorted(coefficients.items())]
    text = "+".join(terms)
    if constant:
        text += f"{constant:+d}"
    return text
