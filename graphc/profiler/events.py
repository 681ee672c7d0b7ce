"""Recorded events as PyTorch's profiler shows them: self times, averages per name, the table.

``key_averages()`` groups events by name (and operand shapes, with
``group_by_input_shape=True``) into :class:`FunctionEventAvg` rows; :meth:`EventList.table`
prints them as ``torch.profiler``'s table does, with two more columns: the achieved GFLOP/s
and GB/s (the rows' FLOPs and bytes moved over their CPU total time).

An event's *self* time is its time minus that of the events directly inside it on the same
thread (a compiled call's self time is its Python overhead: guards, argument checks, output
wrapping; a kernel has no children, so its self time is its time).

    >>> from graphc.profiler.recording import Event
    >>> events = EventList([Event("step", "compiled call", 0, 10_000, 1, flops=4000),
    ...                     Event("step::k0", "kernel", 1_000, 5_000, 1, flops=4000)])
    >>> events.compute_self_times()
    >>> [e.self_ns for e in events]
    [6000, 4000]
    >>> table = events.key_averages().table(sort_by="self_cpu_time_total")
    >>> print(table.splitlines()[1].split()[-5:])
    ['#', 'of', 'Calls', 'GFLOP/s', 'GB/s']
    >>> for line in table.splitlines()[3:5]:
    ...     print(line.split())
    ['step', '60.00%', '6.000us', '100.00%', '10.000us', '10.000us', '1', '0.400', '--']
    ['step::k0', '40.00%', '4.000us', '40.00%', '4.000us', '4.000us', '1', '1.000', '--']
    >>> print(table.splitlines()[-1])
    Self CPU time total: 10.000us
"""
from __future__ import annotations

from dataclasses import dataclass

from graphc.profiler.recording import Event

# sort_by keys, as torch.profiler names them, and what each sorts on (largest first)
SORT_KEYS = {
    "self_cpu_time_total": lambda row: row.self_cpu_time_total,
    "cpu_time_total": lambda row: row.cpu_time_total,
    "cpu_time": lambda row: row.cpu_time,
    "self_cpu_time": lambda row: row.self_cpu_time_total / max(row.count, 1),
    "count": lambda row: row.count,
    "flops": lambda row: row.flops,
    "bytes": lambda row: row.bytes,
}


@dataclass
class FunctionEventAvg:
    """One row of :meth:`EventList.key_averages`: every event of one name (and shapes).
    Times are in microseconds, as in PyTorch; ``flops`` and ``bytes`` are totals."""

    key: str
    count: int = 0
    cpu_time_total: float = 0.0
    self_cpu_time_total: float = 0.0
    flops: int = 0
    bytes: int = 0
    input_shapes: tuple = ()
    kind: str = ""

    @property
    def cpu_time(self) -> float:
        """Average CPU time of one call, in microseconds."""
        return self.cpu_time_total / self.count if self.count else 0.0

    @property
    def gflops_per_second(self) -> float | None:
        """Achieved GFLOP/s over the rows' CPU total time (None: no floating-point work)."""
        return _rate(self.flops, self.cpu_time_total)

    @property
    def gigabytes_per_second(self) -> float | None:
        """Achieved GB/s (bytes moved over CPU total time; None: nothing moved)."""
        return _rate(self.bytes, self.cpu_time_total)

    def add(self, event: Event) -> None:
        self.count += 1
        self.cpu_time_total += event.duration_ns / 1e3
        self.self_cpu_time_total += event.self_ns / 1e3
        self.flops += event.flops
        self.bytes += event.bytes


def _rate(amount: int, microseconds: float) -> float | None:
    if amount <= 0 or microseconds <= 0:
        return None
    return amount / microseconds / 1e3  # per us -> per second, in units of 1e9


