"""Errors raised by the IR layer. graphc re-exports them; all derive from ``IRError``."""
from __future__ import annotations


class IRError(Exception):
    """Base class of every error the IR layer raises."""


class ShapeError(IRError, ValueError, RuntimeError):
    """Operand shapes or dtypes that an op's type rule rejects. A RuntimeError too, as PyTorch's
    shape errors are ("mat1 and mat2 shapes cannot be multiplied", "The size of tensor a must
    match..."), so ``except RuntimeError:`` written for PyTorch catches it; still a ValueError
    for code written against graphc's earlier releases."""


class DTypeError(ShapeError, NotImplementedError):
    """An op applied to a dtype it has no meaning for (bitwise ops on floats). A
    NotImplementedError (so a RuntimeError) too, as PyTorch's "not implemented for 'Float'"
    errors are, and still a ShapeError, since the type rule is what rejects it."""


class AxisError(ShapeError, IndexError):
    """An axis (dim) outside a tensor's rank; an IndexError too, as PyTorch's "Dimension out
    of range" is."""


class DimTypeError(IRError, TypeError):
    """A dim (axis) argument that is not an int (``transpose(0.0, 1)``); a TypeError, as
    PyTorch's "argument 'dim0' must be int, not float"."""


class IndexRangeError(IRError, IndexError, RuntimeError):
    """An index value outside the axis it indexes (found when the values are known). An
    IndexError, as PyTorch's ``index_select``/``Embedding`` raise, and a RuntimeError, as its
    ``gather``/``scatter`` do (graphc builds the former from the latter)."""


class IntegerDivisionByZero(IRError, RuntimeError, ZeroDivisionError):
    """An integer division (``//``, ``%``, ``fmod``, ``div`` with a rounding mode) by zero: a
    RuntimeError, as PyTorch's "ZeroDivisionError" on CPU is, and a ZeroDivisionError."""


class VerifyError(IRError):
    """A graph breaks an IR invariant; the message names the node and the rule."""


class ParseError(IRError):
    """Malformed IR text, with the position and a caret display of the offending line.

    ``str(err)`` is ``file:line:col: error: message`` followed by the source line and a caret
    (for an empty line too, such as the only line of an empty file); ``source_line=None`` leaves
    both out.
    """

    def __init__(self, message: str, line: int, column: int, source_line: str | None = None,
                 filename: str = "<string>"):
        self.message = message
        self.line = line
        self.column = column
        self.source_line = source_line
        self.filename = filename
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.filename}:{self.line}:{self.column}: error: {self.message}"
        if self.source_line is not None:
            # Tabs before the column stay tabs under the line, so the caret lines up however
            # wide the terminal shows them.
            before = self.source_line[:self.column - 1]
            indent = "".join(c if c == "\t" else " " for c in before)
            indent += " " * (self.column - 1 - len(before))
            text += "\n" + self.source_line + "\n" + indent + "^"
        return text


class RewriteError(IRError, ValueError):
    """A rewrite that cannot be done as asked (e.g. outlining a set of nodes that is not
    convex); the graph is left unchanged."""


class ScalarTypeError(IRError, TypeError):
    """A scalar expression applies a primitive to dtypes it does not take (``ir.scalar``)."""
