"""Loss functions and modules against NumPy float64 oracles written here, with gradients
checked by central finite differences and compiled results equal to eager ones."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from conftest import assert_close, check_grad
from graphc import nn

REDUCTIONS = ["none", "mean", "sum"]


def t64(a, requires_grad=False):
    return graphc.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def reduce(loss, reduction):
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


def np_log_softmax(x, axis=1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def np_nll(logp, target, weight=None, ignore_index=-100, reduction="mean"):
    """PyTorch's nll_loss by its definition: loops over every (sample, position)."""
    classes = logp.shape[1]
    weight = np.ones(classes) if weight is None else weight
    losses = np.zeros(target.shape)
    weights = np.zeros(target.shape)
    for pos in np.ndindex(target.shape):
        c = target[pos]
        if c == ignore_index:
            continue
        index = (pos[0], c) + pos[1:]
        losses[pos] = -weight[c] * logp[index]
        weights[pos] = weight[c]
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / weights.sum()


def np_cross_entropy(x, target, weight=None, ignore_index=-100, reduction="mean",
                     label_smoothing=0.0):
    """PyTorch's documented formula: (1 - eps) * nll + eps / C * (sum over classes of -w_c
    log p_c), the smoothing term reduced with the same divisor as the nll term."""
    logp = np_log_softmax(x)
    classes = x.shape[1]
    w = np.ones(classes) if weight is None else weight
    nll = np_nll(logp, target, weight, ignore_index, reduction)
    smooth = np.zeros(target.shape)
    divisor = 0.0
    for pos in np.ndindex(target.shape):
        if target[pos] == ignore_index:
            continue
        smooth[pos] = -sum(w[c] * logp[(pos[0], c) + pos[1:]] for c in range(classes))
        divisor += w[target[pos]]
    smooth = {"none": smooth, "sum": smooth.sum(),
              "mean": smooth.sum() / divisor if divisor else np.nan}[reduction]
    return (1 - label_smoothing) * nll + label_smoothing / classes * smooth


# -- regression losses ----------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_and_l1_losses(reduction, rng):
    x, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    assert_close(F.mse_loss(t64(x), t64(y), reduction=reduction), reduce((x - y) ** 2, reduction))
    assert_close(nn.L1Loss(reduction=reduction)(t64(x), t64(y)),
                 reduce(np.abs(x - y), reduction))
    check_grad(lambda a, b: nn.MSELoss(reduction=reduction)(a, b), [x, y])
    check_grad(lambda a, b: F.l1_loss(a, b, reduction=reduction), [x, y])


def test_smooth_l1_and_huber(rng):
    x, y = rng.normal(size=8) * 2, rng.normal(size=8)
    d = np.abs(x - y)
    assert_close(F.smooth_l1_loss(t64(x), t64(y), beta=0.5),
                 np.where(d < 0.5, 0.5 * d ** 2 / 0.5, d - 0.25).mean())
    assert_close(nn.HuberLoss(delta=0.5)(t64(x), t64(y)),
                 np.where(d < 0.5, 0.5 * d ** 2, 0.5 * (d - 0.25)).mean())


def test_invalid_reduction_is_rejected():
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(graphc.zeros(2), graphc.zeros(2), reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="max")


