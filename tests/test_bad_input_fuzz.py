"""Every typical mistake of tests/bad_input_cases.py gets a graphc error of the built-in type
PyTorch raises, whose message names what was wrong; or, where PyTorch accepts the call, or where
graphc deliberately accepts it (ACCEPTS), a result. Never a raw exception from inside graphc or
NumPy. ``benchmarks/bad_input_fuzz.py`` checks the recorded PyTorch types against torch itself.
"""
from __future__ import annotations

import re

import pytest
from bad_input_cases import ACCEPTS, CASES, PYTHON

import graphc
from graphc.errors import GraphcError, IRError


@pytest.mark.parametrize("name, call, expected, words, deliberate",
                         [case if len(case) == 5 else (*case, None) for case in CASES],
                         ids=[case[0] for case in CASES])
def test_a_mistake_gets_a_clear_graphc_error(name, call, expected, words, deliberate):
    ours = deliberate or expected
    if ours is None or ours == ACCEPTS:
        call(graphc)  # PyTorch (or graphc deliberately) accepts it: no error
        return
    with pytest.raises(Exception) as info:
        call(graphc)
    error = info.value
    if ours == PYTHON:  # raised by Python's call machinery, before any graphc code runs
        assert type(error) is expected, repr(error)
    else:
        assert isinstance(error, (GraphcError, IRError)), f"not a graphc error: {error!r}"
        assert isinstance(error, ours), f"{type(error).__mro__} is not a {ours.__name__}"
    assert re.search(words, str(error)), f"{str(error)!r} does not say {words!r}"


def test_the_cases_cover_every_family_the_fuzzer_walks():
    names = " ".join(case[0] for case in CASES)
    for family in ("linear", "conv", "batchnorm", "layernorm", "groupnorm", "embedding", "lstm",
                   "gru", "mha", "transformer", "pool", "upsample", "interpolate", "cross_entropy",
                   "nll_loss", "reduction", "gather", "index_select", "linalg", "special", "sgd",
                   "adam", "dataloader"):
        assert family in names, family