class EventList(list):
    """A list of recorded :class:`~graphc.profiler.recording.Event` (or of
    :class:`FunctionEventAvg` rows, from :meth:`key_averages`), with PyTorch's ``table``."""

    def compute_self_times(self) -> None:
        """Sets each event's ``self_ns``: its time less that of the events directly inside it
        on its thread."""
        by_thread: dict[int, list[Event]] = {}
        for event in self:
            by_thread.setdefault(event.thread, []).append(event)
        for events in by_thread.values():
            events.sort(key=lambda e: (e.start_ns, -e.end_ns))
            open_events: list[Event] = []
            for event in events:
                event.self_ns = event.duration_ns
                while open_events and open_events[-1].end_ns <= event.start_ns:
                    open_events.pop()
                if open_events and event.end_ns <= open_events[-1].end_ns:
                    open_events[-1].self_ns -= event.duration_ns
                open_events.append(event)

    def key_averages(self, group_by_input_shape: bool = False) -> EventList:
        """One :class:`FunctionEventAvg` per event name (and operand shapes, if asked), in
        the order names first appear."""
        rows: dict[tuple, FunctionEventAvg] = {}
        for event in self:
            key = (event.name, event.shapes if group_by_input_shape else ())
            row = rows.get(key)
            if row is None:
                row = rows[key] = FunctionEventAvg(event.name, input_shapes=key[1],
                                                   kind=event.kind)
            row.add(event)
        return EventList(rows.values())

    def table(self, sort_by: str | None = None, row_limit: int = 100,
              max_name_column_width: int = 55, header: str | None = None,
              top_level_events_only: bool = False) -> str:
        """The rows of :meth:`key_averages` (call it first) as PyTorch's profiler table:
        Name, Self CPU %, Self CPU, CPU total %, CPU total, CPU time avg, # of Calls, then
        GFLOP/s and GB/s; ``sort_by`` one of :data:`SORT_KEYS` (largest first), at most
        ``row_limit`` rows (a negative limit: all)."""
        rows = [r for r in self if isinstance(r, FunctionEventAvg)]
        if len(rows) != len(self):
            rows = self.key_averages() if all(isinstance(e, Event) for e in self) else rows
        if sort_by is not None:
            if sort_by not in SORT_KEYS:
                raise ValueError(f"table(): sort_by must be one of {', '.join(SORT_KEYS)}; "
                                 f"got {sort_by!r}")
            rows = sorted(rows, key=SORT_KEYS[sort_by], reverse=True)
        if top_level_events_only:
            rows = [r for r in rows if r.kind in ("compiled call", "user", "eager op")]
        return format_table(rows, row_limit, max_name_column_width, header)


def format_time(microseconds: float) -> str:
    """A time as PyTorch's tables print it: ``12.345us``, ``1.234ms`` or ``2.000s``."""
    if microseconds >= 1e6:
        return f"{microseconds / 1e6:.3f}s"
    if microseconds >= 1e3:
        return f"{microseconds / 1e3:.3f}ms"
    return f"{microseconds:.3f}us"


def _format_rate(rate: float | None) -> str:
    return "--" if rate is None else f"{rate:.3f}"


COLUMNS = ("Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg", "# of Calls",
           "GFLOP/s", "GB/s")


def format_table(rows: list[FunctionEventAvg], row_limit: int = 100,
                 max_name_column_width: int = 55, header: str | None = None) -> str:
    """``rows`` as PyTorch's profiler table (see :meth:`EventList.table`). Percentages are of
    the self time of every row, which is the time of the outermost events."""
    total_self = sum(r.self_cpu_time_total for r in rows)
    shown = rows if row_limit is None or row_limit < 0 else rows[:row_limit]
    names = [_shorten(r.key, max_name_column_width) for r in shown]
    name_width = max([len("Name"), *map(len, names)]) + 4
    widths = [name_width] + [12] * len(COLUMNS)
    rule = "  ".join("-" * w for w in widths) + "  "

    def line(cells) -> str:
        return "".join(f"{cell:>{w}}  " for cell, w in zip(cells, widths))

    def percent(part: float) -> str:
        return f"{100 * part / total_self:.2f}%" if total_self else "0.00%"

    out = []
    if header:
        out.append("=" * len(rule))
        out.append(header)
    out += [rule, line(("Name", *COLUMNS)), rule]
    for name, row in zip(names, shown):
        out.append(line((name, percent(row.self_cpu_time_total),
                         format_time(row.self_cpu_time_total), percent(row.cpu_time_total),
                         format_time(row.cpu_time_total), format_time(row.cpu_time),
                         str(row.count), _format_rate(row.gflops_per_second),
                         _format_rate(row.gigabytes_per_second))))
    out += [rule, f"Self CPU time total: {format_time(total_self)}", ""]
    return "\n".join(out)


def _shorten(name: str, width: int) -> str:
    return name if len(name) <= width else name[:width - 3] + "..."


__all__ = ["EventList", "FunctionEventAvg", "SORT_KEYS", "format_table", "format_time"]
