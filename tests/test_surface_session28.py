"""Session 28's additions to PyTorch's surface: ``F.conv_transpose3d`` / ``nn.ConvTranspose3d``,
``F.embedding_bag``'s remaining options, the linalg ``_ex`` variants and ``ldl_*``, and
``graphc.special.zeta``.

Each is checked against an independent float64 oracle written here (direct loops, NumPy, scipy
or mpmath), its gradients against central finite differences (``check_grad``, float64), its
compiled result (interpreter and llvm backends) against eager mode, and its errors for bad input.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from conftest import assert_close, check_grad
from graphc import nn


def f64(a):
    return graphc.tensor(np.asarray(a, dtype=np.float64))


def f32(a):
    return graphc.tensor(np.asarray(a, dtype=np.float32))


# -- conv_transpose3d ------------------------------------------------------------------------------
def conv_transpose3d_loops(x, w, b, stride, padding, output_padding, groups, dilation):
    """The scatter definition of the transpose: every input voxel times every kernel tap adds to
    out[n, g*og + o, i*s - p + a*d, ...] (out-of-range positions dropped)."""
    n, cin = x.shape[:2]
    og, kernel = w.shape[1], w.shape[2:]
    cg = cin // groups
    size = [(x.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (kernel[i] - 1)
            + output_padding[i] + 1 for i in range(3)]
    out = np.zeros((n, og * groups, *size))
    for ci in range(cin):
        g = ci // cg
        for o in range(og):
            for pos in np.ndindex(*x.shape[2:]):
                for tap in np.ndindex(*kernel):
                    at = [pos[i] * stride[i] - padding[i] + tap[i] * dilation[i] for i in range(3)]
                    if all(0 <= at[i] < size[i] for i in range(3)):
                        out[:, g * og + o, at[0], at[1], at[2]] += (x[:, ci, pos[0], pos[1], pos[2]]
                                                                    * w[ci, o, tap[0], tap[1], tap[2]])
    if b is not None:
        out += b.reshape(1, -1, 1, 1, 1)
    return out


# cin, cout, groups, kernel, stride, padding, output_padding, dilation
GEOMETRIES_3D = [
    (2, 3, 1, (2, 2, 2), (1, 1, 1), (0, 0, 0), (0, 0, 0), (1, 1, 1)),
    (4, 6, 2, (2, 3, 2), (2, 1, 3), (1, 0, 1), (1, 0, 2), (1, 1, 1)),
    (2, 3, 1, (3, 2, 2), (2, 2, 2), (1, 1, 1), (1, 1, 1), (2, 1, 1)),
    # output_padding >= stride, allowed below the dilation (the crop-after-full path)
    (2, 4, 2, (2, 2, 3), (1, 1, 1), (0, 0, 0), (2, 0, 1), (3, 1, 2)),
    (3, 3, 3, (1, 2, 2), (3, 2, 1), (0, 1, 0), (2, 1, 0), (1, 1, 1)),
]


@pytest.mark.parametrize("geometry", GEOMETRIES_3D)
def test_conv_transpose3d_matches_a_direct_loop_oracle(geometry, rng):
    cin, cout, groups, kernel, stride, padding, output_padding, dilation = geometry
    x = rng.standard_normal((2, cin, 3, 2, 3))
    w = rng.standard_normal((cin, cout // groups, *kernel))
    b = rng.standard_normal(cout)
    out = F.conv_transpose3d(f64(x), f64(w), f64(b), stride, padding, output_padding, groups,
                             dilation)
    expected = conv_transpose3d_loops(x, w, b, stride, padding, output_padding, groups, dilation)
    assert out.shape == expected.shape
    assert_close(out, expected)


def test_conv_transpose3d_takes_ints_for_every_axis_and_unbatched_input(rng):
    x, w = rng.standard_normal((2, 2, 3, 2)), rng.standard_normal((2, 3, 2, 2, 2))
    out = F.conv_transpose3d(f64(x), f64(w), None, 2, 1, 1, 1, 1)
    assert out.shape == (3, 3, 5, 3)      # (size - 1) * 2 - 2 * 1 + (2 - 1) + 1 + 1
    assert_close(out, conv_transpose3d_loops(x[None], w, None, (2,) * 3, (1,) * 3, (1,) * 3, 1,
                                             (1,) * 3)[0])


def test_conv_transpose3d_float32_matches_the_float64_oracle(rng):
    x, w = rng.standard_normal((1, 2, 3, 3, 3)), rng.standard_normal((2, 2, 3, 3, 3))
    out = F.conv_transpose3d(f32(x), f32(w), stride=2, padding=1)
    assert out.dtype == graphc.float32
    assert_close(out, conv_transpose3d_loops(x, w, None, (2,) * 3, (1,) * 3, (0,) * 3, 1, (1,) * 3))


@pytest.mark.parametrize("geometry", [GEOMETRIES_3D[1], GEOMETRIES_3D[2], GEOMETRIES_3D[3]])
def test_conv_transpose3d_gradients_match_finite_differences(geometry, rng):
    cin, cout, groups, kernel, stride, padding, output_padding, dilation = geometry
    x = rng.standard_normal((1, cin, 2, 2, 2))
    w = rng.standard_normal((cin, cout // groups, *kernel))
    b = rng.standard_normal(cout)
    check_grad(lambda x, w, b: F.conv_transpose3d(x, w, b, stride, padding, output_padding,
                                                  groups, dilation), [x, w, b])


def test_conv_transpose3d_second_derivative_matches_finite_differences(rng):
    x, w = rng.standard_normal((1, 2, 2, 2, 2)), rng.standard_normal((2, 2, 2, 2, 2))

    def input_grad(x, w):  # d/dx sum(conv_transpose3d(x, w)^2), differentiated again
        with graphc.enable_grad():   # (check_grad's finite differences run under no_grad)
            x = x.detach().requires_grad_()
            (g,) = graphc.autograd.grad(F.conv_transpose3d(x, w, stride=2).pow(2).sum(), [x],
                                        create_graph=True)
        return g

    check_grad(input_grad, [x, w], wrt=[1])


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_conv_transpose3d_compiled_forward_and_backward_equal_eager(backend, rng):
    graphc.manual_seed(0)
    layer = nn.ConvTranspose3d(4, 6, (2, 3, 2), stride=(2, 1, 2), padding=(1, 1, 0),
                               output_padding=(1, 0, 1), groups=2, dilation=(1, 1, 2))
    x = f32(rng.standard_normal((2, 4, 3, 4, 3)))

    def step(x):
        layer.zero_grad()
        out = layer(x)
        out.pow(2).sum().backward()
        return out

    eager = step(x).numpy()
    eager_grads = [p.grad.numpy().copy() for p in layer.parameters()]
    compiled = graphc.compile(step, backend=backend)
    assert_close(compiled(x), eager)
    for p, want in zip(layer.parameters(), eager_grads):
        assert_close(p.grad, want, rtol=1e-4, atol=1e-4)   # float32 sums in another order


def test_conv_transpose3d_parameters_have_pytorchs_shapes_and_init_bounds():
    graphc.manual_seed(0)
    layer = nn.ConvTranspose3d(4, 6, (3, 2, 2), groups=2)
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert layer.weight.shape == (4, 3, 3, 2, 2)          # (in, out / groups, kd, kh, kw)
    assert layer.bias.shape == (6,)
    bound = 1 / math.sqrt(3 * 3 * 2 * 2)                  # fan_in = weight.shape[1] * kd * kh * kw
    weight, bias = layer.weight.numpy(), layer.bias.numpy()
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.8 * bound
    assert np.abs(bias).max() <= bound and np.abs(bias).max() > 0.5 * bound
    assert nn.ConvTranspose3d(2, 2, 1, bias=False).bias is None
    assert repr(nn.ConvTranspose3d(8, 3, 4, stride=2, padding=1, output_padding=1)) == (
        "ConvTranspose3d(8, 3, kernel_size=(4, 4, 4), stride=(2, 2, 2), padding=(1, 1, 1), "
        "output_padding=(1, 1, 1))")


def test_conv_transpose3d_output_size_chooses_the_output_padding(rng):
    layer = nn.ConvTranspose3d(2, 1, 3, stride=3, bias=False).double()
    x = f64(rng.standard_normal((1, 2, 2, 3, 2)))
    smallest = layer(x)
    assert smallest.shape == (1, 1, 6, 9, 6)
    bigger = layer(x, output_size=[1, 1, 8, 9, 7])
    assert bigger.shape == (1, 1, 8, 9, 7)
    assert_close(bigger[:, :, :6, :, :6], smallest.numpy())
    assert_close(bigger[:, :, 6:], np.zeros((1, 1, 2, 9, 7)))   # nothing reaches the extra planes
    with pytest.raises(ValueError, match="valid sizes range from 6 to 8"):
        layer(x, output_size=[9, 9, 6])


def test_conv_transpose3d_errors_name_the_argument_and_the_expected_shape():
    x = graphc.zeros(1, 4, 2, 2, 2)
    with pytest.raises(ValueError, match=r"weight must be 5-D \(in, out/groups, kd, kh, kw\)"):
        F.conv_transpose3d(x, graphc.zeros(4, 2, 2, 2))
    with pytest.raises(ValueError, match="expects 3 input channels, but input of shape "
                                         r"\[1, 4, 2, 2, 2\] has 4"):
        F.conv_transpose3d(x, graphc.zeros(3, 2, 2, 2, 2))
    with pytest.raises(ValueError, match="expected a 4-D .unbatched. or 5-D"):
        F.conv_transpose3d(graphc.zeros(4, 2, 2), graphc.zeros(4, 2, 2, 2, 2))
    with pytest.raises(ValueError, match="groups=3 must be positive and divide the 4 input"):
        F.conv_transpose3d(x, graphc.zeros(4, 2, 2, 2, 2), groups=3)
    with pytest.raises(ValueError, match="output_padding .* must be smaller than either stride"):
        F.conv_transpose3d(x, graphc.zeros(4, 2, 2, 2, 2), stride=2, output_padding=(0, 2, 0))
    with pytest.raises(ValueError, match="stride needs 3 values"):
        F.conv_transpose3d(x, graphc.zeros(4, 2, 2, 2, 2), stride=(1, 2))
    with pytest.raises(TypeError, match="must be floating point"):
        F.conv_transpose3d(graphc.zeros(1, 4, 2, 2, 2, dtype=graphc.int64),
                           graphc.zeros(4, 2, 2, 2, 2))
    with pytest.raises(ValueError, match="is too small"):
        F.conv_transpose3d(graphc.zeros(1, 4, 1, 1, 1), graphc.zeros(4, 2, 1, 1, 1), padding=1)


def test_conv_transpose3d_compiles_to_kernels_not_a_numpy_fallback():
    from backends.kernel import LibraryCall
    layer = nn.ConvTranspose3d(4, 3, 3, stride=2, padding=1)
    compiled = graphc.compile(lambda x: layer(x), backend="llvm")
    x = graphc.randn(2, 4, 3, 4, 5)
    assert_close(compiled(x), layer(x).numpy())
    program = compiled.entries[-1].executable.program
    assert [s.op for s in program.steps if isinstance(s, LibraryCall) and s.op != "const"] == []


# -- embedding_bag: ties, NaNs and include_last_offset as PyTorch's kernel ---------------------------
def embedding_bag_scan(indices, starts, weight, mode, padding_idx=None, psw=None):
    """PyTorch's CPU kernel as a scan: bag b holds indices[starts[b]:starts[b + 1]] (the last
    bag runs to the end); 'max' keeps an entry only when it is strictly greater, so the first of
    tied maxima wins and a NaN wins only as the bag's first entry. Returns the bags and, for
    'max', the position of the winning entry per (bag, column) (-1 for an empty bag)."""
    bounds = list(starts) + [len(indices)]
    out = np.zeros((len(starts), weight.shape[1]))
    winner = np.full(out.shape, -1)
    for b in range(len(starts)):
        entries = [k for k in range(bounds[b], bounds[b + 1]) if indices[k] != padding_idx]
        for column in range(weight.shape[1]):
            values = [weight[indices[k], column] * (1.0 if psw is None else psw[k])
                      for k in entries]
            if not values:
                continue
            if mode == "max":
                best = 0
                for j in range(1, len(values)):
                    if values[j] > values[best]:
                        best = j
                out[b, column], winner[b, column] = values[best], entries[best]
            else:
                out[b, column] = sum(values) / (len(values) if mode == "mean" else 1)
    return out, winner


def test_embedding_bag_max_sends_the_gradient_to_the_first_of_tied_maxima(rng):
    weight = rng.standard_normal((5, 3))
    weight[1] = weight[3] = np.abs(weight[1]) + 3.0       # rows 1 and 3 tie as every maximum
    indices = np.array([0, 3, 1, 2, 1, 3, 4, 4])          # bags [0, 3, 1], [2, 1, 3], [4, 4]
    starts = np.array([0, 3, 6])
    want, winner = embedding_bag_scan(indices, starts, weight, "max")
    w = f64(weight).requires_grad_()
    out = F.embedding_bag(graphc.tensor(indices), w, graphc.tensor(starts), mode="max")
    assert_close(out, want)
    upstream = rng.standard_normal(want.shape)
    out.backward(f64(upstream))
    expected = np.zeros_like(weight)
    for b, column in np.ndindex(*want.shape):
        expected[indices[winner[b, column]], column] += upstream[b, column]
    assert_close(w.grad, expected)
    assert np.all(expected[3] != 0) and np.all(expected[1] != 0)   # each bag's first got it
    compiled = graphc.compile(lambda w, i, o: F.embedding_bag(i, w, o, mode="max"),
                              backend="llvm")
    assert_close(compiled(f64(weight), graphc.tensor(indices), graphc.tensor(starts)), want)


def test_embedding_bag_max_keeps_a_nan_only_as_the_first_entry_of_its_bag():
    weight = np.array([[1.0], [np.nan], [3.0], [0.5]])
    indices = np.array([0, 1, 2, 1, 0, 2, 3, 1])          # bags [0, 1, 2], [1, 0, 2], [3, 1]
    starts = np.array([0, 3, 6])
    want, _ = embedding_bag_scan(indices, starts, weight, "max")
    assert np.isnan(want[1, 0]) and want[0, 0] == 3.0 and want[2, 0] == 0.5
    for run in (F.embedding_bag, graphc.compile(F.embedding_bag, backend="interpreter")):
        out = run(graphc.tensor(indices), f64(weight), graphc.tensor(starts), mode="max")
        np.testing.assert_array_equal(out.numpy(), want)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_entries_past_a_short_last_offset_join_the_last_bag(mode, rng):
    weight = rng.standard_normal((6, 3))
    indices = np.array([0, 2, 2, 4, 1, 3, 5, 5, 1])
    offsets = np.array([0, 2, 2, 5])                      # include_last_offset, but 5 < 9
    want, _ = embedding_bag_scan(indices, offsets[:-1], weight, mode, padding_idx=5)
    out = F.embedding_bag(graphc.tensor(indices), f64(weight), graphc.tensor(offsets), mode=mode,
                          include_last_offset=True, padding_idx=5)
    assert out.shape == (3, 3)
    assert_close(out, want)
    check_grad(lambda w: F.embedding_bag(graphc.tensor(indices), w, graphc.tensor(offsets),
                                         mode=mode, include_last_offset=True, padding_idx=5),
               [weight])


def test_embedding_bag_per_sample_weights_gradients_match_finite_differences(rng):
    weight, psw = rng.standard_normal((5, 2)), rng.standard_normal(7)
    indices, offsets = graphc.tensor([0, 4, 2, 2, 1, 3, 4]), graphc.tensor([0, 3, 3, 5, 7])
    want, _ = embedding_bag_scan(indices.numpy(), [0, 3, 3, 5], weight, "sum", padding_idx=2,
                                 psw=psw)
    out = F.embedding_bag(indices, f64(weight), offsets, mode="sum", per_sample_weights=f64(psw),
                          include_last_offset=True, padding_idx=2)
    assert_close(out, want)
    check_grad(lambda w, p: F.embedding_bag(indices, w, offsets, mode="sum",
                                            per_sample_weights=p, include_last_offset=True,
                                            padding_idx=2), [weight, psw])


# -- linalg: solve_ex, ldl_factor(_ex), ldl_solve ---------------------------------------------------
def test_solve_ex_matches_solve_and_reports_singular_matrices_without_raising(rng):
    a = rng.standard_normal((3, 4, 4)) + 4 * np.eye(4)
    a[1] = [[1.0, 2.0, 0.0, 1.0], [2.0, 4.0, 0.0, 2.0], [0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 3.0]]
    b = rng.standard_normal((3, 4, 2))
    out = graphc.linalg.solve_ex(f64(a), f64(b))
    assert type(out).__name__ == "linalg_solve_ex" and out.info.dtype == graphc.int32
    from scipy.linalg import lapack
    assert out.info.tolist() == [lapack.dgetrf(m)[2] for m in a]   # LAPACK's first zero pivot
    assert out.info[1].item() > 0
    for i in (0, 2):
        assert_close(out.result[i], np.linalg.solve(a[i], b[i]))
    assert not np.isfinite(out.result[1].numpy()).all()   # inf/NaN, as LAPACK's getrs
    with pytest.raises(graphc.linalg.LinAlgError,
                       match=r"solve_ex: \(Batch element 1\): The solver failed because the "
                             "input matrix is singular"):
        graphc.linalg.solve_ex(f64(a), f64(b), check_errors=True)


def test_solve_ex_takes_solves_vectors_batches_and_left_false_as_solve(rng):
    a = rng.standard_normal((2, 3, 3)) + 3 * np.eye(3)
    vectors = rng.standard_normal((2, 3))
    out = graphc.linalg.solve_ex(f64(a), f64(vectors))
    assert out.result.shape == (2, 3) and out.info.shape == (2,)
    assert_close(out.result, np.linalg.solve(a, vectors[..., None])[..., 0])
    right = rng.standard_normal((5, 2, 4, 3))       # X A = B, B's batch broadcast with A's
    out = graphc.linalg.solve_ex(f64(a), f64(right), left=False)
    assert out.info.shape == (2,)                     # one per matrix of A, as PyTorch
    want = np.swapaxes(np.linalg.solve(np.swapaxes(a, -1, -2), np.swapaxes(right, -1, -2)),
                       -1, -2)
    assert_close(out.result, want)
    with pytest.raises(ValueError, match=r"B of shape \[4, 2\] does not match A of shape "
                                         r"\[2, 3, 3\]"):
        graphc.linalg.solve_ex(f64(a), f64(np.ones((4, 2))))
    for b in (np.ones(3), np.ones((3, 2))):
        with pytest.raises(ValueError, match=r"for X A = B \(expected \(\.\.\., k, 3\)\)"):
            graphc.linalg.solve_ex(f64(a), f64(b), left=False)


def test_solve_ex_left_false_reports_the_lu_of_a_itself_as_pytorch(rng):
    from scipy.linalg import lapack
    a = rng.standard_normal((4, 4))
    a[1] = 2 * a[0]                                   # dependent rows: A's LU meets an exact 0
    b = rng.standard_normal((2, 4))
    out = graphc.linalg.solve_ex(f64(a), f64(b), left=False)
    lu, piv, info = lapack.dgetrf(a)
    assert info > 0 and out.info.item() == info
    want = lapack.dgetrs(lu, piv, b.T, trans=1)[0].T   # getrs with A^T, from A's factorization
    np.testing.assert_array_equal(np.isfinite(out.result.numpy()), np.isfinite(want))


def test_solve_ex_gradients_match_finite_differences_and_skip_singular_matrices(rng):
    a = rng.standard_normal((2, 3, 3)) + 3 * np.eye(3)
    b = rng.standard_normal((2, 3, 2))
    check_grad(lambda a, b: graphc.linalg.solve_ex(a, b).result, [a, b])
    singular = a.copy()
    singular[1] = [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 1.0]]
    A = f64(singular).requires_grad_()
    graphc.linalg.solve_ex(A, f64(b)).result[0].sum().backward()
    x0 = np.linalg.solve(a[0], b[0])
    g = np.linalg.solve(a[0].T, np.ones((3, 2)))
    assert_close(A.grad[0], -g @ x0.T)                 # PyTorch's rule on the regular matrix
    assert_close(A.grad[1], np.zeros((3, 3)))         # none through the singular one


def ldl_reconstruct(ld, pivots):
    """A from LAPACK's compact sytrf(uplo='L') form, independently of the solver: apply each
    step's interchange and its (unit lower) column of L, in reverse, to the block diagonal D."""
    n = ld.shape[0]
    steps, k = [], 0
    while k < n:
        size = 1 if pivots[k] > 0 else 2
        steps.append((k, size, abs(int(pivots[k])) - 1))
        k += size
    d = np.zeros((n, n))
    for k, size, _ in steps:
        d[k:k + size, k:k + size] = np.tril(ld[k:k + size, k:k + size])
        d[k, k + size - 1] = d[k + size - 1, k]
    a = d
    for k, size, kp in reversed(steps):   # A_k = P_k L_k A_{k+1} L_k^T P_k^T
        low = np.eye(n)
        low[k + size:, k:k + size] = ld[k + size:, k:k + size]
        a = low @ a @ low.T
        perm = np.arange(n)
        perm[[k + size - 1, kp]] = perm[[kp, k + size - 1]]
        a = a[perm][:, perm]
    return a


