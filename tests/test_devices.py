"""Devices in the front end, on a machine without CUDA: names as in PyTorch, cpu placement, and
the clear error that asking for CUDA gives where it cannot run (in a subprocess without the
simulator and with GPUs hidden). The CUDA side is tested in tests/cuda (simulator or GPU)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphc

ROOT = Path(__file__).resolve().parents[1]


def test_devices_are_named_and_compared_as_in_pytorch():
    assert str(graphc.device("cpu")) == "cpu" and repr(graphc.device("cuda:0")) == \
        "device(type='cuda', index=0)"
    assert graphc.device("cuda", 0) == graphc.device("cuda:0") == "cuda:0"
    assert graphc.device("cuda") != graphc.device("cuda:0")
    assert graphc.device(graphc.device("cpu")) == "cpu"
    assert len({graphc.device("cpu"), graphc.device("cpu")}) == 1


@pytest.mark.parametrize("text", ["tpu", "cuda:x", "cpu:1", "cuda:0:0"])
def test_unknown_device_strings_are_errors_naming_them(text):
    with pytest.raises(graphc.DeviceError, match="device"):
        graphc.device(text)


def test_tensors_and_modules_live_on_the_cpu_and_moving_there_is_free():
    x = graphc.tensor([1.0, 2.0])
    assert x.device == graphc.device("cpu") and not x.is_cuda
    assert x.cpu() is x and x.to("cpu") is x and x.to(graphc.device("cpu")) is x
    assert x.to("cpu", graphc.float64).dtype == graphc.float64
    assert graphc.zeros(2, device="cpu").device == "cpu"
    model = graphc.nn.Linear(2, 2)
    weight = model.weight
    assert model.to("cpu") is model and model.cpu() is model and model.weight is weight
    assert model.to(graphc.float64).weight.dtype == graphc.float64


_WITHOUT_CUDA = r"""
import json, sys
import graphc, backends
report = {"numba.cuda imported by import graphc": "numba.cuda" in sys.modules,
          "is_available": graphc.cuda.is_available(), "device_count": graphc.cuda.device_count()}
for name, ask in [("tensor", lambda: graphc.ones(2, device="cuda")),
                  ("to", lambda: graphc.ones(2).to("cuda")),
                  ("cuda", lambda: graphc.ones(2).cuda()),
                  ("module", lambda: graphc.nn.Linear(2, 2).cuda()),
                  ("backend", lambda: backends.get("cuda"))]:
    try:
        ask()
        report[name] = None
    except Exception as exc:
        report[name] = [type(exc).__name__, str(exc), isinstance(exc, RuntimeError)]
x = graphc.tensor([1.0, -2.0])
report["cpu still works"] = graphc.compile(lambda x: x.relu() * 2)(x).tolist()
print(json.dumps(report))
"""


def test_without_a_gpu_or_the_simulator_cuda_is_unavailable_and_asking_says_how_to_simulate():
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_ENABLE_CUDASIM",
                                                            "GRAPHC_TEST_CUDA")}
    env.update(CUDA_VISIBLE_DEVICES="", NUMBA_DISABLE_CUDA="1", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", _WITHOUT_CUDA], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["numba.cuda imported by import graphc"] is False
    assert report["is_available"] is False and report["device_count"] == 0
    for name in ("tensor", "to", "cuda", "module"):
        kind, message, is_runtime_error = report[name]
        assert kind == "DeviceError" and is_runtime_error, report[name]
        assert "CUDA is not available" in message and "NUMBA_ENABLE_CUDASIM=1" in message
    kind, message, _ = report["backend"]
    assert kind == "BackendError" and "NUMBA_ENABLE_CUDASIM=1" in message
    assert report["cpu still works"] == [2.0, 0.0]


def test_a_cpu_backend_refuses_a_device_array_with_a_clear_error():
    import backends
    import ir

    class FakeDeviceArray:  # what graphc recognizes device arrays by, without CUDA here
        shape, dtype = (2,), np.dtype(np.float32)

        def copy_to_host(self):
            raise AssertionError("a cpu backend must not copy device arrays silently")

    graph = ir.parse("""func @f(%x: f32[2]) -> (f32[2]) {
  %0: f32[2] = neg %x
  return %0
}""")
    for name in ("interpreter", "llvm"):
        with pytest.raises(backends.ExecutionError,
                           match=r"%x is a CUDA device array.*backend='cuda'"):
            backends.get(name).compile(graph)(FakeDeviceArray())
