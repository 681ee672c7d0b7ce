"""graphc.linalg's triangular solvers, checked factorizations, LU, matrix_exp and composites
(solve_triangular, triangular_solve, cholesky_ex, inv_ex, cholesky_solve, cholesky_inverse,
lu_factor(_ex), lu, lu_solve, lu_unpack, matrix_exp, cross, diagonal, vander, tensorinv,
tensorsolve, householder_product): values against float64 NumPy (and scipy.linalg where the
test extra installs it), batches, empty batches, singular matrices and their ``info``,
gradients and second derivatives against finite differences.

Tolerances: float64 values rtol=1e-10 (substitutions and Padé: a few ulps times n); float32
values rtol=1e-4 against the float64 reference (well-conditioned inputs); finite differences
as conftest.check_grad states.
"""
import numpy as np
import pytest

import graphc
from conftest import check_grad
from graphc import linalg

RNG = np.random.default_rng(27)
A = RNG.standard_normal((2, 4, 4))
B = RNG.standard_normal((2, 4, 3))
LOW = np.tril(A) + 4 * np.eye(4)  # well-conditioned triangular
SPD = A @ np.swapaxes(A, -1, -2) + 4 * np.eye(4)
TALL, WIDE = RNG.standard_normal((2, 5, 3)), RNG.standard_normal((2, 3, 5))
A3, B3, LOW3 = A[:1, :3, :3], B[:1, :3, :2], LOW[:1, :3, :3]  # (small: fast finite differences)


def t(array):
    return graphc.tensor(array, dtype=graphc.float64)