def ldl_cases(rng):
    cases = [np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 3.0, 0.0]]), np.diag([2.0, -1.0])]
    for n in (1, 2, 4, 6):
        for kind in range(3):
            a = rng.standard_normal((n, n))
            a = a + a.T
            if kind == 1:   # small diagonal: Bunch-Kaufman takes 2x2 pivots
                np.fill_diagonal(a, 0.01 * rng.standard_normal(n))
            if kind == 2:   # integers: ties in the pivot search
                a = np.round(a)
            cases.append(a)
    return cases


def test_ldl_factor_matches_lapack_sytrf_and_reconstructs_a(rng):
    from scipy.linalg import lapack
    two_by_two = 0
    for a in ldl_cases(rng):
        ld, pivots, info = graphc.linalg.ldl_factor_ex(f64(a))
        want, want_pivots, want_info = lapack.dsytrf(a, lower=1)
        assert info.item() == want_info and pivots.dtype == graphc.int32
        np.testing.assert_array_equal(pivots.numpy(), want_pivots)
        assert_close(ld, np.tril(want))
        if want_info:   # (D has an exact zero: the factorization does not give A back)
            continue
        assert_close(ldl_reconstruct(ld.numpy(), pivots.numpy()), a, atol=1e-12, rtol=1e-12)
        two_by_two += int((pivots.numpy() < 0).any())
    assert two_by_two >= 3


