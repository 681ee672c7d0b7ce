"""What makes a compiled training step fast on the llvm backend (issue 8), and stays correct.

- reductions across rows (a bias gradient: ``sum`` over the batch axis) run with the reduced loop
  outside, folding each element into its output in the same order as before (same bits);
- parameters and optimizer state are updated in place in their own arrays, step after step,
  unless another holder of the array would see the write;
- the compiled step matches the eager step, step for step.
"""
from __future__ import annotations

import weakref

import numpy as np
import pytest
from test_backend_llvm import _inputs_for, assert_same_as_interpreter

import backends
import graphc
import ir
from backends.kernel import build_program
from backends.llvm import render
from backends.llvm.backend import LLVMBackend
from backends.llvm.render import folds_row_by_row
from conftest import TOLERANCES

LLVM = backends.get("llvm")
F32 = np.float32


# -- reductions across rows ----------------------------------------------------------------------
def column_reduction(op: str, dtype: str, out_dtype: str, shape=(37, 21)) -> ir.Graph:
    rows, cols = shape
    return ir.parse(f"""func @f(%x: {dtype}[{rows},{cols}]) -> ({out_dtype}[{cols}]) {{
      %0: {out_dtype}[{cols}] = {op} %x {{axes=[0]}}
      return %0
    }}""")


def sequential_fold(x: np.ndarray, combine, start) -> np.ndarray:
    """Folds the rows of ``x`` one after the other: the order a column sum must keep."""
    acc = np.full(x.shape[1:], start, dtype=x.dtype)
    for row in x:
        acc = combine(acc, row)
    return acc


def test_a_column_sum_folds_row_by_row_in_the_same_order_as_before():
    graph = column_reduction("sum", "f32", "f32")
    (kernel,) = build_program(graph).kernels
    assert folds_row_by_row(kernel)
    x = np.random.default_rng(0).standard_normal((37, 21)).astype(F32) * 1e3
    got = LLVM.compile(graph)(x)[0]
    np.testing.assert_array_equal(got.view(np.int32), sequential_fold(x, np.add, 0).view(np.int32))


def test_a_column_fold_gives_the_bits_of_the_reduced_loop_innermost_order(monkeypatch):
    graph = column_reduction("sum", "f32", "f32", shape=(300, 40))
    x = np.random.default_rng(1).standard_normal((300, 40)).astype(F32)
    rows_first = LLVMBackend(disk=None).compile(graph)(x)[0]
    monkeypatch.setattr(render, "folds_row_by_row", lambda kernel: False)
    innermost = LLVMBackend(disk=None).compile(graph)(x)[0]
    np.testing.assert_array_equal(rows_first.view(np.int32), innermost.view(np.int32))


@pytest.mark.parametrize("op,dtype,out_dtype", [
    ("sum", "f64", "f64"), ("sum", "i64", "i64"), ("max", "f32", "f32"), ("min", "i32", "i32"),
    ("sum", "i32", "i64"),  # accumulates in i64, stored as i64: folds in place
    ("sum", "bool", "i64"), ("max", "bool", "bool"),
])
def test_column_reductions_match_the_interpreter_in_every_dtype(op, dtype, out_dtype):
    graph = column_reduction(op, dtype, out_dtype)
    arrays = _inputs_for(graph)
    if dtype.startswith("f"):
        arrays[0][3, 5] = np.nan  # max keeps NaN, wherever it comes in the fold
    assert_same_as_interpreter(graph, arrays)


def test_a_row_sum_keeps_its_reduced_loop_innermost():
    graph = ir.parse("""func @f(%x: f32[8,16]) -> (f32[8]) {
      %0: f32[8] = sum %x {axes=[1]}
      return %0
    }""")
    (kernel,) = build_program(graph).kernels
    assert not folds_row_by_row(kernel)


# -- state updated in place ----------------------------------------------------------------------
SGD_UPDATE = """func @f(%w: f32[3,4], %g: f32[3,4], %lr: f32[]) -> (f32[3,4] aliases %w) {
  %0: f32[3,4] = mul %g, %lr
  %1: f32[3,4] = sub %w, %0
  return %1
}"""


