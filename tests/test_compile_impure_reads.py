"""Values a compiled function reads from the clock, the OS or per-thread/per-context state.

A compiled call does not run the function's Python code: what that code read while tracing is a
constant of the graph. Clocks and entropy (``time.time()``, ``datetime.now()``,
``os.urandom``) have no state a guard could compare, so reading them while tracing is refused
(as drawing from ``random`` is); ``threading.local`` attributes and ``ContextVar.get()`` are
state, guarded in the thread and context of each call.
"""
import contextvars
import datetime
import logging
import os
import random
import re
import secrets
import threading
import time
import uuid
from datetime import datetime as datetime_class
from time import perf_counter as perf_counter_from_import

import pytest

import graphc

READS = {
    "time.time()": lambda: time.time(),
    "time.time_ns()": lambda: time.time_ns() % 1000,
    "time.perf_counter()": lambda: time.perf_counter(),
    "time.monotonic()": lambda: time.monotonic(),
    "time.process_time()": lambda: time.process_time(),
    "time.localtime()": lambda: time.localtime().tm_sec,
    "datetime.now()": lambda: datetime.datetime.now().microsecond,
    "datetime.utcnow()": lambda: datetime.datetime.utcnow().microsecond,
    "datetime.today()": lambda: datetime_class.today().microsecond,
    "date.today()": lambda: datetime.date.today().day,
    "os.urandom()": lambda: os.urandom(1)[0],
    "uuid.uuid4() (which calls os.urandom())": lambda: uuid.uuid4().int % 7,
    "secrets.token_hex() (which calls os.urandom())": lambda: len(secrets.token_hex(2)),
    "secrets.randbelow() (which calls os.urandom())": lambda: secrets.randbelow(5),
    "random.SystemRandom.random() (which calls os.urandom())":
        lambda: random.SystemRandom().random(),
}


@pytest.mark.parametrize("named", list(READS))
def test_reading_the_clock_or_the_os_entropy_while_tracing_is_refused(named):
    read = READS[named]
    f = graphc.compile(lambda x: x * read())
    with pytest.raises(graphc.TraceError, match=rf"calls {re.escape(named)} "
                       r"\(.*test_compile_impure_reads.py:\d+\) while it is traced.*"
                       r"pass it in as an argument"):
        f(graphc.ones(2))
    assert graphc.ones(2).mul(float(read())).shape == (2,)  # eager reads it, as ever


def test_a_clock_function_imported_by_name_is_refused():
    f = graphc.compile(lambda x: x * perf_counter_from_import())
    with pytest.raises(graphc.TraceError, match=r"time\.perf_counter\(\)"):
        f(graphc.ones(2))


def test_a_read_the_function_catches_is_refused_after_the_call():
    def step(x):
        try:
            stamp = time.time()
        except Exception:  # the refusal raised at the call is caught here
            stamp = 0.0
        return x * (stamp % 7)

    with pytest.raises(graphc.TraceError, match=r"calls time\.time\(\)"):
        graphc.compile(step)(graphc.ones(2))


def test_a_helper_in_the_users_code_counts_as_the_function():
    def stamp():
        return time.monotonic_ns() % 1000

    with pytest.raises(graphc.TraceError, match=r"time\.monotonic_ns\(\)"):
        graphc.compile(lambda x: x + stamp())(graphc.ones(2))


def test_clock_reads_by_graphc_and_by_libraries_are_not_the_functions():
    log = logging.getLogger("test_compile_impure_reads")

    def step(x):
        with graphc.profiler.record_function("step"):  # graphc's own perf_counter_ns
            log.warning("tracing")  # logging stamps the record with time.time_ns()
            time.sleep(0)  # reaches the time module, reads no clock
            return x * 2

    f = graphc.compile(step)
    with graphc.profiler.profile():
        assert f(graphc.ones(2)).tolist() == [2.0, 2.0]
    assert f(graphc.ones(2)).tolist() == [2.0, 2.0]


def test_a_clock_read_in_a_branch_the_trace_does_not_take_is_allowed():
    verbose = False

    def step(x):
        if verbose:
            print("step at", time.time())
        return x * 3

    assert graphc.compile(step)(graphc.ones(2)).tolist() == [3.0, 3.0]


def test_an_inlined_compiled_function_reading_the_clock_is_refused():
    inner = graphc.compile(lambda x: x * time.time())
    outer = graphc.compile(lambda x: inner(x) + 1)
    with pytest.raises(graphc.TraceError, match=r"time\.time\(\)"):
        outer(graphc.ones(2))


def test_a_threading_local_attribute_is_guarded_in_each_thread():
    local = threading.local()
    local.scale = 2.0
    f = graphc.compile(lambda x: x * local.scale)
    assert f(graphc.ones(2)).tolist() == [2.0, 2.0]
    local.scale = 5.0
    assert f(graphc.ones(2)).tolist() == [5.0, 5.0]
    assert "local.scale" in f.entries[-1].reason
    seen = []

    def other_thread():
        local.scale = 7.0  # this thread's own attribute
        seen.append(f(graphc.ones(2)).tolist())

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert seen == [[7.0, 7.0]]
    assert f(graphc.ones(2)).tolist() == [5.0, 5.0]


def test_a_context_variable_is_guarded_in_each_context():
    scale = contextvars.ContextVar("scale", default=2.0)
    f = graphc.compile(lambda x: x * scale.get())
    assert f(graphc.ones(2)).tolist() == [2.0, 2.0]
    token = scale.set(4.0)
    try:
        assert f(graphc.ones(2)).tolist() == [4.0, 4.0]
        assert "scale.get()" in f.entries[-1].reason

        def in_a_copy():
            scale.set(9.0)
            return f(graphc.ones(2)).tolist()

        assert contextvars.copy_context().run(in_a_copy) == [9.0, 9.0]
        assert f(graphc.ones(2)).tolist() == [4.0, 4.0]
    finally:
        scale.reset(token)
    assert f(graphc.ones(2)).tolist() == [2.0, 2.0]


def test_an_unset_context_variable_read_with_a_default_retraces_once_set():
    level = contextvars.ContextVar("level")
    f = graphc.compile(lambda x: x * level.get(1.0))
    assert f(graphc.ones(1)).tolist() == [1.0]
    token = level.set(3.0)
    try:
        assert f(graphc.ones(1)).tolist() == [3.0]
    finally:
        level.reset(token)