def test_ldl_factor_reads_the_lower_triangle_and_batches(rng):
    a = rng.standard_normal((2, 3, 4, 4))
    sym = np.tril(a) + np.swapaxes(np.tril(a, -1), -1, -2)
    ld, pivots, info = graphc.linalg.ldl_factor_ex(f64(np.tril(a) + 5.0 * np.triu(a, 1)))
    assert ld.shape == (2, 3, 4, 4) and pivots.shape == (2, 3, 4) and info.shape == (2, 3)
    for index in np.ndindex(2, 3):
        assert_close(ldl_reconstruct(ld.numpy()[index], pivots.numpy()[index]), sym[index],
                     atol=1e-12, rtol=1e-12)
    assert_close(ld, np.tril(ld.numpy()))
    ld32, _ = graphc.linalg.ldl_factor(f32(sym))
    assert ld32.dtype == graphc.float32
    assert_close(ld32, ld.numpy())


def test_ldl_solve_solves_with_the_factorization(rng):
    for a in ldl_cases(rng):
        ld, pivots, info = graphc.linalg.ldl_factor_ex(f64(a))
        if info.item():
            continue
        b = rng.standard_normal((a.shape[0], 3))
        x = graphc.linalg.ldl_solve(ld, pivots, f64(b))
        assert_close(x, np.linalg.solve(a, b), atol=1e-9, rtol=1e-9)
    a = rng.standard_normal((2, 3, 3))
    a = a + np.swapaxes(a, -1, -2)
    ld, pivots = graphc.linalg.ldl_factor(f64(a))
    b = rng.standard_normal((4, 1, 3, 2))            # batch broadcast with LD's
    assert_close(graphc.linalg.ldl_solve(ld, pivots, f64(b)), np.linalg.solve(a, b))


