"""Scalar expressions as Python source for numba: one small function per primitive.

``RULES`` maps each primitive of ``ir.scalar`` to ``rule(r, args, expr) -> str``, where ``r`` is
the :class:`ScalarRenderer` (its function table and helpers), ``args`` the operands' source
text and ``expr`` the node. Every rule returns an *atom* (a name, a call or a parenthesized
expression), so rules compose without precedence worries. What each rule preserves of
``ir.scalar.evaluate`` (NumPy in the node's dtype) under numba's typing:

- f32 stays f32: constants are typed (``np.float32(0.5)``), and numba computes ``f32 op f32``
  and ``np.exp(f32)`` in f32; f64 constants are plain Python floats;
- numba widens arithmetic on integers narrower than 64 bits to i64, so u8, i8, i16 and i32
  results are wrapped in ``np.int32(...)`` (``np.uint8``, ...), which truncates: the same
  wrap-around as NumPy's arithmetic in those dtypes;
- ``maximum``/``minimum`` keep NaN (a helper, ``a if a > b or a != a else b``, as in the llvm
  backend); float -> int casts of NaN, inf or out-of-range values give INT_MIN, as NumPy on x86;
- float division by zero gives inf/NaN because kernels are compiled with
  ``error_model="numpy"`` (numba's default raises ZeroDivisionError);
- transcendentals call NumPy's scalar functions, which numba lowers to libm: within a few ulp of
  NumPy's own SIMD loops, not bit for bit (``EXACT`` lists the primitives that are);
- f16 and bf16 values are their bits (``uint16``): a primitive on them converts its operands to
  f32 exactly and rounds its result to nearest even (:mod:`backends.numba.halfbits`), as the
  interpreter and the llvm backend compute them.

    >>> from ir.dtypes import f32
    >>> from ir.scalar import var, select, gt, mul
    >>> x = var("x", f32)
    >>> r = ScalarRenderer()
    >>> statements, (value,) = r.render([select(gt(x, 0.0), x, mul(x, 0.01))], {"x": "x"})
    >>> value
    '(x if (x > np.float32(0.0)) else (x * np.float32(0.009999999776482582)))'
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from backends.llvm.half import computes_in_f32
from ir.dtypes import DType, f32, f64, i8, i16, i32, i64, u8
from ir.scalar import PRIMITIVES, ROOT_EXPONENTS, ScalarExpr, root_of

NUMBA_TYPES = {"f32": "float32", "f64": "float64", "u8": "uint8", "i8": "int8",
               "i16": "int16", "i32": "int32", "i64": "int64", "bool": "boolean",
               "f16": "uint16", "bf16": "uint16"}  # halves: their bits
NARROW_INTS = frozenset(("u8", "i8", "i16", "i32"))  # numba computes them in i64: wrap back


def constant(e: ScalarExpr) -> str:
    """A typed constant's source: ``np.float32(0.5)``, ``np.float32(np.nan)``, ``0.5`` (f64),
    ``np.int32(-1)``, ``(-1)`` (i64), ``True``."""
    dtype = e.dtype
    if dtype.is_bool:
        return repr(bool(e.value))
    if dtype.is_low_precision_float:  # its bits (backends.numba.halfbits)
        bits = np.asarray(e.value, dtype.numpy).reshape(1).view(np.uint16)[0]
        return f"np.uint16({int(bits)})"
    if dtype.is_float:
        value = float(e.value)
        if math.isnan(value):
            text = "np.nan"
        elif math.isinf(value):
            text = "np.inf" if value > 0 else "-np.inf"
        else:
            text = repr(value)
        if dtype != f64:
            return f"np.{dtype.numpy.name}({text})"
        return f"({text})" if text.startswith("-") else text
    text = str(int(e.value))
    if dtype.name in NARROW_INTS:
        return f"np.{dtype.numpy.name}({text})"
    return f"({text})" if text.startswith("-") else text


class ScalarRenderer:
    """Renders scalar expressions to Python source; shared subexpressions become locals.

    ``FUNCTIONS`` names the callable of each float math primitive (the CUDA renderer will
    swap NumPy's for ``math``'s); ``helpers`` collects the names of module-level helper
    functions (``HELPERS``) the rendered code calls.
    """

    FUNCTIONS = {**{name: f"np.{name}" for name in
                    ("exp", "log", "log1p", "expm1", "tanh", "sqrt", "sin", "cos", "floor",
                     "ceil", "trunc", "tan", "sinh", "cosh", "log2", "log10", "exp2",
                     "copysign", "fmod", "hypot")},
                 "round": "np.rint", "asin": "np.arcsin", "acos": "np.arccos",
                 "atan": "np.arctan", "asinh": "np.arcsinh", "acosh": "np.arccosh",
                 "atanh": "np.arctanh", "atan2": "np.arctan2"}

    def __init__(self) -> None:
        self.rules: dict[str, Rule] = dict(RULES)
        self.helpers: set[str] = set()
        self.half_conversions: set[str] = set()  # names imported from backends.numba.halfbits
        self._locals = 0

    def half_conversion(self, name: str) -> str:
        """The name of a conversion of :mod:`backends.numba.halfbits`, marked as used."""
        self.half_conversions.add(name)
        return name

    def to_f32(self, x: str, dtype: DType) -> str:
        """The f16/bf16 bits ``x`` as the float32 of their value."""
        return f"{self.half_conversion(f'{dtype.name}_to_f32')}({x})"

    def from_float(self, x: str, source: DType, dtype: DType) -> str:
        """The f32 or f64 ``x`` rounded to the bits of an f16/bf16."""
        name = self.half_conversion(f"{source.name}_to_{dtype.name}")
        return f"{name}(np.{source.numpy.name}({x}))"

    def in_f32(self, e: ScalarExpr, args: list[str]) -> str:
        """``e``, a primitive with f16/bf16 operands or result, computed in f32 (operands
        converted exactly, the result rounded to nearest even)."""
        wide = [self.to_f32(x, a.dtype) if a.dtype.is_low_precision_float else x
                for x, a in zip(args, e.args)]
        widened = tuple(ScalarExpr("var", (), f32, "wide") if a.dtype.is_low_precision_float
                        else a for a in e.args)
        dtype = f32 if e.dtype.is_low_precision_float else e.dtype
        text = self.rules[e.op](self, wide, ScalarExpr(e.op, widened, dtype, e.value))
        return self.from_float(text, f32, e.dtype) if e.dtype.is_low_precision_float else text

    def helper(self, name: str) -> str:
        """The name of a module-level helper (see ``HELPERS``), marked as used."""
        self.helpers.add(name)
        return name

    def render(self, exprs: Sequence[ScalarExpr], env: Mapping[str, str]
               ) -> tuple[list[str], list[str]]:
        """Source for ``exprs`` with variables bound to the names in ``env``: statements that
        bind subexpressions used more than once to locals ``v0, v1, ...``, and one atom per
        expression."""
        uses: dict[int, int] = {}

        def count(e: ScalarExpr) -> None:
            uses[id(e)] = uses.get(id(e), 0) + 1
            if uses[id(e)] == 1:
                for a in e.args:
                    count(a)

        for e in exprs:
            count(e)
        statements: list[str] = []
        done: dict[int, str] = {}

        def walk(e: ScalarExpr) -> str:
            if id(e) not in done:
                if e.op == "var":
                    text = env[e.value]
                else:
                    args = [walk(a) for a in e.args]
                    text = (self.in_f32(e, args) if computes_in_f32(e) else
                            self.rules[e.op](self, args, e))
                    if uses[id(e)] > 1 and e.args:
                        name = f"v{self._locals}"
                        self._locals += 1
                        statements.append(f"{name} = {text}")
                        text = name
                done[id(e)] = text
            return done[id(e)]

        return statements, [walk(e) for e in exprs]


Rule = Callable[[ScalarRenderer, list[str], ScalarExpr], str]


def _wrap(dtype: DType, text: str) -> str:
    """``text`` as an atom of ``dtype``: results of integers narrower than 64 bits truncated
    back to their dtype (numba computes them in i64)."""
    return f"np.{dtype.numpy.name}({text})" if dtype.name in NARROW_INTS else f"({text})"


def _infix(symbol: str) -> Rule:
    return lambda r, args, e: _wrap(e.dtype, f"{args[0]} {symbol} {args[1]}")


def _compare(symbol: str) -> Rule:
    # IEEE like NumPy: NaN compares unequal (``!=`` true), bools compare as False < True
    return lambda r, args, e: f"({args[0]} {symbol} {args[1]})"


def _function(name: str) -> Rule:
    return lambda r, args, e: f"{r.FUNCTIONS[name]}({', '.join(args)})"


def _float_only(name: str) -> Rule:
    """A function of floats; its integer form (integer division, which raises on a zero
    divisor) runs as a library call, never in a kernel."""
    def rule(r, args, e):
        if not e.dtype.is_float:
            raise NotImplementedError(f"integer {name} is not rendered: it runs as a library "
                                      "call (its reference raises on a zero divisor)")
        return _function(name)(r, args, e)
    return rule


def _helper(name: str, typed: bool = False) -> Rule:
    """A call of a module helper; ``typed``: one helper per dtype (``sign_f32``)."""
    def rule(r, args, e):
        return f"{r.helper(f'{name}_{e.dtype.name}' if typed else name)}({', '.join(args)})"
    return rule


def _neg(r, args, e):
    return _wrap(e.dtype, f"-{args[0]}")


def _abs(r, args, e):
    return f"abs({args[0]})" if e.dtype.is_float else _wrap(e.dtype, f"abs({args[0]})")


def _not(r, args, e):
    return f"(not {args[0]})" if e.dtype.is_bool else _wrap(e.dtype, f"~{args[0]}")


def _rsqrt(r, args, e):
    one = constant(ScalarExpr("const", (), e.dtype, e.dtype.numpy.type(1)))
    return f"({one} / {r.FUNCTIONS['sqrt']}({args[0]}))"


def _erf(r, args, e):
    """erf in f64 rounded once to the node's dtype: what the ``erf`` reference computes."""
    if e.dtype == f64:
        return f"math.erf({args[0]})"
    return f"np.{e.dtype.numpy.name}(math.erf(np.float64({args[0]})))"


