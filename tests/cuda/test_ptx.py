"""Every kernel the cuda backend generates compiles for a real GPU (PTX for sm_90, the H100 and
H200), without one: numba-cuda's compiler runs on any machine that has NVVM (numba-cuda[cu13]).

The simulator runs kernels as Python and would accept code the device compiler rejects (NumPy
ufuncs on scalars, which numba-cuda does not lower), so this check runs in its own process
without the simulator:

    GRAPHC_TEST_CUDA_PTX=1 python -m pytest -q tests/cuda/test_ptx.py
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the helpers in tests/

import numpy as np
import pytest
from test_backend_llvm import FUSED_FILES, _graphs_in
from test_registry import SAMPLES

import ir
import passes
from backends.cuda.render import render_module
from backends.kernel import build_program
from ir import dtypes
from ir.graph import Graph
from ir.types import TensorType

pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"),
    reason="compiling for the device needs numba-cuda's compiler, not the simulator: "
           "GRAPHC_TEST_CUDA_PTX=1 python -m pytest -q tests/cuda/test_ptx.py")
HERE = Path(__file__).parent


def _registry_graphs() -> list[Graph]:
    graphs = []
    for name, cases in sorted(SAMPLES.items()):
        graph, outputs = Graph(name), []
        for case in cases:
            inputs = []
            for a in case.inputs:
                a = np.asarray(a)
                inputs.append(graph.add_input(f"a{len(graph.inputs)}", TensorType(
                    dtypes.from_numpy(a.dtype), a.shape)))
            outputs += graph.add_node(name, inputs, case.attrs).outputs
        graph.set_outputs(outputs)
        graphs.append(graph)
    return graphs


def _test_graphs() -> list[Graph]:
    """The registry walk's graphs, the fused graph files, and the reduction and GEMM graphs of
    test_backend_cuda.py, each through the ``fuse`` pass as the backend's lowering runs it."""
    graphs = _registry_graphs()
    for path in FUSED_FILES:
        graphs += _graphs_in(path)
    text = (HERE / "test_backend_cuda.py").read_text()
    graphs += [ir.parse(m.group(1)) for m in
               re.finditer(r'(?:REDUCTIONS|GEMMS|CONVS|SGD_UPDATE) = ir.parse\("""(.*?)"""\)', text, re.S)]
    return [passes.run(g, "fuse") for g in graphs]


def _kernels(source: str, cuda) -> list:
    """(python function, signature) of each ``@cuda.jit("sig")`` kernel in ``source``; device
    helpers are compiled lazily by numba-cuda as usual."""
    found = []
    real_jit = cuda.jit

    def recording_jit(signature=None, device=False, **options):
        if device:
            return real_jit(device=True, **options)
        return lambda fn: found.append((fn, signature)) or fn

    cuda.jit = recording_jit
    try:
        exec(compile(source, "<generated>", "exec"), {"__name__": "generated"})
    finally:
        cuda.jit = real_jit
    return found


def test_every_generated_kernel_compiles_to_ptx_for_sm_90():
    cuda = pytest.importorskip("numba.cuda", reason="needs numba-cuda: pip install 'graphc[cuda]'")
    try:
        cuda.compile_ptx(lambda a: None, "void(float32[::1])", cc=(9, 0))
    except Exception as exc:  # noqa: BLE001  (the compiler's libraries are missing)
        pytest.skip(f"numba-cuda cannot compile here ({exc}); pip install 'graphc[cuda]'")
    modules = {render_module(build_program(g)) for g in _test_graphs()}
    failures, count = [], 0
    for source in sorted(modules):
        for fn, signature in _kernels(source, cuda):
            count += 1
            try:
                cuda.compile_ptx(fn, signature, cc=(9, 0))
            except Exception as exc:  # noqa: BLE001  (collect them all, then report)
                failures.append(f"{fn.__name__}: {str(exc).splitlines()[0]}\n{source}")
    assert count > 150
    assert not failures, f"{len(failures)} of {count} kernels did not compile:\n" + \
        "\n".join(failures[:3])