def test_ldl_singular_d_is_reported_by_info_or_raised():
    out = graphc.linalg.ldl_factor_ex(graphc.zeros(3, 3, dtype=graphc.float64))
    assert out.info.item() == 1 and out.info.dtype == graphc.int32
    assert out.pivots.tolist() == [1, 2, 3]
    singular = graphc.tensor([[1.0, 1.0], [1.0, 1.0]], dtype=graphc.float64)
    assert graphc.linalg.ldl_factor_ex(singular).info.item() == 2
    with pytest.raises(graphc.linalg.LinAlgError, match=r"ldl_factor: .*D\[1, 1\] is zero"):
        graphc.linalg.ldl_factor(singular)
    with pytest.raises(graphc.linalg.LinAlgError, match=r"\(Batch element 1\)"):
        graphc.linalg.ldl_factor_ex(graphc.stack([graphc.eye(2, dtype=graphc.float64), singular]),
                                    check_errors=True)


def test_ldl_functions_refuse_bad_input_and_backward_as_pytorch():
    eye = graphc.eye(3, dtype=graphc.float64)
    ld, pivots = graphc.linalg.ldl_factor(eye)
    with pytest.raises(ValueError, match=r"A must be a batch of square matrices, got shape "
                                         r"\[2, 3\]"):
        graphc.linalg.ldl_factor(graphc.zeros(2, 3))
    with pytest.raises(TypeError, match="floating point"):
        graphc.linalg.ldl_factor(graphc.zeros(3, 3, dtype=graphc.int64))
    with pytest.raises(ValueError, match=r"pivots of shape \[2\] do not match LD of shape "
                                         r"\[3, 3\] \(expected \[3\]\)"):
        graphc.linalg.ldl_solve(ld, pivots[:2], eye)
    with pytest.raises(ValueError, match=r"B of shape \[3\] does not match LD .*\(\.\.\., 3, k\)"):
        graphc.linalg.ldl_solve(ld, pivots, graphc.ones(3, dtype=graphc.float64))
    with pytest.raises(graphc.errors.DTypeError, match="B must have LD.s dtype"):
        graphc.linalg.ldl_solve(ld, pivots, graphc.ones(3, 1))
    with pytest.raises(graphc.errors.DTypeError, match="pivots must be an integer tensor"):
        graphc.linalg.ldl_solve(ld, pivots.float(), eye)
    with pytest.raises(ValueError, match=r"1 <= \|pivot\| <= 3"):
        graphc.linalg.ldl_solve(ld, graphc.tensor([0, 2, 3], dtype=graphc.int32), eye)
    A = eye.detach().requires_grad_()
    with pytest.raises(graphc.errors.AutogradError, match="ldl_factor is not implemented"):
        graphc.linalg.ldl_factor(A).LD.sum().backward()
    B = eye.detach().requires_grad_()
    with pytest.raises(graphc.errors.AutogradError, match="ldl_solve is not implemented"):
        graphc.linalg.ldl_solve(ld, pivots, B).sum().backward()
    with pytest.raises(graphc.TraceError, match="ldl_factor"):
        graphc.compile(lambda a: graphc.linalg.ldl_factor(a).LD)(eye)


