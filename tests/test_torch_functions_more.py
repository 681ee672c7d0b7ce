"""PyTorch's remaining top-level functions and Tensor methods (graphc/torch_functions.py,
graphc/torch_runtime.py, graphc/data_dependent.py): each against an independent float64 NumPy
oracle, eagerly and compiled, gradients against finite differences, errors of PyTorch's types.
"""
import math

import numpy as np
import pytest

import graphc
from conftest import assert_close, check_grad
from graphc.errors import TraceError

RNG = np.random.default_rng(20261201)
A = RNG.normal(size=(3, 4))
B = RNG.normal(size=(3, 4))
V = RNG.normal(size=4)
X3 = RNG.normal(size=(2, 3, 4))
P = RNG.uniform(0.05, 0.95, size=(3, 4))
C1, C2 = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
SORTED = np.array([-1.0, 0.5, 2.0, 3.0])


def _quantile_linear(a, q, axis):
    s = np.sort(a, axis=axis)
    rank = q * (a.shape[axis] - 1)
    lo, hi = int(math.floor(rank)), int(math.ceil(rank))
    return np.take(s, lo, axis) + (np.take(s, hi, axis) - np.take(s, lo, axis)) * (rank - lo)


def _kron(a, b):
    out = np.zeros((a.shape[0] * b.shape[0], a.shape[1] * b.shape[1]))
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[i * b.shape[0]:(i + 1) * b.shape[0], j * b.shape[1]:(j + 1) * b.shape[1]] = \
                a[i, j] * b
    return out


def _cdist(x, y, p):
    return np.array([[np.sum(np.abs(r - s) ** p) ** (1 / p) for s in y] for r in x])


def _cross(a, b):
    return np.stack([a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1], a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
                     a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]], axis=1)


def _cov(a):
    centred = a - a.mean(axis=1, keepdims=True)
    return centred @ centred.T / (a.shape[1] - 1)


def _erfinv(y):  # bisection on math.erf: independent of graphc's Newton refinement
    out = []
    for v in y.reshape(-1):
        lo, hi = -6.0, 6.0
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if math.erf(mid) < v else (lo, mid)
        out.append((lo + hi) / 2)
    return np.array(out).reshape(y.shape)


def _trapezoid(y, x):
    dx = np.diff(x)
    return np.sum((y[..., 1:] + y[..., :-1]) * dx / 2, axis=-1)


def _slice_scatter(a, src):
    out = a.copy()
    out[:, 0:4:2] = src
    return out


def _masked_scatter(a, mask, src):
    out = a.copy()
    out[mask] = src.reshape(-1)[:mask.sum()]
    return out


