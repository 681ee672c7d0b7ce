"""PyTorch's example programs (``examples/pytorch/``) with their models compiled.

Each test imports a program (its classes and functions, as written by PyTorch's authors),
builds its model and optimizer twice from one seed, and runs the program's own training code
for a few steps: once eagerly, once with the model passed through ``graphc.compile`` (what
``model = torch.compile(model)`` does in PyTorch: forward and backward compiled, the optimizer
eager) or, where the program has a step function, with the step compiled whole. The losses and
the final parameters must agree. Dropout is set to 0 for the comparison (eager and compiled
code draw their random numbers differently), and training mode is kept otherwise.

Tolerance: float32, a few optimizer steps, ``rtol=1e-4, atol=1e-5``: compiled kernels sum in
another order (fused, vectorized), and Adadelta's first steps amplify last-bit differences of
the gradients by up to ~10x; float64 runs (time_sequence_prediction, and the siamese network,
whose BatchNorm over 4 examples amplifies far more) use tight float64 tolerances.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import graphc
from conftest import assert_close

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "examples" / "pytorch"
F32_STEPS = dict(rtol=1e-4, atol=1e-5)


@contextlib.contextmanager
def program_environment(cwd: Path, argv: list[str]):
    """sys.path, sys.argv and the working directory a program expects when run as a script."""
    saved = list(sys.path), list(sys.argv), os.getcwd()
    sys.path[:0] = [str(PROGRAMS)]
    sys.argv[:] = argv
    os.chdir(cwd)
    try:
        yield
    finally:
        sys.path[:], sys.argv[:] = saved[0], saved[1]
        os.chdir(saved[2])


def load_program(relative: str, cwd: Path, argv=()):
    """Imports ``examples/pytorch/<relative>`` as a module (its ``__main__`` block does not run)."""
    path = PROGRAMS / relative
    name = "pytorch_example_" + relative.replace("/", "_").removesuffix(".py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    with program_environment(cwd, [str(path), *argv]):
        spec.loader.exec_module(module)
    return module


def without_dropout(model):
    for m in model.modules():
        if "Dropout" in type(m).__name__:
            m.p = 0.0
        if isinstance(getattr(m, "dropout", None), float):  # MultiheadAttention's, as torch's
            m.dropout = 0.0
    return model


def parameters_of(model) -> dict:
    return {name: p.detach().numpy().copy() for name, p in model.named_parameters()}


def assert_same_training(eager_losses, compiled_losses, eager_model, compiled_model, tol):
    assert np.isfinite(eager_losses).all()
    assert_close(np.array(compiled_losses), np.array(eager_losses), **tol)
    eager, compiled = parameters_of(eager_model), parameters_of(compiled_model)
    assert eager.keys() == compiled.keys()
    for name in eager:
        assert_close(compiled[name], eager[name], **tol)


class LossLog:
    """A stand-in for the programs' ``print``: the losses their train() functions report."""

    def __init__(self):
        self.losses = []


def mnist_batches(n: int, batch_size: int, normalize=((0.1307,), (0.3081,))):
    """The first ``n`` batches of the programs' MNIST (the offline stand-in), normalized as
    the programs do."""
    sys.path.insert(0, str(PROGRAMS))
    try:
        from offline_torchvision import datasets, transforms
    finally:
        sys.path.remove(str(PROGRAMS))
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(*normalize)])
    data = datasets.MNIST("../data", train=True, transform=transform)
    loader = graphc.utils.data.DataLoader(data, batch_size=batch_size)
    batches = []
    for images, labels in loader:
        batches.append((images, labels))
        if len(batches) == n:
            return batches
    return batches


def run_program_train(module, model, optimizer, batches, loss_log):
    """The program's own ``train(args, model, device, loader, optimizer, epoch)``, on
    ``batches``, with its progress lines captured for the losses."""
    args = argparse.Namespace(log_interval=1, dry_run=False)
    original_print = module.__dict__.get("print", print)
    module.print = lambda *a, **k: loss_log.losses.append(float(str(a[0]).rsplit(" ", 1)[-1]))
    try:
        module.train(args, model, "cpu", _Loader(batches), optimizer, 1)
    finally:
        module.print = original_print


class _Loader(list):
    """A list of batches that answers ``len(loader.dataset)`` as a DataLoader does."""

    @property
    def dataset(self):
        return range(sum(len(b[0]) for b in self))


