"""More of ``torch.Tensor``'s surface: size and type queries (``nelement ndimension nbytes
itemsize is_cpu get_device layout is_signed ...``), ``data_ptr``, the legacy ``new``,
``mH``/``adjoint``, the real-tensor identities of the complex API, more in-place random fills
(``random_ cauchy_ geometric_ log_normal_``), ``sum_to_size``, ``split_with_sizes``,
``resize_``/``resize_as_``, ``register_post_accumulate_grad_hook`` and methods of functions
graphc has at the top level or in ``nn.functional`` (``hardshrink prelu nanquantile
narrow_copy``).

Importing ``graphc`` attaches them to :class:`graphc.Tensor`.

    >>> import graphc
    >>> t = graphc.zeros(2, 3)
    >>> t.nelement(), t.nbytes, t.get_device(), t.layout
    (6, 24, -1, graphc.strided)
    >>> t.resize_(4).shape
    (4,)
"""
from __future__ import annotations

import numpy as np

from graphc import autograd, factories, tracing
from graphc import functions as F
from graphc import math_functions as M
from graphc import torch_aliases as A
from graphc import torch_surface_more as S
from graphc.errors import DTypeError, ShapeError, TraceError
from graphc.nn import functional as NF
from graphc.tensor import Tensor
from graphc.tensor_compat import _random_fill, legacy_new
from graphc.tensor_methods import _overwrite
from ir import dtypes


def _nbytes(self) -> int:
    return self.numel() * _itemsize(self)


def _itemsize(self) -> int:
    return int(np.dtype(self.dtype.numpy).itemsize)


def _get_device(self) -> int:
    """-1 on the cpu, the GPU's index (0) on CUDA (``Tensor.get_device``)."""
    return 0 if self.is_cuda else -1


def _data_ptr(self) -> int:
    """The address of the first element (``Tensor.data_ptr``): of the NumPy (or CUDA) array
    holding the values. Tensors share an address only where they share an array (a
    ``reshape`` of a concrete tensor may; an in-place op rebinds the tensor to a new array)."""
    data = self._data
    if self._value is not None or tracing.current() is not None:
        raise tracing.value_needed_error("call .data_ptr()")
    if isinstance(data, np.ndarray):
        return int(data.__array_interface__["data"][0])
    return int(data.__cuda_array_interface__["data"][0])


def _new(self, *args, device=None):
    """The legacy ``x.new(...)``: ``x.new(2, 3)`` a tensor of that shape (zeros here,
    uninitialized in PyTorch), ``x.new(data)`` one from data, both of ``x``'s dtype."""
    if len(args) == 1 and isinstance(args[0], Tensor):
        return F.cast(args[0], self.dtype)
    return legacy_new(self.dtype, args, device if device is not None else
                      (None if self._value is not None else self.device))


def _imag(self):
    raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")


def _sum_to_size(self, *size) -> Tensor:
    """Sums this tensor down to ``size``, to which it must be expandable
    (``Tensor.sum_to_size``: the gradient of a broadcast)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    target = [int(s) for s in size]
    lead = self.ndim - len(target)
    if lead < 0 or any(t not in (1, s) for t, s in zip(target, self.shape[lead:])):
        raise ShapeError(f"size {target} is not expandable to size {list(self.shape)}.")
    dims = list(range(lead)) + [lead + i for i, (t, s) in
                                enumerate(zip(target, self.shape[lead:])) if t == 1 and s != 1]
    summed = F.sum(self, dims, keepdim=True) if dims else self
    return F.reshape(summed, target)


def _resize_(self, *sizes, memory_format=None) -> Tensor:
    """Gives this tensor the shape ``sizes`` in place (``Tensor.resize_``), keeping its leading
    elements in row-major order; elements beyond the old ones are zeros here (uninitialized in
    PyTorch). Eager only, and not on tensors that require grad (as in PyTorch)."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    return _resize(self, [int(s) for s in sizes], "resize_")