# -- cross entropy and nll ------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_class_indices(reduction, rng):
    x = rng.normal(size=(5, 4))
    target = np.array([0, 3, 1, 1, 2])
    out = F.cross_entropy(t64(x), graphc.tensor(target), reduction=reduction)
    assert_close(out, np_cross_entropy(x, target, reduction=reduction))
    check_grad(lambda a: F.cross_entropy(a, graphc.tensor(target), reduction=reduction), [x])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_weight_ignore_index_and_label_smoothing(reduction, smoothing, rng):
    x = rng.normal(size=(6, 3))
    target = np.array([0, 2, -100, 1, 2, 0])
    weight = np.array([0.5, 2.0, 1.5])
    loss = nn.CrossEntropyLoss(weight=t64(weight), reduction=reduction,
                               label_smoothing=smoothing)
    expected = np_cross_entropy(x, target, weight, reduction=reduction,
                                label_smoothing=smoothing)
    assert_close(loss(t64(x), graphc.tensor(target)), expected)
    check_grad(lambda a: loss(a, graphc.tensor(target)), [x])
    # a custom ignore_index, without weights
    target2 = np.where(target == -100, 1, target)
    target2[0] = 7
    out = F.cross_entropy(t64(x), graphc.tensor(target2), ignore_index=7, reduction=reduction,
                          label_smoothing=smoothing)
    assert_close(out, np_cross_entropy(x, target2, ignore_index=7, reduction=reduction,
                                       label_smoothing=smoothing))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_spatial_inputs(reduction, rng):
    x = rng.normal(size=(2, 3, 2, 2))
    target = np.array([[[0, 2], [1, -100]], [[2, 2], [0, 1]]])
    weight = np.array([1.0, 0.3, 2.0])
    out = F.cross_entropy(t64(x), graphc.tensor(target), weight=t64(weight), reduction=reduction,
                          label_smoothing=0.1)
    assert_close(out, np_cross_entropy(x, target, weight, reduction=reduction,
                                       label_smoothing=0.1))
    check_grad(lambda a: F.cross_entropy(a, graphc.tensor(target), weight=t64(weight),
                                         reduction=reduction), [x])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probability_targets(reduction, rng):
    x = rng.normal(size=(4, 3))
    p = rng.uniform(size=(4, 3))
    p /= p.sum(axis=1, keepdims=True)
    weight = np.array([0.2, 1.0, 3.0])
    smoothed = p * 0.7 + 0.3 / 3
    expected = -(np_log_softmax(x) * smoothed * weight).sum(axis=1)
    out = F.cross_entropy(t64(x), t64(p), weight=t64(weight), reduction=reduction,
                          label_smoothing=0.3)
    assert_close(out, reduce(expected, reduction))
    check_grad(lambda a, b: F.cross_entropy(a, b, reduction=reduction), [x, p])


def test_cross_entropy_unbatched_input():
    x = np.array([0.5, -1.0, 2.0])
    assert_close(F.cross_entropy(t64(x), graphc.tensor(2)),
                 -np_log_softmax(x[None])[0, 2])
    assert F.cross_entropy(t64(x), graphc.tensor(2), reduction="none").shape == ()
    assert_close(F.cross_entropy(t64(x), graphc.tensor(0), label_smoothing=0.3),
                 np_cross_entropy(x[None], np.array([0]), label_smoothing=0.3))


