"""Issue 8's workloads side by side, one thread for every contender, medians of repeats:

- ``chain``: GELU(x) * sigmoid(x) on 4M float32 values (exact, erf-based GELU);
- ``attention``: an attention block forward + backward: ``LayerNorm(x + MHA(x, x, x))`` on
  x of 8x128x256, 4 heads, loss ``mean(y ** 2)``, gradients of every parameter;
- ``cnn``: the digits CNN training step of ``examples/digits_classifier.py`` (conv 1->16,
  ReLU, pool, conv 16->32, ReLU, pool, linear 128->10; cross-entropy; Adam), batch 64.

Contenders: graphc.compile on each backend, NumPy (``chain``), graphc eager, and, when installed,
torch eager, torch.compile and jax.jit. Every contender starts from the same weights and data, and
the first results are compared against torch eager (or, without torch, the graphc interpreter):
a mismatch is printed loudly. Ratios are to the first torch eager row. Contenders are timed in
rounds (:class:`SideBySide`), so that load on the shared machine spreads over all of them; the
``cores`` column (CPU time over wall time) shows that each kept to one thread.

    python benchmarks/workloads.py [--only chain,attention,cnn] [--repeats 15] [--no-torch-compile]
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import graphc
import graphc.nn.functional as F
from graphc import nn, optim

Row = tuple[str, float, float, str]  # name, median seconds, first-call seconds, check

# contender -> the process's CPU time over wall time in its timed blocks (the last SideBySide
# filled): 1.0 for a contender that kept to one thread. main() prints it beside each row.
CORES_USED: dict[str, float] = {}


class SideBySide:
    """Times contenders in rounds and gives the median call per contender. On a shared machine
    load comes and goes within seconds: timed one after the other, a contender that drew a
    busy stretch looked 1.3x slower than in the next run (attention: 0.68x, then 0.95x torch
    eager). Here each of ``ROUNDS`` rounds times a block of consecutive calls of every
    contender in turn, after one untimed call, so load spreads over all of them. Blocks, not
    single calls: right after another contender's calls, torch's and jax's 16 MB temporaries
    came back from the allocator as fresh pages (torch eager's GELU*sigmoid took 19-37 ms
    instead of 11 ms), which is not what a loop of them sees. Each block also records the
    process's CPU time over its wall time (:data:`CORES_USED`), which shows whether a
    contender really ran on one thread: jax.jit, told so only by ``XLA_FLAGS``, used both
    cores (1.8) until :func:`jax_module` pinned its thread pool.

        >>> timer = SideBySide()
        >>> timer.add("noop", lambda: None, repeats=3)
        0.0
        >>> rows = timer.fill([("noop", 0.0, 0.0, "")])
        >>> rows[0][1] < 0.01
        True
    """

    ROUNDS = 3

    def __init__(self) -> None:
        self.runs: dict[str, tuple[Callable[[], object], int, int]] = {}

    def add(self, name: str, run: Callable[[], object], repeats: int,
            per_repeat: int = 1) -> float:
        """Warms ``run`` up and enters it; 0.0 stands in for its median until :meth:`fill`."""
        run()
        self.runs[name] = (run, repeats, per_repeat)
        return 0.0

    def fill(self, rows: list[Row]) -> list[Row]:
        """``rows`` with each entered contender's median seconds, timed in rounds."""
        times: dict[str, list[float]] = {name: [] for name in self.runs}
        cores: dict[str, list[float]] = {name: [] for name in self.runs}
        for _ in range(self.ROUNDS):
            for name, (run, repeats, per_repeat) in self.runs.items():
                run()  # untimed: this contender's allocations back in their steady state
                for _ in range(math.ceil(repeats / self.ROUNDS)):
                    start, start_cpu = time.perf_counter(), time.process_time()
                    for _ in range(per_repeat):
                        run()
                    wall = time.perf_counter() - start
                    times[name].append(wall / per_repeat)
                    cores[name].append((time.process_time() - start_cpu) / wall)
        CORES_USED.clear()
        CORES_USED.update({name: statistics.median(c) for name, c in cores.items()})
        return [(name, statistics.median(times[name]) if name in times else seconds, cold, check)
                for name, seconds, cold, check in rows]


