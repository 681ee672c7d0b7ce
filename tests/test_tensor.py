"""The eager ``graphc.Tensor`` API behaves like PyTorch's, checked against NumPy in float64.

Float32 results are compared with a float64 NumPy computation on the same (exactly
representable) inputs: ``rtol=1e-5, atol=1e-6``; integer and bool results must match exactly.
"""
from __future__ import annotations

import math
import operator

import numpy as np
import pytest

import graphc
from conftest import assert_close
from graphc import Tensor
from ir import dtypes

F32 = dict(dtype="f32")
OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
             "**": operator.pow, "<": operator.lt, "<=": operator.le, ">": operator.gt,
             ">=": operator.ge, "==": operator.eq, "!=": operator.ne}


@pytest.fixture
def data(rng):
    """Two float32 arrays (as float64 oracles too) and their tensors."""
    a = rng.uniform(0.5, 2.0, size=(2, 3)).astype(np.float32)
    b = rng.uniform(-2.0, 2.0, size=(2, 3)).astype(np.float32)
    return a, b, graphc.tensor(a), graphc.tensor(b)


def f64(a):
    return np.asarray(a, dtype=np.float64)


# -- operators --------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**"])
def test_binary_arithmetic_operators_match_numpy(op, data):
    a, b, ta, tb = data
    fn = OPERATORS[op]
    result = fn(ta, tb)
    assert isinstance(result, Tensor) and result.dtype == graphc.float32
    assert_close(result, fn(f64(a), f64(b)), **F32)


def test_matmul_operator_and_unary_minus(rng):
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((3, 4)).astype(np.float32)
    assert_close(graphc.tensor(a) @ graphc.tensor(b), f64(a) @ f64(b), **F32)
    assert_close(-graphc.tensor(a), -f64(a), **F32)


def test_matmul_follows_numpy_rules_for_vectors_and_batches(rng):
    m = rng.standard_normal((3, 4))
    v = rng.standard_normal(4)
    batch = rng.standard_normal((5, 2, 3))
    assert graphc.matmul(graphc.tensor(m), graphc.tensor(v)).shape == (3,)
    assert_close(graphc.tensor(m) @ graphc.tensor(v), m @ v, dtype="f32")
    assert_close(graphc.tensor(v) @ graphc.tensor(m.T), v @ m.T, dtype="f32")
    assert (graphc.tensor(v) @ graphc.tensor(v)).shape == ()
    assert_close(graphc.tensor(batch) @ graphc.tensor(m), batch @ m, dtype="f32")


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
def test_comparisons_give_bool_tensors(op, data):
    a, _, ta, _ = data
    c = a.copy()
    c[0] = a[0] + 1  # first row differs, second row equal
    result = OPERATORS[op](ta, graphc.tensor(c))
    assert result.dtype == graphc.bool
    np.testing.assert_array_equal(result.numpy(), OPERATORS[op](a, c))


def test_logical_operators_on_bool_tensors():
    p = np.array([True, True, False, False])
    q = np.array([True, False, True, False])
    tp, tq = graphc.tensor(p), graphc.tensor(q)
    np.testing.assert_array_equal((tp & tq).numpy(), p & q)
    np.testing.assert_array_equal((tp | tq).numpy(), p | q)
    np.testing.assert_array_equal((~tp).numpy(), ~p)
    assert (tp & tq).dtype == graphc.bool and (~tp).dtype == graphc.bool


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**"])
def test_reflected_operators_with_python_scalars(op, data):
    a, _, ta, _ = data
    fn = OPERATORS[op]
    left, right = fn(1.5, ta), fn(ta, 1.5)
    assert isinstance(left, Tensor) and isinstance(right, Tensor)
    assert left.dtype == right.dtype == graphc.float32
    assert_close(left, fn(1.5, f64(a)), **F32)
    assert_close(right, fn(f64(a), 1.5), **F32)


@pytest.mark.parametrize("op", ["+", "-", "*", "/"])
def test_reflected_operators_with_numpy_arrays(op, data):
    a, b, ta, _ = data
    fn = OPERATORS[op]
    left, right = fn(b, ta), fn(ta, b)  # an ndarray on the left defers to the Tensor
    assert isinstance(left, Tensor) and isinstance(right, Tensor)
    assert_close(left, fn(f64(b), f64(a)), **F32)
    assert_close(right, fn(f64(a), f64(b)), **F32)


