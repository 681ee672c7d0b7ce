"""The scatter and index family and integer-tensor index writes, with PyTorch's semantics.

Expected values come from float64 NumPy loops written here (``np.add.at`` and friends, or plain
Python loops), never from graphc. Each behaviour is checked eagerly and through
``graphc.compile`` (default backend), and gradients against central finite differences.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from conftest import assert_close, check_grad

rng = np.random.default_rng(7)


def compiled(fn):
    """``fn`` run through graphc.compile, on the default backend."""
    return graphc.compile(fn)


def both_modes(fn, *args):
    """The eager result and the compiled one, which must agree."""
    eager = fn(*args)
    traced = compiled(fn)(*args)
    assert_close(traced, eager.numpy())
    return eager


# -- oracles ---------------------------------------------------------------------------------
def oracle_scatter(x, dim, index, src, combine=None):
    """``out[.., index[p], ..] = src[p]`` (or ``combine(old, src[p])``) in row-major order of p."""
    out = np.array(x, dtype=np.float64)
    for p in np.ndindex(index.shape):
        q = list(p)
        q[dim] = index[p]
        q = tuple(q)
        out[q] = src[p] if combine is None else combine(out[q], src[p])
    return out


def oracle_index_add(x, dim, index, source, alpha=1.0):
    out = np.array(x, dtype=np.float64)
    moved = np.moveaxis(out, dim, 0)  # a view: writes land in out
    for i, target in enumerate(index):
        moved[target] += alpha * np.moveaxis(source, dim, 0)[i]
    return out


# -- scatter ------------------------------------------------------------------------------------
def test_scatter_writes_src_at_index_along_dim():
    x, src = rng.normal(size=(3, 5)), rng.normal(size=(2, 4))
    index = np.array([[4, 0, 2, 1], [3, 3, 0, 4]])
    got = both_modes(lambda a, b: graphc.scatter(a, 1, graphc.tensor(index), b),
                     graphc.tensor(x), graphc.tensor(src))
    assert_close(got, oracle_scatter(x, 1, index, src))


def test_scatter_with_duplicate_indices_keeps_the_last_write():
    x = np.zeros(4)
    index = np.array([2, 0, 2, 2])
    src = np.array([1.0, 2.0, 3.0, 4.0])
    got = both_modes(lambda a, b: a.scatter(0, graphc.tensor(index), b), graphc.tensor(x),
                     graphc.tensor(src))
    assert got.tolist() == [2.0, 0.0, 4.0, 0.0]


def test_scatter_reads_only_the_index_shaped_part_of_a_larger_src():
    x, src = np.zeros((3, 3)), np.arange(12.0).reshape(3, 4)
    index = np.array([[1, 2], [0, 0]])
    got = graphc.scatter(graphc.tensor(x), 1, graphc.tensor(index), graphc.tensor(src))
    assert_close(got, oracle_scatter(x, 1, index, src[:2, :2]))


def test_scatter_with_a_value_fills_the_indexed_positions():
    got = both_modes(lambda a: a.scatter(1, graphc.tensor([[2], [0]]), 1.5), graphc.zeros(2, 3))
    assert got.tolist() == [[0.0, 0.0, 1.5], [1.5, 0.0, 0.0]]


def test_scatter_with_reduce_add_and_multiply():
    x, src = rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    index = np.array([[0, 2, 2, 1], [2, 2, 0, 0]])
    t = graphc.tensor
    assert_close(graphc.scatter(t(x), 0, t(index), t(src), reduce="add"),
                 oracle_scatter(x, 0, index, src, np.add))
    assert_close(graphc.scatter(t(x), 0, t(index), t(src), reduce="multiply"),
                 oracle_scatter(x, 0, index, src, np.multiply))


def test_scatter_in_place_rebinds_the_tensor():
    x = graphc.zeros(2, 2)
    x.scatter_(0, graphc.tensor([[1, 0]]), graphc.tensor([[5.0, 6.0]]))
    assert x.tolist() == [[0.0, 6.0], [5.0, 0.0]]


def test_scatter_gradient_skips_overwritten_positions_and_reaches_src():
    index = np.array([[1, 0, 2], [2, 1, 1]])
    check_grad(lambda x, s: graphc.scatter(x, 0, graphc.tensor(index), s),
               [rng.normal(size=(3, 3)), rng.normal(size=(2, 3))])


def test_scatter_gradient_with_duplicates_goes_to_the_write_that_stayed():
    x = graphc.zeros(3, requires_grad=True)
    src = graphc.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = graphc.scatter(x, 0, graphc.tensor([1, 1, 2]), src)
    (out * graphc.tensor([10.0, 20.0, 30.0])).sum().backward()
    assert x.grad.tolist() == [10.0, 0.0, 0.0]
    assert src.grad.tolist() == [0.0, 20.0, 30.0]


def test_compiled_scatter_gradient_equals_eager():
    index = graphc.tensor([[1, 0, 2], [2, 1, 1]])

    def step(x, s):
        x, s = x.detach().requires_grad_(), s.detach().requires_grad_()
        (graphc.scatter(x, 0, index, s) ** 2).sum().backward()
        return x.grad, s.grad

    x, s = graphc.randn(3, 3), graphc.randn(2, 3)
    for eager, traced in zip(step(x, s), compiled(step)(x, s)):
        assert_close(traced, eager.numpy())


def test_scatter_index_out_of_range_raises_index_error():
    with pytest.raises(IndexError, match="out of range"):
        graphc.scatter(graphc.zeros(3), 0, graphc.tensor([3]), graphc.ones(1))
    with pytest.raises(IndexError, match="out of range"):
        graphc.scatter(graphc.zeros(3), 0, graphc.tensor([-1]), graphc.ones(1))


def test_scatter_rejects_float_index_and_mismatched_ranks_naming_the_argument():
    with pytest.raises(RuntimeError, match="index must be an integer tensor"):
        graphc.scatter(graphc.zeros(3), 0, graphc.tensor([0.0]), graphc.ones(1))
    with pytest.raises(graphc.ShapeError, match="index has 2 dimensions but input has 1"):
        graphc.scatter(graphc.zeros(3), 0, graphc.tensor([[0]]), graphc.ones(1, 1))
    with pytest.raises(graphc.ShapeError, match="src of shape"):
        graphc.scatter(graphc.zeros(3, 3), 0, graphc.tensor([[0, 1]]), graphc.ones(1, 1))
    with pytest.raises(TypeError, match="either src"):
        graphc.scatter(graphc.zeros(3), 0, graphc.tensor([0]))


# -- scatter_reduce --------------------------------------------------------------------------
REDUCE_ORACLE = {"sum": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}


def oracle_scatter_reduce(x, dim, index, src, reduce, include_self):
    """PyTorch's definition: each named position reduces its src elements (and itself)."""
    out = np.array(x, dtype=np.float64)
    groups: dict = {}
    for p in np.ndindex(index.shape):
        q = list(p)
        q[dim] = index[p]
        groups.setdefault(tuple(q), []).append(float(src[p]))
    for q, values in groups.items():
        values = ([out[q]] if include_self else []) + values
        if reduce == "mean":
            out[q] = np.mean(values)
        else:
            out[q] = REDUCE_ORACLE[reduce].reduce(np.array(values))
    return out


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
def test_scatter_reduce_matches_pytorch_definition(reduce, include_self):
    x, src = rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    index = np.array([[0, 2, 2, 1], [2, 2, 0, 0]])
    got = both_modes(lambda a, b: graphc.scatter_reduce(a, 0, graphc.tensor(index), b, reduce,
                                                        include_self=include_self),
                     graphc.tensor(x), graphc.tensor(src))
    assert_close(got, oracle_scatter_reduce(x, 0, index, src, reduce, include_self))


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
def test_scatter_reduce_gradient_matches_finite_differences(reduce, include_self):
    index = np.array([[0, 2, 2, 1], [2, 2, 0, 0]])
    # distinct values: no ties within finite-difference reach for amax/amin
    x = np.linspace(-1.9, 1.7, 12).reshape(3, 4)[[2, 0, 1]]
    src = np.linspace(-1.3, 2.1, 8).reshape(2, 4)[::-1].copy()
    check_grad(lambda a, b: graphc.scatter_reduce(a, 0, graphc.tensor(index), b, reduce,
                                                  include_self=include_self), [x, src])


