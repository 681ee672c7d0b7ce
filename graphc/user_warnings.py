"""``warn``: a warning that points at the user's line, however deep inside graphc it starts.

``warnings.warn(..., stacklevel=n)`` counts frames, so any wrapper between the user and the
function that warns (``autocast_op``, a module's ``__call__``, a compiled function's runner)
made it point into graphc instead. :func:`warn` skips every frame of graphc's own packages
(``graphc``, ``ir``, ``passes``, ``backends``) and of the code graphc generates.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn("look here")
    >>> caught[0].filename.endswith("user_warnings.py")  # a doctest is graphc's own frame
    False
"""
from __future__ import annotations

import os
import sys
import warnings

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_OWN = tuple(os.path.join(_ROOT, package) + os.sep
             for package in ("graphc", "ir", "passes", "backends"))


def _is_own(filename: str) -> bool:
    return filename.startswith(_OWN) or filename.startswith("<graphc")


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` attributed to the first frame outside graphc."""
    frame, level = sys._getframe(1), 1
    while frame is not None and _is_own(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level + 1)


__all__ = ["warn"]