def first_call(run: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def agree(got, want, rtol: float, atol: float) -> str:
    """'ok' or a loud description of the largest difference between two results."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return f"MISMATCH: shape {got.shape} vs {want.shape}"
    error = np.abs(got - want)
    if np.all(error <= atol + rtol * np.abs(want)):
        return "ok"
    return f"MISMATCH: max |diff| {error.max():.3g}"


def torch_module():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def jax_module():
    """jax on the CPU with one compute thread, or None without jax. ``XLA_FLAGS`` (set above)
    do not limit XLA's CPU thread pool: it is sized from the CPUs the process may run on when
    the client starts (jax-ml/jax#1539), and ran the chain and the GEMMs on both cores. So the
    process is pinned to one CPU while the client starts, then let go (jax's dispatch threads
    may still use the other core, as they would for any user)."""
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_platforms", "cpu")
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if allowed is not None:
        os.sched_setaffinity(0, {min(allowed)})
    try:
        jax.devices("cpu")  # starts the client: its thread pool has one thread
    finally:
        if allowed is not None:
            os.sched_setaffinity(0, allowed)
    return jax


def backend_names() -> list[str]:
    import backends
    return [name for name in ("llvm", "numba", "interpreter") if name in backends.available()]


# ------------------------------------------------------------------------------------------------
# GELU * sigmoid
# ------------------------------------------------------------------------------------------------
def chain(args) -> list[Row]:
    n = args.chain_n
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    # float64 reference (math.erf is exact), for every contender's check
    x64 = x.astype(np.float64)
    erf64 = np.vectorize(math.erf, otypes=[np.float64])(x64 / math.sqrt(2.0))
    want = 0.5 * x64 * (1.0 + erf64) / (1.0 + np.exp(-x64))
    rtol, atol = 1e-5, 1e-6  # float32 with a few-ulp fast math
    rows: list[Row] = []
    timer = SideBySide()

    def gelu_sigmoid(t):
        return F.gelu(t) * t.sigmoid()

    tensor = graphc.from_numpy(x)
    for backend in backend_names():
        if backend == "interpreter" and n > 1 << 20:
            # np.vectorize(math.erf) takes seconds per call at 4M; time it on fewer repeats
            repeats = 3
        else:
            repeats = args.repeats
        compiled = graphc.compile(gelu_sigmoid, backend=backend)
        cold, out = first_call(lambda c=compiled: c(tensor))
        name = f"graphc.compile ({backend})"
        rows.append((name, timer.add(name, lambda c=compiled: c(tensor), repeats), cold,
                     agree(out.numpy(), want, rtol, atol)))
    try:
        from scipy.special import erf

        def numpy_chain():
            return 0.5 * x * (1 + erf(x * np.float32(2 ** -0.5))) / (1 + np.exp(-x))
        label = "NumPy (+ scipy.special.erf)"
    except ImportError:
        def numpy_chain():  # NumPy has no erf: the tanh form, a little less work than erf
            inner = np.float32(math.sqrt(2 / math.pi)) * (x + np.float32(0.044715) * x ** 3)
            return 0.5 * x * (1 + np.tanh(inner)) / (1 + np.exp(-x))
        label = "NumPy (tanh-form GELU)"
    with np.errstate(over="ignore"):
        rows.append((label, timer.add(label, numpy_chain, args.repeats), 0.0,
                     agree(numpy_chain(), want, 1e-3, 1e-3)))
    torch = torch_module()
    if torch is not None:
        xt = torch.from_numpy(x)

        def torch_chain(t):
            return torch.nn.functional.gelu(t) * torch.sigmoid(t)
        rows.append(("torch eager", timer.add("torch eager", lambda: torch_chain(xt),
                                              args.repeats), 0.0,
                     agree(torch_chain(xt).numpy(), want, rtol, atol)))
        if args.torch_compile:
            compiled_t = torch.compile(torch_chain)
            cold, out = first_call(lambda: compiled_t(xt))
            rows.append(("torch.compile",
                         timer.add("torch.compile", lambda: compiled_t(xt), args.repeats), cold,
                         agree(out.numpy(), want, rtol, atol)))
    jax = jax_module()
    if jax is not None:
        xj = jax.numpy.asarray(x)
        jitted = jax.jit(lambda t: jax.nn.gelu(t, approximate=False) * jax.nn.sigmoid(t))
        cold, out = first_call(lambda: jitted(xj).block_until_ready())
        rows.append(("jax.jit", timer.add("jax.jit", lambda: jitted(xj).block_until_ready(),
                                          args.repeats), cold,
                     agree(np.asarray(out), want, rtol, atol)))
    with np.errstate(over="ignore"):
        return timer.fill(rows)


# ------------------------------------------------------------------------------------------------
# attention block forward + backward
# ------------------------------------------------------------------------------------------------
BATCH, SEQ, EMBED, HEADS = 8, 128, 256, 4


def attention_block():
    """The block (``ModuleList([mha, norm])``, seeded) and its training step: forward, loss,
    backward (also profiled by ``benchmarks/attention_profile.py``)."""
    graphc.manual_seed(0)
    mha = nn.MultiheadAttention(EMBED, HEADS, batch_first=True)
    norm = nn.LayerNorm(EMBED)
    block = nn.ModuleList([mha, norm])

    def step(t):
        block.zero_grad()
        y = norm(t + mha(t, t, t, need_weights=False)[0])
        loss = (y * y).mean()
        loss.backward()
        return loss
    return block, step


def attention(args) -> list[Row]:
    block, step = attention_block()
    x = np.random.default_rng(1).standard_normal((BATCH, SEQ, EMBED)).astype(np.float32)
    xg = graphc.from_numpy(x)
    weights = {k: v.numpy().copy() for k, v in block.state_dict().items()}

    def grads():
        return np.concatenate([p.grad.numpy().ravel() for p in block.parameters()])

    rows: list[Row] = []
    timer = SideBySide()
    results = {}
    rtol, atol = 1e-3, 1e-5  # float32 sums over 256..32768 terms in different orders

    for name, fn in [("graphc eager", step)] + [
            (f"graphc.compile ({b})", graphc.compile(step, backend=b)) for b in backend_names()]:
        block.load_state_dict({k: graphc.from_numpy(v.copy()) for k, v in weights.items()})
        cold, loss = first_call(lambda fn=fn: fn(xg))
        results[name] = (float(loss.item()), grads())
        rows.append((name, timer.add(name, lambda fn=fn: fn(xg), args.repeats), cold, ""))

    torch = torch_module()
    if torch is not None:
        tmha = torch.nn.MultiheadAttention(EMBED, HEADS, batch_first=True)
        tnorm = torch.nn.LayerNorm(EMBED)
        tblock = torch.nn.ModuleList([tmha, tnorm])
        tblock.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
        xt = torch.from_numpy(x)

        def tforward(t):
            y = tnorm(t + tmha(t, t, t, need_weights=False)[0])
            return (y * y).mean()

        def tstep(forward):
            def run():
                tblock.zero_grad()
                loss = forward(xt)
                loss.backward()
                return loss
            return run

        def tgrads():
            return np.concatenate([p.grad.numpy().ravel() for p in tblock.parameters()])

        for name, forward in [("torch eager", tforward)] + (
                [("torch.compile", torch.compile(tforward))] if args.torch_compile else []):
            cold, loss = first_call(tstep(forward))
            results[name] = (float(loss.item()), tgrads())
            rows.append((name, timer.add(name, tstep(forward), args.repeats), cold, ""))

    jax = jax_module()
    if jax is not None:
        jnp = jax.numpy
        params = {k: jnp.asarray(v) for k, v in weights.items()}

        def jforward(p, t):
            q, k, v = jnp.split(t @ p["0.in_proj_weight"].T + p["0.in_proj_bias"], 3, axis=-1)
            def heads(a):
                return a.reshape(BATCH, SEQ, HEADS, EMBED // HEADS).transpose(0, 2, 1, 3)
            scores = heads(q) @ heads(k).transpose(0, 1, 3, 2) / math.sqrt(EMBED // HEADS)
            att = jax.nn.softmax(scores, axis=-1) @ heads(v)
            att = att.transpose(0, 2, 1, 3).reshape(BATCH, SEQ, EMBED)
            h = t + att @ p["0.out_proj.weight"].T + p["0.out_proj.bias"]
            mean = h.mean(-1, keepdims=True)
            var = ((h - mean) ** 2).mean(-1, keepdims=True)
            y = (h - mean) / jnp.sqrt(var + 1e-5) * p["1.weight"] + p["1.bias"]
            return (y * y).mean()

        jitted = jax.jit(jax.value_and_grad(jforward))
        xj = jnp.asarray(x)
        order = [name for name, _ in block.named_parameters()]

        def jrun():
            loss, g = jitted(params, xj)
            loss.block_until_ready()
            return loss, g
        cold, (loss, g) = first_call(jrun)
        results["jax.jit"] = (float(loss), np.concatenate([np.asarray(g[k]).ravel()
                                                           for k in order]))
        rows.append(("jax.jit", timer.add("jax.jit", jrun, args.repeats), cold, ""))

    reference = "torch eager" if "torch eager" in results else "graphc.compile (interpreter)"
    want_loss, want_grads = results[reference]
    rows = timer.fill(rows)
    return [(name, t, cold, "reference" if name == reference else
             agree(np.append(results[name][1], results[name][0]),
                   np.append(want_grads, want_loss), rtol, atol))
            for name, t, cold, _ in rows]


# ------------------------------------------------------------------------------------------------
# digits CNN training step
# ------------------------------------------------------------------------------------------------
CNN_BATCH = 64


def cnn_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10))


def cnn(args) -> list[Row]:
    rng = np.random.default_rng(2)
    images = rng.random((CNN_BATCH, 1, 8, 8)).astype(np.float32)
    labels = rng.integers(0, 10, CNN_BATCH).astype(np.int64)
    graphc.manual_seed(0)
    weights = {k: v.numpy().copy() for k, v in cnn_model().state_dict().items()}
    rows: list[Row] = []
    timer = SideBySide()
    losses: dict[str, list[float]] = {}
    checked_steps = 3

    def graphc_contender(backend):
        model = cnn_model()
        model.load_state_dict({k: graphc.from_numpy(v.copy()) for k, v in weights.items()})
        opt = optim.Adam(model.parameters(), lr=3e-3)
        x, y = graphc.from_numpy(images), graphc.from_numpy(labels)

        def step(xb, yb):
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            return loss
        fn = step if backend is None else graphc.compile(step, backend=backend)
        return lambda: fn(x, y).item()

    contenders = [("graphc eager", graphc_contender(None))] + [
        (f"graphc.compile ({b})", graphc_contender(b)) for b in backend_names()]
    torch = torch_module()
    if torch is not None:
        def torch_contender(compiled: bool):
            model = cnn_model_torch(torch)
            model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
            opt = torch.optim.Adam(model.parameters(), lr=3e-3)
            x, y = torch.from_numpy(images), torch.from_numpy(labels)
            forward = torch.compile(model) if compiled else model

            def step():
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(forward(x), y)
                loss.backward()
                opt.step()
                return loss.item()
            return step
        contenders.append(("torch eager", torch_contender(False)))
        if args.torch_compile:
            contenders.append(("torch.compile", torch_contender(True)))
    jax = jax_module()
    if jax is not None:
        contenders.append(("jax.jit", jax_cnn_step(jax, weights, images, labels)))

    for name, run in contenders:
        cold, loss = first_call(run)
        losses[name] = [loss] + [run() for _ in range(checked_steps - 1)]
        rows.append((name, timer.add(name, run, args.repeats, per_repeat=10), cold, ""))
    reference = "torch eager" if "torch eager" in losses else "graphc eager"
    rtol, atol = 1e-4, 1e-5  # float32 losses over 3 Adam steps
    rows = timer.fill(rows)
    return [(name, t, cold, "reference" if name == reference else
             agree(losses[name], losses[reference], rtol, atol)) for name, t, cold, _ in rows]


def cnn_model_torch(torch):
    nn_ = torch.nn
    return nn_.Sequential(
        nn_.Conv2d(1, 16, kernel_size=3, padding=1), nn_.ReLU(), nn_.MaxPool2d(2),
        nn_.Conv2d(16, 32, kernel_size=3, padding=1), nn_.ReLU(), nn_.MaxPool2d(2),
        nn_.Flatten(), nn_.Linear(32 * 2 * 2, 10))


def jax_cnn_step(jax, weights, images, labels):
    """The same step in JAX: NCHW convs, 2x2 max pools, cross-entropy, Adam (PyTorch's form)."""
    jnp, lax = jax.numpy, jax.lax
    params = {k: jnp.asarray(v) for k, v in weights.items()}
    x, y = jnp.asarray(images), jnp.asarray(labels)

    def conv(t, w, b):
        out = lax.conv_general_dilated(t, w, (1, 1), ((1, 1), (1, 1)),
                                       dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return out + b[None, :, None, None]

    def pool(t):
        return lax.reduce_window(t, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def loss_fn(p):
        h = pool(jax.nn.relu(conv(x, p["0.weight"], p["0.bias"])))
        h = pool(jax.nn.relu(conv(h, p["3.weight"], p["3.bias"])))
        logits = h.reshape(h.shape[0], -1) @ p["7.weight"].T + p["7.bias"]
        logp = jax.nn.log_softmax(logits)
        return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()

    lr, beta1, beta2, eps = 3e-3, 0.9, 0.999, 1e-8

    @jax.jit
    def step(p, m, v, t):
        loss, g = jax.value_and_grad(loss_fn)(p)
        t = t + 1
        m = jax.tree_util.tree_map(lambda a, b: beta1 * a + (1 - beta1) * b, m, g)
        v = jax.tree_util.tree_map(lambda a, b: beta2 * a + (1 - beta2) * b * b, v, g)
        c1, c2 = 1 - beta1 ** t, 1 - beta2 ** t
        p = jax.tree_util.tree_map(
            lambda w, a, b: w - lr * (a / c1) / (jnp.sqrt(b / c2) + eps), p, m, v)
        return loss, p, m, v, t

    state = [params, jax.tree_util.tree_map(jnp.zeros_like, params),
             jax.tree_util.tree_map(jnp.zeros_like, params), jnp.float32(0)]

    def run():
        loss, *updated = step(*state)
        state[:] = updated
        return float(loss)
    return run


# ------------------------------------------------------------------------------------------------
WORKLOADS = {"chain": chain, "attention": attention, "cnn": cnn}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--chain-n", type=int, default=1 << 22)
    parser.add_argument("--no-torch-compile", dest="torch_compile", action="store_false")
    args = parser.parse_args()
    graphc.set_num_threads(1)
    print(f"{platform.machine()}, {os.cpu_count()} cores, one thread per contender; "
          f"median of {args.repeats} repeats")
    for workload in args.only.split(","):
        rows = WORKLOADS[workload](args)
        torch_row = next((t for name, t, _, _ in rows if name == "torch eager"), None)
        print(f"\n{workload}")
        print(f"{'contender':30} {'ms':>10} {'vs torch eager':>15} {'first call s':>13} "
              f"{'cores':>6}  check")
        for name, seconds, cold, check in rows:
            ratio = f"{seconds / torch_row:.2f}x" if torch_row else "-"
            cores = f"{CORES_USED[name]:.2f}" if name in CORES_USED else "-"
            print(f"{name:30} {seconds * 1e3:10.3f} {ratio:>15} {cold:13.3f} {cores:>6}  {check}")


if __name__ == "__main__":
    main()
