"""``graphc.onnx``: exists so that programs that import it at their top run; export is not
there yet (it comes with issue 11), and calling it says so instead of writing nothing.

    >>> import graphc, graphc.onnx
    >>> try:
    ...     graphc.onnx.export(graphc.nn.Linear(2, 2), graphc.ones(1, 2), "model.onnx")
    ... except NotImplementedError as exc:
    ...     print(str(exc)[:60])
    graphc.onnx.export is not implemented yet (ONNX export comes
"""
from __future__ import annotations


def export(model, args=None, f=None, *more, **options) -> None:
    """Would write ``model`` as an ONNX file; raises NotImplementedError (graphc issue 11)."""
    raise NotImplementedError(
        "graphc.onnx.export is not implemented yet (ONNX export comes with graphc issue 11); "
        "no file was written. Save the weights with graphc.save(model.state_dict(), path) "
        "meanwhile")


def is_in_onnx_export() -> bool:
    """False: graphc never runs a model for an ONNX export."""
    return False


__all__ = ["export", "is_in_onnx_export"]
