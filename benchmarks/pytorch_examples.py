"""PyTorch's ten example programs (``examples/pytorch/``) on graphc and on PyTorch, same weights.

Each program's source is loaded twice: as ported (``import graphc as torch``) and with ``graphc``
turned back into ``torch`` (its offline data modules, which only serve numbers, stay as they
are). Both copies build the program's own model classes; the torch models get the graphc model's
weights (``state_dict`` copied by name); then each copy runs the program's own training code for
a few steps on the same batches (NumPy arrays handed to both), dropout off, one thread each:
graphc eagerly, graphc with its model (or step) through ``graphc.compile``, and torch eagerly.
Reported per program: the loss curves' max relative difference from torch's, and the median time
of a step (the first two steps left out: the first compiles, and a program that caches
Python state in its model, as the Transformer its mask, retraces at the second) with its ratio
to torch's. A program passes when every graphc curve is within ``TOLERANCE`` of torch's.

Two programs amplify float32 rounding past any fair tolerance within a few steps: the siamese
network (ResNet-18's BatchNorm at its 1x1 last stage, normalizing over the batch alone, then
Adadelta at lr=1, whose first steps are near ``sign(gradient)``) and dcgan (two Adam steps per
iteration from a discriminator and generator that feed each other); torch's own float32 and
float64 curves part there too. They run twice: float32 (the program as written: its time, and
its difference reported but not judged) and float64 (judged).

How each program is driven (its file is never edited; where its loop runs at module level or
reads globals set in its ``__main__`` block, the loop body is replayed on its classes):

- ``mnist``, ``mnist_rnn``: ``Net`` and Adadelta(lr=1) as ``main()`` builds them; the body of
  ``train()``'s loop. Compiled: ``graphc.compile(model)``.
- ``vae``: the module (argument parsing and data loaders run at import) gives ``VAE``,
  ``loss_function`` and Adam(1e-3); the body of ``train()``'s loop. ``reparameterize`` draws
  ``torch.randn_like``: the program's ``torch`` is replaced by a stand-in that returns the
  batch's noise, the same in both libraries. Compiled: ``model.encode`` and ``model.decode``
  (the random draw between them stays eager).
- ``word_language_model`` (LSTM and Transformer): ``model.py``'s classes, a corpus that
  ``data.Corpus`` reads (``offline_text``) batchified as ``main.py`` does; the body of
  ``main.py``'s ``train()`` loop (clip the gradient norm, SGD by hand, lr 20 / 5 as the README
  says). Compiled: ``graphc.compile(model)``.
- ``time_sequence_prediction``: ``Sequence`` in float64 and LBFGS(lr=0.8) on sine waves of the
  program's generator (fewer and shorter); each step is ``optimizer.step(closure)`` with the
  program's closure. Compiled: the closure.
- ``regression``: the module up to its training loop (``W_target``, ``b_target``, ``f``,
  ``make_features``; torch's copy gets graphc's target); the loop body on the same random
  inputs. Compiled: ``graphc.compile(fc)``.
- ``siamese_network``: ``SiameseNetwork`` (torch's ResNet-18 is ``offline_torchvision``'s
  ResNet-18 source with ``graphc`` turned into ``torch``, built from ``torch.nn``, because
  torchvision's wheel for torch 2.13.0 needs the CUDA build of torch), Adadelta(lr=1), pairs
  drawn by ``APP_MATCHER``; the body of ``train()``'s loop. Compiled: ``graphc.compile(model)``.
- ``dcgan``: the module up to its training loop (``Generator``, ``Discriminator``,
  ``weights_init``, the MNIST data set resized to 64); the loop body (one discriminator and one
  generator Adam step) on the same images and noise; the curve holds both losses. Compiled:
  ``graphc.compile`` of both networks.
- ``mnist_forward_forward``: ``Net([784, 500, 500])`` with the globals its ``__main__`` block
  sets (``args``, ``device``); the body of ``Layer.train``'s loop on the first layer (its own
  Adam), positive and negative data made by ``overlay_y_on_x``. Compiled: the layer's forward.
- ``gcn``: each library's ``load_cora`` reads the same synthetic Cora files; ``GCN``, Adam and
  ``train_iter`` as ``main`` calls them; the loss is the training loss ``train_iter`` computes.
  Compiled: ``graphc.compile(model)``.

    python benchmarks/pytorch_examples.py [--steps 6] [--only mnist,gcn]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import random
import re
import sys
import tempfile
import time
import types
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "examples" / "pytorch"
sys.path[:0] = [str(ROOT), str(PROGRAMS), str(PROGRAMS / "word_language_model")]

import graphc  # noqa: E402

TOLERANCE = 1e-4  # float32 losses over a few steps (float64 programs agree far closer)
WARMUP = 2  # steps left out of the medians


def to_torch_source(source: str) -> str:
    """A ported program's source as PyTorch's: ``graphc`` named ``torch`` again (the offline
    data modules stay: they only serve data), torchvision's ResNet-18 built from ``torch.nn``."""
    source = re.sub(r"\bgraphc\b", "torch", source)
    return source.replace("torchvision.models.resnet18(", "__resnet18__(")