# name, graphc function, NumPy oracle, inputs, differentiable
CASES = [
    ("hstack", lambda a, b: graphc.hstack([a, b]), lambda a, b: np.concatenate([a, b], 1),
     (A, B), True),
    ("vstack_1d_rows", lambda v: graphc.vstack([v, v]), lambda v: np.stack([v, v]), (V,), True),
    ("dstack", lambda a, b: graphc.dstack([a, b]), lambda a, b: np.stack([a, b], 2), (A, B),
     True),
    ("column_stack", lambda v, a: graphc.column_stack([v, a.T]),
     lambda v, a: np.concatenate([v[:, None], a.T], 1), (V, A), True),
    ("tile_pads_dims", lambda a: graphc.tile(a, (2,)), lambda a: np.concatenate([a, a], 1),
     (A,), True),
    ("movedim", lambda x: graphc.movedim(x, 0, -1), lambda x: np.moveaxis(x, 0, -1), (X3,),
     True),
    ("moveaxis_pairs", lambda x: graphc.moveaxis(x, (0, 1), (2, 0)),
     lambda x: np.moveaxis(x, (0, 1), (2, 0)), (X3,), True),
    ("rot90_k1", lambda x: graphc.rot90(x, 1, (1, 2)), lambda x: np.rot90(x, 1, (1, 2)), (X3,),
     True),
    ("rot90_k3", lambda x: graphc.rot90(x, -1, (1, 2)), lambda x: np.rot90(x, 3, (1, 2)), (X3,),
     True),
    ("diagflat_offset", lambda a: graphc.diagflat(a[:2, :2], 1),
     lambda a: np.diagflat(a[:2, :2], 1), (A,), True),
    ("logit", graphc.logit, lambda p: np.log(p / (1 - p)), (P,), True),
    ("logit_eps_clamps", lambda p: graphc.logit(p, 0.3),
     lambda p: np.log(np.clip(p, 0.3, 0.7) / (1 - np.clip(p, 0.3, 0.7))), (P,), False),
    ("erfinv", graphc.erfinv, _erfinv, (np.tanh(A),), True),
    ("nansum", lambda a: graphc.nansum(a, 1), lambda a: np.nansum(a, 1), (A,), True),
    ("nanmean", lambda a: graphc.nanmean(a, 0), lambda a: np.nanmean(a, 0), (A,), True),
    ("var_mean", lambda a: graphc.stack(graphc.var_mean(a, 1)),
     lambda a: np.stack([a.var(1, ddof=1), a.mean(1)]), (A,), True),
    ("std_mean_correction0", lambda a: graphc.stack(graphc.std_mean(a, 0, correction=0)),
     lambda a: np.stack([a.std(0), a.mean(0)]), (A,), True),
    ("quantile_linear", lambda a: graphc.quantile(a, 0.3, 1),
     lambda a: _quantile_linear(a, 0.3, 1), (A,), True),
    ("quantile_vector_q", lambda a: graphc.quantile(a, graphc.tensor([0.25, 0.9],
                                                                     dtype=graphc.float64), 0),
     lambda a: np.stack([_quantile_linear(a, 0.25, 0), _quantile_linear(a, 0.9, 0)]), (A,),
     True),
    ("trapezoid_dx", lambda a: graphc.trapezoid(a, dx=0.5),
     lambda a: np.sum(a[:, 1:] + a[:, :-1], 1) * 0.25, (A,), True),
    ("trapezoid_x", lambda a, x: graphc.trapezoid(a, x), _trapezoid, (A, np.sort(V)), True),
    ("diff_twice", lambda a: graphc.diff(a, 2, 1), lambda a: np.diff(a, 2, 1), (A,), True),
    ("diff_prepend", lambda a, b: graphc.diff(a, 1, 0, prepend=b),
     lambda a, b: np.diff(np.concatenate([b, a]), 1, 0), (A, B), True),
    ("inner", graphc.inner, lambda a, b: a @ b.T, (A, B), True),
    ("kron", graphc.kron, _kron, (A[:2, :2], B[:2, :3]), True),
    ("cross", lambda a, b: graphc.cross(a, b, dim=1), _cross, (C1, C2), True),
    ("dist_p3", lambda a, b: graphc.dist(a, b, 3),
     lambda a, b: np.sum(np.abs(a - b) ** 3) ** (1 / 3), (A, B), True),
    ("cdist_p2", lambda a, b: graphc.cdist(a, b), lambda a, b: _cdist(a, b, 2), (A, B[:2]),
     True),
    ("cdist_p1", lambda a, b: graphc.cdist(a, b, 1), lambda a, b: _cdist(a, b, 1), (A, B), True),
    ("cov", graphc.cov, _cov, (A,), True),
    ("take_negative_index", lambda a: graphc.take(a, graphc.tensor([[0, -1], [5, 11]])),
     lambda a: a.reshape(-1)[[[0, 11], [5, 11]]], (A,), True),
    ("select", lambda x: graphc.select(x, 1, -1), lambda x: x[:, -1], (X3,), True),
    ("slice_scatter_step", lambda a, s: graphc.slice_scatter(a, s, 1, 0, 4, 2), _slice_scatter,
     (A, B[:, :2]), True),
    ("repeat_interleave_int", lambda a: graphc.repeat_interleave(a, 2, 1),
     lambda a: np.repeat(a, 2, 1), (A,), True),
    ("masked_scatter", lambda a, s: a.masked_scatter(graphc.tensor(A > 0), s),
     lambda a, s: _masked_scatter(a, A > 0, s), (A, B), True),
    ("put_accumulate", lambda a, s: a.put(graphc.tensor([0, 0, -1]), s, accumulate=True),
     lambda a, s: (a.reshape(-1) + np.bincount([0, 0, 11], s, 12)).reshape(a.shape),
     (A, V[:3]), True),
    ("ravel", graphc.ravel, np.ravel, (X3,), True),
    ("swapaxes", lambda x: graphc.swapaxes(x, 0, 2), lambda x: np.swapaxes(x, 0, 2), (X3,),
     True),
    ("broadcast_tensors", lambda v, a: graphc.stack(graphc.broadcast_tensors(v, a)),
     lambda v, a: np.stack(np.broadcast_arrays(v, a)), (V, A), True),
    ("cartesian_prod", lambda a, b: graphc.cartesian_prod(a, b),
     lambda a, b: np.array([[p, q] for p in a for q in b]), (V[:2], V[:3]), True),
    ("meshgrid_xy", lambda a, b: graphc.stack(graphc.meshgrid(a, b, indexing="xy")),
     lambda a, b: np.stack(np.meshgrid(a, b, indexing="xy")), (V, V[:3]), True),
    ("nan_to_num_keeps_finite", graphc.nan_to_num, lambda a: a, (A,), True),
    ("aminmax", lambda a: graphc.stack(tuple(a.aminmax(dim=1))),
     lambda a: np.stack([a.min(1), a.max(1)]), (A,), True),
    ("searchsorted", lambda s, v: graphc.searchsorted(s, v),
     lambda s, v: np.searchsorted(s, v), (SORTED, A), False),
    ("searchsorted_right", lambda s, v: graphc.searchsorted(s, v, right=True),
     lambda s, v: np.searchsorted(s, v, "right"), (SORTED, np.array([0.5, 2.0, 9.0])), False),
    ("bucketize", lambda v, s: graphc.bucketize(v, s), lambda v, s: np.searchsorted(s, v),
     (A, SORTED), False),
    ("histc_range", lambda a: graphc.histc(a, 4, -1, 1),
     lambda a: np.histogram(a, 4, (-1, 1))[0].astype(np.float64), (A,), False),
    ("isin", lambda a: graphc.isin(a, graphc.tensor([1, 4, 7])),
     lambda a: np.isin(a, [1, 4, 7]), (np.arange(8).reshape(2, 4),), False),
    ("count_nonzero", lambda a: graphc.count_nonzero(a, 0),
     lambda a: np.count_nonzero(a, 0), (np.array([[0, 1, 2], [0, 0, 3]]),), False),
    ("signbit_negative_zero", graphc.signbit, np.signbit,
     (np.array([-0.0, 0.0, -2.0, 3.0, -np.inf]),), False),
]


