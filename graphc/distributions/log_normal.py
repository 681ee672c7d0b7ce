"""``torch.distributions.log_normal``'s import path: graphc defines ``LogNormal`` in
``transformed_distribution.py``."""
from graphc.distributions.transformed_distribution import LogNormal

__all__ = ["LogNormal"]
