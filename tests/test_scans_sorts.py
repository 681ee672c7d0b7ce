"""Products, scans and sorts as PyTorch defines them: ``prod``, ``cumsum cumprod logcumsumexp
cummax cummin``, ``sort argsort msort topk kthvalue median``.

Each behaviour is checked eagerly and compiled on every CPU backend (the interpreter, llvm,
numba; the CUDA renderer runs the registry samples in tests/cuda). Expected values are PyTorch's
semantics written out independently: Python's stable ``sorted`` with NaN as the largest key,
loops in float64, and small hand-computed cases (no number here came from graphc).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
import ir
from backends.kernel import build_program
from conftest import assert_close, check_grad

BACKENDS = ["interpreter", "llvm", "numba"]
nan, inf = math.nan, math.inf


def run(fn, *arrays, backend=None):
    """``fn`` on tensors of ``arrays``: eagerly (backend None) or compiled on ``backend``;
    the result's tensors as NumPy arrays (a tuple stays a tuple)."""
    tensors = [graphc.tensor(a) for a in arrays]
    out = fn(*tensors) if backend is None else graphc.compile(fn, backend=backend)(*tensors)
    if isinstance(out, tuple):
        return tuple(t.numpy() for t in out)
    return out.numpy()


MODES = [None] + BACKENDS  # None: eager


def _key(v, descending):
    isnan = isinstance(v, float) and math.isnan(v)
    if descending:
        return (0, 0) if isnan else (1, -v)
    return (1, 0) if isnan else (0, v)


def sorted_rows(x: np.ndarray, descending=False) -> np.ndarray:
    """The oracle: each last-axis row's indices by Python's stable sort, NaN the largest."""
    rows = x.reshape(math.prod(x.shape[:-1]), x.shape[-1])
    out = [sorted(range(len(r)), key=lambda j, r=r: _key(r[j].item(), descending)) for r in rows]
    return np.array(out, np.int64).reshape(x.shape)


# -- prod ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_prod_multiplies_and_integers_and_bools_give_int64(mode):
    x = np.array([[2, -3, 4], [1, 5, -1]], np.int32)
    assert run(lambda t: graphc.prod(t, 1), x, backend=mode).tolist() == [-24, -5]
    got = run(lambda t: graphc.prod(t), x, backend=mode)
    assert got.dtype == np.int64 and got == 120
    flags = np.array([True, True, False])
    assert run(lambda t: graphc.prod(t, 0, keepdim=True), flags, backend=mode).tolist() == [0]


def test_prod_dtype_argument_casts_before_multiplying():
    x = graphc.tensor([100000, 100000], dtype=graphc.int32)
    assert graphc.prod(x, dtype=graphc.float64).item() == 1e10


@pytest.mark.parametrize("x, expected", [
    ([2.0, 0.0, 3.0], [0.0, 6.0, 0.0]),        # one zero: only it gets a gradient
    ([0.0, 5.0, 0.0], [0.0, 0.0, 0.0]),        # two zeros: every product of the others is 0
    ([2.0, 4.0, 0.5], [2.0, 1.0, 8.0])])
def test_prod_gradient_is_the_product_of_the_others_even_with_zeros(x, expected):
    t = graphc.tensor(x, requires_grad=True)
    graphc.prod(t).backward()
    assert t.grad.tolist() == expected
    compiled = graphc.compile(lambda v: graphc.grad(lambda y: graphc.prod(y))(v))
    assert compiled(graphc.tensor(x)).tolist() == expected


def test_prod_gradient_over_several_axes_matches_finite_differences():
    x = np.random.default_rng(0).uniform(-2, 2, size=(2, 3, 4))
    x[0, 1, 2] = 0.0
    check_grad(lambda t: graphc.prod(t, (0, 2), keepdim=True), [x])
    check_grad(lambda t: graphc.prod(t, 1), [x])


