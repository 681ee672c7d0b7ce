"""NumPy arrays passed positionally take the compiled call's fast path, as tensors do
(graphc/compile.py: ``_positional_key``, ``_fast_runner``): no signature binding, no pytree, one
call into the executable. Anything the fast path does not cover (other dtypes or shapes,
strided arrays, ndarray subclasses, the same array twice) still gives the full path's results.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.compile import _MISSED

BACKENDS = ["interpreter", "llvm"]


def affine(t):
    return (2 * t + 1).relu()


def counting_full_path(compiled):
    """Counts the calls that take the full path (``_entry_and_run``)."""
    calls = []
    full_path = compiled._entry_and_run

    def counted(*args, **kwargs):
        calls.append(args)
        return full_path(*args, **kwargs)
    compiled._entry_and_run = counted
    return calls


@pytest.mark.parametrize("backend", BACKENDS)
def test_arrays_take_the_fast_path(backend):
    compiled = graphc.compile(affine, backend=backend)
    full = counting_full_path(compiled)
    x = np.linspace(-2, 2, 16, dtype=np.float32)
    first = compiled(x).numpy()
    for _ in range(3):
        np.testing.assert_array_equal(compiled(x).numpy(), first)
        y = x[::-1].copy()
        np.testing.assert_array_equal(compiled(y).numpy(), np.maximum(2 * y + 1, 0))
    assert len(full) == 1  # the first call traced; every later one took the fast path
    assert compiled._fast is not None
    np.testing.assert_array_equal(first, np.maximum(2 * x + 1, 0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_other_dtypes_and_shapes_retrace_and_say_why(backend):
    compiled = graphc.compile(affine, backend=backend)
    for x in (np.ones(4, np.float32), np.ones(5, np.float32), np.ones(4, np.float64),
              np.ones((2, 2), np.float32), np.array(-3.0, np.float32)):
        for _ in range(2):
            got = compiled(x).numpy()
            assert got.dtype == x.dtype and got.shape == x.shape
            np.testing.assert_array_equal(got, np.maximum(2 * x + 1, 0))
    assert len(compiled.entries) == 5
    assert "f32[5]" in compiled.explain() and "f64[4]" in compiled.explain()


@pytest.mark.parametrize("backend", BACKENDS)
def test_arrays_the_wrapper_was_not_made_for(backend):
    """Strided, read-only and misaligned arrays: the same results as copies; byte-swapped
    ones the full path's error."""
    compiled = graphc.compile(affine, backend=backend)
    base = np.linspace(-3, 3, 64, dtype=np.float32)
    compiled(base[:32].copy())
    strided = base[::2]
    read_only = base[:32].copy()
    read_only.flags.writeable = False
    raw = np.zeros(32 * 4 + 1, np.uint8)
    misaligned = raw[1:].view(np.float32)
    misaligned[:] = base[:32]
    for x in (strided, read_only, misaligned) * 2:
        want = np.maximum(2 * np.asarray(x, np.float32) + 1, 0)
        np.testing.assert_array_equal(compiled(x).numpy(), want)
    for _ in range(2):
        with pytest.raises(TypeError, match="unsupported dtype >f4"):
            compiled(base[:32].astype(">f4"))


def test_the_same_array_twice_and_mixed_with_tensors():
    compiled = graphc.compile(lambda a, b: a * b + a, backend="llvm")
    x = np.arange(6, dtype=np.float32)
    t = graphc.from_numpy(np.full(6, 2.0, np.float32))
    for _ in range(3):
        np.testing.assert_array_equal(compiled(x, x).numpy(), x * x + x)
        np.testing.assert_array_equal(compiled(x, t).numpy(), x * 2 + x)
        np.testing.assert_array_equal(compiled(t, x).numpy(), 2 * x + 2)
    # a tensor and an array of the same type are different keys
    np.testing.assert_array_equal(compiled(t, t).numpy(), np.full(6, 6.0, np.float32))


def test_ndarray_subclasses_take_the_full_path():
    class Tagged(np.ndarray):
        pass

    compiled = graphc.compile(affine, backend="llvm")
    full = counting_full_path(compiled)
    x = np.linspace(-1, 1, 8, dtype=np.float32)
    tagged = x.view(Tagged)
    for _ in range(3):
        np.testing.assert_array_equal(compiled(tagged).numpy(), np.maximum(2 * x + 1, 0))
    assert len(full) == 3


