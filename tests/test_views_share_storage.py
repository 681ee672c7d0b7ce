"""Views share values with their base, as PyTorch's share storage (graphc/views.py).

Expected values are written from PyTorch's documented semantics ("Tensor Views"): an in-place
op on a view changes its base, one on the base changes every view; strides follow torch's rules
(row-major for a new tensor; each view op transforms them; reshape is a view exactly when the
strides allow it). Gradients are checked against central finite differences (float64) and
against the same computation written out of place.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from conftest import assert_close, check_grad
from graphc import AutogradError, nn


def arange(*shape, dtype=graphc.float32):
    return graphc.tensor(np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape),
                         dtype=dtype)


# -- every view op: writes go both ways ----------------------------------------------------------
# (name, view of a 2x3x4 tensor, the same region of a NumPy array as a NumPy view)
VIEW_OPS = [
    ("int index", lambda x: x[1], lambda a: a[1]),
    ("slices", lambda x: x[:, 1:3, ::2], lambda a: a[:, 1:3, ::2]),
    ("None and ellipsis", lambda x: x[None, ..., 2], lambda a: a[None, ..., 2]),
    ("view", lambda x: x.view(6, 4), lambda a: a.reshape(6, 4)),
    ("view -1", lambda x: x.view(-1), lambda a: a.reshape(-1)),
    ("view_as", lambda x: x.view_as(graphc.zeros(4, 6)), lambda a: a.reshape(4, 6)),
    ("reshape (contiguous)", lambda x: x.reshape(3, 8), lambda a: a.reshape(3, 8)),
    ("flatten", lambda x: x.flatten(1), lambda a: a.reshape(2, 12)),
    ("unflatten", lambda x: x.unflatten(2, (2, 2)), lambda a: a.reshape(2, 3, 2, 2)),
    ("ravel", lambda x: x[1].ravel(), lambda a: a[1].reshape(-1)),
    ("graphc.ravel", lambda x: graphc.ravel(x), lambda a: a.reshape(-1)),
    ("narrow", lambda x: x.narrow(1, 1, 2), lambda a: a[:, 1:3]),
    ("select", lambda x: x.select(2, 3), lambda a: a[:, :, 3]),
    ("transpose", lambda x: x.transpose(0, 2), lambda a: a.transpose(2, 1, 0)),
    ("permute", lambda x: x.permute(1, 2, 0), lambda a: a.transpose(1, 2, 0)),
    ("movedim", lambda x: x.movedim(0, -1), lambda a: np.moveaxis(a, 0, -1)),
    ("swapaxes", lambda x: x.swapaxes(1, 2), lambda a: a.swapaxes(1, 2)),
    ("mT", lambda x: x.mT, lambda a: a.swapaxes(1, 2)),
    ("T of a matrix", lambda x: x[0].T, lambda a: a[0].T),
    ("t", lambda x: x[1].t(), lambda a: a[1].T),
    ("squeeze", lambda x: x[:, :1].squeeze(1), lambda a: a[:, 0]),
    ("unsqueeze", lambda x: x.unsqueeze(1), lambda a: a[:, None]),
    ("diagonal", lambda x: x.diagonal(0, 1, 2), lambda a: np.einsum("bii->bi", a[:, :, :3])),
    ("diagonal offset", lambda x: x.diagonal(1, 1, 2),
     lambda a: np.stack([a[:, i, i + 1] for i in range(3)], -1)),
    ("unfold", lambda x: x.unfold(2, 2, 2), lambda a: a.reshape(2, 3, 2, 2)),
    ("split", lambda x: x.split(2, dim=2)[1], lambda a: a[:, :, 2:4]),
    ("chunk", lambda x: x.chunk(3, dim=1)[2], lambda a: a[:, 2:3]),
    ("tensor_split", lambda x: x.tensor_split([1], dim=2)[1], lambda a: a[:, :, 1:]),
    ("unbind", lambda x: x.unbind(1)[2], lambda a: a[:, 2]),
    ("graphc.narrow", lambda x: graphc.narrow(x, 2, 1, 2), lambda a: a[:, :, 1:3]),
    ("graphc.transpose", lambda x: graphc.transpose(x, 0, 1), lambda a: a.swapaxes(0, 1)),
    ("graphc.select", lambda x: graphc.select(x, 0, -1), lambda a: a[-1]),
    ("view of a view", lambda x: x[1].t()[2:], lambda a: a[1].T[2:]),
    ("detach", lambda x: x.detach(), lambda a: a),
]


@pytest.mark.parametrize("name, make, region", VIEW_OPS, ids=[c[0] for c in VIEW_OPS])
def test_in_place_on_a_view_changes_the_base(name, make, region):
    x = arange(2, 3, 4)
    expected = np.arange(24.0).reshape(2, 3, 4)
    v = make(x)
    v.mul_(-1).add_(0.5)
    r = region(expected)
    r[...] = -r + 0.5  # (for unfold's non-overlapping windows and diagonals, a NumPy view too)
    if name.startswith("diagonal"):  # einsum / stack copy: write the diagonal positions
        expected = np.arange(24.0).reshape(2, 3, 4)
        offset = 1 if "offset" in name else 0
        for i in range(3 if not offset else 3):
            expected[:, i, i + offset] = -expected[:, i, i + offset] + 0.5
    assert_close(x, expected)
    assert_close(v, make(graphc.tensor(expected, dtype=graphc.float32)))


@pytest.mark.parametrize("name, make, region", VIEW_OPS, ids=[c[0] for c in VIEW_OPS])
def test_in_place_on_the_base_changes_the_view(name, make, region):
    x = arange(2, 3, 4)
    v = make(x)
    before = v._version
    x.mul_(2)
    assert_close(v, make(arange(2, 3, 4) * 2))
    assert v._version == x._version > before  # one version counter, as in PyTorch
    x[0] = 7.0
    expected = arange(2, 3, 4) * 2
    expected[0] = 7.0
    assert_close(v, make(expected))


def test_the_examples_that_were_silent_no_ops():
    x = graphc.zeros(2, 3)
    x[0].add_(1)
    assert x.tolist() == [[1.0] * 3, [0.0] * 3]
    x.view(6).mul_(3)
    assert x.tolist() == [[3.0] * 3, [0.0] * 3]
    x.narrow(0, 0, 1).copy_(graphc.ones(1, 3))
    x.unbind(0)[1].fill_(2)
    assert x.tolist() == [[1.0] * 3, [2.0] * 3]
    v = x[0]
    x.add_(1)
    assert v.tolist() == [2.0] * 3
    d = x.detach()
    d.zero_()
    assert x.tolist() == [[0.0] * 3] * 2


def test_setitem_on_a_view_and_views_of_views():
    x = graphc.zeros(3, 4)
    row = x[1]
    row[1:3] = 5.0
    col = x.t()[2]  # column 2, a view of a view
    assert x.tolist()[1] == [0.0, 5.0, 5.0, 0.0]
    assert col.tolist() == [0.0, 5.0, 0.0]
    col[0] = -1.0
    assert x[0, 2].item() == -1.0 and row.tolist() == [0.0, 5.0, 5.0, 0.0]


def test_overlapping_views_see_each_others_writes():
    x = arange(6)
    a, b = x[0:4], x[2:6]
    a.fill_(-1.0)
    assert b.tolist() == [-1.0, -1.0, 4.0, 5.0]
    b.add_(10.0)
    assert a.tolist() == [-1.0, -1.0, 9.0, 9.0]
    assert x.tolist() == [-1.0, -1.0, 9.0, 9.0, 14.0, 15.0]


def test_advanced_and_mask_indexing_copy():
    x = arange(4)
    x[graphc.tensor([0, 1])].fill_(9.0)
    x[x > 1].fill_(9.0)
    x[[2, 3]].zero_()
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_clone_and_non_viewable_reshape_copy():
    x = arange(2, 3)
    x.clone().zero_()
    x.t().reshape(6).zero_()  # transposed: reshape must copy, as in PyTorch
    x.t().contiguous().zero_()
    assert x.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    x.t().reshape(3, 2).zero_()  # the same shape: a view (reshape returns the view itself)
    assert x.tolist() == [[0.0] * 3] * 2


# -- strides, as torch computes them -----------------------------------------------------------
LAYOUTS = [
    # (view of a fresh 2x3x4 tensor, torch's stride(), storage_offset(), is_contiguous())
    (lambda x: x, (12, 4, 1), 0, True),
    (lambda x: x.t() if x.ndim == 2 else x.transpose(0, 2), (1, 4, 12), 0, False),
    (lambda x: x[1], (4, 1), 12, True),
    (lambda x: x[:, 1], (12, 1), 4, False),
    (lambda x: x[1, :, ::2], (4, 2), 12, False),
    (lambda x: x[..., 1:3], (12, 4, 1), 1, False),
    (lambda x: x[:, None, 2], (12, 12, 1), 8, False),  # None: unsqueeze's stride
    (lambda x: x[0, :1, None], (4, 4, 1), 0, True),
    (lambda x: x.unsqueeze(3), (12, 4, 1, 1), 0, True),
    (lambda x: x.permute(2, 0, 1), (1, 12, 4), 0, False),
    (lambda x: x.narrow(2, 1, 2), (12, 4, 1), 1, False),
    (lambda x: x.diagonal(0, 1, 2), (12, 5), 0, False),
    (lambda x: x.diagonal(-1, 1, 2), (12, 5), 4, False),
    (lambda x: x.unfold(2, 2, 1), (12, 4, 1, 1), 0, False),
    (lambda x: x[0].expand(5, 3, 4), (0, 4, 1), 0, False),
    (lambda x: x[:, :1].expand(2, 3, 4), (12, 0, 1), 0, False),
    (lambda x: x.view(6, 4), (4, 1), 0, True),
    (lambda x: x.transpose(1, 2).reshape(2, 2, 2, 3), (12, 2, 1, 4), 0, False),
    (lambda x: x.permute(1, 0, 2).flatten(1), None, None, True),  # not viewable: a copy
    (lambda x: x.chunk(2, 2)[1], (12, 4, 1), 2, False),
    (lambda x: x.unbind(1)[2], (12, 1), 8, False),
    (lambda x: x[1].t().unsqueeze(0), (4, 1, 4), 12, False),
]


@pytest.mark.parametrize("index", range(len(LAYOUTS)))
def test_strides_offsets_and_contiguity_are_torchs(index):
    make, strides, offset, contiguous = LAYOUTS[index]
    v = make(graphc.zeros(2, 3, 4))
    if strides is None:  # a copy: a fresh row-major tensor
        assert v._view_info is None and v.stride() == (8, 1) and v.storage_offset() == 0
        return
    assert v.stride() == strides
    assert v.storage_offset() == offset
    assert v.is_contiguous() is contiguous
    assert (v.contiguous() is v) is contiguous


def test_reshape_of_a_transposed_tensor_copies_and_view_raises():
    x = graphc.zeros(2, 3)
    t = x.t()
    assert t.reshape(6)._view_info is None  # a copy
    with pytest.raises(RuntimeError, match=r"view size is not compatible.*Use \.reshape"):
        t.view(6)
    assert t.view(3, 2) is t or t.view(3, 2).stride() == (1, 3)
    # splitting a dim of a transposed tensor is still a view (within one contiguous run)
    y = graphc.zeros(4, 6).t()  # (6, 4), strides (1, 6)
    v = y.view(2, 3, 4)
    assert v.stride() == (3, 1, 6)
    v.fill_(1.0)
    assert float(y.sum()) == 24.0


def test_fresh_tensors_are_contiguous_with_row_major_strides():
    assert graphc.zeros(2, 0, 3).stride() == (3, 3, 1)
    assert graphc.zeros(()).stride() == ()
    assert graphc.zeros(5).stride(0) == 1 and graphc.zeros(2, 3).stride(-2) == 3
    # a view of an empty tensor: torch's strides for the new shape
    assert graphc.zeros(2, 0, 3).view(0, 6).stride() == (6, 1)
    assert graphc.zeros(2, 0, 3).transpose(0, 2).view(3, 2, 0).stride() == (2, 1, 1)


def test_writing_an_expanded_view_raises_like_torch():
    x = graphc.zeros(3)
    e = x.expand(2, 3)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor "
                                           "refers to a single memory location"):
        e.add_(1)
    with pytest.raises(RuntimeError, match="single memory location"):
        x[None].expand_as(graphc.zeros(4, 3))[:, 0].fill_(1.0)
    x[None].expand_as(graphc.zeros(4, 3))[0].fill_(1.0)  # one row of it: no element repeated
    assert x.tolist() == [1.0] * 3
    x.zero_()
    assert x.tolist() == [0.0] * 3
    x[:1].expand(1, 1).fill_(2.0)  # no element repeated: allowed
    assert x.tolist() == [2.0, 0.0, 0.0]
    x.add_(1)  # the base itself, after an expanded view was taken: fine
    assert e.tolist() == [[3.0, 1.0, 1.0]] * 2


# -- autograd -------------------------------------------------------------------------------------
def _write_row(a, b):
    y = a * 1.0
    y[1].mul_(b[0])  # in place on a view of a non-leaf
    y.t()[2].add_(b)  # a column, through a view of a view
    return y


def _write_row_out_of_place(a, b):
    y = a * 1.0
    y = graphc.select_scatter(y, y[1] * b[0], 0, 1)
    return graphc.select_scatter(y, y[:, 2] + b, 1, 2)


def test_gradient_through_in_place_on_views_matches_finite_differences(rng):
    inputs = [rng.standard_normal((3, 4)), rng.standard_normal(3)]
    check_grad(_write_row, inputs)
    grads = check_grad(_write_row_out_of_place, inputs)
    analytic = check_grad(_write_row, inputs)
    for g, h in zip(grads, analytic):
        np.testing.assert_allclose(g, h, rtol=1e-12, atol=1e-12)


def test_gradient_through_a_view_read_after_its_base_changed(rng):
    def f(a):
        y = a * 2.0
        v = y[0]
        y.mul_(a)  # the view is regenerated through the base's new value: v = 2 a[0]^2
        return v * 3.0
    check_grad(f, [rng.standard_normal((2, 3))])
    a = graphc.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    f(a).sum().backward()
    assert_close(a.grad, np.concatenate([12.0 * a.detach().numpy()[0:1], np.zeros((1, 3))]),
                 dtype="f64")


def test_view_grad_fn_and_requires_grad():
    a = graphc.ones(2, 3, requires_grad=True)
    y = a * 2.0
    v = y[0]
    v.add_(1.0)
    assert v.requires_grad and y.grad_fn is not None
    y.sum().backward()
    assert a.grad.tolist() == [[2.0] * 3] * 2


def test_modifying_a_base_after_its_view_was_saved_raises():
    a = graphc.ones(3, requires_grad=True)
    y = a * 2.0
    v = y[:2]
    z = (v * v).sum()  # saves v
    y.add_(1.0)
    with pytest.raises(AutogradError, match="modified by an in-place operation"):
        z.backward()


def test_modifying_a_view_after_its_base_was_saved_raises():
    a = graphc.ones(3, requires_grad=True)
    y = a * 2.0
    z = (y * y).sum()  # saves y
    y[0].add_(1.0)
    with pytest.raises(AutogradError, match="modified by an in-place operation"):
        z.backward()


def test_in_place_on_a_view_of_a_leaf_that_requires_grad_raises():
    w = graphc.ones(3, requires_grad=True)
    with pytest.raises(AutogradError, match="view of a leaf"):
        w[0].add_(1.0)
    with graphc.no_grad():
        w[0].add_(1.0)
    assert w.tolist() == [2.0, 1.0, 1.0] and w.is_leaf and w.requires_grad
    d = w.detach().requires_grad_()
    with pytest.raises(AutogradError, match="leaf"):
        d.add_(1.0)


def test_detach_shares_values_and_version_but_not_history():
    a = graphc.ones(3, requires_grad=True)
    y = a * 2.0
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None
    d.zero_()
    assert y.tolist() == [0.0] * 3 and y.grad_fn is not None
    y.add_(5.0)
    assert d.tolist() == [5.0] * 3 and d.grad_fn is None and not d.requires_grad


# -- .data -----------------------------------------------------------------------------------------
def test_views_of_data_write_the_parameter_without_history():
    p = nn.Parameter(graphc.zeros(6))
    p.data[3:6].fill_(1.0)
    assert p.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    part = p.data[:2]
    with graphc.no_grad():
        p.add_(1.0)
    assert part.tolist() == [1.0, 1.0] and not part.requires_grad
    p.data.view(2, 3)[0].mul_(4.0)
    assert p.tolist() == [4.0, 4.0, 4.0, 2.0, 2.0, 2.0]


def test_lstm_forget_gate_bias_init():
    torch_init = np.zeros(12, dtype=np.float32)
    torch_init[3:6] = 1.0
    lstm = nn.LSTM(4, 3)
    lstm.bias_ih_l0.data.zero_()
    lstm.bias_ih_l0.data[3:6].fill_(1.0)  # the classic forget-gate init
    with graphc.no_grad():
        lstm.bias_hh_l0.zero_()
        lstm.bias_hh_l0[3:6].fill_(1.0)
    assert_close(lstm.bias_ih_l0, torch_init)
    assert_close(lstm.bias_hh_l0, torch_init)
    assert lstm.bias_hh_l0.is_leaf and lstm.bias_hh_l0.requires_grad


@pytest.mark.parametrize("init", [
    lambda t: nn.init.constant_(t, 3.0),
    lambda t: nn.init.zeros_(t),
    lambda t: nn.init.normal_(t),
    lambda t: nn.init.uniform_(t, 5.0, 6.0),
    lambda t: nn.init.xavier_uniform_(t),
    lambda t: nn.init.orthogonal_(t),
])
def test_nn_init_on_a_slice_of_a_parameter(init):
    # every init here writes values other than 7 (random ones with probability 1)
    w = nn.Parameter(graphc.full((4, 3), 7.0))
    init(w[1:3])
    values = w.detach().numpy()
    assert np.all(values[[0, 3]] == 7.0) and np.all(values[1:3] != 7.0)
    assert w.is_leaf and w.requires_grad and w.grad_fn is None
    init(w.data[0:1])
    values = w.detach().numpy()
    assert np.all(values[0] != 7.0) and np.all(values[3] == 7.0)


# -- layout-changing in-place ops ------------------------------------------------------------------
def test_layout_changing_in_place_ops_on_views_refuse():
    x = arange(2, 3)
    with pytest.raises(graphc.ShapeError, match=r"t_\(\) on a view"):
        x[:, :2].t_()
    v = x[0]
    with pytest.raises(graphc.ShapeError, match=r"unsqueeze_\(\) on a tensor that has views"):
        x.unsqueeze_(0)
    assert x.shape == (2, 3) and v.tolist() == [0.0, 1.0, 2.0]
    y = arange(2, 3)
    y.t_()  # without views: as before
    assert y.shape == (3, 2)


def test_data_assignment_leaves_views_with_the_old_values():
    x = arange(3)
    v, w = x[1:], x[:2]
    x.data = graphc.ones(5)
    assert x.tolist() == [1.0] * 5 and v.tolist() == [1.0, 2.0]
    v.fill_(7.0)  # the old values are still shared between the views
    assert w.tolist() == [0.0, 7.0]


# -- compiled functions ----------------------------------------------------------------------------
def _model_and_step(fn):
    graphc.manual_seed(0)
    lin = nn.Linear(3, 4)

    def step(x):
        fn(lin)
        return lin(x).sum()
    return lin, step


STATE_WRITES = [
    ("param.data slice", lambda lin: lin.bias.data[1:3].mul_(0.5)),
    ("param slice under no_grad", lambda lin: _no_grad(lambda: lin.weight[0].add_(1.0))),
    ("param row setitem under no_grad", lambda lin: _no_grad(lambda: lin.weight.t()[2].fill_(
        0.25))),
    ("view of param.data, then read", lambda lin: lin.weight.data.view(-1)[::5].sub_(0.125)),
]


def _no_grad(fn):
    with graphc.no_grad():
        fn()


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
@pytest.mark.parametrize("name, write", STATE_WRITES, ids=[c[0] for c in STATE_WRITES])
def test_compiled_writes_through_views_of_state_match_eager_bit_for_bit(backend, name, write):
    x = graphc.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3))
    results = []
    for compiled in (False, True):
        lin, step = _model_and_step(write)
        bias_view = lin.bias[1:]  # taken eagerly; must follow the compiled write-back
        run = graphc.compile(step, backend=backend) if compiled else step
        outs = [run(x).item() for _ in range(3)]
        results.append((outs, lin.weight.detach().numpy().copy(), lin.bias.detach().numpy().copy(),
                        bias_view.detach().numpy().copy()))
    eager, compiled = results
    if backend == "interpreter":
        assert eager[0] == compiled[0]
    else:  # llvm sums in another order than NumPy (so without views too): float32 rounding
        np.testing.assert_allclose(eager[0], compiled[0], rtol=1e-6)
    for e, c in zip(eager[1:], compiled[1:]):  # the state: elementwise writes, bit for bit
        np.testing.assert_array_equal(e, c)
    np.testing.assert_array_equal(eager[3], eager[2][1:])


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_a_view_taken_outside_and_read_inside_after_the_base_changed(backend):
    state = graphc.zeros(4)
    head = state[:2]  # taken eagerly

    def f(x):
        state.add_(x)
        return head * 1.0  # must see the write above

    g = graphc.compile(f, backend=backend)
    assert g(graphc.ones(4)).tolist() == [1.0, 1.0]
    assert g(graphc.ones(4)).tolist() == [2.0, 2.0]
    assert head.tolist() == [2.0, 2.0] and state.tolist() == [2.0] * 4

    def h(x):
        head.mul_(x)  # written inside: the base is written back
        return state * 1.0

    k = graphc.compile(h, backend=backend)
    assert k(graphc.tensor(3.0)).tolist() == [6.0, 6.0, 2.0, 2.0]
    assert state.tolist() == [6.0, 6.0, 2.0, 2.0]


def test_compiled_view_of_an_argument_written_inside():
    def f(x):
        x[0].add_(1.0)
        x.t()[1].mul_(2.0)
        return x.sum()

    a, b = arange(2, 2), arange(2, 2)
    assert graphc.compile(f)(a).item() == f(b).item()
    assert a.tolist() == b.tolist()


def test_views_outside_a_trace_of_its_arguments_are_refused():
    x = graphc.zeros(3)
    v = x[1:]

    def reads(t):
        return v * t.sum()

    with pytest.raises(graphc.TraceError, match="view of argument"):
        graphc.compile(reads)(x)

    base = graphc.zeros(3)
    with pytest.raises(graphc.TraceError, match="a view of another tensor"):
        graphc.compile(lambda t: t.add_(1.0))(base[1:])
    assert base.tolist() == [0.0] * 3


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_compiled_views_of_values_made_inside_the_trace(backend):
    def f(a):
        y = a * 2.0
        v = y[1:]
        y[0].add_(v.sum(0))  # a view written, another read after
        y.t()[0].mul_(-1.0)
        return y, v * 1.0

    a = arange(3, 2)
    eager, compiled = f(a), graphc.compile(f, backend=backend)(a)
    for e, c in zip(eager, compiled):
        np.testing.assert_array_equal(e.numpy(), c.numpy())
    expected = np.arange(6.0).reshape(3, 2) * 2
    expected[0] += expected[1:].sum(0)
    expected[:, 0] *= -1
    assert_close(eager[0], expected)
    assert_close(eager[1], expected[1:])


def test_compiled_gradient_through_writes_on_views(rng):
    def loss(a, b):
        y = a * 1.0
        y[1].mul_(b[0])
        y.t()[2].add_(b)
        return (y * y).sum()

    a, b = rng.standard_normal((3, 4)), rng.standard_normal(3)
    g = graphc.grad(loss, argnums=(0, 1))
    eager = g(graphc.tensor(a), graphc.tensor(b))
    compiled = graphc.compile(g)(graphc.tensor(a), graphc.tensor(b))
    for e, c in zip(eager, compiled):
        assert_close(c, e.numpy(), dtype="f64")


def test_load_state_dict_and_data_writes_refresh_views():
    lin = nn.Linear(2, 2)
    row = lin.weight[0]
    lin.load_state_dict({"weight": graphc.ones(2, 2), "bias": graphc.zeros(2)})
    assert row.tolist() == [1.0, 1.0]
    lin.weight.data.mul_(3.0)
    assert row.tolist() == [3.0, 3.0]


def test_dead_views_are_dropped():
    x = graphc.zeros(4)
    for i in range(100):
        x[i % 4]
    x.add_(1.0)
    assert x._views is None
    keep = [x[i] for i in range(4)]
    x.add_(1.0)
    assert len(x._views) == 4 and [k.item() for k in keep] == [2.0] * 4


def test_integer_and_bool_views():
    x = graphc.tensor([[1, 2], [3, 4]])
    x[1].mul_(10)
    x.t()[0].add_(1)
    assert x.tolist() == [[2, 2], [31, 40]]
    m = graphc.tensor([True, False, True])
    m[1:].logical_not_()
    assert m.tolist() == [True, True, False]


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_views_returned_by_a_compiled_function_stay_views(backend):
    state = arange(2, 3)

    def f(x):
        return x[1], x.t(), state[:, 1:], x * 2.0  # three views, one new tensor

    g = graphc.compile(f, backend=backend)
    for _ in range(2):  # traced, then from the cache
        x = arange(2, 3)
        row, xt, part, doubled = g(x)
        assert row.stride() == (1,) and row.storage_offset() == 3 and xt.stride() == (1, 3)
        row.fill_(-1.0)
        xt[0].mul_(10.0)
        part.add_(100.0)
        doubled.zero_()
        assert x.tolist() == [[0.0, 1.0, 2.0], [-10.0, -1.0, -1.0]]
        assert doubled._view_info is None
        assert state.tolist() == [[0.0, 101.0, 102.0], [3.0, 104.0, 105.0]]
        state.copy_(arange(2, 3))
    _, _, part, _ = g(arange(2, 3))
    state.mul_(2.0)
    assert part.tolist() == [[2.0, 4.0], [8.0, 10.0]]


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_a_view_of_a_view_argument_returned_is_a_new_tensor_at_every_call(backend):
    # the view's root is the argument's root, which the next call does not pass: it was linked
    # to the first call's tensor (writing the second call's output changed the first's base)
    g = graphc.compile(lambda x: x.t(), backend=backend)
    first = graphc.zeros(3, 4)
    out = g(first[1:])
    second = graphc.ones(3, 4)
    out = g(second[1:])
    assert out.tolist() == [[1.0, 1.0]] * 4 and out._view_info is None
    out[0] = 5.0
    assert first.tolist() == [[0.0] * 4] * 3 and second.tolist() == [[1.0] * 4] * 3
    # the root an argument then too: a later call's output was a view of its other argument
    h = graphc.compile(lambda x, y: (y.t(), x.sum()), backend=backend)
    a = graphc.zeros(3, 4)
    h(a, a[1:])
    a2, b2 = graphc.zeros(3, 4), graphc.ones(3, 4)
    out, _ = h(a2, b2[1:])
    assert out.tolist() == [[1.0, 1.0]] * 4
    out[0] = 5.0
    assert a2.tolist() == [[0.0] * 4] * 3 and b2.tolist() == [[1.0] * 4] * 3


def test_copies_and_pickles_are_tensors_of_their_own():
    import copy
    import pickle
    x = arange(3)
    v = x[1:]
    for made in (copy.deepcopy(x), copy.copy(x), pickle.loads(pickle.dumps(x))):
        made.add_(5.0)  # must not reach x's views (they share no list with the copy)
        assert v.tolist() == [1.0, 2.0] and x.tolist() == [0.0, 1.0, 2.0]
    for made in (copy.deepcopy(v), pickle.loads(pickle.dumps(v))):
        assert made.tolist() == [1.0, 2.0] and made._view_info is None
        made.fill_(-1.0)
        assert x.tolist() == [0.0, 1.0, 2.0]


def test_tensor_split_at_indices_that_do_not_increase():
    x = arange(5)
    pieces = x.tensor_split([3, 1])  # [0:3], [3:1] (empty), [1:5], as in PyTorch
    assert [p.tolist() for p in pieces] == [[0.0, 1.0, 2.0], [], [1.0, 2.0, 3.0, 4.0]]
    assert [p.storage_offset() for p in pieces] == [0, 3, 1]
    pieces[2].mul_(10.0)
    assert x.tolist() == [0.0, 10.0, 20.0, 30.0, 40.0]
    assert pieces[0].tolist() == [0.0, 10.0, 20.0]
    hs = graphc.zeros(2, 4).hsplit([2])
    hs[1].fill_(1.0)
    assert hs[0].storage_offset() == 0 and hs[1].storage_offset() == 2


def test_detached_views_do_not_keep_the_autograd_graph_alive():
    import gc
    import weakref
    w = graphc.ones(3, requires_grad=True)
    kept, graphs = [], []
    for _ in range(3):
        loss = (w * 2.0).sum()
        graphs.append(weakref.ref(loss.grad_fn))
        kept.append(loss.detach())  # a common logging pattern
        del loss
    gc.collect()
    assert all(g() is None for g in graphs)  # PyTorch's detach shares storage, not history
    assert [k.item() for k in kept] == [6.0] * 3


def test_detached_views_share_values_after_their_base_died():
    x = arange(4) * 1.0  # a base only the views below refer to
    d = x.detach()
    part = d[1:3]
    del x
    d.add_(10.0)
    assert part.tolist() == [11.0, 12.0]
    part.fill_(0.0)
    assert d.tolist() == [10.0, 0.0, 0.0, 13.0]


def test_writing_overlapping_unfold_windows_raises():
    x = arange(5)
    with pytest.raises(graphc.ShapeError, match="overlap"):
        x.unfold(0, 2, 1).add_(1.0)  # PyTorch's result depends on its memory order
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    x.unfold(0, 2, 2).add_(1.0)  # windows that do not overlap: written
    assert x.tolist() == [1.0, 2.0, 3.0, 4.0, 4.0]
    x.unfold(0, 3, 1)[1].zero_()  # one window of overlapping ones: no overlap in it
    assert x.tolist() == [1.0, 0.0, 0.0, 0.0, 4.0]


def test_a_view_made_a_leaf_that_requires_grad_stays_one():
    x = graphc.zeros(5)
    w = x[:3].requires_grad_()
    x.add_(1.0)
    assert w.requires_grad and w.is_leaf and w.tolist() == [1.0] * 3
    (w * w).sum().backward()
    assert w.grad.tolist() == [2.0] * 3


# -- an independent review's findings (stop 28) -------------------------------------------------
def test_a_compiled_step_updating_grad_in_place_is_seen_by_the_next_eager_update():
    # eager backward gave p.grad as a view of backward's own tensor: the compiled step wrote
    # the view only, and the next eager accumulation started from the old values
    p = graphc.nn.Parameter(graphc.ones(3))
    (p * p).sum().backward()
    step = graphc.compile(lambda k: (p * p * k).sum().backward())
    step(graphc.tensor(10.0))
    assert p.grad.tolist() == [22.0, 22.0, 22.0]
    (p * p).sum().backward()
    assert p.grad.tolist() == [24.0, 24.0, 24.0]
    p.grad.mul_(0.5)
    assert p.grad.tolist() == [12.0, 12.0, 12.0]


def test_a_grad_that_views_a_flat_buffer_is_written_through_by_compiled_steps():
    flat = graphc.zeros(5)
    q = graphc.nn.Parameter(graphc.ones(3))
    q.grad = flat[1:4]
    step = graphc.compile(lambda: (q * q).sum().backward())
    step()
    assert flat.tolist() == [0.0, 2.0, 2.0, 2.0, 0.0]
    step()
    assert flat.tolist() == [0.0, 4.0, 4.0, 4.0, 0.0] and q.grad.tolist() == [4.0, 4.0, 4.0]


def test_a_view_selected_by_a_0d_index_tensor_keeps_its_position():
    for make in (lambda x, i: x[i], lambda x, i: x[i, :]):
        x = graphc.tensor([[1.0, 2.0], [3.0, 4.0]])
        i = graphc.tensor(1)
        v = make(x, i)
        i.fill_(0)
        v.add_(10.0)
        assert x.tolist() == [[1.0, 2.0], [13.0, 14.0]]


def test_a_compiled_function_returns_a_traced_index_selection_as_a_new_tensor():
    # its view ops hold the first trace's index: rebuilt as a view it followed the wrong row
    p = graphc.tensor([10.0, 20.0, 30.0])
    f = graphc.compile(lambda i: p[i])
    f(graphc.tensor(0))
    b = f(graphc.tensor(2))
    assert b.tolist() == 30.0 and b._view_info is None
    b.mul_(0.0)
    assert p.tolist() == [10.0, 20.0, 30.0]


def test_relu_written_back_into_its_input_view_differentiates():
    # relu's gradient reads its output, as PyTorch's: the input may be overwritten before backward
    w = graphc.tensor(np.array([[0.5, -1.0, 2.0], [1.5, -0.5, -2.0]]), requires_grad=True)
    h = w * 1
    h[:, 1:] = graphc.relu(h[:, 1:])
    h.sum().backward()
    assert w.grad.tolist() == [[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]]


def test_a_result_written_under_no_grad_keeps_its_history():
    # the straight-through estimator: the rounded values, the identity's gradient (PyTorch)
    x = graphc.tensor([0.4, 1.6, 2.5], requires_grad=True)
    y = x * 1
    with graphc.no_grad():
        y.copy_(y.round())
    (y * graphc.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert y.tolist() == [0.0, 2.0, 2.0] and x.grad.tolist() == [1.0, 2.0, 3.0]
    a = graphc.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = a * 1
    with graphc.no_grad():
        b.mul_(2.0)
    (b * a).sum().backward()
    assert a.grad.tolist() == [3.0, 6.0, 9.0]
    b.add_(1.0)  # still a result of autograd, not a leaf: no "leaf ... in-place" error
    e = a.exp()
    with graphc.no_grad():
        e.mul_(2.0)
    with pytest.raises(AutogradError, match="modified by an in-place operation"):
        e.sum().backward()  # exp's backward reads its (now changed) result, as in PyTorch
