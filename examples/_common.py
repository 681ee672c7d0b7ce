"""Small helpers shared by the examples: a text progress bar and the digits data set."""
from __future__ import annotations

import sys
import time

import numpy as np


class Progress:
    """A one-line progress bar: ``with Progress(total, "train") as bar: bar.update(loss=...)``."""

    def __init__(self, total: int, label: str, width: int = 30):
        self.total, self.label, self.width = total, label, width
        self.done = 0
        self.start = time.perf_counter()
        self.last_draw = 0.0

    def __enter__(self):
        return self

    def update(self, n: int = 1, **metrics) -> None:
        self.done += n
        now = time.perf_counter()
        if self.done < self.total and now - self.last_draw < 0.2:
            return  # redraw at most five times a second
        self.last_draw = now
        filled = int(self.width * self.done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        text = " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in metrics.items())
        elapsed = now - self.start
        sys.stdout.write(f"\r{self.label:>10} [{bar}] {self.done}/{self.total} "
                         f"{elapsed:5.1f}s {text}")
        sys.stdout.flush()

    def __exit__(self, *exc):
        sys.stdout.write("\n")
        return False


def load_digits(test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's bundled 8x8 handwritten digits (offline), scaled to [0, 1], split once.

    Returns float32 images of shape (N, 1, 8, 8) and int64 labels, as (train, test) pairs.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        sys.exit("this example needs scikit-learn: pip install -e '.[examples]'")
    digits = sklearn_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(len(labels) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])
