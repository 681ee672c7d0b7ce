"""``graphc.compile(fn)`` without ``backend=`` follows its inputs' device, tested without CUDA:
a stand-in for a device array (what graphc recognizes device arrays by) shows that the cache key
and the guards on lifted state include the device, that cpu and device inputs mixed are
PyTorch's same-device error, and that a named backend keeps its own clear error. Compiling for
the device itself is tested in tests/cuda/test_compile_follows_device.py."""
from __future__ import annotations

import numpy as np
import pytest

import backends
import graphc
from graphc.compile import _leaf_spec, _positional_key
from graphc.compile_device import follow_inputs
from graphc.tensor import Tensor

F = np.float32
CPU_DEFAULT = backends.BackendChoice("llvm", "default")


class FakeDeviceArray:
    """What graphc recognizes a CUDA device array by (``copy_to_host``), holding no CUDA."""

    def __init__(self, shape, dtype=F):
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.ndim = len(self.shape)

    def copy_to_host(self):
        raise AssertionError("nothing may copy this stand-in: no CUDA here")


def on_fake_device(tensor: Tensor) -> Tensor:
    """Moves ``tensor`` to the stand-in device in place, as ``Module.to("cuda")`` does."""
    tensor._data = FakeDeviceArray(tensor._data.shape, tensor._data.dtype)
    return tensor


def test_the_cache_key_of_a_tensor_argument_includes_its_device():
    cpu, device = graphc.ones(2, 3), on_fake_device(graphc.ones(2, 3))
    assert cpu.ir_type == device.ir_type  # same dtype and shape: only the device differs
    assert _leaf_spec(cpu, 0) != _leaf_spec(device, 0)
    assert _leaf_spec(cpu, 0) == _leaf_spec(graphc.zeros(2, 3), 0)
    assert _positional_key((cpu,)) != _positional_key((device,))
    assert _positional_key((cpu,)) == _positional_key((graphc.zeros(2, 3),))


def test_a_lifted_parameter_moved_to_the_device_in_place_fails_its_guard():
    weight = graphc.ones(3)

    @graphc.compile
    def scale(x):
        return x * weight

    x = graphc.tensor([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(scale(x).numpy(), [1.0, 2.0, 3.0])
    (entry,) = scale.entries
    resolve = entry.resolver([x])
    assert entry.failed_guard(resolve) is None
    on_fake_device(weight)  # the same tensor object, its data now on the device
    failed = entry.failed_guard(resolve)
    assert failed is not None and "weight" in failed.description
    assert failed.failure(resolve) == "weight has type f32[3] (now f32[3] on cuda:0)"


def test_a_gradient_moved_to_the_device_fails_the_guard_that_reads_it():
    weight = graphc.ones(2, requires_grad=True)
    weight.grad = graphc.ones(2)

    @graphc.compile
    def grad_norm(x):
        return (weight.grad * x).sum()

    x = graphc.tensor([1.0, 2.0])
    assert grad_norm(x).item() == 3.0
    (entry,) = grad_norm.entries
    on_fake_device(weight.grad)
    assert entry.failed_guard(entry.resolver([x])) is not None


def test_cpu_and_device_tensors_mixed_in_a_compiled_call_raise_the_same_device_error():
    weight = on_fake_device(graphc.ones(3))

    @graphc.compile
    def scale(x):
        return x * weight

    with pytest.raises(graphc.DeviceError) as caught:
        scale(graphc.ones(3))
    message = str(caught.value)
    assert isinstance(caught.value, RuntimeError)
    assert message.startswith("Expected all tensors to be on the same device, but found at "
                              "least two devices, cuda:0 and cpu!")
    assert "argument x" in message and "%weight" in message  # the two tensors, named
    assert scale.entries == []  # nothing was compiled for the mix


def test_the_backend_follows_the_inputs_device_and_0d_cpu_tensors_may_join_the_device():
    device, host = FakeDeviceArray((2,)), np.ones(2, F)
    assert follow_inputs(CPU_DEFAULT, [("argument x", host)]) is CPU_DEFAULT
    assert follow_inputs(CPU_DEFAULT, []) is CPU_DEFAULT
    chosen = follow_inputs(CPU_DEFAULT, [("argument x", device), ("state %step", np.ones((), F))])
    assert (chosen.name, chosen.reason) == ("cuda", "the inputs are on cuda:0")
    with pytest.raises(graphc.DeviceError, match=r"argument y is on cuda:0 and its argument x "
                                                 r"on cpu"):
        follow_inputs(CPU_DEFAULT, [("argument x", host), ("argument y", device)])


def test_a_named_cpu_backend_keeps_refusing_device_tensors_with_its_own_error():
    scale = graphc.compile(lambda x: x * 2.0, backend="interpreter")
    with pytest.raises(backends.ExecutionError, match=r"CUDA device array.*backend='cuda'"):
        scale(on_fake_device(graphc.ones(2)))
