"""The fast call path: the llvm backend's generated call wrapper (``backends/llvm/fastcall.py``)
and the lean path of ``graphc.compile`` in front of any backend (``compile._fast_runner``,
``guards.StateGuard.check_identities``, ``Tensor._from_result``).

It gives the results of the checked paths and of the interpreter; anything it was not made
for (another dtype, shape or rank, strided, 0-d or empty arrays, subclasses, changed Python
state) still converts, raises or retraces exactly as the checked path does; it is safe to call
from several threads; and code reloaded from the disk cache in a new process gets it too.
Expected values are computed here with NumPy in float64."""
from __future__ import annotations

import gc
import math
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from test_llvm_call_path import CHAIN  # constants, then mul, add, relu over 16 floats

import backends
import graphc
import ir
from backends.base import ExecutionError
from backends.llvm import fastcall
from graphc import guards
from tests.conftest import assert_close

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def llvm():
    return backends.get("llvm")


def checked_path(executable, *arrays):
    """The executable's results without its generated wrapper (the ctypes segment path)."""
    wrapper, executable.fast_call = executable.fast_call, None
    try:
        return executable(*arrays)
    finally:
        executable.fast_call = wrapper


def relu_2x_plus_1(x):
    return np.maximum(2 * x.astype(np.float64) + 1, 0)


# -- the generated wrapper -----------------------------------------------------------------------
GRAPHS = {
    # name: (graph text, inputs, the float64 NumPy function it computes)
    "constants then three kernels": (CHAIN, [np.linspace(-2, 2, 16, dtype=np.float32)],
                                     lambda x: [relu_2x_plus_1(x)]),
    "f64 broadcast and a reduction": (
        '''func @f(%x: f64[3,4], %b: f64[4]) -> (f64[3], f64[3,4]) {
  %0: f64[3,4] = add %x, %b
  %1: f64[3] = sum %0 {axes=[1], keepdim=false}
  return %1, %0
}''', [np.arange(12.0).reshape(3, 4) / 7, np.array([1.0, -2.0, 0.5, 3.0])],
        lambda x, b: [(x + b).sum(axis=1), x + b]),
    "integers and bools": (
        '''func @f(%a: i32[5], %b: i64[5], %c: bool[5]) -> (i64[5], bool[5]) {
  %0: i64[5] = add %a, %b
  %1: bool[5] = bitwise_xor %c, %c
  %2: bool[5] = gt %0, %b
  return %0, %2
}''', [np.array([1, -2, 3, 2**31 - 1, 0], np.int32), np.array([5, 6, -7, 1, 0], np.int64),
       np.array([True, False, True, False, False])],
        lambda a, b, c: [a.astype(np.int64) + b, a.astype(np.int64) + b > b]),
    "0-d inputs and output": (
        '''func @f(%x: f32[], %y: f32[]) -> (f32[]) {
  %0: f32[] = mul %x, %y
  return %0
}''', [np.array(1.5, np.float32), np.array(-4.0, np.float32)],
        lambda x, y: [x.astype(np.float64) * y]),
    "empty tensors": (
        '''func @f(%x: f32[0,3]) -> (f32[0,3]) {
  %0: f32[0,3] = neg %x
  return %0
}''', [np.zeros((0, 3), np.float32)], lambda x: [-x.astype(np.float64)]),
    "an input returned and one output twice": (
        '''func @f(%x: f32[4]) -> (f32[4], f32[4], f32[4]) {
  %0: f32[4] = neg %x
  return %0, %x, %0
}''', [np.arange(4, dtype=np.float32)], lambda x: [-x, x, -x]),
}


@pytest.mark.parametrize("name", list(GRAPHS))
def test_generated_wrapper_matches_the_checked_path_and_the_interpreter(llvm, name):
    text, inputs, expected = GRAPHS[name]
    run = llvm.compile(ir.parse(text))
    assert run.fast_call is not None, "this program is one native segment: it gets a wrapper"
    fast = run.fast_call(*inputs)
    slow = checked_path(run, *inputs)
    reference = backends.get("interpreter").compile(ir.parse(text))(*inputs)
    assert len(fast) == len(slow) == len(reference)
    for got, same, oracle, want in zip(fast, slow, reference, expected(*inputs)):
        assert type(got) is np.ndarray and got.dtype == same.dtype and got.shape == same.shape
        np.testing.assert_array_equal(got, same)
        np.testing.assert_array_equal(got, oracle)
        assert_close(got, want)