def load(relative: str, torch_version: bool, argv=(), stop_at: str | None = None,
         cwd: Path | None = None) -> types.ModuleType:
    """Runs ``examples/pytorch/<relative>`` as a module (not as ``__main__``), with ``argv``;
    ``stop_at``: only the source above that line (a program whose loop runs at module level)."""
    path = PROGRAMS / relative
    source = path.read_text()
    if stop_at is not None:
        source = source[:source.index(stop_at)]
    module = types.ModuleType(relative.replace("/", "_").removesuffix(".py"))
    module.__file__ = str(path)
    if torch_version:
        source = to_torch_source(source)
        if "__resnet18__" in source:
            module.__resnet18__ = load("offline_torchvision/models.py", True).resnet18
    saved = sys.argv, os.getcwd()
    sys.argv = [str(path), *argv]
    try:
        os.chdir(cwd or os.getcwd())
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(source, str(path), "exec"), module.__dict__)
    finally:
        sys.argv = saved[0]
        os.chdir(saved[1])
    return module


def no_dropout(model):
    for m in model.modules():
        if "Dropout" in type(m).__name__:
            m.p = 0.0
        if isinstance(getattr(m, "dropout", None), float):  # MultiheadAttention's
            m.dropout = 0.0
    return model


def copy_weights(graphc_model, torch_model, torch) -> None:
    state = {k: torch.from_numpy(np.array(v.numpy())) for k, v in graphc_model.state_dict().items()}
    torch_model.load_state_dict(state)


def as_tensors(lib, batch):
    """A batch of NumPy arrays as ``lib``'s tensors (copies: neither library shares them)."""
    return tuple(lib.from_numpy(np.array(a)) if isinstance(a, np.ndarray) else a for a in batch)


def mnist_arrays(n: int, normalize=True, size=None):
    """The first ``n`` images and labels of the programs' (offline) MNIST, as NumPy arrays."""
    from offline_torchvision import datasets, transforms
    steps = ([transforms.Resize(size)] if size else []) + [transforms.ToTensor()]
    if normalize:
        steps.append(transforms.Normalize((0.1307,), (0.3081,)))
    data = datasets.MNIST(train=True, transform=transforms.Compose(steps))
    images = np.stack([data[i][0].numpy() for i in range(n)])
    return images, data.targets.numpy()[:n].astype(np.int64)


def split(arrays, size: int, steps: int):
    return [tuple(a[i * size:(i + 1) * size] for a in arrays) for i in range(steps)]


# --- the programs: build(module) -> {name: model}; train(module, lib, models, compiled, batches)
# --- -> (losses, seconds per step); each train replays the program's own loop body


def timed(step, batches):
    """Runs ``step(*batch)`` (it returns the step's losses as floats) on each batch."""
    losses, times = [], []
    for batch in batches:
        start = time.perf_counter()
        losses.extend(step(*batch))
        times.append(time.perf_counter() - start)
    return losses, times


def mnist_train(module, lib, models, compiled, batches):
    model = models["model"]
    optimizer = module.optim.Adadelta(model.parameters(), lr=1.0)
    runner = graphc.compile(model) if compiled else model
    model.train()

    def step(data, target):  # mnist.py / mnist_rnn.py train()
        optimizer.zero_grad()
        output = runner(data)
        loss = module.F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        return [loss.item()]
    return timed(step, batches)