def test_an_aliased_output_is_stored_into_its_input_array_and_returned_as_it():
    graph = ir.parse(SGD_UPDATE)
    compiled = LLVM.compile(graph)
    assert compiled.donated_inputs == (0,)
    w, g, lr = _inputs_for(graph)
    want = w - g * lr
    (got,) = compiled(w, g, lr)
    assert got is w
    np.testing.assert_array_equal(w, want)


def test_the_interpreter_contract_holds_without_donation_on_other_renderers():
    program = build_program(ir.parse(SGD_UPDATE))  # the numba renderer's call: no update_inputs
    assert program.outputs[0].role == "temp"


WRITE_AFTER_READ = [
    # the old %w is read by a later node: the update cannot go into %w's array
    """func @f(%w: f32[5], %g: f32[5]) -> (f32[5] aliases %w, f32[5]) {
      %0: f32[5] = sub %w, %g
      %1: f32[5] = mul %w, %0
      return %0, %1
    }""",
    # a square transpose reads w[j, i] after w[i, j] would have been written
    """func @f(%w: f32[4,4]) -> (f32[4,4] aliases %w) {
      %0: f32[4,4] = transpose %w {perm=[1,0]}
      return %0
    }""",
]


@pytest.mark.parametrize("text", WRITE_AFTER_READ)
def test_an_update_whose_input_is_read_afterwards_or_elsewhere_is_not_done_in_place(text):
    graph = ir.parse(text)
    program = LLVM.compile(graph).program
    assert all(b.role == "temp" for b in program.outputs)
    arrays = _inputs_for(graph)
    before = [a.copy() for a in arrays]
    assert_same_as_interpreter(graph, arrays)
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(a, b)  # nothing was written into the inputs


def test_an_update_reading_its_input_at_the_element_it_writes_is_done_in_place():
    graph = ir.parse("""func @f(%w: f32[6], %b: f32[6], %g: f32[6]) ->
        (f32[6] aliases %w, f32[6] aliases %b) {
      %0: f32[6] = mul %b, %w
      %1: f32[6] = add %0, %g
      %2: f32[6] = sub %w, %1
      return %2, %1
    }""")
    w, b, g = _inputs_for(graph)
    want_w = w - (b * w + g)
    want_b = b * w + g
    # %b's update is read by %w's: the later kernel must read the new %b, in %b's array
    compiled = LLVM.compile(graph)
    got_w, got_b = compiled(w, b, g)
    assert got_w is w and got_b is b
    np.testing.assert_allclose(got_w, want_w, rtol=1e-6)
    np.testing.assert_allclose(got_b, want_b, rtol=1e-6)


def test_a_donated_input_shared_with_another_input_gets_its_own_copy():
    graph = ir.parse("""func @f(%w: f32[4], %v: f32[4]) -> (f32[4] aliases %w, f32[4]) {
      %0: f32[4] = neg %w
      %1: f32[4] = add %v, %0
      return %0, %1
    }""")
    compiled = LLVM.compile(graph)
    w = np.arange(4, dtype=F32)
    updated, total = compiled(w, w)  # the same array as both inputs
    np.testing.assert_array_equal(updated, -np.arange(4, dtype=F32))
    np.testing.assert_array_equal(total, np.zeros(4, F32))
    np.testing.assert_array_equal(w, np.arange(4, dtype=F32))
    whole = np.arange(8, dtype=F32)
    updated, total = compiled(whole[:4].copy(), whole[:4])  # fine: distinct memory
    np.testing.assert_array_equal(total, np.zeros(4, F32))
    w = np.arange(4, dtype=F32)
    updated, total = compiled(w, w[::-1][::-1])  # a view of the donated array
    np.testing.assert_array_equal(total, np.zeros(4, F32))
    np.testing.assert_array_equal(w, np.arange(4, dtype=F32))
    owner = np.arange(4, dtype=F32)
    updated, total = compiled(owner[:], owner)  # a view donated, its owner read
    np.testing.assert_array_equal(total, np.zeros(4, F32))
    np.testing.assert_array_equal(owner, np.arange(4, dtype=F32))
    read_only = np.arange(4, dtype=F32)
    read_only.flags.writeable = False
    updated, _ = compiled(read_only, read_only.copy())
    assert updated is not read_only
    np.testing.assert_array_equal(read_only, np.arange(4, dtype=F32))


