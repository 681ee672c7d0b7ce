"""Do two graphc checkouts compute the same bits eagerly? Runs seeded programs (cross entropy in
its forms, with infinities and NaNs; training steps of an MLP, a small CNN, an LSTM and a
transformer layer under SGD, Adam and AdamW) in each checkout and compares every value,
gradient and optimizer state bit for bit (NaNs included).

    python benchmarks/eager_bits_check.py --other /work/main

Each checkout runs in its own process (``--dump`` writes that process's arrays); an optimization
of eager overhead must leave the comparison empty.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _arrays(prefix: str, tensors, out: dict) -> None:
    for i, t in enumerate(tensors):
        if t is not None:
            out[f"{prefix}.{i}"] = np.array(t.detach().numpy(), copy=True)


def cross_entropy_cases(graphc, out: dict) -> None:
    F = graphc.nn.functional
    rng = np.random.default_rng(0)
    for dtype in ("float32", "float64"):
        for n, c in ((1, 1), (8, 10), (33, 7), (4, 1000), (5, 3)):
            for kind in ("plain", "ignored", "all_ignored", "inf", "nan", "big", "strided",
                         "nonleaf"):
                a = rng.standard_normal((n, c)) * (300 if kind == "big" else 3)
                t = rng.integers(0, c, n)
                if kind == "ignored":
                    t[::2] = -100
                if kind == "all_ignored":
                    t[:] = -100
                if kind == "inf":
                    a[0, 0], a[-1, -1] = np.inf, -np.inf
                    if n > 2:
                        a[1, :] = -np.inf
                if kind == "nan":
                    a[0, -1] = np.nan
                for reduction in ("mean", "sum", "none"):
                    key = f"ce.{dtype}.{n}x{c}.{kind}.{reduction}"
                    dt = getattr(graphc, dtype)
                    if kind == "strided":  # a transposed view, not row-major
                        x = graphc.tensor(a.T.copy(), dtype=dt).t().requires_grad_()
                    else:
                        x = graphc.tensor(a, dtype=dt, requires_grad=True)
                    logits = x * 2.0 if kind == "nonleaf" else x
                    target = graphc.tensor(t)
                    loss = F.cross_entropy(logits, target, reduction=reduction)
                    grad = None
                    if reduction == "none":
                        grad = graphc.tensor(rng.standard_normal(n), dtype=dt)
                    loss.backward(grad)
                    _arrays(key, [loss, x.grad], out)
    # double backward (create_graph) through the loss, and a second loss on the same logits
    x = graphc.tensor(rng.standard_normal((6, 5)), requires_grad=True)
    t = graphc.tensor(rng.integers(0, 5, 6))
    loss = F.cross_entropy(x * x, t)
    (g,) = graphc.autograd.grad(loss, [x], create_graph=True)
    (g.square().sum()).backward()
    _arrays("ce.double", [loss, g, x.grad], out)


def _train(graphc, name: str, model, make_opt, inputs, target, loss_fn, steps: int,
           out: dict) -> None:
    opt = make_opt(model.parameters())
    for step in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(inputs), target)
        loss.backward()
        opt.step()
        out[f"{name}.loss.{step}"] = np.array(loss.detach().numpy(), copy=True)
    params = list(model.parameters())
    _arrays(f"{name}.param", params, out)
    _arrays(f"{name}.grad", [p.grad for p in params], out)
    for i, p in enumerate(params):
        for k, v in opt.state[p].items():
            if isinstance(v, graphc.Tensor):
                out[f"{name}.state.{i}.{k}"] = np.array(v.numpy(), copy=True)
            else:
                out[f"{name}.state.{i}.{k}"] = np.array(v)


def training_cases(graphc, out: dict) -> None:
    nn, F, optim = graphc.nn, graphc.nn.functional, graphc.optim
    optimizers = {
        "sgd": lambda ps: optim.SGD(ps, lr=0.05),
        "sgdm": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
        "adam": lambda ps: optim.Adam(ps, lr=1e-2),
        "adamw": lambda ps: optim.AdamW(ps, lr=1e-2, weight_decay=0.1, amsgrad=True),
    }
    for opt_name, make in optimizers.items():
        graphc.manual_seed(1)
        mlp = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10))
        _train(graphc, f"mlp.{opt_name}", mlp, make, graphc.randn(16, 32),
               graphc.randint(0, 10, (16,)), F.cross_entropy, 4, out)
    graphc.manual_seed(2)
    cnn = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    _train(graphc, "cnn.adam", cnn, optimizers["adam"], graphc.randn(4, 3, 8, 8),
           graphc.randint(0, 10, (4,)), F.cross_entropy, 3, out)

    class LSTMNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(8, 16, batch_first=True)
            self.head = nn.Linear(16, 5)

        def forward(self, x):
            return self.head(self.lstm(x)[0][:, -1])

    graphc.manual_seed(3)
    _train(graphc, "lstm.adamw", LSTMNet(), optimizers["adamw"], graphc.randn(4, 6, 8),
           graphc.randint(0, 5, (4,)), F.cross_entropy, 3, out)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0,
                                                    batch_first=True)
            self.norm = nn.LayerNorm(16)
            self.head = nn.Linear(16, 4)

        def forward(self, x):
            return self.head(self.norm(self.layer(x)).mean(1))

    graphc.manual_seed(4)
    _train(graphc, "transformer.sgdm", Encoder(), optimizers["sgdm"], graphc.randn(2, 5, 16),
           graphc.randint(0, 4, (2,)), F.cross_entropy, 3, out)
    graphc.manual_seed(5)
    reg = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 1))
    _train(graphc, "mse.adam", reg, optimizers["adam"], graphc.randn(10, 6), graphc.randn(10, 1),
           F.mse_loss, 3, out)


def dump(path: str) -> None:
    import graphc
    print(f"  running {Path(graphc.__file__).parents[1]}", file=sys.stderr)
    out: dict = {}
    cross_entropy_cases(graphc, out)
    training_cases(graphc, out)
    np.savez(path, **out)


def compare(mine: dict, theirs: dict) -> list[str]:
    """The keys whose arrays differ in any bit (or exist on one side only)."""
    differ = sorted(set(mine) ^ set(theirs))
    for key in sorted(set(mine) & set(theirs)):
        a, b = mine[key], theirs[key]
        if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
            differ.append(key)
    return differ


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--other", help="the checkout to compare this one with")
    parser.add_argument("--dump", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.dump:
        dump(args.dump)
        return 0
    here = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for root in (here, Path(args.other).resolve()):
            path = os.path.join(tmp, f"{len(results)}.npz")
            env = dict(os.environ, PYTHONPATH=str(root))
            subprocess.run([sys.executable, str(Path(__file__).resolve()), "--dump", path],
                           cwd=root, env=env, check=True)
            results.append(dict(np.load(path)))
    differ = compare(*results)
    print(f"{len(results[0])} arrays compared; {len(differ)} differ")
    for key in differ[:50]:
        print("  DIFFERS:", key)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
