"""More of PyTorch's top-level functions (graphc/torch_functions_more.py and the additions to
graphc/elementwise_extras.py): values against float64 NumPy references written here,
gradients against central finite differences, errors, and compiled == eager.

Tolerances: float64 values vs the NumPy oracle ``rtol=1e-10, atol=1e-12`` and float32 ones
``rtol=1e-5, atol=1e-6`` (``conftest.TOLERANCES``); counts, indices and integer results exact;
gradients vs finite differences ``rtol=1e-5, atol=1e-7`` (``check_grad``); compiled vs eager
to the float64 tolerance (the same ops, possibly fused in another order).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import graphc
from conftest import assert_close, check_grad

RNG = np.random.default_rng(27)
M = RNG.standard_normal((3, 5))
XS = np.cumsum(RNG.uniform(0.2, 1.0, 5))


def compiled_equals_eager(fn, *arrays):
    tensors = [graphc.tensor(a) for a in arrays]
    eager = fn(*tensors)
    compiled = graphc.compile(fn)(*tensors)
    eager = eager if isinstance(eager, (tuple, list)) else [eager]
    compiled = compiled if isinstance(compiled, (tuple, list)) else [compiled]
    assert len(eager) == len(compiled)
    for e, c in zip(eager, compiled):
        assert e.dtype == c.dtype
        assert_close(c, e.numpy(), dtype="f64")
    return eager


# -- histograms -----------------------------------------------------------------------------
def test_histogram_counts_match_numpy_and_edges_are_linspace():
    x = RNG.standard_normal(50)
    for kw in ({"bins": 7}, {"bins": 4, "range": (-1.0, 1.0)}, {"bins": 5, "density": True}):
        hist, edges = graphc.histogram(graphc.tensor(x), **kw)
        want, want_edges = np.histogram(x, kw["bins"], kw.get("range"), density=kw.get(
            "density", False))
        assert_close(edges, want_edges)
        assert_close(hist, want)
    w = RNG.uniform(0, 2, 50)
    result = graphc.histogram(graphc.tensor(x), graphc.tensor(np.array([-1.0, 0.0, 0.5, 2.0])),
                              weight=graphc.tensor(w))
    assert type(result).__name__ == "histogram"
    assert_close(result.hist, np.histogram(x, [-1.0, 0.0, 0.5, 2.0], weights=w)[0])


def test_histogram_edge_cases_follow_pytorch():
    hist, edges = graphc.histogram(graphc.tensor([1.0, 1.0, 1.0]), 4)  # one value: +-0.5
    assert edges.tolist() == [0.5, 0.75, 1.0, 1.25, 1.5] and hist.tolist() == [0, 0, 3, 0]
    hist, edges = graphc.histogram(graphc.tensor([0.0, 3.0, 5.0]), 3, range=(0.0, 3.0))
    assert hist.tolist() == [1, 0, 1]  # the last bin is closed; 5 is outside
    with pytest.raises(graphc.DTypeError):
        graphc.histogram(graphc.tensor([1, 2]), 3)
    with pytest.raises(RuntimeError, match="min should not exceed max"):
        graphc.histogram(graphc.tensor([1.0]), 2, range=(3.0, 1.0))
    with pytest.raises(RuntimeError, match="bins must be > 0"):
        graphc.histogram(graphc.tensor([1.0]), 0)


def test_histogramdd_matches_numpy():
    points = RNG.standard_normal((40, 2))
    result = graphc.histogramdd(graphc.tensor(points), [3, 4], density=True)
    want, want_edges = np.histogramdd(points, [3, 4], density=True)
    assert_close(result.hist, want)
    for got, edges in zip(result.bin_edges, want_edges):
        assert_close(got, edges)
    result = graphc.histogramdd(graphc.tensor(points), 2, range=[-1.0, 1.0, 0.0, 2.0])
    assert_close(result.hist, np.histogramdd(points, 2, range=[(-1, 1), (0, 2)])[0])


def test_histograms_compile():
    x = RNG.standard_normal(30)
    compiled_equals_eager(lambda t: tuple(graphc.histogram(t, 6, density=True)), x)
    compiled_equals_eager(lambda t: graphc.histogramdd(t, [2, 3]).hist, x.reshape(15, 2))


# -- statistics and calculus ----------------------------------------------------------------
def test_corrcoef_matches_numpy_with_gradient_and_compiled():
    assert_close(graphc.corrcoef(graphc.tensor(M)), np.corrcoef(M))
    assert_close(graphc.corrcoef(graphc.tensor([[1, 2, 4], [3, 1, 0]])),
                 np.corrcoef([[1, 2, 4], [3, 1, 0]]), dtype="f32")
    assert graphc.corrcoef(graphc.tensor([1.0, 2.0, 4.0])).item() == 1.0
    check_grad(graphc.corrcoef, [M])
    compiled_equals_eager(graphc.corrcoef, M)


def _cumulative_trapezoid(y, x=None, dx=1.0, axis=-1):
    y = np.moveaxis(y, axis, -1)
    widths = np.diff(x) if x is not None else dx
    return np.moveaxis(np.cumsum((y[..., 1:] + y[..., :-1]) / 2 * widths, -1), -1, axis)


def test_cumulative_trapezoid_matches_numpy():
    y = graphc.tensor(M)
    assert_close(graphc.cumulative_trapezoid(y), _cumulative_trapezoid(M))
    assert_close(graphc.cumulative_trapezoid(y, dx=0.5, dim=0),
                 _cumulative_trapezoid(M, dx=0.5, axis=0))
    assert_close(graphc.cumulative_trapezoid(y, graphc.tensor(XS)), _cumulative_trapezoid(M, XS))
    ints = graphc.cumulative_trapezoid(graphc.tensor([1, 2, 4]))
    assert ints.dtype == graphc.float32 and ints.tolist() == [1.5, 4.5]
    assert graphc.cumulative_trapezoid(graphc.tensor([1.0])).shape == (0,)
    with pytest.raises(graphc.ArgumentError):
        graphc.cumulative_trapezoid(y, graphc.tensor(XS), dx=1.0)
    check_grad(lambda a, b: graphc.cumulative_trapezoid(a, b), [M, XS])
    compiled_equals_eager(lambda a, b: graphc.cumulative_trapezoid(a, b, dim=1), M, XS)


@pytest.mark.parametrize("edge_order", [1, 2])
def test_gradient_matches_numpy(edge_order):
    y = graphc.tensor(M)
    for got, want in zip(graphc.gradient(y, edge_order=edge_order),
                         np.gradient(M, edge_order=edge_order)):
        assert_close(got, want)
    got = graphc.gradient(y, spacing=[2.0, 0.5], edge_order=edge_order)
    for g, w in zip(got, np.gradient(M, 2.0, 0.5, edge_order=edge_order)):
        assert_close(g, w)
    coords = [np.array([0.0, 1.0, 3.0]), XS]
    got = graphc.gradient(y, spacing=[graphc.tensor(c) for c in coords], edge_order=edge_order)
    for g, w in zip(got, np.gradient(M, *coords, edge_order=edge_order)):
        assert_close(g, w)
    (along,) = graphc.gradient(y, spacing=3.0, dim=-1, edge_order=edge_order)
    assert_close(along, np.gradient(M, 3.0, axis=-1, edge_order=edge_order))
    check_grad(lambda a: graphc.gradient(a, spacing=[graphc.tensor(c) for c in coords],
                                         edge_order=edge_order)[1], [M])
    compiled_equals_eager(lambda a: graphc.gradient(a, spacing=2.0, edge_order=edge_order), M)


def test_gradient_errors_and_integer_input():
    (ints,) = graphc.gradient(graphc.tensor([1, 2, 4]))
    assert ints.dtype == graphc.float32 and ints.tolist() == [1.0, 1.5, 2.0]
    with pytest.raises(RuntimeError, match="edge_order"):
        graphc.gradient(graphc.tensor([1.0, 2.0]), edge_order=2)
    with pytest.raises(RuntimeError, match="only supports edge_order"):
        graphc.gradient(graphc.tensor([1.0, 2.0, 3.0]), edge_order=3)
    with pytest.raises(RuntimeError, match="same length"):
        graphc.gradient(graphc.tensor(M), spacing=[1.0], dim=None)


def _nanmedian(a, axis):
    """The lower median of the non-NaN entries along ``axis`` (NaN if none) and its index."""
    a = np.moveaxis(a, axis, -1)
    values, indices = np.full(a.shape[:-1], np.nan), np.zeros(a.shape[:-1], np.int64)
    for i in np.ndindex(a.shape[:-1]):
        row = a[i]
        kept = np.flatnonzero(~np.isnan(row))
        if len(kept):
            order = kept[np.argsort(row[kept], kind="stable")]
            indices[i] = order[(len(kept) - 1) // 2]
            values[i] = row[indices[i]]
    return values, indices


def test_nanmedian_ignores_nan_and_takes_the_lower_median():
    a = np.array([[np.nan, 1.0, 2.0, 7.0], [np.nan] * 4, [3.0, np.nan, 1.0, 0.5],
                  [4.0, 2.0, 3.0, 1.0]])
    for axis in (0, 1):
        values, indices = graphc.nanmedian(graphc.tensor(a), axis)
        want_values, want_indices = _nanmedian(a, axis)
        assert_close(values, want_values)
        assert_close(indices, want_indices)
    kept = a[~np.isnan(a)]
    assert graphc.nanmedian(graphc.tensor(a)).item() == np.sort(kept)[(len(kept) - 1) // 2]
    assert math.isnan(graphc.nanmedian(graphc.tensor([math.nan, math.nan])).item())
    assert graphc.nanmedian(graphc.tensor([1, 5, 3, 2])).item() == 2
    assert graphc.tensor(a).nanmedian(1, keepdim=True).values.shape == (4, 1)
    check_grad(lambda t: graphc.nanmedian(t, 1).values, [a[[0, 2, 3]]])
    check_grad(graphc.nanmedian, [np.array([3.0, np.nan, 1.0, 2.0])])
    compiled_equals_eager(lambda t: tuple(graphc.nanmedian(t, 1)), a)


# -- index arithmetic and products ----------------------------------------------------------
def test_combinations_match_itertools():
    x = np.array([1.5, -2.0, 3.0, 4.0])
    for r, replace in ((2, False), (3, False), (2, True), (4, True)):
        pick = itertools.combinations_with_replacement if replace else itertools.combinations
        want = np.array(list(pick(x, r))).reshape(-1, r)
        assert_close(graphc.combinations(graphc.tensor(x), r, replace), want)
    assert graphc.combinations(graphc.tensor([1, 2, 3]), 0).shape == (0,)
    assert graphc.combinations(graphc.tensor([1, 2, 3]), 4).shape == (0, 4)
    with pytest.raises(RuntimeError, match="1D"):
        graphc.combinations(graphc.tensor([[1, 2]]))
    with pytest.raises(RuntimeError, match="non-negative"):
        graphc.combinations(graphc.tensor([1, 2]), -1)
    check_grad(lambda t: graphc.combinations(t, 2, True), [x])
    compiled_equals_eager(lambda t: graphc.combinations(t, 3), x)


def test_unravel_index_matches_numpy_and_wraps():
    flat = np.array([[0, 5], [4, 3]])
    for got, want in zip(graphc.unravel_index(graphc.tensor(flat), (2, 3)),
                         np.unravel_index(flat, (2, 3))):
        assert got.dtype == graphc.int64
        assert_close(got, want)
    wrapped = graphc.unravel_index(graphc.tensor([-1, 6]), (2, 3))
    assert [t.tolist() for t in wrapped] == [[1, 0], [2, 0]]  # modulo the sizes, as PyTorch
    with pytest.raises(TypeError, match="integer"):
        graphc.unravel_index(graphc.tensor([1.0]), (2, 3))
    with pytest.raises(ValueError, match="negative"):
        graphc.unravel_index(graphc.tensor([1]), (2, -3))
    compiled = graphc.compile(lambda t: graphc.unravel_index(t, (2, 3, 4)))(graphc.tensor(
        [0, 7, 23]))
    assert [c.tolist() for c in compiled] == [list(v) for v in np.unravel_index([0, 7, 23],
                                                                                 (2, 3, 4))]


def test_chain_matmul_and_the_distances_at_the_top_level():
    a, b = RNG.standard_normal((2, 3)), RNG.standard_normal((3, 4))
    assert_close(graphc.chain_matmul(graphc.tensor(a), graphc.tensor(b), graphc.tensor(b.T)),
                 a @ b @ b.T)
    with pytest.raises(RuntimeError, match="expected 2"):
        graphc.chain_matmul(graphc.tensor(a), graphc.tensor([1.0, 2.0, 3.0]))
    check_grad(lambda p, q: graphc.chain_matmul(p, q, q.T), [a, b])
    cos = graphc.cosine_similarity(graphc.tensor(M), graphc.tensor(M + 1.0), dim=1)
    want = (M * (M + 1)).sum(1) / np.linalg.norm(M, axis=1) / np.linalg.norm(M + 1, axis=1)
    assert_close(cos, want)
    assert_close(graphc.pairwise_distance(graphc.tensor(M), graphc.tensor(2 * M)),
                 np.linalg.norm(-M + 1e-6, axis=1))
    rows = [np.linalg.norm(M[i] - M[j]) for i, j in itertools.combinations(range(3), 2)]
    assert_close(graphc.pdist(graphc.tensor(M)), rows)


# -- elementwise ----------------------------------------------------------------------------
def test_frexp_matches_numpy_including_subnormals_and_specials():
    x = np.array([0.0, 8.0, -3.0, np.inf, -np.inf, np.nan, 1e-310, 0.1, -2.0**-1022, 1.5e300,
                  1.0, 0.5, 2.0**52 - 1])
    mantissa, exponent = graphc.frexp(graphc.tensor(x))
    want_m, want_e = np.frexp(x)
    assert_close(mantissa, want_m)
    assert exponent.dtype == graphc.int32
    finite = np.isfinite(x)
    np.testing.assert_array_equal(exponent.numpy()[finite], want_e[finite])
    np.testing.assert_array_equal(exponent.numpy()[~finite], 0)  # PyTorch's 0
    x32 = np.array([1e-40, 3e38, 0.3, -7.0], np.float32)
    m32, e32 = graphc.frexp(graphc.tensor(x32))
    np.testing.assert_array_equal(m32.numpy(), np.frexp(x32)[0])
    np.testing.assert_array_equal(e32.numpy(), np.frexp(x32)[1])
    with pytest.raises(graphc.DTypeError, match="floating-point"):
        graphc.frexp(graphc.tensor([1]))
    check_grad(lambda t: graphc.frexp(t).mantissa, [np.array([0.3, -5.0, 17.0])])
    compiled_equals_eager(lambda t: tuple(graphc.frexp(t)), x[finite])


def test_ldexp_logaddexp2_and_angle_match_numpy():
    x, e = np.array([1.5, -2.0, 0.25]), np.array([3, -4, 10])
    assert_close(graphc.ldexp(graphc.tensor(x), graphc.tensor(e)), np.ldexp(x, e))
    ints = graphc.ldexp(graphc.tensor([1, 2]), graphc.tensor([3, 4]))
    assert ints.dtype == graphc.float32 and ints.tolist() == [8.0, 32.0]
    a = np.array([-np.inf, np.inf, 1.0, 5.0, 2.0, -1000.0])
    b = np.array([-np.inf, np.inf, 3.0, -2.0, 2.0, -1001.0])
    assert_close(graphc.logaddexp2(graphc.tensor(a), graphc.tensor(b)), np.logaddexp2(a, b))
    with pytest.raises(graphc.DTypeError):
        graphc.logaddexp2(graphc.tensor([1]), graphc.tensor([2]))
    check_grad(graphc.logaddexp2, [a[2:], b[2:]])
    check_grad(lambda p, q: graphc.ldexp(p, q), [x, e], wrt=[0])
    compiled_equals_eager(lambda p, q, k: (graphc.logaddexp2(p, q), graphc.ldexp(p, k)),
                          a[2:], b[2:], e[:1])
    v = np.array([-1.0, 0.0, -0.0, 2.0, np.nan])
    # PyTorch's angle(-0.0) is 0 (NumPy's atan2(0, -0.0) gives pi): pi below zero only
    assert_close(graphc.angle(graphc.tensor(v)), np.where(np.isnan(v), v, np.where(
        v < 0, np.pi, 0.0)))
    assert graphc.angle(graphc.tensor([-1, 2])).dtype == graphc.float32
    check_grad(graphc.angle, [np.array([-1.0, 2.0])])


def test_gcd_and_lcm_match_numpy_per_dtype():
    a = np.array([0, -12, 7, 2**62, -2**63, 832040, 13], np.int64)
    b = np.array([0, 18, -21, 3 * 2**40, 0, 514229, 0], np.int64)
    got = graphc.gcd(graphc.tensor(a), graphc.tensor(b))
    np.testing.assert_array_equal(got.numpy(), np.gcd(a, b))  # (gcd(-2**63, 0) wraps)
    small = slice(0, 3)
    np.testing.assert_array_equal(graphc.lcm(graphc.tensor(a[small]), graphc.tensor(
        b[small])).numpy(), np.lcm(a[small], b[small]))
    for dtype in (np.int8, np.int16, np.int32, np.uint8):
        x = RNG.integers(0 if dtype == np.uint8 else -50, 100, 20).astype(dtype)
        y = RNG.integers(0, 100, 20).astype(dtype)
        g = graphc.gcd(graphc.tensor(x), graphc.tensor(y))
        assert g.numpy().dtype == dtype
        np.testing.assert_array_equal(g.numpy(), np.gcd(x, y))
    wrapped = graphc.lcm(graphc.tensor([100], dtype=graphc.int8),
                         graphc.tensor([3], dtype=graphc.int8))
    assert wrapped.tolist() == [44]  # 300 wraps in int8, as PyTorch
    # PyTorch takes |a / gcd * b| in a C++ int, then wraps: lcm(33, 4) = 132 is -124 in int8
    assert graphc.lcm(graphc.tensor([33, -33], dtype=graphc.int8),
                      graphc.tensor([4, 4], dtype=graphc.int8)).tolist() == [-124, -124]
    with pytest.raises(graphc.DTypeError):
        graphc.gcd(graphc.tensor([1.0]), graphc.tensor([2.0]))
    fn = graphc.compile(lambda p, q: (graphc.gcd(p, q), graphc.lcm(p, q)))
    got_g, got_l = fn(graphc.tensor(a[:4]), graphc.tensor(b[:4]))
    np.testing.assert_array_equal(got_g.numpy(), np.gcd(a[:4], b[:4]))
    np.testing.assert_array_equal(got_l.numpy()[:3], np.lcm(a[:3], b[:3]))


def test_nextafter_is_eager_with_a_pass_through_gradient():
    a, b = np.array([1.0, 0.0, 1.0, -2.5]), np.array([2.0, -1.0, 1.0, -3.0])
    assert_close(graphc.nextafter(graphc.tensor(a), graphc.tensor(b)), np.nextafter(a, b))
    a32 = a.astype(np.float32)
    got = graphc.nextafter(graphc.tensor(a32), graphc.tensor(b.astype(np.float32)))
    np.testing.assert_array_equal(got.numpy(), np.nextafter(a32, b.astype(np.float32)))
    apart = [0, 1, 3]  # (where a == b PyTorch's gradient is 0, finite differences' is 1)
    check_grad(lambda p, q: graphc.nextafter(p, q), [a[apart], b[apart]], wrt=[0])
    x = graphc.tensor(a, requires_grad=True)
    graphc.nextafter(x, graphc.tensor(b)).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 0.0, 1.0]
    with pytest.raises(graphc.TraceError, match="nextafter"):
        graphc.compile(graphc.nextafter)(graphc.tensor(a), graphc.tensor(b))


def test_small_predicates_and_positive():
    x = graphc.tensor([1.0, math.nan, -math.inf])
    assert graphc.isreal(x).tolist() == [True, True, True]
    assert graphc.positive(x) is x
    with pytest.raises(RuntimeError, match="bool"):
        graphc.positive(graphc.tensor([True]))
    assert graphc.is_nonzero(graphc.tensor([[2.0]])) and not graphc.tensor([0]).is_nonzero()
    with pytest.raises(RuntimeError, match="no values"):
        graphc.is_nonzero(graphc.tensor([]))
    with pytest.raises(RuntimeError, match="more than one"):
        graphc.is_nonzero(graphc.tensor([1, 2]))


# -- eager only: poisson and frombuffer -----------------------------------------------------
def test_poisson_is_reproducible_with_the_right_mean_and_zero_gradient():
    rates = graphc.tensor([0.0, 1.0, 5.0, 50.0], requires_grad=True)
    graphc.manual_seed(3)
    first = graphc.poisson(rates)
    graphc.manual_seed(3)
    assert graphc.poisson(rates).tolist() == first.tolist()
    assert first.dtype == graphc.float32 and first[0].item() == 0.0
    many = graphc.poisson(graphc.full((20000,), 4.0, dtype=graphc.float64))
    assert abs(many.mean().item() - 4.0) < 5 * math.sqrt(4.0 / 20000)  # 5 standard errors
    assert (many.numpy() == np.round(many.numpy())).all()
    first.sum().backward()
    assert rates.grad.tolist() == [0.0, 0.0, 0.0, 0.0]
    with pytest.raises(RuntimeError, match="non-negative"):
        graphc.poisson(graphc.tensor([-1.0]))
    with pytest.raises(graphc.DTypeError):
        graphc.poisson(graphc.tensor([1]))
    with pytest.raises(graphc.TraceError, match="poisson"):
        graphc.compile(graphc.poisson)(graphc.tensor([1.0]))


def test_frombuffer_shares_a_writable_buffer_and_checks_its_length():
    raw = bytearray(np.arange(6, dtype=np.int16).tobytes())
    t = graphc.frombuffer(raw, dtype=graphc.int16, count=2, offset=4)
    assert t.tolist() == [2, 3]
    raw[4] = 9
    assert t.tolist() == [9, 3]  # the memory is shared, as PyTorch's
    floats = graphc.frombuffer(np.array([1.5, 2.5]).tobytes(), dtype=graphc.float64,
                               requires_grad=True)
    assert floats.tolist() == [1.5, 2.5] and floats.requires_grad
    with pytest.raises(ValueError, match="multiple of element size"):
        graphc.frombuffer(b"\x01\x02\x03", dtype=graphc.int16)
    with pytest.raises(ValueError, match="must not be 0"):
        graphc.frombuffer(b"", dtype=graphc.int16)
    with pytest.raises(ValueError, match="must not be greater"):
        graphc.frombuffer(b"\x01\x02\x03\x04", dtype=graphc.int16, count=3)
    with pytest.raises(ValueError, match="offset"):
        graphc.frombuffer(b"\x01\x02\x03\x04", dtype=graphc.int16, offset=4)
