"""The recording side of the profiler: the one global switch, and the events it collects.

``ACTIVE`` is the profiler recording now, or None. Code on hot paths (a compiled call, an
eager op) tests it once and, only when it is set, calls into this module; with no profiler
the call paths do no other work. A compiled call under the profiler takes the full (checked)
call path and runs its executable through ``Executable.run_profiled``, which times each
kernel, GEMM, library call or interpreted node (``backends.profiling``).

Events are kept as start and end times of ``time.perf_counter_ns`` per thread; nesting (a
compiled call around its kernels, a user range around both) follows from the times, as in
Chrome's trace format.
"""
from __future__ import annotations

import threading
import time
from contextlib import ContextDecorator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from backends.profiling import StepInfo
from ir.cost import op_flops, tensor_bytes
from ir.dtypes import from_numpy
from ir.evaluate import evaluate, quiet_float_errors
from ir.registry import OpDef
from ir.types import TensorType

if TYPE_CHECKING:
    from graphc.profiler.session import profile

ACTIVE: Optional[profile] = None  # the profiler recording now


@dataclass
class Event:
    """One timed range: ``name``, ``kind`` (``compiled call``, ``kernel``, ``gemm``,
    ``library call``, ``node``, ``eager op``, ``user``, ...), start and end in nanoseconds of
    ``time.perf_counter_ns``, the thread, and the work it did (FLOPs, bytes moved), the
    operands' shapes and a detail (the graph nodes a kernel came from)."""

    name: str
    kind: str
    start_ns: int
    end_ns: int
    thread: int
    flops: int = 0
    bytes: int = 0
    shapes: tuple = ()
    detail: str = ""
    self_ns: int = field(default=-1, repr=False)  # filled in by graphc.profiler.events

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


def step_event(info: StepInfo, start_ns: int, end_ns: int) -> Event:
    return Event(info.name, info.kind, start_ns, end_ns, threading.get_ident(), info.flops,
                 info.bytes, info.shapes, info.detail)


def compiled_call(function: Any, args: tuple, kwargs: dict) -> Any:
    """Runs a call of ``function`` (a ``CompiledFunction``) while ``ACTIVE`` records: one
    event for the call (its FLOPs and bytes: those of the steps it ran), one per step."""
    recorder = ACTIVE
    if recorder is None:  # stopped by another thread since the caller looked
        return function._entry_and_run(args, kwargs, run=True)
    steps: list[Event] = []

    def record(info: StepInfo, start_ns: int, end_ns: int) -> None:
        steps.append(step_event(info, start_ns, end_ns))

    start = time.perf_counter_ns()
    try:
        return function._entry_and_run(args, kwargs, run=True, record=record)
    finally:
        end = time.perf_counter_ns()
        recorder._add(Event(function.name, "compiled call", start, end, threading.get_ident(),
                            sum(e.flops for e in steps), sum(e.bytes for e in steps),
                            _shapes(args)))
        recorder._add_all(steps)


def eager_op(opdef: OpDef, arrays: list, attrs: dict, out_type: TensorType) -> Any:
    """Evaluates an eager op (``graphc.dispatch.apply``) while ``ACTIVE`` records, as an
    ``eager::<op>`` event with its FLOPs and bytes."""
    start = time.perf_counter_ns()
    with quiet_float_errors():
        result = evaluate(opdef, arrays, attrs, out_type)
    end = time.perf_counter_ns()
    recorder = ACTIVE
    if recorder is not None:
        types = [TensorType(from_numpy(a.dtype), a.shape) for a in arrays]
        moved = sum(tensor_bytes(t) for t in types) + tensor_bytes(out_type)
        recorder._add(Event(f"eager::{opdef.name}", "eager op", start, end,
                            threading.get_ident(), op_flops(opdef.name, types, [out_type]),
                            moved, tuple(a.shape for a in arrays)))
    return result


def _shapes(args: tuple) -> tuple:
    return tuple(tuple(a.shape) if hasattr(a, "shape") else () for a in args)


class record_function(ContextDecorator):
    """Marks a range of your code with a name in the profiler's table and trace, as
    ``torch.profiler.record_function``; without a profiler recording it does nothing.

        >>> import graphc
        >>> with graphc.profiler.profile() as prof:
        ...     with graphc.profiler.record_function("data"):
        ...         x = graphc.ones(3)
        >>> [e.name for e in prof.events()]
        ['data']

    It also decorates a function: ``@record_function("forward")``.
    """

    def __init__(self, name: str, args: Optional[str] = None):
        if not isinstance(name, str):
            raise TypeError(f"record_function(): name must be a str, got "
                            f"{type(name).__name__}")
        self.name, self.args = name, args
        self._start: list[int] = []  # a stack: the same object may be entered again inside

    def __enter__(self) -> record_function:
        self._start.append(time.perf_counter_ns())
        return self

    def __exit__(self, *exc_info) -> None:
        start = self._start.pop()
        recorder = ACTIVE
        if recorder is not None:
            recorder._add(Event(self.name, "user", start, time.perf_counter_ns(),
                                threading.get_ident(), detail=self.args or ""))


__all__ = ["ACTIVE", "Event", "compiled_call", "record_function", "step_event"]
