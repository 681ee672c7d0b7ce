"""More of PyTorch's top level: window functions (``hann_window`` & co.), shape and type
queries (``broadcast_shapes typename is_signed is_same_size is_complex ...``), factories
(``asarray scalar_tensor fill empty_strided empty_permuted``), DLPack exchange
(``from_dlpack to_dlpack``), ``binomial`` sampling, the real-tensor identities of the complex
API (``conj real resolve_conj resolve_neg``; ``imag`` raises, as for PyTorch's real tensors) and
the legacy linear algebra names (``lu lu_solve cholesky nuclear_norm frobenius_norm``) over
:mod:`graphc.linalg`.

graphc has no complex dtypes, so every tensor is real: ``conj(t)`` is ``t`` itself, as PyTorch
answers for a real tensor. graphc has no strides either: ``empty_strided`` and
``empty_permuted`` make zeros of the size asked (PyTorch's are uninitialized), and every tensor's
``layout`` is ``graphc.strided``.

    >>> import graphc
    >>> graphc.broadcast_shapes((2, 1), (3,))
    (2, 3)
    >>> graphc.hann_window(4).tolist()
    [0.0, 0.5, 1.0, 0.5]
    >>> graphc.typename(graphc.zeros(2))
    'graphc.FloatTensor'
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from graphc import factories, tracing
from graphc import functions as F
from graphc.errors import ArgumentError, DTypeError, ShapeError, TraceError
from graphc.tensor import Tensor
from ir import dtypes


class layout:  # noqa: N801  (torch.layout)
    """A memory layout (``torch.layout``): graphc's tensors are all ``graphc.strided``."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"graphc.{self.name}"


strided = layout("strided")


# -- window functions ---------------------------------------------------------------------------
def _window(name: str, window_length: int, periodic: bool, dtype, device, requires_grad: bool,
            values) -> Tensor:
    """``values(n, N)`` (float64 NumPy, ``n = 0..N-1`` of a symmetric window of length N) as
    PyTorch's window of ``window_length``: a periodic one is the symmetric one of length
    ``window_length + 1`` without its last value."""
    if window_length < 0:
        raise ArgumentError(f"{name} requires non-negative window_length, got "
                            f"window_length={window_length}")
    dt = factories.as_dtype(dtype) if dtype is not None else dtypes.DEFAULT_FLOAT
    if not dt.is_float:
        raise DTypeError(f"{name} expects floating point dtypes, got {dt}")
    if window_length <= 1:
        array = np.ones(window_length)
    else:
        length = window_length + 1 if periodic else window_length
        array = np.asarray(values(np.arange(length, dtype=np.float64), length))[:window_length]
    result = factories.tensor(array.astype(dt.numpy), dtype=dt, device=device)
    return result.requires_grad_(True) if requires_grad else result


