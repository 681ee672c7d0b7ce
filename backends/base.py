"""The backend contract: what every backend provides and what its executables accept.

A :class:`Backend` compiles a verified graph into an :class:`Executable`; the registry finds
backends by name. ``lowering`` is the pipeline (pass-manager text, e.g. ``"fuse,plan"``) a
backend wants run on a graph before ``compile``; the interpreter runs any graph as it is.

    >>> import ir, numpy as np, backends
    >>> g = ir.parse('''func @f(%x: f32[2]) -> (f32[2]) {
    ...   %0: f32[2] = neg %x
    ...   return %0
    ... }''')
    >>> backend = backends.get("interpreter")
    >>> backend.lowering
    ''
    >>> run = backend.compile(g)
    >>> run(np.array([1, -2], np.float32))
    (array([-1.,  2.], dtype=float32),)
    >>> run(np.zeros(3, np.float32))
    Traceback (most recent call last):
    ...
    backends.base.ExecutionError: input %x expects f32[2], got f32[3]
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from backends.profiling import StepRecorder, call_info
from ir.dtypes import ALL as ALL_DTYPES
from ir.dtypes import DType, from_numpy
from ir.graph import Graph
from ir.types import TensorType


class BackendError(Exception):
    """Unknown backend, or a backend that cannot run here."""


class UnsupportedDTypeError(BackendError):
    """A backend cannot run a dtype of the graph; it says so at compile time (never computing
    wrongly), and ``graphc.compile``'s default backend then runs the graph on the interpreter."""


def refuse_dtypes(graph: Graph, backend: str, supported: Collection[DType]) -> None:
    """Raises :class:`UnsupportedDTypeError` naming the first value of ``graph`` (fused bodies
    included) whose dtype ``backend`` cannot run.

        >>> import ir
        >>> g = ir.Graph("f")
        >>> g.set_outputs([g.add_node("neg", [g.add_input("x", ir.TensorType(ir.bf16, (2,)))])])
        >>> refuse_dtypes(g, "numba", [ir.f32])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        backends.base.UnsupportedDTypeError: numba backend: cannot run dtype bf16 (input %x ...
    """
    for value, where in _typed_values(graph):
        if value.type.dtype not in supported:
            names = " ".join(d.name for d in ALL_DTYPES if d in supported)
            raise UnsupportedDTypeError(
                f"{backend} backend: cannot run dtype {value.type.dtype} ({where}); it runs "
                f"{names}; compile with backend='interpreter'")


def _typed_values(graph: Graph):
    for value in graph.inputs:
        yield value, f"input %{value.name} of @{graph.name}"
    for node in graph.nodes:
        for value in node.outputs:
            yield value, f"result %{value.name} of {node.op} in @{graph.name}"
        if node.body is not None:
            yield from _typed_values(node.body)


class ExecutionError(RuntimeError):
    """Inputs that do not match the graph's signature, or an op that failed at run time (a
    RuntimeError, as PyTorch's errors at run time are: an index out of range in a compiled
    ``gather`` is caught by the same ``except RuntimeError:`` as the eager one)."""


@dataclass
class CompileInfo:
    """How an executable's code was obtained: ``source`` is ``"fresh"`` (generated now),
    ``"memory"`` (reused from this process) or ``"disk"`` (loaded from the on-disk cache);
    ``seconds`` maps each stage, in order, to the time it took; ``note`` says why a cached copy
    was not used (a corrupt disk entry, say); ``key`` names the code in the caches.

        >>> print(CompileInfo("disk", {"render": 0.002, "cache load": 0.0005}).describe())
        from the disk cache: render 2.0 ms, cache load 0.5 ms
    """

    source: str
    seconds: dict[str, float] = field(default_factory=dict)
    note: str = ""
    key: str = ""

    def describe(self) -> str:
        origin = {"fresh": "freshly compiled", "memory": "from the in-memory cache",
                  "disk": "from the disk cache"}.get(self.source, self.source)
        stages = ", ".join(f"{stage} {t * 1e3:.1f} ms" for stage, t in self.seconds.items())
        text = f"{origin}: {stages}" if stages else origin
        return f"{text} ({self.note})" if self.note else text


