"""Primitive op families. Importing this package registers every op in :mod:`ir.registry`."""
from ir.ops import elementwise, reduce, movement, linalg, index, sources, conv  # noqa: F401
from ir.ops import fused  # noqa: F401  (after the primitives: its body is made of them)
