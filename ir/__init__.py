"""graphc's intermediate representation: dtypes, tensor types, the op registry, graphs, text.

    >>> import ir
    >>> g = ir.parse('''
    ... func @f(%x: f32[2]) -> (f32[2]) {
    ...   %0: f32[2] = exp %x
    ...   return %0
    ... }''')
    >>> ir.verify(g); print(ir.to_text(g).splitlines()[1])
      %0: f32[2] = exp %x
"""
from ir import ops as _ops  # noqa: F401  (registers every primitive op)
from ir import rewriter  # outline, inline, replace_nodes, erase_nodes
from ir.dtypes import DType, bf16, bool_, f16, f32, f64, i8, i16, i32, i64, promote, u8
from ir.errors import DTypeError, IRError, ParseError, RewriteError, ShapeError, VerifyError
from ir.graph import Graph, Node, SourceLoc, Value
from ir.parser import parse
from ir.printer import to_text
from ir.registry import OpDef, all_ops
from ir.registry import get as get_op
from ir.types import TensorType, broadcast_shapes
from ir.verify import verify

__all__ = [
    "DType", "bf16", "bool_", "f16", "f32", "f64", "i8", "i16", "i32", "i64", "promote", "u8",
    "DTypeError", "IRError", "ParseError", "RewriteError", "ShapeError", "VerifyError",
    "Graph", "Node", "SourceLoc", "Value", "OpDef", "all_ops", "get_op",
    "TensorType", "broadcast_shapes", "to_text", "parse", "verify", "rewriter",
]
