"""Writes through views done in place through NumPy strides (``views._write_in_place``): the
same values as the scatter path and as NumPy float64, the arrays others hold never written,
autograd as before; the fast ``x[key]`` / ``narrow`` / ``select`` / ``transpose`` views; and
PyTorch's refusal of in-place ops on views made under ``no_grad``."""
import numpy as np
import pytest

import graphc
from graphc import views
from graphc.autograd import gradcheck
from graphc.errors import AutogradError

# (name, graphc view of a 4x6 root, the same view of a NumPy array)
VIEWS = [
    ("int", lambda x: x[1], lambda a: a[1]),
    ("neg int", lambda x: x[-1], lambda a: a[-1]),
    ("slices", lambda x: x[1:3, ::2], lambda a: a[1:3, ::2]),
    ("column", lambda x: x[:, 1], lambda a: a[:, 1]),
    ("ellipsis", lambda x: x[..., 2:5], lambda a: a[..., 2:5]),
    ("none", lambda x: x[None, 1:, 3], lambda a: a[None, 1:, 3]),
    ("narrow", lambda x: x.narrow(1, 2, 3), lambda a: a[:, 2:5]),
    ("select", lambda x: x.select(1, -2), lambda a: a[:, -2]),
    ("transpose", lambda x: x.transpose(0, 1), lambda a: a.T),
    ("t then slice", lambda x: x.t()[1:4], lambda a: a.T[1:4]),
    ("permute", lambda x: x.view(2, 2, 6).permute(2, 0, 1),
     lambda a: a.reshape(2, 2, 6).transpose(2, 0, 1)),
    ("view", lambda x: x.view(3, 8)[1], lambda a: a.reshape(3, 8)[1]),
    ("reshape", lambda x: x.reshape(-1)[5:17:3], lambda a: a.reshape(-1)[5:17:3]),
    ("diagonal", lambda x: x.diagonal(1), lambda a: np.einsum("ii->i", a[:, 1:5])),
    ("unfold", lambda x: x.unfold(1, 2, 3),
     lambda a: np.lib.stride_tricks.sliding_window_view(a, 2, axis=1, writeable=True)[:, ::3]),
    ("unsqueeze", lambda x: x[2].unsqueeze(0), lambda a: a[2][None]),
    ("chunk", lambda x: x.chunk(2, 1)[1], lambda a: a[:, 3:]),
    ("unbind", lambda x: x.unbind(1)[4], lambda a: a[:, 4]),
    ("detach", lambda x: x.detach()[1:, 2], lambda a: a[1:, 2]),
    ("view of view", lambda x: x[1:][:, 2:][1], lambda a: a[1:][:, 2:][1]),
]
# (name, in-place op on the view, the same on a NumPy view)
WRITES = [
    ("add_", lambda v, c: v.add_(c), lambda a, c: a.__iadd__(c)),
    ("mul_", lambda v, c: v.mul_(v), lambda a, c: a.__imul__(a.copy())),
    ("fill_", lambda v, c: v.fill_(-c), lambda a, c: a.fill(-c)),
    ("copy_", lambda v, c: v.copy_(graphc.arange(v.numel(), dtype=v.dtype).reshape(v.shape)),
     lambda a, c: np.copyto(a, np.arange(a.size).reshape(a.shape))),
]


def _root():
    return np.arange(24, dtype=np.float64).reshape(4, 6) / 7


def _scatter_only(monkeypatch):
    monkeypatch.setattr(views, "_write_in_place", lambda *args: False)


@pytest.mark.parametrize("dtype", [graphc.float32, graphc.float64, graphc.int64])
@pytest.mark.parametrize("view", VIEWS, ids=[v[0] for v in VIEWS])
@pytest.mark.parametrize("write", WRITES, ids=[w[0] for w in WRITES])
def test_in_place_write_matches_scatter_and_numpy(view, write, dtype, monkeypatch):
    _, take, take_np = view
    _, op, op_np = write
    c = 1.5 if dtype.is_float else 3
    x = graphc.tensor(_root() * 7).to(dtype)
    other = x[2:]  # a live view of the same root, refreshed
    done = []
    with monkeypatch.context() as m:
        m.setattr(views, "_write_in_place",
                  lambda *a, _f=views._write_in_place: done.append(_f(*a)) or done[-1])
        op(take(x), c)
    assert done == [True]  # (written in place, not by the scatter)
    got, got_other = x.numpy().copy(), other.numpy().copy()
    with monkeypatch.context() as m:
        _scatter_only(m)
        y = graphc.tensor(_root() * 7).to(dtype)
        y_other = y[2:]
        op(take(y), c)
    np.testing.assert_array_equal(got, y.numpy())  # bit-identical to the scatter path
    np.testing.assert_array_equal(got_other, y_other.numpy())
    np.testing.assert_array_equal(got_other, got[2:])
    ref = (_root() * 7).astype(x.numpy().dtype).astype(np.float64)
    op_np(take_np(ref), c)
    tol = {graphc.float32: 1e-6, graphc.float64: 1e-15, graphc.int64: 0}[dtype]
    np.testing.assert_allclose(got, ref.astype(got.dtype), rtol=tol, atol=tol)