def test_inv_ex_and_solve_ex_do_not_raise_where_lapack_rounds_to_an_exact_zero_pivot():
    # rows 0 and 2 of the middle matrix are dependent: depending on the order of its roundings,
    # an LU meets an exact zero pivot (NumPy's OpenBLAS here) or a 1e-16 one (graphc's getf2,
    # and PyTorch's MKL, which report info 0); the _ex forms must answer either way
    a = np.random.default_rng(0).standard_normal((3, 4, 4))
    a[1, 2] = 3 * a[1, 0]
    a[2] = a[2] @ a[2].T
    info = graphc.linalg.lu_factor_ex(f64(a)).info.tolist()
    A = f64(a).requires_grad_()
    out = graphc.linalg.inv_ex(A)
    assert out.info.tolist() == info
    assert_close(out.inverse[0], np.linalg.inv(a[0]))
    out.inverse[0].sum().backward()
    inverse = np.linalg.inv(a[0])
    assert_close(A.grad[0], -inverse.T @ np.ones((4, 4)) @ inverse.T)
    b = np.ones((3, 4, 2))
    for left in (True, False):
        solved = graphc.linalg.solve_ex(A, f64(b if left else np.swapaxes(b, -1, -2)), left=left)
        assert solved.info.tolist() == info
        assert_close(solved.result[2], np.linalg.solve(a[2], b[2]) if left else
                     np.linalg.solve(a[2].T, b[2]).T)


