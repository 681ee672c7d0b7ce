"""Scalar expressions as LLVM IR: one small function per primitive of ``ir.scalar``.

``RULES`` maps each primitive's name to ``rule(r, args, expr) -> ir.Value``, where ``r`` is the
:class:`ScalarRenderer` (its ``builder`` and helpers), ``args`` the rendered operands and
``expr`` the node (its dtype, and its operands' dtypes). Each rule reproduces what
``ir.scalar.evaluate`` computes (NumPy in the node's dtype):

- arithmetic and comparisons are plain IEEE instructions, no fast-math flags and no FMA
  contraction, so they match NumPy bit for bit; integers wrap around (no ``nsw``);
- ``maximum``/``minimum`` keep NaN and pick as NumPy does: ``a if a > b or a is NaN else b``
  (so ``maximum(0.0, -0.0)`` is ``-0.0``, as ``np.maximum`` gives);
- float -> int casts truncate; NaN, infinities and out-of-range values give INT_MIN, as NumPy
  does on x86 (the evaluator leaves them unspecified), never LLVM poison; to 8- and 16-bit
  integers through i64, wrapping around (``ir.dtypes.convert``);
- u8 is an LLVM ``i8`` compared, extended and converted as unsigned;
- float ``pow`` by a constant -1, 0, 1, 2, 3 or 4 is multiplications or a reciprocal
  (``ir.scalar.POW_BY_MULTIPLICATION``: exact for -1, 0, 1, 2; within an ulp for 3 and 4);
- transcendental functions call libm (``expf``, ``tanhf``, ... through LLVM intrinsics or
  declared externals; ``asin acos atan atan2 sinh cosh tan asinh acosh atanh hypot`` have no
  LLVM intrinsic and are libm calls), within a few ulp of NumPy's own SIMD routines, not bit
  for bit; ``floor ceil trunc`` and ``round`` (``llvm.roundeven``), ``copysign`` and float
  ``fmod`` (``frem``) are exact;
  ``erf`` of f32 is ``erf`` in f64 rounded once, as the reference computes it;
- with ``fast_math``, f32 ``exp``/``expm1``/``log``/``log1p``/``tanh``/``erf`` and the
  sigmoid body are inlined approximations instead (:mod:`backends.llvm.fastmath`: vectorizable,
  within the ulp bounds documented there); f64 always calls libm.

Bools are ``i1`` in registers (and ``i8`` in memory, see :func:`memory_type`). f16 is
``half`` and bf16 its bits (an ``i16``), in registers and memory: a primitive on them computes
in f32 and rounds its result back (:mod:`backends.llvm.half`), which is what NumPy's float16
and ``ml_dtypes``' bfloat16 loops compute (in float32, rounded once). The ops' own bodies
already convert f16/bf16 operands to f32 and round once (``OpDef.scalar_body``); this covers
what else reaches a kernel in those dtypes (``max``'s fold, loads' padding, sort keys).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from llvmlite import ir  # type: ignore[import-untyped]

from backends.llvm import fastmath, half
from ir.dtypes import DType, f32, f64
from ir.scalar import (
    PRIMITIVES,
    ROOT_EXPONENTS,
    ScalarExpr,
    root_of,
    small_integer_exponent,
)

_TYPES = {"f32": ir.FloatType(), "f64": ir.DoubleType(), "i32": ir.IntType(32),
          "i64": ir.IntType(64), "bool": ir.IntType(1), "i16": ir.IntType(16),
          "i8": ir.IntType(8), "u8": ir.IntType(8),  # u8: an i8 read as unsigned
          **half.TYPES}
I64 = ir.IntType(64)


def value_type(dtype: DType) -> ir.Type:
    """The LLVM type of one value of ``dtype`` in registers (bool: ``i1``)."""
    return _TYPES[dtype.name]


def memory_type(dtype: DType) -> ir.Type:
    """The LLVM type of one element of ``dtype`` in memory (bool: ``i8``, as NumPy stores it)."""
    return ir.IntType(8) if dtype.is_bool else _TYPES[dtype.name]


class ScalarRenderer:
    """Renders scalar expressions with one builder; shared subexpressions are rendered once."""

    def __init__(self, builder: ir.IRBuilder, fast_math: bool = False):
        self.builder = builder
        self.module: ir.Module = builder.module
        self.fast_math = fast_math  # f32 transcendentals as inlined approximations

    def render(self, expr: ScalarExpr, env: Mapping[str, ir.Value]) -> ir.Value:
        """``expr`` with its variables bound to the values in ``env``."""
        done: dict[int, ir.Value] = {}

        def walk(e: ScalarExpr) -> ir.Value:
            if id(e) not in done:
                if e.op == "var":
                    done[id(e)] = env[e.value]
                elif self.fast_math and (x := fastmath.sigmoid_operand(e)) is not None:
                    done[id(e)] = fastmath.sigmoid(self.builder, walk(x))
                elif half.computes_in_f32(e):
                    done[id(e)] = self._in_f32(e, [walk(a) for a in e.args])
                else:
                    done[id(e)] = RULES[e.op](self, [walk(a) for a in e.args], e)
            return done[id(e)]

        return walk(expr)

    def _in_f32(self, e: ScalarExpr, args: list[ir.Value]) -> ir.Value:
        """``e``, a primitive with f16/bf16 operands or result, computed in f32 (its f16/bf16
        operands converted exactly) and its f16/bf16 result rounded to nearest even."""
        b = self.builder
        wide = [half.to_f32(b, x, a.dtype) if half.is_half(a.dtype) else x
                for x, a in zip(args, e.args)]
        wide_e = ScalarExpr(e.op, tuple(_widened(a) for a in e.args), _wide(e.dtype), e.value)
        result = RULES[e.op](self, wide, wide_e)
        return half.from_f32(b, result, e.dtype) if half.is_half(e.dtype) else result

    def intrinsic(self, name: str, dtype: DType, args: list[ir.Value]) -> ir.Value:
        t = value_type(dtype)
        fn = self.module.declare_intrinsic(f"llvm.{name}", [t],
                                           ir.FunctionType(t, [t] * len(args)))
        return self.builder.call(fn, args)

    def libm(self, name: str, dtype: DType, args: list[ir.Value]) -> ir.Value:
        """A libm function of ``dtype`` (``tanhf`` for f32, ``tanh`` for f64)."""
        symbol = name + ("f" if dtype.name == "f32" else "")
        fn = self.module.globals.get(symbol)
        if fn is None:
            t = value_type(dtype)
            fn = ir.Function(self.module, ir.FunctionType(t, [t] * len(args)), symbol)
        return self.builder.call(fn, args)


Rule = Callable[[ScalarRenderer, list[ir.Value], ScalarExpr], ir.Value]

def _wide(dtype: DType) -> DType:
    return f32 if half.is_half(dtype) else dtype


def _widened(e: ScalarExpr) -> ScalarExpr:
    """A stand-in for operand ``e`` in f32 (rules read their operands' dtypes only)."""
    return ScalarExpr("var", (), f32, "wide") if half.is_half(e.dtype) else e


def _arith(float_op: str, int_op: str) -> Rule:
    def rule(r, args, e):
        return getattr(r.builder, float_op if e.dtype.is_float else int_op)(*args)
    return rule


def _compare(op: str) -> Rule:
    """IEEE comparisons: ordered (false on NaN), except ``!=`` (true on NaN); ints signed, bools
    and u8 unsigned (false < true)."""
    def rule(r, args, e):
        b, operand = r.builder, e.args[0].dtype
        if operand.is_float:
            return (b.fcmp_unordered if op == "!=" else b.fcmp_ordered)(op, *args)
        return _icmp(b, operand)(op, *args)
    return rule


def _icmp(b: ir.IRBuilder, dtype: DType):
    """The integer comparison of ``dtype``: unsigned for bools and u8, else signed."""
    return b.icmp_unsigned if dtype.is_bool or dtype.is_unsigned else b.icmp_signed


def _extremum(op: str) -> Rule:
    """``a if (a op b) or a is NaN else b``: what np.maximum/np.minimum return."""
    def rule(r, args, e):
        b, (x, y) = r.builder, args
        if e.dtype.is_float:
            wins = b.or_(b.fcmp_ordered(op, x, y), b.fcmp_unordered("uno", x, x))
        else:
            wins = _icmp(b, e.dtype)(op, x, y)
        return b.select(wins, x, y)
    return rule


def _neg(r, args, e):
    return r.builder.fneg(args[0]) if e.dtype.is_float else r.builder.neg(args[0])


def _abs(r, args, e):
    (x,) = args
    if e.dtype.is_float:
        return r.intrinsic("fabs", e.dtype, [x])
    if e.dtype.is_unsigned:
        return x
    b = r.builder
    return b.select(b.icmp_signed("<", x, ir.Constant(x.type, 0)), b.neg(x), x)  # INT_MIN stays


def _sign(r, args, e):
    """-1, 0 or 1; NaN stays NaN and -0.0 gives +0.0 (np.sign)."""
    b, (x,) = r.builder, args
    t = x.type
    zero, one, minus = ir.Constant(t, 0), ir.Constant(t, 1), ir.Constant(t, -1)
    if e.dtype.is_float:
        magnitude = b.select(b.fcmp_ordered("<", x, zero), minus,
                             b.select(b.fcmp_unordered("uno", x, x), x, zero))
        return b.select(b.fcmp_ordered(">", x, zero), one, magnitude)
    if e.dtype.is_unsigned:
        return b.select(b.icmp_unsigned(">", x, zero), one, zero)
    return b.select(b.icmp_signed(">", x, zero), one,
                    b.select(b.icmp_signed("<", x, zero), minus, zero))


def _pow(r, args, e):
    if not e.dtype.is_float:
        # the kernel builder keeps integer pow out of kernels (its reference rejects negative
        # exponents); reaching here is a bug
        raise NotImplementedError("integer pow is not rendered: it runs as a library call")
    # exponents of 0.5 and -0.5 are sqrt and rsqrt, as the reference computes them
    # (ir.scalar.evaluate.power): pow(-0.0, 0.5) is -0.0, pow(-0.0, -0.5) -inf, -inf gives NaN
    roots = {"sqrt": lambda x: r.intrinsic("sqrt", e.dtype, [x]),
             "rsqrt": lambda x: _rsqrt(r, [x], e)}
    root = root_of(e)
    if root is not None:
        return roots[root](args[0])
    n = small_integer_exponent(e)
    if n is None or e.dtype not in (f32, f64):
        b, (x, y) = r.builder, args
        result = r.intrinsic("pow", e.dtype, args)
        for exponent, name in ROOT_EXPONENTS.items():
            at = b.fcmp_ordered("==", y, ir.Constant(y.type, exponent))
            result = b.select(at, roots[name](x), result)
        return result
    # multiplications instead of a scalar libm call (see ir.scalar.POW_BY_MULTIPLICATION)
    b, x = r.builder, args[0]
    one = ir.Constant(x.type, 1.0)
    if n == 0:
        return one            # pow(x, 0) is 1 for every x, NaN included
    if n == -1:
        return b.fdiv(one, x)
    square = b.fmul(x, x)
    return {1: x, 2: square, 3: b.fmul(square, x), 4: b.fmul(square, square)}[n]


def _fast_or(name: str, rule: Rule) -> Rule:
    """The inlined approximation of ``name`` for f32 under fast math, else ``rule``."""
    approximate = fastmath.FUNCTIONS[name]

    def pick(r, args, e):
        if r.fast_math and e.dtype == f32:
            return approximate(r.builder, args[0])
        return rule(r, args, e)
    return pick


def _math_intrinsic(name: str) -> Rule:
    rule: Rule = lambda r, args, e: r.intrinsic(name, e.dtype, args)
    return _fast_or(name, rule) if name in fastmath.FUNCTIONS else rule


def _math_libm(name: str) -> Rule:
    rule: Rule = lambda r, args, e: r.libm(name, e.dtype, args)
    return _fast_or(name, rule) if name in fastmath.FUNCTIONS else rule


def _fmod(r, args, e):
    """C's fmod: ``frem`` is exactly it on floats (LLVM lowers it to ``fmodf``/``fmod``)."""
    if not e.dtype.is_float:
        # integer division is kept out of kernels (it raises on a zero divisor: library call)
        raise NotImplementedError("integer fmod is not rendered: it runs as a library call")
    return r.builder.frem(*args)


def _trunc_div(r, args, e):
    raise NotImplementedError("integer division is not rendered: it runs as a library call "
                              "(its reference raises on a zero divisor)")


def _erf(r, args, e):
    """erf in f64 rounded once to the node's dtype: what the ``erf`` reference computes."""
    if e.dtype == f64:
        return r.libm("erf", f64, args)
    wide = r.builder.fpext(args[0], value_type(f64))
    return r.builder.fptrunc(r.libm("erf", f64, [wide]), value_type(e.dtype))


def _rsqrt(r, args, e):
    one = ir.Constant(value_type(e.dtype), 1.0)
    return r.builder.fdiv(one, r.intrinsic("sqrt", e.dtype, args))


def _cast(r, args, e):
    """NumPy's astype: float -> int truncates (INT_MIN out of range), anything -> bool is
    ``x != 0`` (NaN is true), bool -> number is 0 or 1. f16 and bf16 convert through f32
    (exactly from them; to them rounding once, or as :func:`half.from_f64` says from f64)."""
    b, (x,), source, target = r.builder, args, e.args[0].dtype, e.dtype
    if source == target:
        return x
    if half.is_half(source):
        x, source = half.to_f32(b, x, source), f32
        if source == target:
            return x
    if half.is_half(target):
        if source == f64:
            return half.from_f64(b, x, target)
        return half.from_f32(b, _convert(b, x, source, f32), target)
    return _convert(b, x, source, target)


def _convert(b: ir.IRBuilder, x: ir.Value, source: DType, target: DType) -> ir.Value:
    """``x`` of ``source`` as ``target``, neither of them f16 nor bf16 (see :func:`_cast`)."""
    t = value_type(target)
    if target.is_bool:
        zero = ir.Constant(x.type, 0)
        return b.fcmp_unordered("!=", x, zero) if source.is_float else b.icmp_unsigned(
            "!=", x, zero)
    if source.is_float and target.is_float:
        return b.fpext(x, t) if source.numpy.itemsize < target.numpy.itemsize else b.fptrunc(x, t)
    if source.is_float:
        # in range: truncate; NaN, +-inf and out of range: INT_MIN, what NumPy gives on x86
        # (the evaluator leaves it unspecified). The select keeps fptosi's poison unused.
        # 8- and 16-bit targets go through i64 and wrap around (ir.dtypes.convert).
        bits = max(target.bits, 64 if target.bits < 32 else 0)
        wide = t if bits == target.bits else I64
        low, high = ir.Constant(x.type, -2.0 ** (bits - 1)), ir.Constant(x.type, 2.0 ** (bits - 1))
        in_range = b.and_(b.fcmp_ordered(">=", x, low), b.fcmp_ordered("<", x, high))
        whole = b.select(in_range, b.fptosi(x, wide), ir.Constant(wide, -2 ** (bits - 1)))
        return whole if wide is t else b.trunc(whole, t)
    if target.is_float:
        return b.uitofp(x, t) if source.is_bool or source.is_unsigned else b.sitofp(x, t)
    if source.numpy.itemsize == target.numpy.itemsize and not source.is_bool:
        return x
    if source.is_bool or source.is_unsigned:
        return b.zext(x, t) if source.bits < target.bits or source.is_bool else b.trunc(x, t)
    return b.sext(x, t) if source.numpy.itemsize < target.numpy.itemsize else b.trunc(x, t)


def constant(e: ScalarExpr) -> ir.Constant:
    """A typed constant (NaN, infinities and -0.0 included)."""
    t = value_type(e.dtype)
    if half.is_half(e.dtype):
        return half.constant(e.value, e.dtype)
    if e.dtype.is_float:
        return ir.Constant(t, float(e.value))
    value = int(e.value)
    if e.dtype.is_unsigned and value >= 1 << (e.dtype.bits - 1):
        value -= 1 << e.dtype.bits  # the same bits as a signed LLVM integer (u8 200 is i8 -56)
    return ir.Constant(t, value)


def _select(r, args, e):
    return r.builder.select(*args)


def _not(r, args, e):
    return r.builder.not_(args[0])


RULES: dict[str, Rule] = {
    "const": lambda r, args, e: constant(e),
    "cast": _cast,
    "add": _arith("fadd", "add"), "sub": _arith("fsub", "sub"), "mul": _arith("fmul", "mul"),
    "div": _arith("fdiv", "fdiv"), "pow": _pow,
    "neg": _neg, "abs": _abs, "sign": _sign,
    "maximum": _extremum(">"), "minimum": _extremum("<"),
    "eq": _compare("=="), "ne": _compare("!="), "lt": _compare("<"), "le": _compare("<="),
    "gt": _compare(">"), "ge": _compare(">="),
    "select": _select,
    "logical_and": _arith("and_", "and_"), "logical_or": _arith("or_", "or_"),
    "logical_not": _not, "bitwise_not": _not,
    "bitwise_and": _arith("and_", "and_"), "bitwise_or": _arith("or_", "or_"),
    "bitwise_xor": _arith("xor", "xor"),
    "exp": _math_intrinsic("exp"), "log": _math_intrinsic("log"),
    "sin": _math_intrinsic("sin"), "cos": _math_intrinsic("cos"),
    "sqrt": _math_intrinsic("sqrt"), "floor": _math_intrinsic("floor"),
    "ceil": _math_intrinsic("ceil"), "rsqrt": _rsqrt,
    "trunc": _math_intrinsic("trunc"), "round": _math_intrinsic("roundeven"),
    "copysign": _math_intrinsic("copysign"), "log2": _math_intrinsic("log2"),
    "log10": _math_intrinsic("log10"), "exp2": _math_intrinsic("exp2"),
    **{name: _math_libm(name) for name in ("tan", "asin", "acos", "atan", "sinh", "cosh",
                                           "asinh", "acosh", "atanh", "atan2", "hypot")},
    "fmod": _fmod, "trunc_div": _trunc_div,
    "log1p": _math_libm("log1p"), "expm1": _math_libm("expm1"), "tanh": _math_libm("tanh"),
    "erf": _fast_or("erf", _erf),
}
# every primitive but ``var`` (bound by the caller) has a rule
assert set(PRIMITIVES) - set(RULES) == {"var"}

# primitives whose rule is exact (bit for bit the evaluator's result); the others call libm
INEXACT = frozenset(("exp", "log", "sin", "cos", "log1p", "expm1", "tanh", "erf", "pow", "tan",
                     "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "log2",
                     "log10", "exp2", "atan2", "hypot"))
EXACT = frozenset(RULES) - INEXACT
