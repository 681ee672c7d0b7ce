"""Session-wide test setup for every test path (tests/ and the doctests in the packages).

Compiled code is cached on disk (``backends.llvm.cache``); the suite must never read or write
the user's cache, so it points ``GRAPHC_CACHE_DIR`` at a fresh temporary folder for the whole
session (subprocesses the tests start inherit it) and removes it afterwards.
"""
from __future__ import annotations

import os
import shutil
import tempfile

_TEST_CACHE = tempfile.mkdtemp(prefix="graphc-test-cache-")
os.environ["GRAPHC_CACHE_DIR"] = _TEST_CACHE


def pytest_unconfigure(config) -> None:
    shutil.rmtree(_TEST_CACHE, ignore_errors=True)


# The cuda backend's doctests need CUDA (the simulator, or a GPU with GRAPHC_TEST_CUDA=1); they
# run with tests/cuda, in that process.
if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") in ("", "0") \
        and os.environ.get("GRAPHC_TEST_CUDA") != "1":
    collect_ignore = ["backends/cuda/backend.py"]