class ReplayedNoise:
    """The VAE program's ``torch``, but ``randn_like`` returns the step's noise (the same
    numbers in graphc and torch)."""

    def __init__(self, lib):
        self.lib, self.noise = lib, None

    def __getattr__(self, name):
        return getattr(self.lib, name)

    def randn_like(self, like):
        assert tuple(like.shape) == self.noise.shape, (tuple(like.shape), self.noise.shape)
        return self.lib.from_numpy(np.array(self.noise))


def vae_train(module, lib, models, compiled, batches):
    model = models["model"]
    optimizer = module.optim.Adam(model.parameters(), lr=1e-3)
    if compiled:
        model.encode, model.decode = graphc.compile(model.encode), graphc.compile(model.decode)
    noise = ReplayedNoise(lib)
    model.train()

    def step(data, eps):  # vae.py train()
        noise.noise = eps.numpy()
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = module.loss_function(recon_batch, data, mu, logvar)
        loss.backward()
        optimizer.step()
        return [loss.item()]
    saved, module.torch = module.torch, noise
    try:
        return timed(step, batches)
    finally:
        module.torch = saved


def language_model_train(kind: str, lr: float):
    def train(module, lib, models, compiled, batches):
        model = models["model"]
        runner = graphc.compile(model) if compiled else model
        criterion = module.nn.NLLLoss()
        ntokens = model.decoder.out_features
        hidden = model.init_hidden(batches[0][0].shape[1]) if kind != "Transformer" else None
        model.train()

        def step(data, targets):  # word_language_model/main.py train()
            nonlocal hidden
            model.zero_grad()
            if kind == "Transformer":
                output = runner(data).view(-1, ntokens)
            else:
                hidden = tuple(h.detach() for h in hidden)  # repackage_hidden
                output, hidden = runner(data, hidden)
            loss = criterion(output, targets)
            loss.backward()
            module.torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            return [loss.item()]
        return timed(step, batches)
    return train


def time_sequence_train(module, lib, models, compiled, batches):
    seq = models["seq"]
    criterion = module.nn.MSELoss()
    optimizer = module.optim.LBFGS(seq.parameters(), lr=0.8)

    def step(input, target):  # time_sequence_prediction/train.py, its closure but for the print
        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            loss.backward()
            return loss
        return [optimizer.step(graphc.compile(closure) if compiled else closure).item()]
    return timed(step, batches)


def regression_train(module, lib, models, compiled, batches):
    fc = models["fc"]
    runner = graphc.compile(fc) if compiled else fc

    def step(random):  # regression.py's loop, get_batch() on the same random numbers
        batch_x = module.make_features(random)
        batch_y = module.f(batch_x)
        fc.zero_grad()
        output = module.F.smooth_l1_loss(runner(batch_x), batch_y)
        loss = output.item()
        output.backward()
        for param in fc.parameters():
            param.data.add_(-0.1 * param.grad)
        return [loss]
    return timed(step, batches)


def siamese_train(module, lib, models, compiled, batches):
    model = models["model"]
    optimizer = module.optim.Adadelta(model.parameters(), lr=1.0)
    runner = graphc.compile(model) if compiled else model
    criterion = module.nn.BCELoss()
    model.train()

    def step(images_1, images_2, targets):  # siamese_network.py train()
        optimizer.zero_grad()
        outputs = runner(images_1, images_2).squeeze()
        loss = criterion(outputs, targets)
        loss.backward()
        optimizer.step()
        return [loss.item()]
    return timed(step, batches)


