"""Function transforms (``graphc.func``, ``graphc.autograd.functional``) against independent
computations: vmap of every registry op against the op's float64 oracle applied per example,
forward and reverse derivatives against central finite differences and closed forms, and
compiled transforms against eager ones."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from test_registry import ORACLES, RANDOM_OPS, SAMPLES, _as64

import graphc
import ir
from conftest import FD_EPS, FD_TOL, assert_close, numeric_gradient
from graphc import nn
from graphc.dispatch import apply
from graphc.func import (
    VmapError,
    VmapRandomnessError,
    batching,
    functional_call,
    grad,
    grad_and_value,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    vjp,
    vmap,
)
from graphc.func.batching import VmapFallbackWarning

BATCH = 3
SCALES = (1.0, 0.9, 0.8)  # per-example float operands: the sample scaled (domains stay valid)


def t64(a):
    return graphc.tensor(np.asarray(a, dtype=np.float64))


# -- every registry op has a batching rule -------------------------------------------------------
def test_every_registry_op_has_a_batching_rule_or_is_listed_as_looped():
    missing = [op.name for op in ir.all_ops()
               if not batching.has_rule(op.name) and op.name not in batching.LOOPED_OPS]
    assert not missing, ("ops with no batching rule: add one to graphc/func/batching.py (RULES or "
                         f"a KIND_RULES default) or list them in LOOPED_OPS: {missing}")
    assert {op.name for op in ir.all_ops() if batching.is_random(op.name)} >= RANDOM_OPS
    stale = sorted(batching.LOOPED_OPS - {op.name for op in ir.all_ops()})
    assert not stale, f"LOOPED_OPS names ops that are not registered: {stale}"


def _examples(array: np.ndarray) -> list[np.ndarray]:
    """BATCH different examples of one operand: float ones scaled, others repeated."""
    if array.dtype.kind == "f":
        return [(array * s).astype(array.dtype) for s in SCALES]
    return [array.copy() for _ in SCALES]


def _vmap_cases():
    params = []
    for op in ir.all_ops():
        if op.name in RANDOM_OPS or op.name in batching.LOOPED_OPS:
            continue
        for i, case in enumerate(SAMPLES[op.name]):
            modes = ["axis0", "last-axis"] + (["first-unbatched"] if len(case.inputs) > 1 else [])
            params += [pytest.param(op.name, i, mode, id=f"{op.name}-{case.id or i}-{mode}")
                       for mode in modes]
    return params


@pytest.mark.parametrize("name,i,mode", _vmap_cases())
def test_vmap_of_every_registry_op_matches_its_oracle_per_example(name, i, mode):
    """The batching rule gives, for each example, what the op's float64 oracle gives on it."""
    case = SAMPLES[name][i]
    per_operand = [_examples(a) for a in case.inputs]
    unbatched = {0} if mode == "first-unbatched" else set()
    axis = -1 if mode == "last-axis" else 0
    args, in_dims = [], []
    for k, examples in enumerate(per_operand):
        if k in unbatched:
            args.append(graphc.tensor(examples[0]))
            in_dims.append(None)
        else:
            args.append(graphc.tensor(np.stack(examples, axis=axis)))
            in_dims.append(axis)
    if not case.inputs:  # sources: map over a dummy argument
        got = vmap(lambda _: apply(name, [], **case.attrs))(graphc.zeros(BATCH))
    else:
        got = vmap(lambda *xs: apply(name, list(xs), **case.attrs), in_dims=tuple(in_dims))(*args)
    for b in range(BATCH):
        operands = [ex[0] if k in unbatched else ex[b] for k, ex in enumerate(per_operand)]
        expected = np.asarray(ORACLES[name](*map(_as64, operands), **case.attrs))
        if got.dtype.is_float:  # f32's tolerance, or the coarser one of f16/bf16 results
            tolerance = None if got.dtype.is_low_precision_float else "f32"
            assert_close(got[b], expected.astype(np.float64), dtype=tolerance)
        else:
            np.testing.assert_array_equal(got[b].numpy(), expected)


def test_an_op_without_a_rule_runs_per_example_with_a_warning_naming_it(monkeypatch):
    monkeypatch.delitem(batching.RULES, "matmul")
    monkeypatch.setitem(batching.KIND_RULES, "matmul", None)
    a, b = np.arange(12.0).reshape(3, 2, 2), np.array([[1.0, 2.0], [3.0, -1.0]])
    with pytest.warns(VmapFallbackWarning, match="'matmul'"):
        got = vmap(graphc.matmul, in_dims=(0, None))(t64(a), t64(b))
    assert_close(got, a @ b)