def close(x, y, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(x.numpy() if hasattr(x, "numpy") else x, y, rtol=rtol, atol=atol)


def test_solve_triangular_and_triangular_solve_match_numpy():
    garbage = LOW + np.triu(RNG.standard_normal((4, 4)), 1)  # the other triangle is not read
    close(linalg.solve_triangular(t(garbage), t(B), upper=False), np.linalg.solve(LOW, B))
    upper = np.swapaxes(LOW, -1, -2)
    close(linalg.solve_triangular(t(upper), t(B), upper=True), np.linalg.solve(upper, B))
    unit = np.tril(LOW, -1) + np.eye(4)
    close(linalg.solve_triangular(t(LOW), t(B), upper=False, unitriangular=True),
          np.linalg.solve(unit, B))
    right = RNG.standard_normal((2, 3, 4))
    close(linalg.solve_triangular(t(LOW), t(right), upper=False, left=False),
          right @ np.linalg.inv(LOW))
    close(linalg.solve_triangular(t(LOW[0]), t(B), upper=False), np.linalg.solve(LOW[0], B))
    x, coefficient = graphc.triangular_solve(t(B), t(upper), transpose=True)
    close(x, np.linalg.solve(LOW, B))
    close(coefficient, upper)
    assert type(graphc.triangular_solve(t(B), t(upper))).__name__ == "triangular_solve"
    singular = np.diag([1.0, 0.0, 2.0])
    assert not np.isfinite(linalg.solve_triangular(t(singular), t(np.ones((3, 1))),
                                                   upper=True).numpy()).all()
    assert linalg.solve_triangular(t(np.zeros((0, 3, 3))), t(np.zeros((0, 3, 2))),
                                   upper=True).shape == (0, 3, 2)


def test_solve_triangular_errors():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        linalg.solve_triangular(t(LOW[0]), t(np.ones(4)), upper=False)
    with pytest.raises(ValueError, match="square matrices"):
        linalg.solve_triangular(t(TALL), t(B), upper=False)
    with pytest.raises(TypeError, match="same dtype"):
        linalg.solve_triangular(t(LOW), graphc.tensor(B, dtype=graphc.float32), upper=False)
    with pytest.raises(ValueError, match="does not match A"):
        linalg.solve_triangular(t(LOW), t(TALL), upper=False)


def test_cholesky_ex_inv_ex_and_their_infos():
    low, info = linalg.cholesky_ex(t(SPD))
    close(low, np.linalg.cholesky(SPD))
    assert info.dtype == graphc.int32 and info.tolist() == [0, 0]
    close(linalg.cholesky_ex(t(SPD), upper=True).L, np.swapaxes(np.linalg.cholesky(SPD), -1, -2))
    bad = np.array([[4.0, 2.0, 1.0], [2.0, 1.0, 3.0], [1.0, 3.0, 5.0]])  # minor 2 is singular
    batch = np.stack([np.eye(3) * 4, bad])
    low, info = linalg.cholesky_ex(t(batch))
    assert info.tolist() == [0, 2]
    close(low[0], 2 * np.eye(3))
    close(low[1], [[2.0, 0, 0], [1.0, 0, 0], [0.5, 3.0, 5.0]])  # LAPACK's potf2 partial result
    with pytest.raises(linalg.LinAlgError, match=r"\(Batch element 1\).*minor of order 2"):
        linalg.cholesky_ex(t(batch), check_errors=True)
    inverse, info = linalg.inv_ex(t(A))
    close(inverse, np.linalg.inv(A), rtol=1e-9)
    assert info.dtype == graphc.int32 and info.tolist() == [0, 0]
    singular = np.stack([np.array([[1.0, 2.0], [2.0, 4.0]]), np.zeros((2, 2)), np.eye(2)])
    inverse, info = linalg.inv_ex(t(singular))
    assert info.tolist() == [2, 1, 0]
    close(inverse[2], np.eye(2))
    assert not np.isfinite(inverse[0].numpy()).all()
    with pytest.raises(linalg.LinAlgError, match="diagonal element 2 is zero"):
        linalg.inv_ex(t(singular[0]), check_errors=True)
    assert linalg.inv_ex(t(np.zeros((0, 2, 2)))).info.shape == (0,)


def test_cholesky_ex_and_inv_ex_gradients_where_defined():
    a = graphc.tensor(np.stack([np.eye(2), np.array([[1.0, 2.0], [2.0, 1.0]])]),
                      requires_grad=True)
    linalg.cholesky_ex(a).L.sum().backward()
    assert np.isfinite(a.grad.numpy()).all() and not a.grad[1].numpy().any()
    check_grad(lambda x: linalg.inv_ex(x).inverse, [A])


def test_cholesky_solve_and_inverse_match_numpy():
    low = np.linalg.cholesky(SPD)
    close(graphc.cholesky_solve(t(B), t(low)), np.linalg.solve(SPD, B), rtol=1e-9)
    close(graphc.cholesky_solve(t(B), t(np.swapaxes(low, -1, -2)), upper=True),
          np.linalg.solve(SPD, B), rtol=1e-9)
    close(graphc.cholesky_inverse(t(low)), np.linalg.inv(SPD), rtol=1e-9)
    close(graphc.cholesky_inverse(t(np.swapaxes(low, -1, -2)), upper=True),
          np.linalg.inv(SPD), rtol=1e-9)
    close(t(B).cholesky_solve(t(low)), np.linalg.solve(SPD, B), rtol=1e-9)  # Tensor methods
    close(t(low).cholesky_inverse(), np.linalg.inv(SPD), rtol=1e-9)
    close(t(B).triangular_solve(t(low), upper=False).solution, np.linalg.solve(low, B))
    close(t(0.1 * A).matrix_exp(), linalg.matrix_exp(t(0.1 * A)).numpy())


def test_lu_factor_matches_scipy_and_lapacks_pivots():
    scipy_linalg = pytest.importorskip("scipy.linalg")  # (the test extra installs scipy)
    for matrix in (A[0], TALL[0], WIDE[0]):
        LU, pivots = linalg.lu_factor(t(matrix))
        if matrix.shape[0] == matrix.shape[1]:
            lu_ref, piv_ref = scipy_linalg.lu_factor(matrix)
            close(LU, lu_ref)
            assert pivots.tolist() == (piv_ref + 1).tolist() and pivots.dtype == graphc.int32
        P, L, U = linalg.lu(t(matrix))
        p_ref, l_ref, u_ref = scipy_linalg.lu(matrix)
        close(P, p_ref)
        close(L, l_ref)
        close(U, u_ref)
        P2, L2, U2 = graphc.lu_unpack(LU, pivots)
        close(P2, p_ref)
        close(L2, l_ref)
        close(U2, u_ref)


def test_lu_batches_singular_matrices_and_errors():
    P, L, U = linalg.lu(t(A))
    close(P.numpy() @ L.numpy() @ U.numpy(), A)
    singular = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 2.0], [1.0, 1.0, 1.0]])
    LU, pivots, info = linalg.lu_factor_ex(t(np.stack([singular, np.eye(3)])))
    close(LU[0], [[1.0, 1.0, 1.0], [0.0, 0.0, 2.0], [0.0, 0.0, 1.0]])
    assert pivots.tolist() == [[3, 2, 3], [1, 2, 3]] and info.tolist() == [2, 0]
    with pytest.raises(RuntimeError, match=r"\(Batch element 0\): U\[1,1\] is zero"):
        linalg.lu_factor_ex(t(np.stack([singular, np.eye(3)])), check_errors=True)
    with pytest.raises(NotImplementedError, match="without pivoting"):
        linalg.lu(t(A), pivot=False)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        linalg.lu_factor(t(np.ones(3)))
    empty = linalg.lu(t(np.zeros((0, 3, 2))))
    assert [list(x.shape) for x in empty] == [[0, 3, 3], [0, 3, 2], [0, 2, 2]]
    P, L, U = graphc.lu_unpack(t(np.eye(3)), graphc.tensor([1, 1, 1], dtype=graphc.int32),
                               unpack_data=False)
    close(P, [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])  # the swaps in order
    assert L.shape == (0,) and U.shape == (0,)