@pytest.mark.parametrize("name, fn, oracle, inputs, differentiable", CASES,
                         ids=[c[0] for c in CASES])
def test_function_matches_numpy_oracle(name, fn, oracle, inputs, differentiable):
    tensors = [graphc.tensor(a) for a in inputs]
    expected = oracle(*[np.asarray(a) for a in inputs])
    got = fn(*tensors)
    if np.asarray(expected).dtype.kind == "b":
        np.testing.assert_array_equal(got.numpy(), expected)
    elif got.dtype.is_float:
        assert_close(got, np.asarray(expected, dtype=np.float64), "f64")
    else:
        np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize("name, fn, oracle, inputs, differentiable", CASES,
                         ids=[c[0] for c in CASES])
def test_compiled_equals_eager(name, fn, oracle, inputs, differentiable):
    tensors = [graphc.tensor(a) for a in inputs]
    eager = fn(*tensors)
    compiled = graphc.compile(fn)(*tensors)
    assert compiled.dtype == eager.dtype
    assert_close(compiled, eager.numpy(), "f64" if eager.dtype.is_float else None)


DIFFERENTIABLE = [c for c in CASES if c[4]]


@pytest.mark.parametrize("name, fn, oracle, inputs, differentiable", DIFFERENTIABLE,
                         ids=[c[0] for c in DIFFERENTIABLE])
def test_gradient_matches_finite_differences(name, fn, oracle, inputs, differentiable):
    check_grad(fn, inputs)


def test_composites_batch_under_vmap():
    per_row = graphc.vmap(lambda r: graphc.quantile(r, 0.5) + graphc.logit(graphc.sigmoid(r)).sum())
    x = graphc.tensor(A)
    expected = np.array([_quantile_linear(r, 0.5, 0) + r.sum() for r in A])
    assert_close(per_row(x), expected, "f64")


# -- edge values PyTorch defines ------------------------------------------------------------
def test_erfinv_is_infinite_at_plus_minus_one_and_nan_outside():
    out = graphc.erfinv(graphc.tensor([1.0, -1.0, 1.5, 0.0])).numpy()
    assert out[0] == np.inf and out[1] == -np.inf and np.isnan(out[2]) and out[3] == 0.0


def test_nan_to_num_replaces_nan_and_infinities_with_dtype_extremes():
    x = graphc.tensor([float("nan"), float("inf"), -float("inf"), 2.0])
    big = float(np.finfo(np.float32).max)
    np.testing.assert_array_equal(graphc.nan_to_num(x).numpy(),
                                  np.array([0.0, big, -big, 2.0], dtype=np.float32))
    np.testing.assert_array_equal(graphc.nan_to_num(x, nan=1.0, posinf=5.0, neginf=-5.0).numpy(),
                                  [1.0, 5.0, -5.0, 2.0])


def test_nanmean_ignores_nan():
    x = graphc.tensor([[1.0, float("nan"), 3.0]], dtype=graphc.float64)
    assert graphc.nanmean(x).item() == 2.0 and graphc.nansum(x).item() == 4.0


def test_quantile_interpolation_modes():
    x = graphc.tensor([0.0, 1.0, 2.0, 10.0], dtype=graphc.float64)  # rank of q=0.5: 1.5
    got = {m: graphc.quantile(x, 0.5, interpolation=m).item()
           for m in ("linear", "lower", "higher", "midpoint", "nearest")}
    assert got == {"linear": 1.5, "lower": 1.0, "higher": 2.0, "midpoint": 1.5, "nearest": 2.0}


def test_quantile_of_a_row_with_nan_is_nan():
    x = graphc.tensor([[1.0, float("nan")], [1.0, 3.0]])
    out = graphc.quantile(x, 0.5, dim=1).numpy()
    assert np.isnan(out[0]) and out[1] == 2.0


def test_tensor_split_sections_and_indices():
    x = graphc.arange(7)
    assert [p.tolist() for p in graphc.tensor_split(x, 3)] == [[0, 1, 2], [3, 4], [5, 6]]
    assert [p.tolist() for p in x.tensor_split([1, 5])] == [[0], [1, 2, 3, 4], [5, 6]]
    assert [p.shape[1] for p in graphc.hsplit(graphc.zeros(2, 6), 3)] == [2, 2, 2]
    assert [p.shape[0] for p in graphc.vsplit(graphc.zeros(4, 2), [1])] == [1, 3]
    assert [p.shape[2] for p in graphc.dsplit(graphc.zeros(1, 1, 4), 2)] == [2, 2]


def test_split_refuses_uneven_sections_like_pytorch():
    with pytest.raises(RuntimeError, match="divisible"):
        graphc.hsplit(graphc.zeros(2, 5), 2)