def test_scatter_reduce_prod_gradient_with_zeros_in_src():
    index = np.array([0, 0, 1, 1, 1])
    src = np.array([0.0, 2.0, 0.0, 0.0, 3.0])  # one zero at position 0, two at position 1
    x = np.array([1.5, -2.0])
    check_grad(lambda a, b: graphc.scatter_reduce(a, 0, graphc.tensor(index), b, "prod"),
               [x, src])


def test_scatter_reduce_amax_shares_the_gradient_among_ties_like_pytorch():
    x = graphc.tensor([2.0, 0.0], requires_grad=True)
    src = graphc.tensor([2.0, 1.0, 2.0], requires_grad=True)
    graphc.scatter_reduce(x, 0, graphc.tensor([0, 0, 0]), src, "amax").sum().backward()
    third = 1.0 / 3.0
    assert_close(x.grad, np.array([third, 1.0]))
    assert_close(src.grad, np.array([third, 0.0, third]))


def test_scatter_reduce_mean_of_integers_rounds_down_like_pytorch():
    x = graphc.tensor([0, 0])
    got = graphc.scatter_reduce(x, 0, graphc.tensor([0, 0, 1, 1]), graphc.tensor([-3, 0, 3, 4]),
                                "mean", include_self=False)
    assert got.tolist() == [-2, 3]  # floor(-1.5), floor(3.5)


