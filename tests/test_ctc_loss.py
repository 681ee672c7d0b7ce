"""F.ctc_loss and nn.CTCLoss (PyTorch's semantics): values against a brute-force reference that
sums the probability of every alignment (every path of T labels over C classes that collapses to
the target: repeats merged, blanks dropped), target layouts, reductions, zero_infinity,
unbatched inputs, gradients against finite differences, and errors.

The gradient w.r.t. ``log_probs`` is PyTorch's: the loss's derivative plus ``exp(log_probs)``
on the frames inside each input (a term that vanishes through ``log_softmax``). So finite
differences are taken w.r.t. logits through ``log_softmax`` (where the two agree), and
separately the convention itself is checked on unnormalized inputs.

Tolerances: float64 values rtol=1e-12 against the float64 reference; float32 inputs are computed
in float64 and rounded once, so rtol=1e-6 against the reference of the same float32 values;
gradients as conftest.check_grad states (central differences, float64).
"""
import itertools

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from conftest import check_grad
from graphc import nn

RNG = np.random.default_rng(27)


def log_softmax(x):
    return x - np.logaddexp.reduce(x, axis=-1, keepdims=True)


def brute_force_nll(lp, target, frames, blank=0):
    """-log of the summed probability of every length-``frames`` path over ``lp``'s classes
    that collapses to ``target``; independent of the forward-backward recursion."""
    total = 0.0
    for path in itertools.product(range(lp.shape[1]), repeat=frames):
        collapsed = [c for i, c in enumerate(path)
                     if c != blank and (i == 0 or c != path[i - 1])]
        if collapsed == list(target):
            total += np.exp(sum(lp[t, c] for t, c in enumerate(path)))
    return -np.log(total) if total > 0 else np.inf


T, N, C = 5, 4, 3
LOGITS = RNG.standard_normal((T, N, C))
LP = log_softmax(LOGITS)
# a repeated label (needs a blank between), an empty target, a short input, a full-length one
PADDED = np.array([[1, 1, 0], [2, 0, 0], [1, 2, 1], [0, 0, 0]])
FRAMES = [5, 4, 5, 3]
COUNTS = [2, 1, 3, 0]


def reference(lp=LP, padded=PADDED, frames=FRAMES, counts=COUNTS, blank=0):
    return np.array([brute_force_nll(lp[:, n], padded[n, :counts[n]], frames[n], blank)
                     for n in range(len(frames))])


def ctc(lp, padded=PADDED, frames=FRAMES, counts=COUNTS, **kwargs):
    return F.ctc_loss(lp, graphc.tensor(padded), frames, counts, **kwargs)


def test_values_match_the_sum_over_all_alignments():
    got = ctc(graphc.tensor(LP), reduction="none")
    assert got.dtype == graphc.float64 and got.shape == (N,)
    np.testing.assert_allclose(got.numpy(), reference(), rtol=1e-12)


def test_another_blank_and_unnormalized_log_probs():
    lp = RNG.standard_normal((4, 2, 4))  # any scores: the loss is still -log of the path sum
    padded = np.array([[0, 1, 0], [2, 2, 1]])
    got = ctc(graphc.tensor(lp), padded, [4, 4], [3, 2], blank=3, reduction="none")
    np.testing.assert_allclose(got.numpy(), reference(lp, padded, [4, 4], [3, 2], blank=3),
                               rtol=1e-12)


def test_float32_is_rounded_once():
    lp32 = LP.astype(np.float32)
    got = ctc(graphc.tensor(lp32), reduction="none")
    assert got.dtype == graphc.float32
    np.testing.assert_allclose(got.numpy(), reference(lp32.astype(np.float64)), rtol=1e-6)