def test_generated_wrapper_returns_an_input_output_as_that_very_array(llvm):
    text, (x,), _ = GRAPHS["an input returned and one output twice"]
    negated, same, again = llvm.compile(ir.parse(text)).fast_call(x)
    assert same is x and again is negated  # as the checked path returns them


def test_generated_wrapper_outputs_are_fresh_writable_arrays_and_nothing_leaks(llvm):
    run = llvm.compile(ir.parse(CHAIN))
    x = np.ones(16, np.float32)
    first, = run.fast_call(x)
    second, = run.fast_call(x)
    assert first is not second and not np.shares_memory(first, second)
    assert first.flags.owndata and first.flags.writeable and first.flags.c_contiguous
    first[0] = 7  # the caller owns it: the next call is unaffected
    np.testing.assert_array_equal(run.fast_call(x)[0], np.full(16, 3, np.float32))
    strided = x[::-1]
    gc.collect()
    gc.disable()  # nothing else may drop references to None meanwhile
    try:
        references = sys.getrefcount(x), sys.getrefcount(strided), sys.getrefcount(None)
        for _ in range(1000):
            run.fast_call(x)
            run.fast_call(strided)  # declined: returns None
        after = sys.getrefcount(x), sys.getrefcount(strided), sys.getrefcount(None)
    finally:
        gc.enable()
    assert after == references
    assert sys.getrefcount(second) == 2  # ours, and getrefcount's argument


class _Subclass(np.ndarray):
    pass


def _misaligned(x: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``x`` one byte off its dtype's alignment (``flags.aligned`` is
    False): the kernels' loads assume aligned elements."""
    raw = np.zeros(x.nbytes + 1, np.uint8)
    view = raw[1:].view(x.dtype).reshape(x.shape)
    view[...] = x
    assert view.flags.c_contiguous and not view.flags.aligned
    return view


@pytest.mark.parametrize("arguments", [
    pytest.param(lambda x: (x.astype(np.float64),), id="another dtype"),
    pytest.param(lambda x: (x.astype(">f4"),), id="non-native byte order"),
    pytest.param(lambda x: (x[:8],), id="another shape"),
    pytest.param(lambda x: (x.reshape(4, 4),), id="another rank"),
    pytest.param(lambda x: (np.float32(1.0),), id="a NumPy scalar"),
    pytest.param(lambda x: (np.array(1.0, np.float32),), id="a 0-d array"),
    pytest.param(lambda x: (np.zeros(0, np.float32),), id="an empty array"),
    pytest.param(lambda x: (np.repeat(x, 2)[::2],), id="strided"),
    pytest.param(lambda x: (_misaligned(x),), id="misaligned"),
    pytest.param(lambda x: (np.asfortranarray(np.ones((4, 4), np.float32)),), id="Fortran order"),
    pytest.param(lambda x: (x.view(_Subclass),), id="a subclass"),
    pytest.param(lambda x: (list(x),), id="a list"),
    pytest.param(lambda x: (), id="too few"),
    pytest.param(lambda x: (x, x), id="too many"),
])
def test_generated_wrapper_declines_what_it_was_not_made_for(llvm, arguments):
    run = llvm.compile(ir.parse(CHAIN))
    x = np.linspace(-2, 2, 16, dtype=np.float32)
    assert run.fast_call(*arguments(x)) is None


def test_declined_arrays_still_convert_or_raise_as_the_checked_path(llvm):
    run = llvm.compile(ir.parse(CHAIN))
    x = np.linspace(-2, 2, 32, dtype=np.float32)
    (out,) = run(x[::2])  # strided: copied, not misread
    assert_close(out, relu_2x_plus_1(x[::2]))
    misaligned = _misaligned(x[:16])
    (out,) = run(misaligned)  # copied to aligned memory
    assert_close(out, relu_2x_plus_1(x[:16]))
    with pytest.raises(ExecutionError, match="expects f32\\[16\\], got f64\\[16\\]"):
        run(np.zeros(16))
    with pytest.raises(ExecutionError, match="expects f32\\[16\\], got f32\\[8\\]"):
        run(np.zeros(8, np.float32))
    with pytest.raises(ExecutionError, match="takes 1 input"):
        run()


