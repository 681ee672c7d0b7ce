"""``GRAPHC_LOG``: show each stage of ``graphc.compile`` through standard :mod:`logging`.

``GRAPHC_LOG`` is a comma-separated list of topics (or ``all``), read when graphc is imported:

* ``graph``: the traced graph, and the graph after the passes (logger ``graphc.graph``);
* ``passes``: each pass with its time, whether it changed the graph and the node counts
  (logger ``graphc.passes``);
* ``guards``: why a function was traced (first call, or which guard failed) and the guards of
  the new cache entry (logger ``graphc.guards``).

For example ``GRAPHC_LOG=passes,guards python train.py``. The loggers are ordinary ones, so a
program can also turn them on with ``logging.getLogger("graphc.passes").setLevel("INFO")`` and
its own handlers; :func:`configure` is what the environment variable calls::

    >>> import io, logging
    >>> stream = io.StringIO()
    >>> configure("passes", stream)
    ['passes']
    >>> logging.getLogger("graphc.passes").info("dce: 0.1 ms")
    >>> stream.getvalue()
    '[graphc.passes] dce: 0.1 ms\\n'
    >>> configure("", stream)  # turns them off again
    []
"""
from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

TOPICS = ("graph", "passes", "guards")
ENVIRONMENT_VARIABLE = "GRAPHC_LOG"

_HANDLER_MARK = "_graphc_log_handler"


def configure(spec: str | None = None, stream: TextIO | None = None) -> list[str]:
    """Turns on the loggers of the topics in ``spec`` (default: ``$GRAPHC_LOG``) at INFO,
    printing to ``stream`` (default stderr), and turns the others back off. Returns the topics
    turned on; an unknown topic is a ValueError listing the known ones."""
    if spec is None:
        spec = os.environ.get(ENVIRONMENT_VARIABLE, "")
    wanted = [t.strip().lower() for t in spec.split(",") if t.strip()]
    if "all" in wanted:
        wanted = list(TOPICS)
    unknown = [t for t in wanted if t not in TOPICS]
    if unknown:
        raise ValueError(f"{ENVIRONMENT_VARIABLE}: unknown topic(s) {', '.join(unknown)}; "
                         f"known: {', '.join(TOPICS)}, all")
    for topic in TOPICS:
        logger = logging.getLogger(f"graphc.{topic}")
        for handler in [h for h in logger.handlers if getattr(h, _HANDLER_MARK, False)]:
            logger.removeHandler(handler)
        if topic in wanted:
            handler = logging.StreamHandler(stream or sys.stderr)
            handler.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
            setattr(handler, _HANDLER_MARK, True)
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            logger.propagate = False  # printed once, not again by a root handler
        else:
            logger.setLevel(logging.NOTSET)
            logger.propagate = True
    return [t for t in TOPICS if t in wanted]


def configure_from_environment() -> None:
    """Applies ``$GRAPHC_LOG`` if set; a bad value warns instead of breaking ``import graphc``."""
    if not os.environ.get(ENVIRONMENT_VARIABLE):
        return
    try:
        configure()
    except ValueError as exc:
        print(f"graphc: warning: {exc}", file=sys.stderr)
