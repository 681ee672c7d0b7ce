"""Functions for tests/test_cli.py to dump with `graphc dump models.py:NAME`."""
import graphc


def mlp(x, w, b):
    return graphc.relu(x @ w.transpose(0, 1) + b)


def with_dead_code(x):
    graphc.exp(x)  # unused: the default pipeline (dce) removes it
    return graphc.relu(x)


def data_dependent(x):
    if x.sum() > 0:  # a Python branch on a traced value: tracing must fail here
        return x
    return -x


def bad_shapes(x, y):
    return x @ y


class Scaler:
    """An nn-like callable object, reached with a dotted path (models.py:nets.scaler)."""

    def __init__(self, factor):
        self.factor = factor

    def __call__(self, x):
        return x * self.factor


class _Namespace:
    scaler = Scaler(3.0)


nets = _Namespace()

if __name__ == "__main__":
    raise SystemExit("graphc dump must not run the main block")
