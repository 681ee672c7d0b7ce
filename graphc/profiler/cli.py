"""``graphc profile [-o TRACE.json] SCRIPT.py [ARGS...]``: runs a script under the profiler.

The script runs as ``python SCRIPT.py ARGS...`` would run it (``__name__ == "__main__"``,
``sys.argv`` its own, its folder first on ``sys.path``) inside
``graphc.profiler.profile()``; then the table of :meth:`~graphc.profiler.session.profile.key_averages`
is printed and, with ``-o``, the Chrome trace written. The script's own exit status is the
command's (an exception in it prints its traceback and gives status 1), after the table.
"""
from __future__ import annotations

import argparse
import os
import runpy
import sys
import traceback

from graphc.profiler.events import SORT_KEYS
from graphc.profiler.session import profile


def add_command(commands, common: argparse.ArgumentParser) -> None:
    """Adds ``profile`` to the ``graphc`` command line's subcommands."""
    command = commands.add_parser(
        "profile", parents=[common], help="run a Python script under graphc's profiler",
        description="Runs SCRIPT.py with its arguments under graphc.profiler.profile() and "
                    "prints the profiler's table (compiled calls, their kernels, GEMMs and "
                    "library calls, eager ops, record_function ranges; with achieved "
                    "GFLOP/s and GB/s). Options go before SCRIPT.py: what follows it is the "
                    "script's.")
    command.add_argument("script", metavar="SCRIPT.py")
    command.add_argument("script_args", nargs=argparse.REMAINDER, metavar="ARGS",
                         help="the script's arguments")
    command.add_argument("-o", "--output", metavar="TRACE.json",
                         help="write a Chrome trace (open in https://ui.perfetto.dev)")
    command.add_argument("--sort-by", default="self_cpu_time_total", choices=sorted(SORT_KEYS),
                         help="the table's order (default self_cpu_time_total)")
    command.add_argument("--row-limit", type=int, default=20, metavar="N",
                         help="rows of the table (default 20; -1: all)")
    command.add_argument("--record-shapes", action="store_true",
                         help="keep operand shapes (shown in the trace)")
    command.set_defaults(handler=cmd_profile)


def cmd_profile(args: argparse.Namespace) -> int:
    from graphc.cli import CLIError  # the command line's module imports this one
    if not os.path.isfile(args.script):
        raise CLIError(f"profile: no such script: {args.script}")
    folder = os.path.dirname(os.path.abspath(args.output)) if args.output else None
    if folder is not None and not os.path.isdir(folder):  # say so before the script runs
        raise CLIError(f"profile: cannot write {args.output!r}: no such folder {folder!r}")
    status = 0
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [args.script, *args.script_args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(args.script)))
    prof = profile(record_shapes=args.record_shapes)
    try:
        with prof:
            runpy.run_path(args.script, run_name="__main__")
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception:  # the script's error: show it as Python would, then the profile
        traceback.print_exc()
        status = 1
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    print(prof.key_averages().table(sort_by=args.sort_by, row_limit=args.row_limit))
    if args.output:
        try:
            prof.export_chrome_trace(args.output)
        except OSError as exc:
            raise CLIError(f"profile: cannot write {args.output!r}: {exc.strerror or exc}") \
                from exc
        print(f"chrome trace written to {args.output}")
    return status


__all__ = ["add_command", "cmd_profile"]
