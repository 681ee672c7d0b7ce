"""``graphc.compile(fn)`` without ``backend=`` runs where its tensors are, as ``torch.compile``
does: cuda inputs (arguments, parameters, gradients, optimizer state) compile for the cuda
backend, cpu inputs for the default CPU backend, a mix is PyTorch's same-device error.

Run on numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/cuda``) or on a
GPU. Expected values come from the same programs run on the cpu by the NumPy interpreter or
eagerly. What needs no CUDA (cache key, guards) is tested in tests/test_compile_device_choice.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the helpers in tests/

import numpy as np
import pytest
from test_backend_llvm import small_batch, small_mlp

import backends
import graphc
from conftest import TOLERANCES

pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")


def _training(where: str, backend=None, momentum: float = 0.9):
    """A fresh seeded MLP, its SGD optimizer, a batch, all on ``where``, and a compiled step."""
    graphc.manual_seed(0)
    model = small_mlp().to(where)
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=momentum)
    x, y = (t.to(where) for t in small_batch())

    def step(x, y):
        opt.zero_grad()
        loss = graphc.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, x, y, graphc.compile(step, backend=backend)


def _reference(steps: int, momentum: float = 0.9):
    """Losses and parameters of ``steps`` compiled steps on the cpu by the NumPy interpreter."""
    model, x, y, step = _training("cpu", backend="interpreter", momentum=momentum)
    losses = [step(x, y).item() for _ in range(steps)]
    return losses, [p.numpy() for p in model.parameters()]


def test_a_compiled_training_step_on_cuda_tensors_runs_on_cuda_without_naming_a_backend():
    want_losses, want_params = _reference(steps=3)
    model, x, y, step = _training("cuda")
    losses = []
    for _ in range(3):
        loss = step(x, y)
        assert loss.is_cuda
        losses.append(loss.item())
    assert {entry.backend.name for entry in step.entries} == {"cuda"}
    assert all(p.is_cuda and p.grad.is_cuda for p in model.parameters())
    np.testing.assert_allclose(losses, want_losses, **TOLERANCES["f32"])
    for got, want in zip(model.parameters(), want_params):
        np.testing.assert_allclose(got.numpy(), want, **TOLERANCES["f32"])


def test_explain_says_an_entry_runs_on_cuda_because_its_inputs_are_there():
    _, x, y, step = _training("cuda")
    step(x, y)
    assert "  backend cuda: the inputs are on cuda:0" in step.explain().splitlines()


def test_moving_the_model_back_to_the_cpu_retraces_onto_the_default_cpu_backend():
    # plain SGD keeps no state of its own, so Module.cpu() moves everything the step reads
    want_losses, want_params = _reference(steps=4, momentum=0.0)
    model, x, y, step = _training("cuda", momentum=0.0)
    losses = [step(x, y).item() for _ in range(2)]
    model.cpu()  # parameters and their grads, moved in place: the same tensors
    x, y = x.cpu(), y.cpu()
    losses += [step(x, y).item() for _ in range(2)]
    last = step.entries[-1]
    assert last.backend == backends.default_backend() and last.backend.name != "cuda"
    assert "argument x: f32[5,6] on cuda:0 -> f32[5,6]" in last.reason
    assert not any(p.is_cuda for p in model.parameters())
    np.testing.assert_allclose(losses, want_losses, **TOLERANCES["f32"])
    for got, want in zip(model.parameters(), want_params):
        np.testing.assert_allclose(got.numpy(), want, **TOLERANCES["f32"])


def test_a_cpu_batch_for_a_model_on_cuda_raises_the_same_device_error():
    _, x, y, step = _training("cuda")
    with pytest.raises(graphc.DeviceError, match=r"^Expected all tensors to be on the same "
                                                 r"device, but found at least two devices, "
                                                 r"cuda:0 and cpu!.*argument x") as caught:
        step(x.cpu(), y)
    assert isinstance(caught.value, RuntimeError)


def test_a_compiled_forward_on_cuda_differentiates_eagerly_on_cuda():
    rng = np.random.default_rng(1)
    values = rng.standard_normal((5, 6)).astype(np.float32)

    def gradients(where: str, compiled: bool):
        graphc.manual_seed(0)
        model = small_mlp().to(where)
        forward = graphc.compile(model) if compiled else model
        out = forward(graphc.tensor(values, device=where))
        (out * out).sum().backward()  # eager, on the outputs' device
        return model, forward

    want, _ = gradients("cpu", compiled=False)
    got, forward = gradients("cuda", compiled=True)
    assert {entry.backend.name for entry in forward.entries} == {"cuda"}
    for g, w in zip(got.parameters(), want.parameters()):
        assert g.grad.is_cuda
        np.testing.assert_allclose(g.grad.numpy(), w.grad.numpy(), **TOLERANCES["f32"])


def test_a_compiled_call_that_raises_leaves_cuda_state_as_before():
    # the cuda backend writes donated state in place as it runs: a gather out of range after
    # the first write, or a check tested after the run, must not leave it half-updated
    p, buf = graphc.zeros(3, device="cuda"), graphc.zeros(2, device="cuda")

    def gather_step(x, index):
        p.add_(1.0)
        y = x[index]
        buf.add_(y.sum())
        return y

    def checked_step(x):
        p.add_(1.0)
        return graphc.nn.functional.binary_cross_entropy(x, graphc.ones(3, device="cuda"))

    x = graphc.ones(3, device="cuda")
    compiled = graphc.compile(gather_step)
    compiled(x, graphc.tensor([0, 1], device="cuda"))
    with pytest.raises(RuntimeError, match="out of range"):
        compiled(x, graphc.tensor([0, 5], device="cuda"))
    assert p.tolist() == [1.0, 1.0, 1.0] and buf.tolist() == [2.0, 2.0]
    checked = graphc.compile(checked_step)
    checked(graphc.full((3,), 0.5, device="cuda"))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        checked(graphc.full((3,), 2.0, device="cuda"))
    assert p.tolist() == [2.0, 2.0, 2.0]
