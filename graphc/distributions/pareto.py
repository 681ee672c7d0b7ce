"""``torch.distributions.pareto``'s import path: graphc defines ``Pareto`` in ``weibull.py``."""
from graphc.distributions.weibull import Pareto

__all__ = ["Pareto"]
