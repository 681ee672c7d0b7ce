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
