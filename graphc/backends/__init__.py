"""``graphc.backends``: PyTorch's backend flags (``graphc.backends.cudnn``, ``.mps``).

Not to be confused with the top-level ``backends`` package (graphc's code generators), which
graphc's own modules import by its absolute name; this subpackage only holds the switches that
PyTorch programs set at their top, so that they run unchanged.

    >>> import graphc
    >>> import graphc.backends.cudnn as cudnn
    >>> cudnn.enabled
    True
    >>> graphc.backends.mps.is_available()
    False
"""
from graphc.backends import cudnn, mps

__all__ = ["cudnn", "mps"]
