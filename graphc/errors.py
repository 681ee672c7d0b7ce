"""Errors graphc raises to users. IR-level errors are re-exported so one ``except`` catches all."""
from __future__ import annotations

from ir.errors import DTypeError, IRError, ParseError, ShapeError, VerifyError  # noqa: F401


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
