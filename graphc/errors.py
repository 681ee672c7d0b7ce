"""Errors graphc raises to users. IR-level errors are re-exported so one ``except`` catches all."""
from __future__ import annotations

from ir.errors import (  # noqa: F401
    DTypeError,
    IntegerDivisionByZero,
    IRError,
    ParseError,
    ShapeError,
    VerifyError,
)


class GraphcError(Exception):
    """Base class of graphc's own (non-IR) errors."""


class TraceError(GraphcError, RuntimeError):
    """Python code inside ``@graphc.compile`` needed a value that is only known at run time.
    A RuntimeError, as the errors of PyTorch's ``torch.compile`` (``torch._dynamo.exc``) are."""


class AutogradError(GraphcError, RuntimeError):
    """Misuse of autograd: backward through a non-scalar without a gradient, in-place changes
    to tensors that backward still needs, and the like."""


class CheckpointError(GraphcError):
    """A file given to ``graphc.load`` is not a valid graphc checkpoint."""


class ArgumentError(GraphcError, ValueError, RuntimeError):
    """An argument value a function does not take (an unknown mode name, a float where an int
    is needed): a ValueError, and a RuntimeError as PyTorch raises it."""


class ArgumentTypeError(GraphcError, TypeError):
    """An argument of the wrong Python type: a list, NumPy array or None where a tensor is
    needed, a string where a size is. A TypeError, as PyTorch's "argument 'input' (position 1)
    must be Tensor, not list" is."""


class ArgumentDTypeError(DTypeError, TypeError):
    """A tensor argument of a dtype the function does not take: float indices or targets where
    integer ones are needed, an integer input where a floating point one is. A RuntimeError (and
    NotImplementedError), as PyTorch's "expected scalar type Long" / "not implemented for
    'Long'" are, and a TypeError, as graphc's earlier releases raised it."""


class UnsupportedArgumentError(ArgumentError, NotImplementedError):
    """A mode a function does not have, or an input rank its mode does not take
    (``interpolate(mode='bilinearr')``, ``pad(mode='reflct')``, bilinear of a 3-D input): a
    NotImplementedError, as PyTorch raises there, and still an ArgumentError (a ValueError)."""


class IndexArgumentError(GraphcError, IndexError):
    """An index argument of the wrong dtype or rank (a float tensor used as indices, a matrix
    given to ``index_select``): an IndexError, as PyTorch's. Index *values* out of range are
    ``ir.errors.IndexRangeError``."""
