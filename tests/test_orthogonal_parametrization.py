"""nn.utils.parametrizations.orthogonal, as PyTorch's: orthogonal weights for the three maps,
tall, wide and batched; the initial weight orthogonalized (QR with R's signs); assignment;
PyTorch's errors; gradients to the unconstrained original against finite differences; compiled
forward and training steps equal to eager ones. Also what it is made of: graphc.linalg's
matrix_exp (eager and traced) against an eigendecomposition, householder_product against
NumPy's QR. Tolerances: float64 orthogonality and values 1e-12 (a few matmuls or squarings of
order-1 matrices); compiled vs eager 1e-12 (Taylor's polynomial traced, Padé's eagerly: both
exact to a few roundings); finite differences as conftest.check_grad."""
import numpy as np
import pytest

import graphc
from conftest import check_grad
from graphc import nn
from graphc.linalg import householder_product, matrix_exp
from graphc.nn.utils.orthogonal import _OrthMaps, _Orthogonal
from graphc.nn.utils.parametrizations import orthogonal

RNG = np.random.default_rng(7)
MAPS = ["matrix_exp", "cayley", "householder"]


def t(array):
    return graphc.tensor(array, dtype=graphc.float64)


def module_with(weight):
    module = nn.Module()
    module.weight = nn.Parameter(t(weight))
    return module


def qr_orthogonal(w):
    q, r = np.linalg.qr(w)
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def assert_orthogonal(w):
    if w.shape[-2] < w.shape[-1]:
        w = np.swapaxes(w, -1, -2)
    gram = np.swapaxes(w, -1, -2) @ w
    np.testing.assert_allclose(gram, np.broadcast_to(np.eye(w.shape[-1]), gram.shape), atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 4, 3)])
@pytest.mark.parametrize("orthogonal_map", MAPS)
@pytest.mark.parametrize("trivialization", [True, False])
def test_weight_is_orthogonal_and_starts_from_the_orthogonalized_weight(shape, orthogonal_map,
                                                                        trivialization):
    w = RNG.standard_normal(shape)
    module = orthogonal(module_with(w), orthogonal_map=orthogonal_map,
                        use_trivialization=trivialization)
    weight = module.weight.numpy()
    assert_orthogonal(weight)
    tall = w if shape[-2] >= shape[-1] else np.swapaxes(w, -1, -2)
    expected = qr_orthogonal(tall)
    if shape[-2] < shape[-1]:
        expected = np.swapaxes(expected, -1, -2)
    if trivialization or orthogonal_map == "householder":
        np.testing.assert_allclose(weight, expected, atol=1e-12)
    # anywhere the original goes, the weight stays orthogonal (Householder's diagonal gives
    # signs only, through a cast to int as in PyTorch: moved off it, and never to (-1, 1))
    step = 0.5 * RNG.standard_normal(shape)
    rows = np.arange(min(shape[-2:]))
    step[..., rows, rows] = 0
    with graphc.no_grad():
        module.parametrizations.weight.original.add_(t(step))
    assert_orthogonal(module.weight.numpy())


def test_trivialization_keeps_a_base_and_starts_at_minus_identity():
    module = orthogonal(module_with(RNG.standard_normal((5, 3))))
    original = module.parametrizations.weight.original.numpy()
    np.testing.assert_array_equal(original, -np.eye(5, 3))
    assert [n for n, _ in module.named_buffers()] == ["parametrizations.weight.0.base"]
    assert module.parametrizations.weight[0].base.shape == (5, 5)
    assert [n for n, _ in module.named_parameters()] == ["parametrizations.weight.original"]


def test_default_map_is_matrix_exp_for_square_else_householder():
    square = orthogonal(module_with(RNG.standard_normal((3, 3))))
    tall = orthogonal(module_with(RNG.standard_normal((4, 3))))
    assert square.parametrizations.weight[0].orthogonal_map == _OrthMaps.matrix_exp
    assert tall.parametrizations.weight[0].orthogonal_map == _OrthMaps.householder


def test_assigning_an_orthogonal_weight_keeps_it():
    q = qr_orthogonal(RNG.standard_normal((4, 4)))
    for orthogonal_map in MAPS:
        module = orthogonal(module_with(RNG.standard_normal((4, 4))), orthogonal_map=orthogonal_map)
        module.weight = t(q)
        np.testing.assert_allclose(module.weight.numpy(), q, atol=1e-12)
    module = orthogonal(module_with(RNG.standard_normal((4, 4))), orthogonal_map="householder",
                        use_trivialization=False)
    module.weight = t(q)
    np.testing.assert_allclose(module.weight.numpy(), q, atol=1e-12)
    module = orthogonal(module_with(RNG.standard_normal((4, 4))), orthogonal_map="cayley",
                        use_trivialization=False)
    with pytest.raises(NotImplementedError, match="use_trivialization=False"):
        module.weight = t(q)
    with pytest.raises(ValueError, match="Expected a matrix or batch of matrices of shape"):
        module.parametrizations.weight[0].right_inverse(t(np.eye(3)))


