"""Typed scalar expressions (the bodies of elementwise ops, ``ir.scalar``) as ONNX nodes.

Each primitive becomes the ONNX operator that means the same, or a few of them where ONNX
runtimes differ from graphc's definition (see ``ir/scalar/expr.py``): ``trunc`` from
``Floor``/``Ceil``, C's integer division and remainder with ``INT_MIN / -1`` defined, integer
``pow`` by squaring (onnxruntime's goes through double), Kahan's ``log1p`` and ``expm1``,
``atan2`` and ``hypot`` with C99's special cases. 8- and 16-bit integers compute in int32 and
wrap back, as C's integer promotion does.

    >>> from graphc.onnx.builder import OnnxBuilder
    >>> from ir import scalar as S
    >>> x = S.var("x", dtypes.f32)
    >>> scalars = ScalarLowering(OnnxBuilder(opset=17))
    >>> scalars.lower(S.maximum(S.exp(x), 0.0), {"x": "input"})
    'Max_3'
    >>> [n.op_type for n in scalars.b.nodes]
    ['Exp', 'Constant', 'Max']
"""
from __future__ import annotations

import math

from graphc.onnx.builder import OnnxBuilder, onnx_dtype
from graphc.onnx.errors import OnnxExportError
from ir import dtypes
from ir.scalar import ScalarExpr

COMPARISONS = {"eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater",
                "ge": "GreaterOrEqual"}
# scalar primitives that are one ONNX operator of the same operands
_SCALAR_DIRECT = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow",
                  "neg": "Neg", "abs": "Abs", "sign": "Sign", "maximum": "Max",
                  "minimum": "Min", "exp": "Exp", "log": "Log", "tanh": "Tanh", "sqrt": "Sqrt",
                  "sin": "Sin", "cos": "Cos", "erf": "Erf", "floor": "Floor", "ceil": "Ceil",
                  "round": "Round", "tan": "Tan", "asin": "Asin", "acos": "Acos",
                  "atan": "Atan", "sinh": "Sinh", "cosh": "Cosh", "asinh": "Asinh",
                  "acosh": "Acosh", "atanh": "Atanh", "select": "Where",
                  "logical_and": "And", "logical_or": "Or", "logical_not": "Not"}


def narrow(dtype: dtypes.DType) -> bool:
    """8- and 16-bit integers, which the lowerings compute in int32 (ONNX runtimes lack many
    of their kernels)."""
    return dtype.is_int and dtype.bits < 32


