"""``torch.distributions.chi2``'s import path: graphc defines ``Chi2`` in ``gamma.py``."""
from graphc.distributions.gamma import Chi2

__all__ = ["Chi2"]