# -- scans ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_cumsum_and_cumprod_of_integers_and_bools_give_int64(mode):
    x = np.array([[1, 2, 3], [4, -5, 6]], np.int32)
    got = run(lambda t: graphc.cumsum(t, 1), x, backend=mode)
    assert got.dtype == np.int64 and got.tolist() == [[1, 3, 6], [4, -1, 5]]
    assert run(lambda t: graphc.cumprod(t, 0), x, backend=mode).tolist() == [[1, 2, 3],
                                                                              [4, -10, 18]]
    flags = np.array([True, False, True, True])
    assert run(lambda t: graphc.cumsum(t, -1), flags, backend=mode).tolist() == [1, 1, 2, 3]


@pytest.mark.parametrize("mode", MODES)
def test_float32_cumsum_accumulates_in_float64_like_pytorch_on_cpu(mode):
    # 2**24 + 1 is no float32 (it is stored rounded to 2**24), but the running sum keeps it:
    # a float32 running sum would end at 0.0
    x = np.array([2.0**24, 1.0, 1.0, -2.0**24], np.float32)
    assert run(lambda t: graphc.cumsum(t, 0), x, backend=mode).tolist() == [2**24, 2**24,
                                                                           2**24 + 2, 2.0]


def test_cumsum_dtype_argument_casts_first():
    out = graphc.cumsum(graphc.tensor([1, 2]), 0, dtype=graphc.float32)
    assert out.dtype == graphc.float32 and out.tolist() == [1.0, 3.0]


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "logcumsumexp", "cummax", "cummin"])
def test_scans_of_a_0d_tensor_are_the_tensor_and_of_an_empty_one_are_empty(name):
    fn = getattr(graphc, name)
    for dim in (0, -1):
        out = fn(graphc.tensor(2.5), dim)
        values = out.values if isinstance(out, tuple) else out
        assert values.shape == () and values.item() == 2.5
        if isinstance(out, tuple):
            assert out.indices.item() == 0
    with pytest.raises(IndexError):
        fn(graphc.tensor(2.5), 1)
    empty = fn(graphc.zeros(2, 0), 1)
    assert (empty.values if isinstance(empty, tuple) else empty).shape == (2, 0)


@pytest.mark.parametrize("mode", MODES)
def test_cummax_ties_take_the_last_index_and_a_nan_takes_over(mode):
    x = np.array([1.0, 3.0, nan, 3.0, nan, 5.0], np.float32)
    values, indices = run(lambda t: tuple(graphc.cummax(t, 0)), x, backend=mode)
    assert indices.tolist() == [0, 1, 2, 2, 4, 4]
    np.testing.assert_array_equal(values, [1.0, 3.0, nan, nan, nan, nan])
    ties = np.array([[1, 1, 0, 0], [2, 3, 3, 1]], np.int64)
    values, indices = run(lambda t: tuple(graphc.cummin(t, 1)), ties, backend=mode)
    assert indices.tolist() == [[0, 1, 2, 3], [0, 0, 0, 3]]
    assert values.tolist() == [[1, 1, 0, 0], [2, 2, 2, 1]]


def test_cummax_values_gradient_goes_to_the_running_maximum():
    x = graphc.tensor([1.0, 3.0, 2.0, 3.0], requires_grad=True)
    graphc.cummax(x, 0).values.sum().backward()
    assert x.grad.tolist() == [1.0, 2.0, 0.0, 1.0]  # index 1 twice; the tie at 3 takes over


@pytest.mark.parametrize("mode", MODES)
def test_logcumsumexp_is_stable_where_exp_overflows(mode):
    x = np.array([1000.0, 1000.0, -inf, 999.0], np.float64)
    log2 = math.log(2.0)
    step3 = 1000.0 + log2 + math.log1p(math.exp(999.0 - 1000.0 - log2))
    assert_close(run(lambda t: graphc.logcumsumexp(t, 0), x, backend=mode),
                 np.array([1000.0, 1000.0 + log2, 1000.0 + log2, step3]), dtype="f64")
    leading = np.array([-inf, -inf, 0.0], np.float32)
    np.testing.assert_array_equal(run(lambda t: graphc.logcumsumexp(t, 0), leading,
                                      backend=mode), [-inf, -inf, 0.0])


