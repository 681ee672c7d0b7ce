"""The IR verifier: checks every invariant a well-formed :class:`ir.Graph` keeps.

Passes call it after they rewrite a graph; the parser reuses :func:`attr_value_error` to
reject badly typed attributes. A broken rule raises :class:`ir.errors.VerifyError` whose message
names the node (as it prints, ``node 3 (%3 = matmul)``) and the rule::

    >>> import ir
    >>> g = ir.parse('''func @f(%x: f32[2]) -> (f32[2]) {
    ...   %0: f32[2] = exp %x
    ...   return %0
    ... }''')
    >>> g.nodes[0].output.type = ir.TensorType(ir.f64, (2,))
    >>> ir.verify(g)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ir.errors.VerifyError: node 0 (%0 = exp): result type f64[2] differs from the type rule's ...

The rules, in the order they are checked:

1. graph inputs have unique names that are identifiers (``[A-Za-z_][A-Za-z0-9_.]*``);
2. every node's op is registered, its results point back at it (``producer``, ``index``), its
   operands are values of this graph defined before the node, its attributes are exactly the
   op's (all present, none unknown, each of the right kind), and its result types equal what
   the op's type rule infers;
3. a node's body (``fused``) is itself a valid graph, checked by these rules, that uses only
   its own arguments; errors inside it name the node and then the body's node;
4. every value's ``users`` list is exactly the nodes that use it, once per use;
5. every graph output is a value of this graph;
6. output aliases name an output and an input of the same type, each input at most once
   (bodies declare none);
7. a memory plan (``graph.plan``, bodies have none) is safe: :func:`ir.plan.check_plan`.
"""
from __future__ import annotations

import re
from collections import Counter
from numbers import Integral, Real
from typing import Any, Optional

from ir import registry
from ir.dtypes import DType
from ir.errors import ShapeError, VerifyError
from ir.graph import Graph, Node, Value
from ir.plan import check_plan
from ir.printer import value_names

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")


# -- attribute kinds -------------------------------------------------------------------------
def _is_int(v: Any) -> bool:
    # bool is an int subclass in Python, but `keepdim=1` or `axis=true` is a mistake here.
    return isinstance(v, Integral) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def _is_list(v: Any) -> bool:
    return isinstance(v, (list, tuple))


def _is_ints(v: Any) -> bool:
    return _is_list(v) and all(_is_int(x) for x in v)


def _nested_value_error(value: Any) -> Optional[str]:
    """Why ``value`` is not a rectangular nested list of numbers/bools, or None if it is."""
    if not _is_list(value):
        return None if isinstance(value, (Real, bool)) else f"{value!r} is not a number"
    if value and _is_list(value[0]):
        lengths = {len(x) if _is_list(x) else -1 for x in value}
        if len(lengths) != 1 or -1 in lengths:
            return "nested lists are ragged (rows of different lengths)"
    elif any(_is_list(x) for x in value):
        return "nested lists are ragged (numbers mixed with lists)"
    for x in value:
        reason = _nested_value_error(x)
        if reason:
            return reason
    return None


_KIND_DESCRIPTIONS = {
    "int": "an int",
    "float": "a number",
    "bool": "true or false",
    "ints": "a list of ints",
    "ints?": "a list of ints or none",
    "intss": "a list of lists of ints",
    "shape": "a list of non-negative ints",
    "dtype": "a dtype (f32, f64, i32, i64, bool)",
    "str": "a string",
    "value": "a number or a nested list of numbers",
    "graph": "a body (a nested graph)",
}


def attr_value_error(kind: str, value: Any) -> Optional[str]:
    """Why ``value`` is not a valid attribute of ``kind`` (see ``ir.registry.Attr``), or None.

    >>> attr_value_error("ints", [1, 0]) is None
    True
    >>> attr_value_error("ints", [1.5])
    'expected a list of ints, got [1.5]'
    """
    checks = {
        "int": _is_int,
        "float": _is_number,  # ints are kept as ints so that printing round-trips exactly
        "bool": lambda v: isinstance(v, bool),
        "ints": _is_ints,
        "ints?": lambda v: v is None or _is_ints(v),
        "intss": lambda v: _is_list(v) and all(_is_ints(x) for x in v),
        "shape": lambda v: _is_ints(v) and all(x >= 0 for x in v),
        "dtype": lambda v: isinstance(v, DType),
        "str": lambda v: isinstance(v, str),
        "value": lambda v: _nested_value_error(v) is None,
        "graph": lambda v: isinstance(v, Graph),
    }
    if kind not in checks:
        return f"unknown attribute kind {kind!r} in the registry"
    if checks[kind](value):
        return None
    message = f"expected {_KIND_DESCRIPTIONS[kind]}, got {_show(value)}"
    if kind == "value" and _is_list(value):
        message += f" ({_nested_value_error(value)})"
    return message