def test_the_caller_s_array_is_never_written():
    def bump(t):
        t += 1  # in place on the traced argument: graphc never writes into user arrays
        return t * 2

    compiled = graphc.compile(bump, backend="llvm")
    x = np.arange(4, dtype=np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(compiled(x).numpy(), (np.arange(4) + 1) * 2)
    np.testing.assert_array_equal(x, np.arange(4, dtype=np.float32))


def misaligned_copy(x: np.ndarray) -> np.ndarray:
    """``x`` in C order one byte off its dtype's alignment (``flags.aligned`` False)."""
    raw = np.zeros(x.nbytes + 1, np.uint8)
    view = raw[1:].view(x.dtype).reshape(x.shape)
    view[...] = x
    assert view.flags.c_contiguous and not view.flags.aligned
    return view


def test_arrays_the_native_wrapper_declines_take_the_full_path_s_run():
    """The fast runner hands arrays to ``fast_call`` as they are; it declines what it was not
    made for (non-C-contiguous, misaligned, another dtype or shape) and the call still gives
    the reference's result through ``CacheEntry.run`` (which the executable's checked path
    converts), never a misread one."""
    compiled = graphc.compile(affine, backend="llvm")
    x = np.linspace(-3, 3, 16, dtype=np.float32).reshape(4, 4)
    compiled(x)
    entry, runner = compiled._fast
    native = entry.executable.fast_call
    assert native is not None and "native(a0)" in runner.source  # the array as it is
    declined = {"Fortran order": np.asfortranarray(x), "transposed": x.T,
                "misaligned": misaligned_copy(x), "strided": np.repeat(x, 2, axis=1)[:, ::2],
                "float64": x.astype(np.float64), "another shape": x.reshape(2, 8)}
    for name, array in declined.items():
        assert native(array) is None, name
        assert runner((array,)) is _MISSED, name
        want = np.maximum(2 * np.asarray(array, np.float64) + 1, 0)
        got = compiled(array).numpy()
        assert got.shape == array.shape and got.dtype == array.dtype, name
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=name)
    assert native(x) is not None


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_tensors_and_arrays_take_the_fast_path(backend):
    compiled = graphc.compile(lambda a, b: a * b + a, backend=backend)
    full = counting_full_path(compiled)
    x = np.arange(6, dtype=np.float32)
    t = graphc.from_numpy(np.full(6, 2.0, np.float32))
    for _ in range(3):
        np.testing.assert_array_equal(compiled(x, t).numpy(), x * 2 + x)
    assert len(full) == 1
    # explain() counts the fast path's calls (the first call traced: a miss)
    assert compiled.entries[0].hits == 2
    assert "2 hits" in compiled.explain()
    # a tensor where the entry has an array (and the reverse) is another entry, said why
    compiled(t, t)
    compiled(graphc.from_numpy(x), x)
    assert len(full) == 3 and len(compiled.entries) == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_d_f64_read_only_and_repeated_arrays_on_the_fast_path(backend):
    compiled = graphc.compile(lambda a, b: a * b - b, backend=backend)
    full = counting_full_path(compiled)
    scalar = np.array(-1.5, np.float64)
    read_only = np.linspace(0, 1, 5)
    read_only.flags.writeable = False
    for _ in range(3):
        np.testing.assert_array_equal(compiled(scalar, read_only).numpy(),
                                      -1.5 * read_only - read_only)
        np.testing.assert_array_equal(compiled(read_only, read_only).numpy(),
                                      read_only * read_only - read_only)
    assert len(full) == 2  # one trace each: the same array twice is its own entry
    assert not read_only.flags.writeable


def test_under_the_profiler_arrays_take_the_recorded_path():
    compiled = graphc.compile(affine, backend="llvm")
    x = np.linspace(-1, 1, 16, dtype=np.float32)
    compiled(x)
    compiled(x)
    assert compiled._fast is not None
    with graphc.profiler.profile() as prof:
        for _ in range(2):
            np.testing.assert_array_equal(compiled(x).numpy(), np.maximum(2 * x + 1, 0))
    calls = [row for row in prof.key_averages() if row.key == compiled.name]
    assert calls and calls[0].count == 2
    assert compiled.entries[0].hits == 3  # (the first call traced)


def test_explain_says_when_only_the_kind_or_the_sharing_changed():
    """A tensor where an array was (or the same array as another argument) is another cache
    entry of the same type: explain() says which it was."""
    compiled = graphc.compile(lambda a, b: a * b + a, backend="interpreter")
    x, y = np.ones(4, np.float32), np.ones(4, np.float32)
    compiled(x, y)
    compiled(x, x)
    compiled(graphc.from_numpy(x), y)
    report = compiled.explain()
    assert "argument b: f32[4], its own object -> the same object as a" in report
    assert "argument a: f32[4], a NumPy array -> a tensor" in report


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_array_returned_as_it_is_keeps_the_full_path_s_wrapping(backend):
    """An entry that returns its argument has no fast runner (``CacheEntry.run`` wraps the
    caller's array in a new tensor, as ``graphc.from_numpy`` would); every call agrees."""
    compiled = graphc.compile(lambda t: (t, t * 2), backend=backend)
    x = np.arange(4, dtype=np.float32)
    for _ in range(3):
        same, doubled = compiled(x)
        assert isinstance(same, graphc.Tensor) and np.shares_memory(same.numpy(), x)
        np.testing.assert_array_equal(same.numpy(), x)
        np.testing.assert_array_equal(doubled.numpy(), 2 * x)
    assert compiled.entries[0].fast_runner is None and compiled.entries[0].hits == 2