class ScalarLowering:
    """Writes scalar expressions into an :class:`OnnxBuilder` as elementwise ONNX nodes
    (operands broadcast as NumPy's do)."""

    def __init__(self, builder: OnnxBuilder):
        self.b = builder

    def lower(self, expr: ScalarExpr, env: dict[str, str]) -> str:
        """The ONNX value computing ``expr`` elementwise (its variables named by ``env``)."""
        return self.scalar(expr, env, {})

    def scalar(self, expr: ScalarExpr, env: dict[str, str], memo: dict[int, str]) -> str:
        """``expr`` with the values of shared subexpressions (by ``id``) in ``memo``."""
        done = memo.get(id(expr))
        if done is not None:
            return done
        name = self._scalar(expr, env, memo)
        memo[id(expr)] = name
        return name

    def _scalar(self, expr: ScalarExpr, env: dict[str, str], memo: dict[int, str]) -> str:
        op, b = expr.op, self.b
        if op == "var":
            return env[expr.value]
        if op == "const":
            return b.number(expr.value, expr.dtype)
        args = [self.scalar(a, env, memo) for a in expr.args]
        if op == "cast":
            return b.node("Cast", args, to=onnx_dtype(expr.dtype))
        dtype = expr.args[-1].dtype  # the operands' dtype (select: of its two values)
        if not narrow(dtype):
            return self._primitive(op, args, dtype)
        # 8- and 16-bit integers compute in int32 and wrap back, as C's integer promotion:
        # ONNX leaves many of their kernels out (Neg of uint8, Where or Max of int16, ...)
        wide = [b.cast(a, e.dtype, dtypes.i32) if narrow(e.dtype) else a
                for a, e in zip(args, expr.args)]
        result = self._primitive(op, wide, dtypes.i32)
        return b.cast(result, dtypes.i32, expr.dtype) if narrow(expr.dtype) else result

    def _primitive(self, op: str, args: list[str], dtype: dtypes.DType) -> str:
        """The ONNX nodes of scalar primitive ``op`` on operands of ``dtype``."""
        b = self.b
        if op in ("eq", "ne", "lt", "le", "gt", "ge"):
            if dtype.is_bool and op not in ("eq", "ne"):  # ONNX orders numbers only
                args = [b.cast(a, dtypes.bool_, dtypes.i32) for a in args]
            if op == "ne":
                return b.node("Not", [b.node("Equal", args)])
            return b.node(COMPARISONS[op], args)
        if op in ("bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not"):
            logical = {"bitwise_and": "And", "bitwise_or": "Or", "bitwise_xor": "Xor",
                       "bitwise_not": "Not"}[op]
            if dtype.is_bool:
                return b.node(logical, args)
            if b.opset < 18:
                raise OnnxExportError(f"graphc.onnx.export: integer {op} needs ONNX opset 18 "
                                      f"or newer (BitwiseAnd, ...); this export uses opset "
                                      f"{b.opset}: pass opset_version=18")
            return b.node("Bitwise" + logical, args)
        if op == "trunc":
            x = args[0]
            negative = b.node("Less", [x, self._zero(dtype)])
            return b.node("Where", [negative, b.node("Ceil", [x]), b.node("Floor", [x])])
        if op == "pow" and dtype.is_int:
            return self._integer_pow(args[0], args[1], dtype)
        if op == "pow":  # an exponent of 0.5 is sqrt, as graphc's reference (ir.scalar.evaluate
            # .power) and PyTorch compute it: -0.0 stays -0.0 and -inf gives NaN (Pow: +0, inf)
            half = b.node("Equal", [args[1], self._number(0.5, dtype)])
            return b.node("Where", [half, b.node("Sqrt", [args[0]]), b.node("Pow", args)])
        if op in ("fmod", "trunc_div") and dtype.is_int:
            return self._integer_division(op, args[0], args[1], dtype)
        if op == "fmod":
            return b.node("Mod", args, fmod=1)
        if op == "rsqrt":
            return b.node("Reciprocal", [b.node("Sqrt", args)])
        if op in ("log2", "log10"):
            base = 2.0 if op == "log2" else 10.0
            return b.node("Div", [b.node("Log", args), self._number(math.log(base), dtype)])
        if op == "exp2":
            return b.node("Pow", [self._number(2.0, dtype), args[0]])
        if op == "log1p":
            return self._log1p(args[0], dtype)
        if op == "expm1":
            return self._expm1(args[0], dtype)
        if op == "hypot":
            return self._hypot(args[0], args[1], dtype)
        if op == "atan2":
            return self._atan2(args[0], args[1], dtype)
        if op == "copysign":
            magnitude = b.node("Abs", [args[0]])
            return b.node("Where", [self._signbit(args[1], dtype),
                                    b.node("Neg", [magnitude]), magnitude])
        onnx_op = _SCALAR_DIRECT.get(op)
        if onnx_op is None:  # a new scalar primitive: say so rather than guess
            raise OnnxExportError(f"graphc.onnx.export: the scalar primitive '{op}' has no "
                                  f"ONNX lowering")
        return b.node(onnx_op, args)

    def _number(self, value: float, dtype: dtypes.DType) -> str:
        return self.b.number(value, dtype)

    def _zero(self, dtype: dtypes.DType) -> str:
        return self._number(0, dtype)

    def _signbit(self, x: str, dtype: dtypes.DType) -> str:
        """Whether ``x`` is negative, -0.0 included (1 / -0.0 is -inf)."""
        b, zero = self.b, self._zero(dtype)
        negative_zero = b.node("And", [b.node("Equal", [x, zero]),
                                       b.node("Less", [b.node("Reciprocal", [x]), zero])])
        return b.node("Or", [b.node("Less", [x, zero]), negative_zero])

    def _integer_division(self, op: str, x: str, y: str, dtype: dtypes.DType) -> str:
        """C's integer division or remainder, with graphc's INT_MIN / -1 = INT_MIN (and
        remainder 0): the C operation traps there, so -1 divides by negation."""
        b = self.b
        by_minus_one = b.node("Equal", [y, self._number(-1, dtype)])
        divisor = b.node("Where", [by_minus_one, self._number(1, dtype), y])
        if op == "fmod":
            return b.node("Where", [by_minus_one, self._zero(dtype),
                                    b.node("Mod", [x, divisor], fmod=1)])
        return b.node("Where", [by_minus_one, b.node("Neg", [x]), b.node("Div", [x, divisor])])

    def _integer_pow(self, x: str, n: str, dtype: dtypes.DType) -> str:
        """x ** n by squaring, wrapping around as graphc's integers do: onnxruntime's integer
        Pow goes through double, which rounds results above 2**53 and saturates overflow."""
        b = self.b
        one, two = self._number(1, dtype), self._number(2, dtype)
        result, power, rest = one, x, n
        for _ in range(dtype.bits - 1):  # one step per bit of a non-negative exponent
            odd = b.node("Equal", [b.node("Mod", [rest, two]), one])
            result = b.node("Where", [odd, b.node("Mul", [result, power]), result])
            power = b.node("Mul", [power, power])
            rest = b.node("Div", [rest, two])
        return result

    def _log1p(self, x: str, dtype: dtypes.DType) -> str:
        """log(1 + x) without losing small x: Kahan's log(u) * x / (u - 1), u = 1 + x."""
        b, one = self.b, self._number(1.0, dtype)
        u = b.node("Add", [one, x])
        u_minus_1 = b.node("Sub", [u, one])
        exact = b.node("Div", [b.node("Mul", [b.node("Log", [u]), x]), u_minus_1])
        tiny = b.node("Equal", [u, one])
        infinite = b.node("IsInf", [x], detect_negative=0)
        return b.node("Where", [tiny, x, b.node("Where", [infinite, x, exact])])

    def _expm1(self, x: str, dtype: dtypes.DType) -> str:
        """exp(x) - 1 without losing small x: Kahan's (u - 1) * x / log(u), u = exp(x)."""
        b, one = self.b, self._number(1.0, dtype)
        u = b.node("Exp", [x])
        u_minus_1 = b.node("Sub", [u, one])
        exact = b.node("Div", [b.node("Mul", [u_minus_1, x]), b.node("Log", [u])])
        minus_one = self._number(-1.0, dtype)
        result = b.node("Where", [b.node("Equal", [u_minus_1, minus_one]), minus_one, exact])
        result = b.node("Where", [b.node("IsInf", [u], detect_negative=0), u, result])
        return b.node("Where", [b.node("Equal", [u, one]), x, result])

    def _hypot(self, x: str, y: str, dtype: dtypes.DType) -> str:
        """sqrt(x² + y²) scaled by the larger magnitude (no overflow); inf wins over NaN."""
        b, one, zero = self.b, self._number(1.0, dtype), self._zero(dtype)
        ax, ay = b.node("Abs", [x]), b.node("Abs", [y])
        big, small = b.node("Max", [ax, ay]), b.node("Min", [ax, ay])
        ratio = b.node("Div", [small, big])
        scaled = b.node("Mul", [big, b.node("Sqrt", [b.node("Add", [one, b.node(
            "Mul", [ratio, ratio])])])])
        result = b.node("Where", [b.node("Equal", [big, zero]), zero, scaled])
        infinite = b.node("Or", [b.node("IsInf", [ax]), b.node("IsInf", [ay])])
        return b.node("Where", [infinite, self._number(math.inf, dtype), result])

    def _atan2(self, y: str, x: str, dtype: dtypes.DType) -> str:
        """C's atan2 from Atan: quadrants, signed zeros and infinities as C99 says."""
        b = self.b
        pi = self._number(math.pi, dtype)
        zero = self._zero(dtype)
        y_negative = self._signbit(y, dtype)
        turn = b.node("Where", [y_negative, b.node("Neg", [pi]), pi])  # ±pi, the sign of y
        base = b.node("Atan", [b.node("Div", [y, x])])
        result = b.node("Where", [b.node("Less", [x, zero]), b.node("Add", [base, turn]), base])
        # x = ±0: ±pi/2 by the sign of y; both zero: ±0 or ±pi by the signs of y and x
        half = b.node("Where", [y_negative, self._number(-0.5 * math.pi, dtype),
                                self._number(0.5 * math.pi, dtype)])
        both_zero = b.node("Where", [self._signbit(x, dtype), turn, y])
        at_zero = b.node("Where", [b.node("Equal", [y, zero]), both_zero, half])
        x_zero = b.node("And", [b.node("Equal", [x, zero]), b.node("Not", [b.node("IsNaN", [y])])])
        result = b.node("Where", [x_zero, at_zero, result])
        # both infinite: ±pi/4 or ±3pi/4
        quarter = b.node("Where", [b.node("Less", [x, zero]), self._number(0.75 * math.pi, dtype),
                                   self._number(0.25 * math.pi, dtype)])
        corner = b.node("Where", [y_negative, b.node("Neg", [quarter]), quarter])
        both_inf = b.node("And", [b.node("IsInf", [x]), b.node("IsInf", [y])])
        return b.node("Where", [both_inf, corner, result])
