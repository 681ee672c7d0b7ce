"""The IR text format: printing, parsing, exact round trips and error messages.

The contract: for every graph, ``to_text(parse(to_text(g))) == to_text(g)`` (with and without
debug info), and every malformed text raises a ParseError that points at the offending token.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ir
from ir import Graph, ParseError, SourceLoc, TensorType, f32, f64, i64, parse, to_text, verify
from ir.registry import all_ops
from ir.registry import get as get_op

CASES = sorted((Path(__file__).parent / "ir_cases").glob("*.gir"))

MLP = (Path(__file__).parent / "ir_cases" / "mlp.gir").read_text().rstrip("\n")


def roundtrip(text: str, debug_info: bool = False) -> str:
    return to_text(parse(text), debug_info=debug_info)


# -- printing --------------------------------------------------------------------------------
def test_printer_writes_the_documented_format():
    g = Graph("mlp")
    x = g.add_input("x", TensorType(f32, (32, 784)))
    w = g.add_input("w", TensorType(f32, (128, 784)))
    b = g.add_input("b", TensorType(f32, (128,)))
    wt = g.add_node("transpose", [w], {"perm": [1, 0]}).output
    h = g.add_node("matmul", [x, wt]).output
    h = g.add_node("add", [h, b]).output
    g.set_outputs([g.add_node("relu", [h]).output])
    assert to_text(g) == MLP
    assert str(g) == MLP


def test_node_results_are_renumbered_in_node_order():
    g = parse(MLP.replace("%0", "%wt").replace("%3", "%out"))
    assert to_text(g) == MLP


def test_optional_attributes_equal_to_their_default_are_left_out():
    g = Graph("f")
    x = g.add_input("x", TensorType(f32, (2, 3)))
    g.add_node("sum", [x], {"axes": [1]})
    g.add_node("sum", [x], {"axes": [1], "keepdim": True})
    g.add_node("pad", [x], {"pads": [[0, 0, 0], [1, 1, 0]], "value": -0.0})  # -0.0 is no default
    g.add_node("pad", [x], {"pads": [[0, 0, 0], [1, 1, 0]], "value": 0})  # an int 0 is kept
    lines = to_text(g).splitlines()
    assert lines[1].endswith("= sum %x {axes=[1]}")
    assert lines[2].endswith("= sum %x {axes=[1], keepdim=true}")
    assert lines[3].endswith("{pads=[[0,0,0],[1,1,0]], value=-0.0}")
    assert lines[4].endswith("{pads=[[0,0,0],[1,1,0]], value=0}")


@pytest.mark.parametrize("value, text", [
    (1.0, "1.0"), (1e-05, "1e-05"), (-0.0, "-0.0"), (math.inf, "inf"), (-math.inf, "-inf"),
    (math.nan, "nan"), (1e-300, "1e-300"), (3, "3"), (True, "true"), (f64, "f64"),
    ([[0, 1, 0], [2, 3, 1]], "[[0,1,0],[2,3,1]]"), ('say "hi"\n', r'"say \"hi\"\n"'),
])
def test_attribute_values_print_unambiguously(value, text):
    from ir.printer import format_attr_value
    assert format_attr_value(value) == text


def test_numpy_scalars_in_attributes_print_as_plain_numbers():
    import numpy as np
    g = Graph("f")
    g.add_node("const", [], {"value": np.float64(0.5), "dtype": f32, "shape": (np.int64(2),)})
    assert "{value=0.5, dtype=f32, shape=[2]}" in to_text(g)


def test_locations_print_only_with_debug_info():
    g = Graph("f")
    x = g.add_input("x", TensorType(f32, (2,)))
    g.set_outputs([g.add_node("exp", [x], loc=SourceLoc("model.py", 12)).output])
    assert "loc(" not in to_text(g)
    assert '%0: f32[2] = exp %x loc("model.py":12)' in to_text(g, debug_info=True)


def test_function_names_that_are_not_identifiers_are_quoted():
    g = Graph("<lambda>")
    g.set_outputs([])
    assert to_text(g) == 'func @"<lambda>"() -> () {\n  return\n}'
    assert parse(to_text(g)).name == "<lambda>"


# -- parsing and round trips ---------------------------------------------------------------------
@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_example_files_print_back_exactly(path):
    text = path.read_text().rstrip("\n")
    graph = parse(text, filename=str(path))
    verify(graph)
    assert to_text(graph, debug_info=True) == text
    assert roundtrip(to_text(graph)) == to_text(graph)


def test_parser_builds_the_graph_with_types_attrs_and_locations():
    g = parse('func @f(%x: f32[2,3]) -> (f32[3,2]) {\n'
              '  %0: f32[3,2] = transpose %x {perm=[1,0]} loc("m.py":7)\n'
              '  return %0\n}')
    (node,) = g.nodes
    assert node.op == "transpose" and node.inputs == [g.inputs[0]]
    assert node.attrs == {"perm": [1, 0]}
    assert node.loc == SourceLoc("m.py", 7)
    assert g.outputs == [node.output] and g.inputs[0].users == [node]


def test_parser_fills_defaults_and_keeps_int_versus_float():
    g = parse("func @f(%x: f32[2]) -> (f32[3], f32[3]) {\n"
              "  %0: f32[3] = pad %x {pads=[[1,0,0]]}\n"
              "  %1: f32[3] = pad %x {pads=[[1,0,0]], value=2}\n"
              "  return %0, %1\n}")
    assert g.nodes[0].attrs["value"] == 0.0
    assert type(g.nodes[1].attrs["value"]) is int


def test_tricky_floats_read_back_bit_exactly():
    values = [0.0, -0.0, 1e-300, 5e-324, 1.7976931348623157e308, 0.1, math.inf, -math.inf]
    g = Graph("f")
    g.set_outputs([g.add_node("const", [], {"value": values, "dtype": f64,
                                            "shape": [len(values)]}).output])
    parsed = parse(to_text(g)).nodes[0].attrs["value"]
    assert [math.copysign(1, v) for v in parsed] == [math.copysign(1, v) for v in values]
    assert parsed == values
    nan = parse(to_text(g).replace("0.1", "nan")).nodes[0].attrs["value"][5]
    assert math.isnan(nan)


def test_comments_and_free_layout_are_accepted():
    text = ("// a leading comment\n"
            "func @mlp(%x: f32[32,784],\n"
            "          %w: f32[128,784], %b: f32[128]) -> (f32[32,128]) {  // signature\n"
            "  %0: f32[784,128] = transpose %w { perm = [ 1, 0 ] }\n"
            "  %1: f32[32,128] = matmul %x,%0   %2: f32[32,128] = add %1, %b\n"
            "  %3: f32[32,128] = relu %2\n"
            "  return %3 }\n"
            "// trailing comment\n")
    assert roundtrip(text) == MLP


def test_zero_operand_ops_do_not_swallow_the_next_node():
    text = ("func @f() -> (f32[], f32[]) {\n"
            "  %0: f32[] = const {value=1.0, dtype=f32, shape=[]}\n"
            "  %1: f32[] = neg %0\n"
            "  return %0, %1\n}")
    assert roundtrip(text) == text


def test_outputs_may_be_inputs_or_repeated():
    text = "func @f(%x: f32[2]) -> (f32[2], f32[2]) {\n  return %x, %x\n}"
    assert roundtrip(text) == text


def test_string_escapes_round_trip():
    g = Graph("f")
    x = g.add_input("x", TensorType(f32, (2,)))
    odd = 'a "b" \\ \t\n\x00\u2028é😀'
    g.set_outputs([g.add_node("exp", [x], loc=SourceLoc(odd, 1)).output])
    text = to_text(g, debug_info=True)
    assert "\n" not in text.splitlines()[1]
    assert parse(text).nodes[0].loc == SourceLoc(odd, 1)


def test_ir_package_exports_the_text_api():
    assert ir.parse is parse and ir.to_text is to_text and ir.verify is verify


# -- property: random graphs round-trip ----------------------------------------------------------
DTYPES = [ir.f32, ir.f64, ir.i32, ir.i64, ir.bool_]
TRICKY_FLOATS = [0.0, -0.0, 1.0, 0.1, 1e-05, 1e-300, 5e-324, 1e16, 1.7976931348623157e308,
                 math.inf, -math.inf, math.nan, -2.5]
UNARY = [op.name for op in all_ops() if op.kind == "elementwise" and op.arity == 1
         and not op.attrs]
BINARY = [op.name for op in all_ops() if op.kind == "elementwise" and op.arity == 2]
BITWISE = {"bitwise_and", "bitwise_or", "bitwise_xor"}  # integer and bool operands only
identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,5}", fullmatch=True)
floats = st.one_of(st.sampled_from(TRICKY_FLOATS), st.floats())
finite_floats = st.one_of(st.sampled_from([x for x in TRICKY_FLOATS if math.isfinite(x)]),
                          st.floats(allow_nan=False, allow_infinity=False))


def scalars(dtype):
    if dtype.is_bool:
        return st.booleans()
    if dtype.is_int:
        return st.integers(-2**31, 2**31 - 1)
    return floats


def nested(draw, shape, scalar):
    if not shape:
        return draw(scalar)
    return [nested(draw, shape[1:], scalar) for _ in range(shape[0])]


def _accepts(op, types):
    try:
        get_op(op).infer(types, {})
    except ir.ShapeError:
        return False
    return True


class Builder:
    """Appends random, well-typed nodes to a graph; each method may return None to skip."""

    def __init__(self, draw, graph):
        self.draw, self.graph = draw, graph
        self.pool = list(graph.inputs)
        self.seed = next((v for v in graph.inputs if v.type == TensorType(i64, ())), None)

    def emit(self, op, inputs, attrs=None):
        loc = self.draw(st.none() | st.builds(SourceLoc, st.text(max_size=6),
                                              st.integers(0, 10**6)))
        value = self.graph.add_node(op, inputs, attrs, loc=loc).output
        self.pool.append(value)
        return value

    def pick(self, min_rank=0, integral=False):
        candidates = [v for v in self.pool if v.type.ndim >= min_rank
                      and not (integral and v.type.dtype.is_float)]
        return self.draw(st.sampled_from(candidates)) if candidates else None

    def const(self, shape=None, dtype=None):
        draw = self.draw
        dtype = dtype or draw(st.sampled_from(DTYPES))
        shape = list(shape if shape is not None else draw(st.lists(st.integers(0, 3), max_size=3)))
        scalar = scalars(dtype)
        # A nested list cannot spell a shape like [0,2] ([] has shape [0]): fill those instead.
        spellable = 0 not in shape[:-1]
        value = nested(draw, shape, scalar) if spellable and draw(st.booleans()) else draw(scalar)
        return self.emit("const", [], {"value": value, "dtype": dtype, "shape": shape})

    def typed_op(self, names, inputs):
        """One of the ops ``names`` whose type rule takes ``inputs`` (neg, sub and pow reject
        bools), emitted on them."""
        types = [v.type for v in inputs]
        usable = [n for n in names if _accepts(n, types)]
        return self.emit(self.draw(st.sampled_from(usable)), inputs) if usable else None

    def unary(self):
        return self.typed_op(UNARY, [self.pick()])

    def cast(self):
        return self.emit("cast", [self.pick()], {"dtype": self.draw(st.sampled_from(DTYPES))})

    def broadcastable_shape(self, shape):
        """A shape that broadcasts with ``shape``: leading axes dropped, some sizes set to 1."""
        shape = list(shape[self.draw(st.integers(0, len(shape))):])
        return [1 if self.draw(st.booleans()) else d for d in shape]

    def binary(self):
        op = self.draw(st.sampled_from(BINARY))
        integral = op in BITWISE
        x = self.pick(integral=integral)
        if x is None:
            return None
        dtype = self.draw(st.sampled_from([ir.i32, i64, ir.bool_])) if integral else None
        y = self.const(self.broadcastable_shape(x.shape), dtype)
        a, b = self.draw(st.permutations([x, y]))
        return self.typed_op(BINARY, [a, b])

    def where(self):
        x = self.pick()
        cond = self.emit("gt", [x, self.const([])])
        return self.emit("where", [cond, x, self.const(self.broadcastable_shape(x.shape))])

    def reduce(self):
        x = self.pick()
        op = self.draw(st.sampled_from(["sum", "max", "min"]))
        # max and min of nothing are undefined, so they only reduce non-empty axes.
        allowed = [a for a, d in enumerate(x.shape) if d > 0 or op == "sum"]
        axes = self.draw(st.lists(st.sampled_from(allowed), unique=True)) if allowed else []
        axes = [a - x.type.ndim if self.draw(st.booleans()) else a for a in axes]
        attrs = {"axes": axes}
        if self.draw(st.booleans()):
            attrs["keepdim"] = self.draw(st.booleans())
        return self.emit(op, [x], attrs)

    def argmax(self):
        x = self.pick(min_rank=1)
        allowed = [a for a, d in enumerate(x.shape) if d > 0] if x is not None else []
        if not allowed:
            return None
        axis = self.draw(st.sampled_from(allowed)) - self.draw(st.sampled_from([0, x.type.ndim]))
        return self.emit("argmax", [x], {"axis": axis, "keepdim": self.draw(st.booleans())})

    def reshape(self):
        x = self.pick()
        shape = self.draw(st.sampled_from([[x.type.size], [1, x.type.size],
                                           list(reversed(x.shape)), list(x.shape) + [1]]))
        return self.emit("reshape", [x], {"shape": shape})

    def transpose(self):
        x = self.pick()
        return self.emit("transpose", [x], {"perm": self.draw(st.permutations(range(x.type.ndim)))})

    def broadcast_to(self):
        x = self.pick()
        lead = self.draw(st.lists(st.integers(1, 3), max_size=2))
        return self.emit("broadcast_to", [x], {
            "shape": lead + [self.draw(st.integers(1, 3)) if d == 1 else d for d in x.shape]})

    def slice(self):
        x = self.pick()
        starts, stops, steps = [], [], []
        for d in x.shape:
            lo = self.draw(st.integers(0, d))
            starts.append(lo)
            stops.append(self.draw(st.integers(lo, d)))
            steps.append(self.draw(st.integers(1, 3)))
        return self.emit("slice", [x], {"starts": starts, "stops": stops, "steps": steps})

    def pad(self):
        x = self.pick()
        pads = [self.draw(st.lists(st.integers(0, 2), min_size=3, max_size=3)) for _ in x.shape]
        attrs = {"pads": pads}
        if self.draw(st.booleans()):  # a fill value the dtype holds
            dtype = x.type.dtype
            attrs["value"] = self.draw(st.integers(0, 1) if dtype.is_bool else
                                       st.integers(-5, 5) if dtype.is_int else
                                       floats | st.integers(-5, 5))
        return self.emit("pad", [x], attrs)

    def concat(self):
        x = self.pick(min_rank=1)
        if x is None:
            return None
        axis = self.draw(st.integers(-x.type.ndim, x.type.ndim - 1))
        others = []
        for _ in range(self.draw(st.integers(0, 2))):
            shape = list(x.shape)
            shape[axis] = self.draw(st.integers(0, 3))
            others.append(self.const(shape))
        return self.emit("concat", [x] + others, {"axis": axis})

    def matmul(self):
        x = self.pick(min_rank=2)
        if x is None:
            return None
        if self.draw(st.booleans()):
            n = x.type.ndim
            y = self.emit("transpose", [x], {"perm": list(range(n - 2)) + [n - 1, n - 2]})
        else:
            y = self.const([x.shape[-1], self.draw(st.integers(1, 3))])
        return self.emit("matmul", [x, y])

    def gather(self):
        x = self.pick(min_rank=1)
        if x is None:
            return None
        axis = self.draw(st.integers(0, x.type.ndim - 1))
        shape = [self.draw(st.integers(1, 3)) if a == axis else self.draw(st.integers(0, d))
                 for a, d in enumerate(x.shape)]
        index = self.const(shape, i64)
        if self.draw(st.booleans()):
            return self.emit("gather", [x, index], {"axis": axis})
        return self.emit("scatter_add", [x, index, self.const(shape, x.type.dtype)], {"axis": axis})

    def random(self):
        if self.seed is None:
            return None
        op = self.draw(st.sampled_from(["random_uniform", "random_normal"]))
        attrs = {"shape": self.draw(st.lists(st.integers(0, 3), max_size=3))}
        optional = {"dtype": st.sampled_from([f32, f64]), "stream": st.integers(0, 2**40)}
        for name, strategy in optional.items():
            if self.draw(st.booleans()):
                attrs[name] = self.draw(strategy)
        if self.draw(st.booleans()):  # finite bounds, low <= high and std >= 0, or none
            a, b = self.draw(finite_floats), self.draw(finite_floats)
            attrs.update({"low": min(a, b), "high": max(a, b)} if op == "random_uniform"
                         else {"mean": a, "std": abs(b)})
        return self.emit(op, [self.seed], attrs)

    STEPS = ["const", "unary", "cast", "binary", "where", "reduce", "argmax", "reshape",
             "transpose", "broadcast_to", "slice", "pad", "concat", "matmul", "gather", "random"]


@st.composite
def random_graphs(draw):
    graph = Graph(draw(identifiers | st.text(max_size=6)))
    names = draw(st.lists(identifiers, min_size=1, max_size=3, unique=True))
    for name in names:
        shape = draw(st.lists(st.integers(1, 4), max_size=3))
        graph.add_input(name, TensorType(draw(st.sampled_from(DTYPES)), tuple(shape)))
    if draw(st.booleans()) and "seed" not in names:
        graph.add_input("seed", TensorType(i64, ()))
    builder = Builder(draw, graph)
    for _ in range(draw(st.integers(1, 8))):
        getattr(builder, draw(st.sampled_from(Builder.STEPS)))()
    graph.set_outputs(draw(st.lists(st.sampled_from(builder.pool), max_size=3)))
    return graph


@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(graph=random_graphs(), debug_info=st.booleans())
def test_random_graphs_print_parse_print_identically(graph, debug_info):
    verify(graph)
    text = to_text(graph, debug_info=debug_info)
    parsed = parse(text)
    verify(parsed)
    assert to_text(parsed, debug_info=debug_info) == text
    assert to_text(parsed) == to_text(graph)


# -- parse errors --------------------------------------------------------------------------------
BASE = """\
func @f(%x: f32[2,3], %w: f32[3,4]) -> (f32[2,4]) {
  %0: f32[2,4] = matmul %x, %w
  return %0
}"""


def error_of(text: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse(text, filename="t.gir")
    return info.value


def with_node(line: str, signature: str = "(f32[2,4])") -> str:
    return BASE.replace("  %0: f32[2,4] = matmul %x, %w", line).replace("(f32[2,4])", signature)


@pytest.mark.parametrize("text, message, line, column", [
    # truncated input
    (BASE[:-1], "unexpected end of input, expected '}'", 3, 12),
    (BASE[:BASE.index("return")], "unexpected end of input, expected more nodes", 2, 31),
    ("func @f(%x: f32[2]) -> (f32[2]) {\n  %0: f32[2] = exp", "unexpected end of input", 2, 19),
    ("func @f(%x: f32[2", "unexpected end of input, expected ',' or ']'", 1, 18),
    ("", "unexpected end of input, expected 'func'", 1, 1),
    # unknown ops and dtypes
    (BASE.replace("matmul", "matmull"), "unknown op 'matmull'; did you mean 'matmul'", 2, 18),
    (BASE.replace("matmul", "frobnicate"), "unknown op 'frobnicate'", 2, 18),
    (BASE.replace("%w: f32", "%w: u16"), "unknown dtype 'u16'; expected one of", 1, 27),
    # arity
    (BASE.replace("matmul %x, %w", "matmul %x"), "matmul takes 2 operand(s), got 1", 2, 18),
    # declared result type vs inferred type
    (BASE.replace("%0: f32[2,4]", "%0: f32[2,5]"),
     "type mismatch: %0 is declared f32[2,5], but matmul infers f32[2,4]", 2, 7),
    # the op's type rule rejects the operands (a ShapeError becomes a ParseError at the op)
    (BASE.replace("matmul %x, %w", "matmul %w, %x"),
     "matmul: inner dimensions differ: [3, 4] @ [2, 3] (4 != 2) "
     "(operand types: f32[3,4], f32[2,3])", 2, 18),
    # undefined and duplicate values
    (BASE.replace("matmul %x, %w", "matmul %x, %v"), "use of undefined value %v", 2, 29),
    (BASE.replace("return %0", "return %1"), "use of undefined value %1", 3, 10),
    (with_node("  %0: f32[2,4] = matmul %x, %w\n  %0: f32[2,4] = relu %0"),
     "redefinition of value %0 (first defined at line 2, column 3)", 3, 3),
    (BASE.replace("%w: f32[3,4]", "%x: f32[3,4]"), "redefinition of value %x", 1, 23),
    (with_node("  %x: f32[2,4] = matmul %x, %w"), "redefinition of value %x", 2, 3),
    # attributes: unknown, duplicated, missing, wrong kind, unknown value
    (with_node("  %0: f32[3,2] = transpose %x {perm=[1,0], axis=1}", "(f32[2,4])"),
     "unknown attribute 'axis' for transpose (it takes perm)", 2, 44),
    (with_node("  %0: f32[3,2] = transpose %x {prem=[1,0]}", "(f32[2,4])"),
     "unknown attribute 'prem' for transpose (it takes perm); did you mean 'perm'?", 2, 32),
    (with_node("  %0: f32[3,2] = transpose %x {perm=[1,0], perm=[1,0]}"),
     "attribute 'perm' is given twice", 2, 44),
    (with_node("  %0: f32[3,2] = transpose %x"), "transpose needs attribute 'perm'", 2, 18),
    (with_node("  %0: f32[3,2] = transpose %x {perm=1.5}"),
     "attribute 'perm' of transpose: expected a list of ints, got 1.5", 2, 37),
    (with_node("  %0: f32[2] = sum %x {axes=[1], keepdim=1}"),
     "attribute 'keepdim' of sum: expected true or false, got 1", 2, 42),
    (with_node("  %0: f64[2,3] = cast %x {dtype=f46}"),
     "unknown attribute value 'f46'; did you mean 'f64'", 2, 33),
    (with_node("  %0: f32[2,2] = const {value=[[1.0],[2.0,3.0]], dtype=f32, shape=[2,2]}"),
     "attribute 'value' of const: expected a number or a nested list of numbers", 2, 31),
    (with_node("  %0: f32[3,2] = transpose %x {perm=[1,0]"), "expected ',' or '}', got 'return'",
     3, 3),
    # return vs signature
    (BASE.replace("-> (f32[2,4])", "-> (f32[2,5])"),
     "return type mismatch: result 0 is declared f32[2,5] in the signature, "
     "but %0 has type f32[2,4]", 3, 10),
    (BASE.replace("-> (f32[2,4])", "-> (f32[2,4], f32[2,4])"),
     "return gives 1 value(s), but the signature declares 2 result(s)", 3, 3),
    # garbage, bad literals, trailing text
    (BASE.replace("matmul %x, %w", "matmul %x, %w $"), "unexpected character '$'", 2, 32),
    (BASE.replace("f32[2,3]", "f32[2,-3]"), "expected a dimension (a non-negative integer), "
                                            "got '-3'", 1, 19),
    (BASE + "\nfunc @g() -> () {\n  return\n}",
     "expected end of input after the function (one func per text), got 'func'", 5, 1),
    (with_node('  %0: f32[2,4] = matmul %x, %w loc("a.py:3)'),
     "unterminated string literal", 2, 36),
    (with_node('  %0: f32[2,4] = matmul %x, %w loc("a\\q.py":3)'),
     "unknown escape sequence '\\q' in string", 2, 38),
    ("func f() -> () {\n  return\n}", "expected a function name '@name', got 'f'", 1, 6),
])
def test_parse_errors_say_what_and_where(text, message, line, column):
    error = error_of(text)
    assert message in error.message
    assert (error.line, error.column) == (line, column), error.render()


def test_parse_error_renders_file_line_column_and_caret():
    error = error_of(BASE.replace("%x, %w", "%x, %v"))
    assert str(error) == ("t.gir:2:29: error: use of undefined value %v\n"
                          "  %0: f32[2,4] = matmul %x, %v\n"
                          "                            ^")


def test_every_parse_error_points_inside_the_text():
    """Cutting the text anywhere gives a ParseError whose caret lies on a real line."""
    text = Path(CASES[0]).read_text()
    for end in range(len(text) - 2):
        with pytest.raises(ParseError) as info:
            parse(text[:end])
        assert 1 <= info.value.line <= text[:end].count("\n") + 1
        assert 1 <= info.value.column <= len(info.value.source_line) + 1


PIECES = list('%@{}[](),:=-"\\.0e9 \n') + ["inf", "nan", "f32", "true", "loc", "return", "//"]


@settings(max_examples=200, deadline=None)
@given(case=st.sampled_from(CASES), data=st.data())
def test_mangled_text_gives_a_parse_error_or_a_valid_graph(case, data):
    """Deleting or inserting tokens anywhere never crashes the parser with another exception."""
    text = case.read_text()
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        if data.draw(st.booleans()):
            text = text[:at] + text[at + data.draw(st.integers(1, 4)):]
        else:
            text = text[:at] + data.draw(st.sampled_from(PIECES)) + text[at:]
    try:
        graph = parse(text)
    except ParseError as e:
        assert 1 <= e.column <= len(e.source_line) + 1
    else:
        verify(graph)
        assert roundtrip(to_text(graph, True), True) == to_text(graph, True)

# -- documentation -------------------------------------------------------------------------------
def test_docs_list_every_registered_op_and_no_other():
    docs = (Path(__file__).resolve().parents[1] / "docs" / "IR.md").read_text()
    table = docs.split("\n## Ops\n")[1].split("\n## ")[0]
    documented = set()
    for row in table.splitlines():
        if row.startswith("| `"):
            documented.update(re.findall(r"`(\w+)`", row.split("|")[1]))
    assert documented == {op.name for op in all_ops()}, "update the op table in docs/IR.md"
