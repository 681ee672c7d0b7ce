"""Elementwise ops: unary math, binary arithmetic, comparisons, bitwise ops, where, cast,
stop_gradient.

Binary ops broadcast like NumPy and promote like PyTorch (``ir.dtypes.result_type``); float-valued
unary ops (exp, log, ...) on integer inputs compute in f32, as PyTorch does.

Gradient rules that route the incoming gradient to some elements only (relu, maximum, pow at
its edges, where) select it with ``where`` rather than multiplying it by a 0/1 mask, so an
infinite incoming gradient gives 0, not ``0 * inf = nan``, where nothing flows (as PyTorch does).

Each op declares its body as a typed scalar expression (``ir.scalar``, builders ``S.*``): a
function of (operand expressions, attributes, result dtype, common dtype). Operands are cast to
the dtype the op computes in first, exactly as the reference converts its arrays, so the body
and the reference agree bit for bit (tests/test_registry.py checks it on special values).
"""
from __future__ import annotations

import math

import numpy as np

from ir import dtypes
from ir import scalar as S
from ir.emitter import unbroadcast
from ir.errors import DTypeError, ShapeError
from ir.registry import Attr, OpDef, register
from ir.scalar.evaluate import power
from ir.types import TensorType, broadcast_shapes


# -- type rules ------------------------------------------------------------------------------
def same_type(types, attrs):
    return types[0]


def _refuse_bool(op: str, types, message: str) -> None:
    if any(t.dtype.is_bool for t in types):
        raise ShapeError(f"{op}: {message}")


# PyTorch's wording: bools have no arithmetic negation, and `a - b` on bools is no xor.
_NEG_BOOL = ("Negation, the `-` operator, on a bool tensor is not supported. If you are trying "
             "to invert a mask, use the `~` or `logical_not()` operator instead.")
_SUB_BOOL = ("Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
             "trying to invert a mask, use the `~` or `logical_not()` operator instead; for two "
             "masks use the `^` or `logical_xor()` operator.")


def neg_type(types, attrs):
    _refuse_bool("neg", types, _NEG_BOOL)
    return types[0]


def float_type(types, attrs):
    return types[0].with_dtype(dtypes.to_float(types[0].dtype))


def _broadcast(types):
    return broadcast_shapes(*(t.shape for t in types))


def _result_dtype(types):
    return dtypes.result_type(*((t.dtype, t.ndim) for t in types))


def arith_type(types, attrs):
    return TensorType(_result_dtype(types), _broadcast(types))


def sub_type(types, attrs):
    _refuse_bool("sub", types, _SUB_BOOL)
    return arith_type(types, attrs)


def numeric_type(op: str, message: str):
    """``arith_type`` that rejects a bool result, as PyTorch does for ``-`` and ``pow``."""
    def rule(types, attrs):
        out = arith_type(types, attrs)
        if out.dtype.is_bool:
            raise ShapeError(f"{op}: {message} is not supported "
                             f"(got {', '.join(str(t) for t in types)})")
        return out
    return rule


def div_type(types, attrs):
    return TensorType(dtypes.to_float(_result_dtype(types)), _broadcast(types))


def bitwise_type(op):
    """Integer and bool operands only (on bool the ops are logical), promoted like arithmetic."""
    def rule(types, attrs):
        for i, t in enumerate(types):
            if t.dtype.is_float:
                raise DTypeError(f"{op}: operand {i} has dtype {t.dtype}; bitwise ops take "
                                 "integer or bool tensors")
        return arith_type(types, attrs)
    return rule


def compare_type(types, attrs):
    return TensorType(dtypes.bool_, _broadcast(types))


def where_type(types, attrs):
    cond, a, b = types
    if not cond.dtype.is_bool:
        raise ShapeError(f"where: condition must be bool, got {cond.dtype}")
    return TensorType(_result_dtype([a, b]), _broadcast(types))


def cast_type(types, attrs):
    dtype = attrs["dtype"]
    if not isinstance(dtype, dtypes.DType):
        raise ShapeError(f"cast: attribute dtype must be a dtype, got {dtype!r}")
    return types[0].with_dtype(dtype)


# -- reference helpers -----------------------------------------------------------------------
def _as_float(x):
    return x if dtypes.from_numpy(x.dtype).is_float else x.astype(np.float32)


