"""Backend registry: ``backends.get(name).compile(graph) -> Executable``.

The contract (``Backend``, ``Executable``, ``ExecutionError``, ``check_inputs``) lives in
:mod:`backends.base`; :func:`default_backend` says which backend is used when none is named
(llvm where llvmlite works on this machine, else the interpreter; ``GRAPHC_BACKEND`` overrides).

    >>> import backends
    >>> "interpreter" in backends.available()
    True
"""
from __future__ import annotations

from backends.base import (
    Backend,
    BackendError,
    Executable,
    ExecutionError,
    UnsupportedDTypeError,
    available,
    check_inputs,
    get,
    register,
)
from backends.default import BackendChoice
from backends.default import choose as default_backend

__all__ = ["Backend", "BackendChoice", "BackendError", "Executable", "ExecutionError",
           "UnsupportedDTypeError", "available", "check_inputs", "default_backend", "get", "register"]


def _interpreter() -> Backend:
    from backends.interpreter import InterpreterBackend
    return InterpreterBackend()


register("interpreter", _interpreter)


def _llvm() -> Backend:
    try:
        from backends.llvm.backend import LLVMBackend
    except ImportError as exc:  # llvmlite missing or broken: say so, by name
        raise BackendError(f"the llvm backend needs llvmlite, which cannot be imported: {exc}") \
            from exc
    return LLVMBackend()


register("llvm", _llvm)


def _numba() -> Backend:
    try:
        from backends.numba.backend import NumbaBackend
    except ImportError as exc:  # numba missing or broken: say so, by name
        raise BackendError(f"the numba backend needs numba, which cannot be imported: {exc}") \
            from exc
    return NumbaBackend()


register("numba", _numba)


def _cuda() -> Backend:
    from backends.cuda.memory import CudaUnavailable
    try:
        from backends.cuda.backend import CudaBackend
        return CudaBackend()
    except (ImportError, CudaUnavailable) as exc:  # no numba-cuda, no GPU: say what to do
        raise BackendError(f"the cuda backend cannot run here: {exc}") from exc


register("cuda", _cuda)
