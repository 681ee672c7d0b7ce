"""einsum, tensordot, the BLAS-style products (addmm, addmv, addr, addbmm, baddbmm, mv, ger),
diagonals (diag, diagonal, diag_embed, trace) and sliding windows (Tensor.unfold, F.unfold,
F.fold), against float64 NumPy (``np.einsum``, loops) written here, eagerly and compiled, with
gradients against finite differences.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from conftest import assert_close, check_grad
from graphc import nn

rng = np.random.default_rng(11)


def both_modes(fn, *arrays):
    """``fn`` on float64 tensors eagerly and compiled; the two must agree. Returns eager."""
    tensors = [graphc.tensor(a) for a in arrays]
    eager = fn(*tensors)
    assert_close(graphc.compile(fn)(*tensors), eager.numpy())
    return eager


# -- einsum -------------------------------------------------------------------------------------
EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bij,jk,k->bi", [(2, 3, 4), (4, 5), (5,)]),
    ("ij,kj->ik", [(2, 3), (4, 3)]),
    ("i,i->", [(5,), (5,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
    ("...ij,...jk->...ik", [(2, 3, 2, 4), (3, 4, 5)]),
    ("...ij,jk", [(2, 2, 3), (3, 4)]),
    ("i...->...", [(3, 2, 2)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ba,ca", [(2, 3), (4, 3)]),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    ("ij,j->i", [(3, 1), (4,)]),  # a size-1 dim broadcasts against the other operand's
]


@pytest.mark.parametrize("equation,shapes", EINSUM_CASES, ids=[c[0] for c in EINSUM_CASES])
def test_einsum_matches_numpy_einsum(equation, shapes):
    arrays = [rng.normal(size=s) for s in shapes]
    got = both_modes(lambda *ts: graphc.einsum(equation, *ts), *arrays)
    if equation == "ij,j->i":  # NumPy refuses the broadcast size-1 label; sum it by hand
        expected = arrays[0][:, 0] * arrays[1].sum()
    else:
        expected = np.einsum(equation, *arrays)
    assert_close(got, expected)


@pytest.mark.parametrize("equation,shapes", EINSUM_CASES[:6] + EINSUM_CASES[8:9],
                         ids=[c[0] for c in EINSUM_CASES[:6] + EINSUM_CASES[8:9]])
def test_einsum_gradient_matches_finite_differences(equation, shapes):
    check_grad(lambda *ts: graphc.einsum(equation, *ts), [rng.normal(size=s) for s in shapes])


def test_einsum_runs_contractions_as_matmuls():
    graph = graphc.trace(lambda a, b: graphc.einsum("bij,bjk->bik", a, b),
                         graphc.randn(2, 3, 4), graphc.randn(2, 4, 5))
    assert "matmul" in {node.op for node in graph.nodes}


def test_einsum_accepts_a_list_of_operands():
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(3,))
    got = graphc.einsum("ij,j->i", [graphc.tensor(a), graphc.tensor(b)])
    assert_close(got, a @ b)


@pytest.mark.parametrize("equation,shapes,words", [
    ("ij,jk->ik", [(2, 3)], "names 2 operands"),
    ("ijk->i", [(2, 3)], "has 3 labels"),
    ("ij,jk->ik", [(2, 3), (4, 5)], "label 'j' has sizes"),
    ("ij->z", [(2, 3)], "output label 'z'"),
    ("i1->i", [(2, 3)], "invalid subscript"),
])
def test_einsum_errors_name_the_problem(equation, shapes, words):
    with pytest.raises(graphc.ShapeError, match=words):
        graphc.einsum(equation, *[graphc.randn(*s) for s in shapes])


# -- tensordot and BLAS-style products ---------------------------------------------------------
def test_tensordot_with_a_count_and_with_axis_lists():
    a, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(3, 4, 5))
    assert_close(both_modes(lambda x, y: graphc.tensordot(x, y, 2), a, b),
                 np.tensordot(a, b, 2))
    c = rng.normal(size=(4, 2, 3))
    assert_close(both_modes(lambda x, y: graphc.tensordot(x, y, ([0, 2], [1, 0])), a, c),
                 np.tensordot(a, c, ([0, 2], [1, 0])))
    check_grad(lambda x, y: graphc.tensordot(x, y, 1), [rng.normal(size=(2, 3)),
                                                         rng.normal(size=(3, 2))])


def test_tensordot_rejects_mismatched_dimensions():
    with pytest.raises(graphc.ShapeError, match="does not match"):
        graphc.tensordot(graphc.randn(2, 3), graphc.randn(4, 2), 1)


def test_addmm_is_beta_input_plus_alpha_product_with_broadcast_input():
    bias, m1, m2 = rng.normal(size=(4,)), rng.normal(size=(3, 2)), rng.normal(size=(2, 4))
    got = both_modes(lambda b, x, y: graphc.addmm(b, x, y, beta=0.5, alpha=2.0), bias, m1, m2)
    assert_close(got, 0.5 * bias + 2.0 * (m1 @ m2))
    check_grad(lambda b, x, y: graphc.addmm(b, x, y, beta=0.5, alpha=2.0), [bias, m1, m2])


def test_addmm_with_beta_zero_ignores_nan_in_input():
    m1, m2 = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    nan_input = graphc.full((2, 2), float("nan"), dtype=graphc.float64)
    got = graphc.addmm(nan_input, graphc.tensor(m1), graphc.tensor(m2), beta=0)
    assert_close(got, m1 @ m2)


def test_addmm_rejects_non_matrices_and_unbroadcastable_input():
    with pytest.raises(graphc.ShapeError, match="mat1 must be a 2-d"):
        graphc.addmm(graphc.zeros(2), graphc.zeros(2), graphc.zeros(2, 2))
    with pytest.raises(graphc.ShapeError, match="does not broadcast"):
        graphc.addmm(graphc.zeros(3), graphc.zeros(2, 2), graphc.zeros(2, 2))


def test_addmv_mv_ger_and_addr():
    v, m, w = rng.normal(size=(3,)), rng.normal(size=(3, 4)), rng.normal(size=(4,))
    assert_close(both_modes(lambda a, b: graphc.mv(a, b), m, w), m @ w)
    assert_close(both_modes(lambda c, a, b: graphc.addmv(c, a, b, alpha=3.0), v, m, w),
                 v + 3.0 * (m @ w))
    assert_close(both_modes(lambda a, b: graphc.ger(a, b), v, w), np.outer(v, w))
    assert_close(both_modes(lambda c, a, b: graphc.addr(c, a, b, beta=2.0), m, v, w),
                 2.0 * m + np.outer(v, w))
    with pytest.raises(graphc.ShapeError, match="vec must be a 1-d"):
        graphc.mv(graphc.zeros(2, 2), graphc.zeros(2, 1))


def test_baddbmm_and_addbmm():
    b1, b2 = rng.normal(size=(3, 2, 4)), rng.normal(size=(3, 4, 5))
    c = rng.normal(size=(2, 5))
    assert_close(both_modes(lambda i, x, y: graphc.baddbmm(i, x, y, beta=2.0, alpha=0.5),
                            c, b1, b2),
                 2.0 * c + 0.5 * np.einsum("bij,bjk->bik", b1, b2))
    assert_close(both_modes(lambda i, x, y: graphc.addbmm(i, x, y), c, b1, b2),
                 c + sum(b1[k] @ b2[k] for k in range(3)))
    check_grad(lambda i, x, y: graphc.addbmm(i, x, y, alpha=2.0), [c, b1, b2])
    with pytest.raises(graphc.ShapeError, match="batch1"):
        graphc.baddbmm(c, graphc.zeros(2, 2), graphc.zeros(3, 4, 5))


def test_addmm_in_place_method():
    x = graphc.zeros(2, 2)
    x.addmm_(graphc.eye(2), graphc.full((2, 2), 3.0))
    assert x.tolist() == [[3.0, 3.0], [3.0, 3.0]]


# -- diagonals ----------------------------------------------------------------------------
@pytest.mark.parametrize("offset", [-2, -1, 0, 1, 3])
def test_diagonal_of_a_matrix_and_of_batched_planes(offset):
    x = rng.normal(size=(3, 4))
    assert_close(both_modes(lambda t: graphc.diagonal(t, offset), x), np.diagonal(x, offset))
    y = rng.normal(size=(2, 3, 4))
    got = both_modes(lambda t: t.diagonal(offset, 2, 1), y)
    assert_close(got, np.diagonal(y, offset, 2, 1))


@pytest.mark.parametrize("offset", [-1, 0, 2])
def test_diag_builds_a_matrix_from_a_vector_and_reads_one_back(offset):
    v = rng.normal(size=(3,))
    assert_close(both_modes(lambda t: graphc.diag(t, offset), v), np.diag(v, offset))
    m = rng.normal(size=(4, 3))
    assert_close(both_modes(lambda t: graphc.diag(t, offset), m), np.diag(m, offset))
    check_grad(lambda t: graphc.diag(t, offset), [v])
    check_grad(lambda t: graphc.diag(t, offset), [m])


def test_diag_of_infinities_keeps_zeros_off_the_diagonal():
    got = graphc.diag(graphc.tensor([float("inf"), 1.0]))
    assert got.tolist() == [[float("inf"), 0.0], [0.0, 1.0]]


def test_diag_embed_places_the_last_dim_on_a_diagonal():
    x = rng.normal(size=(2, 3))
    got = both_modes(lambda t: graphc.diag_embed(t, 1), x)
    expected = np.stack([np.diag(row, 1) for row in x])
    assert_close(got, expected)
    moved = graphc.diag_embed(graphc.tensor(x), -1, 0, 2)
    expected_moved = np.zeros((4, 2, 4))
    for b in range(2):
        for i in range(3):
            expected_moved[i + 1, b, i] = x[b, i]
    assert_close(moved, expected_moved)


def test_trace_sums_the_main_diagonal():
    x = rng.normal(size=(3, 4))
    assert_close(both_modes(lambda t: t.trace(), x), np.trace(x))
    check_grad(lambda t: t.trace(), [x])
    with pytest.raises(graphc.ShapeError, match="2-d"):
        graphc.zeros(3).trace()


def test_diag_rejects_higher_ranks():
    with pytest.raises(graphc.ShapeError, match="1-d or 2-d"):
        graphc.diag(graphc.zeros(2, 2, 2))


# -- sliding windows ------------------------------------------------------------------------
@pytest.mark.parametrize("dim,size,step", [(0, 2, 1), (1, 3, 2), (-1, 5, 1), (1, 1, 3)])
def test_tensor_unfold_gives_windows_as_a_new_last_dim(dim, size, step):
    x = rng.normal(size=(3, 5))
    got = both_modes(lambda t: t.unfold(dim, size, step), x)
    axis = dim % 2
    count = (x.shape[axis] - size) // step + 1
    windows = [np.take(x, range(i * step, i * step + size), axis=axis) for i in range(count)]
    expected = np.stack(windows, axis=axis)  # [.., count, size (at axis+1), ..]
    expected = np.moveaxis(expected, axis + 1, -1)
    assert_close(got, expected)
    check_grad(lambda t: t.unfold(dim, size, step), [x])


def test_tensor_unfold_rejects_a_window_larger_than_the_dim():
    with pytest.raises(graphc.ShapeError, match="size 6"):
        graphc.zeros(5).unfold(0, 6, 1)


def im2col_oracle(x, kernel, dilation, padding, stride):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    oh = (h + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    out = np.zeros((n, c, kernel[0], kernel[1], oh, ow))
    for a, e, i, j in np.ndindex(kernel[0], kernel[1], oh, ow):
        out[:, :, a, e, i, j] = xp[:, :, i * stride[0] + a * dilation[0],
                                   j * stride[1] + e * dilation[1]]
    return out.reshape(n, c * kernel[0] * kernel[1], oh * ow)


def col2im_oracle(cols, size, kernel, dilation, padding, stride):
    n, ckk, _ = cols.shape
    c = ckk // (kernel[0] * kernel[1])
    h, w = size
    oh = (h + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    blocks = cols.reshape(n, c, kernel[0], kernel[1], oh, ow)
    out = np.zeros((n, c, h + 2 * padding[0], w + 2 * padding[1]))
    for a, e, i, j in np.ndindex(kernel[0], kernel[1], oh, ow):
        out[:, :, i * stride[0] + a * dilation[0], j * stride[1] + e * dilation[1]] += \
            blocks[:, :, a, e, i, j]
    return out[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w]


WINDOW_CASES = [((2, 2), (1, 1), (0, 0), (1, 1)), ((2, 3), (1, 2), (1, 1), (2, 1)),
                ((3, 3), (1, 1), (1, 1), (2, 2))]


@pytest.mark.parametrize("kernel,dilation,padding,stride", WINDOW_CASES)
def test_functional_unfold_is_im2col(kernel, dilation, padding, stride):
    x = rng.normal(size=(2, 3, 5, 6))
    got = both_modes(lambda t: F.unfold(t, kernel, dilation, padding, stride), x)
    assert_close(got, im2col_oracle(x, kernel, dilation, padding, stride))
    check_grad(lambda t: F.unfold(t, kernel, dilation, padding, stride),
               [rng.normal(size=(1, 2, 5, 6))])


@pytest.mark.parametrize("kernel,dilation,padding,stride", WINDOW_CASES)
def test_functional_fold_is_col2im(kernel, dilation, padding, stride):
    cols = im2col_oracle(rng.normal(size=(2, 3, 5, 6)), kernel, dilation, padding, stride)
    got = both_modes(lambda t: F.fold(t, (5, 6), kernel, dilation, padding, stride), cols)
    assert_close(got, col2im_oracle(cols, (5, 6), kernel, dilation, padding, stride))


def test_unfold_and_fold_modules():
    x = graphc.tensor(rng.normal(size=(1, 2, 4, 4)))
    cols = nn.Unfold(kernel_size=2, stride=2)(x)
    assert_close(nn.Fold(output_size=(4, 4), kernel_size=2, stride=2)(cols), x.numpy())
    assert "kernel_size=2" in repr(nn.Unfold(kernel_size=2))


def test_fold_rejects_columns_of_the_wrong_shape():
    with pytest.raises(graphc.ShapeError, match="must be"):
        F.fold(graphc.zeros(1, 5, 9), (4, 4), 2)


def test_graphc_trace_of_a_tensor_is_the_matrix_trace_and_of_a_function_the_graph():
    x = rng.normal(size=(3, 3))
    assert_close(graphc.trace(graphc.tensor(x)), np.trace(x))
    graph = graphc.trace(lambda t: t.exp(), graphc.zeros(2))
    assert [node.op for node in graph.nodes] == ["exp"]