def test_repeat_interleave_with_tensor_counts_is_eager_only():
    x = graphc.tensor([1.0, 2.0, 3.0])
    counts = graphc.tensor([2, 0, 1])
    assert graphc.repeat_interleave(x, counts).tolist() == [1.0, 1.0, 3.0]
    assert graphc.repeat_interleave(counts).tolist() == [0, 0, 2]
    with pytest.raises(TraceError, match="repeat_interleave"):
        graphc.compile(lambda t, c: graphc.repeat_interleave(t, c))(x, counts)


def test_histc_uses_data_range_when_min_equals_max():
    x = graphc.tensor([1.0, 2.0, 2.0, 4.0])
    np.testing.assert_array_equal(graphc.histc(x, 3).numpy(), [1.0, 2.0, 1.0])  # bins of width 1
    np.testing.assert_array_equal(graphc.histc(graphc.tensor([1.0, 1.0]), 4).numpy(),
                                  [0.0, 0.0, 2.0, 0.0])  # range widened to [0, 2]


def test_equal_compares_shape_and_values():
    a = graphc.tensor([1, 2])
    assert graphc.equal(a, graphc.tensor([1, 2])) is True
    assert graphc.equal(a, graphc.tensor([1, 3])) is False
    assert graphc.equal(a, graphc.tensor([[1, 2]])) is False


# -- data-dependent shapes: eager only -------------------------------------------------------
def test_unique_sorted_with_inverse_and_counts():
    values, inverse, counts = graphc.unique(graphc.tensor([3, 1, 3, 0, 1, 3]),
                                            return_inverse=True, return_counts=True)
    assert values.tolist() == [0, 1, 3]
    assert inverse.tolist() == [2, 1, 2, 0, 1, 2]
    assert counts.tolist() == [1, 2, 3]


def test_unique_along_dim_keeps_distinct_rows():
    rows = graphc.tensor([[1, 2], [0, 5], [1, 2]])
    assert graphc.unique(rows, dim=0).tolist() == [[0, 5], [1, 2]]


def test_unique_consecutive_collapses_runs():
    out, inverse, counts = graphc.tensor([1, 1, 2, 2, 3, 1, 1]).unique_consecutive(
        return_inverse=True, return_counts=True)
    assert out.tolist() == [1, 2, 3, 1]
    assert inverse.tolist() == [0, 0, 1, 1, 2, 3, 3]
    assert counts.tolist() == [2, 2, 1, 2]


def test_bincount_counts_and_weights():
    x = graphc.tensor([0, 1, 1, 4])
    assert graphc.bincount(x).tolist() == [1, 2, 0, 0, 1]
    weighted = graphc.bincount(x, graphc.tensor([0.5, 1.0, 2.0, 1.0]), minlength=6)
    assert weighted.dtype == graphc.float32  # float32 weights give float32, others float64
    assert weighted.tolist() == [0.5, 3.0, 0.0, 0.0, 1.0, 0.0]
    with pytest.raises(RuntimeError, match="non-negative"):
        graphc.bincount(graphc.tensor([-1, 2]))


@pytest.mark.parametrize("fn", [graphc.unique, graphc.unique_consecutive, graphc.bincount],
                         ids=["unique", "unique_consecutive", "bincount"])
def test_data_dependent_shapes_refuse_to_compile(fn):
    with pytest.raises(TraceError, match="static shapes"):
        graphc.compile(fn)(graphc.tensor([1, 2, 2]))


# -- methods ---------------------------------------------------------------------------------
def test_mode_is_smallest_most_frequent_value_at_its_last_index():
    x = graphc.tensor([[3.0, 1.0, 3.0, 1.0, 2.0], [2.0, 2.0, 5.0, 5.0, 5.0]])
    values, indices = x.mode()
    assert values.tolist() == [1.0, 5.0] and indices.tolist() == [3, 4]
    values, indices = graphc.mode(x.t(), 0, keepdim=True)
    assert values.tolist() == [[1.0, 5.0]] and indices.tolist() == [[3, 4]]


def test_the_gradient_of_mode_goes_to_the_index_it_returns():
    x = graphc.tensor([[1.0, 1.0, 2.0, 3.0], [4.0, 4.0, 4.0, 0.0]], requires_grad=True)
    values, indices = x.mode(1)
    values.sum().backward()
    assert indices.tolist() == [1, 2]
    assert x.grad.tolist() == [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]  # as PyTorch's


@pytest.mark.parametrize("compiled", [False, True])
def test_the_gradient_of_a_median_over_all_elements_is_spread_over_its_ties(compiled):
    # as PyTorch's (with a dim, it goes to the index returned); the value is the median's
    x = graphc.tensor([2.0, 2.0, 1.0, -0.0], requires_grad=True)
    median = graphc.compile(graphc.median) if compiled else graphc.median
    value = median(x)
    value.backward()
    assert value.item() == 1.0 and x.grad.tolist() == [0.0, 0.0, 1.0, 0.0]
    x = graphc.tensor([2.0, 2.0, 1.0], requires_grad=True)
    median(x).backward()
    assert x.grad.tolist() == [0.5, 0.5, 0.0]
    assert math.copysign(1.0, graphc.median(graphc.tensor([-0.0, 1.0, -0.0])).item()) == -1.0
    assert graphc.median(graphc.tensor([1.0, math.inf, math.inf])).item() == math.inf


