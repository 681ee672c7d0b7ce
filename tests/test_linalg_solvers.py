"""graphc.linalg's inverses, determinants and solvers: values against float64 NumPy, gradients
(and second derivatives) against finite differences, PyTorch's errors and edge cases.
Tolerances: float64 values rtol=1e-12; finite differences as conftest.check_grad states."""
import numpy as np
import pytest

import graphc
from conftest import check_grad
from graphc import linalg

RNG = np.random.default_rng(0)
A = RNG.standard_normal((2, 3, 3))
B = RNG.standard_normal((2, 3, 2))
SPD = A @ np.swapaxes(A, -1, -2) + 3 * np.eye(3)


def t(array):
    return graphc.tensor(array, dtype=graphc.float64)


def test_values_match_numpy():
    np.testing.assert_allclose(linalg.inv(t(A)).numpy(), np.linalg.inv(A), rtol=1e-12)
    np.testing.assert_allclose(linalg.det(t(A)).numpy(), np.linalg.det(A), rtol=1e-12)
    sign, logabs = linalg.slogdet(t(A))
    np.testing.assert_allclose(sign.numpy() * np.exp(logabs.numpy()), np.linalg.det(A),
                               rtol=1e-12)
    np.testing.assert_allclose(linalg.solve(t(A), t(B)).numpy(), np.linalg.solve(A, B),
                               rtol=1e-12)
    vector = B[..., 0]
    np.testing.assert_allclose(linalg.solve(t(A), t(vector)).numpy(),
                               np.linalg.solve(A, vector[..., None])[..., 0], rtol=1e-12)
    np.testing.assert_allclose(linalg.cholesky(t(SPD)).numpy(), np.linalg.cholesky(SPD),
                               rtol=1e-12)
    np.testing.assert_allclose(linalg.matrix_power(t(A), 5).numpy(),
                               np.linalg.matrix_power(A, 5), rtol=1e-12)
    np.testing.assert_allclose(linalg.matrix_power(t(A), -2).numpy(),
                               np.linalg.matrix_power(np.linalg.inv(A), 2), rtol=1e-10)
    np.testing.assert_array_equal(linalg.matrix_power(t(A), 0).numpy(), np.broadcast_to(
        np.eye(3), A.shape))
    chain = [RNG.standard_normal(s) for s in ((4,), (4, 7), (7, 2), (2,))]
    np.testing.assert_allclose(linalg.multi_dot([t(c) for c in chain]).numpy(),
                               np.linalg.multi_dot(chain), rtol=1e-12)
    assert graphc.logdet(t(-np.eye(3))).item() != graphc.logdet(t(-np.eye(3))).item()  # NaN


@pytest.mark.parametrize("name, fn, inputs", [
    ("inv", linalg.inv, [A]),
    ("det", linalg.det, [A]),
    ("slogdet", lambda a: linalg.slogdet(a)[1], [A]),
    ("solve", linalg.solve, [A, B]),
    ("solve_vector", linalg.solve, [A, B[..., 0]]),
    ("solve_right", lambda a, b: linalg.solve(a, b, left=False), [A, np.swapaxes(B, -1, -2)]),
    ("cholesky", lambda s: linalg.cholesky((s + s.mT) / 2), [SPD]),
    ("cholesky_upper", lambda s: linalg.cholesky((s + s.mT) / 2, upper=True), [SPD]),
    ("matrix_power", lambda a: linalg.matrix_power(a, -2), [A]),
])
def test_gradients_and_second_derivatives_match_finite_differences(name, fn, inputs):
    check_grad(fn, inputs)

    def gradient_norm(*xs):  # a function of the first derivative: its gradient is the second
        with graphc.enable_grad():  # (check_grad's finite differences run under no_grad)
            leaves = [x if x.requires_grad else x.detach().requires_grad_() for x in xs]
            grads = graphc.autograd.grad(fn(*leaves).sum(), leaves, create_graph=True)
            return sum((g * g).sum() for g in grads)

    check_grad(gradient_norm, inputs)


def test_det_gradient_of_a_singular_matrix_is_its_cofactor_matrix():
    singular = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
    x = graphc.tensor(singular, requires_grad=True)
    linalg.det(x).backward()
    cofactors = np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(singular, i, 0),
                                                                      j, 1))
                           for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(x.grad.numpy(), cofactors, atol=1e-12)
    assert np.abs(cofactors).max() > 1  # finite and not zero, where det * inv(A)^T is NaN


def test_singular_and_indefinite_matrices_are_linalg_errors():
    with pytest.raises(linalg.LinAlgError, match="linalg.inv"):
        linalg.inv(t(np.ones((2, 2))))
    with pytest.raises(linalg.LinAlgError, match="positive-definite"):
        linalg.cholesky(t(-np.eye(2)))
    with pytest.raises(ValueError, match="square matrices"):
        linalg.det(t(np.ones((2, 3))))
    with pytest.raises(ValueError, match=r"B of shape \[4\] does not match A"):
        linalg.solve(t(np.eye(3)), t(np.ones(4)))


def test_compiled_functions_refuse_the_factorizations_and_compile_the_matmul_composites():
    with pytest.raises(graphc.TraceError, match="linalg.inv is not supported inside a compiled"):
        graphc.compile(linalg.inv)(t(A))
    power = graphc.compile(lambda a: linalg.matrix_power(a, 3))
    np.testing.assert_allclose(power(t(A)).numpy(), np.linalg.matrix_power(A, 3), rtol=1e-12)
    assert t(A).inverse().shape == (2, 3, 3) and t(A).det().shape == (2,)


def test_vector_norm_of_negative_order_at_zeros_and_of_order_zero_have_pytorchs_gradients():
    x = graphc.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 0.0], [1.0, -2.0, 4.0]], requires_grad=True)
    norms = linalg.vector_norm(x, ord=-1, dim=1)
    norms.sum().backward()
    assert norms[:2].tolist() == [0.0, 0.0]
    assert np.isfinite(x.grad.numpy()).all() and x.grad[:2].abs().sum().item() == 0.0  # was NaN
    np.testing.assert_allclose(x.grad[2].numpy(), (1 / 1.75) ** 2 * np.array([1, -1 / 4, 1 / 16]),
                               rtol=1e-6)
    count = linalg.vector_norm(x, ord=0)
    assert count.item() == 5.0 and count.requires_grad
    (g,) = graphc.autograd.grad(count, [x])
    assert not g.numpy().any()


def test_linalg_edge_cases_as_pytorch():
    a = t(np.array([[1.0, 2.0], [3.0, 4.0]]))
    power = linalg.matrix_power(a, 1)
    power.mul_(10)  # a new tensor: A stays
    assert a.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert np.isnan(linalg.inv(t(np.array([[np.nan, 1.0], [0.0, 1.0]]))).numpy()).all()
    singular = graphc.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=graphc.float64, requires_grad=True)
    (g,) = graphc.autograd.grad(linalg.det(singular), singular)  # first order: fine
    np.testing.assert_allclose(g.numpy(), [[4.0, -2.0], [-2.0, 1.0]], rtol=1e-12)  # cofactors
    with pytest.raises(graphc.errors.AutogradError, match="second derivatives at a singular"):
        graphc.autograd.grad(linalg.det(singular), singular, create_graph=True)


def test_solve_broadcasts_one_vector_over_a_batch_of_matrices():
    b = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(linalg.solve(t(A), t(b)).numpy(),
                               np.stack([np.linalg.solve(m, b) for m in A]), rtol=1e-12)