def _common_dtype(arrays) -> dtypes.DType:
    first = arrays[0].dtype
    if all(a.dtype == first for a in arrays):  # the common case, which promotion keeps as it is
        return dtypes.from_numpy(first)
    return dtypes.result_type(*((dtypes.from_numpy(a.dtype), a.ndim) for a in arrays))


def _one_dtype(arrays) -> bool:
    first = arrays[0].dtype
    for a in arrays:
        if a.dtype != first:
            return False
    return True


def _promoted(*arrays):
    """The operands cast to the dtype the op computes in (PyTorch's rule, see result_type)."""
    if _one_dtype(arrays):  # the common case: promotion keeps the dtype, astype each array
        return list(arrays)
    dtype = _common_dtype(arrays).numpy
    return [a.astype(dtype, copy=False) for a in arrays]


def _promoted_float(*arrays):
    """The operands cast once to the float dtype a float-valued op computes in: an i64 operand
    of an f64 division becomes f64 directly, not through f32."""
    if arrays[0].dtype.kind == "f" and _one_dtype(arrays):  # (as above; f16, f32, f64)
        return list(arrays)
    dtype = dtypes.to_float(_common_dtype(arrays)).numpy
    return [a.astype(dtype, copy=False) for a in arrays]


def _binary(fn):
    def reference(a, b):
        # (operands of one dtype, the common case, are what _promoted would give back)
        return fn(a, b) if a.dtype == b.dtype else fn(*_promoted(a, b))
    return reference


def _sign(x):
    return x.copy() if x.dtype == np.bool_ else np.sign(x)  # sign(True) is True, as in PyTorch


def _erf(x):
    # NumPy has no erf; math.erf is exact to the last bit in float64 and keeps us dependency-free.
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype, copy=False)


def _sigmoid(x):
    # exp(min(x, 0)) / (1 + exp(-|x|)): 1 / (1 + exp(-x)) for x >= 0, exp(x) / (1 + exp(x))
    # below; no overflow, and full relative accuracy in the negative tail (the tanh form
    # 0.5 * (1 + tanh(x / 2)) cancels there: sigmoid(-20) came out 0, not 2.1e-9). Branch-free:
    # an np.where of the two forms took 5x the time of the tanh form, this takes 2x.
    with np.errstate(invalid="ignore"):
        tail = np.exp(-np.abs(x))
        tail += 1
        return np.exp(np.minimum(x, 0)) / tail


# -- scalar bodies ---------------------------------------------------------------------------
def _math(fn):
    """A float-valued unary op: the operand converted to the (float) result dtype, then ``fn``."""
    return lambda xs, a, out, common: fn(S.cast(xs[0], out))


def _unless_bool(fn):
    """``fn(x)``, or ``x`` itself on bools (abs, sign and relu of a bool change nothing)."""
    return lambda xs, a, out, common: xs[0] if out.is_bool else fn(xs[0])


def _arith(fn, on_bools=None):
    """A binary op computed in its result dtype; ``on_bools`` is its meaning on bools
    (``add`` is or, ``mul`` is and) where NumPy and PyTorch give it one."""
    def body(xs, a, out, common):
        x, y = (S.cast(v, out) for v in xs)
        return on_bools(x, y) if out.is_bool and on_bools else fn(x, y)
    return body


def _compare(fn):
    """A comparison, computed in the operands' common dtype."""
    return lambda xs, a, out, common: fn(*(S.cast(v, common) for v in xs))


def _sigmoid_body(xs, a, out, common):
    x = S.cast(xs[0], out)  # the form of _sigmoid, bit for bit
    return S.div(S.exp(S.minimum(x, 0.0)), S.add(S.exp(S.neg(S.abs_(x))), 1.0))


# -- gradient helpers ------------------------------------------------------------------------
def _unary(name, type_rule, reference, vjp, scalar, needs_values=True, needs_output=False,
           doc=""):
    register(OpDef(name, "elementwise", 1, type_rule, reference, vjp=vjp, scalar=scalar,
                   needs_values=needs_values, needs_output=needs_output, doc=doc))


def _zero_where(em, cond, g):
    """``g`` with zeros where ``cond`` holds: selected, so an infinite ``g`` gives 0 there."""
    return em.where(cond, em.scalar(0, g), g)


_unary("neg", neg_type, np.negative, lambda em, xs, out, g, a: [em.neg(g)],
       lambda xs, a, out, common: S.neg(xs[0]),
       needs_values=False)