# -- dtype promotion (PyTorch rules) ---------------------------------------------------------
I32 = graphc.tensor([1, 2], dtype=graphc.int32)
I64 = graphc.tensor([1, 2])
FL32 = graphc.tensor([1.0, 2.0])
FL64 = graphc.tensor([1.0, 2.0], dtype=graphc.float64)
BOOL = graphc.tensor([True, False])


@pytest.mark.parametrize("expr,expected", [
    (lambda: I64 * 2.5, dtypes.f32),      # int tensor with a Python float -> default float
    (lambda: I32 + I64, dtypes.i64),      # wider integer wins
    (lambda: FL32 + FL64, dtypes.f64),    # wider float wins
    (lambda: FL32 + 2, dtypes.f32),       # a Python int does not widen a float tensor
    (lambda: FL32 * 2.5, dtypes.f32),     # nor does a Python float
    (lambda: FL64 * 2.5, dtypes.f64),
    (lambda: I32 + 1, dtypes.i32),        # a Python int keeps the integer tensor's width
    (lambda: I64 + FL32, dtypes.f32),     # float category beats integer
    (lambda: I64 / I64, dtypes.f32),      # true division of integers
    (lambda: BOOL + BOOL * 1, dtypes.i64),
    (lambda: I64.sum(), dtypes.i64),
    (lambda: I32.sum(), dtypes.i64),      # integer sums accumulate in int64
    (lambda: I64.mean(dtype=graphc.float64), dtypes.f64),  # (without dtype=: an error)
    (lambda: I64.exp(), dtypes.f32),
])
def test_dtype_promotion_follows_pytorch(expr, expected):
    assert expr().dtype == expected


def test_promoted_values_are_computed_in_the_promoted_dtype():
    assert_close(I64 * 2.5, [2.5, 5.0], **F32)
    np.testing.assert_array_equal((I64 / I64 * 3).numpy(), [3.0, 3.0])
    np.testing.assert_array_equal((I32 + (2**31 - 2)).numpy(), np.array([2**31 - 1, -2**31],
                                                                         np.int32))


# -- methods --------------------------------------------------------------------------------
X = np.array([[0.5, -1.25, 2.0, 0.75], [1.5, 0.25, -0.5, 3.0], [-2.0, 1.0, 0.0, -0.25]],
             np.float32)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _lse(x, axis):
    return np.log(np.exp(x).sum(axis=axis))


