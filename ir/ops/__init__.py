"""Primitive op families. Importing this package registers every op in :mod:`ir.registry`."""
# Registration order is the order of ir.all_ops() (docs, tests): keep the families in this order.
from ir.ops import elementwise, reduce, movement, linalg, index, sources, conv  # noqa: F401, I001
from ir.ops import scan, sort  # noqa: F401, I001
from ir.ops import rounding, transcendental  # noqa: F401  (elementwise families)
from ir.ops import collective  # noqa: F401  (data-parallel jobs: graphc.distributed)
from ir.ops import fused  # noqa: F401  (after the primitives: its body is made of them)
