"""Primitive op families. Importing this package registers every op in :mod:`ir.registry`."""
from ir.ops import elementwise, reduce, movement, linalg, index, sources, conv  # noqa: F401