# -- a compiled training step ------------------------------------------------------------------
def mlp_and_sgd():
    graphc.manual_seed(0)
    model = graphc.nn.Sequential(graphc.nn.Linear(6, 8), graphc.nn.ReLU(),
                                 graphc.nn.Linear(8, 3))
    return model, graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def training_step(model, opt):
    def step(x, y):
        loss = graphc.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss
    return step


def batches(n: int = 4):
    rng = np.random.default_rng(0)
    return [(graphc.tensor(rng.standard_normal((5, 6)).astype(F32)),
             graphc.tensor(rng.integers(0, 3, size=5))) for _ in range(n)]


def state_arrays(model, opt) -> list[np.ndarray]:
    params = list(model.parameters())
    return [p._data for p in params] + [opt.state[p]["momentum_buffer"]._data for p in params]


def test_compiled_steps_update_parameters_and_momentum_buffers_in_their_own_arrays():
    model, opt = mlp_and_sgd()
    step = graphc.compile(training_step(model, opt), backend="llvm")
    data = batches()
    step(*data[0])  # creates the momentum buffers
    step(*data[1])
    # weak references: holding the arrays would rightly make graphc copy them (someone else
    # could see the write)
    arrays = [weakref.ref(a) for a in state_arrays(model, opt)]
    for x, y in data[2:]:
        before = [a.copy() for a in state_arrays(model, opt)]
        step(x, y)
        now = state_arrays(model, opt)
        assert all(a is b() for a, b in zip(now, arrays)), "a state array was replaced"
        assert all(not np.array_equal(a, b) for a, b in zip(now, before)), "not updated"
        del now


def test_compiled_steps_match_eager_steps_step_for_step():
    eager_model, eager_opt = mlp_and_sgd()
    eager = training_step(eager_model, eager_opt)
    model, opt = mlp_and_sgd()
    compiled = graphc.compile(training_step(model, opt), backend="llvm")
    for x, y in batches(5):
        want, got = eager(x, y), compiled(x, y)
        np.testing.assert_allclose(got.numpy(), want.numpy(), **TOLERANCES["f32"])
        for p, q in zip(model.parameters(), eager_model.parameters()):
            np.testing.assert_allclose(p.numpy(), q.numpy(), **TOLERANCES["f32"])


def test_a_parameter_array_someone_else_holds_is_not_written_in_place():
    model, opt = mlp_and_sgd()
    step = graphc.compile(training_step(model, opt), backend="llvm")
    data = batches()
    step(*data[0])
    step(*data[1])
    weight = model[0].weight
    view = weight.numpy()  # a read-only view of the current array: graphc must not change it
    alias = weight.detach()  # a view of weight (its array is held by it too)
    held = view.copy()
    step(*data[2])
    np.testing.assert_array_equal(view, held)
    # PyTorch's detach shares storage: the alias shows the new values, from another array
    np.testing.assert_array_equal(alias.numpy(), weight.numpy())
    assert not np.array_equal(weight.numpy(), held)
    assert weight._data is not view.base


# -- fewer kernels, one arena ---------------------------------------------------------------------
SGD_MOMENTUM_FUSED = """func @f(%g: f32[4,3], %buf: f32[4,3], %step: f32[], %w: f32[4,3], %lr: f32[])
    -> (f32[4,3] aliases %buf, f32[] aliases %step, f32[4,3] aliases %w) {
  %0, %1, %2: f32[4,3], f32[], f32[4,3] = fused %g, %buf, %step, %w, %lr {
    (%g: f32[4,3], %buf: f32[4,3], %step: f32[], %w: f32[4,3], %lr: f32[]):
    %0: f32[] = const {value=0.9, dtype=f32, shape=[]}
    %1: f32[4,3] = mul %0, %buf
    %2: f32[4,3] = add %1, %g
    %3: f32[] = const {value=0, dtype=f32, shape=[]}
    %4: bool[] = eq %step, %3
    %5: f32[4,3] = where %4, %g, %2
    %6: f32[] = const {value=1, dtype=f32, shape=[]}
    %7: f32[] = add %step, %6
    %8: f32[4,3] = mul %lr, %5
    %9: f32[4,3] = sub %w, %8
    yield %5, %7, %9
  }
  return %0, %1, %2
}"""


