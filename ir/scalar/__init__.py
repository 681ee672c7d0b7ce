"""Typed scalar expressions: what one element of an elementwise op computes.

Every elementwise op in the registry declares its body as a :class:`ScalarExpr` built from a
closed set of typed primitives (``expr``), and every reduction its combiner, identity and
accumulator dtype (``reduction``). :func:`evaluate` is the oracle for them; code generators
render the same expressions, one small function per primitive.

    >>> from ir import scalar as S
    >>> from ir.dtypes import f32
    >>> x = S.var("x", f32)
    >>> body = S.mul(0.5, S.add(1.0, S.tanh(S.mul(0.5, x))))   # sigmoid, all in f32
    >>> print(body)
    mul(0.5:f32, add(1.0:f32, tanh(mul(0.5:f32, x))))
"""
from ir.scalar.evaluate import evaluate
from ir.scalar.expr import (
    PRIMITIVES,
    Primitive,
    ScalarExpr,
    abs_,
    add,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    cast,
    ceil,
    const,
    cos,
    div,
    eq,
    erf,
    exp,
    expm1,
    floor,
    format_const,
    ge,
    gt,
    highest,
    le,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    lowest,
    lt,
    maximum,
    minimum,
    mul,
    ne,
    neg,
    pow_,
    rsqrt,
    select,
    sign,
    sin,
    sqrt,
    sub,
    tanh,
    to_text,
    var,
)
from ir.scalar.reduction import ArgReduction, Reduction, fold, fold_arg

__all__ = [
    "PRIMITIVES", "ArgReduction", "Primitive", "Reduction", "ScalarExpr", "abs_", "add",
    "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "cast", "ceil", "const", "cos",
    "div", "eq", "erf", "evaluate", "exp", "expm1", "floor", "fold", "fold_arg", "format_const",
    "ge", "gt", "highest", "le", "log", "log1p", "logical_and", "logical_not", "logical_or",
    "lowest", "lt", "maximum", "minimum", "mul", "ne", "neg", "pow_", "rsqrt", "select", "sign",
    "sin", "sqrt", "sub", "tanh", "to_text", "var",
]
