"""``torch.nn.parameter``'s names: :class:`Parameter` and the lazy modules'
:class:`UninitializedParameter`.

    >>> import graphc
    >>> graphc.nn.parameter.Parameter is graphc.nn.Parameter
    True
"""
from graphc.nn.lazy import UninitializedParameter
from graphc.nn.module import Parameter

__all__ = ["Parameter", "UninitializedParameter"]