def test_an_optimizer_step_fused_over_two_shapes_is_one_kernel_per_shape():
    graph = ir.parse(SGD_MOMENTUM_FUSED)
    program = build_program(graph, update_inputs=True)
    shapes = sorted(k.shape for k in program.kernels)
    assert shapes == [(), (4, 3)]  # not a kernel per node
    (update,) = [k for k in program.kernels if k.shape == (4, 3)]
    assert {s.buffer.name for s in update.stores} == {"buf", "w"}  # in place, no temps
    arrays = _inputs_for(graph)
    arrays[2] = np.array(3, F32)  # not the first step: the blended buffer is taken
    assert_same_as_interpreter(graph, arrays, exact=True)
    arrays = _inputs_for(graph)
    arrays[2] = np.array(0, F32)
    assert_same_as_interpreter(graph, arrays, exact=True)


def test_temporaries_live_in_one_arena_without_overlapping_while_live():
    from backends.kernel import arena_buffers
    graph = ir.parse("""func @f(%x: f32[1,64], %w: f32[64,64]) -> (f32[1,64], f32[]) {
      %0: f32[1,64] = exp %x
      %1: f32[1,64] = matmul %0, %w
      %2: f32[1,64] = neg %1
      %3: f32[1,64] = mul %2, %0
      %4: f32[] = sum %3 {axes=[0,1]}
      %5: f32[1,64] = add %3, %2
      return %5, %4
    }""")
    program = build_program(graph)
    plan = arena_buffers(program)
    steps = program.steps
    lives = {}
    for i, step in enumerate(steps):
        touched = step.buffers if hasattr(step, "buffers") else step.inputs + step.outputs
        for b in touched:
            if plan.offset(b) is not None:
                first, _ = lives.get(id(b), (i, i))
                lives[id(b)] = (first, i)
    placed = {id(b): b for b in program.temps if plan.offset(b) is not None}
    assert len(placed) >= 3 and not any(id(b) in placed for b in program.outputs)
    for a in placed.values():
        for b in placed.values():
            if a is b:
                continue
            (fa, la), (fb, lb) = lives[id(a)], lives[id(b)]
            if fa <= lb and fb <= la:  # live together: disjoint bytes
                a0, b0 = plan.offset(a), plan.offset(b)
                assert a0 + 4 * 64 <= b0 or b0 + 4 * 64 <= a0
    compiled = LLVM.compile(graph)
    arrays = _inputs_for(graph)
    first = compiled(*arrays)
    second = compiled(*arrays)  # the arena is reused: outputs are still the caller's own
    assert not np.shares_memory(first[0], second[0])
    np.testing.assert_array_equal(first[0], second[0])
    assert_same_as_interpreter(graph, arrays)


def test_calls_from_two_threads_at_once_each_get_the_right_result():
    import threading
    graph = ir.parse("""func @f(%x: f32[256,256]) -> (f32[256]) {
      %0: f32[256,256] = exp %x
      %1: f32[256,256] = mul %0, %x
      %2: f32[256] = sum %1 {axes=[1]}
      return %2
    }""")
    compiled = LLVM.compile(graph)
    inputs = [np.random.default_rng(i).standard_normal((256, 256)).astype(F32) for i in range(8)]
    want = [compiled(x)[0] for x in inputs]
    got: dict[int, np.ndarray] = {}

    def worker(i: int) -> None:
        for _ in range(20):
            got[i] = compiled(inputs[i])[0]
            np.testing.assert_array_equal(got[i], want[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(8):
        np.testing.assert_array_equal(got[i], want[i])