def test_segments_over_many_elements_match_with_the_gil_released_and_heap_arena(llvm):
    g = '''func @f(%x: f32[256,256]) -> (f32[256,256]) {
  %0: f32[256,256] = mul %x, %x
  %1: f32[256,256] = add %0, %x
  %2: f32[256,256] = relu %1
  return %2
}'''
    run = llvm.compile(ir.parse(g))
    segment = fastcall.fastcall_segment(run.program, run.plan)
    assert segment is not None and segment.arena_bytes > fastcall.STACK_ARENA_MAX
    x = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    (fast,) = run.fast_call(x)
    np.testing.assert_array_equal(fast, checked_path(run, x)[0])
    wide = x.astype(np.float64)
    assert_close(fast, np.maximum(wide * wide + wide, 0))


def test_programs_beyond_one_segment_keep_the_python_call_path(llvm):
    g = '''func @f(%a: f32[4,3], %b: f32[3,2]) -> (f32[4,2]) {
  %0: f32[4,2] = matmul %a, %b
  %1: f32[4,2] = relu %0
  return %1
}'''
    run = llvm.compile(ir.parse(g))
    assert run.fast_call is None
    assert fastcall.FASTCALL_NAME not in run.llvm_ir
    a, b = np.ones((4, 3), np.float32), np.full((3, 2), -1.0, np.float32)
    np.testing.assert_array_equal(run(a, b)[0], np.zeros((4, 2), np.float32))


