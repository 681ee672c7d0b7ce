"""Named results of the ops that answer ``(values, indices)``, as ``torch.return_types``.

Each is a named tuple called like the function that returns it, so both PyTorch idioms work:

    >>> import graphc
    >>> values, indices = graphc.sort(graphc.tensor([2.0, 1.0]))
    >>> result = graphc.sort(graphc.tensor([2.0, 1.0]))
    >>> type(result).__name__, result.indices.tolist()
    ('sort', [1, 0])
"""
from __future__ import annotations

from collections import namedtuple

sort = namedtuple("sort", ["values", "indices"])
topk = namedtuple("topk", ["values", "indices"])
kthvalue = namedtuple("kthvalue", ["values", "indices"])
median = namedtuple("median", ["values", "indices"])
cummax = namedtuple("cummax", ["values", "indices"])
cummin = namedtuple("cummin", ["values", "indices"])
aminmax = namedtuple("aminmax", ["min", "max"])
mode = namedtuple("mode", ["values", "indices"])
slogdet = namedtuple("slogdet", ["sign", "logabsdet"])

__all__ = ["aminmax", "cummax", "cummin", "kthvalue", "median", "mode", "slogdet", "sort", "topk"]
