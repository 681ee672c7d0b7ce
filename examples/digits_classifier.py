"""Train an MLP or a small CNN on the handwritten digits, eagerly and compiled, side by side.

Run: python examples/digits_classifier.py [--model mlp|cnn] [--epochs N] [--plot PATH | --no-plot]

The same model code, optimizer and data order run twice: first eagerly (autograd tape, NumPy),
then with the whole training step (forward, loss.backward(), optimizer step) compiled into one
graph with ``@graphc.compile``. Both runs start from the same initial weights, so their losses
agree step for step; the script prints the time per step of each and the test accuracy, shows
each epoch's loss and test accuracy as it trains (on stderr), and saves both curves of both
runs to ``digits_classifier_curves.png`` (``--plot``).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from _common import TrainingProgress, add_plot_options, load_digits, save_curves

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


def train(kind: str, epochs: int, compiled: bool, data) -> tuple[nn.Module, dict]:
    """Trains a fresh model; returns it and its history: the loss of every step, the test
    accuracy after every epoch and the median time per step."""
    (train_x, train_y), (test_x, test_y) = data
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
    losses, accuracies, step_times = [], [], []
    progress = TrainingProgress("compiled" if compiled else "eager", [len(loader)] * epochs)
    for _ in progress.epochs():
        for x, y in loader:
            start = time.perf_counter()
            loss = step(x, y).item()
            step_times.append(time.perf_counter() - start)
            losses.append(loss)
            progress.step(loss=loss)
        scheduler.step()
        accuracies.append(accuracy(model, test_x, test_y))
        progress.report(loss=float(np.mean(losses[-len(loader):])),
                        test_acc=f"{accuracies[-1]:.1%}")
    if compiled:
        print(f"{'':>10} {len(step.entries)} trace(s); first call "
              f"{step_times[0] * 1e3:.0f} ms (trace + compile)")
    steady = float(np.median(step_times[1:] or step_times))
    return model, {"losses": losses, "accuracies": accuracies, "step_time": steady}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--epochs", type=int, default=15)
    add_plot_options(parser, "digits_classifier")
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    data = load_digits()

    eager_model, eager = train(args.model, args.epochs, compiled=False, data=data)
    model, compiled = train(args.model, args.epochs, compiled=True, data=data)

    drift = max(abs(a - b) for a, b in zip(eager["losses"], compiled["losses"]))
    print(f"time per step: eager {eager['step_time'] * 1e3:.2f} ms, compiled "
          f"{compiled['step_time'] * 1e3:.2f} ms (median); max |loss eager - loss compiled| over "
          f"{len(compiled['losses'])} steps: {drift:.2e}")
    print(f"test accuracy ({args.model}): eager {eager['accuracies'][-1]:.2%}, "
          f"compiled {compiled['accuracies'][-1]:.2%}")

    steps = len(compiled["losses"])
    step_x = np.arange(1, steps + 1) * args.epochs / steps  # in epochs, as the accuracies
    epoch_x = np.arange(1, args.epochs + 1)
    save_curves(args.plot, f"digits, {args.model}: eager and compiled training", [
        ("training loss (per step)", {"eager": (step_x, eager["losses"]),
                                      "compiled": (step_x, compiled["losses"])}),
        ("test accuracy", {"eager": (epoch_x, eager["accuracies"]),
                           "compiled": (epoch_x, compiled["accuracies"])})])


if __name__ == "__main__":
    main()