@pytest.mark.parametrize("program", ["mnist.py", "mnist_rnn.py"])
def test_mnist_programs_train_the_same_with_the_model_compiled(tmp_path, program):
    module = load_program(program, tmp_path)
    batches = mnist_batches(3, 16)
    runs = []
    for compiled in (False, True):
        graphc.manual_seed(1)
        model = without_dropout(module.Net())
        optimizer = module.optim.Adadelta(model.parameters(), lr=1.0)
        log = LossLog()
        run_program_train(module, graphc.compile(model) if compiled else model, optimizer,
                          batches, log)
        runs.append((log.losses, model))
    (eager_losses, eager_model), (compiled_losses, compiled_model) = runs
    assert len(eager_losses) == 3
    assert_same_training(eager_losses, compiled_losses, eager_model, compiled_model, F32_STEPS)


def test_mnist_training_step_compiled_whole_matches_eager(tmp_path):
    module = load_program("mnist.py", tmp_path)
    batches = mnist_batches(4, 16)
    F = module.F

    def make():
        graphc.manual_seed(2)
        model = without_dropout(module.Net())
        return model, module.optim.Adadelta(model.parameters(), lr=1.0)

    def step(model, optimizer, data, target):  # the body of the program's train() loop
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        return loss

    eager_model, eager_opt = make()
    eager = [step(eager_model, eager_opt, *b).item() for b in batches]
    model, opt = make()
    compiled_step = graphc.compile(lambda data, target: step(model, opt, data, target))
    compiled = [compiled_step(*b).item() for b in batches]
    assert compiled_step.traces == 1
    assert_same_training(eager, compiled, eager_model, model, F32_STEPS)


def test_siamese_network_trains_the_same_with_its_model_compiled(tmp_path):
    module = load_program("siamese_network.py", tmp_path)
    dataset = module.APP_MATCHER("../data", train=True)
    module.random.seed(0)
    # float64: BatchNorm over 4 examples at ResNet's 1x1 last stage amplifies float32's
    # summation-order differences past any fair float32 tolerance after one step
    batches = [tuple(graphc.stack([dataset[i][k] for i in range(b * 4, b * 4 + 4)]).double()
                     for k in range(3)) for b in range(2)]
    runs = []
    for compiled in (False, True):
        graphc.manual_seed(3)
        model = module.SiameseNetwork().double()
        optimizer = module.optim.Adadelta(model.parameters(), lr=1.0)
        log = LossLog()
        run_program_train(module, graphc.compile(model) if compiled else model, optimizer,
                          batches, log)
        runs.append((log.losses, model))
    (eager_losses, eager_model), (compiled_losses, compiled_model) = runs
    # (the losses are read from the program's printout, which has 6 decimals)
    assert_same_training(eager_losses, compiled_losses, eager_model, compiled_model,
                         dict(rtol=1e-6, atol=1e-6))


def test_gcn_trains_the_same_with_its_model_compiled(tmp_path):
    module = load_program("gcn.py", tmp_path)
    with program_environment(tmp_path, ["gcn.py"]):
        module.write_synthetic_cora("./cora", papers=300, words=40, citations=600)
        features, labels, adj_mat = module.load_cora(device="cpu")
    idx = graphc.randperm(len(labels))
    idx_val, idx_train = idx[:100], idx[100:]
    runs = []
    for compiled in (False, True):
        graphc.manual_seed(4)
        model = without_dropout(module.GCN(features.shape[1], 16, labels.max().item() + 1,
                                           True, 0.5))
        optimizer = module.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
        criterion = module.nn.NLLLoss()
        runner = graphc.compile(model) if compiled else model
        losses = []
        for epoch in range(1, 6):
            module.train_iter(epoch, runner, optimizer, criterion, (features, adj_mat), labels,
                              idx_train, idx_val, print_every=100)
            losses.append(module.test(runner, criterion, (features, adj_mat), labels,
                                      idx_train)[0])
        runs.append((losses, model))
    (eager_losses, eager_model), (compiled_losses, compiled_model) = runs
    assert eager_losses[-1] < eager_losses[0]
    assert_same_training(eager_losses, compiled_losses, eager_model, compiled_model, F32_STEPS)