def test_cross_entropy_is_stable_for_huge_logits():
    x = t64([[1000.0, -1000.0, 0.0]])
    assert_close(F.cross_entropy(x, graphc.tensor([1])), 2000.0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_with_weight_and_ignore_index(reduction, rng):
    logp = np_log_softmax(rng.normal(size=(5, 4)))
    target = np.array([3, -1, 0, 3, 2])
    weight = np.array([1.0, 2.0, 0.5, 3.0])
    loss = nn.NLLLoss(weight=t64(weight), ignore_index=-1, reduction=reduction)
    assert_close(loss(t64(logp), graphc.tensor(target)),
                 np_nll(logp, target, weight, -1, reduction))
    check_grad(lambda a: loss(a, graphc.tensor(target)), [logp])


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("compiled", [False, True])
def test_a_mean_over_only_ignored_targets_is_nan_with_a_zero_gradient(smoothing, compiled):
    # as PyTorch: the loss is 0/0, NaN; the gradient is 0 (a batch of padding must not turn
    # every parameter into NaN: the division's own gradient there is 0 * inf)
    logits = graphc.randn(3, 5, requires_grad=True)
    target = graphc.tensor([-100, -100, -100])

    def loss(logits, target):
        return F.cross_entropy(logits, target, label_smoothing=smoothing)
    value = (graphc.compile(loss) if compiled else loss)(logits, target)
    assert np.isnan(value.item())
    value.backward()
    np.testing.assert_array_equal(logits.grad.numpy(), np.zeros((3, 5), np.float32))


def test_nll_loss_rejects_mismatched_targets():
    with pytest.raises(ValueError, match="target shape"):
        F.nll_loss(graphc.zeros(3, 4), graphc.tensor([0, 1]))
    with pytest.raises(TypeError, match="class indices"):
        F.nll_loss(graphc.zeros(3, 4), graphc.zeros(3))


@pytest.mark.parametrize("dtype", [graphc.int32, graphc.int16, graphc.int8, graphc.bool])
def test_class_index_targets_must_be_int64_or_uint8_as_pytorch(dtype):
    # PyTorch: "expected target dtype to be Long or Byte"; graphc took any integer type
    logits = graphc.zeros(2, 3)
    target = graphc.tensor([0, 1]).to(dtype)
    for loss in (F.nll_loss, F.cross_entropy, nn.CrossEntropyLoss(), nn.NLLLoss()):
        with pytest.raises(TypeError, match=r"class indices as int64 \(or uint8\)"):
            loss(logits, target)
    for ok in (graphc.int64, graphc.uint8):
        expected = F.cross_entropy(logits, graphc.tensor([0, 1])).item()
        assert F.cross_entropy(logits, graphc.tensor([0, 1]).to(ok)).item() == expected


# -- binary cross entropy -------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_loss(reduction, rng):
    p = rng.uniform(0.05, 0.95, size=(3, 4))
    y = rng.integers(0, 2, size=(3, 4)).astype(np.float64)
    w = rng.uniform(0.5, 2.0, size=(4,))
    expected = -w * (y * np.log(p) + (1 - y) * np.log(1 - p))
    loss = nn.BCELoss(weight=t64(w), reduction=reduction)
    assert_close(loss(t64(p), t64(y)), reduce(expected, reduction))
    # soft targets: a finite difference at a hard 0 or 1 steps outside [0, 1], which is refused
    soft = rng.uniform(0.1, 0.9, size=(3, 4))
    check_grad(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction), [p, soft])


@pytest.mark.filterwarnings("ignore:divide by zero encountered in log")
def test_bce_refuses_inputs_that_are_not_probabilities():
    # as PyTorch (logits passed by mistake gave NaN)
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(t64([1.5, -0.2, 0.5]), t64([1.0, 0.0, 1.0]))


@pytest.mark.parametrize("target", [[1.5, 0.0, 1.0], [1.0, -0.2, 1.0], [1.0, float("nan"), 0.0]])
def test_bce_refuses_targets_that_are_not_probabilities(target):
    # as PyTorch ("all elements of target should be between 0 and 1"); a target of 1.5 gave a
    # loss, and a gradient pushing the input past 1
    with pytest.raises(RuntimeError, match="target should be between 0 and 1"):
        F.binary_cross_entropy(t64([0.3, 0.6, 0.5]), t64(target))
    with pytest.raises(RuntimeError, match="target should be between 0 and 1"):
        nn.BCELoss()(t64([0.3, 0.6, 0.5]), t64(target))
    compiled = graphc.compile(lambda x, y: F.binary_cross_entropy(x, y))
    with pytest.raises(RuntimeError, match="target should be between 0 and 1"):
        compiled(t64([0.3, 0.6, 0.5]), t64(target))
    F.binary_cross_entropy_with_logits(t64([0.3, 0.6, 0.5]), t64(target))  # no range, as PyTorch


