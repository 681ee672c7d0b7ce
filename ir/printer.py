"""The IR text printer. :mod:`ir.parser` reads its output back exactly.

    >>> import ir
    >>> g = ir.Graph("scale")
    >>> x = g.add_input("x", ir.TensorType(ir.f32, (2, 3)))
    >>> s = g.add_node("sum", [x], {"axes": [1], "keepdim": True})
    >>> g.set_outputs([s.output])
    >>> print(ir.to_text(g))
    func @scale(%x: f32[2,3]) -> (f32[2,1]) {
      %0: f32[2,1] = sum %x {axes=[1], keepdim=true}
      return %0
    }

Graph inputs keep their names; node results are numbered ``%0, %1, ...`` in node order, so
the text of a graph does not depend on names a pass happened to give its values. A node with
several results lists them (``%4, %5: f32[3], f32[3] = fused ...``); a ``fused`` node's body
follows it in braces, with its own arguments, numbering and ``yield``. Attributes
print in the op's registry order, and optional attributes equal to their default are left out
(``sum %x {axes=[1]}`` means ``keepdim=false``). Floats print with ``repr`` so that they read
back bit-exactly and never look like ints (``1.0``, ``1e-05``, ``inf``, ``nan``).
docs/IR.md describes the whole format.
"""
from __future__ import annotations

import math
import re
from numbers import Integral, Real
from typing import Any

import numpy as np

from ir import registry
from ir.dtypes import DType
from ir.graph import Graph, Node, SourceLoc

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")
_SIMPLE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def to_text(graph: Graph, debug_info: bool = False) -> str:
    """The text form of ``graph`` (no trailing newline); ``debug_info`` adds ``loc(...)``."""
    names = value_names(graph)
    params = ", ".join(f"%{v.name}: {v.type}" for v in graph.inputs)
    results = ", ".join(_result_signature(graph, i) for i in range(len(graph.outputs)))
    plan = graph.plan
    header = f"func @{format_symbol(graph.name)}({params}) -> ({results})"
    if plan is not None:
        header += f" plan(arena={plan.arena_bytes}, align={plan.alignment})"
    lines = [header + " {"]
    lines += [f"  {format_node(node, names, debug_info, '  ', _memory(graph, node, names))}"
              for node in graph.nodes]
    returned = ", ".join(_operand(v, names) for v in graph.outputs)
    lines.append(f"  return {returned}" if returned else "  return")
    lines.append("}")
    return "\n".join(lines)


def value_names(graph: Graph) -> dict[int, str]:
    """The printed name of each value of ``graph`` by ``id``: inputs keep their names, node
    results are numbered ``%0, %1, ...`` in node order (a node with two results takes two
    numbers). Values inside bodies are not included: each body numbers its own."""
    names = {id(v): f"%{v.name}" for v in graph.inputs}
    number = 0
    for node in graph.nodes:
        for value in node.outputs:
            names[id(value)] = f"%{number}"
            number += 1
    return names


def _result_signature(graph: Graph, index: int) -> str:
    """``f32[4]``, or ``f32[4] aliases %w`` for an output that overwrites input ``%w``."""
    text = str(graph.outputs[index].type)
    aliased = graph.output_aliases.get(index)
    if aliased is not None:
        target = graph.inputs[aliased].name if 0 <= aliased < len(graph.inputs) else "<bad>"
        text += f" aliases %{target}"
    return text


def _body_lines(graph: Graph, names: dict[int, str], indent: str,
                debug_info: bool) -> list[str]:
    return [indent + format_node(node, names, debug_info, indent) for node in graph.nodes]


def format_node(node: Node, names: dict[int, str], debug_info: bool = False,
                indent: str = "", memory: str = "") -> str:
    """One node's text (without leading indentation), e.g. ``%2: f32[4] = add %0, %1``.

    A node with a body continues on the following lines: the body, indented two more spaces
    than ``indent``, and a closing ``}`` at ``indent``. ``memory`` is its ``mem(...)`` clause
    in a function with a memory plan.
    """
    results = ", ".join(_operand(v, names) for v in node.outputs)
    types = ", ".join(str(v.type) for v in node.outputs)
    text = f"{results}: {types} = {node.op}"
    if node.inputs:
        text += " " + ", ".join(_operand(v, names) for v in node.inputs)
    attrs = format_attrs(node.op, node.attrs)
    if attrs:
        text += " " + attrs
    body = node.body
    if body is not None:
        text += " " + format_body(body, indent, debug_info)
    if memory:
        text += " " + memory
    if debug_info and node.loc is not None:
        text += " " + format_loc(node.loc)
    return text


