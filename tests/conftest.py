"""Shared test helpers: tolerances per dtype, closeness checks and a finite-difference checker.

Every numerical check in the suite compares graphc against an independent float64 NumPy (or
``math``) computation, never against numbers graphc produced itself. Tolerances are stated once,
here, per dtype:

* float32 results vs a float64 oracle: ``rtol=1e-5, atol=1e-6`` (a few float32 ulps);
* float64 results vs a float64 oracle: ``rtol=1e-10, atol=1e-12``;
* float16 / bfloat16 results vs a float64 oracle: two ulps of their precision;
* gradients vs central finite differences in float64 (``eps=1e-6``): ``rtol=1e-5, atol=1e-7``
  (the truncation error of central differences is O(eps^2) and rounding error O(1e-16/eps)).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import graphc  # noqa: E402
from ir import dtypes  # noqa: E402

# Importing it registers test-only passes; tests load it as a plugin when they need them.
collect_ignore = ["cli_fixtures/extra_passes.py"]
# The CUDA tests run in their own process, on numba's CUDA simulator (which must be on before
# numba is imported) or, with GRAPHC_TEST_CUDA=1, on a GPU: see pytest_report_header.
CUDA_TESTS_ON = (os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
                 or os.environ.get("GRAPHC_TEST_CUDA") == "1"
                 or os.environ.get("GRAPHC_TEST_CUDA_PTX") == "1")  # tests/cuda/test_ptx.py
if not CUDA_TESTS_ON:
    collect_ignore.append("cuda")


def pytest_report_header(config) -> str:
    if CUDA_TESTS_ON:
        return "tests/cuda: on (CUDA simulator or GPU)"
    return ("tests/cuda: left out; run them with NUMBA_ENABLE_CUDASIM=1 python -m pytest -q "
            "tests/cuda backends/cuda")

TOLERANCES = {
    "f32": dict(rtol=1e-5, atol=1e-6),
    "f64": dict(rtol=1e-10, atol=1e-12),
    # two ulps of the 11-bit (f16) and 8-bit (bf16) significands: each op rounds once from f32,
    # so a result is within one ulp of the f64 oracle rounded, where a tie may fall either way
    "f16": dict(rtol=2.0**-9, atol=1e-5),
    "bf16": dict(rtol=2.0**-6, atol=1e-5),
}
FD_EPS = 1e-6
FD_TOL = dict(rtol=1e-5, atol=1e-7)


def float32_dot_tolerance(k: int, operand_bound: float) -> dict[str, float]:
    """The tolerance between two float32 results of the same sums of ``k`` products, computed
    in different orders (two GEMM kernels: BLAS and graphc's tiled loop), of operands within
    ``+-operand_bound``: each result is within ``k 2^-24 sum|a b|`` of the exact sum (a rounding
    per product and per addition), and ``sum|a b| <= k operand_bound^2``; so the two differ by
    at most twice that, on top of the float32 tolerance (an elementwise op after the sum)."""
    return dict(rtol=TOLERANCES["f32"]["rtol"],
                atol=TOLERANCES["f32"]["atol"] + 2 * k * 2.0**-24 * k * operand_bound**2)


def to_numpy(x) -> np.ndarray:
    return x.numpy() if isinstance(x, graphc.Tensor) else np.asarray(x)


def assert_close(actual, expected, dtype: Optional[str] = None, **tol) -> None:
    """``actual`` (a tensor or array) equals ``expected`` within the tolerance of ``dtype``.

    ``dtype`` defaults to the dtype of ``actual``; integer and bool results must match exactly.
    """
    actual, expected = to_numpy(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != expected {expected.shape}"
    if actual.dtype.kind in "biu" and not tol:
        np.testing.assert_array_equal(actual, expected)
        return
    name = dtype or dtypes.from_numpy(actual.dtype).name
    np.testing.assert_allclose(actual.astype(np.float64), expected.astype(np.float64),
                               **(tol or TOLERANCES[name]))


def numeric_gradient(f: Callable[[Sequence[np.ndarray]], float], arrays: Sequence[np.ndarray],
                     index: int, eps: float = FD_EPS) -> np.ndarray:
    """Central finite differences of scalar ``f(arrays)`` with respect to ``arrays[index]``."""
    arrays = [np.array(a, copy=True) for a in arrays]
    x = arrays[index]
    grad = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + eps
        up = f(arrays)
        x[i] = saved - eps
        down = f(arrays)
        x[i] = saved
        grad[i] = (up - down) / (2 * eps)
    return grad


def _projection(out_shape, seed: int = 1234) -> np.ndarray:
    """A fixed random cotangent, so that non-scalar outputs reduce to one scalar loss."""
    return np.random.default_rng(seed).uniform(0.5, 1.5, size=out_shape)


def check_grad(fn: Callable, inputs: Sequence, wrt: Optional[Sequence[int]] = None,
               eps: float = FD_EPS, rtol: float = FD_TOL["rtol"], atol: float = FD_TOL["atol"]):
    """Eager autograd of ``fn`` matches central finite differences, in float64.

    ``inputs`` are arrays (or Python data); float ones become float64 tensors, others keep their
    dtype. ``fn`` takes tensors and returns a tensor; a non-scalar result is contracted with a
    fixed random cotangent ``w`` (loss = sum(fn(*xs) * w)). ``wrt`` lists the input positions to
    check (default: every float input). Returns the analytic gradients (arrays) for further use.
    """
    arrays = [np.asarray(a) for a in inputs]
    arrays = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]
    if wrt is None:
        wrt = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]

    def loss(arrs, w=None, requires=()):
        ts = [graphc.tensor(a, requires_grad=(i in requires)) for i, a in enumerate(arrs)]
        out = fn(*ts)
        if w is None:
            w = _projection(out.shape)
        return ts, out, (out * graphc.tensor(w)).sum()

    ts, out, total = loss(arrays, requires=set(wrt))
    assert out.dtype == graphc.float64, f"check_grad needs a float64 result, got {out.dtype}"
    total.backward()
    w = _projection(out.shape)

    def scalar(arrs):
        with graphc.no_grad():
            return float(loss(arrs, w)[2].item())

    grads = []
    for i in wrt:
        expected = numeric_gradient(scalar, arrays, i, eps)
        got = ts[i].grad
        # no gradient at all is right only for an input the result does not depend on
        got = np.zeros_like(expected) if got is None else got.numpy()
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")
        grads.append(got)
    return grads


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, fixed NumPy generator for test data (independent of graphc's generator)."""
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def every_traced_graph_round_trips(monkeypatch):
    """Suite-wide property: every graph the tracer produces verifies, and prints, parses back
    and prints identically (with and without source locations)."""
    import ir
    from graphc.compile import CompiledFunction

    original = CompiledFunction._trace

    def checked(self, *args, **kwargs):
        entry = original(self, *args, **kwargs)
        ir.verify(entry.graph)
        for debug_info in (False, True):
            text = ir.to_text(entry.graph, debug_info=debug_info)
            assert ir.to_text(ir.parse(text), debug_info=debug_info) == text
        return entry

    monkeypatch.setattr(CompiledFunction, "_trace", checked)