# -- dtype promotion looks at each example's ranks ------------------------------------------------
def test_vmap_keeps_pytorch_promotion_of_a_mapped_zero_dim_operand():
    """Each example multiplies a 0-d float64 by a float32 matrix: float32, as in PyTorch."""
    s = graphc.tensor(np.array([0.5, 2.0, 3.0]))  # float64, one 0-d value per example
    m = graphc.tensor(np.ones((2, 2), np.float32))
    got = vmap(lambda a, b: a * b, in_dims=(0, None))(s, m)
    assert got.dtype == graphc.float32
    assert_close(got, np.array([0.5, 2.0, 3.0])[:, None, None] * np.ones((3, 2, 2)))


@pytest.mark.parametrize("shapes,dims", [
    (((4,), (4, 5)), (0, None)), (((3, 4), (4,)), (None, 0)), (((4,), (4,)), (0, 0)),
    (((2, 3, 4), (4, 5)), (0, 0)), (((4,), (2, 4, 5)), (0, None))],
    ids=["vec@mat", "mat@vec", "vec@vec", "batched-matrices", "vec@stack"])
def test_vmap_of_matmul_handles_vectors_and_matrices_as_per_example(shapes, dims, rng):
    args, arrays = [], []
    for shape, d in zip(shapes, dims):
        a = rng.standard_normal(((BATCH,) + shape) if d == 0 else shape)
        arrays.append(a)
        args.append(t64(a))
    got = vmap(graphc.matmul, in_dims=dims)(*args)
    expected = [np.matmul(*[a[b] if d == 0 else a for a, d in zip(arrays, dims)])
                for b in range(BATCH)]
    assert_close(got, np.stack(expected))


# -- in_dims, out_dims, pytrees, chunks, randomness --------------------------------------------
def test_vmap_over_pytrees_with_in_dims_per_leaf_and_out_dims_per_output(rng):
    x, y, w = rng.standard_normal((4, 3)), rng.standard_normal((3, 4)), rng.standard_normal(3)

    def f(pair, scale):
        a, b = pair["a"], pair["b"]
        return {"sum": a + b * scale, "dot": (a * scale).sum()}

    out = vmap(f, in_dims=({"a": 0, "b": 1}, None), out_dims={"sum": 1, "dot": 0})(
        {"a": t64(x), "b": t64(y)}, t64(w))
    assert_close(out["sum"], (x + y.T * w).T)
    assert_close(out["dot"], (x * w).sum(axis=1))


def test_vmap_dict_dims_need_the_dicts_key_order_and_broadcast_over_subtrees(rng):
    # as torch.func.vmap: an int stands for a whole subtree (a tuple here)
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((3, 4))

    def f(d):
        return d["a"] + d["b"][0] + d["b"][1]

    args = {"a": t64(x), "b": (t64(y), t64(y))}
    for in_dims in ({"a": 0, "b": 1}, {"a": 0, "b": (1, 1)}):
        assert_close(vmap(f, in_dims=(in_dims,))(args), x + 2 * y.T)
    # PyTorch pairs dict entries by position, not by key: {'b': 1, 'a': 0} maps 'a' over axis
    # 1 there. Matching by key would be another result, silently: a clear error instead
    with pytest.raises(VmapError, match=r"in_dims\[0\] lists its keys in the order \['b', 'a'\] "
                                        r"but the dict it describes has them in the order "
                                        r"\['a', 'b'\]; PyTorch's vmap pairs dict entries by "
                                        r"position"):
        vmap(f, in_dims=({"b": 1, "a": 0},))(args)
    with pytest.raises(VmapError, match=r"in_dims\[0\]\['b'\] lists its keys in the order "
                                        r"\['v', 'u'\]"):
        vmap(lambda d: d["a"] + d["b"]["u"] - d["b"]["v"],
             in_dims=({"a": 0, "b": {"v": 0, "u": 1}},))(
            {"a": t64(x), "b": {"u": t64(y), "v": t64(x)}})
    # another order of equal entries pairs the same by position as by key
    assert_close(vmap(lambda d: d["a"] - d["b"], in_dims=({"b": 0, "a": 0},))(
        {"a": t64(x), "b": t64(2 * x)}), -x)
    with pytest.raises(VmapError, match=r"in_dims\[0\] has keys \[\"'a'\", \"'c'\"\] but the "
                                        r"dict it describes has keys \[\"'a'\", \"'b'\"\]"):
        vmap(f, in_dims=({"c": 1, "a": 0},))(args)
    with pytest.raises(VmapError, match=r"in_dims\[0\]\['b'\] has 3 entries but the tuple"):
        vmap(f, in_dims=({"a": 0, "b": (1, 1, 1)},))(args)


