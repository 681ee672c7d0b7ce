"""MLP training-step benchmark (issue 8): graphc.compile on llvm and the interpreter against the
time of the step's own GEMMs (the floor: each product run as graphc's llvm backend runs it, in
its tiled loop or in OpenBLAS; OpenBLAS alone beside it, and PyTorch's ``torch.mm`` (MKL) on
the same products when torch is installed: the floor of torch eager's own step) and PyTorch
eager / torch.compile, one thread each.

MLP 784-512-512-10, batch 256, ReLU, cross-entropy, SGD with momentum 0.9; one compiled step is
forward, ``loss.backward()``, ``optimizer.step()``, ``zero_grad()``. Every contender starts from
the same weights; the losses of the first steps are checked against torch eager (a mismatch is
printed loudly). Medians of repeats, ratios side by side.

    python benchmarks/mlp_step.py [--repeats 9] [--steps 10] [--profile] [--no-torch-compile]

``--profile`` adds a breakdown of one llvm step: GEMMs, native kernel segments, library calls
and Python (the rest), timed around each runner of the executable.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import graphc
import graphc.nn.functional as F
from graphc import nn, optim

BATCH, SIZES = 256, (784, 512, 512, 10)
LR, MOMENTUM = 0.01, 0.9


def initial_weights(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight [out, in], bias [out]) per layer, PyTorch's default init range, float32."""
    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        layers.append((rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
                       rng.uniform(-bound, bound, fan_out).astype(np.float32)))
    return layers


def graphc_model(weights) -> nn.Sequential:
    linears = [nn.Linear(i, o) for i, o in zip(SIZES[:-1], SIZES[1:])]
    with graphc.no_grad():
        for linear, (w, b) in zip(linears, weights):
            linear.weight.copy_(graphc.from_numpy(w))
            linear.bias.copy_(graphc.from_numpy(b))
    return nn.Sequential(linears[0], nn.ReLU(), linears[1], nn.ReLU(), linears[2])


def graphc_step(weights, backend: str | None):
    """A step function over NumPy batches returning the loss as a float; ``backend`` None is
    eager graphc."""
    model = graphc_model(weights)
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    fn = step if backend is None else graphc.compile(step, backend=backend)
    return lambda x, y: fn(graphc.from_numpy(x), graphc.from_numpy(y)).item(), fn


def torch_step(weights, compiled: bool):
    import torch
    model = torch.nn.Sequential(*[m for pair in zip(
        [torch.nn.Linear(i, o) for i, o in zip(SIZES[:-1], SIZES[1:])],
        [torch.nn.ReLU(), torch.nn.ReLU(), None]) for m in pair if m is not None])
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for linear, (w, b) in zip(linears, weights):
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step(x, y):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    fn = torch.compile(step) if compiled else step
    return lambda x, y: fn(torch.from_numpy(x), torch.from_numpy(y)).item()