def test_pytorch_errors():
    with pytest.raises(ValueError, match="Got a tensor of 1 dimensions"):
        orthogonal(module_with(np.ones(3)))
    with pytest.raises(ValueError, match='orthogonal_map has to be one of "matrix_exp"'):
        orthogonal(module_with(np.eye(3)), orthogonal_map="qr")
    with pytest.raises(ValueError, match="has no parameter or buffer with name 'kernel'"):
        orthogonal(module_with(np.eye(3)), "kernel")


@pytest.mark.parametrize("orthogonal_map", MAPS)
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
def test_gradient_matches_finite_differences(orthogonal_map, shape):
    for trivialization in (True, False):
        parametrization = orthogonal(module_with(RNG.standard_normal(shape)), "weight",
                                     orthogonal_map, use_trivialization=trivialization
                                     ).parametrizations.weight[0]
        x = RNG.standard_normal(shape)
        if orthogonal_map == "householder" and not trivialization:
            # (its diagonal only gives signs, cast as PyTorch does: keep them away from 0)
            rows = np.arange(min(shape))
            x[rows, rows] = np.where(x[rows, rows] < 0, -1.5, 1.5)
        check_grad(parametrization, [x])


def test_matrix_exp_eager_and_traced_match_an_eigendecomposition():
    # eagerly Padé in NumPy, traced the Taylor composite the compiled parametrization runs
    traced = graphc.compile(matrix_exp)
    for scale in (0.1, 1.0, 7.0, 300.0):
        a = scale * RNG.standard_normal((2, 4, 4))
        w, v = np.linalg.eig(a)
        expected = (v * np.exp(w)[..., None, :]) @ np.linalg.inv(v)
        for got in (matrix_exp(t(a)), traced(t(a))):
            np.testing.assert_allclose(got.numpy(), expected.real, rtol=1e-11,
                                       atol=1e-11 * np.abs(expected).max())
    check_grad(matrix_exp, [RNG.standard_normal((3, 3))])


def test_householder_product_is_numpy_qr():
    a = RNG.standard_normal((5, 3))
    h, tau = np.linalg.qr(a, mode="raw")
    q = householder_product(t(h.T.copy()), t(tau)).numpy()
    np.testing.assert_allclose(q, np.linalg.qr(a)[0], atol=1e-12)


def test_compiled_forward_and_training_match_eager():
    for orthogonal_map in ("matrix_exp", "householder"):
        layers = []
        for _ in range(2):
            graphc.manual_seed(0)
            layer = orthogonal(nn.Linear(4, 3).double(), orthogonal_map=orthogonal_map)
            start = np.linspace(-0.1, 0.1, 12).reshape(3, 4) - 1.2 * np.eye(3, 4)  # int(diag) -1
            with graphc.no_grad():
                layer.parametrizations.weight.original.copy_(t(start))
            layers.append(layer)
        x = t(RNG.standard_normal((6, 4)))
        optimizers = [graphc.optim.SGD(layer.parameters(), lr=0.1) for layer in layers]

        def step(layer, opt):
            opt.zero_grad()
            loss = (layer(x) ** 2).sum()
            loss.backward()
            opt.step()
            return loss

        compiled = graphc.compile(step)
        for _ in range(3):
            eager_loss = step(layers[0], optimizers[0])
            compiled_loss = compiled(layers[1], optimizers[1])
            np.testing.assert_allclose(compiled_loss.item(), eager_loss.item(), rtol=1e-12)
        np.testing.assert_allclose(layers[1].weight.numpy(), layers[0].weight.numpy(),
                                   atol=1e-12)
        assert_orthogonal(layers[1].weight.numpy())


def test_compiled_matrix_exp_refuses_huge_norms_and_cayley_refuses_compiling():
    big = graphc.compile(matrix_exp)
    with pytest.raises(ValueError, match="1-norm above 4096"):
        big(t(5000 * np.eye(3)))
    module = orthogonal(module_with(RNG.standard_normal((3, 3))), orthogonal_map="cayley")
    with pytest.raises(graphc.errors.TraceError, match="linalg.solve"):
        graphc.compile(lambda: module.weight.sum())()


def test_unconstrained_parametrization_module_directly():
    # _Orthogonal without a base is a plain map: the identity's original maps to I
    layer = _Orthogonal(t(np.eye(3)), _OrthMaps.cayley, use_trivialization=False)
    np.testing.assert_allclose(layer(t(np.zeros((3, 3)))).numpy(), np.eye(3), atol=1e-15)
