"""How many threads compiled code may use: BLAS now, generated kernels later.

The default is ``GRAPHC_NUM_THREADS`` when set, else 1 on machines with two cores or fewer
(measured there: a second thread never paid off below ~1M elements, and spin-waiting BLAS
thread pools got 10x slower at the median on a shared machine), else the number of cores.
:func:`set_num_threads` changes it for this process; it sets the bundled BLAS's threads at once
(NumPy's own matmul shares that library) and records the number for kernel threads.

    >>> import backends.threads as threads
    >>> before = threads.get_num_threads()
    >>> threads.set_num_threads(1)
    >>> threads.get_num_threads()
    1
    >>> threads.set_num_threads(before)
"""
from __future__ import annotations

import os

_chosen: int | None = None


def default_num_threads() -> int:
    """``GRAPHC_NUM_THREADS``, else 1 with two cores or fewer, else the core count."""
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
    cores = os.cpu_count() or 1
    return 1 if cores <= 2 else cores


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
