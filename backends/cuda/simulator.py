"""Warp shuffles and device math for numba's CUDA simulator, which has neither.

Under ``NUMBA_ENABLE_CUDASIM=1`` each CUDA thread of a block is a Python thread
(``numba.cuda.simulator.kernel.BlockThread``: ``thread_id`` is its linear index in the block,
``syncthreads()`` its barrier, ``_manager`` its block's runner). :func:`shfl_down_sync`
exchanges values through a slot per thread kept on the block's runner instead of registers.
Every thread of the block must call it at the same point (graphc's reductions do: all warps run
every shuffle), as on hardware every lane named in the mask must.

:data:`math` stands in for Python's ``math`` in kernels: on the device ``math.log(-1.0)`` is NaN
and ``math.exp(1e4)`` is inf, where Python's raise; NumPy's functions compute what the device
does (in the operand's precision). Imported only by generated modules running on the simulator;
it imports nothing of numba.
"""
from __future__ import annotations

import math as _python_math
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np

WARP = 32


def shfl_down_sync(mask: int, value, delta: int):
    """``value`` of the lane ``delta`` above this one in the same warp; a lane with none above
    keeps its own value (what ``__shfl_down_sync`` returns there)."""
    thread: Any = threading.current_thread()  # a simulator BlockThread
    exchange = thread._manager.__dict__.setdefault("graphc_shuffle_exchange", {})
    me = thread.thread_id
    thread.syncthreads()  # every thread has read the previous exchange
    exchange[me] = value
    thread.syncthreads()
    if me % WARP + delta < WARP:
        return exchange[me + delta]
    return value


math = SimpleNamespace(
    exp=np.exp, log=np.log, log1p=np.log1p, expm1=np.expm1, tanh=np.tanh, sqrt=np.sqrt,
    sin=np.sin, cos=np.cos, floor=np.floor, ceil=np.ceil, copysign=np.copysign,
    tan=np.tan, asin=np.arcsin, acos=np.arccos, atan=np.arctan, sinh=np.sinh, cosh=np.cosh,
    asinh=np.arcsinh, acosh=np.arccosh, atanh=np.arctanh, log2=np.log2, log10=np.log10,
    atan2=np.arctan2, hypot=np.hypot, fmod=np.fmod,
    erf=_python_math.erf,  # defined everywhere (NaN in, NaN out)
)


def _in(dtype, fn):
    return lambda x: fn(dtype(x))  # computed in the libdevice function's precision


def _product(dtype):
    def multiply(x, y):  # rounded in the operands' precision, as __nv_fmul_rn/__nv_dmul_rn
        return dtype(x) * dtype(y)
    return multiply


#: the libdevice functions generated kernels call (the simulator has none)
libdevice = SimpleNamespace(
    fmul_rn=_product(np.float32), dmul_rn=_product(np.float64),
    truncf=_in(np.float32, np.trunc), trunc=_in(np.float64, np.trunc),
    rintf=_in(np.float32, np.rint), rint=_in(np.float64, np.rint),
    exp2f=_in(np.float32, np.exp2), exp2=_in(np.float64, np.exp2),
)
