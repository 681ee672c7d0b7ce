"""graphc.grad on a plain function: gradients, a Hessian-vector product, and Newton's method.

Run: python examples/hessian_vector_product.py

The Rosenbrock function f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 has its minimum at (1, 1).
``graphc.grad(f)`` is its gradient; differentiating ``v . grad f`` once more gives the
Hessian-vector product H v without ever forming H. The same composition compiles into one graph.
"""
import numpy as np

import graphc


def rosenbrock(p):
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2


def hvp(f, p, v):
    """H(p) v as the gradient of p -> grad f(p) . v (forward-over-reverse without forward mode)."""
    return graphc.grad(lambda q: (graphc.grad(f)(q) * v).sum())(p)


def main() -> None:
    p = graphc.tensor([-1.2, 1.0], dtype=graphc.float64)
    g = graphc.grad(rosenbrock)(p)
    print(f"f(p) = {rosenbrock(p).item():.4f}, grad f(p) = {np.round(g.numpy(), 4).tolist()}")

    # Check H v against central finite differences of the gradient.
    v = graphc.tensor([0.3, -0.7], dtype=graphc.float64)
    eps = 1e-6
    numeric = (graphc.grad(rosenbrock)(p + eps * v) - graphc.grad(rosenbrock)(p - eps * v)) / (2 * eps)
    exact = hvp(rosenbrock, p, v)
    print(f"H v = {np.round(exact.numpy(), 6).tolist()}, finite differences "
          f"{np.round(numeric.numpy(), 6).tolist()}")

    # Newton's method with the Hessian assembled from two HVPs, compiled into one graph.
    e1 = graphc.tensor([1.0, 0.0], dtype=graphc.float64)
    e2 = graphc.tensor([0.0, 1.0], dtype=graphc.float64)
    newton_hvps = graphc.compile(lambda q: (graphc.grad(rosenbrock)(q),
                                            hvp(rosenbrock, q, e1), hvp(rosenbrock, q, e2)))
    for step in range(8):
        grad, h0, h1 = newton_hvps(p)
        hessian = np.stack([h0.numpy(), h1.numpy()], axis=1)
        p = p - graphc.from_numpy(np.linalg.solve(hessian, grad.numpy()))
        print(f"newton step {step + 1}: p = {np.round(p.numpy(), 6).tolist()}, "
              f"f = {rosenbrock(p).item():.3e}")
    print(newton_hvps.explain().splitlines()[0])


if __name__ == "__main__":
    main()
