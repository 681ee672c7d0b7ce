"""Backend registry: ``backends.get(name).compile(graph) -> Executable``.

    >>> import backends
    >>> "interpreter" in backends.available()
    True
"""
from __future__ import annotations

from typing import Callable

_FACTORIES: dict[str, Callable[[], object]] = {}
_INSTANCES: dict[str, object] = {}


class BackendError(Exception):
    """Unknown backend, or a backend that cannot run here."""


def register(name: str, factory: Callable[[], object]) -> None:
    """Registers a backend by name; ``factory()`` is called on first use (imports stay lazy)."""
    _FACTORIES[name] = factory


def available() -> list[str]:
    """Names of all registered backends."""
    return sorted(_FACTORIES)


def get(name: str):
    """The backend called ``name``."""
    if name not in _FACTORIES:
        raise BackendError(f"unknown backend {name!r}; available: {', '.join(available())}")
    if name not in _INSTANCES:
        _INSTANCES[name] = _FACTORIES[name]()
    return _INSTANCES[name]


def _interpreter():
    from backends.interpreter import InterpreterBackend
    return InterpreterBackend()


register("interpreter", _interpreter)