def test_scatter_reduce_rejects_an_unknown_reduction():
    with pytest.raises(ValueError, match="reduce must be"):
        graphc.scatter_reduce(graphc.zeros(2), 0, graphc.tensor([0]), graphc.ones(1), "max")


# -- index_add / index_copy / index_fill / take_along_dim -----------------------------------
def test_index_add_accumulates_duplicates_with_alpha():
    x, source = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    index = np.array([0, 3, 3, 1, 0])
    got = both_modes(lambda a, b: graphc.index_add(a, 0, graphc.tensor(index), b, alpha=2.0),
                     graphc.tensor(x), graphc.tensor(source))
    assert_close(got, oracle_index_add(x, 0, index, source, alpha=2.0))


def test_index_add_along_the_last_dim_and_its_gradient():
    x, source = rng.normal(size=(2, 4)), rng.normal(size=(2, 3))
    index = np.array([3, 0, 3])
    got = graphc.tensor(x).index_add(-1, graphc.tensor(index), graphc.tensor(source))
    assert_close(got, oracle_index_add(x, 1, index, source))
    check_grad(lambda a, b: graphc.index_add(a, 1, graphc.tensor(index), b), [x, source])


def test_index_add_in_place():
    x = graphc.zeros(3)
    x.index_add_(0, graphc.tensor([2, 2]), graphc.tensor([1.0, 2.0]))
    assert x.tolist() == [0.0, 0.0, 3.0]


def test_index_add_rejects_a_source_of_the_wrong_shape():
    with pytest.raises(graphc.ShapeError, match="source of shape \\[2, 2\\]"):
        graphc.index_add(graphc.zeros(3, 3), 0, graphc.tensor([0, 1]), graphc.ones(2, 2))
    with pytest.raises(graphc.ShapeError, match="index must be a vector"):
        graphc.index_add(graphc.zeros(3), 0, graphc.tensor([[0]]), graphc.ones(1))


def test_index_add_out_of_range_raises_index_error():
    with pytest.raises(IndexError):
        graphc.index_add(graphc.zeros(3), 0, graphc.tensor([5]), graphc.ones(1))