def test_vmap_dict_out_dims_need_the_outputs_key_order(rng):
    z = rng.standard_normal((3, 2, 5))

    def f(t):
        return {"a": t, "b": t[:1]}

    out = vmap(f, out_dims={"a": 1, "b": 0})(t64(z))
    assert_close(out["a"], np.swapaxes(z, 0, 1))
    assert_close(out["b"], z[:, :1])
    # PyTorch pairs {'b': 1, 'a': 0} with the output by position ('a' gets 1): refused here
    with pytest.raises(VmapError, match=r"out_dims lists its keys in the order \['b', 'a'\] but "
                                        r"the dict it describes has them in the order "
                                        r"\['a', 'b'\]"):
        vmap(f, out_dims={"b": 1, "a": 0})(t64(z))
    with pytest.raises(VmapError, match=r"out_dims lists its keys in the order \['b', 'a'\]"):
        vmap(f, out_dims={"b": 1, "a": 0}, chunk_size=2)(t64(z))


def test_vmap_returns_unbatched_outputs_broadcast_or_as_is_with_out_dims_none(rng):
    x, c = rng.standard_normal((3, 2)), rng.standard_normal(2)
    same, varying = vmap(lambda r: (t64(c) * 2, r + 1), out_dims=(None, 0))(t64(x))
    assert_close(same, c * 2)
    assert_close(varying, x + 1)
    assert_close(vmap(lambda r: t64(c))(t64(x)), np.stack([c] * 3))
    with pytest.raises(VmapError, match="out_dims is None for output leaf 0"):
        vmap(lambda r: r, out_dims=None)(t64(x))


def test_vmap_rejects_bad_in_dims_with_clear_errors():
    x = graphc.zeros(3, 2)
    with pytest.raises(VmapError, match="same size in the mapped dimension"):
        vmap(lambda a, b: a + b)(x, graphc.zeros(4, 2))
    with pytest.raises(VmapError, match="out of range"):
        vmap(lambda a: a, in_dims=2)(x)
    with pytest.raises(VmapError, match="only tensors can be mapped"):
        vmap(lambda a, n: a * n, in_dims=(0, 0))(x, 2.0)
    with pytest.raises(VmapError, match="at least one input"):
        vmap(lambda a: a, in_dims=None)(x)
    with pytest.raises(VmapError, match="one entry per argument"):
        vmap(lambda a, b: a, in_dims=(0,))(x, x)
    with pytest.raises(ValueError):  # PyTorch raises ValueError for these too
        vmap(lambda a: a, in_dims=1.5)(x)


def test_vmap_with_chunk_size_equals_one_pass(rng):
    x = rng.standard_normal((7, 3))
    f = vmap(lambda r: (r * r).sum() * r, chunk_size=3)
    assert_close(f(t64(x)), (x * x).sum(axis=1, keepdims=True) * x)


def test_vmap_randomness_error_same_and_different():
    x = graphc.zeros(4, 3)
    draw = lambda r: r + graphc.rand(3)  # noqa: E731
    with pytest.raises(VmapRandomnessError, match="randomness"):
        vmap(draw)(x)
    with pytest.raises(RuntimeError):  # the PyTorch exception type
        vmap(draw)(x)
    same = vmap(draw, randomness="same")(x).numpy()
    assert np.all(same == same[0]) and np.all((0 <= same) & (same < 1))
    different = vmap(draw, randomness="different")(x).numpy()
    assert len({tuple(row) for row in different}) == 4 and np.all((0 <= different) & (different < 1))