def _address(t):
    return t._data.__array_interface__["data"][0]  # (no reference to the array kept)


def test_a_sole_root_is_written_where_it_is():
    x = graphc.zeros(200, 300)
    x[:, 1:].add_(1)  # (the first write may copy: zeros' array need not be graphc's own)
    where = _address(x)
    v = x[:, 1:]
    v.add_(1)
    x.narrow(0, 3, 5).mul_(2)
    assert _address(x) == where
    expected = np.zeros((200, 300), np.float32)
    expected[:, 1:] = 2
    expected[3:8, 1:] = 4
    np.testing.assert_array_equal(x.numpy(), expected)
    np.testing.assert_array_equal(v.numpy(), expected[:, 1:])


def test_arrays_others_hold_are_never_written():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    x = graphc.from_numpy(a)
    x[1].add_(1)
    np.testing.assert_array_equal(a, np.arange(12).reshape(3, 4))  # from_numpy's input
    seen = x.numpy()
    before = seen.copy()
    x[:, 2].mul_(10)
    np.testing.assert_array_equal(seen, before)  # an earlier numpy()
    row = x[0]
    seen_row = row.numpy()
    row_before = seen_row.copy()
    x[0].fill_(7)
    np.testing.assert_array_equal(seen_row, row_before)  # numpy() of a view
    same = graphc.Tensor._wrap(x._data)  # another tensor over the very array
    same_before = same.numpy().copy()
    x[2].zero_()
    np.testing.assert_array_equal(same.numpy(), same_before)
    np.testing.assert_array_equal(x.numpy()[2], 0)


def test_an_autograd_saved_value_is_not_written():
    w = graphc.ones(3, 4, requires_grad=True)
    h = (w * 2).exp()  # exp's rule reads its saved output
    with graphc.no_grad():
        h[1].add_(1)  # written under no_grad: the value exp saved must stay
    with pytest.raises(AutogradError, match="modified by an in-place operation"):
        h.sum().backward()


def test_gradients_unchanged_and_gradcheck():
    def f(w, s):
        h = w * 3
        h[1:, ::2].mul_(s[:, None])  # the root records autograd: torch's CopySlices (scatter)
        h.t()[2].add_(s.sum())
        return (h * h).sum()

    w = graphc.tensor(np.linspace(-1, 1, 12).reshape(3, 4), dtype=graphc.float64,
                      requires_grad=True)
    s = graphc.tensor([0.5, -1.5], dtype=graphc.float64, requires_grad=True)
    assert gradcheck(f, (w, s))

    def g(s):
        x = graphc.zeros(3, 4, dtype=graphc.float64)  # no history: the value brings it
        x[1].copy_(s * 2)
        return (x * x.sum()).sum()
    assert gradcheck(g, (graphc.tensor(np.linspace(0, 1, 4), dtype=graphc.float64,
                                       requires_grad=True),))


def test_version_counter_fires_both_ways_through_fast_writes():
    base = graphc.ones(3, 4)
    w = graphc.ones(4, requires_grad=True)
    v = base[1]
    y = (v * w).sum()  # mul saves v for w's gradient
    base.add_(1)
    with pytest.raises(AutogradError, match="modified by an in-place operation"):
        y.backward()
    z = (base * w).sum()
    base[2].add_(1)  # written through a view: base's version moves
    with pytest.raises(AutogradError, match="modified by an in-place operation"):
        z.backward()