def test_generated_wrapper_from_several_threads_at_once(llvm):
    run = llvm.compile(ir.parse(CHAIN))
    inputs = [np.linspace(-i, i, 16, dtype=np.float32) for i in range(8)]
    failures = []

    def worker(x):
        for _ in range(300):
            (got,) = run(x)
            if not np.array_equal(got, np.maximum(2 * x + 1, 0)):
                failures.append(x)

    threads = [threading.Thread(target=worker, args=(x,)) for x in inputs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


RELOAD = textwrap.dedent('''
    import numpy as np
    import graphc
    f = graphc.compile(lambda t: (2 * t + 1).relu(), backend="llvm")
    x = np.linspace(-2, 2, 16, dtype=np.float32)
    out = f(graphc.from_numpy(x)).numpy()
    (entry,) = f.entries
    executable = entry.executable
    assert executable.fast_call is not None
    (direct,) = executable.fast_call(x)
    print(executable.compile_info.source, out.tobytes().hex(), direct.tobytes().hex())
''')


def test_generated_wrapper_is_used_after_a_disk_cache_reload(tmp_path):
    env = {**os.environ, "GRAPHC_CACHE_DIR": str(tmp_path)}
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", RELOAD], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        runs.append(done.stdout.split())
    (cold, cold_out, cold_direct), (warm, warm_out, warm_direct) = runs
    assert (cold, warm) == ("fresh", "disk")
    expected = relu_2x_plus_1(np.linspace(-2, 2, 16, dtype=np.float32)).astype(np.float32)
    assert cold_out == cold_direct == warm_out == warm_direct == expected.tobytes().hex()


# -- graphc.compile's fast path ------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_compiled_fast_path_gives_the_full_path_results(backend):
    f = graphc.compile(lambda t: (2 * t + 1).relu(), backend=backend)
    x = graphc.from_numpy(np.linspace(-2, 2, 16, dtype=np.float32))
    first = f(x)  # traced, on the full path
    second = f(x)  # the fast path
    (entry,) = f.entries
    assert f._fast is not None and f._fast[0] is entry
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    assert_close(second, relu_2x_plus_1(x.numpy()))
    assert second is not x and not second.requires_grad and second.grad_fn is None
    assert entry.hits == 1 and f.traces == 1  # the first call traced: a miss


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_compiled_fast_path_of_a_function_without_arguments(backend):
    f = graphc.compile(lambda: graphc.arange(4, dtype=graphc.float32) * 2 - 1, backend=backend)
    for _ in range(3):
        assert f().tolist() == [-1.0, 1.0, 3.0, 5.0]
    assert f.traces == 1 and f._fast is not None


def test_compiled_fast_path_with_several_arguments_and_outputs():
    @graphc.compile(backend="llvm")
    def f(a, b):
        return {"sum": a + b, "both": (a * b, a - b)}

    a = graphc.from_numpy(np.arange(6, dtype=np.float64).reshape(2, 3))
    b = graphc.from_numpy(np.full((2, 3), 0.5))
    for _ in range(3):
        out = f(a, b)
        assert_close(out["sum"], a.numpy() + 0.5)
        assert_close(out["both"][0], a.numpy() * 0.5)
        assert_close(out["both"][1], a.numpy() - 0.5)
    assert f.traces == 1 and f._fast is not None
    assert_close(f(b, a)["both"][1], 0.5 - a.numpy())  # the same types the other way round
    assert f.traces == 1
    assert_close(f(a, a)["sum"], 2 * a.numpy())  # the same tensor twice: its own entry
    assert f.traces == 2


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_compiled_fast_path_retraces_on_other_types_as_the_full_path(backend):
    f = graphc.compile(lambda t: t * 2, backend=backend)
    x = graphc.from_numpy(np.arange(4, dtype=np.float32))
    f(x), f(x)
    changed = [
        graphc.from_numpy(np.arange(4, dtype=np.float64)),   # dtype
        graphc.from_numpy(np.arange(5, dtype=np.float32)),   # shape
        graphc.from_numpy(np.ones((2, 2), np.float32)),      # rank
        graphc.from_numpy(np.array(3.0, np.float32)),        # 0-d
        graphc.from_numpy(np.zeros(0, np.float32)),          # empty
        graphc.from_numpy(np.arange(4, dtype=np.float32)).requires_grad_(),
    ]
    for number, t in enumerate(changed, start=2):
        assert_close(f(t), t.numpy().astype(np.float64) * 2)
        assert f.traces == number
        assert f(t).shape == t.shape and f.traces == number  # then the fast path serves it
    assert_close(f(x), x.numpy() * 2.0)
    assert f.traces == len(changed) + 1  # the first entry is still there


def test_compiled_fast_path_reads_strided_tensors_correctly_without_retracing():
    f = graphc.compile(lambda t: (2 * t + 1).relu(), backend="llvm")
    base = np.linspace(-2, 2, 32, dtype=np.float32)
    f(graphc.from_numpy(base[:16].copy()))
    strided = graphc.from_numpy(base[::2])  # the same type, not contiguous
    assert_close(f(strided), relu_2x_plus_1(base[::2]))
    assert f.traces == 1


def test_compiled_fast_path_forgets_an_evicted_entry():
    f = graphc.compile(lambda t: t + 1, backend="llvm", cache_size=1)
    x32, x64 = graphc.ones(2), graphc.ones(2, dtype=graphc.float64)
    f(x32), f(x32)
    f(x64)  # evicts the f32 entry
    assert f(x32).dtype == graphc.float32
    assert f.traces == 3 and "evicted earlier" in f.entries[0].reason


def test_compiled_calls_from_several_threads_at_once():
    f = graphc.compile(lambda t: (2 * t + 1).relu(), backend="llvm")
    arrays = [np.linspace(-i, i, 16, dtype=np.float32) for i in range(8)]
    f(graphc.from_numpy(arrays[0]))
    failures = []

    def worker(array):
        t = graphc.from_numpy(array)
        for _ in range(300):
            if not np.array_equal(f(t).numpy(), np.maximum(2 * array + 1, 0)):
                failures.append(array)

    threads = [threading.Thread(target=worker, args=(a,)) for a in arrays]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures and f.traces == 1


# -- the identity check in front of the state walk -----------------------------------------------
SCALE = 2.0
helper_module = np  # a library module read through a global


def scaled(t):
    return t * SCALE + float(helper_module.floor(0.5))



def _state_guard(f):
    """The entry's guard on the Python state the function reads (beside its other guards)."""
    (guard,) = [g for g in f.entries[0].guards if isinstance(g, guards.StateGuard)]
    return guard

def test_state_guard_checks_identities_of_globals_read_by_identity():
    global SCALE, helper_module
    f = graphc.compile(scaled, backend="llvm")
    x = graphc.ones(2)
    assert f(x).tolist() == [2.0, 2.0]
    guard = _state_guard(f)
    assert guard.check_identities()  # the same objects where the walk read them
    assert f(x).tolist() == [2.0, 2.0] and f.traces == 1
    try:
        SCALE = float("2.0")  # a new float object, the same value: the walk says unchanged
        assert f(x).tolist() == [2.0, 2.0] and f.traces == 1
        SCALE = 3.0
        assert f(x).tolist() == [3.0, 3.0] and f.traces == 2
        assert "SCALE == 2.0 (now 3.0)" in f.entries[-1].reason
        helper_module = math  # rebinding a module retraces too
        f(x)
        assert f.traces == 3
    finally:
        SCALE, helper_module = 2.0, np


def test_state_guard_sees_closure_cells_function_attributes_and_new_globals():
    offset = 1.0

    def add_offset(t):
        return abs(t) + offset

    f = graphc.compile(add_offset, backend="llvm")
    x = -graphc.ones(2)
    assert f(x).tolist() == [2.0, 2.0] and _state_guard(f).check_identities()
    offset = 5.0
    assert f(x).tolist() == [6.0, 6.0] and f.traces == 2
    add_offset.note = "x"  # function attributes are state the walk reads
    f(x)
    assert f.traces == 3
    del add_offset.note
    # a global that did not exist while tracing now shadows the builtin the code calls
    add_offset.__globals__["abs"] = lambda t: t
    try:
        assert f(x).tolist() == [4.0, 4.0]
    finally:
        del add_offset.__globals__["abs"]


def test_state_guard_identity_check_sees_a_dict_changed_in_place():
    config = {"scale": 2.0}
    f = graphc.compile(lambda t: t * config["scale"], backend="llvm")
    x = graphc.ones(2)
    assert f(x).tolist() == [2.0, 2.0]
    guard = _state_guard(f)
    assert guard.check_identities()
    config["scale"] = 4.0  # the same dict, another object in it
    assert not guard.check_identities()
    assert f(x).tolist() == [4.0, 4.0] and f.traces == 2


FIRST_CALL = True


def first_call_adds_one(t):
    global FIRST_CALL
    if FIRST_CALL:
        FIRST_CALL = False
        return t + 1
    return t


def test_state_guard_keeps_a_global_the_trace_changed_guarded_at_what_it_read():
    global FIRST_CALL
    f = graphc.compile(first_call_adds_one, backend="llvm")
    x = graphc.zeros(2)
    try:
        assert f(x).tolist() == [1.0, 1.0]
        # guarded at True although it is False now: no identity shortcut may say it holds
        assert not _state_guard(f).check_identities()
        assert f(x).tolist() == [0.0, 0.0] and f.traces == 2
        assert f(x).tolist() == [0.0, 0.0] and f.traces == 2
    finally:
        FIRST_CALL = True


def test_compiled_fast_path_reads_parameters_at_every_call():
    graphc.manual_seed(0)
    model = graphc.nn.Linear(4, 3)
    f = graphc.compile(model, backend="llvm")
    x = graphc.from_numpy(np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4))

    def expected():
        weight, bias = (p.numpy().astype(np.float64) for p in (model.weight, model.bias))
        return x.numpy().astype(np.float64) @ weight.T + bias

    with graphc.no_grad():  # (under grad mode the outputs get history: the full path)
        f(x), f(x)
        assert f._fast is not None and f._fast[0].lifted  # parameters are graph inputs
        model.weight.mul_(2)  # the same tensor, new values: read at the next call
        assert_close(f(x), expected())
        assert f.traces == 1
        model.weight = graphc.nn.Parameter(graphc.ones(3, 4))  # another tensor: retraces
        assert_close(f(x), expected())
        assert f.traces == 2
