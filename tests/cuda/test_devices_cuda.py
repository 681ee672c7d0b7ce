"""Tensors on ``"cuda"``: placement, moves, eager ops as single-op kernels, mixed-device errors,
and a compiled training step whose state stays on the device.

Run on numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/cuda``) or on a
GPU. Expected values are computed independently with NumPy on the host.
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
from backends.cuda import memory
from conftest import TOLERANCES, assert_close

pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")
F = np.float32


def test_cuda_is_available_and_named_as_in_pytorch():
    assert graphc.cuda.is_available() and graphc.cuda.device_count() == 1
    assert graphc.device("cuda:0") == "cuda:0" and graphc.ones(1, device="cuda").device == "cuda:0"
    assert graphc.device("cuda") != graphc.device("cuda:0")  # as torch.device compares them
    assert str(graphc.device("cuda", 0)) == "cuda:0"


def test_tensors_move_between_host_and_device_and_keep_their_values():
    values = np.array([[1.5, -2.0], [3.0, 4.25]], F)
    x = graphc.tensor(values)
    on_gpu = x.to("cuda")
    assert on_gpu.device == graphc.device("cuda:0") and on_gpu.is_cuda and not x.is_cuda
    assert x.cuda().device == on_gpu.device and on_gpu.cuda() is on_gpu
    back = on_gpu.cpu()
    assert back.device == graphc.device("cpu") and isinstance(back._data, np.ndarray)
    np.testing.assert_array_equal(back.numpy(), values)
    np.testing.assert_array_equal(on_gpu.numpy(), values)  # .numpy() copies to the host
    assert on_gpu[1, 1].item() == 4.25
    assert "device='cuda:0'" in repr(on_gpu)


def test_factories_take_a_device_and_like_factories_keep_it():
    for made in (graphc.zeros(2, 3, device="cuda"), graphc.ones(2, device="cuda"),
                 graphc.full((2,), 7.0, device="cuda"), graphc.arange(4, device="cuda"),
                 graphc.eye(3, device="cuda"), graphc.randn(3, device="cuda"),
                 graphc.tensor([1, 2], device=graphc.device("cuda"))):
        assert made.is_cuda
    x = graphc.ones(2, 2, device="cuda")
    assert graphc.zeros_like(x).is_cuda and graphc.ones_like(x).is_cuda
    assert not graphc.zeros_like(x, device="cpu").is_cuda
    np.testing.assert_array_equal(graphc.full((2,), 7.0, device="cuda").numpy(), [7, 7])


def test_eager_ops_on_device_tensors_run_on_the_device_and_match_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)).astype(F), rng.standard_normal((4, 2)).astype(F)
    x, w = graphc.tensor(a, device="cuda"), graphc.tensor(b, device="cuda")
    y = ((x @ w).tanh() * 2 + 1).sum(dim=0)
    assert y.is_cuda
    expected = (np.tanh(a.astype(np.float64) @ b) * 2 + 1).sum(axis=0)
    assert_close(y.numpy(), expected, dtype="f32")


def test_eager_backward_on_the_device_gives_device_gradients_that_match_numpy():
    a = np.array([[0.5, -1.0], [2.0, 0.25]], F)
    x = graphc.tensor(a, device="cuda", requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    assert x.grad.is_cuda
    assert_close(x.grad.numpy(), 2 * a.astype(np.float64), dtype="f32")


def test_mixing_devices_in_one_op_names_both_devices():
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device, but "
                                           "found at least two devices, cuda:0 and cpu!"):
        graphc.ones(2, device="cuda") + graphc.ones(2)


def test_numbers_and_0d_cpu_tensors_may_join_device_tensors_as_in_pytorch():
    x = graphc.ones(3, device="cuda")
    assert (x * 2).is_cuda and (x + graphc.tensor(1.5)).is_cuda
    np.testing.assert_array_equal((x + graphc.tensor(1.5)).numpy(), [2.5, 2.5, 2.5])


def test_moving_a_tensor_that_requires_grad_is_refused_with_a_hint():
    w = graphc.ones(2, requires_grad=True)
    with pytest.raises(graphc.AutogradError, match="create it there"):
        w.to("cuda")


def test_only_cuda_0_exists():
    with pytest.raises(graphc.DeviceError, match="CUDA device 1 does not exist"):
        graphc.ones(2, device="cuda:1")


def test_a_cpu_backend_refuses_device_tensors_with_a_clear_error():
    f = graphc.compile(lambda x: x + 1, backend="llvm")  # named: no following the device
    with pytest.raises(backends.ExecutionError, match="CUDA device array.*backend='cuda'"):
        f(graphc.ones(2, device="cuda"))


def test_module_to_cuda_moves_parameters_in_place_and_back():
    model = small_mlp()
    params = list(model.parameters())
    values = [p.numpy().copy() for p in params]
    assert model.to("cuda") is model
    assert list(model.parameters()) == params and all(p.is_cuda for p in params)
    model.cpu()
    assert not any(p.is_cuda for p in params)
    for p, v in zip(params, values):
        np.testing.assert_array_equal(p.numpy(), v)
    model.cuda()
    assert all(p.is_cuda for p in model.parameters())


def _sgd_run(where: str, compiled: bool, steps: int = 3, optimizer: str = "SGD"):
    graphc.manual_seed(0)
    model = small_mlp().to(where)
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if optimizer == "SGD" \
        else graphc.optim.Adam(model.parameters(), lr=0.01)
    x, y = (t.to(where) for t in small_batch())

    def step(x, y):
        opt.zero_grad()
        loss = graphc.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    run = graphc.compile(step, backend="cuda" if where == "cuda" else "interpreter") \
        if compiled else step
    losses = [run(x, y).item() for _ in range(steps)]
    return losses, model, opt


def test_a_compiled_adam_step_on_cuda_counts_its_steps_like_the_interpreter():
    # Adam's bias correction reads the step count, a 0-d state tensor that starts on the host
    # and is updated in place on the device from the second step on
    want, want_model, _ = _sgd_run("cpu", compiled=True, steps=4, optimizer="Adam")
    got, got_model, opt = _sgd_run("cuda", compiled=True, steps=4, optimizer="Adam")
    np.testing.assert_allclose(got, want, **TOLERANCES["f32"])
    for g, w in zip(got_model.parameters(), want_model.parameters()):
        np.testing.assert_allclose(g.numpy(), w.numpy(), **TOLERANCES["f32"])
    assert all(s["step"].item() == 4 for s in opt.state.values())


def test_an_eager_training_loop_on_cuda_matches_the_cpu():
    want, want_model, _ = _sgd_run("cpu", compiled=False)
    got, got_model, _ = _sgd_run("cuda", compiled=False)
    np.testing.assert_allclose(got, want, **TOLERANCES["f32"])
    for g, w in zip(got_model.parameters(), want_model.parameters()):
        assert g.is_cuda
        np.testing.assert_allclose(g.numpy(), w.numpy(), **TOLERANCES["f32"])


class CopyCounter:
    """Records every host<->device copy graphc makes (``backends.cuda.memory``'s two copy
    functions, patched), with the identity of the device array copied from or made."""

    def __init__(self, monkeypatch):
        self.device_arrays: list = []  # kept alive, so identities are not reused
        to_device, to_host = memory.to_device, memory.to_host

        def counted_to_device(array):
            made = to_device(array)
            self.device_arrays.append(made)
            return made

        def counted_to_host(array):
            self.device_arrays.append(array)
            return to_host(array)

        monkeypatch.setattr(memory, "to_device", counted_to_device)
        monkeypatch.setattr(memory, "to_host", counted_to_host)


def test_a_compiled_training_step_on_cuda_keeps_its_state_on_the_device(monkeypatch):
    want, want_model, _ = _sgd_run("cpu", compiled=True)
    counter = CopyCounter(monkeypatch)
    graphc.manual_seed(0)
    model = small_mlp().to("cuda")
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = (t.to("cuda") for t in small_batch())

    def step(x, y):
        opt.zero_grad()
        loss = graphc.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    compiled = graphc.compile(step, backend="cuda")
    losses, memory_of_state = [], None
    for number in range(3):
        counter.device_arrays.clear()
        loss = compiled(x, y)
        assert loss.is_cuda
        state = list(model.parameters()) + [p.grad for p in model.parameters()] + [
            t for s in opt.state.values() for t in s.values()]
        assert all(t.is_cuda for t in state)
        if number:  # after the first step (which creates the optimizer state on the device)
            copied = {id(a) for a in counter.device_arrays}
            assert not [t for t in state if id(t._data) in copied], "state was copied"
            # parameters and momentum buffers are updated in place: the same device arrays
            updated = list(model.parameters()) + [s["momentum_buffer"]
                                                  for s in opt.state.values()]
            if memory_of_state is not None:
                assert [t._data for t in updated] == memory_of_state
            memory_of_state = [t._data for t in updated]
        losses.append(loss.item())
    np.testing.assert_allclose(losses, want, **TOLERANCES["f32"])
    for g, w in zip(model.parameters(), want_model.parameters()):
        np.testing.assert_allclose(g.numpy(), w.numpy(), **TOLERANCES["f32"])


def _assert_training_on_cuda_matches_the_interpreter(make_model, steps: int = 2) -> None:
    """Compiled Adam steps of ``make_model()`` on 8x8 one-channel images (the digits' shape):
    losses and parameters on cuda equal the interpreter's within the f32 tolerance."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, size=(4, 1, 8, 8)).astype(F)
    labels = rng.integers(0, 10, size=4)

    def run(where: str, backend: str):
        graphc.manual_seed(0)
        model = make_model().to(where)
        opt = graphc.optim.Adam(model.parameters(), lr=3e-3)

        def step(x, y):
            opt.zero_grad()
            loss = graphc.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        compiled = graphc.compile(step, backend=backend)
        x, y = graphc.tensor(images, device=where), graphc.tensor(labels, device=where)
        losses = [compiled(x, y).item() for _ in range(steps)]
        return losses, [p.numpy() for p in model.parameters()]

    want_losses, want_params = run("cpu", "interpreter")
    got_losses, got_params = run("cuda", "cuda")
    np.testing.assert_allclose(got_losses, want_losses, **TOLERANCES["f32"])
    for got, want in zip(got_params, want_params):
        np.testing.assert_allclose(got, want, **TOLERANCES["f32"])


SMALL_DIGITS_MODELS = {  # the digits example's two models, with fewer units (the simulator is slow)
    "mlp": lambda: graphc.nn.Sequential(graphc.nn.Flatten(), graphc.nn.Linear(64, 8),
                                        graphc.nn.ReLU(), graphc.nn.Linear(8, 10)),
    "cnn": lambda: graphc.nn.Sequential(
        graphc.nn.Conv2d(1, 2, kernel_size=3, padding=1), graphc.nn.ReLU(),
        graphc.nn.MaxPool2d(2),
        graphc.nn.Conv2d(2, 3, kernel_size=3, padding=1), graphc.nn.ReLU(),
        graphc.nn.MaxPool2d(2), graphc.nn.Flatten(), graphc.nn.Linear(3 * 2 * 2, 10)),
}


@pytest.mark.parametrize("kind", sorted(SMALL_DIGITS_MODELS))
def test_the_digits_models_train_on_cuda_like_the_interpreter(kind):
    _assert_training_on_cuda_matches_the_interpreter(SMALL_DIGITS_MODELS[kind])


@pytest.mark.skipif(memory.simulated(), reason="the example's full-size models take minutes on "
                    "the simulator (their smaller twins run above); on a GPU: GRAPHC_TEST_CUDA=1 "
                    "python -m pytest -q tests/cuda")
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_the_digits_examples_own_models_train_on_cuda_like_the_interpreter(kind):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
    from digits_classifier import make_model

    _assert_training_on_cuda_matches_the_interpreter(lambda: make_model(kind))