def test_logcumsumexp_of_integers_is_a_runtime_error_naming_the_dtype():
    with pytest.raises(RuntimeError, match="floating-point.*i64"):
        graphc.logcumsumexp(graphc.tensor([1, 2]), 0)


@pytest.mark.parametrize("x", [
    [[1.5, 0.0, -2.0, 0.0, 0.5], [0.75, -1.25, 0.0, 1.5, 2.0]],   # zeros: the exact formula
    [[0.5, 1.25, -0.75, 1.5, 2.0], [1.0, 1.0, 1.0, 1.0, 1.0]]])
def test_cumprod_gradient_is_exact_with_zeros_in_the_input(x):
    check_grad(lambda t: graphc.cumprod(t, 1), [np.array(x)])
    check_grad(lambda t: graphc.cumprod(t, 0), [np.array(x)])


def test_cumprod_gradient_at_a_zero_is_the_product_of_the_others():
    # d/dx1 of sum_k cumprod_k at x1 = 0: the products x0, x0*x2, x0*x2*x3 that include x1
    x = graphc.tensor([2.0, 0.0, 3.0, 4.0], requires_grad=True)
    graphc.cumprod(x, 0).sum().backward()
    assert x.grad.tolist() == [1.0, 2.0 + 2.0 * 3.0 + 2.0 * 3.0 * 4.0, 0.0, 0.0]


def test_scan_gradients_match_finite_differences():
    x = np.random.default_rng(1).uniform(-2, 2, size=(3, 4))
    check_grad(lambda t: graphc.cumsum(t, 0), [x])
    check_grad(lambda t: graphc.logcumsumexp(t, 1), [x])
    check_grad(lambda t: graphc.cummax(t, 1).values, [x])
    check_grad(lambda t: graphc.cummin(t, 0).values, [x])


def _gradient_along(fn, seed=3):
    """x -> the gradient of sum(fn(x) * v) for a fixed v, recorded (create_graph): its own
    gradient is a Hessian-vector product, which check_grad compares with finite differences
    of the first derivative."""
    def gradient(t):
        if not t.requires_grad:  # check_grad's finite differences call it under no_grad
            t = t.detach().requires_grad_()
        with graphc.enable_grad():
            out = fn(t)
            v = graphc.tensor(np.random.default_rng(seed).uniform(-1.5, 1.5, size=out.shape))
            return graphc.autograd.grad((out * v).sum(), t, create_graph=True)[0]
    return gradient


@pytest.mark.parametrize("x", [
    [[1.5, 0.0, -2.0, 3.0, 0.5], [0.75, -1.25, 0.0, 1.5, 0.0]],  # one zero; two zeros
    [[0.0, 0.0, 2.0, 0.0, 0.5], [0.75, -1.25, 1.0, 1.5, 2.0]]])   # zeros first; none
def test_cumprod_second_derivative_is_exact_with_zeros(x):
    # past the first zero the gradient is 0, but its derivative along that zero is not
    for axis in (0, 1):
        check_grad(_gradient_along(lambda t: graphc.cumprod(t, axis)), [np.array(x)])
        check_grad(_gradient_along(lambda t: graphc.cumprod(t.flip(axis), axis)), [np.array(x)])


def test_cumprod_first_derivative_alone_keeps_its_cheap_form():
    x = graphc.tensor([2.0, 0.0, 3.0, 4.0], requires_grad=True)
    graphc.cumprod(x, 0).sum().backward()
    assert x.grad.grad_fn is None and x.grad.tolist() == [1.0, 32.0, 0.0, 0.0]


@pytest.mark.parametrize("x", [
    [[0.3, -1.2, 2.0, 0.1], [1.5, 1.5, -0.5, 0.0]],
    [[0.5, -30.0, -1.0, 2.0], [1000.0, 999.0, -700.0, 998.0]]])   # exp would overflow