# -- special.zeta -----------------------------------------------------------------------------------
def mp_zeta(x, q):
    """mpmath's Hurwitz zeta; it needs this many digits for q ~ 100 and x ~ 40 (at 60 digits
    it is off by 1e-13 there)."""
    import mpmath
    with mpmath.workdps(120):
        return float(mpmath.zeta(x, q))


def test_zeta_matches_mpmath_for_positive_q(rng):
    x = np.concatenate([1 + 10 ** rng.uniform(-6, 0, 60), rng.uniform(1, 60, 120)])
    q = np.concatenate([10 ** rng.uniform(-3, 0, 60), rng.uniform(0, 100, 120)])
    rng.shuffle(q)
    got = graphc.special.zeta(f64(x), f64(q)).numpy()
    want = np.array([mp_zeta(a, b) for a, b in zip(x, q)])
    normal = np.abs(want) > 1e-290          # (subnormal results keep fewer digits)
    assert normal.sum() > 150
    np.testing.assert_allclose(got[normal], want[normal], rtol=2e-15)


def test_zeta_matches_cephes_for_large_q(rng):
    from scipy.special import zeta as cephes_zeta
    x, q = rng.uniform(1.01, 40, 100), 10 ** rng.uniform(2, 12, 100)
    want = cephes_zeta(x, q)
    normal = np.abs(want) > 1e-290
    np.testing.assert_allclose(graphc.special.zeta(f64(x), f64(q)).numpy()[normal],
                               want[normal], rtol=1e-13)