def dcgan_train(module, lib, models, compiled, batches):
    netG, netD, opt, torch = models["netG"], models["netD"], module.opt, module.torch
    runG, runD = (graphc.compile(netG), graphc.compile(netD)) if compiled else (netG, netD)
    criterion = module.nn.BCELoss()
    optimizerD = module.optim.Adam(netD.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
    optimizerG = module.optim.Adam(netG.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
    real_label, fake_label = module.real_label, module.fake_label

    def step(real_cpu, noise):  # dcgan.py's loop body, without its printing and saving
        netD.zero_grad()
        batch_size = real_cpu.size(0)
        label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype, device="cpu")
        output = runD(real_cpu)
        errD_real = criterion(output, label)
        errD_real.backward()
        fake = runG(noise)
        label.fill_(fake_label)
        output = runD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        errD = errD_real + errD_fake
        optimizerD.step()
        netG.zero_grad()
        label.fill_(real_label)
        output = runD(fake)
        errG = criterion(output, label)
        errG.backward()
        optimizerG.step()
        return [errD.item(), errG.item()]
    return timed(step, batches)


def forward_forward_train(module, lib, models, compiled, batches):
    layer = models["layer0"]
    if compiled:
        layer.forward = graphc.compile(layer.forward)

    def step(x, y, y_neg):  # mnist_forward_forward.py Layer.train's loop, on the first layer
        x_pos, x_neg = module.overlay_y_on_x(x, y), module.overlay_y_on_x(x, y_neg)
        g_pos = layer.forward(x_pos).pow(2).mean(1)
        g_neg = layer.forward(x_neg).pow(2).mean(1)
        loss = module.torch.log1p(module.torch.exp(module.torch.cat(
            [-g_pos + layer.threshold, g_neg - layer.threshold]))).mean()
        layer.opt.zero_grad()
        loss.backward()
        layer.opt.step()
        return [loss.item()]
    return timed(step, batches)


def gcn_train(module, lib, models, compiled, batches):
    model = models["model"]
    features, labels, adj_mat = module.load_cora(path=str(module.CORA))
    optimizer = module.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    criterion = module.nn.NLLLoss()
    runner = graphc.compile(model) if compiled else model
    train_losses = []
    program_test = module.test

    def recording_test(*args):  # train_iter's first test() is the training loss after the step
        result = program_test(*args)
        train_losses.append(result[0])
        return result

    def step(epoch, idx_train, idx_val):  # gcn.py main()'s loop
        del train_losses[:]
        module.train_iter(epoch, runner, optimizer, criterion, (features, adj_mat), labels,
                          lib.from_numpy(idx_train), lib.from_numpy(idx_val), print_every=10**9)
        return train_losses[:1]
    module.test = recording_test
    try:
        return timed(step, [(b[0], b[1].numpy(), b[2].numpy()) for b in batches])
    finally:
        module.test = program_test


# --- the data each program trains on (NumPy, the same for both libraries)

def mnist_batches(steps, size=32):
    return split(mnist_arrays(steps * size), size, steps)


def vae_batches(steps, size=32):
    images, _ = mnist_arrays(steps * size, normalize=False)
    eps = np.random.default_rng(1).standard_normal((steps * size, 20)).astype(np.float32)
    return split((images, eps), size, steps)


def language_model_batches(steps, workdir: Path, bptt=35, batch_size=20):
    data_module = load("word_language_model/data.py", False)
    from offline_text import write_corpus
    folder = str(workdir / "text")
    write_corpus(folder)
    corpus = data_module.Corpus(folder)
    ids = corpus.train.numpy()
    stream = ids[: len(ids) // batch_size * batch_size].reshape(batch_size, -1).T.copy()  # batchify
    batches = [(stream[i:i + bptt].copy(), stream[i + 1:i + 1 + bptt].reshape(-1).copy())
               for i in range(0, steps * bptt, bptt)]
    return batches, len(corpus.dictionary)


def sine_waves(waves=12, length=30, period=20, seed=2):
    """time_sequence_prediction/generate_sine_wave.py's formula, fewer and shorter waves."""
    rng = np.random.RandomState(seed)
    x = np.arange(length) + rng.randint(-4 * period, 4 * period, waves).reshape(waves, 1)
    data = np.sin(x / 1.0 / period).astype("float64")
    return data[3:, :-1], data[3:, 1:]


def siamese_batches(module, steps, size=16):
    dataset = module.APP_MATCHER("../data", train=True)
    random.seed(0)
    pairs = [dataset[i] for i in range(steps * size)]
    arrays = [np.stack([p[k].numpy() for p in pairs]) for k in range(3)]
    return split(arrays, size, steps)


def forward_forward_batches(steps, size=256):
    images, labels = mnist_arrays(size)
    labels_neg = (labels + np.random.default_rng(3).integers(1, 10, size)) % 10  # get_y_neg
    return [(images.reshape(size, -1), labels, labels_neg)] * steps


# --- comparing

def compare(name, relative, build, train, batches, steps, load_options=None, prepare=None,
            double=False, judged=True):
    """Builds ``build(module)``'s models from one graphc seed, gives each contender the same
    weights, trains each with ``train`` on ``batches``, and prints a row per contender
    (``double``: models and floating-point data in float64; ``judged``: whether the losses
    must agree within ``TOLERANCE``)."""
    import torch
    options = load_options or {}
    ours, theirs = load(relative, False, **options), load(relative, True, **options)
    if prepare:
        prepare(ours, theirs)
    graphc.manual_seed(0)
    if double:
        batches = [tuple(a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
                         else a for a in batch) for batch in batches]
        build = (lambda make: lambda m: {k: v.double() for k, v in make(m).items()})(build)
    reference = {k: no_dropout(m) for k, m in build(ours).items()}
    rows = {}
    for label, lib, module, compiled in (("graphc eager", graphc, ours, False),
                                         ("graphc compiled", graphc, ours, True),
                                         ("torch eager", torch, theirs, False)):
        models = {k: no_dropout(m) for k, m in build(module).items()}
        for key, model in models.items():
            if lib is torch:
                copy_weights(reference[key], model, torch)
            else:
                model.load_state_dict(reference[key].state_dict())
        data = [as_tensors(lib, b) for b in batches]
        rows[label] = train(module, lib, models, compiled, data)
    torch_losses, torch_times = rows["torch eager"]
    torch_median = float(np.median(torch_times[WARMUP:]))
    print(f"\n{name}: {steps} steps"
          + ("" if judged else " (float32 rounding amplified: not judged)"))
    result = {}
    for label, (losses, times) in rows.items():
        diff = float(np.max(np.abs(np.array(losses) - torch_losses)
                            / np.maximum(1e-6, np.abs(torch_losses))))
        median = float(np.median(times[WARMUP:]))
        result[label] = (median, median / torch_median, diff)
        print(f"  {label:16s} median step {median * 1e3:9.2f} ms  ({median / torch_median:6.2f}x "
              f"torch)  max rel. loss difference vs torch {diff:.1e}")
    result["judged"] = judged
    print(f"  torch losses: {' '.join(f'{v:.6g}' for v in torch_losses)}")
    for label, (losses, _) in rows.items():
        print(f"  {label} rel. differences: "
              f"{' '.join(f'{abs(a - b) / max(1e-6, abs(b)):.1e}' for a, b in zip(losses, torch_losses))}")
    return result


def programs(steps: int, workdir: Path):
    """(name, thunk) per program: the thunk runs its comparison."""
    def mnist_like(relative):
        return lambda: compare(relative.removesuffix(".py"), relative,
                               lambda m: {"model": m.Net()}, mnist_train, mnist_batches(steps),
                               steps)

    def language_model(kind, lr):
        def run():
            batches, ntokens = language_model_batches(steps, workdir)
            if kind == "Transformer":
                def build(m):
                    return {"model": m.TransformerModel(ntokens, 200, 2, 200, 2, dropout=0.0)}
            else:
                def build(m):
                    return {"model": m.RNNModel(kind, ntokens, 200, 200, 2, dropout=0.0)}
            return compare(f"word_language_model {kind}", "word_language_model/model.py", build,
                           language_model_train(kind, lr), batches, steps)
        return run

    def regression_prepare(ours, theirs):
        import torch
        theirs.W_target = torch.from_numpy(ours.W_target.numpy().copy())
        theirs.b_target = torch.from_numpy(ours.b_target.numpy().copy())

    def siamese(double):
        module = load("siamese_network.py", False, cwd=workdir)
        return compare("siamese_network" + " float64" * double, "siamese_network.py",
                       lambda m: {"model": m.SiameseNetwork()}, siamese_train,
                       siamese_batches(module, steps), steps, double=double, judged=double)

    def dcgan(double):
        options = dict(argv=["--dataset", "mnist", "--dataroot", str(workdir), "--workers", "0",
                             "--batchSize", "16", "--ngf", "32", "--ndf", "32",
                             "--manualSeed", "1", "--outf", str(workdir)],
                       stop_at="for epoch in range(opt.niter):", cwd=workdir)
        ours = load("dcgan.py", False, **options)

        def build(m):
            netG, netD = m.Generator(m.ngpu), m.Discriminator(m.ngpu)
            netG.apply(m.weights_init)
            netD.apply(m.weights_init)
            return {"netG": netG, "netD": netD}
        images = np.stack([ours.dataset[i][0].numpy() for i in range(16 * steps)])
        noise = np.random.default_rng(4).standard_normal((16 * steps, ours.nz, 1, 1))
        return compare("dcgan" + " float64" * double, "dcgan.py", build, dcgan_train,
                       split((images, noise.astype(np.float32)), 16, steps), steps, options,
                       double=double, judged=double)

    def forward_forward_prepare(ours, theirs):
        for module in (ours, theirs):
            module.args = argparse.Namespace(lr=0.03, threshold=2.0, epochs=steps,
                                             log_interval=10**9)
            module.device = "cpu"

    def forward_forward_build(m):
        net = m.Net([784, 500, 500])
        return {f"layer{i}": layer for i, layer in enumerate(net.layers)}

    def gcn_prepare(ours, theirs):
        ours.write_synthetic_cora(str(workdir / "cora"))
        ours.CORA = theirs.CORA = workdir / "cora"

    def gcn():
        permutation = np.random.default_rng(5).permutation(2000)
        batches = [(epoch + 1, permutation[1500:], permutation[1000:1500]) for epoch in range(steps)]
        return compare("gcn", "gcn.py", lambda m: {"model": m.GCN(300, 16, 7, False, 0.5)},
                       gcn_train, batches, steps, prepare=gcn_prepare)

    return [
        ("mnist", mnist_like("mnist.py")),
        ("vae", lambda: compare("vae", "vae.py", lambda m: {"model": m.VAE()}, vae_train,
                                vae_batches(steps), steps, dict(cwd=workdir))),
        ("word_language_model LSTM", language_model("LSTM", 20.0)),
        ("word_language_model Transformer", language_model("Transformer", 5.0)),
        ("time_sequence_prediction", lambda: compare(
            "time_sequence_prediction", "time_sequence_prediction/train.py",
            lambda m: {"seq": m.Sequence().double()}, time_sequence_train,
            [sine_waves()] * steps, steps)),
        ("regression", lambda: compare(
            "regression", "regression.py",
            lambda m: {"fc": m.torch.nn.Linear(m.W_target.size(0), 1)}, regression_train,
            [(r,) for r in np.random.default_rng(6).standard_normal((steps, 32)).astype(np.float32)],
            steps, dict(stop_at="for batch_idx in count(1):"), regression_prepare)),
        ("mnist_rnn", mnist_like("mnist_rnn.py")),
        ("siamese_network", lambda: siamese(False)),
        ("siamese_network float64", lambda: siamese(True)),
        ("dcgan", lambda: dcgan(False)),
        ("dcgan float64", lambda: dcgan(True)),
        ("mnist_forward_forward", lambda: compare(
            "mnist_forward_forward", "mnist_forward_forward.py", forward_forward_build,
            forward_forward_train, forward_forward_batches(steps), steps,
            prepare=forward_forward_prepare)),
        ("gcn", gcn),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--only", default="", help="comma-separated program names")
    options = parser.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("PyTorch is not installed: pip install torch==2.13.0")
    torch.set_num_threads(1)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, graphc {graphc.__version__}, "
          f"torch {torch.__version__}, numpy {np.__version__}, {platform.processor() or ''} "
          f"{os.cpu_count()} cores, one thread each")
    only = [n for n in options.only.split(",") if n]
    known = [name for name, _ in programs(options.steps, Path("."))]
    unknown = [n for n in only if not any(k == n or k.startswith(n + " ") for k in known)]
    if unknown:
        sys.exit(f"--only: no program named {', '.join(unknown)}; the programs: {', '.join(known)}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="graphc_examples_") as folder:
        for name, run in programs(options.steps, Path(folder)):
            if not only or any(name == n or name.startswith(n + " ") for n in only):
                results[name] = run()
    print("\n| program | graphc eager | graphc compiled | torch eager | max rel. loss diff "
          "(eager / compiled) |\n|---|---:|---:|---:|---:|")
    for name, r in results.items():
        name += "" if r["judged"] else " (not judged)"
        (e, er, ed), (c, cr, cd), (t, _, _) = (r["graphc eager"], r["graphc compiled"],
                                               r["torch eager"])
        print(f"| `{name}` | {e * 1e3:.1f} ms ({er:.1f}x) | {c * 1e3:.1f} ms ({cr:.1f}x) | "
              f"{t * 1e3:.1f} ms | {ed:.1e} / {cd:.1e} |")
    mismatched = [name for name, r in results.items()
                  if r["judged"] and max(r["graphc eager"][2], r["graphc compiled"][2]) > TOLERANCE]
    if mismatched:
        sys.exit(f"losses differ from torch's by more than {TOLERANCE}: {', '.join(mismatched)}")


if __name__ == "__main__":
    main()