def test_bce_clamps_the_log_at_minus_100():
    p = t64([0.0, 1.0, 1.0])
    y = t64([1.0, 0.0, 1.0])
    assert_close(F.binary_cross_entropy(p, y, reduction="none"), [100.0, 100.0, 0.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_the_naive_formula_and_pos_weight(reduction, rng):
    x = rng.normal(size=(3, 4)) * 3
    y = rng.uniform(size=(3, 4))
    pos_weight = np.array([1.0, 2.0, 0.5, 3.0])
    weight = rng.uniform(0.5, 1.5, size=(3, 1))
    s = 1 / (1 + np.exp(-x))
    expected = -weight * (pos_weight * y * np.log(s) + (1 - y) * np.log(1 - s))
    loss = nn.BCEWithLogitsLoss(weight=t64(weight), pos_weight=t64(pos_weight),
                                reduction=reduction)
    assert_close(loss(t64(x), t64(y)), reduce(expected, reduction))
    check_grad(lambda a, b: loss(a, b), [x, y])
    plain = -(y * np.log(s) + (1 - y) * np.log(1 - s))
    assert_close(F.binary_cross_entropy_with_logits(t64(x), t64(y), reduction=reduction),
                 reduce(plain, reduction))


def test_bce_with_logits_is_stable_and_has_the_exact_gradient_at_zero():
    x = t64([-800.0, 800.0, 0.0], requires_grad=True)
    y = t64([1.0, 0.0, 0.25])
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    assert_close(loss, [800.0, 800.0, np.log(2.0)])
    loss.sum().backward()
    assert_close(x.grad, [-1.0, 1.0, 0.5 - 0.25])  # sigmoid(x) - y, also at the kink x = 0


def test_kl_div(rng):
    logq = np_log_softmax(rng.normal(size=(2, 3)))
    p = np.exp(np_log_softmax(rng.normal(size=(2, 3))))
    p[0, 0] = 0.0  # 0 * log 0 counts as 0
    terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1)) - logq), 0.0)
    assert_close(F.kl_div(t64(logq), t64(p), reduction="batchmean"), terms.sum() / 2)
    assert_close(nn.KLDivLoss(reduction="sum", log_target=True)(t64(logq), t64(np.log(p + 0.1))),
                 ((p + 0.1) * (np.log(p + 0.1) - logq)).sum())


# -- modules, state and compilation ---------------------------------------------------------------
def test_loss_modules_repr_and_weight_buffers():
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert repr(nn.MSELoss()) == "MSELoss()"
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    assert list(nn.CrossEntropyLoss(weight=graphc.ones(3)).state_dict()) == ["weight"]
    assert list(nn.BCEWithLogitsLoss(pos_weight=graphc.ones(2)).state_dict()) == ["pos_weight"]
    assert nn.CrossEntropyLoss().ignore_index == -100


def test_compiled_losses_equal_eager(rng):
    x = graphc.tensor(rng.normal(size=(4, 3)))
    target = graphc.tensor(np.array([0, 2, -100, 1]))
    ce = nn.CrossEntropyLoss(weight=graphc.tensor([1.0, 2.0, 0.5], dtype=graphc.float64),
                             label_smoothing=0.1)
    probs = graphc.tensor(rng.uniform(0.1, 0.9, size=(4, 3)))

    @graphc.compile
    def losses(x, target, probs):
        return (ce(x, target), F.nll_loss(F.log_softmax(x, 1), target),
                F.binary_cross_entropy_with_logits(x, probs, pos_weight=probs[0]),
                F.binary_cross_entropy(F.sigmoid(x), probs), F.mse_loss(x, probs))

    eager = (ce(x, target), F.nll_loss(F.log_softmax(x, 1), target),
             F.binary_cross_entropy_with_logits(x, probs, pos_weight=probs[0]),
             F.binary_cross_entropy(F.sigmoid(x), probs), F.mse_loss(x, probs))
    for got, expected in zip(losses(x, target, probs), eager):
        assert_close(got, expected.numpy())


def test_argument_order_and_deprecated_flags_follow_pytorch(rng):
    x, y = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    assert_close(F.mse_loss(t64(x), t64(y), None, False), (x - y) ** 2)         # reduce=False
    assert_close(F.l1_loss(t64(x), t64(y), False), np.abs(x - y).sum())        # size_average
    logits, target = rng.normal(size=(3, 4)), np.array([1, 2, 3])
    weight = np.array([1.0, 2.0, 3.0, 4.0])
    loss = nn.CrossEntropyLoss(t64(weight), None, 3)  # (weight, size_average, ignore_index)
    assert loss.ignore_index == 3
    assert_close(loss(t64(logits), graphc.tensor(target)),
                 np_cross_entropy(logits, target, weight, ignore_index=3))
    assert nn.NLLLoss(None, None, 5, False).reduction == "none"
    assert nn.MSELoss(None, None, "sum").reduction == "sum"