def _cast(r, args, e):
    """NumPy's astype: float -> int truncates (INT_MIN out of range, a helper), anything ->
    bool is ``x != 0`` (NaN is true), bool -> number is 0 or 1."""
    (x,), source, target = args, e.args[0].dtype, e.dtype
    if source == target:
        return x
    if source.is_low_precision_float:  # exactly f32, then on as from f32
        x, source = r.to_f32(x, source), f32
        if target == f32:
            return x
    if target.is_low_precision_float:  # f64 rounds once to f16 (through f32 to bf16)
        if source == f64:
            return r.from_float(x, f64, target)
        return r.from_float(x if source == f32 else f"np.float32({x})", f32, target)
    if target.is_bool:
        return f"({x} != 0)"
    if source.is_float and target.is_int:
        return f"{r.helper(f'float_to_{target.name}')}({x})"
    return f"np.{target.numpy.name}({x})"


def _pow(r, args, e):
    """Exponents of 0.5 and -0.5 are sqrt and rsqrt, as the reference computes them
    (ir.scalar.evaluate.power): pow(-0.0, 0.5) is -0.0, pow(-0.0, -0.5) -inf, -inf gives
    NaN."""
    power = _infix("**")(r, args, e)
    if not e.dtype.is_float:
        return power
    roots = {name: r.rules[name](r, args[:1], e) for name in ROOT_EXPONENTS.values()}
    root = root_of(e)
    if root is not None:
        return roots[root]
    for exponent, name in ROOT_EXPONENTS.items():
        power = f"({roots[name]} if {args[1]} == {exponent} else {power})"
    return power