def test_fast_views_have_torch_layout():
    torch = pytest.importorskip("torch")
    keys = [0, -1, (slice(None), 1), (Ellipsis, slice(None, 2)), (None, 1, slice(1, None, 2)),
            (slice(1, 3), None, Ellipsis), (1, 1, 2), (slice(5, 9),)]
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    for base_g, base_t in [(graphc.tensor(a), torch.tensor(a)),
                           (graphc.tensor(a).transpose(0, 2), torch.tensor(a).transpose(0, 2)),
                           (graphc.tensor(a)[1:, ::2], torch.tensor(a)[1:, ::2])]:
        for key in keys:
            g, t = base_g[key], base_t[key]
            assert g.stride() == t.stride(), key
            assert g.storage_offset() == t.storage_offset(), key
            assert g.is_contiguous() == t.is_contiguous(), key
            np.testing.assert_array_equal(g.numpy(), t.numpy())
        for op, args in [("narrow", (1, 1, 1)), ("narrow", (-1, -3, 2)), ("select", (2, -1)),
                         ("transpose", (0, -1)), ("swapaxes", (1, 2))]:
            g, t = getattr(base_g, op)(*args), getattr(base_t, op)(*args)
            assert (g.stride(), g.storage_offset()) == (t.stride(), t.storage_offset()), op
            np.testing.assert_array_equal(g.numpy(), t.numpy())


def test_fast_views_raise_the_general_errors():
    x = graphc.zeros(2, 3)
    for bad in [lambda: x[2], lambda: x[0, 5], lambda: x[0, 0, 0], lambda: x[..., ...],
                lambda: x.narrow(1, 2, 2), lambda: x.select(0, 2), lambda: x.transpose(0, 2)]:
        with pytest.raises((IndexError, ValueError, RuntimeError)):
            bad()


def _no_grad_view(base):
    with graphc.no_grad():
        return base[0]


@pytest.mark.parametrize("leaf", [True, False])
@pytest.mark.parametrize("value_requires_grad", [True, False])
def test_writing_a_view_made_under_no_grad_raises_like_torch(leaf, value_requires_grad):
    w = graphc.ones(3, 2, requires_grad=True)
    v = _no_grad_view(w if leaf else w * 2)
    other = graphc.ones(2, requires_grad=value_requires_grad)
    with pytest.raises(RuntimeError, match="A view was created in no_grad mode and is being "
                                           "modified inplace with grad mode enabled"):
        v.add_(other)


def test_no_grad_view_rules():
    v = _no_grad_view(graphc.ones(3, 2))  # a base that needs no grad: a constant write is fine
    v.add_(1)
    with pytest.raises(RuntimeError, match="A view was created in no_grad mode"):
        v.add_(graphc.ones(2, requires_grad=True))
    h = graphc.ones(3, 2, requires_grad=True) * 2
    v = _no_grad_view(h)
    with graphc.no_grad():
        v.add_(1)  # both under no_grad: allowed, as in torch
        h.mul_(2)
    h.mul_(3)  # the base written under grad mode: the view gets no history through it
    assert not v.requires_grad and v.grad_fn is None
    assert v.tolist() == [18.0, 18.0] and h[0].tolist() == [18.0, 18.0]
    with pytest.raises(RuntimeError, match="A view was created in no_grad mode and is being "
                                           "modified inplace with grad mode enabled"):
        v.add_(1)  # (torch raises at any use of v by now; graphc reads it as a constant)


def test_setitem_with_basic_keys_writes_in_place_with_the_same_values(monkeypatch):
    keys = [(slice(None), slice(1, None)), 1, (Ellipsis, 2), (slice(None, None, 2), None, 3),
            (-1, slice(1, 5, 3))]
    values = [2.5, graphc.tensor([1.0, 2.0, 3.0, 4.0, 5.0])[None], np.float32(7)]
    for key in keys:
        for value in values:
            try:
                a = _root().astype(np.float32)
                a[key] = np.asarray(value.numpy() if isinstance(value, graphc.Tensor)
                                    else value)
            except ValueError:
                continue  # (a value that does not fit this key)
            x = graphc.tensor(_root(), dtype=graphc.float32)
            x[key] = value
            np.testing.assert_array_equal(x.numpy(), a)
    x = graphc.zeros(300, 200)
    x[0] = 1.0
    where = _address(x)
    x[:, 1:] = 3.0
    assert _address(x) == where
    with pytest.raises(ValueError):
        x[:, 1:] = graphc.ones(3)  # (does not broadcast, as before)


def test_setitem_that_records_autograd_keeps_its_gradient():
    def f(w, s):
        h = w * 1.0
        h[1:, 2] = s
        return (h * h).sum()
    w = graphc.tensor(np.linspace(-1, 1, 12).reshape(3, 4), dtype=graphc.float64,
                      requires_grad=True)
    assert gradcheck(f, (w, graphc.tensor([0.5, 2.0], dtype=graphc.float64,
                                          requires_grad=True)))


