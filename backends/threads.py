"""How many threads compiled code may use: BLAS and generated kernels.

The default is ``GRAPHC_NUM_THREADS`` when set, else 1 on machines with two cores or fewer
(measured there: a second thread never paid off below ~1M elements, and spin-waiting BLAS
thread pools got 10x slower at the median on a shared machine), else the number of cores this
process may run on. :func:`set_num_threads` changes it for this process: it sets the bundled
BLAS's threads at once (NumPy's own matmul shares that library), and generated kernels whose
loop nest has at least :data:`PARALLEL_MIN_ELEMENTS` iterations are split across that many
threads (the caller runs one part, a small pool the rest, with the GIL released during each
native call); smaller kernels always run on the caller.

    >>> import backends.threads as threads
    >>> before = threads.get_num_threads()
    >>> threads.set_num_threads(1)
    >>> threads.get_num_threads()
    1
    >>> threads.set_num_threads(0)
    Traceback (most recent call last):
    ...
    ValueError: set_num_threads: n must be at least 1, got 0
    >>> threads.set_num_threads(before)
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

# From the issue 8 feasibility study on the 2-core development machine: a second thread never
# paid off below about 1M elements; below, handing work to another thread costs more than it
# saves. (Not re-measured for this pool yet.)
PARALLEL_MIN_ELEMENTS = 1 << 20

_lock = threading.Lock()
_chosen: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def default_num_threads() -> int:
    """``GRAPHC_NUM_THREADS``, else 1 with two cores or fewer, else the usable cores."""
    text = os.environ.get("GRAPHC_NUM_THREADS", "").strip()
    if text:
        try:
            n = int(text)
        except ValueError:
            raise ValueError(f"GRAPHC_NUM_THREADS must be a positive integer, got {text!r}") \
                from None
        if n < 1:
            raise ValueError(f"GRAPHC_NUM_THREADS must be a positive integer, got {text!r}")
        return n
    cores = usable_cores()
    return 1 if cores <= 2 else cores


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def get_num_threads() -> int:
    """The number of threads compiled code may use."""
    return _chosen if _chosen is not None else default_num_threads()


def set_num_threads(n: int) -> None:
    """Lets compiled code (BLAS, kernels) use ``n`` threads; ``n`` is a positive int."""
    global _chosen
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads: n must be at least 1, got {n}")
    _chosen = n
    from backends.llvm.blas import set_blas_threads  # ctypes only: no llvmlite
    set_blas_threads(n)


def run_parts(parts: Sequence[Callable[[], None]]) -> None:
    """Runs ``parts`` concurrently: the first on the caller, the others on the pool; returns
    when all are done (re-raising the first error)."""
    global _pool, _pool_size
    if len(parts) == 1:
        parts[0]()
        return
    with _lock:
        if _pool is None or _pool_size < len(parts) - 1:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool_size = len(parts) - 1
            _pool = ThreadPoolExecutor(_pool_size, thread_name_prefix="graphc")
        pool = _pool
    futures = [pool.submit(part) for part in parts[1:]]
    parts[0]()
    for future in futures:
        future.result()


def _forget_pool_after_fork() -> None:
    """A forked child (a DataLoader worker) has only the thread that forked: the parent's pool
    threads are not there and would never run what it submits, and ``_lock`` may be held by a
    thread that does not exist. The child starts over with no pool and a fresh lock."""
    global _lock, _pool, _pool_size
    _lock = threading.Lock()
    _pool, _pool_size = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def split(extent: int, parts: int) -> list[tuple[int, int]]:
    """``range(extent)`` as at most ``parts`` contiguous ``(lo, hi)`` ranges of near-equal size.

        >>> split(10, 3)
        [(0, 4), (4, 7), (7, 10)]
    """
    parts = max(1, min(parts, extent))
    size, extra = divmod(extent, parts)
    bounds, lo = [], 0
    for index in range(parts):
        hi = lo + size + (index < extra)
        bounds.append((lo, hi))
        lo = hi
    return bounds


__all__ = ["PARALLEL_MIN_ELEMENTS", "default_num_threads", "get_num_threads", "run_parts",
           "set_num_threads", "split"]