def _select(r, args, e):
    return f"({args[1]} if {args[0]} else {args[2]})"


RULES: dict[str, Rule] = {
    "const": lambda r, args, e: constant(e),
    "cast": _cast,
    "add": _infix("+"), "sub": _infix("-"), "mul": _infix("*"), "div": _infix("/"),
    "pow": _pow,
    "neg": _neg, "abs": _abs, "sign": _helper("sign", typed=True),
    "maximum": _helper("maximum"), "minimum": _helper("minimum"),
    "eq": _compare("=="), "ne": _compare("!="), "lt": _compare("<"), "le": _compare("<="),
    "gt": _compare(">"), "ge": _compare(">="),
    "select": _select,
    "logical_and": _infix("&"), "logical_or": _infix("|"), "logical_not": _not,
    "bitwise_not": _not,
    "bitwise_and": _infix("&"), "bitwise_or": _infix("|"), "bitwise_xor": _infix("^"),
    **{name: _function(name) for name in ScalarRenderer.FUNCTIONS},
    "rsqrt": _rsqrt, "erf": _erf,
    "fmod": _float_only("fmod"), "trunc_div": _float_only("trunc_div"),
}
# every primitive but ``var`` (bound by the caller) has a rule
assert set(PRIMITIVES) - set(RULES) == {"var"}

