"""What one eager op costs in graphc, in microseconds: the dispatch around NumPy, which on tensors
this small is nearly all of it. Ops on a 16x32 float32 tensor (``x + x``, ``x * 2.0`` and
``x * 1.01`` with a Python number, ``x.relu()``, ``x.sum()``, ``x[0]``, ``x.view(-1)``), a small
``a @ b`` (8x16 @ 16x8), a ``Linear(32, 64)`` forward, forward and backward of a 2-layer MLP
(32-64-10) on a batch of 8, one eager training step of that MLP on 16 (cross entropy, backward,
SGD), cross entropy alone (forward and backward, 8x10), Adam training steps of a small CNN, an
LSTM and a transformer encoder layer, an SGD-with-momentum and an Adam step over 10 parameters
of 16x32, and tracing the training step's loss (``graphc.trace``, the front half of
``graphc.compile``'s compile time); torch eager alongside (one thread) when it is installed,
and graphc's time over torch's.
Each figure is the median of ``--repeats`` timed loops, in the calling thread's CPU time (little
changed by other processes on a busy machine) and in wall time.

    python benchmarks/eager_overhead.py [--repeats 9] [--scale 1.0] [-k x+x]

Compare two checkouts by running it in each, alternately (one process cannot hold both).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import graphc  # noqa: E402


def per_call(fn, calls: int, repeats: int) -> tuple[float, float]:
    """Median microseconds per call over ``repeats`` loops of ``calls``: CPU time, wall time."""
    for _ in range(max(calls // 10, 1)):
        fn()
    cpu, wall = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.thread_time()
        for _ in range(calls):
            fn()
        cpu.append((time.thread_time() - start_cpu) / calls * 1e6)
        wall.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(cpu), statistics.median(wall)


def cases(lib, name: str) -> dict:
    """The workloads on ``lib`` (graphc, or torch: the same PyTorch API): name -> (fn, calls)."""
    lib.manual_seed(0)
    x = lib.randn(16, 32)
    a, b = lib.randn(8, 16), lib.randn(16, 8)
    linear = lib.nn.Linear(32, 64)
    model = lib.nn.Sequential(lib.nn.Linear(32, 64), lib.nn.ReLU(), lib.nn.Linear(64, 10))
    opt = lib.optim.SGD(model.parameters(), lr=0.01)
    target = lib.randint(0, 10, (16,))
    small = lib.nn.Sequential(lib.nn.Linear(32, 64), lib.nn.ReLU(), lib.nn.Linear(64, 10))
    batch, small_target = lib.randn(8, 32), lib.randint(0, 10, (8,))

    def loss_of(inputs):
        return lib.nn.functional.cross_entropy(model(inputs), target)

    def step():
        opt.zero_grad()
        loss_of(x).backward()
        opt.step()

    def forward_backward():  # the 2-layer MLP on batch 8; params require grad
        small.zero_grad()
        lib.nn.functional.cross_entropy(small(batch), small_target).backward()

    logits = lib.randn(8, 10, requires_grad=True)

    def cross_entropy_step():  # the loss alone, forward and backward
        logits.grad = None
        lib.nn.functional.cross_entropy(logits, small_target).backward()

    def training_step(model, inputs, labels, make_opt):  # zero_grad, forward, loss, bwd, step
        opt = make_opt(model.parameters())

        def run():
            opt.zero_grad()
            lib.nn.functional.cross_entropy(model(inputs), labels).backward()
            opt.step()
        return run

    cnn = lib.nn.Sequential(lib.nn.Conv2d(3, 8, 3, padding=1), lib.nn.ReLU(), lib.nn.MaxPool2d(2),
                            lib.nn.Flatten(), lib.nn.Linear(8 * 4 * 4, 10))

    class LSTMHead(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.head = lib.nn.LSTM(8, 16, batch_first=True), lib.nn.Linear(16, 5)

        def forward(self, inputs):
            return self.head(self.lstm(inputs)[0][:, -1])

    class EncoderHead(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = lib.nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0,
                                                        batch_first=True)
            self.head = lib.nn.Linear(16, 4)

        def forward(self, inputs):
            return self.head(self.layer(inputs).mean(1))

    adam = lambda ps: lib.optim.Adam(ps, lr=1e-3)  # noqa: E731

    def optimizer(make):  # one step over 10 parameters whose .grad is set
        params = [lib.nn.Parameter(lib.randn(16, 32)) for _ in range(10)]
        for p in params:
            p.grad = lib.randn(16, 32)
        return make(params).step

    found = {"x + x": (lambda: x + x, 2000), "x * 2.0": (lambda: x * 2.0, 2000),
             "x * 1.01": (lambda: x * 1.01, 2000), "x.relu()": (lambda: x.relu(), 2000),
             "x.sum()": (lambda: x.sum(), 2000), "x[0]": (lambda: x[0], 2000),
             "x.view(-1)": (lambda: x.view(-1), 2000), "a @ b (8x16 @ 16x8)": (lambda: a @ b, 2000),
             "Linear forward": (lambda: linear(x), 1000),
             "MLP fwd+bwd (batch 8)": (forward_backward, 200),
             "MLP train step": (step, 200),
             "cross_entropy fwd+bwd (8x10)": (cross_entropy_step, 500),
             "CNN Adam step (4x3x8x8)": (training_step(cnn, lib.randn(4, 3, 8, 8),
                                                      lib.randint(0, 10, (4,)), adam), 50),
             "LSTM Adam step (4x6x8)": (training_step(LSTMHead(), lib.randn(4, 6, 8),
                                                     lib.randint(0, 5, (4,)), adam), 20),
             "Transformer layer Adam step": (training_step(EncoderHead(), lib.randn(2, 5, 16),
                                                          lib.randint(0, 4, (2,)), adam), 20),
             "SGD momentum step (10 params)": (optimizer(lambda ps: lib.optim.SGD(
                 ps, lr=0.01, momentum=0.9)), 100),
             "Adam step (10 params)": (optimizer(lambda ps: lib.optim.Adam(ps, lr=1e-3)), 100)}
    if name == "graphc":
        found["trace MLP loss"] = (lambda: graphc.trace(loss_of, x), 20)
    return found


def graphc_cases() -> dict:
    return cases(graphc, "graphc")


def torch_cases() -> dict:
    try:
        import torch
    except ImportError:
        return {}
    torch.set_num_threads(1)
    return cases(torch, "torch")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the loop lengths")
    parser.add_argument("-k", dest="only", default="", help="only the cases whose name has this")
    args = parser.parse_args(argv)
    ours, theirs = graphc_cases(), torch_cases()
    print(f"{'case':30s} {'graphc cpu us':>14s} {'wall us':>9s} {'torch cpu us':>13s} "
          f"{'ratio':>7s}")
    for name, (fn, calls) in ours.items():
        if args.only not in name:
            continue
        calls = max(int(calls * args.scale), 1)
        cpu, wall = per_call(fn, calls, args.repeats)
        torch_cpu = ratio = ""
        if name in theirs:
            torch_fn, _ = theirs[name]
            theirs_cpu = per_call(torch_fn, calls, args.repeats)[0]
            torch_cpu, ratio = f"{theirs_cpu:13.2f}", f"{cpu / theirs_cpu:7.1f}"
        print(f"{name:30s} {cpu:14.2f} {wall:9.2f} {torch_cpu:>13s} {ratio:>7s}")


if __name__ == "__main__":
    main()