def test_contiguity_answers_of_a_library_without_views():
    x = graphc.zeros(2, 3, 4, dtype=graphc.float64)
    assert x.stride() == (12, 4, 1) and x.stride(-2) == 4
    assert x.is_contiguous() and x.storage_offset() == 0 and x.element_size() == 8
    assert x.pin_memory() is x and x.share_memory_() is x
    assert not x.is_pinned() and not x.is_shared()


def test_register_hook_replaces_the_gradient_and_can_be_removed():
    x = graphc.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    seen = []
    handle = y.register_hook(lambda g: seen.append(g.tolist()) or g * 3)
    y.sum().backward()
    assert seen == [[1.0, 1.0]] and x.grad.tolist() == [6.0, 6.0]
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_register_hook_on_a_leaf_sees_its_accumulated_gradient():
    x = graphc.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g + 1)
    (x * 3).sum().backward()
    assert x.grad.tolist() == [4.0, 4.0]


def test_retain_grad_keeps_a_non_leaf_gradient_after_hooks():
    x = graphc.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: g * 3)
    (y * 5).sum().backward()
    assert y.retains_grad and y.grad.tolist() == [15.0, 15.0]  # as PyTorch: after the hooks
    with pytest.raises(RuntimeError):
        graphc.tensor([1.0]).retain_grad()


def test_apply_and_map_run_a_python_function_per_element():
    x = graphc.tensor([1.0, 2.0, 3.0])
    assert x.apply_(lambda v: v * v).tolist() == [1.0, 4.0, 9.0]
    assert x.map_(graphc.tensor([1.0]), lambda a, b: a - b).tolist() == [0.0, 3.0, 8.0]


def test_inplace_counterparts_write_the_tensor():
    x = graphc.tensor([0.25, 0.5])
    x.logit_()
    assert_close(x, np.log(np.array([0.25, 0.5]) / np.array([0.75, 0.5])), "f32")
    y = graphc.zeros(2, 2)
    y.masked_scatter_(graphc.tensor([[True, False], [False, True]]), graphc.tensor([7.0, 8.0]))
    assert y.tolist() == [[7.0, 0.0], [0.0, 8.0]]
    y.put_(graphc.tensor([1]), graphc.tensor([5.0]))
    assert y.tolist() == [[7.0, 5.0], [0.0, 8.0]]


# -- factories -------------------------------------------------------------------------------
def test_logspace_range_and_triangle_indices():
    assert_close(graphc.logspace(0, 2, 3, dtype=graphc.float64), [1.0, 10.0, 100.0], "f64")
    assert graphc.logspace(0, 3, 4, base=2).tolist() == [1.0, 2.0, 4.0, 8.0]
    assert graphc.range(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]  # end included
    assert graphc.range(5, 1, -2).tolist() == [5.0, 3.0, 1.0]
    r, c = np.tril_indices(3, 1, 4)
    assert graphc.tril_indices(3, 4, 1).tolist() == [r.tolist(), c.tolist()]
    r, c = np.triu_indices(4, -1, 3)
    assert graphc.triu_indices(4, 3, -1).tolist() == [r.tolist(), c.tolist()]
    e = graphc.empty_like(graphc.ones(2, 3, dtype=graphc.int64))
    assert e.shape == (2, 3) and e.dtype == graphc.int64


def test_set_default_dtype_makes_float_factories_float64():
    assert graphc.get_default_dtype() == graphc.float32
    graphc.set_default_dtype(graphc.float64)
    try:
        assert graphc.zeros(2).dtype == graphc.float64
        assert graphc.tensor([1.5]).dtype == graphc.float64
        assert graphc.rand(2).dtype == graphc.float64
        assert (graphc.tensor([1]) / 2).dtype == graphc.float64
        assert graphc.Tensor(2, 3).dtype == graphc.float64  # torch.Tensor follows it too
    finally:
        graphc.set_default_dtype(graphc.float32)
    assert graphc.zeros(2).dtype == graphc.float32
    with pytest.raises(TypeError):
        graphc.set_default_dtype(graphc.int64)


# -- randomness ------------------------------------------------------------------------------
def test_generator_objects_replay_their_own_stream():
    gen = graphc.Generator("cpu").manual_seed(3)
    first = graphc.randn(4, generator=gen)
    gen.manual_seed(3)
    assert graphc.equal(first, graphc.randn(4, generator=gen))
    assert gen.initial_seed() == 3
    state = gen.get_state()
    a = graphc.randint(0, 100, (5,), generator=gen)
    gen.set_state(state)
    assert graphc.equal(a, graphc.randint(0, 100, (5,), generator=gen))


def test_global_rng_state_round_trips():
    state = graphc.get_rng_state()
    a = graphc.rand(3)
    graphc.set_rng_state(state)
    assert graphc.equal(a, graphc.rand(3))
    graphc.manual_seed(11)
    assert graphc.initial_seed() == 11
    assert isinstance(graphc.seed(), int)
    with pytest.raises(TypeError):
        graphc.set_rng_state(graphc.zeros(3))