def test_lu_solve_matches_numpy():
    LU, pivots = linalg.lu_factor(t(A))
    close(linalg.lu_solve(LU, pivots, t(B)), np.linalg.solve(A, B), rtol=1e-9)
    close(linalg.lu_solve(LU, pivots, t(B), adjoint=True),
          np.linalg.solve(np.swapaxes(A, -1, -2), B), rtol=1e-9)
    right = np.swapaxes(B, -1, -2)
    close(linalg.lu_solve(LU, pivots, t(right), left=False), right @ np.linalg.inv(A), rtol=1e-9)
    close(linalg.lu_solve(LU, pivots, t(right), left=False, adjoint=True),
          right @ np.linalg.inv(np.swapaxes(A, -1, -2)), rtol=1e-9)
    with pytest.raises(TypeError, match="int32"):
        linalg.lu_solve(LU, graphc.tensor(pivots.numpy().astype(np.int64)), t(B))


def test_matrix_exp_matches_scipy_and_series():
    small = 0.1 * A[0]
    series = sum(np.linalg.matrix_power(small, k) / np.prod(np.arange(1, k + 1))
                 for k in range(25))
    close(linalg.matrix_exp(t(small)), series, rtol=1e-13)
    scipy_linalg = pytest.importorskip("scipy.linalg")
    big = np.stack([10 * A[0], A[1], np.zeros((4, 4))])  # scaled and squared per matrix
    expected = np.stack([scipy_linalg.expm(m) for m in big])
    close(linalg.matrix_exp(t(big)), expected, rtol=1e-10)
    close(graphc.matrix_exp(graphc.tensor(A, dtype=graphc.float32)),
          np.stack([scipy_linalg.expm(m) for m in A]), rtol=1e-4, atol=1e-5)
    assert graphc.matrix_exp(graphc.tensor(A, dtype=graphc.float32)).dtype == graphc.float32
    assert linalg.matrix_exp(t(np.zeros((0, 2, 2)))).shape == (0, 2, 2)
    assert np.isnan(linalg.matrix_exp(t(np.array([[np.inf, 0.0], [0.0, 1.0]]))).numpy()).all()