_unary("exp", float_type, lambda x: np.exp(_as_float(x)),
       lambda em, xs, out, g, a: [em.mul(g, out)], _math(S.exp),
       needs_values=False, needs_output=True)
_unary("log", float_type, lambda x: np.log(_as_float(x)),
       lambda em, xs, out, g, a: [em.div(g, xs[0])], _math(S.log))
_unary("log1p", float_type, lambda x: np.log1p(_as_float(x)),
       lambda em, xs, out, g, a: [em.div(g, em.add(xs[0], em.scalar(1.0, xs[0])))],
       _math(S.log1p), doc="log(1 + x), accurate for small x.")
_unary("expm1", float_type, lambda x: np.expm1(_as_float(x)),
       lambda em, xs, out, g, a: [em.mul(g, em.add(out, em.scalar(1.0, out)))],
       _math(S.expm1), needs_values=False, needs_output=True,
       doc="exp(x) - 1, accurate for small x.")
_unary("sqrt", float_type, lambda x: np.sqrt(_as_float(x)),
       lambda em, xs, out, g, a: [em.div(em.mul(g, em.scalar(0.5, out)), out)], _math(S.sqrt),
       needs_values=False, needs_output=True)
_unary("rsqrt", float_type, lambda x: 1.0 / np.sqrt(_as_float(x)),
       lambda em, xs, out, g, a: [em.mul(em.mul(g, em.scalar(-0.5, out)),
                                         em.mul(out, em.mul(out, out)))],
       _math(S.rsqrt),
       needs_values=False, needs_output=True)
_unary("tanh", float_type, lambda x: np.tanh(_as_float(x)),
       lambda em, xs, out, g, a: [em.mul(g, em.sub(em.scalar(1.0, out), em.mul(out, out)))],
       _math(S.tanh),
       needs_values=False, needs_output=True)
_unary("sigmoid", float_type, lambda x: _sigmoid(_as_float(x)),
       lambda em, xs, out, g, a: [em.mul(g, em.mul(out, em.sub(em.scalar(1.0, out), out)))],
       _sigmoid_body,
       needs_values=False, needs_output=True)
# PyTorch's threshold_backward of the result: no gradient where relu(x) <= 0, which is where
# x <= 0 (a nan input gives nan and passes its gradient on). Reading the output, as PyTorch
# does, lets `h[:, 1:] = relu(h[:, 1:])` write the input in place before backward.
_unary("relu", same_type, lambda x: np.maximum(x, np.zeros((), x.dtype)),
       lambda em, xs, out, g, a: [_zero_where(em, em.le(out, em.scalar(0, out)), g)],
       _unless_bool(lambda x: S.maximum(x, 0)), needs_values=False, needs_output=True)
_unary("abs", same_type, np.abs,
       lambda em, xs, out, g, a: [em.mul(g, em.sign(xs[0]))], _unless_bool(S.abs_))
_unary("sin", float_type, lambda x: np.sin(_as_float(x)),
       lambda em, xs, out, g, a: [em.mul(g, em.cos(xs[0]))], _math(S.sin))
_unary("cos", float_type, lambda x: np.cos(_as_float(x)),
       lambda em, xs, out, g, a: [em.neg(em.mul(g, em.sin(xs[0])))], _math(S.cos))
_unary("erf", float_type, lambda x: _erf(_as_float(x)),
       lambda em, xs, out, g, a: [em.mul(g, em.mul(
           em.scalar(2.0 / math.sqrt(math.pi), g),
           em.exp(em.neg(em.mul(xs[0], xs[0])))))],
       _math(S.erf))
_unary("sign", same_type, _sign,
       lambda em, xs, out, g, a: [em.zeros(em.shape(g), em.dtype(g))], _unless_bool(S.sign),
       needs_values=False, doc="Zero gradient, as in PyTorch (so sign(x) still requires grad). "
       "sign(nan) is nan, as NumPy's and JAX's (PyTorch's is 0: a deliberate difference).")
_unary("reciprocal", float_type, lambda x: 1.0 / _as_float(x),
       lambda em, xs, out, g, a: [em.neg(em.mul(g, em.mul(out, out)))],
       _math(lambda x: S.div(1, x)),
       needs_values=False, needs_output=True)
register(OpDef("stop_gradient", "elementwise", 1, same_type, lambda x: x, vjp=None,
               scalar=lambda xs, a, out, common: xs[0],
               doc="Identity whose result has no gradient (detach)."))
