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