def test_multinomial_with_replacement_follows_the_weights():
    graphc.manual_seed(0)
    drawn = graphc.multinomial(graphc.tensor([1.0, 2.0, 7.0]), 20000, replacement=True)
    frequency = np.bincount(drawn.numpy(), minlength=3) / 20000
    np.testing.assert_allclose(frequency, [0.1, 0.2, 0.7], atol=0.015)  # ~4 sigma


def test_multinomial_without_replacement_draws_like_sequential_removal():
    graphc.manual_seed(1)
    p = np.array([0.1, 0.2, 0.7])
    second = np.zeros(3)
    draws = graphc.multinomial(graphc.tensor(np.tile(p, (4000, 1))), 2)
    assert (draws[:, 0] != draws[:, 1]).all().item()
    second = np.bincount(draws[:, 1].numpy(), minlength=3) / 4000
    # P(second = j) = sum over i != j of p_i * p_j / (1 - p_i)
    expected = [sum(p[i] * p[j] / (1 - p[i]) for i in range(3) if i != j) for j in range(3)]
    np.testing.assert_allclose(second, expected, atol=0.03)


def test_multinomial_errors_are_runtime_errors():
    with pytest.raises(RuntimeError, match="without replacement"):
        graphc.multinomial(graphc.tensor([0.5, 0.5]), 3)
    with pytest.raises(RuntimeError, match="< 0"):
        graphc.multinomial(graphc.tensor([-0.5, 0.5]), 1)


def test_bernoulli_and_randint_like():
    graphc.manual_seed(2)
    draws = graphc.bernoulli(graphc.full((20000,), 0.3))
    assert set(np.unique(draws.numpy())) <= {0.0, 1.0}
    assert abs(draws.mean().item() - 0.3) < 0.015
    r = graphc.randint_like(graphc.zeros(50, dtype=graphc.int32), 3, 6)
    assert r.dtype == graphc.int32 and r.min().item() >= 3 and r.max().item() <= 5


# -- state and predicates --------------------------------------------------------------------
def test_inference_mode_records_no_gradient_as_context_and_decorator():
    x = graphc.tensor([1.0], requires_grad=True)
    with graphc.inference_mode():
        assert not (x * 2).requires_grad

    @graphc.inference_mode()
    def doubled(t):
        return t * 2
    assert not doubled(x).requires_grad
    with graphc.inference_mode(False):
        assert (x * 2).requires_grad


def test_predicates_and_numel():
    x = graphc.zeros(2, 3)
    assert graphc.is_tensor(x) and not graphc.is_tensor([1])
    assert graphc.is_floating_point(x) and not graphc.is_floating_point(graphc.tensor([1]))
    assert graphc.numel(x) == 6 and graphc.clone(x) is not x


def test_set_printoptions_sets_the_precision_of_repr():
    try:
        graphc.set_printoptions(precision=2)
        assert "1.23" in repr(graphc.tensor([1.23456])) and "1.234" not in repr(
            graphc.tensor([1.23456]))
    finally:
        graphc.set_printoptions(profile="default")


# -- errors of PyTorch's types ---------------------------------------------------------------
def test_errors_have_pytorch_builtin_types():
    with pytest.raises(IndexError):
        graphc.select(graphc.zeros(2, 3), 1, 3)
    with pytest.raises(RuntimeError):
        graphc.cross(graphc.zeros(2, 4), graphc.zeros(2, 4), dim=1)
    with pytest.raises(RuntimeError):
        graphc.cdist(graphc.zeros(3), graphc.zeros(3))
    with pytest.raises(RuntimeError):
        graphc.quantile(graphc.zeros(3), 1.5)
    with pytest.raises(RuntimeError):
        graphc.searchsorted(graphc.zeros(2, 3), graphc.zeros(3, 1))
    with pytest.raises(RuntimeError):
        graphc.slice_scatter(graphc.zeros(3, 4), graphc.zeros(3, 3), 1, 0, 4, 2)
    with pytest.raises(TypeError):
        graphc.hstack(graphc.zeros(3))


def test_generator_drives_dataloader_shuffle_and_random_split():
    from graphc.utils.data import DataLoader, TensorDataset, random_split
    data = TensorDataset(graphc.arange(8))

    def order(seed):
        loader = DataLoader(data, batch_size=8, shuffle=True,
                            generator=graphc.Generator().manual_seed(seed))
        return next(iter(loader))[0].tolist()
    assert order(5) == order(5) and sorted(order(5)) == list(range(8))
    split = [s.indices if hasattr(s, "indices") else list(s)
             for s in random_split(range(10), [7, 3], generator=graphc.Generator().manual_seed(1))]
    again = [s.indices if hasattr(s, "indices") else list(s)
             for s in random_split(range(10), [7, 3], generator=graphc.Generator().manual_seed(1))]
    assert split == again and sorted(split[0] + split[1]) == list(range(10))
    perm = graphc.randperm(6, generator=graphc.Generator().manual_seed(2))
    assert graphc.equal(perm, graphc.randperm(6, generator=graphc.Generator().manual_seed(2)))