# -- vmap composes with itself, grad and compile -----------------------------------------------
def test_nested_vmap_of_dot_is_the_matrix_product(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    rows_by_columns = vmap(vmap(graphc.dot, in_dims=(None, 1)), in_dims=(0, None))
    assert_close(rows_by_columns(t64(a), t64(b)), a @ b)


def _loss(w, x, y):
    return ((graphc.tanh(x @ w) - y) ** 2).sum()


def _per_example_grad(w, x, y):
    """d/dw sum((tanh(x w) - y)^2) for one example, written out: 2 (t - y) (1 - t^2) x^T."""
    t = np.tanh(x @ w)
    return np.outer(x, 2 * (t - y) * (1 - t ** 2))


def test_vmap_of_grad_gives_per_example_gradients(rng):
    w, x, y = rng.standard_normal((3, 2)), rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    got = vmap(grad(_loss), in_dims=(None, 0, 0))(t64(w), t64(x), t64(y))
    assert_close(got, np.stack([_per_example_grad(w, x[i], y[i]) for i in range(5)]))


def test_grad_of_vmap_and_closures_that_require_grad(rng):
    x, w = rng.standard_normal((4, 3)), rng.standard_normal(3)
    wt = graphc.tensor(w, requires_grad=True)
    out = vmap(lambda r: graphc.tanh((r * wt).sum()))(t64(x))
    out.sum().backward()  # d/dw sum_i tanh(x_i . w) = sum_i (1 - tanh^2) x_i
    assert_close(wt.grad, ((1 - np.tanh(x @ w) ** 2)[:, None] * x).sum(axis=0))
    g = grad(lambda xs: vmap(lambda r: (r ** 3).sum())(xs).sum())(t64(x))
    assert_close(g, 3 * x ** 2)


def test_vmap_keeps_detach_and_no_grad_inside_the_function(rng):
    x = rng.standard_normal((2, 3))

    def f(r):
        with graphc.no_grad():
            frozen = r * 3
        return (r * r.detach() + frozen).sum()

    assert_close(grad(lambda xs: vmap(f)(xs).sum())(t64(x)), x)  # only r's first factor


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_compiled_vmap_of_grad_equals_eager(backend, rng):
    w, x, y = rng.standard_normal((3, 2)), rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    per_example = vmap(grad(_loss), in_dims=(None, 0, 0))
    compiled = graphc.compile(per_example, backend=backend)
    args = (t64(w), t64(x), t64(y))
    assert_close(compiled(*args), per_example(*args).numpy())
    assert_close(compiled(*args), np.stack([_per_example_grad(w, x[i], y[i]) for i in range(5)]))


def test_compiled_vmap_of_dropout_differs_per_example_and_retraces_after_eval():
    layer = nn.Dropout(0.5)
    f = graphc.compile(vmap(layer, randomness="different"), backend="interpreter")
    out = f(graphc.ones(6, 50)).numpy()
    assert len({tuple(row) for row in out}) == 6
    assert set(np.unique(out)) <= {0.0, 2.0}
    layer.eval()  # state read inside vmap guards the compiled graph: it retraces
    assert_close(f(graphc.ones(6, 50)), np.ones((6, 50)))


def test_vmap_of_conv2d_with_per_example_weights_matches_a_loop(rng):
    """Batched weights take the grouped-convolution path; per-example weight gradients take the
    conv2d_weight_grad rule."""
    conv = nn.Conv2d(2, 4, 3, padding=1, groups=2).double()
    x = rng.standard_normal((3, 1, 2, 5, 5))
    ws = rng.standard_normal((3, 4, 1, 3, 3))
    params = {"weight": conv.weight, "bias": conv.bias}

    def out_for(w, image):
        return functional_call(conv, {**params, "weight": w}, (image,))

    got = vmap(out_for)(t64(ws), t64(x))
    expected = [out_for(t64(ws[i]), t64(x[i])).numpy() for i in range(3)]
    assert_close(got, np.stack(expected))
    loss = lambda w, image: (out_for(w, image) ** 2).sum()  # noqa: E731
    grads = vmap(grad(loss), in_dims=(None, 0))(conv.weight.detach(), t64(x))
    for i in range(3):
        assert_close(grads[i], grad(loss)(conv.weight.detach(), t64(x[i])).numpy())


# -- vjp, jvp, jacobians, hessians ---------------------------------------------------------------
def _f(x, y):
    return graphc.sin(x) * y.sum() + x ** 2


def _jacobians(x, y):
    """d f / d x and d f / d y of ``_f`` in closed form: shapes [n, n] and [n, m]."""
    return np.diag(np.cos(x) * y.sum() + 2 * x), np.outer(np.sin(x), np.ones_like(y))


def test_vjp_and_jvp_match_finite_differences(rng):
    x, y = rng.standard_normal(3), rng.standard_normal(2)
    tx, ty, v = rng.standard_normal(3), rng.standard_normal(2), rng.standard_normal(3)
    out, vjp_fn = vjp(_f, t64(x), t64(y))
    gx, gy = vjp_fn(t64(v))
    for k, got in ((0, gx), (1, gy)):
        numeric = numeric_gradient(lambda a: float((_f(t64(a[0]), t64(a[1])).numpy() * v).sum()),
                                   [x, y], k)
        np.testing.assert_allclose(got.numpy(), numeric, **FD_TOL)
    primal, tangent = jvp(_f, (t64(x), t64(y)), (t64(tx), t64(ty)))
    numeric = (_f(t64(x + FD_EPS * tx), t64(y + FD_EPS * ty)).numpy()
               - _f(t64(x - FD_EPS * tx), t64(y - FD_EPS * ty)).numpy()) / (2 * FD_EPS)
    np.testing.assert_allclose(tangent.numpy(), numeric, **FD_TOL)
    assert_close(primal, out.numpy())
    assert not primal.requires_grad and not tangent.requires_grad


def test_jacrev_and_jacfwd_agree_with_the_closed_form(rng):
    x, y = rng.standard_normal(3), rng.standard_normal(2)
    jx, jy = _jacobians(x, y)
    for transform in (jacrev, jacfwd):
        assert_close(transform(_f)(t64(x), t64(y)), jx)
        got_x, got_y = transform(_f, argnums=(0, 1))(t64(x), t64(y))
        assert_close(got_x, jx)
        assert_close(got_y, jy)


def test_jacobians_of_pytree_outputs_and_matrix_arguments(rng):
    a = rng.standard_normal((2, 3))
    f = lambda m: {"sq": m ** 2, "total": m.sum()}  # noqa: E731
    for transform in (jacrev, jacfwd):
        jac = transform(f)(t64(a))
        assert jac["sq"].shape == (2, 3, 2, 3) and jac["total"].shape == (2, 3)
        assert_close(jac["sq"], np.einsum("ij,ik,jl->ijkl", 2 * a, np.eye(2), np.eye(3)))
        assert_close(jac["total"], np.ones((2, 3)))


def _energy(x):
    return (x[0] ** 2 * x[1] + graphc.exp(x[1] * x[2])).sum()


def _energy_hessian(x):
    a, b, c = x
    e = math.exp(b * c)
    return np.array([[2 * b, 2 * a, 0.0],
                     [2 * a, c * c * e, e + b * c * e],
                     [0.0, e + b * c * e, b * b * e]])


def test_hessian_matches_the_closed_form_and_finite_differences_of_the_gradient(rng):
    x = rng.uniform(-1, 1, 3)
    h = hessian(_energy)(t64(x))
    assert_close(h, _energy_hessian(x))
    numeric = np.stack([numeric_gradient(lambda a: float(grad(_energy)(t64(a[0]))[k].item()),
                                         [x], 0) for k in range(3)])
    np.testing.assert_allclose(h.numpy(), numeric, **FD_TOL)
    assert_close(jacrev(jacrev(_energy))(t64(x)), _energy_hessian(x))
    assert_close(jacfwd(jacfwd(_energy))(t64(x)), _energy_hessian(x))


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_compiled_hessian_and_jvp_equal_eager(backend, rng):
    x, t = rng.uniform(-1, 1, 3), rng.standard_normal(3)
    compiled = graphc.compile(lambda v, d: (hessian(_energy)(v), jvp(_energy, (v,), (d,))[1]),
                              backend=backend)
    h, tangent = compiled(t64(x), t64(t))
    assert_close(h, _energy_hessian(x))
    assert_close(tangent, float(grad(_energy)(t64(x)).numpy() @ t))


def test_grad_and_value_returns_torch_order():
    g, v = grad_and_value(lambda x: (x ** 2).sum())(t64([1.0, -2.0]))
    assert_close(g, [2.0, -4.0])
    assert_close(v, 5.0)
    g, (v, aux) = grad_and_value(lambda x: ((x ** 2).sum(), x.sum()), has_aux=True)(t64([3.0]))
    assert_close(g, [6.0])
    assert_close(aux, 3.0)


def test_graphc_func_grad_and_vjp_reject_bad_arguments():
    with pytest.raises(graphc.AutogradError, match="tuples"):
        jvp(lambda x: x, t64([1.0]), t64([1.0]))
    with pytest.raises(graphc.AutogradError, match="shape"):
        jvp(lambda x: x, (t64([1.0]),), (t64([1.0, 2.0]),))
    _, vjp_fn = vjp(lambda x: x * 2, t64([1.0, 2.0]))
    with pytest.raises(graphc.AutogradError, match="structure"):
        vjp_fn((t64([1.0, 1.0]), t64([1.0])))


# -- functional_call ----------------------------------------------------------------------------
def test_functional_call_swaps_parameters_and_restores_them(rng):
    layer = nn.Linear(3, 2).double()
    original = layer.weight
    w, b, x = rng.standard_normal((2, 3)), rng.standard_normal(2), rng.standard_normal((4, 3))
    out = functional_call(layer, {"weight": t64(w), "bias": t64(b)}, (t64(x),))
    assert_close(out, x @ w.T + b)
    assert layer.weight is original
    with pytest.raises(KeyError, match="not a parameter or buffer"):
        functional_call(layer, {"wieght": t64(w)}, (t64(x),))
    with pytest.raises(KeyError, match="missing bias"):
        functional_call(layer, {"weight": t64(w)}, (t64(x),), strict=True)


# -- torch.autograd.functional ------------------------------------------------------------------
def test_autograd_functional_jacobian_has_torch_output_structure(rng):
    from graphc.autograd.functional import jacobian
    x, y = rng.standard_normal(3), rng.standard_normal(2)
    jx, jy = _jacobians(x, y)
    for vectorize in (False, True):
        assert_close(jacobian(lambda a: _f(a, t64(y)), t64(x), vectorize=vectorize), jx)
        got = jacobian(_f, (t64(x), t64(y)), vectorize=vectorize)
        assert isinstance(got, tuple) and len(got) == 2
        assert_close(got[0], jx)
        assert_close(got[1], jy)
        both = jacobian(lambda a, b: (_f(a, b), b * 2), (t64(x), t64(y)), vectorize=vectorize)
        assert [[tuple(j.shape) for j in row] for row in both] == [[(3, 3), (3, 2)],
                                                                   [(2, 3), (2, 2)]]
        assert_close(both[1][1], 2 * np.eye(2))
        assert_close(both[1][0], np.zeros((2, 3)))


def test_autograd_functional_strict_mode_and_create_graph():
    from graphc.autograd.functional import jacobian
    x = t64([1.0, 2.0])
    with pytest.raises(RuntimeError, match="independent of input 1"):
        jacobian(lambda a, b: a * 2, (x, t64([1.0])), strict=True)
    assert not jacobian(lambda a: a ** 2, x).requires_grad
    xr = graphc.tensor([1.0, 2.0], dtype=graphc.float64, requires_grad=True)
    j = graphc.autograd.functional.jacobian(lambda a: a ** 3, xr, create_graph=True)
    j.sum().backward()  # d/dx sum(diag(3 x^2)) = 6 x
    assert_close(xr.grad, [6.0, 12.0])


def test_autograd_functional_hessian_vjp_jvp_hvp_vhp(rng):
    from graphc.autograd import functional as AF
    x, v = rng.uniform(-1, 1, 3), rng.standard_normal(3)
    h = _energy_hessian(x)
    assert_close(AF.hessian(_energy, t64(x)), h)
    assert_close(AF.hessian(_energy, t64(x), vectorize=True), h)
    pair = AF.hessian(lambda a, b: (a * b * b).sum(), (t64([2.0]), t64([3.0])))
    assert_close(pair[0][0], [[0.0]])
    assert_close(pair[0][1], [[6.0]])
    assert_close(pair[1][0], [[6.0]])
    assert_close(pair[1][1], [[4.0]])
    for product in (AF.hvp, AF.vhp):
        value, hv = product(_energy, t64(x), t64(v))
        assert_close(hv, h @ v)
        assert_close(value, _energy(t64(x)).numpy())
    value, g = AF.vjp(_energy, t64(x))  # v may be None for a one-element output
    assert_close(g, grad(_energy)(t64(x)).numpy())
    out, jv = AF.jvp(lambda a: a ** 2, t64(x), t64(v))
    assert_close(jv, 2 * x * v)
    with pytest.raises(RuntimeError, match="v can only be None"):
        AF.jvp(lambda a: a ** 2, t64(x))


def test_autograd_functional_is_importable_by_its_torch_path():
    import graphc.autograd.functional as by_path
    from graphc.autograd.functional import hessian as imported

    assert by_path is graphc.autograd.functional and imported is by_path.hessian


# -- the example -------------------------------------------------------------------------------
def test_per_example_gradients_example_runs_and_checks_itself(capsys):
    import runpy
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "examples" / "per_example_gradients.py"
    with warnings.catch_warnings():
        warnings.simplefilter("error", VmapFallbackWarning)  # everything batched in one pass
        runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "per-example gradients match the loop (eager and compiled)" in out
    assert "hessian matches" in out


def test_vmap_explains_data_dependent_python_and_in_place_changes_of_captured_tensors():
    x = graphc.zeros(3, 2)
    with pytest.raises(graphc.TraceError, match=r"\.item\(\).*vmap traces the function"):
        vmap(lambda r: r * r.sum().item())(x)
    w = graphc.zeros(2)
    with pytest.raises(VmapError, match="in place"):
        vmap(lambda r: w.add_(r))(x)
    assert_close(w, np.zeros(2))  # left as it was


def test_transforms_return_aux_values_next_to_jacobians_without_internal_history():
    x = t64([1.0, 2.0])
    f = lambda a: (a * a, a.sum())  # noqa: E731
    for transform in (jacrev, jacfwd):
        jac, aux = transform(f, has_aux=True)(x)
        assert_close(jac, np.diag([2.0, 4.0]))
        assert_close(aux, 3.0)
        assert not aux.requires_grad
    out, tangent, aux = jvp(f, (x,), (t64([1.0, -1.0]),), has_aux=True)
    assert_close(tangent, [2.0, -4.0])
    assert not aux.requires_grad
    out, vjp_fn, aux = vjp(f, x, has_aux=True)
    assert_close(vjp_fn(t64([1.0, 1.0]))[0], [2.0, 4.0])
    assert not aux.requires_grad


def _jvp_cases():
    return [pytest.param(op.name, i, id=f"{op.name}-{case.id or i}")
            for op in ir.all_ops() if op.vjp is not None and op.name in SAMPLES
            for i, case in enumerate(SAMPLES[op.name])
            if case.grad and any(a.dtype.kind == "f" for a in case.inputs)]


@pytest.mark.parametrize("name,i", _jvp_cases())
def test_jvp_of_every_differentiable_registry_op_matches_finite_differences(name, i):
    """Forward mode by the transposed VJP needs every gradient rule to be differentiable in its
    cotangent: checked op by op, in float64, against central differences along a tangent."""
    case = SAMPLES[name][i]
    arrays = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in case.inputs]
    floats = [k for k, a in enumerate(arrays) if a.dtype.kind == "f"]
    tangents = [np.random.default_rng(k).uniform(-1, 1, arrays[k].shape) for k in floats]

    def op_at(*xs):
        full = list(map(graphc.tensor, arrays))
        for k, x in zip(floats, xs):
            full[k] = x
        return apply(name, full, **case.attrs)

    _, tangent = jvp(op_at, tuple(t64(arrays[k]) for k in floats), tuple(map(t64, tangents)))

    def shifted(step):
        return op_at(*(t64(arrays[k] + step * t) for k, t in zip(floats, tangents))).numpy()

    numeric = (shifted(FD_EPS) - shifted(-FD_EPS)) / (2 * FD_EPS)
    np.testing.assert_allclose(tangent.numpy(), numeric, **FD_TOL)