def test_logcumsumexp_second_derivative_matches_finite_differences(x):
    # the cotangent's positive and negative parts are summed apart; an empty part was log 0,
    # and -inf - (-inf) made its derivative NaN, which the sign split then dropped silently
    check_grad(_gradient_along(lambda t: graphc.logcumsumexp(t, 1)), [np.array(x)])
    check_grad(_gradient_along(lambda t: graphc.logcumsumexp(t, 0), seed=4), [np.array(x)])


def test_logcumsumexp_gradient_keeps_a_nan_in_the_cotangent():
    x = graphc.tensor([0.5, -0.25, 1.0], requires_grad=True)
    graphc.logcumsumexp(x, 0).backward(graphc.tensor([1.0, nan, 2.0]))
    assert np.isnan(x.grad.numpy()[:2]).all() and np.isfinite(x.grad.numpy()[2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_scan_second_derivatives_equal_eager(backend):
    x = np.array([[1.5, 0.0, -2.0, 3.0, 0.5], [0.75, -1.25, 0.4, 1.5, -0.2]])

    def hvp(t):
        g = _gradient_along(lambda u: graphc.cumprod(u, 1) + graphc.logcumsumexp(u, 1))(t)
        return graphc.autograd.grad((g * g).sum(), t)[0]

    def eager_hvp(a):
        return hvp(graphc.tensor(a, requires_grad=True)).numpy()

    compiled = graphc.compile(lambda t: hvp(t.requires_grad_()), backend=backend)
    assert_close(compiled(graphc.tensor(x)).numpy(), eager_hvp(x), dtype="f64")


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_scan_gradients_equal_eager(backend):
    x = np.random.default_rng(2).uniform(-2, 2, size=(3, 5))
    x[1, 2] = 0.0

    def loss(t):
        return (graphc.cumprod(t, 1) + graphc.logcumsumexp(t, 0) * graphc.cumsum(t, 1)).sum()

    eager = graphc.grad(loss)(graphc.tensor(x))
    compiled = graphc.compile(graphc.grad(loss), backend=backend)(graphc.tensor(x))
    assert_close(compiled, eager.numpy(), dtype="f32")


# -- sorts ------------------------------------------------------------------------------------
SORT_DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]


def _sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if dtype is np.bool_:
        return rng.integers(0, 2, size=shape).astype(bool)
    x = rng.integers(-3, 4, size=shape).astype(dtype)  # few values: many ties
    if np.dtype(dtype).kind == "f" and x.size:
        x.flat[::5] = nan
        x.flat[1::7] = -0.0
    return x


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", SORT_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("descending", [False, True])
def test_sort_is_stable_with_nan_largest_in_every_dtype(mode, dtype, descending):
    x = _sample(dtype, (3, 11))
    values, indices = run(lambda t: tuple(graphc.sort(t, descending=descending)), x,
                          backend=mode)
    expected = sorted_rows(x, descending)
    assert indices.tolist() == expected.tolist()
    np.testing.assert_array_equal(values, np.take_along_axis(x, expected, -1))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", [0, 1, 2, 15, 16, 17, 33, 100, 1000])
def test_sort_rows_short_and_long_take_insertion_and_merge_paths(mode, n):
    """Rows up to SORT_RUN keys are insertion-sorted; longer ones merged in passes (17, 33,
    100: a last run shorter than the others; 1000: six merge passes)."""
    x = _sample(np.float32, (2, n), seed=n)
    for descending in (False, True):
        indices = run(lambda t, d=descending: graphc.argsort(t, descending=d), x, backend=mode)
        assert indices.shape == (2, n)
        assert indices.tolist() == sorted_rows(x, descending).tolist()


@pytest.mark.parametrize("mode", MODES)
def test_sort_along_a_leading_dim(mode):
    x = _sample(np.float64, (9, 3), seed=4)
    indices = run(lambda t: graphc.argsort(t, dim=0, descending=True), x, backend=mode)
    assert indices.tolist() == sorted_rows(x.T, True).T.tolist()


def test_sort_ties_keep_order_and_minus_zero_equals_zero():
    x = graphc.tensor([0.0, -0.0, nan, 1.0, -0.0, nan])
    assert graphc.argsort(x).tolist() == [0, 1, 4, 3, 2, 5]
    assert graphc.argsort(x, descending=True).tolist() == [2, 5, 3, 0, 1, 4]


def test_sort_of_a_0d_tensor_is_itself_at_index_0():
    values, indices = graphc.sort(graphc.tensor(3.0))
    assert values.item() == 3.0 and indices.item() == 0 and indices.shape == ()


def test_sort_gradient_routes_to_the_sorted_positions():
    x = np.random.default_rng(3).permutation(12).reshape(3, 4).astype(np.float64)
    check_grad(lambda t: graphc.sort(t, 1, descending=True).values, [x])
    t = graphc.tensor([3.0, 1.0, 2.0], requires_grad=True)
    (graphc.sort(t).values * graphc.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert t.grad.tolist() == [100.0, 1.0, 10.0]


def test_msort_sorts_along_dim_0():
    x = graphc.tensor([[3, 1], [1, 2], [2, 0]])
    assert graphc.msort(x).tolist() == [[1, 0], [2, 1], [3, 2]]


@pytest.mark.parametrize("mode", MODES)
def test_topk_gives_the_k_largest_or_smallest_first_with_nan_largest(mode):
    x = np.array([[1.0, 3.0, 3.0, nan, 2.0], [5.0, -1.0, 0.0, 4.0, 4.0]], np.float32)
    values, indices = run(lambda t: tuple(graphc.topk(t, 3)), x, backend=mode)
    np.testing.assert_array_equal(values, [[nan, 3.0, 3.0], [5.0, 4.0, 4.0]])
    assert indices.tolist() == [[3, 1, 2], [0, 3, 4]]
    values, indices = run(lambda t: tuple(graphc.topk(t, 2, largest=False)), x, backend=mode)
    assert values.tolist() == [[1.0, 2.0], [-1.0, 0.0]] and indices.tolist() == [[0, 4], [1, 2]]


def test_topk_with_k_out_of_range_is_a_runtime_error():
    with pytest.raises(RuntimeError, match="k=4 out of range"):
        graphc.topk(graphc.zeros(3), 4)
    assert graphc.topk(graphc.zeros(2, 3), 0).values.shape == (2, 0)


def test_topk_gradient_reaches_only_the_selected_elements():
    x = np.array([[0.5, 2.0, -1.0, 3.0], [1.0, 0.0, 4.0, 2.5]])
    check_grad(lambda t: graphc.topk(t, 2, dim=1).values, [x])
    t = graphc.tensor(x, requires_grad=True)
    graphc.topk(t, 2).values.sum().backward()
    assert t.grad.tolist() == [[0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0]]


@pytest.mark.parametrize("mode", MODES)
def test_kthvalue_is_the_kth_smallest_with_its_index(mode):
    x = np.array([[5.0, 1.0, 3.0, nan], [2.0, 2.0, 9.0, -4.0]], np.float32)
    values, indices = run(lambda t: tuple(graphc.kthvalue(t, 2, 1)), x, backend=mode)
    assert values.tolist() == [3.0, 2.0] and indices.tolist() == [2, 0]
    values, indices = run(lambda t: tuple(graphc.kthvalue(t, 4, 1, keepdim=True)), x,
                          backend=mode)
    assert values.shape == (2, 1) and indices.tolist() == [[3], [2]]


def test_kthvalue_with_k_out_of_range_is_a_runtime_error():
    for k in (0, 4):
        with pytest.raises(RuntimeError, match="out of range"):
            graphc.kthvalue(graphc.zeros(3), k)


@pytest.mark.parametrize("mode", MODES)
def test_median_is_the_lower_median_and_nan_in_a_row_gives_its_first_nan(mode):
    x = np.array([[4.0, 1.0, 3.0, 2.0], [7.0, nan, 1.0, nan], [2.0, 2.0, 1.0, 9.0]],
                 np.float32)
    values, indices = run(lambda t: tuple(graphc.median(t, 1)), x, backend=mode)
    np.testing.assert_array_equal(values, [2.0, nan, 2.0])
    assert indices.tolist() == [3, 1, 0]
    whole = run(lambda t: graphc.median(t), np.array([5, 3, 1, 4], np.int64), backend=mode)
    assert whole.shape == () and whole == 3


def test_median_of_nothing_is_nan_and_over_an_empty_dim_an_index_error():
    assert math.isnan(graphc.median(graphc.zeros(0)).item())
    with pytest.raises(IndexError, match="non-zero size"):
        graphc.median(graphc.zeros(2, 0), 1)


def test_median_and_kthvalue_gradients_go_to_the_selected_element():
    x = np.array([[0.5, 2.0, -1.0, 3.0, 1.5], [1.0, 0.0, 4.0, 2.5, -3.0]])
    check_grad(lambda t: graphc.median(t, 1).values, [x])
    check_grad(lambda t: graphc.kthvalue(t, 2, 0).values, [x])


# -- API shape --------------------------------------------------------------------------------------
def test_results_are_named_like_torch_return_types_and_unpack():
    x = graphc.tensor([[2.0, 1.0]])
    for name, result in [("sort", graphc.sort(x)), ("topk", graphc.topk(x, 1)),
                         ("kthvalue", graphc.kthvalue(x, 1)), ("median", graphc.median(x, 1)),
                         ("cummax", graphc.cummax(x, 1)), ("cummin", graphc.cummin(x, 1))]:
        assert type(result) is getattr(graphc.return_types, name)
        values, indices = result
        assert values is result.values and indices is result.indices
        assert indices.dtype == graphc.int64


def test_tensor_methods_forward_to_the_functions():
    x = graphc.tensor([[3.0, 1.0, 2.0]])
    assert x.sort(descending=True).values.tolist() == [[3.0, 2.0, 1.0]]
    assert x.argsort().tolist() == [[1, 2, 0]]
    assert x.cumsum(1).tolist() == [[3.0, 4.0, 6.0]]
    assert x.cumprod(1).tolist() == [[3.0, 3.0, 6.0]]
    assert x.prod().item() == 6.0
    assert x.topk(1).indices.tolist() == [[0]]
    assert x.kthvalue(2).values.tolist() == [2.0]
    assert x.median().item() == 2.0
    assert x.cummax(1).indices.tolist() == [[0, 0, 0]]
    assert x.cummin(1).indices.tolist() == [[0, 1, 1]]
    assert x.msort().tolist() == [[3.0, 1.0, 2.0]]
    assert x.logcumsumexp(1).shape == (1, 3)


# -- code generation ----------------------------------------------------------------------------------
def test_scans_and_sorts_are_their_own_kernels_in_the_printed_program_not_library_calls():
    g = ir.parse("""func @f(%x: f32[4,6]) -> (f32[4,6], i64[4,6], i64[4,6], f32[6]) {
      %0: f32[4,6] = cumsum %x {axis=1, reverse=true}
      %1: i64[4,6] = cummax_indices %x {axis=0}
      %2: i64[4,6] = argsort %x {axis=1, descending=true}
      %3: f32[6] = prod %x {axes=[0]}
      return %0, %1, %2, %3
    }""")
    text = str(build_program(g))
    assert "library call" not in text
    assert "kernel k0 over [4] scan [6]" in text
    assert "x0 = load %x[6*i0 + -1*i1 + 5]" in text  # reverse: from the row's end backwards
    assert "index = last i where" in text
    assert "kernel k2 over [4] sort [6]" in text and "stable sort" in text
    assert "kernel k3 over [6] reduce [4]" in text
