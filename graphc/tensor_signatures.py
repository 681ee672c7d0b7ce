"""Tensor-method call forms PyTorch accepts that the plain forwarding methods did not.

PyTorch lets the first int-list argument of a method be given as varargs: ``x.flip(0, 1)`` is
``x.flip((0, 1))``, ``x.tile(2, 1)`` is ``x.tile((2, 1))``, ``x.squeeze(0, 1)``,
``x.count_nonzero(0, 1)``, ``x.hsplit(1, 3)``. The methods here take both forms (a scan of
``torch.Tensor``'s methods against graphc's with varargs of ints listed exactly these as
missing; ``permute repeat view reshape expand new_* resize_ sum``... already took them). Also
here: unary ``+x`` (``Tensor.__pos__``, :func:`graphc.positive`).

    >>> import graphc
    >>> x = graphc.arange(6).reshape(2, 3)
    >>> x.flip(0, 1).tolist(), x.tile(2, 1).shape, (+x).tolist() == x.tolist()
    ([[5, 4, 3], [2, 1, 0]], (4, 3), True)
"""
from __future__ import annotations

import functools
import operator

from graphc.tensor import Tensor

__all__: list = []

# methods whose first argument is an int list PyTorch also takes as varargs
VARARG_METHODS = ("flip", "tile", "squeeze", "squeeze_", "count_nonzero", "hsplit", "vsplit",
                  "dsplit")


def _is_int(v) -> bool:
    if isinstance(v, bool):
        return False
    try:
        operator.index(v)
    except TypeError:
        return False
    return True


def accept_varargs(method):
    """``method(self, a, b, ...)`` with two or more int positionals is ``method(self, (a, b,
    ...))``; every other call passes through unchanged (so errors stay the method's own)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if len(args) > 1 and all(_is_int(a) for a in args):
            args = (tuple(operator.index(a) for a in args),)
        return method(self, *args, **kwargs)
    wrapper._graphc_varargs = True  # type: ignore[attr-defined]
    return wrapper


def install() -> None:
    """Wraps the methods of ``VARARG_METHODS`` (once each). Run at import and again after
    ``graphc.views.install``: the view wrappers hand the arguments to their stride rules as
    given, so the varargs form must be turned into the tuple form outside them."""
    for name in VARARG_METHODS:
        method = getattr(Tensor, name)
        if not getattr(method, "_graphc_varargs", False):
            setattr(Tensor, name, accept_varargs(method))
    from graphc.elementwise_extras import positive
    Tensor.__pos__ = positive


install()