@pytest.mark.parametrize("backend", [None, "llvm", "interpreter"])
def test_searchsorted_puts_nan_after_every_number_as_numpy(backend):
    # a NaN value was counted as below everything (insertion point 0)
    seq = np.array([1.0, 2.0, 2.0, 3.0, 5.0, np.nan], np.float32)
    values = np.array([np.nan, 2.0, np.inf, -np.inf], np.float32)

    def points(s, v):
        return (graphc.searchsorted(s, v), graphc.searchsorted(s, v, right=True),
                graphc.bucketize(v, s))
    run = points if backend is None else graphc.compile(points, backend=backend)
    left, right, buckets = run(graphc.tensor(seq), graphc.tensor(values))
    assert left.tolist() == np.searchsorted(seq, values).tolist() == [5, 1, 5, 0]
    assert right.tolist() == np.searchsorted(seq, values, side="right").tolist()
    assert buckets.tolist() == left.tolist()


@pytest.mark.parametrize("compiled", [False, True])
def test_an_empty_dim_reduces_every_dimension_as_in_pytorch(compiled):
    # PyTorch (unlike NumPy and JAX) reads dim=() as "every dimension": a loss written as
    # x.sum(dim=tuple(range(1, x.ndim))) of a 1-D x is its total there, and must be here
    reductions = {
        "sum": (lambda t: t.sum(dim=()), A.sum()),
        "mean": (lambda t: graphc.mean(t, []), A.mean()),
        "amax": (lambda t: graphc.amax(t, ()), A.max()),
        "amin": (lambda t: t.amin(dim=()), A.min()),
        "var": (lambda t: graphc.var(t, ()), A.var(ddof=1)),
        "std": (lambda t: t.std(dim=()), A.std(ddof=1)),
        "nansum": (lambda t: graphc.nansum(t, ()), A.sum()),
        "norm": (lambda t: graphc.linalg.vector_norm(t, 2, ()), np.sqrt((A * A).sum())),
        "count_nonzero": (lambda t: graphc.count_nonzero(t, ()), np.count_nonzero(A)),
    }
    for name, (fn, expected) in reductions.items():
        got = (graphc.compile(fn) if compiled else fn)(graphc.tensor(A))
        assert got.shape == (), name
        assert_close(got.numpy(), np.asarray(expected), dtype="f64")
    # but any/all over no dims keep every element (as bools), also as PyTorch's do
    flags = graphc.tensor(A > 0)
    assert graphc.any(flags, ()).tolist() == (A > 0).tolist()
    assert graphc.all(graphc.tensor(A), ()).tolist() == (A != 0).tolist()


def test_layer_and_rms_norm_refuse_an_empty_normalized_shape():
    x = graphc.tensor(A)
    with pytest.raises(ValueError, match="normalized_shape must name at least one"):
        graphc.nn.functional.layer_norm(x, ())
    with pytest.raises(RuntimeError, match="normalized_shape must name at least one"):
        graphc.nn.functional.rms_norm(x, [])


@pytest.mark.parametrize("compiled", [False, True])
def test_shifts_promote_as_pytorch(compiled):
    """They kept the left operand's dtype: int8 << an int64 tensor wrapped in int8, bool << 1
    was [1, 0]."""
    def shifts(x, s, b, w):
        return x << s, x >> s, b << 1, w << graphc.tensor([2])

    run = graphc.compile(shifts) if compiled else shifts
    left, right, from_bool, wide = run(graphc.tensor([100, -100, 7, 127], dtype=graphc.int8),
                                       graphc.tensor([1, 2, 3, 4]),
                                       graphc.tensor([True, False, True]),
                                       graphc.tensor([2 ** 30], dtype=graphc.int32))
    assert left.dtype == right.dtype == graphc.int64
    assert left.tolist() == [200, -400, 56, 2032] and right.tolist() == [50, -25, 0, 7]
    assert from_bool.tolist() == [2, 0, 2] and from_bool.dtype == graphc.int64
    assert wide.tolist() == [2 ** 32]
    small = graphc.tensor([5], dtype=graphc.int8)
    assert (small << 2).dtype == graphc.int8 and (small << graphc.tensor(2)).dtype == graphc.int8


@pytest.mark.parametrize("compiled", [False, True])
def test_masked_scatter_refuses_a_source_shorter_than_the_mask(compiled):
    """Compiled, it repeated the last source value; eagerly an empty source left x as it was."""
    x = graphc.tensor([[1.0, -1.0, 2.0], [3.0, 4.0, -5.0]])
    fn = lambda x, s: x.masked_scatter(x > 0, s)  # noqa: E731
    run = graphc.compile(fn) if compiled else fn
    with pytest.raises(RuntimeError, match="source has 3 elements, fewer than the mask"):
        run(x, graphc.tensor([10.0, 20.0, 30.0]))
    assert run(x, graphc.tensor([10.0, 20.0, 30.0, 40.0])).tolist() == [[10.0, -1.0, 20.0],
                                                                       [30.0, 40.0, -5.0]]
    with pytest.raises(RuntimeError, match="source has 0 elements"):
        graphc.zeros(3).masked_scatter(graphc.ones(3) > 0, graphc.tensor([]))


