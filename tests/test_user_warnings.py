"""Warnings graphc gives point at the user's line (graphc.user_warnings.warn), through the
wrappers in between: autocast_op, a module's __call__, a compiled function."""
import warnings

import pytest

import graphc
import graphc.nn.functional as F


def _caught(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    assert caught, "no warning"
    return caught


@pytest.mark.parametrize("name, call", [
    ("mse_loss (autocast_op)", lambda: F.mse_loss(graphc.ones(2, 3), graphc.ones(1, 3))),
    ("grid_sample", lambda: F.grid_sample(graphc.ones(1, 1, 2, 2), graphc.zeros(1, 1, 1, 2))),
    ("Dropout2d module", lambda: graphc.nn.Dropout2d()(graphc.ones(2, 3))),
    ("uint8 index", lambda: graphc.ones(2)[graphc.tensor([1, 0], dtype=graphc.uint8)]),
    ("in a compiled function", lambda: graphc.compile(
        lambda x: F.mse_loss(x, graphc.ones(1, 3)))(graphc.ones(2, 3))),
])
def test_warnings_point_at_the_users_line(name, call):
    for warning in _caught(call):
        assert warning.filename == __file__, (name, warning.filename, str(warning.message))
