"""Call overhead of a tiny compiled function: relu(2x+1) on 16 float32 values, per call, median
of repeats: graphc.compile through the interpreter and through llvm, the llvm executable alone
(inputs as NumPy arrays, no cache lookup) and its generated call wrapper alone, NumPy, and torch
eager / jax.jit when installed; and the llvm call without the test of ``graphc.profiler``'s
switch, to show what the profiler costs when it is off.

    python benchmarks/call_overhead.py [--calls 20000] [--repeats 15]
"""
from __future__ import annotations

import argparse
import inspect
import os
import statistics
import sys
import textwrap
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import graphc


def per_call(fn, calls: int, repeats: int) -> tuple[float, float]:
    """Median seconds per call over ``repeats`` timed loops of ``calls`` calls: wall time, and
    the calling thread's CPU time (``time.thread_time``: what the call costs itself, little
    changed by other processes on a busy machine; work handed to other threads, as jax's
    dispatch may do, is not in it)."""
    for _ in range(min(calls, 1000)):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.thread_time()
        for _ in range(calls):
            fn()
        cpu.append((time.thread_time() - start_cpu) / calls)
        wall.append((time.perf_counter() - start) / calls)
    return statistics.median(wall), statistics.median(cpu)


def without_profiler_check(fn, backend: str):
    """``graphc.compile(fn, backend=backend)`` whose ``__call__`` lacks the one line a
    profiler adds to it when off (its test of ``recording.ACTIVE``): the call path as it was
    before graphc.profiler, made from the current source so the two differ in that line only."""
    compile_module = sys.modules["graphc.compile"]  # graphc.compile is also the function
    source = textwrap.dedent(inspect.getsource(compile_module.CompiledFunction.__call__))
    lines = source.splitlines()
    check = next(i for i, line in enumerate(lines) if "profiler_recording.ACTIVE" in line)
    del lines[check:check + 2]
    scope = dict(vars(compile_module))
    exec("\n".join(lines), scope)
    unchecked = type("UncheckedCompiledFunction", (compile_module.CompiledFunction,),
                     {"__call__": scope["__call__"]})
    return unchecked(fn, backend=backend)


def contenders(x: np.ndarray) -> dict:
    graphc.set_num_threads(1)
    tensor = graphc.from_numpy(x)
    found = {}
    for backend in ("interpreter", "llvm"):
        f = graphc.compile(lambda t: (2 * t + 1).relu(), backend=backend)
        found[f"graphc.compile ({backend})"] = lambda f=f: f(tensor)
    f = graphc.compile(lambda t: (2 * t + 1).relu(), backend="llvm")
    f(tensor)
    executable = f.entries[0].executable
    found["llvm executable alone"] = lambda: executable(x)
    if getattr(executable, "fast_call", None) is not None:  # the generated wrapper by itself
        found["llvm generated wrapper alone"] = lambda: executable.fast_call(x)
    found["numpy"] = lambda: np.maximum(2 * x + 1, 0)
    try:
        import torch
        torch.set_num_threads(1)
        t = torch.from_numpy(x)
        found["torch eager"] = lambda: torch.relu(2 * t + 1)
    except ImportError:
        pass
    try:
        import jax
        jitted = jax.jit(lambda t: jax.nn.relu(2 * t + 1))
        j = jax.numpy.asarray(x)
        found["jax.jit"] = lambda: jitted(j).block_until_ready()
    except ImportError:
        pass
    return found


def profiler_off_cost(x: np.ndarray, calls: int, repeats: int) -> tuple[float, float]:
    """CPU seconds per call of graphc.compile (llvm) with and without the profiler's test
    (:func:`without_profiler_check`), medians of ``repeats`` loops taken in alternation (the
    order flipped every round) so that a busy machine's drift falls on both alike."""
    tensor = graphc.from_numpy(x)
    checked = graphc.compile(lambda t: (2 * t + 1).relu(), backend="llvm")
    unchecked = without_profiler_check(lambda t: (2 * t + 1).relu(), backend="llvm")
    times: dict[str, list[float]] = {"checked": [], "unchecked": []}
    for _ in range(min(calls, 1000)):
        checked(tensor)
        unchecked(tensor)
    for round_ in range(repeats):
        pair = [("checked", checked), ("unchecked", unchecked)]
        for name, f in pair if round_ % 2 else pair[::-1]:
            start = time.thread_time()
            for _ in range(calls):
                f(tensor)
            times[name].append((time.thread_time() - start) / calls)
    return statistics.median(times["checked"]), statistics.median(times["unchecked"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    x = np.linspace(-1, 1, 16, dtype=np.float32)
    results = {name: per_call(fn, args.calls, args.repeats) for name, fn in contenders(x).items()}
    base = results["graphc.compile (llvm)"][0]
    print(f"relu(2x+1) on 16 float32, one thread, median of {args.repeats} x {args.calls} calls")
    print(f"{'contender':32} {'us/call':>9} {'CPU us/call':>12} {'vs graphc llvm':>15}")
    for name, (seconds, cpu) in results.items():
        print(f"{name:32} {seconds * 1e6:9.2f} {cpu * 1e6:12.2f} {seconds / base:14.2f}x")
    checked, unchecked = profiler_off_cost(x, args.calls, args.repeats)
    print(f"profiler off, CPU us/call of graphc.compile (llvm), rounds alternated: with its "
          f"test {checked * 1e6:.2f}, without {unchecked * 1e6:.2f} "
          f"({checked / unchecked:.3f}x)")


if __name__ == "__main__":
    main()