def gemms_alone(batches: list[np.ndarray]) -> dict[str, object]:
    """The step's 8 GEMMs (3 forward, 3 weight gradients, 2 input gradients) on the same shapes,
    transposes as flags, the two that read the input on the step's own batch (as the step
    does: a new batch each step, not one that stays in cache): run as graphc's llvm backend
    runs each (its tiled loop where ``tiled_gemm.suits``, else OpenBLAS), and all in OpenBLAS;
    name -> runner of a batch."""
    from backends.llvm import blas as blas_library
    from backends.llvm import tiled_gemm
    from backends.llvm.compiler import CachingCompiler
    blas = blas_library.find_blas()
    sgemm = blas.gemm_for(np.float32) if blas is not None else None
    rng = np.random.default_rng(1)
    hidden = [rng.normal(size=(BATCH, n)).astype(np.float32) for n in SIZES[1:]]
    weights = [rng.normal(size=(o, i)).astype(np.float32) for i, o in zip(SIZES[:-1], SIZES[1:])]
    grads = [rng.normal(size=(BATCH, n)).astype(np.float32) for n in SIZES[1:]]
    outputs = [np.empty((BATCH, w.shape[0]), np.float32) for w in weights] + \
        [np.empty(w.shape, np.float32) for w in weights] + \
        [np.empty((BATCH, w.shape[1]), np.float32) for w in weights[1:]]

    def calls_of(batch: np.ndarray) -> list[tuple]:
        """(a, b, out, transpose_a, transpose_b) of each GEMM of a step on ``batch``."""
        acts = [batch] + hidden
        calls = [(x, w, False, True) for x, w in zip(acts[:-1], weights)]  # x @ w^T
        calls += [(g, x, True, False) for x, g in zip(acts[:-1], grads)]  # weight grad g^T x
        calls += [(g, w, False, False) for g, w in list(zip(grads, weights))[1:]]  # g @ w
        assert len(calls) == 8
        return [(a, b, out, ta, tb) for (a, b, ta, tb), out in zip(calls, outputs)]
    per_batch = {id(batch): calls_of(batch) for batch in batches}

    def runner(make) -> object:
        made = {key: [make(*call) for call in calls] for key, calls in per_batch.items()}

        def run(batch: np.ndarray) -> None:
            for call in made[id(batch)]:
                call()
        return run
    if sgemm is None:
        return {"np.matmul": runner(lambda a, b, out, ta, tb: lambda: np.matmul(
            a.T if ta else a, b.T if tb else b, out=out))}

    def blas_call(a, b, out, ta, tb):
        m, n = out.shape
        k = a.shape[0] if ta else a.shape[1]
        return lambda: sgemm(
            blas_library.ROW_MAJOR, blas_library.TRANS if ta else blas_library.NO_TRANS,
            blas_library.TRANS if tb else blas_library.NO_TRANS, m, n, k, 1.0, a.ctypes.data,
            a.shape[1], b.ctypes.data, b.shape[1], 0.0, out.ctypes.data, n)

    loop, table = tiled_gemm.tiled_loop(CachingCompiler(None)), np.zeros((1, 3), np.int64)
    scratches: dict[tuple, np.ndarray] = {}  # one a shape, as the backend keeps one a step

    def tiled(a, b, out, ta, tb) -> bool:
        m, n = out.shape
        return tiled_gemm.suits("float32", m, n, a.shape[0] if ta else a.shape[1],
                                blas.kernel_vector_bits)

    def graphc_call(a, b, out, ta, tb):
        if not tiled(a, b, out, ta, tb):
            return blas_call(a, b, out, ta, tb)
        m, n = out.shape
        k = a.shape[0] if ta else a.shape[1]
        a_strides = (1, a.shape[1]) if ta else (a.shape[1], 1)
        b_strides = (1, b.shape[1]) if tb else (b.shape[1], 1)
        depth, width = tiled_gemm.blocks(n, k)
        scratch = scratches.setdefault(  # where a transposed A is packed
            (m, n, k, ta), np.empty(tiled_gemm.scratch_floats(m, depth), np.float32))
        return lambda: loop(m, n, k, depth, width, a.ctypes.data, *a_strides, b.ctypes.data,
                            *b_strides, out.ctypes.data, n, 1, table.ctypes.data,
                            scratch.ctypes.data)
    count = sum(tiled(*call) for call in per_batch[id(batches[0])])
    runners = {f"as graphc runs them: {count} tiled, {8 - count} OpenBLAS": runner(graphc_call),
               "all in OpenBLAS sgemm": runner(blas_call)}
    try:
        import torch
    except ImportError:
        return runners

    def torch_call(a, b, out, ta, tb):  # torch.mm on the same arrays (MKL, one thread)
        a_, b_, out_ = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
        a_, b_ = a_.t() if ta else a_, b_.t() if tb else b_
        return lambda: torch.mm(a_, b_, out=out_)
    runners["all in torch.mm (MKL)"] = runner(torch_call)
    return runners