def format_body(body: Graph, indent: str = "", debug_info: bool = False) -> str:
    """A body: ``{``, its arguments, its nodes and ``yield``, and ``}`` at ``indent``.

    Its values are named in its own scope: arguments keep their names, results count from 0.
    """
    inner = indent + "  "
    names = value_names(body)
    arguments = ", ".join(f"%{v.name}: {v.type}" for v in body.inputs)
    lines = ["{", f"{inner}({arguments}):"]
    lines += _body_lines(body, names, inner, debug_info)
    yielded = ", ".join(_operand(v, names) for v in body.outputs)
    lines.append(f"{inner}yield {yielded}" if yielded else f"{inner}yield")
    lines.append(indent + "}")
    return "\n".join(lines)


def _memory(graph: Graph, node: Node, names: dict[int, str]) -> str:
    """``mem(0, 128 reuses %3, %w)``: where each result lives under ``graph.plan`` (an arena
    offset, maybe reusing a dead operand's buffer, or an input's buffer); '' without a plan."""
    if graph.plan is None:
        return ""
    places = []
    for value in node.outputs:
        place = graph.plan.placements.get(value)
        if place is None:
            places.append("<unplanned>")  # printable while debugging; the parser rejects it
        elif place.input is not None:
            inputs = graph.inputs
            places.append(f"%{inputs[place.input].name}" if 0 <= place.input < len(inputs)
                          else "<bad input>")
        else:
            text = str(place.offset)
            if place.reuses is not None:
                text += f" reuses {_operand(place.reuses, names)}"
            places.append(text)
    return f"mem({', '.join(places)})"


def _operand(value, names: dict[int, str]) -> str:
    # A value from outside the graph has no name here; print something the parser rejects
    # rather than crash, so that broken graphs can still be dumped while debugging.
    return names.get(id(value), "%<foreign>")


def format_attrs(op: str, attrs: dict) -> str:
    """``{name=value, ...}`` in registry order, defaults of optional attrs left out; or ''.

    Attributes of kind ``graph`` (bodies) are left out: :func:`format_node` prints them."""
    schema = registry.get(op).attrs if registry.exists(op) else ()
    parts = []
    for attr in schema:
        if attr.name not in attrs or attr.kind == "graph":  # bodies print as regions
            continue
        text = format_attr_value(attrs[attr.name])
        # Compare printed forms, not values: -0.0 == 0.0 and 0 == 0.0 in Python, but they
        # must stay distinct in the text for printing to round-trip.
        if not attr.required and text == format_attr_value(attr.default):
            continue
        parts.append(f"{attr.name}={text}")
    known = {a.name for a in schema}
    parts += [f"{k}={format_attr_value(v)}" for k, v in attrs.items() if k not in known]
    return "{" + ", ".join(parts) + "}" if parts else ""


def format_attr_value(value: Any) -> str:
    """One attribute value: ``3``, ``1e-05``, ``true``, ``f64``, ``"s"``, ``[[0,1],[2,3]]``."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        return format_float(float(value))
    if isinstance(value, DType):
        return value.name
    if isinstance(value, str):
        return format_string(value)
    if value is None:
        return "none"
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_attr_value(v) for v in value) + "]"
    raise TypeError(f"cannot print attribute value {value!r} of type {type(value).__name__}")


def format_float(x: float) -> str:
    """``repr`` of a float: the shortest text that reads back to the same bits (nan: no sign)."""
    if math.isnan(x):
        return "nan"
    return repr(x)  # '1.0', '1e-05', '-0.0', 'inf', '-inf', '1.7976931348623157e+308'


def format_string(s: str) -> str:
    """A double-quoted string literal; control characters become ``\\xHH``/``\\uHHHH`` escapes."""
    out = []
    for ch in s:
        if ch in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def format_symbol(name: str) -> str:
    """A function name after ``@``: bare if it is an identifier, else quoted (``@"<lambda>"``)."""
    return name if _IDENTIFIER.match(name) else format_string(name)


def format_loc(loc: SourceLoc) -> str:
    """``loc("file.py":12)``."""
    return f"loc({format_string(loc.file)}:{int(loc.line)})"
