"""nn.AdaptiveLogSoftmaxWithLoss, as PyTorch's: target log-probabilities, loss, log_prob and
predict against a NumPy reference of the adaptive softmax, PyTorch's parameter names and
errors, gradients against finite differences, compiled against eager. Tolerances: float64
values rtol=1e-12 (log-softmaxes of small matmuls); finite differences as conftest.check_grad."""
import numpy as np
import pytest

import graphc
from conftest import check_grad
from graphc import nn

RNG = np.random.default_rng(11)
CUTOFFS = [4, 9, 15]
TARGETS = np.array([0, 3, 5, 19, 10, 9, 15, 14])


def make(head_bias=True):
    graphc.manual_seed(0)
    return nn.AdaptiveLogSoftmaxWithLoss(8, 20, CUTOFFS, div_value=2.0,
                                         head_bias=head_bias).double()


def log_softmax(z):
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def reference_log_prob(asm, x):
    """All 20 log-probabilities: the head's for the shortlist, cluster ones plus their
    cluster's head log-probability."""
    head = x @ asm.head.weight.numpy().T
    if asm.head.bias is not None:
        head = head + asm.head.bias.numpy()
    head = log_softmax(head)
    pieces = [head[:, :CUTOFFS[0]]]
    for i, (first, second) in enumerate(asm.tail):
        cluster = log_softmax(x @ first.weight.numpy().T @ second.weight.numpy().T)
        pieces.append(cluster + head[:, CUTOFFS[0] + i:CUTOFFS[0] + i + 1])
    return np.concatenate(pieces, 1)


def test_parameter_names_and_sizes_are_pytorch_s():
    asm = make()
    assert [(n, tuple(p.shape)) for n, p in asm.named_parameters()] == [
        ("head.weight", (7, 8)), ("head.bias", (7,)),
        ("tail.0.0.weight", (4, 8)), ("tail.0.1.weight", (5, 4)),
        ("tail.1.0.weight", (2, 8)), ("tail.1.1.weight", (6, 2)),
        ("tail.2.0.weight", (1, 8)), ("tail.2.1.weight", (5, 1))]
    assert asm.shortlist_size == 4 and asm.n_clusters == 3 and asm.cutoffs == [4, 9, 15, 20]


def test_forward_log_prob_and_predict_match_the_reference():
    asm = make()
    x = RNG.standard_normal((8, 8))
    full = reference_log_prob(asm, x)
    np.testing.assert_allclose(np.exp(full).sum(1), 1.0, rtol=1e-12)
    out = asm(graphc.tensor(x), graphc.tensor(TARGETS))
    expected = full[np.arange(8), TARGETS]
    np.testing.assert_allclose(out.output.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(out.loss.item(), -expected.mean(), rtol=1e-12)
    assert out._fields == ("output", "loss")
    np.testing.assert_allclose(asm.log_prob(graphc.tensor(x)).numpy(), full, rtol=1e-12)
    np.testing.assert_array_equal(asm.predict(graphc.tensor(x)).numpy(), full.argmax(1))
    single = asm(graphc.tensor(x[3]), graphc.tensor(19))
    assert single.output.shape == ()
    np.testing.assert_allclose(single.output.item(), full[3, 19], rtol=1e-12)


def test_predict_when_the_head_picks_a_cluster():
    asm = make(head_bias=True)
    with graphc.no_grad():  # every row's head argmax is cluster 1's logit
        asm.head.bias.copy_(graphc.tensor([0, 0, 0, 0, 0, 50.0, 0], dtype=graphc.float64))
    x = RNG.standard_normal((5, 8))
    prediction = asm.predict(graphc.tensor(x)).numpy()
    np.testing.assert_array_equal(prediction, reference_log_prob(asm, x).argmax(1))
    assert ((prediction >= 9) & (prediction < 15)).all()


def test_gradients_match_finite_differences():
    asm = make()
    targets = graphc.tensor(TARGETS)
    check_grad(lambda x: asm(x, targets).output, [RNG.standard_normal((8, 8))])
    check_grad(lambda x: asm.log_prob(x), [RNG.standard_normal((3, 8))])
    # a tail weight's gradient, entry by entry, against central differences of the loss
    layer = asm.tail[1][0]
    weight = layer.weight.numpy().copy()
    x = graphc.tensor(np.linspace(-1, 1, 64).reshape(8, 8))
    asm.zero_grad()  # (check_grad's backward passes reached the parameters too)
    asm(x, targets).loss.backward()
    eps = 1e-6
    for i, j in [(0, 0), (1, 3), (1, 7)]:
        losses = []
        for sign in (1, -1):
            w = weight.copy()
            w[i, j] += sign * eps
            with graphc.no_grad():
                layer.weight.copy_(graphc.tensor(w))
            losses.append(asm(x, targets).loss.item())
        np.testing.assert_allclose(layer.weight.grad.numpy()[i, j],
                                   (losses[0] - losses[1]) / (2 * eps), rtol=1e-6)


def test_a_cluster_without_targets_gets_no_gradient_eagerly():
    asm = make()
    asm(graphc.tensor(RNG.standard_normal((3, 8))), graphc.tensor([0, 1, 10])).loss.backward()
    assert asm.tail[1][0].weight.grad is not None
    assert asm.tail[0][0].weight.grad is None and asm.tail[2][1].weight.grad is None


def test_compiled_equals_eager_and_checks_targets():
    asm = make()
    x, y = graphc.tensor(RNG.standard_normal((8, 8))), graphc.tensor(TARGETS)
    compiled = graphc.compile(lambda x, y: asm(x, y))
    out, eager = compiled(x, y), asm(x, y)
    np.testing.assert_allclose(out.output.numpy(), eager.output.numpy(), rtol=1e-12)
    np.testing.assert_allclose(out.loss.item(), eager.loss.item(), rtol=1e-12)
    predict = graphc.compile(lambda x: asm.predict(x))
    np.testing.assert_array_equal(predict(x).numpy(), asm.predict(x).numpy())
    with pytest.raises(RuntimeError, match=r"Target values should be in \[0, 19\]"):
        compiled(x, graphc.tensor(np.where(TARGETS == 19, 20, TARGETS)))


def test_pytorch_errors():
    with pytest.raises(ValueError, match="cutoffs should be a sequence of length larger than 0"):
        nn.AdaptiveLogSoftmaxWithLoss(8, 20, [])
    for cutoffs in ([5, 4], [0, 4], [4, 20], [4, 4], [4.5]):
        with pytest.raises(ValueError, match="cutoffs should be a sequence of unique"):
            nn.AdaptiveLogSoftmaxWithLoss(8, 20, cutoffs)
    asm = make()
    with pytest.raises(RuntimeError, match="values in range \\[-1, 3\\] were found"):
        asm(graphc.ones(2, 8, dtype=graphc.float64), graphc.tensor([-1, 3]))
    with pytest.raises(RuntimeError, match="same size in the batch dimension"):
        asm(graphc.ones(2, 8), graphc.tensor([1, 2, 3]))
    with pytest.raises(RuntimeError, match="0D target tensor expects 1D input"):
        asm(graphc.ones(2, 8), graphc.tensor(1))
    with pytest.raises(RuntimeError, match="multi-target not supported"):
        asm(graphc.ones(2, 8), graphc.tensor([[1]]))