def test_grad_keeps_the_dependence_on_tensors_the_function_captures():
    """func.grad detached its result unless its argument required grad: a gradient penalty
    on a critic's weights was silently dropped, and a grad nested in a grad over a variable
    the inner function captures lost that variable."""
    graphc.manual_seed(0)
    critic = graphc.nn.Linear(3, 1).double()
    x = graphc.tensor([[0.3, -0.2, 0.7]], dtype=graphc.float64)
    g = graphc.func.grad(lambda inp: (critic(inp) ** 2).sum())(x)
    (g ** 2).sum().backward()  # raised 'does not require grad'
    via_func = critic.weight.grad.numpy().copy()
    critic.weight.grad = None
    leaf = x.detach().requires_grad_()
    (reference,) = graphc.autograd.grad((critic(leaf) ** 2).sum(), leaf, create_graph=True)
    (reference ** 2).sum().backward()
    np.testing.assert_allclose(via_func, critic.weight.grad.numpy(), rtol=1e-12)
    assert np.abs(via_func).max() > 1e-3

    grad = graphc.func.grad

    def outer(x):  # d/dx sum(x * grad_y(sum(x * y))) = d/dx sum(x * x) = 2x
        return (grad(lambda y: (x * y).sum())(graphc.tensor([3.0, 4.0])) * x).sum()

    assert grad(outer)(graphc.tensor([1.0, 2.0])).tolist() == [2.0, 4.0]

    def inner(x):  # the variable differentiated is not the x the function captures
        return grad(lambda y: (x * y).sum())(x)

    assert inner(graphc.tensor([1.0, 2.0], requires_grad=True)).tolist() == [1.0, 2.0]
    assert grad(lambda x: inner(x).sum())(graphc.tensor([1.0, 2.0])).tolist() == [1.0, 1.0]