METHODS = [
    ("sum", lambda t: t.sum(), lambda x: x.sum()),
    ("sum-dim-keepdim", lambda t: t.sum(dim=-1, keepdim=True), lambda x: x.sum(-1, keepdims=True)),
    ("sum-dims", lambda t: t.sum(dim=(0, 1)), lambda x: x.sum()),
    ("mean", lambda t: t.mean(dim=0), lambda x: x.mean(0)),
    ("max", lambda t: t.max(), lambda x: x.max()),
    ("min", lambda t: t.min(), lambda x: x.min()),
    ("amax-keepdim", lambda t: t.amax(dim=1, keepdim=True), lambda x: x.max(1, keepdims=True)),
    ("argmax", lambda t: t.argmax(), lambda x: np.argmax(x)),
    ("argmax-dim", lambda t: t.argmax(dim=1), lambda x: np.argmax(x, axis=1)),
    ("argmin-dim", lambda t: t.argmin(dim=0), lambda x: np.argmin(x, axis=0)),
    ("reshape", lambda t: t.reshape(2, 6), lambda x: x.reshape(2, 6)),
    ("reshape-infer", lambda t: t.reshape(-1, 3), lambda x: x.reshape(-1, 3)),
    ("view", lambda t: t.view(4, 3), lambda x: x.reshape(4, 3)),
    ("transpose", lambda t: t.transpose(0, 1), lambda x: x.T),
    ("permute", lambda t: t.reshape(3, 2, 2).permute(2, 0, 1),
     lambda x: x.reshape(3, 2, 2).transpose(2, 0, 1)),
    ("T", lambda t: t.T, lambda x: x.T),
    ("unsqueeze", lambda t: t.unsqueeze(1), lambda x: x[:, None]),
    ("unsqueeze-neg", lambda t: t.unsqueeze(-1), lambda x: x[..., None]),
    ("squeeze", lambda t: t.reshape(1, 3, 1, 4).squeeze(), lambda x: x),
    ("squeeze-dim", lambda t: t.reshape(1, 3, 1, 4).squeeze(2), lambda x: x.reshape(1, 3, 4)),
    ("flatten", lambda t: t.flatten(), lambda x: x.ravel()),
    ("flatten-from", lambda t: t.reshape(3, 2, 2).flatten(1), lambda x: x.reshape(3, 4)),
    ("expand", lambda t: t[:, :1].expand(3, 5), lambda x: np.broadcast_to(x[:, :1], (3, 5))),
    ("expand-new-dim", lambda t: t.expand(2, -1, -1), lambda x: np.broadcast_to(x, (2, 3, 4))),
    ("exp", lambda t: t.exp(), np.exp),
    ("log", lambda t: (t.abs() + 0.5).log(), lambda x: np.log(np.abs(x) + 0.5)),
    ("tanh", lambda t: t.tanh(), np.tanh),
    ("sigmoid", lambda t: t.sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    ("relu", lambda t: t.relu(), lambda x: np.maximum(x, 0)),
    ("sqrt", lambda t: t.abs().sqrt(), lambda x: np.sqrt(np.abs(x))),
    ("abs", lambda t: t.abs(), np.abs),
    ("clamp", lambda t: t.clamp(min=-0.5, max=1.0), lambda x: np.clip(x, -0.5, 1.0)),
    ("clamp-min", lambda t: t.clamp(min=0.3), lambda x: np.maximum(x, 0.3)),
    ("softmax", lambda t: t.softmax(dim=1), lambda x: _softmax(x, 1)),
    ("softmax-dim0", lambda t: graphc.softmax(t, dim=0), lambda x: _softmax(x, 0)),
    ("log_softmax", lambda t: t.log_softmax(-1), lambda x: np.log(_softmax(x, -1))),
    ("matmul", lambda t: t.matmul(t.T), lambda x: x @ x.T),
    ("var", lambda t: t.var(), lambda x: x.var(ddof=1)),
    ("var-dim-biased", lambda t: t.var(dim=1, unbiased=False), lambda x: x.var(1)),
    ("std-dim", lambda t: t.std(dim=0), lambda x: x.std(0, ddof=1)),
    ("std-keepdim", lambda t: t.std(dim=1, keepdim=True), lambda x: x.std(1, ddof=1,
                                                                           keepdims=True)),
    ("logsumexp", lambda t: t.logsumexp(dim=1), lambda x: _lse(x, 1)),
    ("logsumexp-all", lambda t: graphc.logsumexp(t), lambda x: _lse(x.ravel(), 0)),
    ("gelu", lambda t: graphc.gelu(t),
     lambda x: x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
    ("gelu-tanh", lambda t: graphc.gelu(t, approximate="tanh"),
     lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    ("silu", lambda t: graphc.silu(t), lambda x: x / (1 + np.exp(-x))),
    ("cat", lambda t: graphc.cat([t, t * 2, t[:, :1]], dim=1),
     lambda x: np.concatenate([x, 2 * x, x[:, :1]], axis=1)),
    ("cat-dim0", lambda t: graphc.cat([t, t[:1]]), lambda x: np.concatenate([x, x[:1]])),
    ("stack", lambda t: graphc.stack([t, -t], dim=1), lambda x: np.stack([x, -x], axis=1)),
    ("stack-last", lambda t: graphc.stack([t, t], dim=-1), lambda x: np.stack([x, x], -1)),
    ("where", lambda t: graphc.where(t > 0, t, t * 10), lambda x: np.where(x > 0, x, 10 * x)),
    ("where-scalar", lambda t: graphc.where(t > 0, t, 0.0), lambda x: np.where(x > 0, x, 0)),
    ("gather", lambda t: t.gather(1, graphc.tensor([[0, 3], [2, 2], [1, 0]])),
     lambda x: np.take_along_axis(x, np.array([[0, 3], [2, 2], [1, 0]]), 1)),
    ("index_select", lambda t: t.index_select(1, graphc.tensor([3, 0, 3])),
     lambda x: x[:, [3, 0, 3]]),
    ("index_select-0d-index", lambda t: t.index_select(0, graphc.tensor(2)),
     lambda x: x[[2]]),  # (a 2-D index is refused, as PyTorch: test_torch_functions_more)
]


@pytest.mark.parametrize("name,method,oracle", METHODS, ids=[m[0] for m in METHODS])
def test_methods_match_numpy(name, method, oracle):
    result = method(graphc.tensor(X))
    expected = np.asarray(oracle(f64(X)))
    if result.dtype.is_float:
        assert result.dtype == graphc.float32
        assert_close(result, expected, **F32)
    else:
        np.testing.assert_array_equal(result.numpy(), expected)


def test_max_and_min_with_dim_return_values_and_indices():
    t = graphc.tensor(X)
    values, indices = t.max(dim=1)
    assert_close(values, f64(X).max(1), **F32)
    np.testing.assert_array_equal(indices.numpy(), X.argmax(1))
    assert indices.dtype == graphc.int64
    result = t.min(0, keepdim=True)
    assert result.values.shape == (1, 4) and result.indices.shape == (1, 4)
    np.testing.assert_array_equal(result.indices.numpy(), X.argmin(0)[None])
    assert_close(graphc.max(t, graphc.tensor(0.0)), np.maximum(f64(X), 0), **F32)


def test_split_and_chunk():
    t = graphc.tensor(np.arange(14.0).reshape(7, 2))
    pieces = t.split(3)
    assert [p.shape for p in pieces] == [(3, 2), (3, 2), (1, 2)]
    np.testing.assert_array_equal(graphc.cat(pieces).numpy(), t.numpy())
    assert [p.shape for p in t.split([2, 5], dim=0)] == [(2, 2), (5, 2)]
    assert [p.shape for p in t.chunk(2)] == [(4, 2), (3, 2)]
    np.testing.assert_array_equal(t.chunk(2, dim=1)[1].numpy(), np.arange(1.0, 14.0, 2)[:, None])


# -- indexing ---------------------------------------------------------------------------------
A = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
KEYS = [
    1, -1, (1, 2), (-1, -2, -3), (slice(None), 1), slice(1, None), slice(None, None, 2),
    (slice(None), slice(1, None, 2), slice(0, 5, 3)),
    (slice(-3, -1),), slice(10, 20), (None, 1), (1, None, slice(None), None, 0),
    Ellipsis, (Ellipsis, 2), (1, Ellipsis), (None, Ellipsis, None), (slice(2, 3), Ellipsis, -1),
]


@pytest.mark.parametrize("key", KEYS, ids=[repr(k) for k in KEYS])
def test_basic_indexing_matches_numpy(key):
    result = graphc.tensor(A)[key]
    assert result.shape == A[key].shape
    np.testing.assert_array_equal(result.numpy(), A[key])


def test_embedding_lookup_with_an_integer_tensor_index():
    weights = np.arange(20, dtype=np.float32).reshape(10, 2)
    idx = np.array([[0, 9, 3], [3, 3, 1]])  # (B, T) with repeats
    result = graphc.tensor(weights)[graphc.tensor(idx)]
    assert result.shape == (2, 3, 2)
    np.testing.assert_array_equal(result.numpy(), weights[idx])


def test_negative_values_in_an_integer_tensor_index_count_from_the_end():
    idx = np.array([-1, 0, -3])
    np.testing.assert_array_equal(graphc.tensor(A)[graphc.tensor(idx)].numpy(), A[idx])


def test_two_adjacent_integer_tensor_indices_pair_up_like_numpy():
    i, j = np.array([[0, 2], [1, 1]]), np.array([4, 0])  # broadcast to (2, 2)
    t = graphc.tensor(A)
    np.testing.assert_array_equal(t[:, graphc.tensor([0, 3]), graphc.tensor([1, 4])].numpy(),
                                  A[:, [0, 3], [1, 4]])
    np.testing.assert_array_equal(t[1, graphc.tensor(i), graphc.tensor(j)].numpy(), A[1, i, j])
    np.testing.assert_array_equal(t[graphc.tensor([2, 0]), graphc.tensor([3, 1])].numpy(),
                                  A[[2, 0], [3, 1]])


def test_indexing_with_a_python_list():
    np.testing.assert_array_equal(graphc.tensor(A)[[2, 0, 2]].numpy(), A[[2, 0, 2]])


# -- setitem --------------------------------------------------------------------------------
SETS = [
    ((1, slice(1, 3)), 7.0),
    ((slice(None), slice(None, None, 2), -1), np.array([1.0, 2.0], np.float32)),
    ((0,), np.ones((4, 5), np.float32)),
    ((Ellipsis, 1), 5),
    ((slice(1, None), None, 2), np.full((2, 1, 5), -3.0, np.float32)),
    ((slice(2, 2),), 1.0),
    ((-1, -1, -1), 100.0),
]


@pytest.mark.parametrize("key,value", SETS, ids=[repr(k) for k, _ in SETS])
def test_setitem_with_basic_indices_matches_numpy(key, value):
    t = graphc.tensor(A)
    t[key] = graphc.tensor(value) if isinstance(value, np.ndarray) else value
    expected = A.copy()
    expected[key] = value
    assert t.dtype == graphc.float32
    np.testing.assert_array_equal(t.numpy(), expected)


def test_setitem_does_not_change_the_source_array_or_other_tensors():
    source = A.copy()
    t = graphc.from_numpy(source)
    view, copy = t[0], t[0].clone()
    t[0, 0, 0] = -1.0
    np.testing.assert_array_equal(source, A)
    assert view[0, 0].item() == -1.0  # a view of t sees the write, as in PyTorch
    assert copy[0, 0].item() == 0.0
    assert t[0, 0, 0].item() == -1.0


def test_setitem_with_a_boolean_mask():
    t = graphc.tensor(A)
    t[t > 30] = 0.0
    expected = A.copy()
    expected[expected > 30] = 0
    np.testing.assert_array_equal(t.numpy(), expected)

    # as PyTorch: a value with one entry per selected element, or one for all; a value of the
    # tensor's own shape is neither (tests/test_mask_indexing.py has the per-element fill)
    t = graphc.tensor(A)
    mask = A % 7 == 0
    with pytest.raises(IndexError, match=r"shape mismatch: value of shape \[3, 4, 5\] cannot be "
                                         r"broadcast to the indexing result of shape \[9\]"):
        t[graphc.tensor(mask)] = graphc.tensor(-A)
    np.testing.assert_array_equal(graphc.where(graphc.tensor(mask), graphc.tensor(-A), t).numpy(),
                                  np.where(mask, -A, A))


def test_setitem_converts_the_value_to_the_tensor_dtype():
    t = graphc.tensor([1, 2, 3])
    t[0] = 2.7  # truncated, as PyTorch does for int tensors
    assert t.dtype == graphc.int64 and t.tolist() == [2, 2, 3]


# -- factories --------------------------------------------------------------------------------
@pytest.mark.parametrize("make,dtype,shape", [
    (lambda: graphc.tensor([1.0, 2.0]), dtypes.f32, (2,)),
    (lambda: graphc.tensor([[1, 2], [3, 4]]), dtypes.i64, (2, 2)),
    (lambda: graphc.tensor([True, False]), dtypes.bool_, (2,)),
    (lambda: graphc.tensor(3.5), dtypes.f32, ()),
    (lambda: graphc.tensor(3), dtypes.i64, ()),
    (lambda: graphc.tensor([1, 2], dtype=graphc.float64), dtypes.f64, (2,)),
    (lambda: graphc.tensor(np.zeros(3, np.float64)), dtypes.f64, (3,)),
    (lambda: graphc.tensor(np.zeros(3, np.int32)), dtypes.i32, (3,)),
    (lambda: graphc.tensor(np.float64(2.0)), dtypes.f64, ()),   # NumPy scalars keep theirs too
    (lambda: graphc.tensor(np.int32(2)), dtypes.i32, ()),
    (lambda: graphc.from_numpy(np.zeros((2, 1), np.int32)), dtypes.i32, (2, 1)),
    (lambda: graphc.zeros(2, 3), dtypes.f32, (2, 3)),
    (lambda: graphc.zeros((2, 3)), dtypes.f32, (2, 3)),
    (lambda: graphc.ones(4, dtype=graphc.int32), dtypes.i32, (4,)),
    (lambda: graphc.full((2, 2), 1.5), dtypes.f32, (2, 2)),
    (lambda: graphc.full((2,), 7), dtypes.i64, (2,)),
    (lambda: graphc.full((2,), True), dtypes.bool_, (2,)),
    (lambda: graphc.arange(5), dtypes.i64, (5,)),
    (lambda: graphc.arange(0, 1, 0.25), dtypes.f32, (4,)),
    (lambda: graphc.randn(2, 3), dtypes.f32, (2, 3)),
    (lambda: graphc.rand(4), dtypes.f32, (4,)),
    (lambda: graphc.randn(3, dtype=graphc.float64), dtypes.f64, (3,)),
    (lambda: graphc.zeros_like(graphc.tensor([1, 2])), dtypes.i64, (2,)),
    (lambda: graphc.ones_like(graphc.zeros(2, 1)), dtypes.f32, (2, 1)),
    (lambda: graphc.eye(3), dtypes.f32, (3, 3)),
    (lambda: graphc.linspace(0, 1, 5), dtypes.f32, (5,)),
])
def test_factories_use_pytorch_default_dtypes(make, dtype, shape):
    t = make()
    assert t.dtype == dtype and t.shape == shape


def test_arange_counts_down_with_a_negative_step():
    assert graphc.arange(5, 0, -2).tolist() == [5, 3, 1]
    assert graphc.arange(2, 2, -1).tolist() == []


@pytest.mark.parametrize("args, match", [
    ((0, 5, 0), "step must be nonzero"),
    ((0.0, 1.0, 0.0), "step must be nonzero"),
    ((0, 5, -1), "inconsistent with step sign"),
    ((5, 0), "inconsistent with step sign"),
    ((0, float("inf")), "unsupported range: 0 -> inf"),
    ((float("nan"), 3), "unsupported range: nan -> 3"),
])
def test_arange_rejects_ranges_pytorch_rejects(args, match):
    with pytest.raises(RuntimeError, match=match):
        graphc.arange(*args)

    @graphc.compile
    def shifted(x):
        return x + graphc.arange(*args)

    with pytest.raises(RuntimeError, match=match):
        shifted(graphc.zeros(3))


def test_factory_values():
    np.testing.assert_array_equal(graphc.tensor([[1.5, 2]]).numpy(), [[1.5, 2.0]])
    np.testing.assert_array_equal(graphc.zeros(2, 3).numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(graphc.ones(3).numpy(), np.ones(3))
    np.testing.assert_array_equal(graphc.full((2,), -4.0).numpy(), [-4.0, -4.0])
    assert graphc.arange(1, 7, 2).tolist() == [1, 3, 5]
    assert_close(graphc.arange(0, 1, 0.25), [0, 0.25, 0.5, 0.75])
    assert graphc.eye(2, 3).tolist() == [[1, 0, 0], [0, 1, 0]]
    assert_close(graphc.linspace(-1, 1, 5), [-1.0, -0.5, 0.0, 0.5, 1.0])
    assert graphc.zeros_like(graphc.tensor([[1.0, 2.0]])).tolist() == [[0.0, 0.0]]
    assert graphc.ones_like(graphc.tensor([5, 6])).tolist() == [1, 1]
    r = graphc.rand(1000).numpy()
    assert r.min() >= 0.0 and r.max() < 1.0 and 0.4 < r.mean() < 0.6


def test_from_numpy_shares_dtype_and_values_and_graphc_never_writes_to_the_array():
    array = np.arange(6, dtype=np.int32).reshape(2, 3)
    t = graphc.from_numpy(array)
    t += 1
    assert t.dtype == graphc.int32 and t.tolist() == [[1, 2, 3], [4, 5, 6]]
    np.testing.assert_array_equal(array, np.arange(6).reshape(2, 3))


def test_unsupported_or_ragged_data_is_rejected():
    with pytest.raises(TypeError, match="uint16"):
        graphc.from_numpy(np.zeros(2, np.uint16))
    with pytest.raises(ValueError, match="ragged"):
        graphc.tensor([[1, 2], [3]])


def test_manual_seed_makes_random_tensors_reproducible():
    graphc.manual_seed(123)
    a, b = graphc.randn(5), graphc.rand(2, 2)
    graphc.manual_seed(123)
    np.testing.assert_array_equal(graphc.randn(5).numpy(), a.numpy())
    np.testing.assert_array_equal(graphc.rand(2, 2).numpy(), b.numpy())
    assert not np.array_equal(graphc.randn(5).numpy(), a.numpy())  # the stream moves on
    graphc.manual_seed(124)
    assert not np.array_equal(graphc.randn(5).numpy(), a.numpy())


# -- conversions and attributes ------------------------------------------------------------
def test_conversions_and_attributes():
    t = graphc.tensor([[1.5, 2.0, -3.0], [4.0, 5.0, 6.0]])
    array = t.numpy()
    assert isinstance(array, np.ndarray) and array.dtype == np.float32
    np.testing.assert_array_equal(array, [[1.5, 2.0, -3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3) and isinstance(t.shape, tuple) and t.ndim == 2
    assert t.dtype == graphc.float32
    assert t.tolist() == [[1.5, 2.0, -3.0], [4.0, 5.0, 6.0]]
    value = t[1, 2].item()
    assert value == 6.0 and isinstance(value, float)
    count = graphc.tensor([3, 4]).sum().item()
    assert count == 7 and isinstance(count, int)
    assert float(graphc.tensor(2.5)) == 2.5 and int(graphc.tensor(3)) == 3
    assert len(t) == 2 and [row.tolist() for row in t][1] == [4.0, 5.0, 6.0]


def test_dtype_objects():
    assert graphc.float32 == dtypes.f32 and graphc.float64 == dtypes.f64
    assert graphc.int32 == dtypes.i32 and graphc.int64 == dtypes.i64
    assert graphc.bool == dtypes.bool_
    assert graphc.float is graphc.float32 and graphc.double is graphc.float64
    assert graphc.long is graphc.int64
    assert graphc.float32 != graphc.float64
    for dt, np_dt in [(graphc.float32, np.float32), (graphc.float64, np.float64),
                      (graphc.int32, np.int32), (graphc.int64, np.int64),
                      (graphc.bool, np.bool_)]:
        assert graphc.zeros(2, dtype=dt).numpy().dtype == np_dt
        assert graphc.tensor([1, 0]).to(dt).dtype == dt


def test_dtype_conversion_methods():
    t = graphc.tensor([-1.7, 0.0, 2.5])
    assert t.double().dtype == graphc.float64
    assert t.long().tolist() == [-1, 0, 2]  # truncation toward zero
    assert t.int().dtype == graphc.int32
    assert t.bool().tolist() == [True, False, True]
    assert graphc.tensor([1, 2]).float().dtype == graphc.float32


# -- errors -------------------------------------------------------------------------------------
def test_shape_mismatch_in_add_names_both_shapes():
    with pytest.raises(graphc.ShapeError) as info:
        graphc.zeros(2, 3) + graphc.zeros(4)
    assert "[2, 3]" in str(info.value) and "[4]" in str(info.value)


def test_reshape_to_a_wrong_size_is_an_error():
    with pytest.raises(graphc.ShapeError, match=r"\[2, 3\].*\[4, 2\]"):
        graphc.zeros(2, 3).reshape(4, 2)
    with pytest.raises(ValueError, match="cannot reshape"):
        graphc.zeros(2, 3).reshape(-1, 4)


def test_out_of_range_index_is_an_error():
    t = graphc.zeros(3, 4)
    with pytest.raises(IndexError, match="out of bounds"):
        t[3]
    with pytest.raises(IndexError, match="out of bounds"):
        t[0, -5]
    with pytest.raises(IndexError, match="too many indices"):
        t[0, 0, 0]
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        t[graphc.tensor([0, 3])]


def test_bool_of_a_multi_element_tensor_is_an_error():
    with pytest.raises(ValueError, match="ambiguous"):
        bool(graphc.tensor([1.0, 2.0]))
    assert bool(graphc.tensor([1.0])) is True
    assert bool(graphc.tensor(0.0)) is False


def test_item_of_a_multi_element_tensor_is_an_error():
    with pytest.raises(ValueError, match="one element"):
        graphc.zeros(2).item()


def test_boolean_mask_assignment_covers_the_leading_axes_like_numpy():
    for mask in (graphc.tensor([True, False]), np.array([True, False]), [True, False]):
        x = graphc.tensor([[1.0, 2.0], [3.0, 4.0]])
        x[mask] = 0.0
        expected = np.array([[1.0, 2.0], [3.0, 4.0]])
        expected[np.array([True, False])] = 0.0
        np.testing.assert_array_equal(x.numpy(), expected)
    with pytest.raises(IndexError, match="does not match the leading axes"):
        graphc.zeros(2, 3)[graphc.tensor([True, False, True])] = 1.0


def test_numpy_returns_a_read_only_view_so_shared_values_cannot_change():
    a = graphc.tensor([1.0, 2.0])
    b = a.clone()
    with pytest.raises(ValueError, match="read-only"):
        a.numpy()[0] = 9.0
    assert b.tolist() == [1.0, 2.0]
    np.testing.assert_array_equal(np.asarray(a) * 2, [2.0, 4.0])  # reading is fine


@pytest.mark.parametrize("call,message", [
    (lambda: graphc.cat([]), "non-empty"),
    (lambda: graphc.stack([]), "non-empty"),
    (lambda: graphc.zeros(5).split(0), "must be positive"),
    (lambda: graphc.zeros(5).split([2, 2]), "add up to 5"),
    (lambda: graphc.zeros(5).chunk(0), "must be positive"),
    (lambda: float(graphc.zeros(2)), "one element"),
])
def test_bad_arguments_give_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_random_factories_take_pytorch_argument_order():
    assert graphc.normal(0.0, 1.0, (2, 3)).shape == (2, 3)
    assert graphc.normal(graphc.zeros(4), 2.0).shape == (4,)
    assert graphc.randint(10, (3,)).shape == (3,)
    values = graphc.randint(2, 5, size=(200,)).numpy()
    assert values.dtype == np.int64 and values.min() >= 2 and values.max() <= 4
    with pytest.raises(TypeError, match="needs a size"):
        graphc.normal(0.0, 1.0)


def test_to_accepts_device_then_dtype_and_another_tensor():
    x = graphc.ones(2)
    assert x.to("cpu", graphc.float64).dtype == graphc.float64
    assert x.to(graphc.zeros(1, dtype=graphc.int64)).dtype == graphc.int64
    assert x.to("cpu") is x


def test_formatting_and_comparison_with_none():
    loss = graphc.tensor(1.23456)
    assert f"{loss:.2f}" == "1.23"
    assert (loss == None) is False and (loss != None) is True  # noqa: E711


def test_clone_and_tensor_copy_a_user_array():
    a = np.zeros(3, np.float32)
    t = graphc.from_numpy(a)
    c, d = t.clone(), graphc.tensor(t)
    a[0] = 5.0
    assert t.tolist()[0] == 5.0  # from_numpy shares memory, as in PyTorch
    assert c.tolist() == [0.0, 0.0, 0.0] and d.tolist() == [0.0, 0.0, 0.0]


def test_log1p_and_expm1_are_accurate_near_zero():
    x = graphc.tensor([1e-10, 1e-6], dtype=graphc.float64)
    np.testing.assert_allclose(x.log1p().numpy(), np.log1p([1e-10, 1e-6]), rtol=1e-15)
    np.testing.assert_allclose(x.expm1().numpy(), np.expm1([1e-10, 1e-6]), rtol=1e-15)


@pytest.mark.parametrize("call,error,message", [
    (lambda: graphc.zeros(3, 1).expand(-1, 3, 4), ValueError, "new leading"),
    (lambda: graphc.dot(graphc.ones(3), graphc.ones(1)), ValueError, "same length"),
    (lambda: graphc.gather(graphc.ones(2, 3), 1, graphc.tensor([[-1], [0]])), IndexError,
     "index -1 is out of range"),
])
def test_pytorch_shape_and_index_checks(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_negative_class_labels_are_errors_not_the_last_class():
    import graphc.nn.functional as F
    logits = graphc.randn(2, 4)
    with pytest.raises(IndexError, match="out of range"):
        F.cross_entropy(logits, graphc.tensor([0, -1]))
    assert F.cross_entropy(logits, graphc.tensor([0, -100])).item() > 0  # ignore_index works
    with pytest.raises(IndexError, match=r"one_hot: class values must be in \[0, 4\)"):
        F.one_hot(graphc.tensor([0, 5]), 4)


def test_masked_fill_matches_numpy_and_has_an_in_place_form():
    x = graphc.tensor([[1.0, 2.0], [3.0, 4.0]])
    mask = graphc.tensor([True, False])  # broadcasts over rows
    np.testing.assert_array_equal(x.masked_fill(mask, -1.0).numpy(), [[-1.0, 2.0], [-1.0, 4.0]])
    x.masked_fill_(x > 2, 0.0)
    np.testing.assert_array_equal(x.numpy(), [[1.0, 2.0], [0.0, 0.0]])


def test_all_and_any_of_uint8_are_uint8_as_in_pytorch():
    x = graphc.tensor(np.array([1, 2, 0], np.uint8))
    assert x.all().dtype == x.any().dtype == graphc.uint8
    assert (x.all().item(), x.any().item()) == (0, 1)
    assert graphc.tensor([1.0, 0.0]).all().dtype == graphc.bool




def test_numpy_of_a_tensor_that_requires_grad_is_a_read_only_view_and_takes_force():
    # deliberately unlike PyTorch, which refuses (its array would share autograd's storage)
    w = graphc.ones(2, requires_grad=True)
    values = w.numpy()
    assert not values.flags.writeable
    with pytest.raises(ValueError):
        values[0] = 5.0
    np.testing.assert_array_equal(w.numpy(force=True), [1.0, 1.0])  # PyTorch's signature
