"""Scalar expressions for CUDA kernels: the numba renderer's rules, with ``math`` functions.

numba-cuda lowers ``math.exp`` and friends to libdevice (``__nv_expf`` for float32 operands),
but not NumPy's ufuncs on scalars, so the math primitives here call ``math``; f32 results are
wrapped in ``np.float32(...)`` (a no-op on the device, where they are f32 already; on the
simulator, where ``math`` computes in double, it rounds as the device does). ``math.floor`` and
``math.ceil`` return integers in numba, so ``floor``/``ceil`` are helpers that keep floats:
NaN, infinities and whole numbers unchanged, a zero result with the operand's sign (``np.floor``
of -0.0 is -0.0, ``np.ceil`` of -0.5 is -0.0). ``trunc``, ``round`` (``rint``: half to even)
and ``exp2``, which ``math`` lacks or returns as integers, call libdevice (``__nv_truncf``,
``__nv_rintf``, ``__nv_exp2f``; ``backends.cuda.simulator`` stands in for them on the
simulator). Integer ``fmod``/``trunc_div`` are never rendered: they run as library calls.

    >>> from ir.dtypes import f32
    >>> from ir.scalar import var, exp
    >>> CudaScalarRenderer().render([exp(var("x", f32))], {"x": "x"})[1]
    ['np.float32(math.exp(x))']
"""
from __future__ import annotations

from backends.numba.scalar import HELPERS, ScalarRenderer

_MATH = ("exp", "log", "log1p", "expm1", "tanh", "sqrt", "sin", "cos", "tan", "asin", "acos",
         "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "log2", "log10", "atan2", "hypot",
         "copysign", "fmod")
_LIBDEVICE = ("trunc", "round", "exp2")  # libdevice's names: truncf/trunc, rintf/rint, ...


def _math(name: str):
    def rule(r, args, e):
        if not e.dtype.is_float:  # integer fmod: a library call, never a kernel
            raise NotImplementedError(f"integer {name} is not rendered: it runs as a library "
                                      "call (its reference raises on a zero divisor)")
        call = f"math.{name}({', '.join(args)})"
        return call if e.dtype.name == "f64" else f"np.{e.dtype.numpy.name}({call})"
    return rule


def _libdevice(name: str):
    symbol = {"round": "rint"}.get(name, name)

    def rule(r, args, e):
        return f"libdevice.{symbol}{'f' if e.dtype.name == 'f32' else ''}({args[0]})"
    return rule


def _rounding(name: str):
    def rule(r, args, e):
        return f"{r.helper(f'{name}_{e.dtype.name}')}({args[0]})"
    return rule


def _multiply(r, args, e):
    """A float product rounded on its own (``__nv_fmul_rn``/``__nv_dmul_rn``): libNVVM would
    otherwise contract ``a*b + c`` into one FMA (its default ``-fma=1``; numba-cuda's ``jit``
    has no option against it), which keeps the exact residual of cancellations where NumPy,
    the reference, rounds the product first (binary_cross_entropy: 6e291 instead of -0.0)."""
    if e.dtype.name == "f32":
        return f"libdevice.fmul_rn({args[0]}, {args[1]})"
    if e.dtype.name == "f64":
        return f"libdevice.dmul_rn({args[0]}, {args[1]})"
    return f"({args[0]} * {args[1]})"


class CudaScalarRenderer(ScalarRenderer):
    """The numba rules, math primitives replaced and float products kept out of FMAs (see the
    module doc)."""

    FUNCTIONS = {**ScalarRenderer.FUNCTIONS, **{name: f"math.{name}" for name in _MATH}}

    def __init__(self) -> None:
        super().__init__()
        self.rules.update({name: _math(name) for name in _MATH})
        self.rules.update({name: _libdevice(name) for name in _LIBDEVICE})
        self.rules.update({"floor": _rounding("floor"), "ceil": _rounding("ceil"),
                           "rsqrt": _rsqrt, "mul": _multiply})


def _rsqrt(r, args, e):
    """1 / sqrt(x), both rounded in the node's dtype (as NumPy computes it)."""
    one = "1.0" if e.dtype.name == "f64" else f"np.{e.dtype.numpy.name}(1.0)"
    return f"({one} / {_math('sqrt')(r, args, e)})"


def _rounding_helper(name: str, dtype: str, whole: str) -> str:
    t = f"np.{dtype}"
    return (f"def {name}_{'f32' if dtype == 'float32' else 'f64'}(x):\n"
            f"    # np.{name}: NaN, inf and whole numbers (|x| >= {whole}) stay; a zero result\n"
            f"    # keeps the sign of x\n"
            f"    if not abs(x) < {whole}:\n"
            f"        return x\n"
            f"    return {t}(math.copysign(math.{name}(x), x))\n")


CUDA_HELPERS: dict[str, str] = {
    **HELPERS,
    **{f"{name}_{short}": _rounding_helper(name, dtype, whole)
       for name in ("floor", "ceil")
       for short, dtype, whole in (("f32", "float32", "8388608.0"),
                                   ("f64", "float64", "4503599627370496.0"))},
}