def test_functional_call_gives_a_tied_weight_to_every_name_it_has():
    class Tied(graphc.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = graphc.nn.Linear(2, 2, bias=False)
            self.out = graphc.nn.Linear(2, 2, bias=False)
            self.out.weight = self.emb.weight

        def forward(self, x):
            return self.out(self.emb(x))

    model, w = Tied(), graphc.tensor([[1.0, 2.0], [3.0, 4.0]])
    x = graphc.tensor([[1.0, 1.0]])
    call = graphc.func.functional_call
    assert call(model, {"emb.weight": w}, (x,)).tolist() == [[17.0, 37.0]]  # (W @ W @ x)
    g = graphc.func.grad(lambda p: call(model, p, (x,)).sum())({"emb.weight": w})
    assert g["emb.weight"].tolist() == [[7.0, 11.0], [9.0, 13.0]]
    untied = call(model, {"emb.weight": w}, (x,), tie_weights=False)
    assert untied.tolist() != [[17.0, 37.0]]
    with pytest.raises(ValueError, match="tied weights"):
        call(model, {"emb.weight": w, "out.weight": w * 2}, (x,))


def test_vmap_refuses_a_function_that_changes_its_argument_in_place():
    def doubles(x):
        x.mul_(2)  # the change was dropped silently
        return x.sum()

    with pytest.raises(graphc.func.VmapError, match="changed its argument 0 in place"):
        graphc.func.vmap(doubles)(graphc.tensor([[1.0, 2.0], [3.0, 4.0]]))


def test_transform_edge_cases_as_torch_func():
    # a value that does not depend on the argument: zero gradient (it raised)
    assert graphc.func.grad(lambda a: graphc.tensor(3.0))(graphc.ones(2)).tolist() == [0.0, 0.0]
    # autograd.functional.jvp at logcumsumexp's kink (its dummy cotangent was zeros)
    _, tangent = graphc.autograd.functional.jvp(
        lambda a: graphc.logcumsumexp(a, 0), graphc.tensor([0.5, 0.2, 0.9], dtype=graphc.float64),
        graphc.tensor([1.0, -2.0, 0.5], dtype=graphc.float64))
    _, expected = graphc.func.jvp(
        lambda a: graphc.logcumsumexp(a, 0),
        (graphc.tensor([0.5, 0.2, 0.9], dtype=graphc.float64),),
        (graphc.tensor([1.0, -2.0, 0.5], dtype=graphc.float64),))
    np.testing.assert_allclose(tangent.numpy(), expected.numpy(), rtol=1e-12)
    assert np.abs(tangent.numpy()).max() > 0.05

    from graphc.autograd.function import Function, once_differentiable

    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2

    with pytest.raises(graphc.errors.AutogradError, match="cannot be differentiated"):
        graphc.func.jvp(Cube.apply, (graphc.tensor([1.0, 2.0]),), (graphc.ones(2),))


def test_vmap_randomness_same_gives_every_chunk_the_same_numbers():
    graphc.manual_seed(0)
    rows = graphc.func.vmap(lambda r: r + graphc.rand(2), randomness="same",
                            chunk_size=2)(graphc.zeros(4, 2)).numpy()
    assert (rows == rows[0]).all()  # chunks drew fresh numbers


def test_jacfwd_jacrev_and_hessian_take_dicts_of_tensors():
    params = {"w": graphc.tensor([1.0, 2.0]), "b": graphc.tensor([3.0, 4.0])}

    def f(p):
        return (p["w"] ** 2 * p["b"]).sum()

    hessian = graphc.func.hessian(f)(params)  # raised a TypeError about NumPy object dtypes
    assert hessian["w"]["w"].tolist() == [[6.0, 0.0], [0.0, 8.0]]
    assert hessian["w"]["b"].tolist() == [[2.0, 0.0], [0.0, 4.0]]
    assert hessian["b"]["b"].tolist() == [[0.0, 0.0], [0.0, 0.0]]
    forward = graphc.func.jacfwd(lambda p: p["w"] * p["b"])(params)
    assert forward["w"].tolist() == [[3.0, 0.0], [0.0, 4.0]]
    reverse = graphc.func.jacrev(lambda p: p["w"] * p["b"])(params)
    assert reverse["b"].tolist() == [[1.0, 0.0], [0.0, 2.0]]


def test_transforms_refuse_a_function_changing_its_differentiated_argument_in_place():
    def doubles(y):
        y.mul_(2)  # the gradient was taken at the changed value: [4, 8] for 8y
        return (y ** 2).sum()

    x = graphc.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(graphc.errors.AutogradError, match="changed the argument"):
        graphc.func.grad(doubles)(x)
    with pytest.raises(graphc.errors.AutogradError, match="changed the argument"):
        graphc.func.jacrev(lambda y: y.mul_(3))(x)
