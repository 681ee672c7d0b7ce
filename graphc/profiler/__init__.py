"""``graphc.profiler``: where the time of a program goes, down to each kernel, as in PyTorch.

    with graphc.profiler.profile() as prof:
        for x, y in batches:
            loss = train_step(x, y)              # a graphc.compile'd step
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    prof.export_chrome_trace("trace.json")       # open in https://ui.perfetto.dev

Each compiled call is an event with one event inside it per kernel, GEMM (BLAS) and library
call its executable ran (per node on the interpreter), each with its FLOPs and bytes moved
(``ir.cost``) and the achieved GFLOP/s and GB/s; eager ops and
:func:`record_function` ranges are events too. ``graphc profile script.py`` runs a script
under the profiler from the command line. With no profiler active, a compiled call does one
test of a global (``recording.ACTIVE``) and nothing else.
"""
from graphc.profiler.events import EventList, FunctionEventAvg
from graphc.profiler.recording import Event, record_function
from graphc.profiler.session import ProfilerActivity, profile

__all__ = ["Event", "EventList", "FunctionEventAvg", "ProfilerActivity", "profile",
           "record_function"]
