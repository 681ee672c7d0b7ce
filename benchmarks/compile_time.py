"""Compile time of an MLP training step: the first call, measured in new processes.

The step is a 784-512-512-10 MLP, batch 256, cross-entropy, SGD with momentum, compiled with
``graphc.compile(backend="llvm")``. Each measurement runs in a fresh Python process (so imports,
the JIT and the on-disk cache are what a user meets):

- **cold**: an empty ``GRAPHC_CACHE_DIR``; the code is generated and written to the cache;
- **warm**: a second new process with the same cache folder; the code comes from disk.

For each we report ``import graphc``, the first call (wall clock, and the CPU time of the
process: on a busy machine the wall clock is inflated, CPU time much less), and the stages
``explain()`` reports (trace, passes, then the backend's: kernel program, render, key, optimize,
codegen, cache load...). jax.jit's and torch.compile's first call of the same step are measured the same way
when installed (torch.compile under a time limit). Medians of ``--repeats`` runs.

    python benchmarks/compile_time.py [--repeats 5] [--torch-timeout 300] [--no-others]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BATCH, IN, HIDDEN, OUT = 256, 784, 512, 10
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "GRAPHC_NUM_THREADS": "1",
              "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}


# -- what runs in the child processes -----------------------------------------------------------
def _data():
    import numpy as np
    rng = np.random.default_rng(0)
    return (rng.normal(size=(BATCH, IN)).astype(np.float32),
            rng.integers(0, OUT, size=BATCH).astype(np.int64))


def child_graphc() -> dict:
    start, cpu = time.perf_counter(), time.process_time()
    import graphc
    import graphc.nn.functional as F
    from graphc import nn, optim
    graphc.compile  # noqa: B018  (the compiler loads on first use: counted with the imports)
    imported, imported_cpu = time.perf_counter() - start, time.process_time() - cpu
    x, y = _data()
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                          nn.Linear(HIDDEN, OUT))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    compiled = graphc.compile(step, backend="llvm")
    tx, ty = graphc.from_numpy(x), graphc.from_numpy(y)
    start, cpu = time.perf_counter(), time.process_time()
    compiled(tx, ty).item()
    first, first_cpu = time.perf_counter() - start, time.process_time() - cpu
    (entry,) = compiled.entries
    info = entry.executable.compile_info
    stages = {"trace": entry.trace_seconds, "passes": entry.passes_seconds}
    stages.update(info.seconds)
    return {"import": imported, "import cpu": imported_cpu, "first call": first,
            "first call cpu": first_cpu, "source": info.source, "stages": stages}


def child_jax() -> dict:
    start = time.perf_counter()
    import jax
    import jax.numpy as jnp
    imported = time.perf_counter() - start
    x, y = _data()
    key = jax.random.PRNGKey(0)
    sizes = [IN, HIDDEN, HIDDEN, OUT]
    params = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        key, k1, k2 = jax.random.split(key, 3)
        bound = 1 / fan_in ** 0.5
        params.append((jax.random.uniform(k1, (fan_out, fan_in), minval=-bound, maxval=bound),
                       jax.random.uniform(k2, (fan_out,), minval=-bound, maxval=bound)))
    velocity = jax.tree_util.tree_map(jnp.zeros_like, params)

    def loss_fn(params, x, y):
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w.T + b
            if i < len(params) - 1:
                h = jax.nn.relu(h)
        logp = jax.nn.log_softmax(h)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    @jax.jit
    def step(params, velocity, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        velocity = jax.tree_util.tree_map(lambda v, g: 0.9 * v + g, velocity, grads)
        params = jax.tree_util.tree_map(lambda p, v: p - 0.01 * v, params, velocity)
        return params, velocity, loss

    start, cpu = time.perf_counter(), time.process_time()
    float(step(params, velocity, jnp.asarray(x), jnp.asarray(y))[2])
    return {"import": imported, "first call": time.perf_counter() - start,
            "first call cpu": time.process_time() - cpu}


def child_torch() -> dict:
    start = time.perf_counter()
    import torch
    imported = time.perf_counter() - start
    torch.set_num_threads(1)
    x, y = (torch.from_numpy(a) for a in _data())
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(IN, HIDDEN), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN, OUT))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    @torch.compile
    def step(x, y):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    start, cpu = time.perf_counter(), time.process_time()
    step(x, y).item()
    return {"import": imported, "first call": time.perf_counter() - start,
            "first call cpu": time.process_time() - cpu}


CHILDREN = {"graphc": child_graphc, "jax": child_jax, "torch": child_torch}


# -- the parent: new processes, medians ----------------------------------------------------------
def run_child(which: str, cache_dir: str, timeout: float | None = None) -> dict | str:
    """One new process measuring ``which``; its result, or why there is none."""
    env = dict(os.environ, **ONE_THREAD, GRAPHC_CACHE_DIR=cache_dir,
               TORCHINDUCTOR_CACHE_DIR=os.path.join(cache_dir, "inductor"))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    try:
        done = subprocess.run([sys.executable, __file__, "--child", which], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"no result within the {timeout:.0f} s limit"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"failed: {last}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def installed(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None


def median_of(runs: list[dict], *path: str) -> float:
    values = []
    for run in runs:
        value = run
        for part in path:
            value = value.get(part, 0.0)
        values.append(value)
    return statistics.median(values)


def measure_graphc(repeats: int) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {"cold": [], "warm": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="graphc-compile-time-") as cache:
            for kind in ("cold", "warm"):
                result = run_child("graphc", cache)
                if isinstance(result, str):
                    raise SystemExit(f"graphc {kind} run {result}")
                expected = "fresh" if kind == "cold" else "disk"
                if result["source"] != expected:
                    raise SystemExit(f"graphc {kind} run got its code from {result['source']}")
                runs[kind].append(result)
    return runs


def report_graphc(runs: dict[str, list[dict]]) -> None:
    stages: list[str] = []
    for run in runs["cold"] + runs["warm"]:
        stages += [s for s in run["stages"] if s not in stages]
    print(f"{'graphc (llvm)':24} {'cold ms':>9} {'warm ms':>9}")
    rows = [("import graphc", ("import",)), ("  its CPU time", ("import cpu",)),
            ("first call", ("first call",)), ("  its CPU time", ("first call cpu",))]
    for row, path in rows + [(f"  {stage}", ("stages", stage)) for stage in stages]:
        cold, warm = (median_of(runs[kind], *path) * 1e3 for kind in ("cold", "warm"))
        print(f"{row:24} {cold:9.1f} {warm:9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--torch-timeout", type=float, default=300.0,
                        help="seconds torch.compile's first call may take before we give up")
    parser.add_argument("--no-others", action="store_true", help="measure graphc only")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child]()))
        return
    print(f"MLP {IN}-{HIDDEN}-{HIDDEN}-{OUT} training step (batch {BATCH}, SGD momentum, "
          f"cross-entropy): first call in a new process, one thread, median of {args.repeats}")
    runs = measure_graphc(args.repeats)
    report_graphc(runs)
    if args.no_others:
        return
    for name, module, repeats, timeout in [("jax.jit", "jax", args.repeats, 600.0),
                                           ("torch.compile", "torch", 1, args.torch_timeout)]:
        if not installed(module):
            print(f"{name:24} not installed")
            continue
        results = []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory(prefix="graphc-compile-time-") as cache:
                results.append(run_child(module, cache, timeout))
        failed = [r for r in results if isinstance(r, str)]
        if failed:
            print(f"{name:24} {failed[0]}")
            continue
        first = median_of(results, "first call") * 1e3
        first_cpu = median_of(results, "first call cpu") * 1e3
        imported = median_of(results, "import") * 1e3
        print(f"{name:24} first call {first:9.1f} ms cold, CPU time {first_cpu:.1f} ms "
              f"(import {imported:.0f} ms; {len(results)} run{'s' if len(results) > 1 else ''}, "
              f"empty caches)")


if __name__ == "__main__":
    main()
