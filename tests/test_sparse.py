"""Sparse COO tensors as graph networks use them (``sparse_coo_tensor``, ``to_sparse``,
``to_dense``, ``coalesce``, ``sparse.mm``/``spmm``/``@``), against dense float64 NumPy built here
from the same (indices, values), eagerly and compiled, with gradients for the dense operand and
the values.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from conftest import assert_close, check_grad

rng = np.random.default_rng(3)

INDICES = np.array([[0, 1, 1, 3, 1], [2, 0, 2, 1, 2]])  # (1, 2) appears twice
VALUES = np.array([3.0, 4.0, 5.0, -1.0, 2.0])
SHAPE = (4, 3)


def dense_oracle(indices, values, shape):
    out = np.zeros(shape)
    np.add.at(out, tuple(indices), values)  # duplicates add up
    return out


def sparse(values=VALUES, indices=INDICES, shape=SHAPE):
    values = values if isinstance(values, graphc.Tensor) else graphc.tensor(values)
    return graphc.sparse_coo_tensor(graphc.tensor(indices), values, shape)


def test_sparse_coo_tensor_describes_itself():
    a = sparse()
    assert a.is_sparse and not graphc.zeros(2).is_sparse
    assert a.shape == SHAPE and a.dtype == graphc.float64
    assert (a.sparse_dim(), a.dense_dim(), a._nnz()) == (2, 0, 5)
    assert_close(a._indices(), INDICES)
    assert_close(a._values(), VALUES)


def test_to_dense_sums_duplicates():
    assert_close(sparse().to_dense(), dense_oracle(INDICES, VALUES, SHAPE))


def test_size_is_inferred_from_the_largest_index():
    a = graphc.sparse_coo_tensor([[0, 4], [1, 0]], [1.0, 2.0])
    assert a.shape == (5, 2)


def test_hybrid_values_carry_dense_dims():
    values = rng.normal(size=(3, 2))
    a = graphc.sparse_coo_tensor([[0, 2, 0]], values, (3, 2))
    expected = np.zeros((3, 2))
    np.add.at(expected, np.array([0, 2, 0]), values)
    assert_close(a.to_dense(), expected)


def test_coalesce_sorts_and_sums_duplicates():
    c = sparse().coalesce()
    assert c.is_coalesced()
    assert c.indices().tolist() == [[0, 1, 1, 3], [2, 0, 2, 1]]
    assert_close(c.values(), np.array([3.0, 4.0, 7.0, -1.0]))
    assert_close(c.to_dense(), dense_oracle(INDICES, VALUES, SHAPE))


def test_indices_of_an_uncoalesced_tensor_raise_runtime_error_like_pytorch():
    with pytest.raises(RuntimeError, match="coalesce"):
        sparse().indices()


def test_to_sparse_keeps_the_nonzeros_and_round_trips():
    x = np.array([[0.0, 1.5, 0.0], [-2.0, 0.0, 0.0]])
    s = graphc.tensor(x).to_sparse()
    assert s.indices().tolist() == [[0, 1], [1, 0]]
    assert_close(s.values(), np.array([1.5, -2.0]))
    assert_close(s.to_dense(), x)


def test_to_sparse_is_differentiable():
    x = graphc.tensor([[0.0, 2.0], [3.0, 0.0]], requires_grad=True)
    (x.to_sparse().to_dense() * graphc.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    assert x.grad.tolist() == [[0.0, 2.0], [3.0, 0.0]]  # only the nonzeros were kept


@pytest.mark.parametrize("product", [
    lambda a, x: graphc.sparse.mm(a, x),
    lambda a, x: graphc.spmm(a, x),
    lambda a, x: graphc.mm(a, x),
    lambda a, x: a @ x,
], ids=["sparse.mm", "spmm", "mm", "matmul-operator"])
def test_sparse_times_dense_equals_the_dense_product(product):
    x = rng.normal(size=(3, 5))
    got = product(sparse(), graphc.tensor(x))
    assert_close(got, dense_oracle(INDICES, VALUES, SHAPE) @ x)


def test_sparse_times_vector():
    v = rng.normal(size=3)
    assert_close(graphc.sparse.mm(sparse(), graphc.tensor(v)),
                 dense_oracle(INDICES, VALUES, SHAPE) @ v)


def test_sparse_mm_gradient_for_the_dense_operand_and_the_values():
    check_grad(lambda values, x: graphc.sparse.mm(sparse(values), x),
               [VALUES, rng.normal(size=(3, 2))])


def test_compiled_sparse_mm_equals_eager_and_takes_a_new_pattern_without_stale_values():
    f = graphc.compile(lambda a, x: graphc.relu(graphc.sparse.mm(a, x)))
    x = graphc.tensor(rng.normal(size=(3, 2)))
    assert_close(f(sparse(), x), np.maximum(dense_oracle(INDICES, VALUES, SHAPE) @ x.numpy(), 0))
    other = np.array([[2, 2, 0, 0, 3], [0, 1, 1, 1, 0]])  # the same nnz, another pattern
    new_values = rng.normal(size=5)
    got = f(sparse(new_values, other), x)
    assert_close(got, np.maximum(dense_oracle(other, new_values, SHAPE) @ x.numpy(), 0))
    assert f.traces == 1  # one graph serves both patterns


def test_gcn_layer_training_step_compiled_matches_eager():
    """A two-layer GCN step (normalized adjacency, spmm), as the PyTorch gcn example does it."""
    edges = np.array([[0, 1], [1, 2], [2, 3], [3, 0], [0, 2]])
    n = 4
    both = np.concatenate([edges, edges[:, ::-1], np.stack([np.arange(n)] * 2, 1)])
    degree = np.bincount(both[:, 0], minlength=n).astype(np.float64)
    norm = 1.0 / np.sqrt(degree[both[:, 0]] * degree[both[:, 1]])
    adj = graphc.sparse_coo_tensor(graphc.tensor(both.T.copy()), graphc.tensor(norm), (n, n))
    features = graphc.tensor(rng.normal(size=(n, 3)))
    labels = graphc.tensor([0, 1, 1, 0])

    def step(w1, w2, adj, features):
        w1, w2 = w1.detach().requires_grad_(), w2.detach().requires_grad_()
        hidden = graphc.relu(graphc.spmm(adj, features @ w1))
        logits = graphc.spmm(adj, hidden @ w2)
        loss = graphc.nn.functional.cross_entropy(logits, labels)
        loss.backward()
        return loss, w1.grad, w2.grad

    w1, w2 = graphc.tensor(rng.normal(size=(3, 4))), graphc.tensor(rng.normal(size=(4, 2)))
    eager = step(w1, w2, adj, features)
    traced = graphc.compile(step)(w1, w2, adj, features)
    for e, t in zip(eager, traced):
        assert_close(t, e.numpy())
    # the dense oracle of the same step's loss
    a = dense_oracle(both.T, norm, (n, n))
    logits = a @ np.maximum(a @ features.numpy() @ w1.numpy(), 0) @ w2.numpy()
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert_close(eager[0], -logp[np.arange(n), labels.numpy()].mean())


def test_sparse_mm_rejects_mismatched_shapes_and_non_matrices():
    with pytest.raises(graphc.ShapeError, match="cannot be multiplied"):
        graphc.sparse.mm(sparse(), graphc.zeros(4, 2, dtype=graphc.float64))
    hybrid = graphc.sparse_coo_tensor([[0]], [[1.0, 2.0]], (1, 2))
    with pytest.raises(RuntimeError, match="2-d matrix"):
        graphc.sparse.mm(hybrid, graphc.zeros(2, 2))


@pytest.mark.parametrize("indices,values,size,words", [
    ([[0, 5]], [1.0, 2.0], (3,), "size is inconsistent with indices"),
    ([[0, -1]], [1.0, 2.0], (3,), "negative index"),
    ([0, 1], [1.0, 2.0], (3,), "indices must be 2-d"),
    ([[0, 1]], [1.0], (3,), "one entry"),
    ([[0, 1]], [1.0, 2.0], (3, 3), "dense_dim"),
])
def test_sparse_coo_tensor_rejects_inconsistent_input(indices, values, size, words):
    with pytest.raises(RuntimeError, match=words):
        graphc.sparse_coo_tensor(indices, values, size)


def test_transpose_and_scaling_of_a_sparse_matrix():
    a = sparse()
    assert_close(a.t().to_dense(), dense_oracle(INDICES, VALUES, SHAPE).T)
    assert_close((a * 2.0).to_dense(), 2.0 * dense_oracle(INDICES, VALUES, SHAPE))
