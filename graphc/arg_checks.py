"""Checks of user arguments at the API boundary, shared by every family of functions.

Each raises a graphc error of the built-in type PyTorch raises for the same mistake, with a
message that names the function, the argument and what was expected, so a mistake is reported
where the user made it and not as a NumPy traceback from deep inside:

    >>> import graphc
    >>> from graphc.arg_checks import require_tensor
    >>> require_tensor([1.0], "input", "linear")
    Traceback (most recent call last):
    ...
    graphc.errors.ArgumentTypeError: linear(): argument 'input' must be Tensor, not list
"""
from __future__ import annotations

from graphc.errors import ArgumentDTypeError, ArgumentError, ArgumentTypeError

__all__ = ["check_choice", "require_floating", "require_integer", "require_tensor",
           "torch_dtype_name"]

# PyTorch's names for dtypes in its messages ("expected scalar type Long but found Float")
_TORCH_NAMES = {"f16": "Half", "bf16": "BFloat16", "f32": "Float", "f64": "Double",
                "i8": "Char", "u8": "Byte", "i16": "Short", "i32": "Int", "i64": "Long",
                "bool": "Bool"}


def torch_dtype_name(dtype) -> str:
    """PyTorch's name of ``dtype`` (``Long`` for i64), the one its error messages use."""
    return _TORCH_NAMES.get(str(dtype), str(dtype))


def require_tensor(value, name: str, fn: str):
    """``value`` if it is a graphc Tensor, else an ArgumentTypeError as PyTorch's: lists,
    NumPy arrays and None are refused where a tensor is needed (no silent conversion)."""
    from graphc.tensor import Tensor
    if not isinstance(value, Tensor):
        raise ArgumentTypeError(f"{fn}(): argument '{name}' must be Tensor, not "
                                f"{type(value).__name__}")
    return value


def require_integer(value, name: str, fn: str):
    """A tensor of integer dtype (indices, class targets); float or bool ones are refused."""
    return _require_kind(value, name, fn, "is_int", "an integer tensor (Long or Int)")


def require_floating(value, name: str, fn: str):
    """A tensor of floating point dtype (inputs of losses, linear maps, decompositions)."""
    return _require_kind(value, name, fn, "is_float", "a floating point tensor")


def _require_kind(value, name: str, fn: str, kind: str, what: str):
    require_tensor(value, name, fn)
    if not getattr(value.dtype, kind):
        raise ArgumentDTypeError(f"{fn}(): expected {name} to be {what}, but got "
                                 f"{torch_dtype_name(value.dtype)}")
    return value


def check_choice(value, name: str, choices, fn: str, error=ArgumentError):
    """``value`` if it is one of ``choices`` (a mode or reduction name), else ``error`` (an
    ArgumentError, a ValueError, unless the caller names the class PyTorch raises there)."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise error(f"{fn}(): {name} must be one of {listed}, got {value!r}")
    return value