def test_index_copy_copies_slices_and_keeps_the_last_duplicate():
    x, source = np.zeros((3, 2)), np.arange(6.0).reshape(3, 2)
    got = both_modes(lambda a, b: graphc.index_copy(a, 0, graphc.tensor([2, 0, 2]), b),
                     graphc.tensor(x), graphc.tensor(source))
    assert got.tolist() == [[2.0, 3.0], [0.0, 0.0], [4.0, 5.0]]
    check_grad(lambda a, b: graphc.index_copy(a, 1, graphc.tensor([1]), b),
               [rng.normal(size=(2, 3)), rng.normal(size=(2, 1))])


def test_index_fill_sets_whole_slices():
    got = both_modes(lambda a: a.index_fill(1, graphc.tensor([0, 2]), -1.0),
                     graphc.ones(2, 3))
    assert got.tolist() == [[-1.0, 1.0, -1.0], [-1.0, 1.0, -1.0]]
    x = graphc.ones(3)
    x.index_fill_(0, graphc.tensor([1]), 0.0)
    assert x.tolist() == [1.0, 0.0, 1.0]


def test_index_select_picks_slices_in_index_order():
    x = rng.normal(size=(4, 3))
    got = both_modes(lambda a: graphc.index_select(a, 0, graphc.tensor([3, 0, 3])),
                     graphc.tensor(x))
    assert_close(got, x[[3, 0, 3]])


def test_take_along_dim_broadcasts_and_flattens_without_dim():
    x = rng.normal(size=(3, 4))
    idx = np.argsort(x, axis=1)
    got = both_modes(lambda a: graphc.take_along_dim(a, graphc.tensor(idx), 1), graphc.tensor(x))
    assert_close(got, np.take_along_axis(x, idx, 1))
    flat = graphc.take_along_dim(graphc.tensor(x), graphc.tensor([0, 11, 5]))
    assert_close(flat, x.reshape(-1)[[0, 11, 5]])
    column = graphc.take_along_dim(graphc.tensor(x), graphc.tensor([[1], [0], [2]]), 1)
    assert_close(column, x[[0, 1, 2], [1, 0, 2]].reshape(3, 1))


def test_gather_picks_along_dim_like_torch():
    x = rng.normal(size=(3, 4))
    index = np.array([[0, 3], [2, 2], [1, 0]])
    got = both_modes(lambda a: a.gather(1, graphc.tensor(index)), graphc.tensor(x))
    assert_close(got, np.take_along_axis(x, index, 1))


# -- integer-tensor index writes ----------------------------------------------------------
def write_oracle(x, key, value, accumulate=False):
    out = np.array(x, dtype=np.float64)
    if accumulate:
        np.add.at(out, key, value)
    else:
        out[key] = value  # NumPy's fancy assignment: the last duplicate wins
    return out


def test_setitem_with_an_index_tensor_writes_rows():
    x = rng.normal(size=(4, 3))

    def write(a):
        a = a.clone()
        a[graphc.tensor([0, 2])] = 7.0
        return a

    got = both_modes(write, graphc.tensor(x))
    assert_close(got, write_oracle(x, np.array([0, 2]), 7.0))


def test_setitem_with_range_and_label_tensor_like_one_hot_targets():
    labels = np.array([2, 0, 1])

    def one_hot(y):
        out = graphc.zeros(3, 4)
        out[range(3), y] = 1.0
        return out

    got = both_modes(one_hot, graphc.tensor(labels))
    assert_close(got, np.eye(4)[labels][:, :4].astype(np.float32))


def test_setitem_with_duplicate_indices_keeps_the_last_value():
    x = graphc.zeros(3)
    x[graphc.tensor([1, 1, 1])] = graphc.tensor([1.0, 2.0, 3.0])
    assert x.tolist() == [0.0, 3.0, 0.0]


def test_setitem_with_negative_indices_counts_from_the_end():
    x = graphc.zeros(2, 3)
    x[:, [-1, 0]] = graphc.tensor([4.0, 5.0])
    assert x.tolist() == [[5.0, 0.0, 4.0], [5.0, 0.0, 4.0]]