def hann_window(window_length: int, periodic: bool = True, *, dtype=None, layout=None,
                device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """The Hann window ``0.5 - 0.5 cos(2 pi n / (N - 1))`` (``torch.hann_window``)."""
    return _window("hann_window", window_length, periodic, dtype, device, requires_grad,
                   lambda n, N: 0.5 - 0.5 * np.cos(2 * math.pi * n / (N - 1)))


def hamming_window(window_length: int, periodic: bool = True, alpha: float = 0.54,
                   beta: float = 0.46, *, dtype=None, layout=None, device=None,
                   requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """The Hamming window ``alpha - beta cos(2 pi n / (N - 1))`` (``torch.hamming_window``)."""
    return _window("hamming_window", window_length, periodic, dtype, device, requires_grad,
                   lambda n, N: alpha - beta * np.cos(2 * math.pi * n / (N - 1)))


def blackman_window(window_length: int, periodic: bool = True, *, dtype=None, layout=None,
                    device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """The Blackman window (``torch.blackman_window``)."""
    return _window("blackman_window", window_length, periodic, dtype, device, requires_grad,
                   lambda n, N: 0.42 - 0.5 * np.cos(2 * math.pi * n / (N - 1))
                   + 0.08 * np.cos(4 * math.pi * n / (N - 1)))


def bartlett_window(window_length: int, periodic: bool = True, *, dtype=None, layout=None,
                    device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """The triangular Bartlett window ``1 - |2n / (N - 1) - 1|`` (``torch.bartlett_window``)."""
    return _window("bartlett_window", window_length, periodic, dtype, device, requires_grad,
                   lambda n, N: 1.0 - np.abs(2.0 * n / (N - 1) - 1.0))


def kaiser_window(window_length: int, periodic: bool = True, beta: float = 12.0, *, dtype=None,
                  layout=None, device=None, requires_grad: bool = False,
                  pin_memory: bool = False) -> Tensor:
    """The Kaiser window ``I0(beta sqrt(1 - (2n / (N - 1) - 1)^2)) / I0(beta)``
    (``torch.kaiser_window``), with graphc's ``i0``."""
    from graphc.special_functions import i0

    def values(n, N):
        ratio = 2.0 * n / (N - 1) - 1.0
        argument = beta * np.sqrt(np.clip(1.0 - ratio * ratio, 0.0, None))
        top = i0(factories.tensor(argument, dtype=dtypes.f64)).numpy()
        return top / i0(factories.tensor(float(beta), dtype=dtypes.f64)).item()
    return _window("kaiser_window", window_length, periodic, dtype, device, requires_grad,
                   values)


# -- shapes, types and queries --------------------------------------------------------------------
def broadcast_shapes(*shapes) -> tuple:
    """The shape tensors of ``shapes`` broadcast to (``torch.broadcast_shapes``); an int is a
    1-D shape."""
    as_tuples = [(s,) if isinstance(s, int) else tuple(int(d) for d in s) for s in shapes]
    try:
        return tuple(np.broadcast_shapes(*as_tuples))
    except ValueError:
        raise ShapeError(f"Shape mismatch: objects cannot be broadcast to a single shape: "
                         f"{[list(s) for s in as_tuples]}") from None


def typename(obj) -> str:
    """The type of ``obj`` as a string (``torch.typename``): ``'graphc.FloatTensor'`` for a
    tensor, the qualified name of a class or function, or the class of anything else."""
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if qualname is None:
        module, qualname = type(obj).__module__ or "", type(obj).__qualname__
    return qualname if module in ("", "builtins") else f"{module}.{qualname}"


def is_signed(input: Tensor) -> bool:
    """Whether the dtype holds negative numbers: floats and signed ints (``torch.is_signed``)."""
    return input.dtype.is_float or (input.dtype.is_int and np.dtype(input.dtype.numpy).kind == "i")


def is_same_size(input: Tensor, other: Tensor) -> bool:
    return tuple(input.shape) == tuple(other.shape)


def is_inference(input: Tensor) -> bool:
    """False: graphc makes no inference tensors (``inference_mode`` only turns off grad)."""
    return False


def is_complex(input: Tensor) -> bool:
    """False: graphc has no complex dtypes."""
    return False


def is_conj(input: Tensor) -> bool:
    return False


def is_neg(input: Tensor) -> bool:
    return False


def conj(input: Tensor) -> Tensor:
    """The complex conjugate: ``input`` itself, since it is real (as PyTorch answers)."""
    return input


resolve_conj = resolve_neg = real = conj


def adjoint(input: Tensor) -> Tensor:
    """The last two dimensions swapped (the conjugate is the tensor itself)."""
    return F.transpose(input, -2, -1)


def get_device(input: Tensor) -> int:
    """-1 on the cpu, 0 on the GPU (``torch.get_device``)."""
    return input.get_device()


def resize_as_(input: Tensor, the_template: Tensor, *, memory_format=None) -> Tensor:
    return input.resize_as_(the_template)


def conj_physical_(input: Tensor) -> Tensor:
    return input


def conj_physical(input: Tensor) -> Tensor:
    """The conjugate as a new tensor: a copy, since ``input`` is real."""
    return input.clone()


def imag(input: Tensor) -> Tensor:
    raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")


# -- factories ----------------------------------------------------------------------------------
def asarray(obj, *, dtype=None, device=None, copy: Optional[bool] = None,
            requires_grad: bool = False) -> Tensor:
    """``obj`` as a tensor (``torch.asarray``), sharing memory when it can: a tensor of the
    dtype and device asked is returned itself, a NumPy array (or an object with
    ``__dlpack__`` or the buffer protocol) is wrapped without a copy; ``copy=True`` always
    copies, ``copy=False`` raises where a copy is needed."""
    if isinstance(obj, Tensor):
        result = obj
        if dtype is not None and factories.as_dtype(dtype) != obj.dtype:
            if copy is False:
                raise ValueError(f"can't alias tensor with dtype {obj.dtype} into dtype "
                                 f"{factories.as_dtype(dtype)}")
            result = F.cast(obj, dtype)
        elif copy:
            result = obj.clone()
        if device is not None:
            result = result.to(device)
    else:
        array = None
        if isinstance(obj, np.ndarray):
            array = obj
        elif hasattr(obj, "__dlpack__") and not isinstance(obj, (list, tuple)):
            array = np.from_dlpack(obj)
        elif isinstance(obj, (bytes, bytearray, memoryview)):
            array = np.frombuffer(obj, dtype=np.uint8)  # bytes, as PyTorch reads a buffer
        if array is None:
            if copy is False:
                raise ValueError(f"can't alias a {type(obj).__name__} without copying it")
            result = factories.tensor(obj, dtype=dtype, device=device)
        else:
            if dtype is not None and factories.as_dtype(dtype).numpy != array.dtype:
                if copy is False:
                    raise ValueError(f"can't alias an array of dtype {array.dtype} into dtype "
                                     f"{factories.as_dtype(dtype)}")
                array = array.astype(factories.as_dtype(dtype).numpy)
            elif copy:
                array = array.copy()
            result = factories.from_numpy(array)
            if device is not None:
                result = result.to(device)
    if requires_grad:
        result = result.detach().requires_grad_(True) if result is obj else \
            result.requires_grad_(True)
    return result


def scalar_tensor(s, *, dtype=None, layout=None, device=None, requires_grad: bool = False,
                  pin_memory: bool = False) -> Tensor:
    """A 0-d tensor of ``s``, in the default float dtype unless told (``torch.scalar_tensor``)."""
    return factories.tensor(s, dtype=dtype or dtypes.DEFAULT_FLOAT, device=device,
                            requires_grad=requires_grad)


def fill(input: Tensor, value) -> Tensor:
    """A tensor like ``input`` filled with ``value`` (a number or a 0-d tensor, whose gradient
    is the sum of the result's) (``torch.fill``)."""
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ShapeError(f"fill only supports 0-dimension value tensor but got tensor with "
                         f"{value.ndim} dimensions.")
    return F.broadcast_to(F.cast(F.to_tensor(value, input), input.dtype), list(input.shape))


def empty_strided(size, stride, *, dtype=None, layout=None, device=None,
                  requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Zeros of ``size`` (``torch.empty_strided``, uninitialized there): graphc has no strides,
    so ``stride`` is only checked to have one entry per dimension."""
    size, stride = list(size), list(stride)
    if len(size) != len(stride):
        raise ShapeError(f"mismatch in length of strides and shape: {len(stride)} strides for "
                         f"{len(size)} dimensions")
    return factories.zeros(size, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_permuted(size, physical_layout, *, dtype=None, layout=None, device=None,
                   requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Zeros of ``size`` (``torch.empty_permuted``): graphc has no strides, so
    ``physical_layout`` is only checked to be a permutation of the dimensions."""
    size, order = list(size), list(physical_layout)
    if sorted(order) != list(range(len(size))):
        raise ShapeError(f"physical_layout must be a permutation of 0..{len(size) - 1}, got "
                         f"{order}")
    return factories.zeros(size, dtype=dtype, device=device, requires_grad=requires_grad)


# -- DLPack -------------------------------------------------------------------------------------
def from_dlpack(ext_tensor) -> Tensor:
    """A tensor sharing the memory of ``ext_tensor``, any CPU object with ``__dlpack__`` (a
    PyTorch, JAX or NumPy array) (``torch.from_dlpack``), through NumPy's DLPack support.
    graphc never writes the shared memory; if the other library writes it, graphc's tensor
    sees the change (and tensors computed from it before do not)."""
    if isinstance(ext_tensor, Tensor):
        return ext_tensor
    return factories.from_numpy(np.from_dlpack(ext_tensor))


def to_dlpack(tensor: Tensor):
    """A DLPack capsule of the tensor's values (``torch.to_dlpack``): others' ``from_dlpack``
    share its memory (graphc's tensors also have ``__dlpack__``, so
    ``torch.from_dlpack(graphc_tensor)`` works directly). CPU tensors only."""
    return _dlpack(tensor)


def _dlpack(tensor: Tensor, **kwargs):
    if tensor.is_cuda:
        raise RuntimeError("DLPack export of CUDA tensors is not supported by graphc")
    if tensor.requires_grad:
        raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
    array = tensor._concrete("export the tensor through DLPack")
    return np.ascontiguousarray(array).__dlpack__(**kwargs)


# -- random -------------------------------------------------------------------------------------
def binomial(count: Tensor, prob: Tensor, generator=None) -> Tensor:
    """Samples of binomial distributions with ``count`` trials of success probability ``prob``
    (``torch.binomial``), in their floating dtype, from graphc's generator (or
    ``generator=``). The samples carry no gradient. Eager only."""
    if tracing.current() is not None or count.is_traced or prob.is_traced:
        raise TraceError("binomial is not supported inside a compiled function: its samples "
                         "come from NumPy's binomial sampler, eagerly. Draw them outside the "
                         "compiled function and pass them in")
    for name, t in (("count", count), ("prob", prob)):
        if not t.dtype.is_float:
            raise DTypeError(f"binomial only supports floating-point dtypes for {name}, got: "
                             f"{t.dtype}")
    n, p = np.broadcast_arrays(count.detach().numpy().astype(np.float64),
                               prob.detach().numpy().astype(np.float64))
    if not ((n >= 0) & (n == np.floor(n))).all():
        raise RuntimeError("binomial: count must hold non-negative whole numbers")
    if not ((p >= 0) & (p <= 1)).all():
        raise RuntimeError("binomial: prob must be in [0, 1]")
    from graphc import random
    seed = (generator or random.default_generator).next_seed()
    samples = np.random.default_rng(np.uint64(seed & 0xFFFFFFFFFFFFFFFF)).binomial(
        n.astype(np.int64), p)
    out_dtype = dtypes.promote(count.dtype, prob.dtype)
    return factories.from_numpy(np.asarray(samples, dtype=out_dtype.numpy))


# -- legacy linear algebra ----------------------------------------------------------------------
def nuclear_norm(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """The sum of singular values (``torch.nuclear_norm``): of the matrix ``input`` (2-D), or
    of the planes of the two ``dim``."""
    from graphc import linalg
    if dim is None:
        if input.ndim != 2:
            raise ShapeError(f"nuclear_norm: expected a 2-D tensor without dim, got shape "
                             f"{list(input.shape)}")
        dim = (-2, -1)
    return linalg.matrix_norm(input, "nuc", tuple(dim), keepdim)


def frobenius_norm(input: Tensor, dim, keepdim: bool = False) -> Tensor:
    """The 2-norm over one or two ``dim`` (``torch.frobenius_norm``)."""
    from graphc import linalg
    dims = [dim] if isinstance(dim, int) else list(dim)
    if len(dims) not in (1, 2):
        raise ShapeError(f"frobenius_norm: expected one or two dims, got {dims}")
    return linalg.vector_norm(input, 2, dims, keepdim)


def lu(A: Tensor, pivot: bool = True, get_infos: bool = False):
    """``(LU, pivots)`` or, with ``get_infos``, ``(LU, pivots, infos)`` (``torch.lu``, the
    legacy name of ``graphc.linalg.lu_factor`` / ``lu_factor_ex``)."""
    from graphc import linalg
    LU, pivots, infos = linalg.lu_factor_ex(A, pivot=pivot, check_errors=not get_infos)
    return (LU, pivots, infos) if get_infos else (LU, pivots)


def lu_solve(b: Tensor, LU_data: Tensor, LU_pivots: Tensor) -> Tensor:
    """``x`` with ``A x = b`` from :func:`lu`'s factorization of ``A`` (``torch.lu_solve``:
    ``b`` first, unlike ``graphc.linalg.lu_solve``)."""
    from graphc import linalg
    return linalg.lu_solve(LU_data, LU_pivots, b)


def cholesky(input: Tensor, upper: bool = False) -> Tensor:
    """``torch.cholesky`` (deprecated there): ``graphc.linalg.cholesky(input, upper=upper)``."""
    from graphc import linalg
    return linalg.cholesky(input, upper=upper)


e, pi, inf, nan = math.e, math.pi, math.inf, math.nan  # torch.e & co.
newaxis = None

__all__ = [
    "adjoint", "conj_physical_", "e", "get_device", "inf", "nan", "newaxis", "pi",
    "resize_as_", "asarray", "bartlett_window", "binomial", "blackman_window", "broadcast_shapes",
    "cholesky", "conj", "conj_physical", "empty_permuted", "empty_strided", "fill",
    "frobenius_norm", "from_dlpack", "hamming_window", "hann_window", "imag", "is_complex",
    "is_conj", "is_inference", "is_neg", "is_same_size", "is_signed", "kaiser_window", "layout",
    "lu", "lu_solve", "nuclear_norm", "real", "resolve_conj", "resolve_neg", "scalar_tensor",
    "strided", "to_dlpack", "typename",
]
