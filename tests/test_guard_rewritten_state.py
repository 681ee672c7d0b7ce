"""Guards on state tensors a compiled function replaces: one replaced without being read (a
forward pre-hook's ``module.weight = orig * mask``) is written anew by every call and does not
retrace; one read first (``self.count = self.count + 1``) is a graph input and keeps its
identity guard; values are always those of eager calls (exact: the same float ops)."""
import numpy as np

import graphc


class State:
    pass


def traces(fn) -> int:
    return int(fn.explain().splitlines()[0].split()[-2])


def test_a_tensor_replaced_without_being_read_does_not_retrace():
    state = State()
    state.scale = graphc.tensor(2.0)
    state.cache = graphc.zeros(3)

    @graphc.compile
    def step(x):
        state.cache = x * state.scale
        return state.cache.sum()

    for k in range(4):
        x = graphc.full((3,), float(k))
        assert step(x).item() == 6.0 * k
        np.testing.assert_array_equal(state.cache.numpy(), x.numpy() * 2)
    assert traces(step) == 1
    state.cache = graphc.zeros(5)  # another shape than the call writes: looked at again
    assert step(graphc.ones(3)).item() == 6.0 and state.cache.shape == (3,)


def test_a_tensor_read_then_replaced_stays_exact():
    state = State()
    state.count = graphc.tensor(0.0)

    @graphc.compile
    def tick():
        state.count = state.count + 1
        return state.count * 1

    assert [tick().item() for _ in range(4)] == [1.0, 2.0, 3.0, 4.0]
    state.count = graphc.tensor(10.0)
    assert tick().item() == 11.0


def test_what_the_trace_read_of_the_replaced_tensor_is_guarded():
    # its shape, dtype and .grad, read before the trace replaced it, without its values (so
    # it is no graph input): each call must see what eager code sees (an independent review
    # found these stale when any tensor of the new value's shape and dtype matched)
    state = State()
    x = graphc.arange(10.0)

    state.w = graphc.zeros(3)

    @graphc.compile
    def by_shape(x):
        n = state.w.shape[0]
        state.w = graphc.zeros(5) + x.sum()
        return x[:n] * 1

    assert [tuple(by_shape(x).shape) for _ in range(3)] == [(3,), (5,), (5,)]

    state.w = graphc.zeros(2)

    @graphc.compile
    def by_dtype(x):
        dtype = state.w.dtype
        state.w = x[:2].double() * 2
        return x.to(dtype)

    assert [by_dtype(x).dtype for _ in range(3)] == [graphc.float32, graphc.float64,
                                                     graphc.float64]

    state.w = graphc.zeros(2)
    state.w.grad = graphc.full((2,), 3.0)

    @graphc.compile
    def by_grad(x):
        grad = state.w.grad
        out = x[:2] * 0 if grad is None else x[:2] + grad
        state.w = x[:2] * 2
        return out

    assert [by_grad(graphc.ones(2)).tolist() for _ in range(3)] == [[4.0, 4.0], [0.0, 0.0],
                                                                    [0.0, 0.0]]
    assert "which the traced call replaced, was f32[2], has a .grad when traced" in \
        by_grad.explain()
