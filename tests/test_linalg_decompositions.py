"""graphc.linalg's decompositions (qr, eigh, eigvalsh, svd, svdvals, lstsq, pinv, matrix_rank,
cond, the spectral and nuclear norms): values against float64 NumPy, gradients and second
derivatives against finite differences, PyTorch's shapes, errors and edge cases.

Singular vectors and eigenvectors are defined up to sign, so the gradients are checked through
losses that do not depend on it (functions of the singular values, of U diag(S) Vh, of |U|, of
V diag(f(w)) V^T), and eigh's through a symmetrized input (only one triangle is read).
Tolerances: float64 values rtol=1e-12 (1e-10 where a product of factors is rebuilt, or a
pseudoinverse of a condition ~10 matrix is taken); float32 results, computed in float32,
within atol=1e-5 of float64 NumPy for these O(1) matrices (a few float32 ulps times their
norm); finite differences as conftest.check_grad states.
"""
import numpy as np
import pytest

import graphc
from conftest import check_grad
from graphc import linalg

RNG = np.random.default_rng(0)
TALL = RNG.standard_normal((2, 4, 3))
WIDE = RNG.standard_normal((2, 3, 4))
SQUARE = RNG.standard_normal((2, 3, 3))
SYM = SQUARE + np.swapaxes(SQUARE, -1, -2)
RHS = RNG.standard_normal((2, 4, 2))
RANK2 = RNG.standard_normal((4, 2)) @ RNG.standard_normal((2, 3))


def t(array):
    return graphc.tensor(array, dtype=graphc.float64)


def mT(array):
    return np.swapaxes(array, -1, -2)