def test_augmented_setitem_reads_then_writes_like_pytorch():
    x = np.arange(6.0).reshape(2, 3)
    idx = np.array([0, 0, 2])

    def bump(a):
        a = a.clone()
        a[:, graphc.tensor(idx)] += 1.0
        return a

    got = both_modes(bump, graphc.tensor(x))
    expected = x.copy()
    expected[:, idx] = expected[:, idx] + 1.0  # duplicates: read once, the last write wins
    assert_close(got, expected)


def test_setitem_out_of_range_index_raises_index_error():
    x = graphc.zeros(3)
    with pytest.raises(IndexError):
        x[graphc.tensor([3])] = 1.0


def test_setitem_with_a_value_of_the_wrong_shape_is_refused():
    x = graphc.zeros(3, 2)
    with pytest.raises(IndexError, match="cannot be broadcast"):
        x[graphc.tensor([0, 1])] = graphc.ones(3)


def test_setitem_gradient_skips_overwritten_positions():
    idx = np.array([[0, 2], [1, 1]])

    def write(a, v):
        a = a * 1.0
        a[graphc.tensor(idx[0]), graphc.tensor(idx[1])] = v
        return a

    check_grad(write, [rng.normal(size=(3, 2)), rng.normal(size=(2,))])


def test_setitem_in_a_compiled_training_step_matches_eager():
    def step(w, y):
        w = w.detach().requires_grad_()
        target = graphc.zeros(3, 4)
        target[range(3), y] = 1.0
        loss = ((w - target) ** 2).sum()
        loss.backward()
        return loss, w.grad

    w, y = graphc.randn(3, 4), graphc.tensor([3, 1, 0])
    for eager, traced in zip(step(w, y), compiled(step)(w, y)):
        assert_close(traced, eager.numpy())


def test_index_put_accumulate_adds_every_duplicate():
    x = rng.normal(size=(3, 2))
    rows, cols = np.array([0, 0, 2]), np.array([1, 1, 0])
    v = np.array([1.0, 2.0, 3.0])
    got = both_modes(lambda a, b: graphc.index_put(a, (graphc.tensor(rows), graphc.tensor(cols)),
                                                   b, accumulate=True),
                     graphc.tensor(x), graphc.tensor(v))
    assert_close(got, write_oracle(x, (rows, cols), v, accumulate=True))
    t = graphc.tensor(x)
    t.index_put_((graphc.tensor(rows), graphc.tensor(cols)), graphc.tensor(v))
    assert_close(t, write_oracle(x, (rows, cols), v))


def test_traced_index_write_holds_no_constant_as_large_as_the_tensor():
    def bump(a, i):
        a = a * 1.0
        a[:, i] += 1.0
        return a

    x = graphc.zeros(200, 300)
    graph = graphc.trace(bump, x, graphc.tensor([3, 5, 7]))
    const_sizes = [int(np.prod(n.output.type.shape)) for n in graph.nodes if n.op == "const"]
    assert max(const_sizes) <= 300  # one arange per axis, not one number per element
    got = graphc.compile(bump)(x, graphc.tensor([3, 5, 7]))
    expected = np.zeros((200, 300))
    expected[:, [3, 5, 7]] = 1.0
    assert_close(got, expected.astype(np.float32))


def test_compiled_index_write_gradient_skips_overwritten_positions():
    def step(x, v):
        x, v = x.detach().requires_grad_(), v.detach().requires_grad_()
        y = x * 1.0
        y[range(50), graphc.zeros(50, dtype=graphc.int64)] = v
        y.sum().backward()
        return x.grad, v.grad

    f = graphc.compile(step, backend="interpreter")
    x_grad, v_grad = f(graphc.ones(50, 40), graphc.ones(50))
    expected = np.ones((50, 40), np.float32)
    expected[:, 0] = 0.0
    assert_close(x_grad, expected)
    assert_close(v_grad, np.ones(50, np.float32))
