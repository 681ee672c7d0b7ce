"""The global random generator behind ``graphc.manual_seed``.

Random ops are counter-based (see ``ir.ops.sources``): every draw only needs a fresh 64-bit seed.
This module hands out that sequence of seeds, so eager factories, ``nn.init`` and compiled
dropout are all reproducible after ``graphc.manual_seed(n)``.

    >>> import graphc
    >>> _ = graphc.manual_seed(0); a = graphc.rand(3)
    >>> _ = graphc.manual_seed(0); b = graphc.rand(3)
    >>> bool((a == b).all())
    True
"""
from __future__ import annotations

import contextlib
import sys

import numpy as np

from graphc.errors import TraceError
from ir.ops.sources import _GOLDEN, splitmix64

_SEED_SALT = 0x5851F42D4C957F2D  # any odd constant: manual_seed(0) must not hash to zero


class Generator:
    """A stream of 64-bit seeds: seed ``k`` is SplitMix64(SplitMix64(initial) + (k + 1) * golden).

    Hashing the initial seed first keeps ``manual_seed(1)`` from replaying ``manual_seed(0)``
    one draw later.
    """

    def __init__(self, seed: int = 0):
        # the number of the trace this generator was made in, if any: there it draws constants
        # (a compiled call makes it anew each time, as eager code does; TraceContext.rng_seed)
        trace = _current_trace()
        self.made_in_trace = None if trace is None else trace.number
        self.manual_seed(seed)

    def _refuse_in_trace(self, action: str) -> None:
        """A compiled call runs the graph, not the Python code that seeded or read a generator
        the function did not make: seeds drawn after a ``manual_seed`` inside it would differ
        from eager calls' at every call but the first (a silently different number)."""
        trace = _current_trace()
        if trace is not None and self.made_in_trace != trace.number:
            who = "graphc's global generator" if self is default_generator else "a generator"
            raise TraceError(
                f"{action} of {who} inside a compiled function: a compiled call does not run "
                f"it again, so its random numbers would differ from eager calls'. Seed (or read) "
                f"the generator outside the compiled function, or make a graphc.Generator(seed) "
                f"inside it and pass it as generator=")

    def manual_seed(self, seed: int) -> Generator:
        self._refuse_in_trace("manual_seed")
        self._base = int(seed) & 0xFFFFFFFFFFFFFFFF
        self._counter = 0
        return self

    def next_seed(self) -> int:
        """The next seed, as a signed 64-bit int (the dtype of the IR's seed operands)."""
        self._counter += 1
        with np.errstate(over="ignore"):
            start = splitmix64(np.array([self._base ^ _SEED_SALT], dtype=np.uint64))
            word = start + np.uint64(self._counter) * _GOLDEN
        return int(splitmix64(word).view(np.int64)[0])

    def get_state(self) -> tuple[int, int]:
        self._refuse_in_trace("get_state")
        return (self._base, self._counter)

    def set_state(self, state: tuple[int, int]) -> None:
        self._refuse_in_trace("set_state")
        self._base, self._counter = state


def _current_trace():
    tracing = sys.modules.get("graphc.tracing")  # not imported yet: no trace is running
    return None if tracing is None else tracing.current()


default_generator = Generator(0)


def manual_seed(seed: int) -> Generator:
    """Seeds graphc's global generator (eager random tensors, init, compiled dropout)."""
    return default_generator.manual_seed(seed)


def next_seed() -> int:
    return default_generator.next_seed()


@contextlib.contextmanager
def fork_rng(devices=None, enabled: bool = True, _caller: str = "fork_rng",
             _devices_kw: str = "devices", device_type=None):
    """Restores graphc's global generator when the block exits (``torch.random.fork_rng``): the
    random numbers drawn inside do not change those drawn after it.

    ``devices`` and ``device_type`` are accepted for PyTorch's signature: graphc has one
    generator for every device, and it is the one forked. ``enabled=False`` forks nothing.

        >>> import graphc
        >>> _ = graphc.manual_seed(0)
        >>> with graphc.random.fork_rng():
        ...     _ = graphc.rand(2)
        >>> a = graphc.rand(2); _ = graphc.manual_seed(0)
        >>> bool((a == graphc.rand(2)).all())
        True
    """
    if devices is not None and not isinstance(devices, (list, tuple)):
        raise TypeError(f"{_caller}: {_devices_kw} must be a list of devices, got "
                        f"{type(devices).__name__}")
    if not enabled:
        yield
        return
    state = default_generator.get_state()
    try:
        yield
    finally:
        default_generator.set_state(state)
