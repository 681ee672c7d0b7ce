"""``graphc.special``: PyTorch's ``torch.special`` namespace. The gamma, error-function and
Bessel families are composites in ``graphc/special_functions.py``, the incomplete gamma
functions are in ``graphc/incomplete_gamma.py``, the Hurwitz zeta function in
``graphc/special_zeta.py``; the rest are graphc's existing functions under
``torch.special``'s names.

    >>> import graphc
    >>> graphc.special.expit(graphc.tensor([0.0])).tolist()
    [0.5]
"""
from __future__ import annotations

from graphc.elementwise_extras import sinc
from graphc.functions import erf, expm1, log1p, log_softmax, logsumexp, softmax
from graphc.incomplete_gamma import gammainc, gammaincc
from graphc.math_functions import exp2, round
from graphc.special_functions import (
    digamma,
    entr,
    erfc,
    erfcx,
    expit,
    gammaln,
    i0,
    i0e,
    i1,
    i1e,
    log_ndtr,
    logit,
    multigammaln,
    ndtr,
    ndtri,
    polygamma,
    psi,
    xlog1py,
    xlogy,
)
from graphc.special_zeta import zeta
from graphc.torch_functions import erfinv

__all__ = ["digamma", "entr", "erf", "erfc", "erfcx", "erfinv", "exp2", "expit", "expm1",
           "gammainc", "gammaincc", "gammaln", "i0", "i0e", "i1", "i1e", "log1p", "log_ndtr",
           "log_softmax", "logit", "logsumexp", "multigammaln", "ndtr", "ndtri", "polygamma",
           "psi", "round", "sinc", "softmax", "xlog1py", "xlogy", "zeta"]