def test_zeta_negative_q_and_integer_x_matches_mpmath_to_the_largest_term(rng):
    import mpmath
    x = rng.integers(2, 25, 120).astype(np.float64)
    q = -rng.uniform(0, 60, 120)
    got = graphc.special.zeta(f64(x), f64(q)).numpy()
    with mpmath.workdps(120):
        want = np.array([float(mpmath.zeta(a, b)) for a, b in zip(x, q)])
        largest = np.array([max(abs(float(mpmath.mpf(b + k) ** -a)) for k in range(int(-b) + 2))
                            for a, b in zip(x, q)])
    assert np.all(np.abs(got - want) <= 2e-15 * largest)


def test_zeta_edge_values_follow_pytorch():
    inf, nan = math.inf, math.nan
    cases = [  # x, q, value
        (1.0, 2.0, inf), (0.5, 2.0, nan), (-inf, 2.0, nan),         # x = 1 a pole, x < 1 NaN
        (2.0, 0.0, inf), (2.0, -3.0, inf), (2.0, -inf, inf),        # q a non-positive integer
        (2.5, -1.5, nan), (2.5, 0.0, inf),                           # q < 0 needs an integer x
        (nan, 1.0, nan), (2.0, nan, nan), (2.0, 1e-300, inf),
        (inf, 1.0, 1.0), (inf, 0.5, inf), (inf, -0.5, inf),
        (inf, 2.0, 0.0), (2.0, inf, 0.0),   # limits that PyTorch's Cephes loop answers NaN
    ]
    x, q, want = (np.array(c) for c in zip(*cases))
    for run in (graphc.special.zeta, graphc.compile(graphc.special.zeta, backend="llvm")):
        np.testing.assert_array_equal(run(f64(x), f64(q)).numpy(), want)