def test_composites_match_numpy():
    u, v = RNG.standard_normal((2, 4, 3))
    close(linalg.cross(t(u), t(v)), np.cross(u, v))
    close(linalg.cross(t(u.T), t(v.T), dim=0), np.cross(u, v).T)
    with pytest.raises(ValueError, match="same number of dimensions"):
        linalg.cross(t(u), t(v[0]))
    close(linalg.diagonal(t(A), offset=1), np.diagonal(A, 1, -2, -1))
    x = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]])
    close(linalg.vander(t(x)), np.stack([np.vander(r, increasing=True) for r in x]))
    close(linalg.vander(t(x), N=5), np.stack([np.vander(r, 5, increasing=True) for r in x]))
    close(graphc.vander(t(x[0])), np.vander(x[0]))
    close(graphc.vander(t(x[0]), N=4, increasing=True), np.vander(x[0], 4, increasing=True))
    assert graphc.vander(t(x[0]), N=0).shape == (3, 0)
    ints = linalg.vander(graphc.tensor([2, 3], dtype=graphc.int32))
    assert ints.dtype == graphc.int64 and ints.tolist() == [[1, 2], [1, 3]]
    with pytest.raises(ValueError, match="greater than 1"):
        linalg.vander(t(x), N=1)
    with pytest.raises(ValueError, match="one-dimensional"):
        graphc.vander(t(x))
    four = RNG.standard_normal((2, 3, 6))
    close(linalg.tensorinv(t(four), ind=2), np.linalg.tensorinv(four, ind=2), rtol=1e-9)
    rhs = RNG.standard_normal((2, 3))
    close(linalg.tensorsolve(t(four), t(rhs)), np.linalg.tensorsolve(four, rhs), rtol=1e-9)
    moved = np.moveaxis(four, -1, 0)  # dims=(0,) moves it back to the end
    close(linalg.tensorsolve(t(moved), t(rhs), dims=(0,)), np.linalg.tensorsolve(four, rhs),
          rtol=1e-9)
    with pytest.raises(ValueError, match="strictly positive"):
        linalg.tensorinv(t(four), ind=0)


def test_householder_product_rebuilds_lapacks_q():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    qr_raw, tau = scipy_linalg.qr(TALL[0], mode="raw")[0]
    q_ref = scipy_linalg.qr(TALL[0], mode="economic")[0]
    close(linalg.householder_product(t(qr_raw), t(tau)), q_ref)
    close(linalg.householder_product(t(qr_raw), t(tau[:1])),
          (np.eye(5) - tau[0] * np.outer(np.r_[1, qr_raw[1:, 0]], np.r_[1, qr_raw[1:, 0]]))[:, :3])
    with pytest.raises(ValueError, match="greater than or equal"):
        linalg.householder_product(t(WIDE[0]), t(tau))


def _unit_lower(a):
    return graphc.tril(a, -1) + graphc.eye(a.shape[-1], dtype=a.dtype)


