"""nn.init.sparse_ and nn.init.dirac_, as PyTorch's, and the ``generator=`` argument that
PyTorch's random initializations take. Exact comparisons (zeros and ones placed by index);
the conv identity check is float32 with rtol=1e-6."""
import math

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.nn import functional as F


def test_sparse_zeroes_ceil_sparsity_rows_of_each_column():
    graphc.manual_seed(0)
    w = nn.init.sparse_(graphc.empty(10, 6), sparsity=0.25, std=0.5)
    values = w.numpy()
    assert ((values == 0).sum(0) == math.ceil(0.25 * 10)).all()
    nonzero = values[values != 0]
    assert nonzero.size == 60 - 18 and 0.2 < nonzero.std() < 0.8


def test_sparse_errors_and_generator():
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        nn.init.sparse_(graphc.empty(3), 0.5)
    first = nn.init.sparse_(graphc.empty(4, 4), 0.0, generator=graphc.Generator().manual_seed(3))
    again = nn.init.sparse_(graphc.empty(4, 4), 0.0, generator=graphc.Generator().manual_seed(3))
    np.testing.assert_array_equal(first.numpy(), again.numpy())


@pytest.mark.parametrize("shape", [(4, 3, 5), (4, 6, 3, 3), (2, 2, 3, 3, 3)])
def test_dirac_places_ones_at_the_kernel_center(shape):
    w = nn.init.dirac_(graphc.full(shape, 7.0)).numpy()
    expected = np.zeros(shape, np.float32)
    center = tuple(s // 2 for s in shape[2:])
    for d in range(min(shape[:2])):
        expected[(d, d) + center] = 1
    np.testing.assert_array_equal(w, expected)


def test_dirac_with_groups_and_as_an_identity_convolution():
    w = nn.init.dirac_(graphc.empty(6, 2, 3, 3), groups=3).numpy()
    expected = np.zeros((6, 2, 3, 3), np.float32)
    for g in range(3):
        for d in range(2):
            expected[2 * g + d, d, 1, 1] = 1
    np.testing.assert_array_equal(w, expected)
    x = np.random.default_rng(0).standard_normal((1, 3, 5, 5)).astype(np.float32)
    weight = nn.init.dirac_(graphc.empty(3, 3, 3, 3))
    out = F.conv2d(graphc.tensor(x), weight, padding=1).numpy()
    np.testing.assert_allclose(out, x, rtol=1e-6)
    with pytest.raises(ValueError, match="dim 0 must be divisible by groups"):
        nn.init.dirac_(graphc.empty(5, 2, 3), groups=2)
    with pytest.raises(ValueError, match="Only tensors with 3, 4, or 5 dimensions"):
        nn.init.dirac_(graphc.empty(2, 2))


@pytest.mark.parametrize("init", [
    nn.init.uniform_, nn.init.normal_, nn.init.trunc_normal_, nn.init.xavier_uniform_,
    nn.init.xavier_normal_, nn.init.kaiming_uniform_, nn.init.kaiming_normal_,
    nn.init.orthogonal_, lambda w, generator: nn.init.sparse_(w, 0.3, generator=generator)])
def test_random_initializations_take_a_generator(init):
    draws = []
    for _ in range(2):
        graphc.manual_seed(0)  # (sparse_ draws the rows it zeroes from it, as PyTorch)
        draws.append(init(graphc.empty(5, 4), generator=graphc.Generator().manual_seed(11))
                     .numpy())
    np.testing.assert_array_equal(draws[0], draws[1])
    other = init(graphc.empty(5, 4), generator=graphc.Generator().manual_seed(12)).numpy()
    assert not np.array_equal(draws[0][draws[0] != 0], other[other != 0])
