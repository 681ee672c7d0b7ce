"""``torch.distributions.half_cauchy``'s import path: graphc defines ``HalfCauchy`` in ``half_normal.py``."""
from graphc.distributions.half_normal import HalfCauchy

__all__ = ["HalfCauchy"]
