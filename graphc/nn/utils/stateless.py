"""``torch.nn.utils.stateless``: the older home of ``functional_call``, deprecated since
PyTorch 2.0 in favour of ``torch.func.functional_call``, which it calls.

    >>> import warnings
    >>> import graphc
    >>> layer = graphc.nn.Linear(2, 1, bias=False)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     out = functional_call(layer, {"weight": graphc.ones(1, 2)}, (graphc.ones(1, 2),))
    >>> out.tolist()
    [[2.0]]
"""
from __future__ import annotations

from graphc.func.functional_call import functional_call as _functional_call
from graphc.user_warnings import warn

__all__ = ["functional_call"]


def functional_call(module, parameters_and_buffers, args=None, kwargs=None, *,
                    tie_weights: bool = True, strict: bool = False):
    """``graphc.func.functional_call``, with PyTorch's ``FutureWarning`` (``args=None``
    passes no positional argument)."""
    warn("`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0 "
         "and will be removed in a future version of PyTorch. Please use "
         "`torch.func.functional_call` instead which is a drop-in replacement.",
         FutureWarning)
    return _functional_call(module, parameters_and_buffers, () if args is None else args,
                            kwargs, tie_weights=tie_weights, strict=strict)
