"""The llvm backend's call path: one native call per run of kernels, constants evaluated once,
arena temporaries, big kernels split across threads (bitwise as one thread), and the
positional fast path of ``graphc.compile`` (same guards, same retraces)."""
import numpy as np
import pytest

import backends
import backends.threads as threads
import graphc
import ir
from backends.base import ExecutionError
from backends.kernel import build_program
from backends.llvm.call import ParallelKernel, Segment, plan_calls
from tests.conftest import assert_close


@pytest.fixture
def llvm():
    return backends.get("llvm")


@pytest.fixture
def num_threads():
    before = threads.get_num_threads()
    yield threads.set_num_threads
    threads.set_num_threads(before)


CHAIN = '''func @f(%x: f32[16]) -> (f32[16]) {
  %0: f32[] = const {value=2, dtype=f32, shape=[]}
  %1: f32[16] = mul %0, %x
  %2: f32[] = const {value=1, dtype=f32, shape=[]}
  %3: f32[16] = add %1, %2
  %4: f32[16] = relu %3
  return %4
}'''


def test_kernels_between_constants_run_as_one_native_call(llvm):
    program = build_program(ir.parse(CHAIN))
    segments = [s for s in plan_calls(program) if isinstance(s, Segment)]
    assert len(segments) == 1 and len(segments[0].kernels) == 3
    # the two intermediates never leave the native call: they live in its arena
    assert {b.name for b in segments[0].arena} == {"t1", "t3"}
    x = np.linspace(-2, 2, 16, dtype=np.float32)
    (out,) = llvm.compile(ir.parse(CHAIN))(x)
    assert_close(out, np.maximum(2 * x.astype(np.float64) + 1, 0))


def test_each_call_returns_fresh_output_arrays(llvm):
    run = llvm.compile(ir.parse(CHAIN))
    x = np.ones(16, np.float32)
    first, = run(x)
    second, = run(x)
    assert first is not second and not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, np.full(16, 3, np.float32))


def test_constant_output_is_a_fresh_writable_array(llvm):
    g = ir.parse('''func @f() -> (f32[3]) {
  %0: f32[3] = const {value=1.5, dtype=f32, shape=[3]}
  return %0
}''')
    run = llvm.compile(g)
    first, = run()
    first[0] = 7  # the caller owns it: the next call still returns the constant
    second, = run()
    np.testing.assert_array_equal(second, [1.5, 1.5, 1.5])


def test_inputs_off_the_fast_check_are_converted_or_rejected(llvm):
    run = llvm.compile(ir.parse(CHAIN))
    strided = np.arange(32, dtype=np.float32)[::2]  # not contiguous: copied, not misread
    (out,) = run(strided)
    assert_close(out, np.maximum(2 * strided.astype(np.float64) + 1, 0))
    with pytest.raises(ExecutionError, match="expects f32\\[16\\], got f64\\[16\\]"):
        run(np.zeros(16))
    with pytest.raises(ExecutionError, match="takes 1 input"):
        run()


def _big(shape, dtype, seed=0):
    numpy_dtype = {"f32": np.float32, "f64": np.float64}.get(dtype, dtype)
    return np.random.default_rng(seed).standard_normal(shape).astype(numpy_dtype)


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_threaded_elementwise_kernel_is_bitwise_one_thread(llvm, num_threads, dtype):
    g = ir.parse(f'''func @f(%x: {dtype}[1024,1024], %y: {dtype}[1024]) -> ({dtype}[1024,1024]) {{
  %0: {dtype}[1024,1024] = exp %x
  %1: {dtype}[1024,1024] = mul %0, %y
  return %1
}}''')
    run = llvm.compile(g)
    assert any(isinstance(s, ParallelKernel) for s in run.plan)
    x, y = _big((1024, 1024), dtype, 1), _big(1024, dtype, 2)
    num_threads(1)
    (one,) = run(x, y)
    num_threads(3)
    (three,) = run(x, y)
    np.testing.assert_array_equal(one, three)
    expected = np.exp(x.astype(np.float64)) * y
    assert_close(three, expected, dtype, rtol=1e-5 if dtype == "f32" else 1e-10,
                 atol=1e-5 if dtype == "f32" else 1e-12)