def _show(value: Any) -> str:
    from ir.printer import format_attr_value
    try:
        return format_attr_value(value)
    except TypeError:
        return repr(value)


# -- the verifier ----------------------------------------------------------------------------
def verify(graph: Graph) -> None:
    """Raises :class:`VerifyError` at the first broken invariant of ``graph``, else returns None."""
    _verify_graph(graph, "", ())


def _verify_graph(graph: Graph, prefix: str, enclosing: tuple[Graph, ...]) -> None:
    """Checks ``graph``; ``prefix`` starts every message (``node 2 (%2 = fused): body: ``) and
    ``enclosing`` holds the graphs around a body, to explain references that escape it."""
    try:
        _check_inputs(graph)
        names = value_names(graph)
        defined: set[int] = {id(v) for v in graph.inputs}
        position = {id(v): i for i, n in enumerate(graph.nodes) for v in n.outputs}
        for index, node in enumerate(graph.nodes):
            where = _node_label(index, node, names)
            if node.body is not None:
                # First: the node's type rule reads the body, and a body reading outer values
                # corrupts this graph's use lists; the body's own error says more.
                _verify_graph(node.body, f"{where}: body: ", enclosing + (graph,))
            _check_node(node, where, names, defined, position, enclosing)
            defined.update(id(v) for v in node.outputs)
        _check_users(graph, names)
        for i, value in enumerate(graph.outputs):
            if not isinstance(value, Value):
                raise VerifyError(f"{'yield' if enclosing else 'output'} {i}: "
                                  f"{_show_object(value)} is not a Value")
            if id(value) not in defined:
                escape = _escape_hint(value, enclosing)
                raise VerifyError(f"{'yield' if enclosing else 'output'} {i}: "
                                  f"{_name(value, names)} is not a value of this "
                                  f"{'body' if enclosing else 'graph'}{escape}")
        _check_aliases(graph, bool(enclosing))
        if graph.plan is not None:
            if enclosing:
                raise VerifyError("a body has a memory plan; only a function's values are "
                                  "buffers")
            check_plan(graph)
    except VerifyError as e:
        if not prefix:
            raise
        raise VerifyError(prefix + str(e)) from None


def _escape_hint(value: Value, enclosing: tuple[Graph, ...]) -> str:
    """For a value of an enclosing graph used inside a body: why that is wrong."""
    for outer in enclosing:
        if any(v is value for v in outer.values()):
            return (" (it belongs to an enclosing graph; a body sees only its own arguments, "
                    "so pass it as an operand of the fused node)")
    return ""


def _check_aliases(graph: Graph, in_body: bool) -> None:
    if in_body and graph.output_aliases:
        raise VerifyError("a body declares output aliases; only a function's outputs may "
                          "overwrite its inputs")
    aliased_by: dict[int, int] = {}
    for output, target in sorted(graph.output_aliases.items()):
        if not (_is_int(output) and 0 <= output < len(graph.outputs)):
            raise VerifyError(f"output alias names output {output!r}, but the graph has "
                              f"{len(graph.outputs)} output(s)")
        if not (_is_int(target) and 0 <= target < len(graph.inputs)):
            raise VerifyError(f"output {output}: aliases input {target!r}, but the graph has "
                              f"{len(graph.inputs)} input(s)")
        value, overwritten = graph.outputs[output], graph.inputs[target]
        if value.type != overwritten.type:
            raise VerifyError(f"output {output}: has type {value.type} but aliases input "
                              f"%{overwritten.name} of type {overwritten.type}")
        if target in aliased_by:
            raise VerifyError(f"output {output}: aliases input %{overwritten.name}, which "
                              f"output {aliased_by[target]} already overwrites")
        aliased_by[target] = output


def _name(value: Value, names: dict[int, str]) -> str:
    if id(value) in names:
        return names[id(value)]
    owner = f"result of a foreign {value.producer.op} node" if value.producer else "foreign input"
    return f"<{owner}{' %' + value.name if value.name else ''}>"


def _show_object(obj: Any) -> str:
    """``None``, or ``an object of type Tensor``: what stands where a Value should."""
    return "None" if obj is None else f"an object of type {type(obj).__name__}"


def _node_label(index: int, node: Node, names: dict[int, str]) -> str:
    results = ", ".join(names.get(id(v), "%?") for v in node.outputs)
    return f"node {index} ({results} = {node.op})"