def _resize(self, shape: list, name: str) -> Tensor:
    if any(s < 0 for s in shape):
        raise ShapeError(f"{name}: sizes must be non-negative, got {shape}")
    if self.requires_grad:
        raise RuntimeError("cannot resize variables that require grad")
    count = int(np.prod(shape, dtype=np.int64))

    def resized(old: Tensor) -> Tensor:
        flat = F.reshape(old, [-1])
        have = flat.shape[0]
        if count <= have:
            flat = flat[:count]
        else:
            flat = F.concat([flat, factories.zeros(count - have, dtype=old.dtype)], 0)
        return F.reshape(flat, shape)
    return self._assign(resized, resizes=name)


def _resize_as_(self, the_template: Tensor, *, memory_format=None) -> Tensor:
    return _resize(self, list(the_template.shape), "resize_as_")


def _random_(self, *args, generator=None, **kwargs) -> Tensor:
    """Fills in place with integers drawn uniformly (``Tensor.random_``): ``random_()`` from
    ``[0, 2**mantissa]`` for floats (every one exactly representable) and ``[0, max]`` for
    integers, ``random_(to)`` from ``[0, to)``, ``random_(from, to)`` from ``[from, to)``
    (``to=None``: up to the dtype's bound). Eager only (NumPy's sampler, seeded from graphc's
    generator or ``generator=``)."""
    if "from" in kwargs:
        args = (kwargs.pop("from"),) + args
    if "to" in kwargs:
        args = args + (kwargs.pop("to"),) if args else (0, kwargs.pop("to"))
    if kwargs:
        raise TypeError(f"random_() got unexpected keyword arguments {sorted(kwargs)}")
    if len(args) > 2:
        raise TypeError(f"random_() takes at most 2 positional arguments, got {len(args)}")
    dt = self.dtype
    if dt.is_bool:
        top = 1
    elif dt.is_float:
        top = 2 ** (np.finfo(dt.numpy).nmant + 1)
    else:
        top = int(np.iinfo(dt.numpy).max)
    if not args:
        low, high = 0, top + 1
    elif len(args) == 1:
        low, high = 0, int(args[0])
    else:
        low = int(args[0])
        high = top + 1 if args[1] is None else int(args[1])
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} "
                           f">= to={high}")
    return self._assign(lambda old: _overwrite(old, _integers(old, low, high, generator)))


def _integers(old: Tensor, low: int, high: int, generator) -> Tensor:
    if tracing.current() is not None or old.is_traced:
        raise TraceError("random_ is not supported inside a compiled function: its integers "
                         "come from NumPy's sampler, eagerly. Use graphc.randint instead")
    from graphc import random
    seed = (generator or random.default_generator).next_seed()
    rng = np.random.default_rng(np.uint64(seed & 0xFFFFFFFFFFFFFFFF))
    values = rng.integers(low, high, size=old.shape, dtype=np.int64 if high <= 2 ** 63 - 1
                          else np.uint64)
    return factories.from_numpy(values.astype(old.dtype.numpy))


def _cauchy(old, median=0.0, sigma=1.0, *, generator=None):
    u = factories.rand(old.shape, dtype=dtypes.f64, generator=generator)
    return F.add(float(median), F.mul(float(sigma), M.tan(F.mul(F.sub(u, 0.5), np.pi))))


def _log_normal(old, mean=1.0, std=2.0, *, generator=None):
    if std <= 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
    return F.exp(factories.normal(float(mean), float(std), old.shape, dtype=old.dtype,
                                  generator=generator))


def _geometric_(self, p: float, *, generator=None) -> Tensor:
    """Fills in place with the number of Bernoulli(``p``) trials up to the first success
    (1, 2, ...) (``Tensor.geometric_``): ``ceil(log(u) / log(1 - p))``."""
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    if self.dtype.is_bool:
        raise DTypeError("geometric_: a bool tensor cannot hold trial counts")

    def draw(old):
        u = factories.rand(old.shape, dtype=dtypes.f64, generator=generator)
        u = F.sub(1.0, u)  # in (0, 1]: log(u) is finite
        return _overwrite(old, F.maximum(M.ceil(F.div(F.log(u), float(np.log1p(-p)))), 1.0))
    return self._assign(draw)