def test_forward_forward_layers_train_the_same_with_their_forward_compiled(tmp_path):
    module = load_program("mnist_forward_forward.py", tmp_path)
    module.args = argparse.Namespace(lr=0.03, threshold=2.0, epochs=5, log_interval=100)
    module.device = "cpu"
    (images, labels), = mnist_batches(1, 64)
    # float64: Adam turns the rounding noise of near-zero float32 gradients into whole steps
    x = images.reshape(64, -1).double()
    x_pos = module.overlay_y_on_x(x, labels)
    x_neg = module.overlay_y_on_x(x, (labels + 1) % 10)
    runs = []
    for compiled in (False, True):
        graphc.manual_seed(5)
        net = module.Net([784, 32, 32])
        for layer in net.layers:
            layer.double()
            if compiled:
                layer.forward = graphc.compile(layer.forward)
        module.print = lambda *a, **k: None
        net.train(x_pos, x_neg)
        runs.append((net.predict(x).numpy(), net))
    (eager_pred, eager_net), (compiled_pred, compiled_net) = runs
    np.testing.assert_array_equal(compiled_pred, eager_pred)
    for a, b in zip(eager_net.layers, compiled_net.layers):
        assert_same_training([0.0], [0.0], a, b, dict(rtol=1e-9, atol=1e-12))


def test_time_sequence_prediction_closure_compiled_for_lbfgs_matches_eager(tmp_path):
    module = load_program("time_sequence_prediction/train.py", tmp_path)
    rng = np.random.RandomState(2)
    x = np.arange(16) + rng.randint(-80, 80, 6).reshape(6, 1)
    data = np.sin(x / 20.0)
    inputs, target = graphc.from_numpy(data[:, :-1]), graphc.from_numpy(data[:, 1:])
    runs = []
    for compiled in (False, True):
        graphc.manual_seed(0)
        seq = module.Sequence()
        seq.double()
        criterion = module.nn.MSELoss()
        optimizer = module.optim.LBFGS(seq.parameters(), lr=0.8)
        losses = []

        def closure():  # the program's closure, but for the print
            optimizer.zero_grad()
            out = seq(inputs)
            loss = criterion(out, target)
            loss.backward()
            return loss
        step_closure = graphc.compile(closure) if compiled else closure
        for _ in range(2):
            losses.append(optimizer.step(step_closure).item())
        runs.append((losses, seq))
    (eager_losses, eager_seq), (compiled_losses, compiled_seq) = runs
    assert_same_training(eager_losses, compiled_losses, eager_seq, compiled_seq,
                         dict(rtol=1e-9, atol=1e-12))


@pytest.mark.parametrize("kind", ["LSTM", "Transformer"])
def test_word_language_model_trains_the_same_with_its_model_compiled(tmp_path, kind):
    module = load_program("word_language_model/model.py", tmp_path)
    ntokens, bptt, batch = 50, 8, 4
    rng = np.random.default_rng(6)
    stream = graphc.from_numpy(rng.integers(0, ntokens, size=(4 * bptt + 1, batch)))
    runs = []
    for compiled in (False, True):
        graphc.manual_seed(7)
        if kind == "LSTM":
            model = module.RNNModel("LSTM", ntokens, 16, 16, 2, dropout=0.0)
        else:
            model = without_dropout(module.TransformerModel(ntokens, 16, 2, 16, 2, dropout=0.0))
        runner = graphc.compile(model) if compiled else model
        criterion = graphc.nn.NLLLoss()
        losses = []
        hidden = model.init_hidden(batch) if kind == "LSTM" else None
        for i in range(0, 4 * bptt, bptt):  # the program's train(): clip, then plain SGD
            data, targets = stream[i:i + bptt], stream[i + 1:i + 1 + bptt].reshape(-1)
            model.zero_grad()
            if kind == "LSTM":
                hidden = tuple(h.detach() for h in hidden)
                output, hidden = runner(data, hidden)
            else:
                output = runner(data).view(-1, ntokens)
            loss = criterion(output, targets)
            loss.backward()
            graphc.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-5.0)
            losses.append(loss.item())
        runs.append((losses, model))
    (eager_losses, eager_model), (compiled_losses, compiled_model) = runs
    assert_same_training(eager_losses, compiled_losses, eager_model, compiled_model, F32_STEPS)
