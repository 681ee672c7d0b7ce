"""graphc in one minute: the same PyTorch-style code run eagerly, then compiled through the IR.

Run: python examples/quickstart.py
"""
import time

import numpy as np

import graphc


def mlp(x, w1, b1, w2, b2):
    """A two-layer perceptron with a softmax head, written as in PyTorch."""
    hidden = graphc.relu(x @ w1.T + b1)
    return graphc.softmax(hidden @ w2.T + b2, dim=-1)


def main() -> None:
    graphc.manual_seed(0)
    x = graphc.randn(32, 784)
    w1, b1 = graphc.randn(128, 784) * 0.05, graphc.zeros(128)
    w2, b2 = graphc.randn(10, 128) * 0.05, graphc.zeros(10)

    start = time.perf_counter()
    eager = mlp(x, w1, b1, w2, b2)
    print(f"eager:    output {eager.shape}, row sums {eager.sum(dim=1)[:3].tolist()} "
          f"({(time.perf_counter() - start) * 1e3:.1f} ms)")

    compiled_mlp = graphc.compile(mlp)
    start = time.perf_counter()
    compiled = compiled_mlp(x, w1, b1, w2, b2)
    print(f"compiled: first call (trace + compile + run) {(time.perf_counter() - start) * 1e3:.1f} ms")
    start = time.perf_counter()
    compiled = compiled_mlp(x, w1, b1, w2, b2)
    print(f"compiled: cached call {(time.perf_counter() - start) * 1e3:.1f} ms")
    difference = np.abs(compiled.numpy() - eager.numpy()).max()
    print(f"max |compiled - eager| = {difference:.2e}")

    # Autograd works eagerly on the same code.
    w1.requires_grad_()
    loss = -graphc.log(mlp(x, w1, b1, w2, b2)[:, 3]).mean()
    loss.backward()
    print(f"loss {loss.item():.4f}, |dloss/dw1| = {float(graphc.sqrt((w1.grad ** 2).sum())):.4f}")

    print("\nThe IR that ran (graphc dump / compiled.graph_for(...)):")
    print(compiled_mlp.graph_for(x, w1.detach(), b1, w2, b2))
    print(compiled_mlp.explain())


if __name__ == "__main__":
    main()
