"""PyTorch functions graphc writes from its primitives (issue 10): ``repeat flip fliplr flipud
roll unbind t addcmul addcdiv isclose allclose`` and the norms (``Tensor.norm``,
``graphc.linalg.norm/vector_norm/matrix_norm``).

Each is checked eagerly against an independent float64 NumPy computation, compiled (default
backend, and the interpreter) against eager, and its gradient against finite differences.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
from conftest import assert_close, check_grad

X = np.arange(1.0, 25.0).reshape(2, 3, 4) * np.array([1, -1, 1, -1]) / 7.0


# (name, graphc function of one tensor, independent NumPy oracle)
CASES = [
    ("repeat", lambda x: x.repeat(2, 1, 3), lambda a: np.tile(a, (2, 1, 3))),
    ("repeat_new_leading_dims", lambda x: x.repeat(2, 1, 1, 2),
     lambda a: np.tile(a, (2, 1, 1, 2))),
    ("flip_one_dim", lambda x: graphc.flip(x, [1]), lambda a: a[:, ::-1, :]),
    ("flip_several_dims", lambda x: x.flip((0, -1)), lambda a: a[::-1, :, ::-1]),
    ("fliplr", lambda x: x.fliplr(), lambda a: a[:, ::-1]),
    ("flipud", lambda x: graphc.flipud(x), lambda a: a[::-1]),
    ("roll_flattened", lambda x: graphc.roll(x, 5), lambda a: np.roll(a, 5)),
    ("roll_one_dim_negative", lambda x: x.roll(-1, 2), lambda a: np.roll(a, -1, 2)),
    ("roll_several_dims", lambda x: x.roll((1, 7), (0, 1)), lambda a: np.roll(a, (1, 7), (0, 1))),
    ("unbind_middle", lambda x: graphc.stack(x.unbind(1), 0), lambda a: np.moveaxis(a, 1, 0)),
    ("t_of_matrix", lambda x: x[0].t(), lambda a: a[0].T),
    ("addcmul", lambda x: graphc.addcmul(x, x, x * 2, value=0.5), lambda a: a + 0.5 * a * a * 2),
    ("addcdiv", lambda x: x.addcdiv(x, x * x + 1.0, value=-2),
     lambda a: a - 2 * a / (a * a + 1.0)),
    ("norm_default", lambda x: x.norm(), lambda a: np.sqrt((a * a).sum())),
    ("norm_p1_dim_keepdim", lambda x: x.norm(1, dim=2, keepdim=True),
     lambda a: np.abs(a).sum(2, keepdims=True)),
    ("norm_p3_dims", lambda x: graphc.norm(x, p=3, dim=(0, 2)),
     lambda a: (np.abs(a) ** 3).sum((0, 2)) ** (1 / 3)),
    ("norm_inf", lambda x: x.norm(float("inf"), dim=1), lambda a: np.abs(a).max(1)),
    ("vector_norm_neg_inf", lambda x: graphc.linalg.vector_norm(x, -math.inf, dim=-1),
     lambda a: np.abs(a).min(-1)),
    ("vector_norm_half", lambda x: graphc.linalg.vector_norm(x, 0.5),
     lambda a: np.sqrt(np.abs(a)).sum() ** 2),
    ("linalg_norm_fro_matrix", lambda x: graphc.linalg.norm(x[0], "fro"),
     lambda a: np.linalg.norm(a[0], "fro")),
    ("matrix_norm_one", lambda x: graphc.linalg.matrix_norm(x, 1),
     lambda a: np.abs(a).sum(-2).max(-1)),
    ("matrix_norm_neg_inf_keepdim", lambda x: graphc.linalg.matrix_norm(x, -math.inf,
                                                                      keepdim=True),
     lambda a: np.abs(a).sum(-1).min(-1)[:, None, None]),
    ("linalg_norm_vector_dim", lambda x: graphc.linalg.norm(x, 2, dim=1),
     lambda a: np.sqrt((a * a).sum(1))),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name,fn,oracle", CASES, ids=IDS)
def test_composite_matches_float64_numpy_eagerly(name, fn, oracle):
    assert_close(fn(graphc.tensor(X)), oracle(X))


@pytest.mark.parametrize("name,fn,oracle", CASES, ids=IDS)
def test_composite_gradient_matches_finite_differences(name, fn, oracle):
    check_grad(fn, [X])


@pytest.mark.parametrize("backend", ["llvm", "interpreter"])
@pytest.mark.parametrize("name,fn,oracle", CASES, ids=IDS)
def test_composite_compiled_equals_eager(name, fn, oracle, backend):
    x = graphc.tensor(X.astype(np.float32))
    compiled = graphc.compile(fn, backend=backend)
    assert_close(compiled(x), fn(x).numpy())


def test_composite_gradient_compiled_equals_eager():
    def loss(x):
        y = x.repeat(1, 2, 1).flip(1).roll(2, -1) * x.norm(dim=0, keepdim=True).repeat(1, 2, 1)
        return graphc.linalg.matrix_norm(y, math.inf).sum() + graphc.addcdiv(x, x, 2.0).sum()

    def step(x):
        loss(x).backward()
        return x.grad

    x = graphc.tensor(X, requires_grad=True)
    eager = step(x).numpy().copy()
    x.grad = None
    assert_close(graphc.compile(step)(x), eager)


def test_norm_gradient_at_zero_is_zero_as_in_pytorch():
    for p in (2, 3, 0.5):
        x = graphc.zeros(3, dtype=graphc.float64, requires_grad=True)
        x.norm(p).backward()
        assert x.grad.tolist() == [0.0, 0.0, 0.0]
    x = graphc.tensor([0.0, 4.0], dtype=graphc.float64, requires_grad=True)
    x.norm(0.5).backward()  # d/dx (sum sqrt|x|)^2 = (sum sqrt|x|) / sqrt|x| at x != 0
    assert x.grad.tolist() == [0.0, 1.0]


def test_norm_zero_counts_nonzero_elements():
    assert graphc.tensor([0.0, 2.0, -1.0, 0.0]).norm(0).item() == 2.0


def test_norm_refuses_integer_tensors_and_unknown_orders():
    with pytest.raises(RuntimeError, match="floating point"):
        graphc.tensor([1, 2]).norm()
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        graphc.linalg.matrix_norm(graphc.ones(3))
    assert graphc.ones(2, 2).norm("nuc").item() == pytest.approx(2.0)  # singular values 2, 0
    with pytest.raises(RuntimeError, match="order 3 is not supported"):
        graphc.linalg.matrix_norm(graphc.ones(2, 2), 3)


def test_t_keeps_rank_0_and_1_and_refuses_rank_3():
    assert graphc.tensor(2.0).t().item() == 2.0
    assert graphc.ones(3).t().shape == (3,)
    with pytest.raises(RuntimeError, match="<= 2 dimensions"):
        graphc.ones(2, 2, 2).t()


def test_t_in_place_transposes_non_square_matrix():
    x = graphc.tensor([[1, 2, 3], [4, 5, 6]])
    assert x.t_() is x
    assert x.tolist() == [[1, 4], [2, 5], [3, 6]]


def test_repeat_with_fewer_sizes_than_dims_is_an_error():
    with pytest.raises(RuntimeError, match="smaller than the rank"):
        graphc.ones(2, 3).repeat(2)


def test_flip_refuses_repeated_dims_and_roll_of_0d_with_dims():
    with pytest.raises(RuntimeError, match="multiple times"):
        graphc.ones(2, 3).flip((0, 0))
    with pytest.raises(IndexError):
        graphc.tensor(1.0).roll(1, 0)
    assert graphc.tensor(1.0).roll(1).item() == 1.0


def test_unbind_returns_slices_without_the_dim():
    parts = graphc.tensor([[1, 2], [3, 4]]).unbind(1)
    assert isinstance(parts, tuple) and [p.tolist() for p in parts] == [[1, 3], [2, 4]]
    with pytest.raises(IndexError):
        graphc.tensor(1.0).unbind()


def test_in_place_addcmul_and_addcdiv_as_optimizers_use_them():
    exp_avg_sq = graphc.tensor([1.0, 2.0])
    grad = graphc.tensor([3.0, -1.0])
    exp_avg_sq.mul_(0.9).addcmul_(grad, grad, value=0.1)
    assert_close(exp_avg_sq, np.array([0.9 + 0.9, 1.8 + 0.1]))
    p = graphc.tensor([1.0, 1.0])
    p.addcdiv_(graphc.tensor([2.0, 4.0]), graphc.tensor([4.0, 2.0]), value=-0.5)
    assert_close(p, np.array([1.0 - 0.25, 1.0 - 1.0]))
    with pytest.raises(RuntimeError, match="integer division"):
        graphc.addcdiv(graphc.ones(2), graphc.tensor([1, 2]), graphc.tensor([1, 2]))


def test_isclose_follows_pytorch_tolerance_inf_and_nan_rules():
    inf, nan = math.inf, math.nan
    a = graphc.tensor([1.0, 1.0, 0.0, inf, inf, -inf, nan, 1.0], dtype=graphc.float64)
    b = graphc.tensor([1.0 + 1e-6, 1.1, 1e-9, inf, -inf, -inf, nan, inf], dtype=graphc.float64)
    # |a - b| <= atol + rtol * |b|, infinities close only to themselves, NaN never
    expected = [True, False, True, True, False, True, False, False]
    assert graphc.isclose(a, b).tolist() == expected
    assert a.isclose(b, equal_nan=True).tolist() == expected[:6] + [True, False]
    assert graphc.isclose(a, b, rtol=0.2).tolist()[1] is True
    assert graphc.isclose(graphc.tensor([1, 2]), graphc.tensor([1, 3])).tolist() == [True, False]


def test_isclose_refuses_mixed_dtypes_and_allclose_returns_a_python_bool():
    with pytest.raises(RuntimeError, match="same dtype"):
        graphc.isclose(graphc.tensor([1, 2]), graphc.tensor([1.0, 2.0]))
    x = graphc.tensor([1.0, 2.0])
    assert graphc.allclose(x, x + 1e-7) is True
    assert x.allclose(x + 1e-3) is False


def test_isclose_compiled_equals_eager():
    a = graphc.tensor([1.0, 2.0, math.inf, math.nan])
    b = graphc.tensor([1.0 + 1e-7, 2.5, math.inf, math.nan])
    f = graphc.compile(lambda a, b: graphc.isclose(a, b, equal_nan=True))
    assert f(a, b).tolist() == [True, False, True, True]
