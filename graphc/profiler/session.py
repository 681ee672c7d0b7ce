"""``graphc.profiler.profile``: PyTorch's profiler context manager over graphc's events.

    >>> import graphc, numpy as np
    >>> @graphc.compile(backend="interpreter")
    ... def double(x):
    ...     return x * 2
    >>> with graphc.profiler.profile() as prof:
    ...     y = double(graphc.ones(4))
    >>> sorted({e.kind for e in prof.events()})
    ['compile', 'compiled call', 'node']
    >>> row = [r for r in prof.key_averages() if r.key == "double::mul"][0]
    >>> row.count, row.flops
    (1, 4)
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any, Optional

from graphc.profiler import recording
from graphc.profiler.events import EventList
from graphc.profiler.recording import Event


class ProfilerActivity:
    """What to profile, as ``torch.profiler.ProfilerActivity``: ``CPU`` (compiled calls and
    their kernels, eager ops, user ranges) and ``CUDA`` (accepted: kernels of compiled calls
    on the cuda backend are timed as their calls are)."""

    CPU = "CPU"
    CUDA = "CUDA"


class profile:
    """Records what runs inside ``with graphc.profiler.profile() as prof:``: every call of a
    compiled function with each kernel, GEMM and library call its executable runs (each node
    on the interpreter), eager ops, and :func:`~graphc.profiler.record_function` ranges.

    ``prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10)`` prints
    PyTorch's table with the achieved GFLOP/s and GB/s; ``prof.export_chrome_trace(path)``
    writes a trace for Perfetto or ``chrome://tracing``. ``record_shapes=True`` keeps each
    event's operand shapes in the trace and allows ``key_averages(group_by_input_shape=True)``.
    ``on_trace_ready(prof)`` is called when it stops (``schedule=`` is not supported).
    One profiler records at a time. While it records, compiled calls take their checked path
    and run kernel by kernel (segments are not fused into one native call), so totals are a
    little above an unprofiled run's; with no profiler, nothing of this runs.
    """

    def __init__(self, activities: Optional[Iterable[str]] = None, *, schedule: Any = None,
                 on_trace_ready: Optional[Callable[[profile], Any]] = None,
                 record_shapes: bool = False, profile_memory: bool = False,
                 with_stack: bool = False, with_flops: bool = True, with_modules: bool = False):
        # profile_memory, with_stack, with_modules: accepted as PyTorch's, not recorded yet;
        # FLOPs are always counted
        if schedule is not None:
            raise NotImplementedError("graphc.profiler.profile: schedule= is not supported; "
                                      "start and stop the profiler around the steps to record")
        if activities is not None:
            activities = list(activities)
            unknown = [a for a in activities if a not in (ProfilerActivity.CPU,
                                                         ProfilerActivity.CUDA)]
            if unknown:
                raise ValueError(f"profile(): unknown activities {unknown!r}; use "
                                 f"ProfilerActivity.CPU or ProfilerActivity.CUDA")
        self.activities = activities
        self.record_shapes = record_shapes
        self.on_trace_ready = on_trace_ready
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._finished: Optional[EventList] = None
        self._running = False

    # -- recording -------------------------------------------------------------------------
    def start(self) -> None:
        """Starts recording (what ``with`` does on entry)."""
        if recording.ACTIVE is not None:
            raise RuntimeError("graphc.profiler: a profiler is already recording; stop it "
                               "first (profilers do not nest)")
        self._events, self._finished, self._running = [], None, True
        recording.ACTIVE = self

    def stop(self) -> None:
        """Stops recording (what ``with`` does on exit)."""
        was_running = self._running
        if recording.ACTIVE is self:
            recording.ACTIVE = None
        self._running = False
        if was_running and self.on_trace_ready is not None:
            self.on_trace_ready(self)

    def step(self) -> None:
        """Marks the end of a training step, as PyTorch's ``prof.step()``; without
        ``schedule=`` (not supported) PyTorch records every step, and so does this: nothing
        to do, so that programs calling it run unchanged."""

    def __enter__(self) -> profile:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _add(self, event: Event) -> None:
        if not self.record_shapes:
            event.shapes = ()
        with self._lock:
            self._events.append(event)

    def _add_all(self, events: list[Event]) -> None:
        for event in events:
            self._add(event)

    # -- results ---------------------------------------------------------------------------
    def events(self) -> EventList:
        """Every recorded event, ordered by start time, with self times filled in."""
        if self._finished is None or self._running:
            with self._lock:
                events = EventList(sorted(self._events, key=lambda e: (e.start_ns, -e.end_ns)))
            events.compute_self_times()
            if self._running:
                return events
            self._finished = events
        return self._finished

    def key_averages(self, group_by_input_shape: bool = False) -> EventList:
        """The events averaged by name (and shapes): rows with ``table()``."""
        if group_by_input_shape and not self.record_shapes:
            raise RuntimeError("key_averages(group_by_input_shape=True) needs "
                               "profile(record_shapes=True)")
        return self.events().key_averages(group_by_input_shape)

    def export_chrome_trace(self, path: str | os.PathLike) -> None:
        """Writes the events in Chrome's trace event format (JSON): one complete (``"X"``)
        event per range, ``ts`` and ``dur`` in microseconds from the first event, with the
        process and thread, and ``args`` holding FLOPs, bytes, achieved rates, shapes and
        the graph nodes a kernel came from. Open it in https://ui.perfetto.dev or
        ``chrome://tracing``."""
        with open(path, "w") as f:
            json.dump(chrome_trace(self.events()), f)


def chrome_trace(events: list[Event]) -> dict:
    """``events`` as a Chrome trace (``{"traceEvents": [...]}``); threads are numbered in
    the order they first appear."""
    origin = min((e.start_ns for e in events), default=0)
    pid = os.getpid()
    threads: dict[int, int] = {}
    trace: list[dict] = [{"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                          "args": {"name": "graphc"}}]
    for event in events:
        tid = threads.setdefault(event.thread, len(threads))
        args: dict[str, Any] = {}
        if event.flops:
            args["flops"] = event.flops
        if event.bytes:
            args["bytes"] = event.bytes
        if event.duration_ns > 0:
            if event.flops:
                args["GFLOP/s"] = round(event.flops / event.duration_ns, 3)
            if event.bytes:
                args["GB/s"] = round(event.bytes / event.duration_ns, 3)
        if event.shapes:
            args["Input Dims"] = [list(s) for s in event.shapes]
        if event.detail:
            args["origin"] = event.detail
        trace.append({"name": event.name, "cat": event.kind, "ph": "X",
                      "ts": (event.start_ns - origin) / 1e3,
                      "dur": event.duration_ns / 1e3, "pid": pid, "tid": tid, "args": args})
    return {"traceEvents": trace, "displayTimeUnit": "ms"}


__all__ = ["ProfilerActivity", "chrome_trace", "profile"]
