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
    POW_BY_MULTIPLICATION,
    PRIMITIVES,
    ROOT_EXPONENTS,
    Primitive,
    ScalarExpr,
    abs_,
    acos,
    acosh,
    add,
    asin,
    asinh,
    atan,
    atan2,
    atanh,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    cast,
    ceil,
    const,
    copysign,
    cos,
    cosh,
    div,
    eq,
    erf,
    exp,
    exp2,
    expm1,
    floor,
    fmod,
    format_const,
    ge,
    gt,
    highest,
    hypot,
    le,
    log,
    log1p,
    log2,
    log10,
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
    root_of,
    round_,
    rsqrt,
    select,
    sign,
    sin,
    sinh,
    small_integer_exponent,
    sqrt,
    sub,
    tan,
    tanh,
    to_text,
    trunc,
    trunc_div,
    var,
)
from ir.scalar.reduction import ArgReduction, Reduction, fold, fold_arg

__all__ = [
    "ArgReduction", "PRIMITIVES", "Primitive", "Reduction", "ScalarExpr", "abs_", "acos", "acosh",
    "add", "asin", "asinh", "atan", "atan2", "atanh", "bitwise_and", "bitwise_not", "bitwise_or",
    "bitwise_xor", "cast", "ceil", "const", "copysign", "cos", "cosh", "div", "eq", "erf",
    "evaluate", "exp", "exp2", "expm1", "floor", "fmod", "fold", "fold_arg", "format_const", "ge",
    "gt", "highest", "hypot", "le", "log", "log10", "log1p", "log2", "logical_and", "logical_not",
    "logical_or", "lowest", "lt", "maximum", "minimum", "mul", "ne", "neg", "pow_", "round_",
    "rsqrt", "select", "sign", "sin", "sinh", "sqrt", "sub", "tan", "tanh", "to_text", "trunc",
    "trunc_div", "var",
    "POW_BY_MULTIPLICATION", "ROOT_EXPONENTS", "root_of", "small_integer_exponent",
]
