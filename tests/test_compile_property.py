"""Property: for random programs, compiled results equal eager results exactly.

Compiled for the interpreter, both run the same registry reference kernels in the same order,
so the comparison is exact (bitwise), including gradients from backward() inside the program
and in-place updates of closure state written back after the call. (The llvm backend, the
default, sums floats in its own order, calls BLAS for GEMMs and approximates float32
transcendentals within a few ulp: tests/test_backend_llvm.py checks it against the interpreter
within the float tolerances, on random graphs too.)
"""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc

SHAPE = (3, 4)

UNARY = {
    "tanh": graphc.tanh, "sigmoid": graphc.sigmoid, "relu": graphc.relu, "neg": graphc.neg,
    "abs": graphc.abs, "sin": graphc.sin, "exp_tanh": lambda x: graphc.exp(graphc.tanh(x)),
    "softmax": lambda x: graphc.softmax(x, dim=-1), "gelu": graphc.gelu,
    "log1p_abs": lambda x: graphc.log(graphc.abs(x) + 1.0),
    "row_max": lambda x: x - x.amax(dim=1, keepdim=True),
    "col_mean": lambda x: x - x.mean(dim=0, keepdim=True),
    "transpose_twice": lambda x: x.T.reshape(4, 3).reshape(3, 4),
    "flip_slices": lambda x: graphc.cat([x[:, 2:], x[:, :2]], dim=1),
    "clamp": lambda x: x.clamp(-0.5, 0.5),
    "scale": lambda x: x * 0.5 + 1.0,
}
BINARY = {
    "add": graphc.add, "sub": graphc.sub, "mul": graphc.mul, "maximum": graphc.maximum,
    "where": lambda a, b: graphc.where(a > b, a, b * 2.0),
    "matmul": lambda a, b: a @ b.T @ a * 0.1,
    "div": lambda a, b: a / (graphc.abs(b) + 1.0),
}

op_names = st.sampled_from(sorted(UNARY) + sorted(BINARY))
program = st.lists(st.tuples(op_names, st.integers(0, 7), st.integers(0, 7)),
                   min_size=1, max_size=8)


def run_program(steps, x, w, state):
    """Applies the steps to a pool of values; backward into w; updates the closure state."""
    pool = [x, w * 1.0, x * w]
    for name, i, j in steps:
        a, b = pool[i % len(pool)], pool[j % len(pool)]
        pool.append(UNARY[name](a) if name in UNARY else BINARY[name](a, b))
    loss = sum((v * v).mean() for v in pool[-3:] + [pool[1]])  # pool[1] keeps w in the loss
    w.grad = None
    loss.backward()
    with graphc.no_grad():
        state.add_(pool[-1].detach().mean())
    return loss, pool[-1]


@settings(max_examples=40, deadline=None)
@given(program, st.integers(0, 2**31 - 1))
def test_random_programs_compile_to_the_same_numbers(steps, seed):
    r = np.random.default_rng(seed)
    x_np = r.normal(size=SHAPE).astype(np.float32)
    w_np = r.normal(size=SHAPE).astype(np.float32)

    results = []
    for compiled in (False, True):
        w = graphc.from_numpy(w_np.copy()).requires_grad_()
        state = graphc.zeros(())
        fn = lambda x: run_program(steps, x, w, state)  # noqa: E731
        fn = graphc.compile(fn, backend="interpreter") if compiled else fn
        outputs = [fn(graphc.from_numpy(x_np)) for _ in range(2)]  # second call: cached graph
        results.append(([o.numpy() for pair in outputs for o in pair], w.grad.numpy(),
                        state.numpy()))
        if compiled:
            assert len(fn.entries) == 1
    (eager_out, eager_grad, eager_state), (out, grad, state_c) = results
    for a, b in zip(out, eager_out):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(grad, eager_grad)
    np.testing.assert_array_equal(state_c, eager_state)
