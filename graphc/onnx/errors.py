"""The errors of ONNX export (as ``torch.onnx.errors``): RuntimeErrors, as PyTorch raises.

    >>> from graphc.onnx.errors import OnnxExportError, UnsupportedOperatorError
    >>> issubclass(UnsupportedOperatorError, OnnxExportError), issubclass(OnnxExportError,
    ...                                                                   RuntimeError)
    (True, True)
"""
from __future__ import annotations

from graphc.errors import GraphcError


class OnnxExportError(GraphcError, RuntimeError):
    """graphc cannot write this program as ONNX (a size ONNX cannot follow, state written
    back, a bad argument); the message says what and where."""


class UnsupportedOperatorError(OnnxExportError):
    """An IR op that no ONNX operator expresses (the message names the op and its IR line)."""
