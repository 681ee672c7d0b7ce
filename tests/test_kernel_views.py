"""Movement ops as views in the kernel IR (``backends.kernel.views``): reshape, transpose,
slice, broadcast_to and pad make no copy kernel when kernels or GEMMs can read the source's
buffer in place, and every result stays what the interpreter computes, also where a view's base
is updated in place (donated state) or a view is returned to the caller."""
from __future__ import annotations

import numpy as np
import pytest
from test_backend_llvm import LLVM, assert_same_as_interpreter

import backends
import ir
import passes
from backends.kernel import Gemm, Kernel, LibraryCall, build_program
from backends.kernel.views import View, padded, reshape_linear, reshaped, sliced, transposed
from backends.llvm.backend import LLVMBackend
from conftest import assert_close
from ir.dtypes import f32
from ir.scalar import const

NUMPY_GEMM = LLVMBackend(use_blas=False)


def _inputs(graph: ir.Graph, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = []
    for value in graph.inputs:
        dtype = value.type.dtype.numpy
        if np.issubdtype(dtype, np.floating):
            arrays.append(rng.uniform(-2, 2, value.type.shape).astype(dtype))
        else:
            arrays.append(rng.integers(-50, 50, value.type.shape).astype(dtype))
    return arrays


def _copy_kernels(program) -> list[Kernel]:
    """Kernels that only move elements: one load stored as it is."""
    return [k for k in program.kernels if len(k.loads) == 1 and k.reduction is None
            and all(s.value.op == "var" for s in k.stores)]


# -- the view algebra -----------------------------------------------------------------------------
def test_reshape_of_a_view_keeps_strides_where_axes_split_and_refuses_merging_a_transpose():
    x = View.contiguous((4, 6))                        # x: [4, 6]
    split = reshaped(x, (4, 6), (2, 2, 3, 2))
    assert split is not None and split.strides == (12, 6, 2, 1)
    t = transposed(x, [1, 0])                          # x.T: [6, 4], strides (1, 6)
    assert reshaped(t, (6, 4), (24,)) is None          # no single stride walks x.T in order
    assert reshaped(t, (6, 4), (3, 2, 4)) == View(0, (2, 1, 6))


@pytest.mark.parametrize("coefficients,shape,target", [
    ((12, 4, 1), (2, 3, 4), (6, 4)),
    ((12, 4, 1), (2, 3, 4), (24,)),
    ((0, 1), (5, 3), (5, 1, 3)),
    ((3, 1), (1, 3), (3,)),
    ((7, 1), (4, 3), (2, 2, 3)),
])
def test_reshape_linear_reads_the_same_elements_at_every_coordinate(coefficients, shape, target):
    moved = reshape_linear(coefficients, shape, target)
    assert moved is not None
    for flat in range(int(np.prod(shape))):
        old, new = np.unravel_index(flat, shape), np.unravel_index(flat, target)
        assert np.dot(old, coefficients) == np.dot(new, moved)


def test_a_padded_slice_reads_inside_its_source_only_where_its_guards_hold():
    x = View.contiguous((5,))
    piece = padded(sliced(x, [1], [2]), (2,), [[1, 2, 0]], const(0.0, f32))  # [0, x1, x3, 0, 0]
    assert piece is not None
    inside = [all(0 <= g.constant + c * g.coefficients[0] < g.extent for g in piece.guards)
              for c in range(5)]
    assert inside == [False, True, True, False, False]
    assert [piece.offset + c * piece.strides[0] for c in (1, 2)] == [1, 3]


# -- no copies where a kernel reads the view ------------------------------------------------------
CHAIN = """func @f(%x: f32[4,6], %y: f32[3,2,2]) -> (f32[3,2,2]) {
  %0: f32[2,2,6] = reshape %x {shape=[2,2,6]}
  %1: f32[6,2,2] = transpose %0 {perm=[2,0,1]}
  %2: f32[3,2,2] = slice %1 {starts=[1,0,0], stops=[6,2,2], steps=[2,1,1]}
  %3: f32[3,2,2] = add %2, %y
  return %3
}"""


def test_a_chain_of_movement_ops_read_by_a_kernel_makes_no_copy():
    graph = ir.parse(CHAIN)
    program = build_program(graph)
    assert len(program.steps) == 1 and not _copy_kernels(program)
    x, y = _inputs(graph)
    want = x.astype(np.float64).reshape(2, 2, 6).transpose(2, 0, 1)[1::2] + y
    assert_close(LLVM.compile(graph)(x, y)[0], want.astype(np.float32))
    assert_same_as_interpreter(graph, [x, y])


def test_a_view_returned_to_the_caller_is_copied_into_an_array_of_its_own():
    graph = ir.parse("""func @f(%x: f32[3,4]) -> (f32[4,3], f32[4,3]) {
      %0: f32[3,4] = exp %x
      %1: f32[4,3] = transpose %0 {perm=[1,0]}
      %2: f32[4,3] = neg %1
      return %1, %2
    }""")
    compiled = LLVM.compile(graph)
    x = _inputs(graph)[0]
    first, _ = compiled(x)
    kept = first.copy()
    compiled(x + 1)  # the arena holds other values now
    np.testing.assert_array_equal(first, kept)
    assert_close(first, np.exp(x.astype(np.float64)).T.astype(np.float32))
    assert_same_as_interpreter(graph, [x])


def test_a_view_read_by_a_library_call_is_copied_out_first():
    graph = ir.parse("""func @f(%x: f32[2,6]) -> (f32[11,3]) {
      %0: f32[6,2] = transpose %x {perm=[1,0]}
      %1: f32[11,3] = pad %0 {pads=[[0,0,1],[0,1,0]], value=0.0}
      return %1
    }""")  # interior padding: no view, the NumPy reference pads a copy of x.T
    program = build_program(graph)
    assert [type(s) for s in program.steps] == [Kernel, LibraryCall]
    assert_same_as_interpreter(graph, _inputs(graph))


# -- pad (a slice's gradient) ---------------------------------------------------------------------
SLICE_GRADIENTS = """func @f(%q: f32[1,2,3], %k: f32[1,2,3], %v: f32[1,2,3]) -> (f32[3,2,3]) {
  %0: f32[3,2,3] = pad %q {pads=[[0,2,0],[0,0,0],[0,0,0]], value=0.0}
  %1: f32[3,2,3] = pad %k {pads=[[1,1,0],[0,0,0],[0,0,0]], value=0.0}
  %2: f32[3,2,3] = pad %v {pads=[[2,0,0],[0,0,0],[0,0,0]], value=0.0}
  %3: f32[3,2,3] = add %0, %1
  %4: f32[3,2,3] = add %3, %2
  return %4
}"""


def test_summed_pads_of_slice_gradients_are_kernels_over_each_piece_without_guards():
    graph = passes.run(ir.parse(SLICE_GRADIENTS), "fuse")
    program = build_program(graph)
    assert not any(isinstance(s, LibraryCall) for s in program.steps)
    assert [k.shape for k in program.kernels] == [(1, 2, 3)] * 3
    assert [k.partial for k in program.kernels] == [False, True, True]
    assert not any(ld.bounds for k in program.kernels for ld in k.loads)
    q, k, v = _inputs(graph)
    assert_close(LLVM.compile(graph)(q, k, v)[0], np.concatenate([q, k, v]))
    assert_same_as_interpreter(graph, [q, k, v])


@pytest.mark.parametrize("dtype,value", [("f32", -1.5), ("i32", 7), ("bool", 1)])
def test_a_padded_view_reads_its_pad_value_outside_in_every_dtype(dtype, value):
    graph = ir.parse(f"""func @f(%x: {dtype}[2,3], %y: {dtype}[4,3]) -> ({dtype}[4,3]) {{
      %0: {dtype}[4,3] = pad %x {{pads=[[1,1,0],[0,0,0]], value={value}}}
      %1: {dtype}[4,3] = maximum %0, %y
      return %1
    }}""")
    assert_same_as_interpreter(graph, _inputs(graph))


def test_a_pad_along_two_axes_keeps_its_guards_and_matches_the_interpreter():
    graph = ir.parse("""func @f(%x: f32[2,3]) -> (f32[4,6]) {
      %0: f32[4,6] = pad %x {pads=[[1,1,0],[2,1,0]], value=0.5}
      %1: f32[4,6] = exp %0
      return %1
    }""")
    assert_same_as_interpreter(graph, _inputs(graph))


# -- GEMMs reading views in place -----------------------------------------------------------------
HEADS = """func @f(%x: f32[2,5,12], %y: f32[2,5,12]) -> (f32[2,3,5,5]) {
  %0: f32[2,5,3,4] = reshape %x {shape=[2,5,3,4]}
  %1: f32[2,3,5,4] = transpose %0 {perm=[0,2,1,3]}
  %2: f32[2,5,3,4] = reshape %y {shape=[2,5,3,4]}
  %3: f32[2,3,4,5] = transpose %2 {perm=[0,2,3,1]}
  %4: f32[2,3,5,5] = matmul %1, %3
  return %4
}"""


def test_a_permuted_operand_is_read_by_the_gemm_in_place_with_its_strides():
    graph = ir.parse(HEADS)
    program = build_program(graph, strided_gemms=True)
    (gemm,) = program.steps
    assert isinstance(gemm, Gemm) and gemm.a_strided is not None and gemm.b_strided is not None
    x, y = _inputs(graph)
    heads = x.astype(np.float64).reshape(2, 5, 3, 4).transpose(0, 2, 1, 3)
    keys = y.astype(np.float64).reshape(2, 5, 3, 4).transpose(0, 2, 3, 1)
    want = (heads @ keys).astype(np.float32)
    assert_close(LLVM.compile(graph)(x, y)[0], want)
    assert_close(NUMPY_GEMM.compile(graph)(x, y)[0], want)
    assert_same_as_interpreter(graph, [x, y])


def test_renderers_that_read_no_strided_operands_get_contiguous_copies():
    program = build_program(ir.parse(HEADS))
    gemm = next(s for s in program.steps if isinstance(s, Gemm))
    assert gemm.a_strided is None and gemm.b_strided is None
    assert len(_copy_kernels(program)) == 2


def test_a_slice_of_a_projection_feeds_a_gemm_at_its_offset():
    graph = ir.parse("""func @f(%x: f32[6,8], %w: f32[4,3]) -> (f32[6,3], f32[6,3]) {
      %0: f32[6,4] = slice %x {starts=[0,4], stops=[6,8], steps=[1,1]}
      %1: f32[6,3] = matmul %0, %w
      %2: f32[6,4] = slice %x {starts=[0,0], stops=[6,4], steps=[1,1]}
      %3: f32[4,6] = transpose %2 {perm=[1,0]}
      %4: f32[6,4] = transpose %3 {perm=[1,0]}
      %5: f32[6,3] = matmul %4, %w
      return %1, %5
    }""")
    program = build_program(graph, strided_gemms=True)
    assert all(isinstance(s, Gemm) and s.a_strided is not None for s in program.steps)
    x, w = _inputs(graph)
    got = LLVM.compile(graph)(x, w)
    assert_close(got[0], (x[:, 4:].astype(np.float64) @ w).astype(np.float32))
    assert_close(got[1], (x[:, :4].astype(np.float64) @ w).astype(np.float32))
    assert_same_as_interpreter(graph, [x, w])


MERGED_HEADS = """func @f(%x: f32[2,3,5,4], %w: f32[12,7]) -> (f32[5,2,7]) {
  %0: f32[5,2,3,4] = transpose %x {perm=[2,0,1,3]}
  %1: f32[5,2,12] = reshape %0 {shape=[5,2,12]}
  %2: f32[5,2,7] = matmul %1, %w
  return %2
}"""


@pytest.mark.parametrize("strided", [True, False])
def test_heads_merged_back_by_a_reshape_are_copied_once_into_the_gemm_operand(strided):
    graph = ir.parse(MERGED_HEADS)
    program = build_program(graph, strided_gemms=strided)
    assert [type(s) for s in program.steps] == [Kernel, Gemm]  # one copy, not two
    assert program.steps[1].a is program.steps[0].outputs[0]
    x, w = _inputs(graph)
    want = x.astype(np.float64).transpose(2, 0, 1, 3).reshape(5, 2, 12) @ w
    assert_close(LLVM.compile(graph)(x, w)[0], want.astype(np.float32))


# -- aliasing safety: a view's base written in place ----------------------------------------------
def test_a_parameter_read_through_a_view_after_its_update_reads_the_old_value():
    # the update of %w must not be stored into %w's array while w.T is still to be read
    graph = ir.parse("""func @f(%w: f32[3,3], %g: f32[3,3]) -> (f32[3,3] aliases %w, f32[3,3]) {
      %0: f32[3,3] = sub %w, %g
      %1: f32[3,3] = transpose %w {perm=[1,0]}
      %2: f32[3,3] = mul %1, %0
      return %0, %2
    }""")
    w, g = _inputs(graph)
    want_w, want_2 = w - g, w.T * (w - g)
    got_w, got_2 = LLVM.compile(graph)(w.copy(), g)
    assert_close(got_w, want_w)
    assert_close(got_2, want_2)
    assert_same_as_interpreter(graph, [w.copy(), g])


def test_an_update_that_reads_its_parameter_transposed_is_not_written_in_place():
    graph = ir.parse("""func @f(%w: f32[4,4]) -> (f32[4,4] aliases %w) {
      %0: f32[4,4] = transpose %w {perm=[1,0]}
      %1: f32[4,4] = add %0, %w
      return %1
    }""")
    (w,) = _inputs(graph)
    want = w + w.T
    (got,) = LLVM.compile(graph)(w.copy())
    assert_close(got, want)
    assert_same_as_interpreter(graph, [w.copy()])


@pytest.mark.parametrize("update_first", [False, True])
def test_a_gemm_reading_a_view_of_a_donated_parameter_reads_the_old_value(update_first):
    update = "%2: f32[4,6] = mul %w, %w"
    product = """%0: f32[2,6] = slice %w {starts=[1,0], stops=[3,6], steps=[1,1]}
      %1: f32[3,6] = matmul %x, %0"""
    body = f"{update}\n      {product}" if update_first else f"{product}\n      {update}"
    graph = ir.parse(f"""func @f(%w: f32[4,6], %x: f32[3,2]) -> (f32[4,6] aliases %w, f32[3,6]) {{
      {body}
      return %2, %1
    }}""")
    w, x = _inputs(graph)
    got_w, got_1 = LLVM.compile(graph)(w.copy(), x)
    assert_close(got_1, (x.astype(np.float64) @ w[1:3]).astype(np.float32))
    assert_close(got_w, w * w)
    assert_same_as_interpreter(graph, [w.copy(), x])


# -- a whole attention block -----------------------------------------------------------------------
def test_an_attention_block_training_step_on_llvm_matches_the_interpreter():
    import graphc
    from graphc import nn

    graphc.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    x = graphc.from_numpy(np.random.default_rng(3).standard_normal((2, 5, 8)).astype(np.float32))

    def step(t):
        mha.zero_grad()
        loss = (mha(t, t, t, need_weights=False)[0] ** 2).mean()
        loss.backward()
        return loss, *[p.grad for p in mha.parameters()]

    want = [r.numpy().copy() for r in graphc.compile(step, backend="interpreter")(x)]
    got = [r.numpy().copy() for r in graphc.compile(step, backend="llvm")(x)]
    for g, w in zip(got, want):
        assert_close(g, w)


@pytest.mark.parametrize("text", [CHAIN, SLICE_GRADIENTS, HEADS, MERGED_HEADS])
def test_the_numba_renderer_reads_the_same_views(text):
    if "numba" not in backends.available():
        pytest.skip("numba is not installed")
    graph = passes.run(ir.parse(text), "fuse")
    assert_same_as_interpreter(graph, _inputs(graph), backend=backends.get("numba"))


# -- identities ------------------------------------------------------------------------------------
def test_stop_gradient_reads_its_operand_without_a_copy():
    graph = ir.parse("""func @f(%x: f32[4,3]) -> (f32[4,3], f32[3]) {
      %0: f32[4,3] = exp %x
      %1: f32[4,3] = stop_gradient %0
      %2: f32[3] = sum %1 {axes=[0]}
      %3: f32[3] = stop_gradient %2
      return %1, %3
    }""")
    program = build_program(graph)
    assert len(program.steps) == 2 and not _copy_kernels(program)
    assert_same_as_interpreter(graph, _inputs(graph))


@pytest.mark.parametrize("returned", ["%w", "%1"])
def test_a_parameter_returned_beside_its_in_place_update_keeps_its_old_value(returned):
    graph = ir.parse(f"""func @f(%w: f32[3], %g: f32[3]) -> (f32[3] aliases %w, f32[3]) {{
      %0: f32[3] = sub %w, %g
      %1: f32[3] = stop_gradient %w
      return %0, {returned}
    }}""")
    w, g = _inputs(graph)
    new, old = LLVM.compile(graph)(w.copy(), g)
    np.testing.assert_array_equal(old, w)
    assert_close(new, w - g)
    assert_same_as_interpreter(graph, [w.copy(), g])


def test_a_matmul_whose_epilogue_only_reshapes_writes_no_copy():
    graph = passes.run(ir.parse("""func @f(%a: f32[2,3,4], %b: f32[2,4,5], %c: f32[3,2,3,5])
        -> (f32[3,2,3,5]) {
      %0: f32[2,3,5] = matmul %a, %b
      %1: f32[1,2,3,5] = reshape %0 {shape=[1,2,3,5]}
      %2: f32[3,2,3,5] = pad %1 {pads=[[1,1,0],[0,0,0],[0,0,0],[0,0,0]], value=0.0}
      %3: f32[3,2,3,5] = add %2, %c
      return %3
    }"""), "fuse")
    program = build_program(graph)
    assert not _copy_kernels(program) and len(program.kernels) == 3  # the pad's pieces
    a, b, c = _inputs(graph)
    want = c.astype(np.float64)
    want[1] += a.astype(np.float64) @ b
    assert_close(LLVM.compile(graph)(a, b, c)[0], want.astype(np.float32))
    assert_same_as_interpreter(graph, [a, b, c])


@pytest.mark.parametrize("text", [
    """func @f(%x: f32[0,3], %y: f32[3,1,0]) -> (f32[3,1,0]) {
      %0: f32[3,0] = transpose %x {perm=[1,0]}
      %1: f32[3,1,0] = reshape %0 {shape=[3,1,0]}
      %2: f32[3,1,0] = add %1, %y
      return %2
    }""",
    """func @f(%x: f32[2,0]) -> (f32[4,0], f32[4,0]) {
      %0: f32[4,0] = pad %x {pads=[[1,1,0],[0,0,0]], value=1.0}
      %1: f32[4,0] = exp %0
      return %0, %1
    }""",
])
def test_views_of_empty_values_read_nothing_and_match_the_interpreter(text):
    graph = passes.run(ir.parse(text), "fuse")
    assert_same_as_interpreter(graph, _inputs(graph))


# -- random chains of movement ops ----------------------------------------------------------------
def _random_movement(rng: np.random.Generator, graph: ir.Graph, value):
    """One random movement op applied to ``value`` (whatever its shape allows)."""
    shape = value.type.shape
    choice = rng.integers(5)
    if choice == 0 and len(shape) > 1:
        return graph.add_node("transpose", [value], {"perm": [int(p) for p in rng.permutation(len(shape))]})
    if choice == 1:
        starts = [int(rng.integers(0, max(d, 1))) if d > 1 else 0 for d in shape]
        steps = [int(rng.integers(1, 3)) for _ in shape]
        return graph.add_node("slice", [value], {"starts": starts, "stops": list(shape),
                                                 "steps": steps})
    if choice == 2:
        axis = int(rng.integers(len(shape)))
        pads = [[0, 0, 0] for _ in shape]
        pads[axis] = [int(rng.integers(0, 3)), int(rng.integers(0, 3)), 0]
        return graph.add_node("pad", [value], {"pads": pads, "value": 0.5})
    if choice == 3 and len(shape) < 4:
        return graph.add_node("broadcast_to", [value], {"shape": [2, *shape]})
    size = int(np.prod(shape))
    factors = [d for d in (2, 3) if size % d == 0 and size > d]
    target = [factors[0], size // factors[0]] if factors and len(shape) != 2 else [size]
    return graph.add_node("reshape", [value], {"shape": target})


@pytest.mark.parametrize("seed", range(12))
def test_random_chains_of_movement_ops_read_by_kernels_and_gemms_match_the_interpreter(seed):
    rng = np.random.default_rng(seed)
    graph = ir.Graph("chain")
    x = graph.add_input("x", ir.TensorType(f32, (4, 6)))
    value = x
    for _ in range(int(rng.integers(2, 6))):
        value = _random_movement(rng, graph, value).output
    shape = value.type.shape
    y = graph.add_input("y", ir.TensorType(f32, shape))
    outputs = [value, graph.add_node("mul", [value, y]).output]
    if len(shape) >= 2:
        w = graph.add_input("w", ir.TensorType(f32, (shape[-1], 3)))
        outputs.append(graph.add_node("matmul", [value, w]).output)
    graph.set_outputs(outputs)
    arrays = _inputs(graph, seed)
    assert_same_as_interpreter(graph, arrays)
    assert_same_as_interpreter(passes.run(graph, "fuse"), arrays)