register(OpDef("cast", "elementwise", 1, cast_type, dtypes.convert,
               attrs=(Attr("dtype", "dtype"),), needs_values=False,
               vjp=lambda em, xs, out, g, a: [em.cast(g, dtype=em.dtype(xs[0]))
                                              if em.dtype(xs[0]).is_float else None],
               scalar=lambda xs, a, out, common: S.cast(xs[0], a["dtype"])))


# -- binary ----------------------------------------------------------------------------------
def _binary_op(name, type_rule, reference, vjp, scalar, needs_values=True, needs_output=False,
               checked_on_integers=False):
    register(OpDef(name, "elementwise", 2, type_rule, reference, vjp=vjp, scalar=scalar,
                   needs_values=needs_values, needs_output=needs_output,
                   checked_on_integers=checked_on_integers))


def _binary_grads(em, xs, make_gx, make_gy):
    """Both operand gradients, built only for float operands the emitter wants gradients of,
    with broadcasting undone."""
    grads = []
    for v, make in zip(xs, (make_gx, make_gy)):
        if make is None or not em.dtype(v).is_float or not em.wants(v):
            grads.append(None)
        else:
            grads.append(unbroadcast(em, make(), em.shape(v)))
    return grads


def _add_vjp(em, xs, out, g, a):
    return _binary_grads(em, xs, lambda: g, lambda: g)


def _sub_vjp(em, xs, out, g, a):
    return _binary_grads(em, xs, lambda: g, lambda: em.neg(g))


def _mul_vjp(em, xs, out, g, a):
    x, y = xs
    return _binary_grads(em, xs, lambda: em.mul(g, y), lambda: em.mul(g, x))


def _div_vjp(em, xs, out, g, a):
    x, y = xs
    # d(x/y)/dy = -x/y^2 = -(g/y) * out
    return _binary_grads(em, xs, lambda: em.div(g, y),
                         lambda: em.neg(em.mul(em.div(g, y), out)))


def _pow_vjp(em, xs, out, g, a):
    """PyTorch's pow_backward_self and pow_backward_exponent, edges included."""
    x, y = xs

    def grad_base():
        # y * x**(y-1), but exactly 0 where y == 0: x**0 is constant even at x = 0, where the
        # formula would give 0 * inf. There the power is taken of y = 1 instead, so that this
        # rule's own derivative (a Hessian) has no 0 * inf either
        constant = em.eq(y, em.scalar(0, y))
        y_used = em.where(constant, em.scalar(1, y), y)
        slope = em.mul(y, em.pow(x, em.sub(y_used, em.scalar(1, y))))
        return _zero_where(em, constant, em.mul(g, slope))

    def grad_exponent():
        # x**y * log(x), but 0 where x == 0 and y >= 0 (there 0**y is 1 or 0 for every y >= 0);
        # PyTorch multiplies g by the selected factor, so an infinite g still gives nan there
        base = x if em.dtype(x) == em.dtype(out) else em.cast(x, dtype=em.dtype(out))
        at_zero = em.bitwise_and(em.eq(x, em.scalar(0, x)), em.ge(y, em.scalar(0, y)))
        factor = em.where(at_zero, em.scalar(0, out), em.mul(out, em.log(base)))
        return em.mul(g, factor)

    return _binary_grads(em, xs, grad_base, grad_exponent)


def _select_vjp(loses):
    """maximum/minimum, as PyTorch writes them: ``where(x == y, g / 2, g)`` for both operands,
    then 0 for the operand that ``loses`` (x for ``loses(x, y)``, y for ``loses(y, x)``). A nan
    operand is neither equal nor losing, so both sides get the gradient there, as in PyTorch."""
    def vjp(em, xs, out, g, a):
        x, y = xs

        def shared():
            return em.where(em.eq(x, y), em.mul(g, em.scalar(0.5, g)), g)

        return _binary_grads(em, xs, lambda: _zero_where(em, loses(em, x, y), shared()),
                             lambda: _zero_where(em, loses(em, y, x), shared()))
    return vjp


_binary_op("add", arith_type, _binary(np.add), _add_vjp, _arith(S.add, S.logical_or),
           needs_values=False)
_binary_op("sub", sub_type, _binary(np.subtract), _sub_vjp, _arith(S.sub), needs_values=False)
_binary_op("mul", arith_type, _binary(np.multiply), _mul_vjp, _arith(S.mul, S.logical_and))
_binary_op("div", div_type, lambda a, b: np.true_divide(*_promoted_float(a, b)),
           _div_vjp, _arith(S.div), needs_output=True)