def _check_inputs(graph: Graph) -> None:
    seen: dict[str, int] = {}
    for i, value in enumerate(graph.inputs):
        if not isinstance(value, Value):
            raise VerifyError(f"input {i}: {_show_object(value)} is not a Value")
        where = f"input {i} (%{value.name})"
        if not isinstance(value.name, str) or not IDENTIFIER.match(value.name):
            raise VerifyError(f"{where}: input name {value.name!r} is not an identifier "
                              "([A-Za-z_][A-Za-z0-9_.]*)")
        if value.name in seen:
            raise VerifyError(f"{where}: input name %{value.name} is already used by "
                              f"input {seen[value.name]}")
        seen[value.name] = i
        if value.producer is not None:
            raise VerifyError(f"{where}: a graph input must not have a producer node "
                              f"(it is produced by a {value.producer.op} node)")


def _check_node(node: Node, where: str, names: dict[int, str], defined: set[int],
                position: dict[int, int], enclosing: tuple[Graph, ...]) -> None:
    if not registry.exists(node.op):
        raise VerifyError(f"{where}: unknown op '{node.op}'")
    for i, value in enumerate(node.outputs):
        if value.producer is not node or value.index != i:
            raise VerifyError(f"{where}: its result value {i} does not point back at it "
                              "(producer and index)")
    for k, operand in enumerate(node.inputs):
        if not isinstance(operand, Value):
            raise VerifyError(f"{where}: operand {k} is {_show_object(operand)}, not a Value")
        if id(operand) in defined:
            continue
        if id(operand) in position:
            later = position[id(operand)]
            raise VerifyError(f"{where}: operand {k} ({names[id(operand)]}) is used before it is "
                              f"defined (by node {later}); nodes must be in topological order")
        raise VerifyError(f"{where}: operand {k} {_name(operand, names)} is not a value of "
                          f"this {'body' if enclosing else 'graph'}"
                          f"{_escape_hint(operand, enclosing)}")
    opdef = registry.get(node.op)
    _check_attrs(opdef, node.attrs, where)
    types = [v.type for v in node.inputs]
    shown = ", ".join(str(t) for t in types)
    try:
        expected = opdef.infer_results(types, node.attrs)
    except ShapeError as e:
        raise VerifyError(f"{where}: the type rule rejects operand types ({shown}): {e}") from e
    if node.result_types != expected:
        have = ", ".join(map(str, node.result_types))
        want = ", ".join(map(str, expected))
        raise VerifyError(f"{where}: result type {have} differs from the type "
                          f"rule's {want} for operand types ({shown})")


def _check_attrs(opdef: registry.OpDef, attrs: dict, where: str) -> None:
    known = [a.name for a in opdef.attrs]
    unknown = sorted(set(attrs) - set(known))
    if unknown:
        raise VerifyError(f"{where}: unknown attribute(s) {', '.join(unknown)}; "
                          f"{opdef.name} takes {', '.join(known) or 'none'}")
    for attr in opdef.attrs:
        # Graph.add_node stores every attribute, defaults included; references rely on that.
        if attr.name not in attrs:
            raise VerifyError(f"{where}: attribute '{attr.name}' is missing")
        reason = attr_value_error(attr.kind, attrs[attr.name])
        if reason:
            raise VerifyError(f"{where}: attribute '{attr.name}': {reason}")


def _check_users(graph: Graph, names: dict[int, str]) -> None:
    """Each value's ``users`` must list each node once per operand slot that reads the value."""
    uses: dict[int, Counter] = {id(v): Counter() for v in graph.values()}
    for node in graph.nodes:
        for operand in node.inputs:
            uses[id(operand)][id(node)] += 1
    nodes = list(graph.nodes)
    index = {id(n): i for i, n in enumerate(nodes)}
    for value in graph.values():
        owner = (f"input %{value.name}" if value.producer is None
                 else _node_label(index[id(value.producer)], value.producer, names))
        listed = Counter(id(u) for u in value.users)
        for user in value.users:
            if id(user) not in index:
                raise VerifyError(f"{owner}: users of {names[id(value)]} name a {user.op} node "
                                  "that is not in the graph (stale use list)")
        for node_id in set(listed) | set(uses[id(value)]):
            have, want = listed[node_id], uses[id(value)][node_id]
            if have != want:
                user = nodes[index[node_id]]
                raise VerifyError(
                    f"{owner}: users of {names[id(value)]} list "
                    f"{_node_label(index[node_id], user, names)} {have} time(s), but it uses "
                    f"{names[id(value)]} {want} time(s)")
