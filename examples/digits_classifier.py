"""Train an MLP or a small CNN on the handwritten digits, eagerly and compiled, side by side.

Run: python examples/digits_classifier.py [--model mlp|cnn] [--epochs N]

The same model code, optimizer and data order run twice: first eagerly (autograd tape, NumPy),
then with the whole training step (forward, loss.backward(), optimizer step) compiled into one
graph with ``@graphc.compile``. Both runs start from the same initial weights, so their losses
agree step for step; the script prints the time per step of each and the test accuracy.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from _common import Progress, load_digits

import graphc
import graphc.nn.functional as F
from graphc import nn, optim
from graphc.data import DataLoader, TensorDataset


def make_model(kind: str) -> nn.Module:
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10))


def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    model.eval()
    with graphc.no_grad():
        predicted = model(graphc.from_numpy(images)).argmax(dim=1).numpy()
    model.train()
    return float((predicted == labels).mean())


def train(kind: str, epochs: int, compiled: bool, data) -> tuple[nn.Module, list, float]:
    (train_x, train_y), _ = data
    graphc.manual_seed(0)
    model = make_model(kind)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    scheduler = optim.lr_scheduler.StepLR(opt, step_size=max(1, epochs // 2), gamma=0.3)

    def train_step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step = graphc.compile(train_step) if compiled else train_step
    loader = DataLoader(TensorDataset(graphc.from_numpy(train_x), graphc.from_numpy(train_y)),
                        batch_size=64, shuffle=True, drop_last=True)
    losses, step_times = [], []
    label = "compiled" if compiled else "eager"
    with Progress(epochs * len(loader), label) as bar:
        for _ in range(epochs):
            for x, y in loader:
                start = time.perf_counter()
                loss = step(x, y).item()
                step_times.append(time.perf_counter() - start)
                losses.append(loss)
                bar.update(loss=loss)
            scheduler.step()
    if compiled:
        print(f"{'':>10} {len(step.entries)} trace(s); first call "
              f"{step_times[0] * 1e3:.0f} ms (trace + compile)")
    steady = float(np.median(step_times[1:]))
    return model, losses, steady


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    epochs = args.epochs or 15
    data = load_digits()
    (_, _), (test_x, test_y) = data

    eager_model, eager_losses, eager_step = train(args.model, epochs, compiled=False, data=data)
    model, losses, compiled_step = train(args.model, epochs, compiled=True, data=data)

    drift = max(abs(a - b) for a, b in zip(eager_losses, losses))
    print(f"time per step: eager {eager_step * 1e3:.2f} ms, compiled {compiled_step * 1e3:.2f} ms "
          f"(median); max |loss eager - loss compiled| over {len(losses)} steps: {drift:.2e}")
    print(f"test accuracy ({args.model}): eager {accuracy(eager_model, test_x, test_y):.2%}, "
          f"compiled {accuracy(model, test_x, test_y):.2%}")


if __name__ == "__main__":
    main()
