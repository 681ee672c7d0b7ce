"""``graphc.profiler`` around a compiled step on the cuda backend: the call and, inside it, its
program's run between two device synchronizations (kernels are not timed one by one yet), with
the same results as unprofiled.

Run on numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/cuda``) or on a
GPU.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the helpers in tests/

import numpy as np

import graphc


def test_a_compiled_cuda_call_is_profiled_as_its_synchronized_run():
    layer = graphc.compile(lambda a, b: (a @ b).relu(), backend="cuda")
    a = graphc.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) - 2).to("cuda")
    b = graphc.tensor(np.ones((3, 4), np.float32)).to("cuda")
    expected = np.maximum((np.arange(6, dtype=np.float32).reshape(2, 3) - 2) @ np.ones((3, 4)),
                          0)
    layer(a, b)
    with graphc.profiler.profile() as prof:
        out = layer(a, b)
    np.testing.assert_array_equal(out.cpu().numpy(), expected)
    events = prof.events()
    call = next(e for e in events if e.kind == "compiled call")
    run = next(e for e in events if e.kind == "call")
    assert run.name == "lambda::run" and run.flops == 2 * 2 * 4 * 3 + 2 * 4
    assert call.start_ns <= run.start_ns and run.end_ns <= call.end_ns
