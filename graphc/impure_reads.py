"""Refusing reads of clocks and OS entropy while ``@graphc.compile`` traces a function.

A compiled call does not run the function's Python code, so a value that code reads from the
clock or from the OS (``time.time()``, ``datetime.now()``, ``os.urandom``, ``uuid.uuid4()``,
``secrets.token_hex()``) while tracing would be a constant of the graph, the same at every
call, where eager calls read a new one. Such a value has no state the guards could compare, so
the read itself is caught: :func:`refused` watches the calls the traced code makes (with
``sys.setprofile``, in the tracing thread only) and raises a :class:`~graphc.errors.TraceError`
naming the call and the user's line. Watching every call makes a trace several times slower, so
it is done only for a function whose state reaches such a source (:func:`is_source`: the
``time``, ``datetime``, ``uuid`` or ``secrets`` module, ``os.urandom``, ``random.SystemRandom``,
``from time import time``; the guards' walk finds them where it finds the globals it guards):

    >>> import time, graphc
    >>> f = graphc.compile(lambda x: x * time.time())
    >>> f(graphc.ones(1))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    graphc.errors.TraceError: compile(<lambda>): the function calls time.time() ...

Only calls made by user code count (directly, or through ``random.SystemRandom``, ``secrets``
and ``uuid``, which read ``os.urandom`` and the clock for it): graphc's own timing (its
profiler, its logs) and a library's (``logging`` stamping a record) are not the function's
values. Under a profiler that already holds ``sys.setprofile`` (cProfile) nothing is watched.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import random
import secrets
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any, Optional

from graphc.errors import TraceError

__all__ = ["refused", "is_source", "IMPURE_CALLS"]


def _named(pairs) -> dict:
    return {fn: name for name, fn in pairs if fn is not None}


# The C functions whose result differs from call to call although no Python state changed
# (localtime and gmtime read the clock only when called without a time; a call cannot be told
# apart here, so both are refused: pass the struct_time in)
IMPURE_CALLS: dict[Any, str] = _named(
    [(f"time.{name}()", getattr(time, name, None)) for name in (
        "time", "time_ns", "perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns",
        "process_time", "process_time_ns", "thread_time", "thread_time_ns", "clock_gettime",
        "clock_gettime_ns", "localtime", "gmtime")]
    + [(f"datetime.{name}()", getattr(datetime.datetime, name)) for name in (
        "now", "utcnow", "today")]
    + [("date.today()", datetime.date.today),
       ("os.urandom()", os.urandom), ("os.getrandom()", getattr(os, "getrandom", None)),
       ("os.times()", os.times),
       ("uuid.uuid1()", getattr(uuid, "_generate_time_safe", None))])

# What a function must reach (a module, class or function the guards' walk finds in its state)
# to call one of those: ids of objects that live as long as the interpreter
_SOURCE_IDS = frozenset(id(obj) for obj in (
    time, datetime, uuid, secrets, datetime.datetime, datetime.date, random.SystemRandom,
    *(fn for fn in IMPURE_CALLS if type(getattr(fn, "__self__", None)) is type(os)),
    uuid.uuid1, uuid.uuid4, *(getattr(secrets, name) for name in secrets.__all__)))
_OS_SOURCES = frozenset(("urandom", "getrandom", "times"))


def is_source(obj, used_names: frozenset) -> bool:
    """Whether a function that reaches ``obj`` (and names ``used_names``) may call one of
    :data:`IMPURE_CALLS`: the modules, classes and functions that lead to them."""
    if id(obj) in _SOURCE_IDS or isinstance(obj, random.SystemRandom):
        return True
    return (obj is os and not used_names.isdisjoint(_OS_SOURCES)) or (
        obj is random and "SystemRandom" in used_names)


# Standard-library modules that read those for the user (SystemRandom, secrets.token_hex,
# uuid.uuid4): a read from their code counts as the caller's
_NAMES_BY_FILE = {os.path.abspath(m.__file__): m.__name__ for m in (random, secrets, uuid)}


class _Watch:
    """The profile function of one trace: the first impure read user code makes."""

    def __init__(self, name: str):
        self.name = name
        self.found: Optional[str] = None

    def __call__(self, frame, event: str, arg) -> None:
        if event != "c_call" or self.found is not None:
            return
        try:
            name = IMPURE_CALLS.get(arg)
        except TypeError:  # an unhashable callable is none of them
            return
        if name is None:
            return
        caller, through = frame, None
        while caller is not None and os.path.abspath(caller.f_code.co_filename) in _NAMES_BY_FILE:
            through = (f"{_NAMES_BY_FILE[os.path.abspath(caller.f_code.co_filename)]}."
                       f"{caller.f_code.co_qualname}()")
            caller = caller.f_back
        from graphc.guards import is_user_code  # guards imports this module
        if caller is None or not is_user_code(caller.f_code.co_filename):
            return
        if through is not None:
            name = f"{through} (which calls {name})"
        self.found = f"{name} ({caller.f_code.co_filename}:{caller.f_lineno})"
        raise TraceError(self.message)

    @property
    def message(self) -> str:
        return (f"compile({self.name}): the function calls {self.found} while it is traced; "
                f"a compiled call does not run its Python code, so the value read would be a "
                f"constant of the graph, the same at every call, where eager calls read a new "
                f"one. Read it outside the compiled function and pass it in as an argument")


@contextlib.contextmanager
def refused(name: str, watch: bool = True) -> Iterator[None]:
    """Raises a TraceError if the code run inside reads the clock or the OS's entropy
    (:data:`IMPURE_CALLS`) from user code; ``watch=False`` (the function reaches no
    :func:`is_source`) watches nothing. Nested uses (a compiled function inlined into another's
    trace) and a profiler already installed leave the watching as it is."""
    if not watch or sys.getprofile() is not None:
        yield
        return
    watch = _Watch(name)  # (sys.setprofile watches this thread only)
    sys.setprofile(watch)
    try:
        yield
    finally:
        sys.setprofile(None)
    if watch.found is not None:  # the user's code caught the error raised at the call
        raise TraceError(watch.message)
