"""0-d tensors take dim 0 and -1 (and [0]), which name the scalar itself, as in PyTorch.

Reductions over that dim leave the one element as it is; softmax of a scalar is 1; transpose and
squeeze return it unchanged. The expected values are written from those definitions, not
read off graphc.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
from conftest import assert_close, check_grad

X = 1.75  # the scalar every case starts from

CASES = [
    # (name, fn on a 0-d tensor, expected value)
    ("sum-0", lambda t: t.sum(0), X),
    ("sum-neg1", lambda t: t.sum(-1), X),
    ("sum-list", lambda t: t.sum([0]), X),
    ("sum-keepdim", lambda t: t.sum(0, keepdim=True), X),
    ("amax-0", lambda t: graphc.amax(t, 0), X),
    ("amin-neg1", lambda t: graphc.amin(t, -1), X),
    ("mean-0", lambda t: t.mean(0), X),
    ("var-0-population", lambda t: t.var(0, unbiased=False), 0.0),
    ("softmax-0", lambda t: graphc.softmax(t, 0), 1.0),
    ("log-softmax-neg1", lambda t: graphc.log_softmax(t, -1), 0.0),
    ("logsumexp-0", lambda t: graphc.logsumexp(t, 0), X),
    ("squeeze-0", lambda t: t.squeeze(0), X),
    ("squeeze-neg1", lambda t: t.squeeze(-1), X),
    ("transpose-0-neg1", lambda t: t.transpose(0, -1), X),
    ("flatten-0-neg1", lambda t: t.flatten(0, -1), [X]),
    ("unsqueeze-neg1", lambda t: t.unsqueeze(-1), [X]),
    ("max-dim-values", lambda t: t.max(0).values, X),
    ("max-dim-indices", lambda t: t.max(0).indices, 0),
    ("argmax-0", lambda t: t.argmax(0), 0),
    ("argmin-neg1-keepdim", lambda t: t.argmin(-1, keepdim=True), 0),
    ("gather-0d-index", lambda t: graphc.gather(t, 0, graphc.tensor(0)), X),
    ("gather-1d-index", lambda t: graphc.gather(t, 0, graphc.tensor([0, 0])), [X, X]),
    ("stack-0", lambda t: graphc.stack([t, t * 2.0], 0), [X, 2 * X]),
]


@pytest.mark.parametrize("mode", ["eager", "compiled"])
@pytest.mark.parametrize("name,fn,expected", CASES, ids=[c[0] for c in CASES])
def test_zero_dim_tensor_accepts_dim_0_and_minus_1(name, fn, expected, mode):
    t = graphc.tensor(X)
    result = fn(t) if mode == "eager" else graphc.compile(fn)(t)
    assert_close(result, np.array(expected, dtype=np.asarray(result.numpy()).dtype))


GRADS = [
    ("sum-0", lambda t: t.sum(0)),
    ("mean-neg1", lambda t: t.mean(-1)),
    ("softmax-0", lambda t: graphc.softmax(t, 0)),
    ("logsumexp-0", lambda t: graphc.logsumexp(t, 0)),
    ("amax-0", lambda t: graphc.amax(t, 0)),
    ("max-dim", lambda t: t.max(0).values),
    ("transpose", lambda t: t.transpose(0, -1) * t),
]


@pytest.mark.parametrize("name,fn", GRADS, ids=[g[0] for g in GRADS])
def test_gradients_through_the_scalars_own_dim_match_finite_differences(name, fn):
    check_grad(fn, [np.array(X)])


def test_reductions_over_the_scalars_own_dim_keep_pytorch_dtypes():
    flag = graphc.tensor(True)
    assert flag.sum(0).dtype == graphc.int64      # summing bools counts them
    # an integer mean needs dtype=, as in PyTorch (torch.tensor(3).mean(0) is an error)
    with pytest.raises(RuntimeError, match="mean.*could not infer output dtype"):
        graphc.tensor(3).mean(0)
    assert graphc.tensor(3).mean(0, dtype=graphc.float32).dtype == graphc.float32
    assert graphc.tensor(3).mean(0, dtype=graphc.float32).item() == 3.0


@pytest.mark.parametrize("call", [
    lambda t: t.sum(1), lambda t: t.sum(-2), lambda t: t.transpose(0, 1),
    lambda t: graphc.softmax(t, 1), lambda t: t.squeeze(2), lambda t: t.unsqueeze(2),
    lambda t: t.size(0),
], ids=["sum-1", "sum-neg2", "transpose-0-1", "softmax-1", "squeeze-2", "unsqueeze-2", "size-0"])
def test_other_dims_of_a_zero_dim_tensor_are_index_errors(call):
    with pytest.raises(IndexError, match="out of range"):
        call(graphc.tensor(X))


@pytest.mark.parametrize("call,message", [
    (lambda t: t.narrow(0, 0, 1), "narrow"),
    (lambda t: t.split(1), "split"),
    (lambda t: t.chunk(1), "chunk"),
    (lambda t: graphc.index_select(t, 0, graphc.tensor([0])), "index_select"),
], ids=["narrow", "split", "chunk", "index_select"])
def test_ops_that_walk_along_a_dim_refuse_zero_dim_tensors(call, message):
    with pytest.raises(RuntimeError, match=f"{message}.*0-d tensor"):
        call(graphc.tensor(X))


def test_concatenating_zero_dim_tensors_is_refused_with_a_clear_error():
    t = graphc.tensor(X)
    with pytest.raises(graphc.ShapeError, match="operand 0 is 0-d.*cannot be concatenated"):
        graphc.cat([t, t])


def test_zero_dim_reductions_in_a_training_step_compile_like_eager():
    # a per-sample loss that is already a scalar: loss.mean(0) is a no-op, not an AxisError
    w = graphc.tensor(0.5, requires_grad=True)

    def step(x):
        loss = ((w * x - 1.0) ** 2).sum()
        return graphc.softmax(loss, 0) * loss.mean(0)

    x = graphc.tensor([1.0, 2.0])
    expected = ((0.5 * 1.0 - 1.0) ** 2 + (0.5 * 2.0 - 1.0) ** 2)
    assert math.isclose(step(x).item(), expected, rel_tol=1e-6)
    assert math.isclose(graphc.compile(step)(x).item(), expected, rel_tol=1e-6)


@pytest.mark.parametrize("compiled", [False, True])
def test_softmax_and_logsumexp_over_an_empty_dimension_as_pytorch(compiled):
    """They raised 'max: cannot reduce over an empty axis', an op the user never called."""
    def f(x):
        return (graphc.softmax(x, dim=0), graphc.log_softmax(x, dim=0),
                graphc.logsumexp(x, dim=0), graphc.logsumexp(x, dim=1))

    soft, log_soft, over_empty, over_rows = (graphc.compile(f) if compiled else f)(
        graphc.zeros(0, 3))
    assert soft.shape == log_soft.shape == (0, 3) and over_rows.shape == (0,)
    assert over_empty.tolist() == [-np.inf] * 3  # the log of an empty sum