def test_padded_and_concatenated_targets_agree_in_value_and_gradient():
    flat = np.concatenate([PADDED[n, :COUNTS[n]] for n in range(N)])
    results = []
    for targets in (PADDED, flat):
        lp = graphc.tensor(LP, requires_grad=True)
        loss = ctc(lp, targets, graphc.tensor(FRAMES), tuple(COUNTS), reduction="sum")
        loss.backward()
        results.append((loss.item(), lp.grad.numpy()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_reductions():
    each = reference()
    lp = graphc.tensor(LP)
    np.testing.assert_allclose(ctc(lp, reduction="sum").item(), each.sum(), rtol=1e-12)
    # mean: each loss over its target length (an empty target counts as 1), then the batch mean
    np.testing.assert_allclose(ctc(lp).item(), np.mean(each / np.maximum(COUNTS, 1)),
                               rtol=1e-12)
    np.testing.assert_allclose(nn.CTCLoss(reduction="sum")(lp, graphc.tensor(PADDED), FRAMES,
                                                           COUNTS).item(), each.sum(),
                               rtol=1e-12)


def test_an_impossible_alignment_is_infinite_or_zeroed_with_its_gradient():
    # [1, 1] needs "1 blank 1": three frames; two are not enough (PyTorch: inf, not an error)
    padded = np.array([[1, 1], [2, 0]])
    frames, counts = [2, 4], [2, 1]
    possible = brute_force_nll(LP[:, 1], [2], 4)
    grads = {}
    for zero_infinity in (False, True):
        lp = graphc.tensor(LP[:, :2], requires_grad=True)
        loss = ctc(lp, padded, frames, counts, reduction="none", zero_infinity=zero_infinity)
        loss.sum().backward()
        impossible = 0.0 if zero_infinity else np.inf
        np.testing.assert_allclose(loss.numpy(), [impossible, possible], rtol=1e-12)
        grads[zero_infinity] = lp.grad.numpy()
    assert np.isnan(grads[False][:2, 0]).all()            # PyTorch's NaN inside the input
    np.testing.assert_array_equal(grads[False][2:, 0], 0.0)  # and zero past it
    np.testing.assert_array_equal(grads[True][:, 0], 0.0)
    np.testing.assert_array_equal(grads[True][:, 1], grads[False][:, 1])
    assert ctc(graphc.tensor(LP[:, :2]), padded, frames, counts, zero_infinity=True).item() == \
        pytest.approx(possible / 1 / 2, rel=1e-12)  # mean: (0 / 2 + possible / 1) / 2


def test_an_empty_input_has_zero_loss_for_an_empty_target_else_infinite():
    got = ctc(graphc.tensor(LP[:, :2]), PADDED[:2], [0, 0], [0, 1], reduction="none")
    np.testing.assert_array_equal(got.numpy(), [0.0, np.inf])


def test_unbatched_is_a_batch_of_one():
    lp = graphc.tensor(LP[:, 2])
    got = F.ctc_loss(lp, graphc.tensor(PADDED[2]), graphc.tensor(5), graphc.tensor(3),
                     reduction="none")
    assert got.shape == ()
    np.testing.assert_allclose(got.item(), reference()[2], rtol=1e-12)
    np.testing.assert_allclose(F.ctc_loss(lp, graphc.tensor(PADDED[2:3, :2]), [5], [2]).item(),
                               brute_force_nll(LP[:, 2], [1, 2], 5) / 2, rtol=1e-12)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_gradient_through_log_softmax_matches_finite_differences(reduction):
    def loss(logits):
        return ctc(F.log_softmax(logits, dim=-1), reduction=reduction)
    check_grad(loss, [LOGITS])


def test_gradient_wrt_log_probs_is_pytorchs_derivative_plus_exp_log_probs():
    scores = RNG.standard_normal((T, N, C))  # not normalized: the extra term shows
    lp = graphc.tensor(scores, requires_grad=True)
    ctc(lp, reduction="sum").backward()
    derivative = np.zeros_like(scores)
    eps = 1e-6
    for index in np.ndindex(scores.shape):
        up, down = scores.copy(), scores.copy()
        up[index] += eps
        down[index] -= eps
        derivative[index] = (reference(up).sum() - reference(down).sum()) / (2 * eps)
    inside = (np.arange(T)[:, None] < np.array(FRAMES)[None, :])[..., None]
    np.testing.assert_allclose(lp.grad.numpy(), derivative + inside * np.exp(scores),
                               rtol=1e-6, atol=1e-7)


def test_minus_infinity_log_probs_get_a_zero_gradient_not_nan():
    lp = LP.copy()
    lp[1, 0, 2] = lp[2, 0, 0] = -np.inf  # label 2 is not in row 0's target; 0 is the blank
    x = graphc.tensor(lp, requires_grad=True)
    loss = ctc(x, reduction="sum")
    loss.backward()
    np.testing.assert_allclose(loss.item(), reference(lp).sum(), rtol=1e-12)
    assert np.isfinite(x.grad.numpy()).all()
    assert x.grad.numpy()[1, 0, 2] == 0.0 and x.grad.numpy()[2, 0, 0] == 0.0


def test_float32_gradient():
    x64 = graphc.tensor(LOGITS, requires_grad=True)
    x32 = graphc.tensor(LOGITS.astype(np.float32), requires_grad=True)
    for x in (x64, x32):
        ctc(F.log_softmax(x, dim=-1)).backward()
    assert x32.grad.dtype == graphc.float32
    np.testing.assert_allclose(x32.grad.numpy(), x64.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_a_long_sequence_stays_finite_and_matches_float64():
    logits = RNG.standard_normal((200, 2, 6)) * 3
    labels = RNG.integers(1, 6, size=(2, 60))
    losses = [ctc(F.log_softmax(graphc.tensor(logits.astype(dtype)), dim=-1), labels,
                  [200, 150], [60, 40], reduction="none").numpy() for dtype in (np.float64,
                                                                              np.float32)]
    assert np.isfinite(losses[0]).all()
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)


def test_second_derivatives_are_refused_as_in_pytorch():
    lp = graphc.tensor(LP, requires_grad=True)
    (grad,) = graphc.autograd.grad(ctc(lp), [lp], create_graph=True)
    with pytest.raises(graphc.errors.AutogradError, match="not differentiable"):
        grad.sum().backward()


def test_compiled_functions_refuse_it_clearly():
    with pytest.raises(graphc.TraceError, match="ctc_loss is not supported inside a compiled"):
        graphc.compile(lambda lp: ctc(lp))(graphc.tensor(LP))


@pytest.mark.parametrize("change, error, message", [
    (dict(blank=3), ValueError, r"blank must be in the label range \[0, 3\)"),
    (dict(blank=-1), ValueError, "blank must be in the label range"),
    (dict(targets=np.array([[1, 3, 0]] * 4)), ValueError, "target label 3 is out of the range"),
    (dict(input_lengths=[6, 4, 5, 3]), ValueError, "input_lengths must be at most T = 5"),
    (dict(input_lengths=[-1, 4, 5, 3]), ValueError, "input_lengths must be non-negative"),
    (dict(input_lengths=[5, 4, 5]), ValueError, "one length per sequence"),
    (dict(target_lengths=[4, 1, 3, 0]), ValueError, "S >= max"),
    (dict(target_lengths=[2.0, 1, 3, 0]), TypeError, "target_lengths must be ints"),
    (dict(target_lengths=graphc.tensor([2.0, 1, 3, 0])), TypeError, "must be integral"),
    (dict(targets=np.array([1, 1, 2])), ValueError, "sum\\(target_lengths\\) = 6"),
    (dict(targets=np.zeros((4, 3, 1), dtype=np.int64)), ValueError, "padded \\(N, S\\)"),
    (dict(targets=PADDED[:3]), ValueError, "N = 4"),
    (dict(log_probs=LP[None]), ValueError, "must be \\(T, N, C\\) or unbatched"),
    (dict(log_probs=LP[:0]), ValueError, "must not be empty"),
    (dict(reduction="batchmean"), ValueError, "reduction must be"),
])
def test_errors_name_the_argument(change, error, message):
    args = dict(log_probs=LP, targets=PADDED, input_lengths=FRAMES, target_lengths=COUNTS)
    args.update(change)
    args["log_probs"] = graphc.tensor(args["log_probs"])
    args["targets"] = graphc.tensor(args["targets"])
    with pytest.raises(error, match=message):
        F.ctc_loss(**args)


def test_integer_log_probs_are_refused():
    with pytest.raises(TypeError, match="log_probs must be floating point"):
        F.ctc_loss(graphc.tensor(PADDED), graphc.tensor(PADDED), FRAMES, COUNTS)