def median_ms(contenders: dict, data, repeats: int) -> dict[str, float]:
    """Median ms per step of each contender; the repeats take turns (contender A, B, ..., then
    A, B, ... again) so that a noisy spell on the shared machine hits every contender alike."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, step in contenders.items():
            start = time.perf_counter()
            for x, y in data:
                step(x, y)
            times[name].append((time.perf_counter() - start) / len(data) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def profile_llvm(fn, data, repeats: int) -> None:
    """Per-step time split between the executable's runners (by kind) and Python around them
    (the rest: guards, argument and state handling, write-backs, wrapping the loss); medians
    over the steps, so that a step preempted on the shared machine does not count."""
    from backends.kernel import Gemm, LibraryCall
    from backends.llvm.call import ParallelKernel, Segment
    executable = fn.entries[-1].executable
    kinds = {Gemm: "GEMMs", Segment: "kernel segments", ParallelKernel: "parallel kernels",
             LibraryCall: "library calls"}
    steps = [s for s in executable.plan
             if not (isinstance(s, LibraryCall) and s.op == "const")]
    assert len(steps) == len(executable._runners)
    spent = {name: 0.0 for name in kinds.values()}
    original = list(executable._runners)

    def timed(run, kind):
        def wrapper(env):
            start = time.perf_counter()
            run(env)
            spent[kind] += time.perf_counter() - start
        return wrapper

    executable._runners[:] = [timed(r, kinds[type(s)]) for r, s in zip(original, steps)]
    per_step: dict[str, list[float]] = {name: [] for name in [*kinds.values(), "total"]}
    for _ in range(repeats):
        for x, y in data:
            for kind in spent:
                spent[kind] = 0.0
            start = time.perf_counter()
            fn(graphc.from_numpy(x), graphc.from_numpy(y)).item()
            per_step["total"].append(time.perf_counter() - start)
            for kind, seconds in spent.items():
                per_step[kind].append(seconds)
    executable._runners[:] = original
    rest = [t - sum(per_step[k][i] for k in kinds.values())
            for i, t in enumerate(per_step["total"])]
    print(f"\nllvm step breakdown (ms, median over {len(rest)} steps; timers add ~1 us a "
          f"runner):")
    for kind, seconds in per_step.items():
        if kind != "total" and any(seconds):
            number = sum(isinstance(s, k) for s in steps for k, n in kinds.items() if n == kind)
            print(f"  {kind:28} {statistics.median(seconds) * 1e3:8.3f}  ({number} steps)")
    print(f"  {'Python and the rest':28} {statistics.median(rest) * 1e3:8.3f}")
    print(f"  {'total':28} {statistics.median(per_step['total']) * 1e3:8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--check-steps", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-torch-compile", action="store_true")
    parser.add_argument("--no-interpreter", action="store_true")
    args = parser.parse_args()
    graphc.set_num_threads(1)
    rng = np.random.default_rng(0)
    data = [(rng.normal(size=(BATCH, SIZES[0])).astype(np.float32),
             rng.integers(0, SIZES[-1], size=BATCH).astype(np.int64)) for _ in range(args.steps)]
    weights = initial_weights()

    contenders: dict[str, object] = {}
    losses: dict[str, list[float]] = {}
    first_call: dict[str, float] = {}
    compiled = {}
    backends_run = ["llvm"] + ([] if args.no_interpreter else ["interpreter"])
    for backend in backends_run:
        step, fn = graphc_step(weights, backend)
        start = time.perf_counter()
        losses[backend] = [step(x, y) for x, y in data[:args.check_steps]]
        first_call[backend] = time.perf_counter() - start
        contenders[f"graphc.compile ({backend})"] = step
        compiled[backend] = fn
    step, _ = graphc_step(weights, None)
    losses["graphc eager"] = [step(x, y) for x, y in data[:args.check_steps]]
    for kind, run_gemms in gemms_alone([x for x, _ in data]).items():
        contenders[f"8 GEMMs alone, {kind}"] = lambda x, y, run=run_gemms: run(x)

    try:
        import torch
        torch.set_num_threads(1)
        step = torch_step(weights, compiled=False)
        losses["torch eager"] = [step(x, y) for x, y in data[:args.check_steps]]
        contenders["torch eager"] = step
        if args.no_torch_compile:
            print("torch.compile: skipped (--no-torch-compile)")
        else:
            try:
                start = time.perf_counter()
                step = torch_step(weights, compiled=True)
                losses["torch.compile"] = [step(x, y) for x, y in data[:args.check_steps]]
                print(f"torch.compile: first steps took {time.perf_counter() - start:.1f} s")
                contenders["torch.compile"] = step
            except Exception as exc:  # no C compiler, unsupported Python, ...
                print(f"torch.compile: skipped ({type(exc).__name__}: {str(exc)[:200]})")
    except ImportError:
        print("torch: not installed, compared against the GEMM floor only")

    reference = losses.get("torch eager")
    if reference is not None:
        for name, values in losses.items():
            if not np.allclose(values, reference, rtol=1e-4, atol=1e-5):
                print(f"!!! LOSS MISMATCH: {name} {values} vs torch eager {reference} !!!")
        print(f"losses of the first {args.check_steps} steps agree with torch eager "
              f"({', '.join(f'{v:.6f}' for v in reference)}) unless flagged above")

    results = median_ms(contenders, data, args.repeats)
    gemm_ms = next(ms for name, ms in results.items() if "GEMMs" in name)
    torch_ms = results.get("torch eager")
    print(f"\nMLP {'-'.join(map(str, SIZES))}, batch {BATCH}, SGD momentum {MOMENTUM}, one "
          f"thread each; median of {args.repeats} repeats x {args.steps} steps; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"{'contender':58} {'ms/step':>9} {'vs GEMMs':>9} {'vs torch':>9}")
    for name, ms in results.items():
        vs_torch = f"{ms / torch_ms:.2f}x" if torch_ms else "-"
        print(f"{name:58} {ms:9.3f} {ms / gemm_ms:8.2f}x {vs_torch:>9}")
    for backend, seconds in first_call.items():
        print(f"first {args.check_steps} steps of graphc.compile ({backend}), compile included: "
              f"{seconds:.2f} s")
    if args.profile:
        profile_llvm(compiled["llvm"], data, args.repeats)


if __name__ == "__main__":
    main()
