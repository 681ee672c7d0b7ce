"""Per-example gradients with ``vmap(grad(loss))``, and a Hessian, as with ``torch.func``.

Run: python examples/per_example_gradients.py

Per-example gradients (differential privacy, gradient-noise statistics, influence functions) are
one gradient per training example instead of the batch's mean. ``functional_call`` turns a
module into a function of its parameters, ``grad`` differentiates one example's loss with
respect to them, and ``vmap`` maps that over the batch with ``in_dims=(None, 0, 0)``: the
parameters are shared, the inputs and labels are mapped. Every op runs once on the whole batch
(no Python loop), eagerly or compiled into one graph. The results are checked against a loop of
ordinary gradients, one example at a time.
"""
import numpy as np

import graphc
import graphc.nn.functional as F
from graphc import nn
from graphc.func import functional_call, grad, hessian, vmap


def main() -> None:
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    params = {name: p.detach() for name, p in model.named_parameters()}
    rng = np.random.default_rng(0)
    x = graphc.tensor(rng.standard_normal((16, 4)))
    y = graphc.tensor(rng.integers(0, 3, 16))

    def loss(params, example, label):
        logits = functional_call(model, params, (example.unsqueeze(0),))
        return F.cross_entropy(logits, label.unsqueeze(0))

    per_example = vmap(grad(loss), in_dims=(None, 0, 0))
    eager = per_example(params, x, y)
    compiled = graphc.compile(per_example)(params, x, y)
    for name in params:
        loop = np.stack([grad(loss)(params, x[i], y[i])[name].numpy() for i in range(16)])
        assert eager[name].shape == (16, *params[name].shape)
        np.testing.assert_allclose(eager[name].numpy(), loop, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(compiled[name].numpy(), loop, rtol=1e-10, atol=1e-12)
    norms = np.sqrt(sum((eager[n].numpy().reshape(16, -1) ** 2).sum(axis=1) for n in params))
    print(f"per-example gradient norms: {np.round(norms[:6], 4).tolist()} ...")
    print("per-example gradients match the loop (eager and compiled)")

    # The Hessian of f(v) = sum(v^3) + v0 v1 is diag(6 v) plus ones off the diagonal at (0, 1).
    def f(v):
        return (v ** 3).sum() + v[0] * v[1]

    v = graphc.tensor([1.0, -2.0, 0.5], dtype=graphc.float64)
    h = hessian(f)(v)
    expected = np.diag(6 * v.numpy())
    expected[0, 1] = expected[1, 0] = 1.0
    np.testing.assert_allclose(h.numpy(), expected, rtol=1e-10, atol=1e-12)
    print(f"hessian(f)(v) = {h.numpy().tolist()}")
    print("hessian matches the closed form")


if __name__ == "__main__":
    main()
