"""Small helpers shared by the examples: training progress, loss/accuracy plots, the digits.

Progress goes to stderr, so that stdout holds only the results: on a terminal a ``tqdm`` bar per
epoch; anywhere else (a pipe, a file, a CI log) one plain line per epoch with its metrics and no
carriage returns, so a log reads top to bottom. Plots are drawn with matplotlib's Agg backend
(no display needed) into a PNG whose path the example prints; both packages come with
``pip install -e '.[examples]'``, and each example runs without them (progress as lines, no plot).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import IO

import numpy as np

INSTALL_HINT = "pip install -e '.[examples]'"


def _format_metrics(metrics: dict) -> str:
    return " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in metrics.items())


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


class TrainingProgress:
    """Shows a training run epoch by epoch on ``stream`` (default: stderr).

    ``steps_per_epoch`` lists the number of steps of each epoch. Iterate over :meth:`epochs`,
    call :meth:`step` after each training step (with running values such as the loss, shown
    on the bar) and :meth:`report` with the epoch's metrics before the epoch ends::

        progress = TrainingProgress("eager", [len(loader)] * epochs)
        for epoch in progress.epochs():
            for x, y in loader:
                progress.step(loss=train_step(x, y).item())
            progress.report(loss=mean_loss, test_acc=f"{accuracy:.1%}")

    On a terminal each epoch is a tqdm bar, left on screen with the epoch's metrics. Elsewhere,
    or without tqdm, each epoch is one line: ``eager epoch 2/15: loss=1.0208 test_acc=85.8%
    (22 steps, 0.31 s)``.
    """

    def __init__(self, label: str, steps_per_epoch: Sequence[int],
                 stream: IO[str] | None = None):
        self.label = label
        self.steps_per_epoch = list(steps_per_epoch)
        self.stream = sys.stderr if stream is None else stream
        self.tqdm = None
        if _is_terminal(self.stream):
            try:
                from tqdm import tqdm
                self.tqdm = tqdm
            except ImportError:
                self.stream.write(f"(progress bars need tqdm: {INSTALL_HINT})\n")
        self.bar = None
        self.metrics: dict = {}

    def epochs(self) -> Iterator[int]:
        """Yields 1, 2, ... (one per epoch), drawing the epoch's bar or line around it."""
        count = len(self.steps_per_epoch)
        for epoch, steps in enumerate(self.steps_per_epoch, start=1):
            description = f"{self.label} epoch {epoch}/{count}"
            self.metrics = {}
            if self.tqdm is not None:
                self.bar = self.tqdm(total=steps, desc=description, file=self.stream,
                                     unit="step", leave=True, dynamic_ncols=True)
            start = time.perf_counter()
            try:
                yield epoch
            finally:
                if self.bar is not None:
                    self.bar.set_postfix_str(_format_metrics(self.metrics), refresh=False)
                    self.bar.close()  # draws the finished bar once more, with the metrics
                    self.bar = None
            if self.tqdm is None:
                took = f"{steps} step{'s' * (steps != 1)}, {time.perf_counter() - start:.2f} s"
                self.stream.write(f"{description}: {_format_metrics(self.metrics)} ({took})\n")
                self.stream.flush()

    def step(self, **running) -> None:
        """One training step done; ``running`` values (e.g. ``loss=``) are shown on the bar."""
        if self.bar is not None:
            self.bar.set_postfix_str(_format_metrics(running), refresh=False)
            self.bar.update(1)

    def report(self, **metrics) -> None:
        """The metrics of the current epoch, shown when it ends (floats with 4 decimals)."""
        self.metrics.update(metrics)


def add_plot_options(parser: argparse.ArgumentParser, example: str) -> None:
    """``--plot PATH`` (default ``<example>_curves.png`` in the current directory) and
    ``--no-plot``; the chosen path (or None) is ``args.plot``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--plot", metavar="PATH", default=f"{example}_curves.png",
                       help="where to save the training curves (PNG; default: %(default)s in "
                            "the current directory)")
    group.add_argument("--no-plot", dest="plot", action="store_const", const=None,
                       help="save no plot")


Curves = dict[str, "tuple[Sequence[float], Sequence[float]] | float"]


def save_curves(path: str | None, title: str, panels: Sequence[tuple[str, Curves]],
                xlabel: str = "epoch") -> str | None:
    """Draws one panel per ``(y label, {name: (xs, ys)})`` side by side into ``path`` with
    matplotlib's Agg backend, prints where, and returns the path written. A number instead of
    ``(xs, ys)`` is a horizontal reference line (a chance level, say).

    Returns None without drawing when ``path`` is None (``--no-plot``) or when matplotlib is
    not installed, which it says, with how to install it. A path that cannot be written ends
    the program with a message naming it.
    """
    if path is None:
        return None
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        print(f"no plot: matplotlib is not installed ({INSTALL_HINT} to get {path})")
        return None
    figure = Figure(figsize=(max(6.4, 4.8 * len(panels)), 3.6), layout="constrained")
    FigureCanvasAgg(figure)  # draws without a display, whatever matplotlib's default backend
    figure.suptitle(title)
    for axes, (ylabel, curves) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
        # the second and later curves dashed, so that curves lying on top of each other show
        styles = iter(["-", "--", ":", "-."])
        for name, curve in curves.items():
            if isinstance(curve, (int, float)):
                axes.axhline(curve, color="grey", linestyle=":", label=name)
                continue
            xs, ys = curve
            axes.plot(xs, ys, next(styles), label=name, marker="o" if len(xs) <= 30 else None)
        axes.set_xlabel(xlabel)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
        axes.legend()
    try:
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        figure.savefig(path, dpi=100)
    except (OSError, ValueError) as exc:  # ValueError: an extension matplotlib cannot write
        sys.exit(f"cannot save the plot to {path!r}: {getattr(exc, 'strerror', None) or exc}")
    print(f"plot: {os.path.abspath(path)}")
    return path


def load_digits(test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's bundled 8x8 handwritten digits (offline), scaled to [0, 1], split once.

    Returns float32 images of shape (N, 1, 8, 8) and int64 labels, as (train, test) pairs.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        sys.exit(f"this example needs scikit-learn: {INSTALL_HINT}")
    digits = sklearn_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(len(labels) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])
