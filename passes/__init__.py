"""Graph -> Graph passes: declared once with typed options, run as text pipelines.

A pipeline is a string such as ``"dce,autodiff{wrt=[0,2]}"`` (grammar in
:mod:`passes.registry`); :class:`PassManager` runs one with verification, IR printing, timing
and numeric validation (:mod:`passes.manager`); :func:`run` runs one plainly::

    >>> import ir, passes
    >>> g = ir.parse('''func @f(%x: f32[2]) -> (f32[2]) {
    ...   %0: f32[2] = exp %x
    ...   %1: f32[2] = neg %x
    ...   return %1
    ... }''')
    >>> len(passes.run(g, "dce").nodes)
    1
    >>> sorted(passes.PASSES)[:3]
    ['autodiff', 'cse', 'dce']
"""
from passes import autodiff  # registers the autodiff pass
from passes import cse as _cse  # noqa: F401  (registers the cse pass)
from passes import dce as _dce  # noqa: F401  (registers the dce pass)
from passes import fold as _fold  # noqa: F401  (registers the fold pass)
from passes import plan as _plan  # noqa: F401  (registers the plan pass)
from passes import remat as _remat  # noqa: F401  (registers the remat pass)
from passes import simplify as _simplify  # noqa: F401  (registers the simplify pass)
from passes.dce import dce
from passes.fusion import fuse  # registers the fuse pass
from passes.manager import PassManager, PassVerifyError, ValidationError, run
from passes.registry import (
                             PASSES,
                             Pass,
                             PassError,
                             PassResult,
                             Pipeline,
                             get,
                             load_plugin,
                             option,
                             parse_pipeline,
                             register,
)

__all__ = ["PASSES", "Pass", "PassError", "PassManager", "PassResult", "PassVerifyError",
           "Pipeline", "ValidationError", "autodiff", "dce", "fuse", "get", "load_plugin", "option",
           "parse_pipeline", "register", "run"]