_binary_op("pow", numeric_type("pow", "pow with two bool tensors"), _binary(power), _pow_vjp,
           _arith(S.pow_), needs_output=True, checked_on_integers=True)
_binary_op("maximum", arith_type, _binary(np.maximum),
           _select_vjp(lambda em, x, y: em.lt(x, y)), _arith(S.maximum, S.logical_or))
_binary_op("minimum", arith_type, _binary(np.minimum),
           _select_vjp(lambda em, x, y: em.gt(x, y)), _arith(S.minimum, S.logical_and))

for _name, _fn, _build in [("eq", np.equal, S.eq), ("ne", np.not_equal, S.ne),
                           ("lt", np.less, S.lt), ("le", np.less_equal, S.le),
                           ("gt", np.greater, S.gt), ("ge", np.greater_equal, S.ge)]:
    _binary_op(_name, compare_type, _binary(_fn), None, _compare(_build))


# Bitwise ops: integer and bool operands, not differentiable; on bool they are logical.
# (bitwise_not is graphc.bitwise_not: xor with all ones, as LLVM writes it.)
for _op, _ufunc, _build in [("bitwise_and", np.bitwise_and, S.bitwise_and),
                            ("bitwise_or", np.bitwise_or, S.bitwise_or),
                            ("bitwise_xor", np.bitwise_xor, S.bitwise_xor)]:
    _binary_op(_op, bitwise_type(_op), _binary(_ufunc), None, _arith(_build))


def _where_vjp(em, xs, out, g, a):
    cond, x, y = xs
    zero = em.scalar(0, g)
    return [None] + _binary_grads(em, [x, y], lambda: em.where(cond, g, zero),
                                  lambda: em.where(cond, zero, g))


register(OpDef("where", "elementwise", 3, where_type,
               lambda c, a, b: np.where(c, *_promoted(a, b)), vjp=_where_vjp,
               scalar=lambda xs, a, out, common: S.select(xs[0], S.cast(xs[1], out),
                                                          S.cast(xs[2], out))))


# -- binary cross-entropy on probabilities -----------------------------------------------------
# A primitive rather than a composite because PyTorch's semantics at x = 0 or 1 cannot be built
# from clamp(log(x)): the loss clamps each log at -100, and the gradient is
# (x - y) / max(x (1 - x), 1e-12), finite where log's own gradient would give 0 * inf = nan.
_BCE_LOG_FLOOR = -100.0
_BCE_EPS = float(np.float32(1e-12))  # PyTorch's EPSILON is a C float: 1e-12 rounded to f32


def _bce_ref(x, y):
    x, y = _promoted_float(x, y)
    log_x = np.maximum(np.log(x), _BCE_LOG_FLOOR)
    log_1mx = np.maximum(np.log(1 - x), _BCE_LOG_FLOOR)
    return -(y * log_x + (1 - y) * log_1mx)


def _bce_vjp(em, xs, out, g, a):
    x, y = xs
    floor = em.scalar(_BCE_LOG_FLOOR, x)

    def grad_x():
        spread = em.maximum(em.mul(x, em.sub(em.scalar(1.0, x), x)), em.scalar(_BCE_EPS, x))
        return em.mul(g, em.div(em.sub(x, y), spread))

    def grad_y():
        log_x = em.maximum(em.log(x), floor)
        log_1mx = em.maximum(em.log(em.sub(em.scalar(1.0, x), x)), floor)
        return em.mul(g, em.sub(log_1mx, log_x))

    return _binary_grads(em, xs, grad_x, grad_y)


def _bce_body(xs, a, out, common):
    x, y = (S.cast(v, out) for v in xs)
    log_x = S.maximum(S.log(x), _BCE_LOG_FLOOR)
    log_1mx = S.maximum(S.log(S.sub(1.0, x)), _BCE_LOG_FLOOR)
    return S.neg(S.add(S.mul(y, log_x), S.mul(S.sub(1.0, y), log_1mx)))


register(OpDef("binary_cross_entropy", "elementwise", 2, div_type, _bce_ref, vjp=_bce_vjp,
               scalar=_bce_body,
               doc="-(y log x + (1 - y) log(1 - x)) with logs clamped at -100 (PyTorch's BCE)."))