def test_threaded_reduction_splits_kept_axis_only(llvm, num_threads):
    g = ir.parse('''func @f(%x: f32[2048,1024]) -> (f32[2048]) {
  %0: f32[2048] = sum %x {axes=[1], keepdim=false}
  return %0
}''')
    run = llvm.compile(g)
    (step,) = [s for s in run.plan if isinstance(s, ParallelKernel)]
    assert step.kernel.reduce_shape == (1024,)
    x = _big((2048, 1024), np.float32, 3)
    num_threads(1)
    (one,) = run(x)
    num_threads(2)
    (two,) = run(x)
    np.testing.assert_array_equal(one, two)  # every row summed in the same order
    assert_close(two, x.astype(np.float64).sum(axis=1), rtol=1e-4, atol=1e-4)


def test_small_kernels_never_leave_the_calling_thread(llvm, num_threads, monkeypatch):
    def no_threads(parts):
        raise AssertionError("a small kernel was handed to threads")
    monkeypatch.setattr(threads, "run_parts", no_threads)
    num_threads(4)
    run = llvm.compile(ir.parse(CHAIN))
    assert not any(isinstance(s, ParallelKernel) for s in run.plan)
    (out,) = run(np.ones(16, np.float32))
    np.testing.assert_array_equal(out, np.full(16, 3, np.float32))


def test_split_covers_the_range_in_order():
    assert threads.split(5, 8) == [(i, i + 1) for i in range(5)]
    assert threads.split(7, 2) == [(0, 4), (4, 7)]
    assert threads.split(3, 1) == [(0, 3)]


# -- the positional fast path of graphc.compile ------------------------------------------------
@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_positional_fast_path_still_checks_closure_guards(backend):
    state = {"scale": 2.0}

    @graphc.compile(backend=backend)
    def f(x):
        return x * state["scale"]

    x = graphc.ones(4)
    assert f(x).numpy().tolist() == [2.0] * 4
    assert f(x).numpy().tolist() == [2.0] * 4
    state["scale"] = 3.0  # a guarded Python value: the fast path must not reuse the entry
    assert f(x).numpy().tolist() == [3.0] * 4
    assert f.traces == 2 and "guard failed" in f.explain()


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_positional_fast_path_tells_types_and_repeated_tensors_apart(backend):
    f = graphc.compile(lambda a, b: a + b * 2, backend=backend)
    x, y = graphc.ones(3), graphc.full((3,), 5.0)
    assert f(x, y).numpy().tolist() == [11.0] * 3
    assert f(x, x).numpy().tolist() == [3.0] * 3  # the same tensor twice: its own entry
    assert f(y, x).numpy().tolist() == [7.0] * 3
    assert f(graphc.ones(2), graphc.ones(2)).numpy().tolist() == [3.0, 3.0]
    doubles = f(graphc.ones(3, dtype=graphc.float64), graphc.ones(3, dtype=graphc.float64))
    assert doubles.dtype == graphc.float64
    g = graphc.ones(3).requires_grad_()
    assert f(g, y).numpy().tolist() == [11.0] * 3  # requires_grad is part of the key
    assert f.traces == 5  # (x,y)=(y,x), (x,x), f32[2], f64[3], requires_grad


def test_positional_fast_path_keeps_defaults_and_keywords_on_the_full_path():
    @graphc.compile(backend="llvm")
    def f(x, n=2.0):
        return x * n

    x = graphc.ones(2)
    assert f(x).numpy().tolist() == [2.0, 2.0]
    f.fn.__defaults__ = (4.0,)  # the default is read at every call, as Python does
    assert f(x).numpy().tolist() == [4.0, 4.0]
    assert f(x, n=5.0).numpy().tolist() == [5.0, 5.0]