def test_zeta_promotes_and_broadcasts_as_pytorch(rng):
    x = rng.uniform(1.5, 6, (3, 1))
    q = rng.uniform(0.1, 5, 4)
    want = graphc.special.zeta(f64(x), f64(q)).numpy()
    assert want.shape == (3, 4)
    out32 = graphc.special.zeta(f32(x), f32(q))
    assert out32.dtype == graphc.float32
    np.testing.assert_array_equal(out32.numpy(),   # computed in float64, rounded once
                                  graphc.special.zeta(f64(x.astype(np.float32)),
                                                      f64(q.astype(np.float32))).numpy()
                                  .astype(np.float32))
    assert graphc.special.zeta(graphc.tensor([2, 3]), graphc.tensor([1, 2])).dtype == \
        graphc.float32
    assert graphc.special.zeta(f32(x), 2.0).dtype == graphc.float32
    assert graphc.special.zeta(f32(x), f64(q)).dtype == graphc.float64
    with pytest.raises(ValueError, match=r"shapes \[3\] and \[4\] cannot be broadcast"):
        graphc.special.zeta(f64(x[:, 0]), f64(q))


def test_zeta_gradient_in_q_is_minus_x_zeta_of_x_plus_one(rng):
    x = np.array([1.5, 2.0, 3.0, 4.0, 7.5])
    q = np.array([0.3, 2.5, -1.25, 11.0, 0.9])
    check_grad(lambda x, q: graphc.special.zeta(x, q), [x, q], wrt=[1])
    want = [-a * mp_zeta(a + 1, b) for a, b in zip(x, q)]

    def dq(x, q):   # the first derivative, differentiated again
        with graphc.enable_grad():   # (check_grad's finite differences run under no_grad)
            q = q if q.requires_grad else q.detach().requires_grad_()
            (g,) = graphc.autograd.grad(graphc.special.zeta(x, q).sum(), [q], create_graph=True)
        return g

    assert_close(dq(f64(x), f64(q)), np.array(want), rtol=1e-13, atol=0)
    check_grad(dq, [x, q], wrt=[1])


def test_zeta_has_no_gradient_in_x_as_pytorch(rng):
    x = f64([2.0, 3.0]).requires_grad_()
    q = f64([1.0, 2.0]).requires_grad_()
    out = graphc.special.zeta(x, q)
    with pytest.raises(graphc.errors.AutogradError, match="with respect to x .* not implemented"):
        out.sum().backward()
    assert_close(graphc.special.zeta(x.detach(), q), out.detach().numpy())
    with pytest.raises(graphc.TraceError, match=r"x \(input\) requires grad inside a compiled"):
        graphc.compile(graphc.special.zeta)(x, q)


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_zeta_compiled_forward_and_q_gradient_equal_eager(backend, rng):
    x = f64(np.concatenate([rng.uniform(1.1, 20, 6), [2.0, 3.0, 5.0]]))
    q = f64(np.concatenate([rng.uniform(0.01, 50, 6), [-0.5, -7.25, -30.6]]))

    def value_and_grad(x, q):
        q = q.detach().requires_grad_()
        out = graphc.special.zeta(x, q)
        out.sum().backward()
        return out, q.grad

    eager = value_and_grad(x, q)
    compiled = graphc.compile(value_and_grad, backend=backend)(x, q)
    for got, want in zip(compiled, eager):
        assert_close(got, want.numpy(), rtol=1e-14, atol=0)