@pytest.mark.parametrize("take", [lambda x: x[1], lambda x: x[:, 1:3], lambda x: x.narrow(0, 1, 2),
                                  lambda x: x.select(1, 0), lambda x: x.transpose(0, 1)[2],
                                  lambda x: x.t().narrow(0, 1, 1)])
def test_live_fast_views_do_not_make_the_root_look_shared(take):
    x = graphc.zeros(4, 6)
    x.add_(0)  # (an array of its own)
    v = take(x)
    v.add_(1)
    where = _address(x)
    v.add_(1)
    take(x).mul_(3)
    assert _address(x) == where
    assert v.stride() is not None  # (its lazy layout worked out, then written again)
    v.add_(1)
    assert _address(x) == where


@pytest.mark.parametrize("dtype", [graphc.float16, graphc.bfloat16, graphc.bool, graphc.int8])
def test_narrow_dtypes_bit_identical_to_the_scatter(dtype, monkeypatch):
    def run():
        x = graphc.tensor(_root() * 5 - 8).to(dtype)
        x[1:, ::2].copy_(x[:3, 1::2])  # (overlapping source and target memory)
        if dtype.is_float:
            x.t()[2].mul_(1.7)
            x.diagonal(1).add_(x[0, :4].float().exp())
        return x.float().numpy() if dtype == graphc.bfloat16 else x.numpy()
    fast = run()
    with monkeypatch.context() as m:
        _scatter_only(m)
        slow = run()
    np.testing.assert_array_equal(fast, slow)


def test_gradients_identical_to_the_scatter_path(monkeypatch):
    def run():
        s = graphc.tensor(np.linspace(-1, 2, 4), dtype=graphc.float64, requires_grad=True)
        x = graphc.zeros(3, 4, dtype=graphc.float64)
        x[1].copy_(s.exp())  # the value requires grad, the root does not: the scatter
        x[:, 1:].add_(1.0)  # then a write with history: the scatter too
        with graphc.no_grad():
            x.t()[0].mul_(2.0)  # under no_grad: in place, the history kept
        (x * x).sum().backward()
        return x.detach().numpy().copy(), s.grad.numpy().copy()
    fast = run()
    with monkeypatch.context() as m:
        _scatter_only(m)
        slow = run()
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a, b)


def test_views_of_the_data_of_a_view_reach_the_root_and_see_its_writes():
    # `v.data[...]` is a view of v's root (it was linked to v itself: the in-place path wrote
    # v's array alone, and later writes to the root left it stale)
    x = graphc.zeros(3, 4, dtype=graphc.float64)
    v = x[1]
    v.data[0] = 5.0
    v.data[1:3].add_(7.0)
    w = x.t()
    w.data[2, 0] = -1.0
    w.data.t()[2].fill_(2.0)  # (a general-path view of a `.data` view)
    expected = np.zeros((3, 4))
    expected[1, :3] = [5, 7, 7]
    expected[0, 2] = -1
    expected[2] = 2
    np.testing.assert_array_equal(x.numpy(), expected)
    np.testing.assert_array_equal(v.numpy(), expected[1])
    piece = v.data[2:]
    x[1].fill_(3.0)
    x.add_(1.0)  # (a whole-root rebind refreshes it too)
    np.testing.assert_array_equal(piece.numpy(), [4.0, 4.0])
    # a `.data` view has the layout of the tensor it shows, as in PyTorch
    assert w.data.stride() == (1, 4) and not w.data.is_contiguous()
    assert w.data[1].stride() == (4,) and w.data[1].storage_offset() == 1
    assert w.data.t()[1:].stride() == (4, 1)


def test_one_other_holder_of_the_array_is_seen():
    # the reference count's calibration (views._LOCAL_REFS, measured at import): exactly one
    # holder besides the root and its views must make the root's array look shared
    x = graphc.zeros(3, 4)
    x.add_(0)  # (an array of its own)
    row = x[1]
    assert views._sole_holder(x)
    held = x._data  # the array itself
    assert not views._sole_holder(x)
    del held
    seen = x.numpy()  # a NumPy view of it
    assert not views._sole_holder(x)
    del seen
    row_data = row._data  # a view's array, held besides the view
    assert not views._sole_holder(x)
    del row_data
    assert views._sole_holder(x)