class Executable(ABC):
    """A compiled graph: call it with one array per graph input, get a tuple of arrays back.

    Outputs that the graph declares as aliasing an input (``graph.output_aliases``) may be
    written into that input's buffer; callers must treat such inputs as donated.
    """

    graph: Graph
    compile_info: CompileInfo | None = None  # backends that generate code say how they got it
    # The call hook of a fast path (optional): the same computation for arrays that are
    # exactly the graph's input types (``ndarray`` itself, dtype, shape, C-contiguous), which
    # returns the output tuple, or None for arrays it was not made for; those go to
    # ``__call__``, which checks and converts them. ``graphc.compile`` calls it when present
    # (the llvm backend's generated wrapper, ``backends/llvm/fastcall.py``).
    fast_call: Callable[..., tuple | None] | None = None
    # Inputs (indices) the call writes in place (donated: ``graph.output_aliases``), and those
    # of them it may have written when a later step raises (an index out of range found at run
    # time): a caller that must keep its state when the call fails (``graphc.compile``, whose
    # call is all-or-nothing for state) passes copies of those.
    donated_inputs: tuple[int, ...] = ()
    donated_before_failure: tuple[int, ...] = ()

    @abstractmethod
    def __call__(self, *arrays) -> tuple:
        ...

    @abstractmethod
    def source(self) -> str:
        """What the backend generated, for humans (the interpreter: the IR text)."""

    def run_profiled(self, arrays: Sequence, record: StepRecorder) -> tuple:
        """Runs as ``self(*arrays)`` does, calling ``record(info, start_ns, end_ns)`` for each
        step it times (``backends.profiling``); only a profiler calls it, so the ordinary
        call path has no timing in it. This default times the whole call as one step;
        backends that run steps override it to time each kernel, GEMM or node."""
        start = time.perf_counter_ns()
        results = self(*arrays)
        record(call_info(self.graph), start, time.perf_counter_ns())
        return results


class Backend(ABC):
    """A way to run graphs: ``compile(graph) -> Executable``."""

    name: str = ""
    lowering: str = ""  # the pipeline to run before compile, as pipeline text

    @abstractmethod
    def compile(self, graph: Graph) -> Executable:
        ...


def check_inputs(graph: Graph, arrays: Sequence) -> list[np.ndarray]:
    """Converts and checks run-time inputs against the graph's typed signature."""
    if len(arrays) != len(graph.inputs):
        raise ExecutionError(f"@{graph.name} takes {len(graph.inputs)} input(s), got {len(arrays)}")
    checked = []
    for value, array in zip(graph.inputs, arrays):
        if not isinstance(array, np.ndarray) and hasattr(array, "copy_to_host"):
            raise ExecutionError(f"input %{value.name} is a CUDA device array, but this "
                                 f"backend runs on the cpu: compile with backend='cuda', or "
                                 f"move the tensors to the cpu (.cpu())")
        array = np.asarray(array)
        if array.shape == value.type.shape and array.dtype == value.type.dtype.numpy:
            checked.append(array)
            continue
        try:
            got = str(TensorType(from_numpy(array.dtype), array.shape))
        except TypeError:
            got = f"{array.dtype}{list(array.shape)}"
        if got != str(value.type):
            raise ExecutionError(f"input %{value.name} expects {value.type}, got {got}")
        checked.append(array)
    return checked


# -- registry ------------------------------------------------------------------------------------
_FACTORIES: dict[str, Callable[[], Backend]] = {}
_INSTANCES: dict[str, Backend] = {}


def register(name: str, factory: Callable[[], Backend]) -> None:
    """Registers a backend by name; ``factory()`` is called on first use (imports stay lazy)."""
    _FACTORIES[name] = factory


def available() -> list[str]:
    """Names of all registered backends."""
    return sorted(_FACTORIES)


def get(name: str) -> Backend:
    """The backend called ``name``."""
    if name not in _FACTORIES:
        raise BackendError(f"unknown backend {name!r}; available: {', '.join(available())}")
    if name not in _INSTANCES:
        _INSTANCES[name] = _FACTORIES[name]()
    return _INSTANCES[name]