def test_index_select_with_a_0d_index_keeps_the_dimension_and_pow_assigns_in_place():
    a = graphc.arange(9.0).reshape(3, 3)
    column = a.index_select(1, graphc.tensor(2))
    assert column.shape == (3, 1) and (a - column)[0].tolist() == [-2.0, -1.0, 0.0]
    assert graphc.index_select(graphc.arange(4.0), 0, graphc.tensor(1)).shape == (1,)
    assert graphc.compile(lambda a: a.index_select(1, graphc.tensor(2)))(a).shape == (3, 1)
    weight = graphc.nn.Parameter(graphc.tensor([1.0, 2.0, 3.0]))
    held = weight
    with graphc.no_grad():
        held **= 2  # rebound the name to a new tensor: the parameter stayed as it was
    assert held is weight and weight.tolist() == [1.0, 4.0, 9.0]


def test_bitwise_not_of_unsigned_and_norm_dtype_and_mode_with_nan():
    assert (~graphc.tensor([0, 5, 255], dtype=graphc.uint8)).tolist() == [255, 250, 0]
    halves = graphc.tensor([60000.0] * 4, dtype=graphc.float16)
    norm = graphc.linalg.vector_norm(halves, dtype=graphc.float32)
    assert norm.dtype == graphc.float32 and norm.item() == 120000.0  # was inf, float16
    same = graphc.linalg.vector_norm(graphc.full((4,), 300.0, dtype=graphc.float16),
                                     dtype=graphc.float16)
    assert same.dtype == graphc.float16 and same.item() == 600.0
    x = graphc.tensor([[3.0, math.nan, 3.0, 1.0], [math.nan, math.nan, 1.0, 7.0]])
    values, indices = graphc.mode(x, 1)  # raised an index error on any NaN
    assert values[0].item() == 3.0 and indices[0].item() == 2
    assert math.isnan(values[1].item()) and indices[1].item() == 1


def test_select_and_narrow_take_a_0d_integer_tensor_position():
    a = graphc.arange(12.0).reshape(3, 4)
    assert a.select(1, graphc.tensor(1)).tolist() == [1.0, 5.0, 9.0]
    assert a.narrow(1, graphc.tensor(1), 2).tolist() == [[1.0, 2.0], [5.0, 6.0], [9.0, 10.0]]
    with pytest.raises(TypeError):
        a.narrow(1, 1.5, 2)  # not an integer: refused, not truncated


def test_copysign_result_dtype_is_the_promoted_floating_dtype():
    cases = [((graphc.int8, graphc.float16), graphc.float16),
             ((graphc.float16, graphc.float32), graphc.float32),
             ((graphc.float32, graphc.float64), graphc.float64)]
    for (first, second), expected in cases:
        out = graphc.copysign(graphc.tensor([1, -2], dtype=first),
                              graphc.tensor([-1.0, 1.0], dtype=second))
        assert out.dtype == expected and out.tolist() == [-1.0, 2.0]
    assert graphc.copysign(graphc.tensor([1.0], dtype=graphc.float16), -1.0).dtype == \
        graphc.float16


def test_index_select_refuses_an_index_of_more_than_one_dimension_as_pytorch():
    with pytest.raises(IndexError, match="Index is supposed to be a vector"):
        graphc.index_select(graphc.arange(6.0), 0, graphc.tensor([[0, 1]]))


def test_negative_shift_amounts_shift_everything_out_as_pytorch():
    x = graphc.tensor([5, -5, 1])
    amounts = graphc.tensor([-1, 2, 70])
    assert (x << amounts).tolist() == [0, -20, 0] and (x >> amounts).tolist() == [0, -2, 0]
    assert (x << -1).tolist() == [0, 0, 0] and (x >> -1).tolist() == [0, -1, 0]  # (raised)


def test_rounding_division_of_bool_tensors_counts_them_as_int64():
    flags = graphc.tensor([True, False])
    assert (flags // 2).dtype == graphc.int64 and (flags % 2).tolist() == [1, 0]
    assert graphc.fmod(flags, 2).tolist() == [1, 0]
    assert (flags // graphc.tensor([2.0, 3.0])).dtype == graphc.float32


def test_renorm_scales_slices_whose_norm_exceeds_the_maximum():
    x = graphc.tensor([[3.0, 4.0], [0.3, 0.4]], dtype=graphc.float64)
    out = graphc.renorm(x, 2, 0, 1.0)
    np.testing.assert_allclose(out.numpy(), [[0.6 * 5 / (5 + 1e-7), 0.8 * 5 / (5 + 1e-7)],
                                             [0.3, 0.4]], rtol=1e-12)
    check_grad(lambda t: graphc.renorm(t, 2, 1, 1.5), [np.array([[3.0, 0.1], [4.0, 0.2]])])


def test_stack_module_state_runs_an_ensemble_under_vmap():
    from graphc.func import functional_call, stack_module_state, vmap
    models = [graphc.nn.Linear(3, 2) for _ in range(4)]
    params, buffers = stack_module_state(models)
    assert params["weight"].shape == (4, 2, 3) and params["weight"].requires_grad
    x = graphc.randn(5, 3)
    out = vmap(lambda p, b, x: functional_call(models[0], (p, b), (x,)),
               in_dims=(0, 0, None))(params, buffers, x)
    expected = np.stack([m(x).detach().numpy() for m in models])
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
