"""Make typical user mistakes with graphc and PyTorch side by side and classify graphc's answer.

Usage: ``python benchmarks/bad_input_fuzz.py [-k SUBSTRING] [-v]``

The mistakes are ``tests/bad_input_cases.py``. For each, graphc's outcome is one of:

- ``OK``        a graphc error (GraphcError or IRError) of the built-in type PyTorch raises,
                whose message names what was wrong; or success where PyTorch succeeds too
- ``POOR``      a graphc error of the right type whose message misses the expected words
- ``WRONGTYPE`` a graphc error that is not an instance of PyTorch's built-in type
- ``BARE``      a built-in exception of the right type raised by graphc itself, not a graphc class
- ``RAW``       any other non-graphc exception (from deep inside graphc, NumPy, ...)
- ``SILENT``    a result where PyTorch raises
- ``REFUSED``   an error where PyTorch succeeds (a missing feature, not a bad-input problem)
- ``HANG``      no answer within 10 seconds

It also checks that each case's recorded ``expected`` type is what PyTorch really raises
(``TORCH?`` otherwise), so the test that runs the cases without torch stays honest.

``--sweep`` instead calls every public function of ``graphc``, ``graphc.nn.functional``,
``graphc.linalg`` and ``graphc.special`` with None and with a list as its first argument and lists
the calls that fail with a non-graphc exception raised inside graphc or a library (not the
TypeError of a missing argument): the raw tracebacks still left.
"""
from __future__ import annotations

import argparse
import inspect
import os
import re
import signal
import sys
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from bad_input_cases import ACCEPTS, CASES, PYTHON  # noqa: E402

import graphc  # noqa: E402
from graphc.errors import GraphcError, IRError  # noqa: E402

BUILTINS = (AttributeError, AssertionError, IndexError, TypeError, NotImplementedError,
            ValueError, RuntimeError)


class _Hang(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Hang()


def builtin_of(exc: BaseException) -> type | None:
    """The built-in exception type ``exc`` is an instance of (the most specific PyTorch uses)."""
    for kind in BUILTINS:
        if isinstance(exc, kind):
            return kind
    return None


def run(call, lib, seconds=10):
    """``(None, None)`` on success, else ``(exception, innermost frame 'file:line')``."""
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(seconds)
    try:
        call(lib)
        return None, None
    except _Hang as exc:
        return exc, None
    except Exception as exc:  # noqa: BLE001 - classifying every exception is the point
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return exc, f"{os.path.relpath(frame.filename)}:{frame.lineno}"
    finally:
        signal.alarm(0)


def classify(expected, exc) -> str:
    if isinstance(exc, _Hang):
        return "HANG"
    if exc is None:
        return "OK" if expected is None else "SILENT"
    if expected is None:
        return "REFUSED"
    if not isinstance(exc, (GraphcError, IRError)):
        return "BARE" if isinstance(exc, expected) else "RAW"
    return "OK" if isinstance(exc, expected) else "WRONGTYPE"


_SWEEP_SKIPS = ("set_", "save", "load", "compile", "seed", "use_", "enable", "disable", "hub",
                "init_", "spawn", "profile", "export", "onnx")


def sweep() -> None:
    """Prints the public functions that meet None or a list with a raw exception."""
    import graphc.nn.functional as F
    namespaces = {"graphc": graphc, "F": F, "linalg": graphc.linalg, "special": graphc.special}
    raw = 0
    for prefix, namespace in namespaces.items():
        for name in sorted(getattr(namespace, "__all__", dir(namespace))):
            fn = getattr(namespace, name, None)
            if (name.startswith("_") or any(s in name for s in _SWEEP_SKIPS)
                    or not (inspect.isfunction(fn) or inspect.isbuiltin(fn))):
                continue
            for label, arg in (("None", None), ("list", [1.0, 2.0])):
                exc, where = run(lambda g, fn=fn, arg=arg: fn(arg), graphc, 5)
                if (exc is None or isinstance(exc, (GraphcError, IRError)) or where is None
                        or "required positional argument" in str(exc)
                        or not where.startswith(("graphc", "ir", "backends", "..", "/"))):
                    continue
                raw += 1
                print(f"RAW {prefix}.{name}({label}): {type(exc).__name__} at {where}: "
                      f"{str(exc).splitlines()[0][:100]}")
    print(f"sweep: {raw} raw exceptions")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="run only cases whose name contains this")
    parser.add_argument("-v", action="store_true", help="print OK cases too")
    parser.add_argument("--sweep", action="store_true",
                        help="call every public function with None and a list instead")
    args = parser.parse_args(argv)
    if args.sweep:
        sweep()
        return 0
    import torch
    counts: dict[str, int] = {}
    torch_mismatches = 0
    for name, call, expected, words, *deliberate in CASES:
        if args.k not in name:
            continue
        texc, _ = run(call, torch)
        tkind = None if texc is None else builtin_of(texc)
        if tkind is not expected:
            torch_mismatches += 1
            print(f"TORCH?    {name}: recorded {expected and expected.__name__}, torch "
                  f"{tkind and tkind.__name__}: {str(texc).splitlines()[0] if texc else ''}")
        exc, where = run(call, graphc)
        ours = deliberate[0] if deliberate else expected
        if ours == ACCEPTS:
            verdict = "OK" if exc is None else "REFUSED"
        elif ours == PYTHON:
            verdict = "OK" if type(exc) is expected else classify(expected, exc)
        else:
            verdict = classify(ours, exc)
        if verdict == "OK" and exc is not None and not re.search(words, str(exc)):
            verdict = "POOR"
        counts[verdict] = counts.get(verdict, 0) + 1
        if verdict != "OK" or args.v:
            message = str(exc).splitlines()[0][:150] if exc is not None else ""
            kind = type(exc).__name__ if exc is not None else "-"
            print(f"{verdict:<9} {name}: {kind} at {where}: {message}")
            if texc is not None and verdict != "OK":
                print(f"{'':9}   torch: {type(texc).__name__}: {str(texc).splitlines()[0][:150]}")
    print("summary:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
          f"| recorded expectations that differ from torch: {torch_mismatches}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
