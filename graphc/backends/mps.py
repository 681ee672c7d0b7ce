"""``graphc.backends.mps``: Apple's Metal backend, which graphc does not have.

    >>> import graphc
    >>> graphc.backends.mps.is_available(), graphc.backends.mps.is_built()
    (False, False)
"""
from __future__ import annotations


def is_available() -> bool:
    """False: graphc has no Metal (MPS) backend, so ``"mps"`` is never a device here."""
    return False


def is_built() -> bool:
    """False: graphc is not built with MPS support."""
    return False


__all__ = ["is_available", "is_built"]
