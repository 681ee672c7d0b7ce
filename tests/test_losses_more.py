"""The second wave of losses: ``CosineEmbeddingLoss MarginRankingLoss HingeEmbeddingLoss
SoftMarginLoss MultiLabelSoftMarginLoss MultiMarginLoss MultiLabelMarginLoss
TripletMarginLoss PoissonNLLLoss GaussianNLLLoss`` and their ``F.`` functions.

Every loss is compared, for each ``reduction``, with a float64 NumPy oracle written here from
PyTorch's documented formula (per-sample loops where the formula is one), its gradients with
finite differences, and its compiled result (llvm) with eager mode.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from conftest import assert_close, check_grad
from graphc import nn


def f32(a):
    return graphc.tensor(np.asarray(a, dtype=np.float32))


def f64(a):
    return graphc.tensor(np.asarray(a, dtype=np.float64))


def reduce(loss, reduction):
    return {"none": loss, "mean": np.mean(loss), "sum": np.sum(loss)}[reduction]


def np_softplus(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


# -- oracles, one sample at a time where PyTorch's formula is per sample ----------------------
def cosine_embedding_oracle(a, b, y, margin):
    out = []
    for u, v, t in zip(a, b, y):
        cos = u @ v / math.sqrt((u @ u + 1e-12) * (v @ v + 1e-12))
        out.append(1 - cos if t == 1 else max(0.0, cos - margin))
    return np.array(out)


def multi_margin_oracle(x, y, p, margin, weight):
    out = []
    for row, t in zip(x, y):
        total = 0.0
        for i in range(len(row)):
            if i != t:
                h = max(0.0, margin - row[t] + row[i]) ** p
                total += h * (1.0 if weight is None else weight[t])
        out.append(total / len(row))
    return np.array(out)


def multilabel_margin_oracle(x, y):
    out = []
    for row, targets in zip(x, y):
        listed = []
        for t in targets:
            if t < 0:
                break
            listed.append(t)
        total = sum(max(0.0, 1 - (row[j] - row[i])) for j in listed
                    for i in range(len(row)) if i not in listed)
        out.append(total / len(row))
    return np.array(out)


def triplet_oracle(a, p, n, margin, norm, eps, swap):
    def dist(u, v):
        return (np.abs(u - v + eps) ** norm).sum(-1) ** (1 / norm)
    d_neg = dist(a, n)
    if swap:
        d_neg = np.minimum(d_neg, dist(p, n))
    return np.maximum(margin + dist(a, p) - d_neg, 0.0)


@pytest.fixture
def data():
    rng = np.random.default_rng(5)
    return dict(
        x1=rng.normal(size=(6, 4)), x2=rng.normal(size=(6, 4)), x3=rng.normal(size=(6, 4)),
        a=rng.normal(size=6), b=rng.normal(size=6),
        sign=np.array([1.0, -1.0, -1.0, 1.0, 1.0, -1.0]),
        labels=np.array([0, 3, 1, 2, 3, 0]),
        multi=np.array([[3, 0, -1, 1], [1, 2, 3, -1], [0, -1, 2, 2], [2, 2, 0, -1],
                        [-1, 0, 1, 2], [1, 0, 3, 2]]),
        binary=(rng.uniform(size=(6, 4)) > 0.5).astype(np.float64),
        counts=rng.integers(0, 5, size=(6, 4)).astype(np.float64),
        var=rng.uniform(0.2, 2.0, size=(6, 4)),
        weight=rng.uniform(0.5, 2.0, size=4))


# name: (graphc loss of the data's tensors, oracle of the data's arrays, float inputs to
# differentiate, the arguments' names)
CASES = {
    "cosine_embedding": (
        lambda d, r: F.cosine_embedding_loss(d["x1"], d["x2"], d["sign"], 0.2, reduction=r),
        lambda d, r: reduce(cosine_embedding_oracle(d["x1"], d["x2"], d["sign"], 0.2), r),
        ["x1", "x2"]),
    "margin_ranking": (
        lambda d, r: F.margin_ranking_loss(d["a"], d["b"], d["sign"], 0.3, reduction=r),
        lambda d, r: reduce(np.maximum(0, -d["sign"] * (d["a"] - d["b"]) + 0.3), r),
        ["a", "b"]),
    "hinge_embedding": (
        lambda d, r: F.hinge_embedding_loss(d["a"], d["sign"], 0.8, reduction=r),
        lambda d, r: reduce(np.where(d["sign"] == 1, d["a"], np.maximum(0, 0.8 - d["a"])), r),
        ["a"]),
    "soft_margin": (
        lambda d, r: F.soft_margin_loss(d["x1"], d["binary"] * 2 - 1, reduction=r),
        lambda d, r: reduce(np.log1p(np.exp(-d["x1"] * (d["binary"] * 2 - 1))), r),
        ["x1"]),
    "multilabel_soft_margin": (
        lambda d, r: F.multilabel_soft_margin_loss(d["x1"], d["binary"], d["weight"],
                                                   reduction=r),
        lambda d, r: reduce((-(d["binary"] * -np_softplus(-d["x1"])
                               + (1 - d["binary"]) * -np_softplus(d["x1"]))
                             * d["weight"]).mean(1), r),
        ["x1"]),
    "multi_margin_p1": (
        lambda d, r: F.multi_margin_loss(d["x1"], d["labels"], reduction=r),
        lambda d, r: reduce(multi_margin_oracle(d["x1"], d["labels"], 1, 1.0, None), r),
        ["x1"]),
    "multi_margin_p2_weighted": (
        lambda d, r: F.multi_margin_loss(d["x1"], d["labels"], 2, 0.5, d["weight"],
                                         reduction=r),
        lambda d, r: reduce(multi_margin_oracle(d["x1"], d["labels"], 2, 0.5, d["weight"]), r),
        ["x1"]),
    "multilabel_margin": (
        lambda d, r: F.multilabel_margin_loss(d["x1"], d["multi"], reduction=r),
        lambda d, r: reduce(multilabel_margin_oracle(d["x1"], d["multi"]), r),
        ["x1"]),
    "triplet_margin": (
        lambda d, r: F.triplet_margin_loss(d["x1"], d["x2"], d["x3"], 2.0, reduction=r),
        lambda d, r: reduce(triplet_oracle(d["x1"], d["x2"], d["x3"], 2.0, 2, 1e-6, False), r),
        ["x1", "x2", "x3"]),
    "triplet_margin_swap_p1": (
        lambda d, r: F.triplet_margin_loss(d["x1"], d["x2"], d["x3"], 2.0, p=1, swap=True,
                                           reduction=r),
        lambda d, r: reduce(triplet_oracle(d["x1"], d["x2"], d["x3"], 2.0, 1, 1e-6, True), r),
        ["x1", "x2", "x3"]),
    "poisson_nll": (
        lambda d, r: F.poisson_nll_loss(d["x1"], d["counts"], reduction=r),
        lambda d, r: reduce(np.exp(d["x1"]) - d["counts"] * d["x1"], r),
        ["x1"]),
    "poisson_nll_full_rates": (
        lambda d, r: F.poisson_nll_loss(d["var"], d["counts"], log_input=False, full=True,
                                        reduction=r),
        lambda d, r: reduce(d["var"] - d["counts"] * np.log(d["var"] + 1e-8) + np.where(
            d["counts"] > 1, d["counts"] * np.log(np.maximum(d["counts"], 1)) - d["counts"]
            + 0.5 * np.log(2 * np.pi * np.maximum(d["counts"], 1)), 0.0), r),
        ["var"]),
    "gaussian_nll": (
        lambda d, r: F.gaussian_nll_loss(d["x1"], d["x2"], d["var"], reduction=r),
        lambda d, r: reduce(0.5 * (np.log(d["var"]) + (d["x1"] - d["x2"]) ** 2 / d["var"]), r),
        ["x1", "x2", "var"]),
}
REDUCTIONS = ["none", "mean", "sum"]


def as_tensors(d, make):
    return {k: make(v) if v.dtype.kind == "f" else graphc.tensor(v) for k, v in d.items()}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_matches_its_pytorch_formula(name, reduction, data):
    loss, oracle, _ = CASES[name]
    assert_close(loss(as_tensors(data, f64), reduction), oracle(data, reduction))
    f32_data = {k: v.astype(np.float32).astype(np.float64) if v.dtype.kind == "f" else v
                for k, v in data.items()}
    assert_close(loss(as_tensors(data, f32), reduction), oracle(f32_data, reduction))


@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_gradient_matches_finite_differences(name, data):
    loss, _, wrt = CASES[name]

    def fn(*tensors):
        d = as_tensors(data, f64)
        d.update(zip(wrt, tensors))
        return loss(d, "none")

    check_grad(fn, [data[k] for k in wrt])


@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_compiled_equals_eager(name, data):
    loss, _, _ = CASES[name]
    names = sorted(data)

    def fn(*tensors):
        return loss(dict(zip(names, tensors)), "mean")

    tensors = [as_tensors(data, f32)[k] for k in names]
    assert_close(graphc.compile(fn)(*tensors), fn(*tensors).numpy())


MODULES = [  # (module, functional call of the same loss)
    (nn.CosineEmbeddingLoss(0.2), lambda d: F.cosine_embedding_loss(d["x1"], d["x2"],
                                                                      d["sign"], 0.2),
     ["x1", "x2", "sign"]),
    (nn.MarginRankingLoss(0.3, reduction="sum"),
     lambda d: F.margin_ranking_loss(d["a"], d["b"], d["sign"], 0.3, reduction="sum"),
     ["a", "b", "sign"]),
    (nn.HingeEmbeddingLoss(), lambda d: F.hinge_embedding_loss(d["a"], d["sign"], 1.0),
     ["a", "sign"]),
    (nn.SoftMarginLoss(), lambda d: F.soft_margin_loss(d["a"], d["sign"]), ["a", "sign"]),
    (nn.MultiLabelSoftMarginLoss(), lambda d: F.multilabel_soft_margin_loss(d["x1"],
                                                                             d["binary"]),
     ["x1", "binary"]),
    (nn.MultiMarginLoss(p=2, margin=0.5),
     lambda d: F.multi_margin_loss(d["x1"], d["labels"], 2, 0.5), ["x1", "labels"]),
    (nn.MultiLabelMarginLoss(), lambda d: F.multilabel_margin_loss(d["x1"], d["multi"]),
     ["x1", "multi"]),
    (nn.TripletMarginLoss(swap=True),
     lambda d: F.triplet_margin_loss(d["x1"], d["x2"], d["x3"], swap=True),
     ["x1", "x2", "x3"]),
    (nn.PoissonNLLLoss(), lambda d: F.poisson_nll_loss(d["x1"], d["counts"]),
     ["x1", "counts"]),
    (nn.GaussianNLLLoss(full=True), lambda d: F.gaussian_nll_loss(d["x1"], d["x2"], d["var"],
                                                                  full=True),
     ["x1", "x2", "var"]),
]


@pytest.mark.parametrize("index", range(len(MODULES)))
def test_loss_module_calls_its_function(index, data):
    module, function, names = MODULES[index]
    d = as_tensors(data, f64)
    assert_close(module(*[d[k] for k in names]), function(d).numpy())


def test_gaussian_nll_loss_variance_shapes_clamp_and_full_term(rng):
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    var = rng.uniform(0.5, 1.5, size=4)
    want = 0.5 * (np.log(var[:, None]) + (x - y) ** 2 / var[:, None])
    assert_close(F.gaussian_nll_loss(f64(x), f64(y), f64(var), reduction="none"), want)
    assert_close(F.gaussian_nll_loss(f64(x), f64(y), f64(var[:, None]), reduction="none"),
                 want)
    small = np.array([1e-9, 1.0, 2.0, 0.5])
    clamped = np.maximum(small, 1e-6)[:, None]
    want = 0.5 * (np.log(clamped) + (x - y) ** 2 / clamped) + 0.5 * math.log(2 * math.pi)
    assert_close(F.gaussian_nll_loss(f64(x), f64(y), f64(small), full=True, reduction="none"),
                 want)
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(f64(x), f64(y), f64(-var))
    with pytest.raises(ValueError, match="does not match"):
        F.gaussian_nll_loss(f64(x), f64(y), f64(np.ones((4, 2))))


def test_soft_margin_loss_is_finite_for_large_margins():
    out = F.soft_margin_loss(f64([-800.0, 800.0]), f64([1.0, 1.0]), reduction="none")
    assert_close(out, [800.0, 0.0])


def test_multi_margin_loss_unbatched_input_and_bad_targets(data):
    x, y = data["x1"][0], data["labels"][0]
    assert_close(F.multi_margin_loss(f64(x), graphc.tensor(y)),
                 multi_margin_oracle(x[None], [y], 1, 1.0, None)[0])
    with pytest.raises(IndexError, match=r"\[0, 4\)"):
        F.multi_margin_loss(f64(data["x1"]), graphc.tensor(data["labels"] + 1))
    with pytest.raises(ValueError, match="p == 1 and p == 2"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(TypeError, match="integer"):
        F.multi_margin_loss(f64(x), f64([1.0]))


def test_losses_honour_legacy_size_average_and_reduce(data):
    d = as_tensors(data, f64)
    full = F.margin_ranking_loss(d["a"], d["b"], d["sign"], reduction="none").numpy()
    assert_close(nn.MarginRankingLoss(size_average=False)(d["a"], d["b"], d["sign"]),
                 full.sum())
    assert_close(nn.MarginRankingLoss(reduce=False)(d["a"], d["b"], d["sign"]), full)
    with pytest.raises(ValueError, match="reduction"):
        nn.SoftMarginLoss(reduction="avg")


def test_triplet_margin_loss_refuses_inputs_of_different_ranks(data):
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        F.triplet_margin_loss(f64(data["x1"]), f64(data["x2"]), f64(data["a"]))
    with pytest.raises(ValueError, match="greater than 0"):
        nn.TripletMarginLoss(margin=0.0)
