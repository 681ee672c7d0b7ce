"""Which backend ``graphc.compile`` (and the CLI's ``--backend``) uses when none is named.

The llvm backend where llvmlite can generate code for this machine, else the interpreter. Whether
it can is probed once per process, at the first call of :func:`choose` (never at import): import
llvmlite, initialize the native target and JIT-compile a one-function module through the same
path the llvm backend compiles with, then call it. ``GRAPHC_BACKEND=<name>`` overrides the choice
(read at every call, so users and CI can pin ``interpreter`` or ``llvm``).

    >>> choice = choose()
    >>> choice.name in ("llvm", "interpreter")
    True
    >>> choice.describe().startswith(choice.name)
    True
"""
from __future__ import annotations

import ctypes
import functools
import importlib
import os
from dataclasses import dataclass

from backends.base import BackendError, available

ENVIRONMENT_VARIABLE = "GRAPHC_BACKEND"
PREFERRED = "llvm"
FALLBACK = "interpreter"

# one function that adds one: if this compiles and returns 42 from 41, the native target works
_PROBE_IR = """
define i64 @graphc_probe(i64 %x) {
  %y = add i64 %x, 1
  ret i64 %y
}
"""


@dataclass(frozen=True)
class BackendChoice:
    """A backend and why it is used: ``reason`` is ``"default"``, ``"default: llvm
    unavailable: <why>"``, ``"GRAPHC_BACKEND"``, or empty for a backend named explicitly.

        >>> BackendChoice("llvm", "default").describe()
        'llvm (default)'
    """

    name: str
    reason: str  # empty when the backend was named explicitly

    def describe(self) -> str:
        return f"{self.name} ({self.reason})" if self.reason else self.name


@functools.cache
def llvm_unavailable_reason() -> str | None:
    """None when the llvm backend can generate and run code on this machine, else why not.
    Probed once per process (an import of llvmlite, a target lookup and a tiny compile: tens of
    milliseconds, spent anyway by the first llvm compile)."""
    try:
        jit = importlib.import_module("backends.llvm.jit")  # imports llvmlite
    except ImportError as exc:  # llvmlite missing or broken
        return f"llvmlite cannot be imported ({exc})"
    try:
        probe = jit.compile_module(_PROBE_IR)
        add_one = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64)(probe.address("graphc_probe"))
        if add_one(41) != 42:
            return "a probe compiled by llvmlite returned a wrong result"
    except Exception as exc:  # no native target, unsupported CPU, ...: any failure means "no"
        return f"llvmlite cannot generate code for this machine ({type(exc).__name__}: {exc})"
    return None


def choose() -> BackendChoice:
    """The backend to use when none is named: ``$GRAPHC_BACKEND`` if set, else llvm when
    :func:`llvm_unavailable_reason` finds it works, else the interpreter. ``BackendError``
    when ``GRAPHC_BACKEND`` names no registered backend."""
    requested = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if requested:
        if requested not in available():
            raise BackendError(f"{ENVIRONMENT_VARIABLE}={requested!r} names no backend; "
                               f"registered: {', '.join(available())}")
        return BackendChoice(requested, ENVIRONMENT_VARIABLE)
    why_not = llvm_unavailable_reason()
    if why_not is None:
        return BackendChoice(PREFERRED, "default")
    return BackendChoice(FALLBACK, f"default: {PREFERRED} unavailable: {why_not}")
