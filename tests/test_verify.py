"""The verifier: every broken invariant raises a VerifyError naming the node and the rule.

Each test builds a well-formed graph, breaks one thing by hand (the way a buggy pass might), and
checks the message.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from ir import Graph, TensorType, VerifyError, f32, f64, i64, parse, verify
from ir.graph import Node
from ir.verify import attr_value_error

MLP = (Path(__file__).parent / "ir_cases" / "mlp.gir").read_text().rstrip("\n")


@pytest.fixture
def mlp() -> Graph:
    graph = parse(MLP)
    verify(graph)  # the starting point is valid
    return graph


def verify_error(graph: Graph) -> str:
    with pytest.raises(VerifyError) as info:
        verify(graph)
    return str(info.value)


def test_well_formed_graphs_pass():
    g = Graph("f")
    x = g.add_input("x", TensorType(f32, (2, 3)))
    seed = g.add_input("seed", TensorType(i64, ()))
    y = g.add_node("add", [x, x]).output  # one node using a value twice
    r = g.add_node("random_uniform", [seed], {"shape": [2, 3]}).output
    g.set_outputs([g.add_node("mul", [y, r]).output, x])
    assert verify(g) is None


# -- result types ----------------------------------------------------------------------------
def test_result_type_must_match_the_type_rule(mlp):
    mlp.nodes[3].output.type = TensorType(f64, (32, 128))
    assert verify_error(mlp) == ("node 3 (%3 = relu): result type f64[32,128] differs from the "
                                 "type rule's f32[32,128] for operand types (f32[32,128])")


def test_operands_must_satisfy_the_type_rule(mlp):
    mlp.inputs[0].type = TensorType(f32, (32, 100))  # no longer matches the matmul's inner dim
    message = verify_error(mlp)
    assert message.startswith("node 1 (%1 = matmul): the type rule rejects operand types "
                              "(f32[32,100], f32[784,128]): matmul: inner dimensions differ")


def test_op_must_be_registered(mlp):
    mlp.nodes[3].op = "gelu"
    assert verify_error(mlp) == "node 3 (%3 = gelu): unknown op 'gelu'"


# -- operands: defined before use, in this graph ---------------------------------------------
def test_operands_must_be_defined_before_use(mlp):
    mlp.nodes = [mlp.nodes[1], mlp.nodes[0], *mlp.nodes[2:]]  # matmul now before transpose
    assert verify_error(mlp) == ("node 0 (%0 = matmul): operand 1 (%1) is used before it is "
                                 "defined (by node 1); nodes must be in topological order")


def test_operands_must_belong_to_this_graph(mlp):
    other = parse(MLP)
    mlp.nodes[2].replace_input(mlp.nodes[1].output, other.nodes[1].output)
    assert verify_error(mlp) == ("node 2 (%2 = add): operand 0 <result of a foreign matmul node> "
                                 "is not a value of this graph")


def test_a_node_cannot_appear_twice(mlp):
    # The node list is linked through the nodes themselves, so a second copy cannot exist.
    with pytest.raises(ValueError, match="already a node of this graph"):
        mlp.nodes.append(mlp.nodes[3])
    with pytest.raises(ValueError, match="is given twice"):
        mlp.nodes = [*mlp.nodes, mlp.nodes[3]]
    verify(mlp)  # the refused order changed nothing


def test_result_must_point_back_at_its_node(mlp):
    mlp.nodes[0].output.producer = mlp.nodes[1]
    assert ("node 0 (%0 = transpose): its result value 0 does not point back at it"
            in verify_error(mlp))


# -- attributes -------------------------------------------------------------------------------
def test_attribute_values_must_have_the_right_kind(mlp):
    mlp.nodes[0].attrs["perm"] = [1.0, 0.0]
    assert verify_error(mlp) == ("node 0 (%0 = transpose): attribute 'perm': expected a list of "
                                 "ints, got [1.0,0.0]")


def test_attributes_must_be_known(mlp):
    mlp.nodes[3].attrs["alpha"] = 0.1
    assert verify_error(mlp) == ("node 3 (%3 = relu): unknown attribute(s) alpha; relu takes none")


def test_attributes_must_all_be_present(mlp):
    g = parse("func @f(%x: f32[2,3]) -> (f32[2]) {\n"
              "  %0: f32[2] = sum %x {axes=[1]}\n"
              "  return %0\n}")
    del g.nodes[0].attrs["keepdim"]  # defaults are stored too: references read every attribute
    assert verify_error(g) == "node 0 (%0 = sum): attribute 'keepdim' is missing"


@pytest.mark.parametrize("kind, value, ok", [
    ("int", 3, True), ("int", True, False), ("int", 3.0, False),
    ("float", 0.5, True), ("float", 2, True), ("float", False, False),
    ("bool", False, True), ("bool", 0, False),
    ("ints", [1, -2], True), ("ints", (1, 2), True), ("ints", [1, True], False),
    ("intss", [[0, 1, 0]], True), ("intss", [0, 1], False),
    ("dtype", f32, True), ("dtype", "f32", False),
    ("value", 1.5, True), ("value", [[1, 2], [3, 4]], True), ("value", [[1], [2, 3]], False),
    ("value", [1, [2]], False), ("value", "x", False),
])
def test_attribute_kinds(kind, value, ok):
    assert (attr_value_error(kind, value) is None) == ok


# -- use lists --------------------------------------------------------------------------------
def test_use_lists_must_not_miss_a_user(mlp):
    mlp.nodes[2].output.users.clear()
    assert verify_error(mlp) == ("node 2 (%2 = add): users of %2 list node 3 (%3 = relu) 0 "
                                 "time(s), but it uses %2 1 time(s)")


def test_use_lists_must_not_name_a_non_user(mlp):
    mlp.inputs[0].users.append(mlp.nodes[3])
    assert verify_error(mlp) == ("input %x: users of %x list node 3 (%3 = relu) 1 time(s), but "
                                 "it uses %x 0 time(s)")


def test_use_lists_count_each_operand_slot():
    g = parse("func @f(%x: f32[2]) -> (f32[2]) {\n  %0: f32[2] = mul %x, %x\n  return %0\n}")
    g.inputs[0].users.pop()
    assert verify_error(g) == ("input %x: users of %x list node 0 (%0 = mul) 1 time(s), but it "
                               "uses %x 2 time(s)")


def test_use_lists_must_not_name_removed_nodes(mlp):
    stale = Node("exp", [mlp.nodes[3].output], {}, mlp.nodes[3].output.type)  # never added
    assert stale in mlp.nodes[3].output.users
    assert verify_error(mlp) == ("node 3 (%3 = relu): users of %3 name a exp node that is not "
                                 "in the graph (stale use list)")


# -- inputs and outputs -----------------------------------------------------------------------
def test_outputs_must_be_values_of_this_graph(mlp):
    mlp.set_outputs([parse(MLP).nodes[3].output])
    assert verify_error(mlp) == ("output 0: <result of a foreign relu node> is not a value of "
                                 "this graph")


def test_input_names_must_be_unique(mlp):
    mlp.inputs[2].name = "x"
    assert verify_error(mlp) == "input 2 (%x): input name %x is already used by input 0"


@pytest.mark.parametrize("name", ["0", "a b", "", "x-y", "%x"])
def test_input_names_must_be_identifiers(name):
    g = Graph("f")
    g.add_input(name, TensorType(f32, ()))
    assert "is not an identifier" in verify_error(g)


def test_a_none_operand_is_a_verify_error(mlp):
    mlp.nodes[1].inputs[0] = None
    assert verify_error(mlp).startswith("node 1 (%1 = matmul): operand 0 is None, not a Value")


@pytest.mark.parametrize("where, message", [
    ("outputs", "output 0: None is not a Value"),
    ("inputs", "input 0: None is not a Value"),
])
def test_none_in_place_of_a_graph_input_or_output_is_a_verify_error(mlp, where, message):
    getattr(mlp, where)[0] = None
    assert verify_error(mlp) == message