def test_qr_matches_lapack_and_rebuilds_A():
    for a in (TALL, WIDE):
        for mode in ("reduced", "complete"):
            q, r = linalg.qr(t(a), mode)
            nq, nr = np.linalg.qr(a, mode=mode)
            np.testing.assert_allclose(q.numpy(), nq, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(r.numpy(), nr, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose((q @ r).numpy(), a, rtol=1e-10, atol=1e-14)
            np.testing.assert_array_equal(np.triu(r.numpy()), r.numpy())
    result = linalg.qr(t(TALL), mode="r")
    assert type(result).__name__ == "linalg_qr" and tuple(result.Q.shape) == (0,)
    np.testing.assert_allclose(result.R.numpy(), np.linalg.qr(TALL, mode="r"), rtol=1e-12)


def test_eigh_reads_one_triangle_and_rebuilds_A():
    w, v = linalg.eigh(t(SYM))
    np.testing.assert_allclose(w.numpy(), np.linalg.eigvalsh(SYM), rtol=1e-12)
    np.testing.assert_allclose((v * w.unsqueeze(-2) @ v.mT).numpy(), SYM, rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose((v.mT @ v).numpy(), np.broadcast_to(np.eye(3), SYM.shape),
                               atol=1e-12)
    # the other triangle is not read: garbage there changes nothing
    lower_only = np.tril(SYM) + np.triu(np.full((3, 3), 99.0), 1)
    np.testing.assert_allclose(linalg.eigvalsh(t(lower_only)).numpy(),
                               np.linalg.eigvalsh(SYM), rtol=1e-12)
    upper_only = np.triu(SYM) + np.tril(np.full((3, 3), -7.0), -1)
    np.testing.assert_allclose(linalg.eigh(t(upper_only), UPLO="U").eigenvalues.numpy(),
                               np.linalg.eigvalsh(SYM), rtol=1e-12)
    x = t(SYM).requires_grad_()  # (the eigenvectors are computed for the gradient: same values)
    np.testing.assert_allclose(linalg.eigvalsh(x).detach().numpy(), w.numpy(), rtol=1e-15)


def test_svd_matches_numpy_and_rebuilds_A():
    for a in (TALL, WIDE):
        u, s, vh = linalg.svd(t(a), full_matrices=False)
        np.testing.assert_allclose(s.numpy(), np.linalg.svd(a, compute_uv=False), rtol=1e-12)
        np.testing.assert_allclose((u * s.unsqueeze(-2) @ vh).numpy(), a, rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(linalg.svdvals(t(a)).numpy(), s.numpy(), rtol=1e-15)
        full = linalg.svd(t(a))
        m, n = a.shape[-2:]
        assert type(full).__name__ == "linalg_svd"
        assert full.U.shape == (2, m, m) and full.Vh.shape == (2, n, n)
        for q in (full.U.numpy(), full.Vh.numpy()):
            np.testing.assert_allclose(mT(q) @ q, np.broadcast_to(np.eye(q.shape[-1]), q.shape),
                                       atol=1e-12)
    legacy = graphc.svd(t(TALL))
    u, s, vh = linalg.svd(t(TALL), full_matrices=False)
    np.testing.assert_array_equal(legacy.V.numpy(), mT(vh.numpy()))  # V, not Vh
    no_uv = graphc.svd(t(TALL), compute_uv=False)
    assert no_uv.U.shape == (2, 4, 4) and not no_uv.U.numpy().any() and no_uv.V.shape == (2, 3, 3)
    np.testing.assert_array_equal(t(TALL).svd().S.numpy(), s.numpy())


def test_float32_is_computed_in_float32():
    a32 = TALL.astype(np.float32)
    for name, fn, want in (
            ("svdvals", linalg.svdvals, np.linalg.svd(TALL, compute_uv=False)),
            ("eigvalsh", lambda x: linalg.eigvalsh(x + x.mT), np.linalg.eigvalsh(
                a32.astype(np.float64)[:, :3] + mT(a32.astype(np.float64)[:, :3]))),
            ("pinv", linalg.pinv, np.linalg.pinv(a32.astype(np.float64)))):
        x = graphc.tensor(a32[:, :3] if name == "eigvalsh" else a32)
        got = fn(x)
        assert got.dtype == graphc.float32, name
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5, err_msg=name)
    q, r = linalg.qr(graphc.tensor(a32))
    assert q.dtype == r.dtype == graphc.float32
    np.testing.assert_allclose((q @ r).numpy(), a32, atol=1e-5)


def test_pinv_lstsq_rank_cond_and_norms_match_numpy():
    for a in (TALL, WIDE, RANK2):
        np.testing.assert_allclose(linalg.pinv(t(a)).numpy(), np.linalg.pinv(a), rtol=1e-10,
                                   atol=1e-12)
    np.testing.assert_allclose(linalg.pinv(t(SYM), hermitian=True).numpy(),
                               np.linalg.pinv(SYM), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(graphc.pinverse(t(SQUARE)).numpy(), np.linalg.inv(SQUARE),
                               rtol=1e-10)
    assert linalg.matrix_rank(t(RANK2)).item() == 2 and linalg.matrix_rank(t(RANK2)).dtype \
        == graphc.int64
    np.testing.assert_array_equal(linalg.matrix_rank(t(np.stack([RANK2, RANK2 * 1e-20])),
                                                     atol=1e-12).numpy(), [2, 0])
    assert linalg.matrix_rank(t(SYM[0]), hermitian=True).item() == np.linalg.matrix_rank(SYM[0])
    for a, b in ((TALL[0], RHS[0]), (RANK2, RHS[0]), (WIDE[0], RHS[0, :3])):
        want, residuals, rank, values = np.linalg.lstsq(a, b, rcond=None)
        got = linalg.lstsq(t(a), t(b), driver="gelsd")
        np.testing.assert_allclose(got.solution.numpy(), want, rtol=1e-10, atol=1e-12)
        assert got.rank.item() == rank
        np.testing.assert_allclose(got.singular_values.numpy(), values, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got.residuals.numpy(), residuals, rtol=1e-10)
    default = linalg.lstsq(t(TALL), t(RHS))  # gelsy: no residuals, no singular values
    assert default.residuals.shape == (0,) and default.singular_values.shape == (0,)
    np.testing.assert_array_equal(default.rank.numpy(), [3, 3])
    vector = linalg.lstsq(t(TALL), t(RHS[..., 0])).solution
    np.testing.assert_allclose(vector.numpy(), linalg.lstsq(t(TALL), t(RHS)).solution[..., 0]
                               .numpy(), rtol=1e-12)
    for p in (None, 2, -2, "fro", "nuc", np.inf, -np.inf, 1, -1):
        np.testing.assert_allclose(linalg.cond(t(SQUARE), p).numpy(), np.linalg.cond(SQUARE, p),
                                   rtol=1e-10, err_msg=str(p))
    np.testing.assert_allclose(linalg.cond(t(TALL)).numpy(), np.linalg.cond(TALL), rtol=1e-10)
    assert linalg.cond(t(np.zeros((3, 3))), 1).item() == np.inf
    for ord in ("nuc", 2, -2):
        np.testing.assert_allclose(linalg.matrix_norm(t(TALL), ord).numpy(),
                                   np.linalg.norm(TALL, ord, axis=(-2, -1)), rtol=1e-12)
        np.testing.assert_allclose(linalg.norm(t(TALL[0]), ord).item(),
                                   np.linalg.norm(TALL[0], ord), rtol=1e-12)
    np.testing.assert_allclose(graphc.norm(t(TALL[0]), p="nuc").item(),
                               np.linalg.norm(TALL[0], "nuc"), rtol=1e-12)
    kept = linalg.matrix_norm(t(TALL), 2, dim=(0, 2), keepdim=True)
    np.testing.assert_allclose(kept.numpy(), np.linalg.norm(TALL, 2, axis=(0, 2),
                                                            keepdims=True), rtol=1e-12)


def test_empty_batches_and_0x0_matrices():
    assert [tuple(x.shape) for x in linalg.svd(t(np.zeros((0, 3))))] == [(0, 0), (0,), (3, 3)]
    assert [tuple(x.shape) for x in linalg.eigh(t(np.zeros((2, 0, 0))))] == [(2, 0), (2, 0, 0)]
    assert [tuple(x.shape) for x in linalg.qr(t(np.zeros((0, 4, 3))))] == [(0, 4, 3), (0, 3, 3)]
    assert linalg.pinv(t(np.zeros((2, 0, 3)))).shape == (2, 3, 0)
    assert linalg.matrix_rank(t(np.zeros((0, 3)))).item() == 0
    assert linalg.cond(t(np.zeros((0, 0)))).item() == 0.0




def _svd_loss(a):
    u, s, vh = linalg.svd(a, full_matrices=False)
    return graphc.cat([u.abs().flatten(), s.flatten(), (vh.abs() * 2).flatten()])


def _eigh_loss(a):
    w, v = linalg.eigh((a + a.mT) / 2)
    return graphc.cat([(v * (w ** 3).unsqueeze(-2) @ v.mT).flatten(), v.abs().flatten()])


@pytest.mark.parametrize("name, fn, inputs", [
    ("qr_tall", lambda a: graphc.cat([x.flatten() for x in linalg.qr(a)]), [TALL]),
    ("qr_wide", lambda a: graphc.cat([x.flatten() for x in linalg.qr(a)]), [WIDE]),
    ("qr_complete_wide", lambda a: linalg.qr(a, "complete").Q, [WIDE]),
    ("eigh", _eigh_loss, [SYM]),
    ("eigvalsh_upper", lambda a: linalg.eigvalsh((a + a.mT) / 2, UPLO="U"), [SYM]),
    ("svd_tall", _svd_loss, [TALL]),
    ("svd_wide", _svd_loss, [WIDE]),
    ("svd_full_tall", lambda a: linalg.svd(a).U[..., :3].abs(), [TALL]),
    ("svdvals", linalg.svdvals, [WIDE]),
    ("pinv_tall", linalg.pinv, [TALL]),
    ("pinv_wide", linalg.pinv, [WIDE]),
    ("pinv_hermitian", lambda a: linalg.pinv((a + a.mT) / 2, hermitian=True), [SYM]),
    ("lstsq", lambda a, b: linalg.lstsq(a, b).solution, [TALL, RHS]),
    ("lstsq_wide_vector", lambda a, b: linalg.lstsq(a, b).solution, [WIDE, RHS[:, :3, 0]]),
    ("cond", linalg.cond, [TALL]),
    ("cond_inf", lambda a: linalg.cond(a, np.inf), [SQUARE]),
    ("matrix_norm_nuc", lambda a: linalg.matrix_norm(a, "nuc"), [WIDE]),
])
def test_gradients_and_second_derivatives_match_finite_differences(name, fn, inputs):
    check_grad(fn, inputs)

    def gradient_norm(*xs):  # a function of the first derivative: its gradient is the second
        with graphc.enable_grad():
            leaves = [x if x.requires_grad else x.detach().requires_grad_() for x in xs]
            out = fn(*leaves)
            weights = graphc.tensor(np.linspace(-1, 1, out.numel()).reshape(tuple(out.shape)))
            grads = graphc.autograd.grad((out * weights).sum(), leaves, create_graph=True)
            return sum((g * g).sum() for g in grads)

    check_grad(gradient_norm, inputs)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="linalg.eigh: A must be a batch of square"):
        linalg.eigh(t(np.ones((2, 3))))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        linalg.svd(t(np.ones(3)))
    for fn in (linalg.svd, linalg.qr, linalg.eigh, linalg.pinv, linalg.svdvals):
        with pytest.raises(TypeError, match="expected a floating point tensor, got"):
            fn(graphc.tensor([[1, 2], [3, 4]]))
    with pytest.raises(graphc.TraceError, match="linalg.svd is not supported inside a compiled"):
        graphc.compile(lambda a: linalg.svd(a).S)(t(TALL))
    with pytest.raises(graphc.TraceError, match="linalg.svdvals"):
        graphc.compile(lambda a: linalg.matrix_norm(a, "nuc"))(t(TALL))
    for name in ("eig", "eigvals"):
        with pytest.raises(AttributeError, match="complex tensors, and graphc has no complex"):
            getattr(linalg, name)
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        linalg.nothing  # noqa: B018
    x = t(TALL).requires_grad_()
    with pytest.raises(graphc.errors.AutogradError, match="not computed when mode='r'"):
        linalg.qr(x, mode="r").R.sum().backward()
    with pytest.raises(graphc.errors.AutogradError, match="mode='complete' and nrows > ncols"):
        linalg.qr(x, mode="complete").Q.sum().backward()
    with pytest.raises(ValueError, match="mode must be"):
        linalg.qr(x, mode="full")
    with pytest.raises(ValueError, match="UPLO must be"):
        linalg.eigh(t(SYM), UPLO="X")
    with pytest.raises(ValueError, match="driver must be one of"):
        linalg.lstsq(t(TALL), t(RHS), driver="gelsx")
    with pytest.raises(ValueError, match=r"B of shape \[2, 3, 2\] does not match A"):
        linalg.lstsq(t(TALL), t(RHS[:, :3]))
    with pytest.raises(linalg.LinAlgError, match="does not have full rank"):
        linalg.lstsq(t(RANK2), t(RHS[0]), driver="gels")
    with pytest.raises(linalg.LinAlgError, match="linalg.svd"):
        linalg.svd(t(np.full((2, 2), np.nan)))
    with pytest.raises(ValueError, match="p must be one of"):
        linalg.cond(t(SQUARE), 3)
    with pytest.raises(ValueError, match="square"):
        linalg.cond(t(TALL), "fro")
    with pytest.raises(graphc.errors.ShapeError, match="order 3 is not supported"):
        linalg.matrix_norm(t(SQUARE), 3)


def test_legacy_spellings_and_methods():
    q, r = graphc.qr(t(TALL), some=False)
    assert q.shape == (2, 4, 4) and r.shape == (2, 4, 3)
    assert type(t(TALL).qr()).__name__ == "qr"
    np.testing.assert_allclose(t(SQUARE).pinverse().numpy(), np.linalg.inv(SQUARE), rtol=1e-10)
    assert "svd" in graphc.__all__ and "pinverse" in graphc.__all__ and "svd" in linalg.__all__


def test_repeated_singular_values_and_eigenvalues_give_pytorchs_finite_gradients():
    # the unused outputs' gradients are None, not zeros divided by the zero gaps (NaN)
    x = t(np.eye(3)).requires_grad_()
    (g,) = graphc.autograd.grad(linalg.svdvals(x).sum(), x)
    np.testing.assert_array_equal(g.numpy(), np.eye(3))
    (g,) = graphc.autograd.grad(linalg.eigvalsh(x).sum(), x)
    np.testing.assert_allclose(g.numpy(), np.eye(3), atol=1e-15)
    (g,) = graphc.autograd.grad(linalg.pinv(x).sum(), x)  # PyTorch's pinv_backward: no gaps
    np.testing.assert_allclose(g.numpy(), -np.ones((3, 3)), rtol=1e-12)
