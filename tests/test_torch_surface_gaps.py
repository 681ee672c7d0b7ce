"""PyTorch surface closed in session 27: einsum's sublist form, result_type / promote_types /
can_cast, in-place forms (tril_, cumsum_, squeeze_, ...), select_scatter / diagonal_scatter /
block_diag, mean(dtype=), index_reduce, compiled ``.data`` outputs without autograd, and
explain()'s hit count.

Values are checked against float64 NumPy references written here (exact for integers);
gradients against central finite differences (``check_grad``: float64, rtol 1e-5, atol 1e-7);
compiled results against eager ones (float64, ``assert_close``'s float64 tolerance).
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from conftest import assert_close, check_grad

rng = np.random.default_rng(27)


def compiled_equals_eager(fn, *arrays):
    tensors = [graphc.tensor(a) for a in arrays]
    eager = fn(*tensors)
    assert_close(graphc.compile(fn)(*tensors), eager.numpy())
    return eager


# -- einsum's sublist form ------------------------------------------------------------------------
SUBLIST_CASES = [  # (graphc/torch arguments with None for operands, the NumPy equation, shapes)
    ([None, [0, 1], None, [1, 2]], "AB,BC", [(2, 3), (3, 4)]),
    ([None, [0, 1], None, [1, 2], [2, 0]], "AB,BC->CA", [(2, 3), (3, 4)]),
    ([None, [Ellipsis, 0, 1], None, [1, 2], [Ellipsis, 0, 2]], "...AB,BC->...AC",
     [(5, 2, 3), (3, 4)]),
    ([None, [Ellipsis, 0, 1], None, [Ellipsis, 1, 2]], "...AB,...BC", [(5, 2, 3), (5, 3, 4)]),
    ([None, [26, 26]], "aa", [(3, 3)]),
    ([None, [0, 27], None, [27], [0]], "Ab,b->A", [(2, 3), (3,)]),
    ([None, [51, 0], None, [0, 1], None, [1], []], "zA,AB,B->", [(2, 3), (3, 4), (4,)]),
]


def _with_operands(template, tensors):
    it = iter(tensors)
    return [next(it) if a is None else a for a in template]


@pytest.mark.parametrize("template,equation,shapes", SUBLIST_CASES,
                         ids=[c[1] for c in SUBLIST_CASES])
def test_einsum_sublist_form_matches_numpy_compiled_and_gradient(template, equation, shapes):
    arrays = [rng.standard_normal(s) for s in shapes]

    def fn(*ts):
        return graphc.einsum(*_with_operands(template, ts))
    out = compiled_equals_eager(fn, *arrays)
    assert_close(out, np.einsum(equation, *arrays))
    check_grad(fn, arrays)


def test_einsum_takes_a_list_of_operands():
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    assert_close(graphc.einsum("ij,jk", [graphc.tensor(a), graphc.tensor(b)]), a @ b)


@pytest.mark.parametrize("args,error,match", [
    (lambda x: (x, [0, 52]), ValueError, r"not within the valid range \[0, 52\)"),
    (lambda x: (x, [0, -1]), ValueError, "valid range"),
    (lambda x: (x, ["i", "j"]), TypeError, "integers in \\[0, 52\\) or Ellipsis"),
    (lambda x: (x, x), TypeError, "subscript list of operand 0"),
    (lambda x: (x,), ValueError, "at least one operand and its subscripts list"),
    (lambda x: (x, [0, 1], 5), TypeError, "output subscript list"),
    (lambda x: (x, [0, 1, 2]), graphc.ShapeError, "3 labels but the operand has 2"),
], ids=["too-big", "negative", "letters", "tensor-as-sublist", "no-sublist", "bad-output",
        "rank"])
def test_einsum_sublist_errors_name_the_problem(args, error, match):
    with pytest.raises(error, match=match):
        graphc.einsum(*args(graphc.ones(2, 3)))


# -- result_type, promote_types, can_cast ----------------------------------------------------
def test_promote_types_and_can_cast_follow_pytorchs_table():
    g = graphc
    assert g.promote_types(g.uint8, g.int8) == g.int16
    assert g.promote_types(g.float16, g.bfloat16) == g.float32
    assert g.promote_types(g.bool, g.uint8) == g.uint8
    assert g.promote_types(g.int64, g.float16) == g.float16
    assert g.promote_types(g.int32, g.int64) == g.int64
    assert g.can_cast(g.float64, g.float32) and g.can_cast(g.int8, g.uint8)
    assert g.can_cast(g.bool, g.float16) and g.can_cast(g.int64, g.float16)
    assert not g.can_cast(g.float32, g.int64) and not g.can_cast(g.int32, g.bool)


@pytest.mark.parametrize("a,b,expected", [
    (lambda: graphc.ones(2, dtype=graphc.int32), lambda: 2.5, graphc.float32),
    (lambda: graphc.ones(2, dtype=graphc.float16), lambda: 2.5, graphc.float16),
    (lambda: graphc.ones(2, dtype=graphc.int8), lambda: 100, graphc.int8),
    (lambda: graphc.ones(2, dtype=graphc.bool), lambda: 1, graphc.int64),
    (lambda: graphc.ones(2, dtype=graphc.bool), lambda: True, graphc.bool),
    (lambda: graphc.ones(2, dtype=graphc.float32), lambda: graphc.tensor(1.0, dtype=graphc.float64),
     graphc.float32),  # a 0-d tensor does not widen a dimensioned one of its category
    (lambda: graphc.ones(2, dtype=graphc.int32), lambda: graphc.tensor(1.0, dtype=graphc.float64),
     graphc.float64),  # ... but a higher category wins, in its own dtype
    (lambda: graphc.tensor(1, dtype=graphc.uint8), lambda: graphc.ones(2, dtype=graphc.int8),
     graphc.int8),
    (lambda: graphc.tensor(1, dtype=graphc.uint8), lambda: graphc.tensor(1, dtype=graphc.int8),
     graphc.int16),  # two 0-d tensors promote as types
    (lambda: graphc.tensor(1, dtype=graphc.int32), lambda: 7, graphc.int32),
    (lambda: 1, lambda: 2.5, graphc.float32),
    (lambda: True, lambda: 3, graphc.int64),
    (lambda: 2, lambda: graphc.ones(2, dtype=graphc.uint8), graphc.uint8),
])
def test_result_type_ranks_tensors_zero_dim_tensors_and_numbers(a, b, expected):
    a, b = a(), b()
    assert graphc.result_type(a, b) == expected
    if isinstance(a, graphc.Tensor) or isinstance(b, graphc.Tensor):
        assert (a + b).dtype == expected  # the rule binary ops use


def test_result_type_follows_the_default_dtype_and_refuses_other_objects():
    graphc.set_default_dtype(graphc.float64)
    try:
        assert graphc.result_type(graphc.ones(2, dtype=graphc.int64), 0.5) == graphc.float64
    finally:
        graphc.set_default_dtype(graphc.float32)
    with pytest.raises(TypeError, match="tensor2 must be a Tensor or a Python number"):
        graphc.result_type(graphc.ones(2), "x")


# -- in-place forms --------------------------------------------------------------------------
SAME_SHAPE = [  # (method, arguments, NumPy reference of x)
    ("tril_", (), lambda x: np.tril(x)),
    ("triu_", (1,), lambda x: np.triu(x, 1)),
    ("cumsum_", (1,), lambda x: np.cumsum(x, 1)),
    ("cumprod_", (0,), lambda x: np.cumprod(x, 0)),
    ("reciprocal_", (), lambda x: 1 / x),
    ("arctan_", (), np.arctan),
    ("clip_", (-0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5)),
    ("sign_", (), np.sign),
    ("lt_", (0.25,), lambda x: (x < 0.25).astype(x.dtype)),
    ("log1p_", (), lambda x: np.log1p(np.abs(x))),
]


@pytest.mark.parametrize("name,args,reference", SAME_SHAPE, ids=[c[0] for c in SAME_SHAPE])
def test_in_place_forms_match_numpy_and_bump_the_version(name, args, reference):
    a = rng.standard_normal((3, 4))
    if name == "log1p_":
        a = np.abs(a)
    x = graphc.tensor(a)
    assert getattr(x, name)(*args) is x
    assert x._version == 1
    assert_close(x, reference(a))


@pytest.mark.parametrize("name,args,shape", [
    ("squeeze_", (), (3, 4)), ("squeeze_", (1,), (3, 4)), ("unsqueeze_", (-1,), (3, 1, 4, 1)),
    ("transpose_", (0, 2), (4, 1, 3)), ("swapaxes_", (0, 1), (1, 3, 4)),
    ("swapdims_", (2, 0), (4, 1, 3)),
], ids=["squeeze", "squeeze-dim", "unsqueeze", "transpose", "swapaxes", "swapdims"])
def test_in_place_shape_changes_are_eager(name, args, shape):
    a = rng.standard_normal((3, 1, 4))
    x = graphc.tensor(a)
    out_of_place = getattr(graphc.tensor(a), name[:-1])(*args)
    assert getattr(x, name)(*args) is x
    assert x.shape == shape and x._version == 1
    assert_close(x, out_of_place.numpy())


def test_in_place_forms_keep_dtype_and_refuse_leaves_that_require_grad():
    x = graphc.tensor([[1, 2, 3], [4, 5, 6]], dtype=graphc.int32)
    x.cumsum_(1)
    assert x.dtype == graphc.int32 and x.tolist() == [[1, 3, 6], [4, 9, 15]]
    x.eq_(6)  # a comparison is stored in the tensor's dtype, as in PyTorch
    assert x.dtype == graphc.int32 and x.tolist() == [[0, 0, 1], [0, 0, 0]]
    leaf = graphc.ones(2, 2, requires_grad=True)
    with pytest.raises(graphc.AutogradError, match="leaf tensor that requires grad"):
        leaf.tril_()
    with pytest.raises(graphc.AutogradError, match="leaf tensor that requires grad"):
        leaf.unsqueeze_(0)


@pytest.mark.parametrize("update", [
    lambda y: y.tril_(-1), lambda y: y.cumsum_(0), lambda y: y.cumprod_(1),
    lambda y: y.transpose_(0, 1), lambda y: y.unsqueeze_(0),
], ids=["tril", "cumsum", "cumprod", "transpose", "unsqueeze"])
def test_gradient_flows_through_in_place_forms(update):
    def fn(x):
        y = x * 1.0
        update(y)
        return y
    check_grad(fn, [rng.standard_normal((3, 3)) + 2.0])


def test_in_place_forms_write_state_back_in_a_compiled_function():
    state = graphc.tensor(rng.standard_normal((3, 3)))
    expected = np.cumsum(np.triu(state.numpy()), 0)

    @graphc.compile
    def step(scale):
        state.triu_().cumsum_(0)
        return state.sum() * scale

    out = step(graphc.tensor(2.0, dtype=graphc.float64))
    assert_close(state, expected)
    assert_close(out, 2 * expected.sum())


def test_compiled_shape_changing_in_place_is_a_trace_error():
    f = graphc.compile(lambda x: x.unsqueeze_(0) * 2)
    with pytest.raises(graphc.TraceError, match=r"unsqueeze_\(\) changes the shape.*unsqueeze"):
        f(graphc.ones(2, 3))
    g = graphc.compile(lambda x: x.squeeze_(1) * 2)  # a dim of size 3: the shape stays
    assert_close(g(graphc.ones(2, 3)), np.full((2, 3), 2.0))


# -- select_scatter, diagonal_scatter, block_diag -------------------------------------------------
def _diagonal_scatter_reference(a, s, offset, dim1, dim2):
    out = a.copy()
    view = np.moveaxis(out, (dim1, dim2), (-2, -1))  # a view: writes land in out
    rows, cols = view.shape[-2:]
    for k in range(s.shape[-1]):
        r, c = k + max(-offset, 0), k + max(offset, 0)
        view[..., r, c] = s[..., k]
    assert r < rows and c < cols
    return out


@pytest.mark.parametrize("shape,offset,dim1,dim2", [
    ((3, 4), 0, 0, 1), ((3, 4), 2, 0, 1), ((3, 4), -1, 1, 0), ((2, 3, 4), 1, 2, 0),
    ((2, 3, 4), 0, -1, -2),
])
def test_diagonal_scatter_matches_numpy_compiled_and_gradient(shape, offset, dim1, dim2):
    a = rng.standard_normal(shape)
    s = rng.standard_normal(np.diagonal(a, offset, dim1, dim2).shape)

    def fn(x, src):
        return graphc.diagonal_scatter(x, src, offset, dim1, dim2)
    out = compiled_equals_eager(fn, a, s)
    assert_close(out, _diagonal_scatter_reference(a, s, offset, dim1, dim2))
    check_grad(fn, [a, s])


@pytest.mark.parametrize("dim,index", [(0, 1), (1, -1), (2, 0), (-1, 3)])
def test_select_scatter_matches_numpy_compiled_and_gradient(dim, index):
    a = rng.standard_normal((2, 3, 4))
    s = rng.standard_normal(np.take(a, index, axis=dim).shape)
    expected = a.copy()
    np.moveaxis(expected, dim, 0)[index] = s

    def fn(x, src):
        return graphc.select_scatter(x, src, dim, index)
    assert_close(compiled_equals_eager(fn, a, s), expected)
    check_grad(fn, [a, s])


def test_view_scatters_cast_src_and_refuse_wrong_shapes():
    out = graphc.select_scatter(graphc.zeros(2, 2), graphc.tensor([1, 2]), 0, 0)
    assert out.dtype == graphc.float32 and out.tolist() == [[1.0, 2.0], [0.0, 0.0]]
    with pytest.raises(graphc.ShapeError, match=r"src size = \[3\], slice size = \[2\]"):
        graphc.diagonal_scatter(graphc.zeros(2, 3), graphc.ones(3))
    with pytest.raises(IndexError, match="index 5 out of range"):
        graphc.select_scatter(graphc.zeros(2, 3), graphc.ones(3), 0, 5)


def _block_diag_reference(*arrays):
    blocks = [np.reshape(a, (1, -1)) if a.ndim < 2 else a for a in arrays]
    out = np.zeros((sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks)),
                   np.result_type(*blocks))
    r = c = 0
    for b in blocks:
        out[r:r + b.shape[0], c:c + b.shape[1]] = b
        r, c = r + b.shape[0], c + b.shape[1]
    return out


def test_block_diag_matches_numpy_compiled_and_gradient():
    arrays = [rng.standard_normal((2, 3)), rng.standard_normal(3), np.array(1.5),
              np.zeros((0, 2)), rng.standard_normal((2, 1))]
    out = compiled_equals_eager(graphc.block_diag, *arrays)
    assert_close(out, _block_diag_reference(*arrays))
    check_grad(lambda a, b, c, e: graphc.block_diag(a, b, c, e),
               [arrays[0], arrays[1], arrays[2], arrays[4]])


def test_block_diag_promotes_and_refuses_3d():
    out = graphc.block_diag(graphc.tensor([[1, 2]], dtype=graphc.int32), graphc.tensor(0.5))
    assert out.dtype == graphc.float32 and out.tolist() == [[1.0, 2.0, 0.0], [0.0, 0.0, 0.5]]
    empty = graphc.block_diag()
    assert empty.shape == (1, 0) and empty.dtype == graphc.float32
    with pytest.raises(graphc.ShapeError, match="2 or fewer dimensions. Input 1 has 3"):
        graphc.block_diag(graphc.ones(2), graphc.ones(1, 1, 1))


# -- reductions' dtype= -----------------------------------------------------------------------
def test_mean_takes_a_float_dtype_and_refuses_integers_without_one():
    ints = graphc.tensor([[1, 2], [3, 6]])
    out = ints.mean(1, dtype=graphc.float64)
    assert out.dtype == graphc.float64 and out.tolist() == [1.5, 4.5]
    assert graphc.mean(ints, dtype=graphc.float32).item() == 3.0
    x32 = graphc.tensor(rng.standard_normal(5).astype(np.float32))
    assert_close(x32.mean(dtype=graphc.float64), x32.numpy().astype(np.float64).mean())
    with pytest.raises(RuntimeError, match="mean.*could not infer output dtype. Input dtype"):
        ints.mean()
    with pytest.raises(RuntimeError, match="Optional dtype must be either a floating point"):
        ints.mean(dtype=graphc.int64)
    with pytest.raises(RuntimeError, match="std and var only support floating point"):
        ints.var()


def test_sum_prod_cumsum_dtype_compute_in_that_dtype():
    u8 = graphc.tensor([100, 200, 4], dtype=graphc.uint8)
    assert u8.sum().dtype == graphc.int64 and u8.sum().item() == 304
    assert u8.sum(dtype=graphc.uint8).item() == 304 % 256
    assert u8.prod(dtype=graphc.float64).item() == 80000.0
    assert u8.cumsum(0, dtype=graphc.int16).tolist() == [100, 300, 304]
    f = graphc.tensor([1.5, 2.5])
    assert f.sum(dtype=graphc.int64).item() == 3  # the input is cast first, as in PyTorch


# -- index_reduce ------------------------------------------------------------------------------
def _index_reduce_reference(a, dim, index, s, reduce, include_self):
    out = np.moveaxis(a.copy(), dim, 0)
    src = np.moveaxis(s, dim, 0)
    combine = {"prod": np.prod, "mean": np.mean, "amax": np.max, "amin": np.min}[reduce]
    for row in set(index.tolist()):
        parts = [src[i] for i in range(len(index)) if index[i] == row]
        if include_self:
            parts.append(out[row])
        value = combine(np.stack(parts), axis=0)
        if reduce == "mean" and a.dtype.kind == "i":  # integer means round down
            value = np.floor_divide(np.sum(np.stack(parts), axis=0), len(parts))
        out[row] = value
    return np.moveaxis(out, 0, dim)


@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_index_reduce_matches_numpy_compiled_and_gradient(reduce, include_self):
    # distinct values: amax/amin have one winner, so finite differences see a smooth function
    a = rng.permutation(12).reshape(3, 4) / 4.0 + 0.5
    s = rng.permutation(15).reshape(3, 5) / 5.0 + 0.3
    index = np.array([0, 2, 0, 1, 2])

    def fn(x, src):
        return graphc.index_reduce(x, 1, graphc.tensor(index), src, reduce,
                                   include_self=include_self)
    out = compiled_equals_eager(fn, a, s)
    assert_close(out, _index_reduce_reference(a, 1, index, s, reduce, include_self))
    check_grad(fn, [a, s])


def test_index_reduce_integers_in_place_and_errors():
    a = np.array([[7, -3], [2, 5], [1, 1]])
    s = np.array([[-4, 4], [0, 9]])
    x = graphc.tensor(a)
    assert x.index_reduce_(0, graphc.tensor([0, 0]), graphc.tensor(s), "mean") is x
    assert x._version == 1
    assert_close(x, _index_reduce_reference(a, 0, np.array([0, 0]), s, "mean", True))
    with pytest.raises(RuntimeError, match="one of prod, mean, amax or amin but got 'sum'"):
        x.index_reduce(0, graphc.tensor([0]), graphc.ones(1, 2, dtype=graphc.int64), "sum")
    with pytest.raises(IndexError, match="out of range"):  # no negative indices, as PyTorch
        x.index_reduce(0, graphc.tensor([-1]), graphc.ones(1, 2, dtype=graphc.int64), "prod")


# -- compiled .data outputs and explain() --------------------------------------------------------
def test_compiled_data_and_detach_outputs_have_no_autograd():
    model = graphc.nn.Linear(3, 2)
    x = graphc.tensor(rng.standard_normal((4, 3)), requires_grad=True)

    def fn(x):
        return model.weight.data, model.weight.detach(), model.weight.data * 2, x.data, x.data * x
    f = graphc.compile(fn)
    for outs in (fn(x), f(x), f(x)):  # eager, the tracing call, a cached call
        assert [o.requires_grad for o in outs] == [False, False, False, False, True]
        assert all(o.grad_fn is None for o in outs[:4])
    outs[-1].sum().backward()
    assert_close(x.grad, x.detach().numpy())  # x.data is a constant: d(x.data * x)/dx = x
    assert_close(outs[0], model.weight.detach().numpy())


def test_explain_counts_the_tracing_call_as_a_miss():
    f = graphc.compile(lambda x: x * 2)
    f(graphc.ones(2))
    assert f.entries[0].hits == 0 and f.traces == 1
    assert "1 cache entry, 0 hits, 1 traces" in f.explain()
    f(graphc.ones(2))
    f(graphc.ones(3))  # another shape: a second trace, a miss again
    assert [e.hits for e in f.entries] == [1, 0] and f.traces == 2
    assert "2 cache entries, 1 hits, 2 traces" in f.explain()