def _register_post_accumulate_grad_hook(self, hook):
    """Calls ``hook(self)`` after backward has accumulated this leaf's ``.grad``
    (``Tensor.register_post_accumulate_grad_hook``): e.g. an optimizer step per parameter
    inside backward. Answers a handle whose ``remove()`` unregisters it."""
    if tracing.current() is not None:
        raise TraceError("register_post_accumulate_grad_hook() inside a compiled function; "
                         "register it on the tensors outside")
    return autograd.register_post_accumulate_grad_hook(self, hook)


def _itself(self, *args, **kwargs):
    return self


def _false(self) -> bool:
    return False


def _conj_physical_(self):
    return self


def _H(self):
    if self.ndim != 2:
        raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got "
                           f"{self.ndim}-D tensor.")
    return F.transpose(self, 0, 1)


def _install() -> None:
    Tensor.H = property(_H)
    Tensor.dim_order = lambda self: tuple(range(self.ndim))  # row-major, always
    Tensor.is_maia = Tensor.is_mtia = property(_false)
    Tensor.is_distributed = _false
    Tensor.cholesky = S.cholesky
    Tensor.lu = S.lu
    Tensor.lu_solve = S.lu_solve
    Tensor.nelement = Tensor.numel
    Tensor.ndimension = Tensor.dim
    Tensor.nbytes = property(_nbytes)
    Tensor.itemsize = property(_itemsize)
    Tensor.is_cpu = property(lambda self: not self.is_cuda)
    Tensor.get_device = _get_device
    Tensor.layout = property(lambda self: S.strided)
    Tensor.data_ptr = _data_ptr
    Tensor.new = _new
    Tensor.is_signed = S.is_signed
    Tensor.is_same_size = S.is_same_size
    Tensor.is_inference = _false
    Tensor.is_complex = _false
    Tensor.is_conj = _false
    Tensor.is_neg = _false
    Tensor.conj = Tensor.resolve_conj = Tensor.resolve_neg = _itself
    Tensor.real = property(_itself)
    Tensor.imag = property(_imag)
    Tensor.conj_physical = S.conj_physical
    Tensor.conj_physical_ = _conj_physical_
    Tensor.mH = property(lambda self: F.transpose(self, -2, -1))
    Tensor.adjoint = lambda self: F.transpose(self, -2, -1)
    Tensor.output_nr = property(lambda self: 0)  # graphc's ops have one result
    Tensor.random_ = _random_
    Tensor.cauchy_ = _random_fill("cauchy_", _cauchy)
    Tensor.log_normal_ = _random_fill("log_normal_", _log_normal)
    Tensor.geometric_ = _geometric_
    Tensor.split_with_sizes = A.split_with_sizes
    Tensor.unsafe_split = F.split
    Tensor.unsafe_chunk = F.chunk
    Tensor.unsafe_split_with_sizes = A.split_with_sizes
    Tensor.sum_to_size = _sum_to_size
    Tensor.narrow_copy = A.narrow_copy
    Tensor.hardshrink = NF.hardshrink
    Tensor.prelu = NF.prelu
    from graphc.torch_functions import nanquantile
    Tensor.nanquantile = nanquantile
    Tensor.resize_ = _resize_
    Tensor.resize_as_ = _resize_as_
    Tensor.register_post_accumulate_grad_hook = _register_post_accumulate_grad_hook
    Tensor.__dlpack__ = lambda self, **kwargs: S._dlpack(self, **kwargs)
    Tensor.__dlpack_device__ = lambda self: (1, 0)  # kDLCPU, device 0


_install()

__all__: list = []
