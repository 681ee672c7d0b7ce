"""Integer division on the cuda backend: its kernels cannot raise, so integer ``//``, ``%``,
``fmod`` and ``div(rounding_mode=)`` run as checked library calls and a zero divisor raises
graphc's "ZeroDivisionError" RuntimeError from compiled code, as eagerly (and as PyTorch on CPU).
Run with the rest of tests/cuda: ``NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/cuda``.
"""
from __future__ import annotations

import math

import pytest

import graphc

pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")


def test_compiled_integer_division_on_cuda_rounds_like_python_and_checks_for_zero():
    step = graphc.compile(lambda a, b: (a // b, a % b, graphc.fmod(a, b),
                                        graphc.div(a, b, rounding_mode="trunc")), backend="cuda")
    a, b = [7, -7, 7, -7], [2, 2, -2, -2]
    q, r, f, t = step(graphc.tensor(a), graphc.tensor(b))
    assert q.tolist() == [x // y for x, y in zip(a, b)]
    assert r.tolist() == [x % y for x, y in zip(a, b)]
    assert f.tolist() == [int(math.fmod(x, y)) for x, y in zip(a, b)]
    assert t.tolist() == [int(x / y) for x, y in zip(a, b)]
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        step(graphc.tensor(a), graphc.tensor([2, 0, 1, 1]))


def test_compiled_float_rounding_and_division_on_cuda_keep_signed_zeros():
    step = graphc.compile(lambda a, b: (a // b, a % b, graphc.round(a), graphc.trunc(a),
                                        graphc.exp2(a)), backend="cuda")
    q, r, rounded, truncated, power = step(graphc.tensor([7.5, -0.5, -2.5]),
                                           graphc.tensor([2.0, 1.0, 0.0]))
    assert q.tolist()[:2] == [3.0, -1.0] and q.tolist()[2] == -math.inf
    assert r.tolist()[:2] == [1.5, 0.5] and math.isnan(r.tolist()[2])
    assert [math.copysign(1.0, v) for v in rounded.tolist()] == [1.0, -1.0, -1.0]
    assert rounded.tolist() == [8.0, -0.0, -2.0] and truncated.tolist() == [7.0, -0.0, -2.0]
    assert power.tolist() == [pytest.approx(2 ** 7.5), pytest.approx(2 ** -0.5),
                              pytest.approx(2 ** -2.5)]