# primitives whose rule is exact (bit for bit the evaluator's result); the others call libm
INEXACT = frozenset(("exp", "log", "sin", "cos", "log1p", "expm1", "tanh", "erf", "pow", "tan",
                     "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "log2",
                     "log10", "exp2", "atan2", "hypot"))
EXACT = frozenset(RULES) - INEXACT


def _sign_helper(dtype: DType) -> str:
    """-1, 0 or 1 of ``dtype``; a float NaN stays NaN and -0.0 gives +0.0 (np.sign)."""
    t = f"np.{dtype.numpy.name}"
    one, zero = ("1.0", "0.0") if dtype.is_float else ("1", "0")
    lines = [f"def sign_{dtype.name}(x):",
             "    if x > 0:", f"        return {t}({one})",
             "    if x < 0:", f"        return {t}(-{one})"]
    if dtype.is_float:
        lines += ["    if x == 0:", f"        return {t}({zero})  # -0.0 too", "    return x  # NaN"]
    else:
        lines += [f"    return {t}({zero})"]
    return "\n".join(lines) + "\n"


def _float_to_int_helper(target: DType) -> str:
    """Truncation; NaN, inf and out of range give INT_MIN, as NumPy on x86. 8- and 16-bit
    targets go through i64 and wrap around (as the llvm backend and ``ir.dtypes.convert``)."""
    bits = max(target.bits, 64 if target.bits < 32 else 0)
    low = -(2 ** (bits - 1))
    name = f"np.{target.numpy.name}"
    whole = f"{name}(x)" if bits == target.bits else f"{name}(np.int64(x))"
    return (f"def float_to_{target.name}(x):\n"
            f"    # truncate; NaN, inf and out of range give INT_MIN, as NumPy on x86\n"
            f"    if {float(low)!r} <= x < {float(-low)!r}:\n"
            f"        return {whole}\n"
            f"    return {name}({low})\n")


# module-level helper functions, by name: source of a function of one or two scalars
HELPERS: dict[str, str] = {
    "maximum": "def maximum(a, b):\n    # np.maximum: NaN wins, either side\n"
               "    return a if a > b or a != a else b\n",
    "minimum": "def minimum(a, b):\n    # np.minimum: NaN wins, either side\n"
               "    return a if a < b or a != a else b\n",
    **{f"float_to_{d.name}": _float_to_int_helper(d) for d in (u8, i8, i16, i32, i64)},
    **{f"sign_{d.name}": _sign_helper(d) for d in (f32, f64, u8, i8, i16, i32, i64)},
}