@pytest.mark.parametrize("name, fn, inputs", [
    ("solve_triangular", lambda a, b: linalg.solve_triangular(a, b, upper=False), [LOW, B]),
    ("solve_triangular upper right unit", lambda a, b: linalg.solve_triangular(
        a, b, upper=True, left=False, unitriangular=True), [np.swapaxes(LOW3, -1, -2),
                                                            np.swapaxes(B3, -1, -2)]),
    ("triangular_solve transpose", lambda a, b: graphc.triangular_solve(
        b, a, upper=False, transpose=True).solution, [LOW3, B3]),
    ("cholesky_ex", lambda s: linalg.cholesky_ex((s + s.mT) / 2).L, [SPD]),
    ("cholesky_solve (lower triangle of L)", lambda b, low: graphc.cholesky_solve(
        b, graphc.tril(low)), [B3, LOW3]),
    ("cholesky_inverse upper", lambda up: graphc.cholesky_inverse(graphc.triu(up), upper=True),
     [np.swapaxes(LOW, -1, -2)]),
    ("lu square", lambda a: graphc.cat([x.flatten() for x in linalg.lu(a)[1:]]), [A]),
    ("lu wide", lambda a: graphc.cat([x.flatten() for x in linalg.lu(a)[1:]]), [WIDE]),
    ("lu tall", lambda a: graphc.cat([x.flatten() for x in linalg.lu(a)[1:]]), [TALL]),
    ("lu tall, U only", lambda a: linalg.lu(a).U, [TALL]),
    ("lu wide, L only", lambda a: linalg.lu(a).L, [WIDE]),
    ("lu_factor", lambda a: linalg.lu_factor(a).LU, [A]),
    ("lu_solve", lambda a, b: linalg.lu_solve(*linalg.lu_factor(a), b), [A3, B3]),
    ("lu_solve adjoint right", lambda a, b: linalg.lu_solve(
        *linalg.lu_factor(a), b, adjoint=True, left=False), [A3, np.swapaxes(B3, -1, -2)]),
    ("lu_unpack", lambda lu: graphc.cat([x.flatten() for x in graphc.lu_unpack(
        lu, graphc.tensor([[2, 2, 3, 4], [1, 3, 3, 4]], dtype=graphc.int32))[1:]]), [A]),
    ("matrix_exp", linalg.matrix_exp, [A]),
    ("tensorinv", lambda a: linalg.tensorinv(a.reshape(2, 2, 4), ind=2), [A[0]]),
    ("tensorsolve", lambda a, b: linalg.tensorsolve(a.reshape(4, 2, 2), b), [A[0], B[0, :, 0]]),
    ("householder_product", linalg.householder_product, [TALL[:1], TALL[:1, 0, :2]]),
    ("vander", lambda x: linalg.vander(x, N=4), [np.array([[0.0, 1.5, -2.0]])]),
])
def test_gradients_and_second_derivatives_match_finite_differences(name, fn, inputs):
    check_grad(fn, inputs)

    def gradient_norm(*xs):  # a function of the first derivative: its gradient is the second
        with graphc.enable_grad():  # (check_grad's finite differences run under no_grad)
            leaves = [x if x.requires_grad else x.detach().requires_grad_() for x in xs]
            grads = graphc.autograd.grad(fn(*leaves).sum(), leaves, create_graph=True)
            return sum((g * g).sum() for g in grads)

    check_grad(gradient_norm, inputs)


def test_float32_is_computed_in_float32():
    for fn in (lambda a: linalg.solve_triangular(a, a, upper=True), linalg.matrix_exp,
               lambda a: linalg.lu(a).U, lambda a: linalg.inv_ex(a).inverse,
               lambda a: graphc.cholesky_inverse(a)):
        out = fn(graphc.tensor(LOW[0] / 4, dtype=graphc.float32))
        assert out.dtype == graphc.float32
        close(out, fn(t(LOW[0] / 4)).numpy(), rtol=1e-4, atol=1e-5)


def test_compiled_refuses_the_lapack_ones_and_compiles_the_composites():
    for fn in (lambda a: linalg.solve_triangular(a, a, upper=True),
               lambda a: linalg.lu_factor(a).LU, lambda a: linalg.inv_ex(a).inverse,
               lambda a: linalg.cholesky_ex(a).L, lambda a: graphc.cholesky_inverse(a)):
        with pytest.raises(graphc.TraceError, match="not supported inside a compiled"):
            graphc.compile(fn)(t(LOW))
    for fn, args in ((lambda u, v: linalg.cross(u, v), (A[..., :3], B)),
                     (lambda a: linalg.diagonal(a, offset=-1), (A,)),
                     (lambda x: linalg.vander(x, N=3), (B,)),
                     (lambda x: graphc.vander(x, increasing=False), (B[0, 0],)),
                     (linalg.matrix_exp, (A,)),  # traced: a Taylor composite, not Padé
                     (linalg.householder_product, (TALL, TALL[:, 0, :2]))):
        tensors = [t(a) for a in args]
        np.testing.assert_allclose(graphc.compile(fn)(*tensors).numpy(), fn(*tensors).numpy(),
                                   rtol=1e-12, atol=1e-14)
