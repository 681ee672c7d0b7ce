"""PyTorch's global state and the remaining factories and Tensor methods (issue 10): the
default dtype, print options, ``inference_mode``, the random generator's seed and state,
``torch.Generator`` objects, ``logspace range tril_indices triu_indices empty_like
randint_like bernoulli multinomial``, and methods such as ``aminmax mode register_hook``
(``stride``/``is_contiguous``/``storage_offset``: :mod:`graphc.views`).

``pin_memory``/``share_memory_`` return the tensor.

    >>> import graphc
    >>> g = graphc.Generator().manual_seed(7)
    >>> a = graphc.rand(3, generator=g); b = graphc.rand(3, generator=g.manual_seed(7))
    >>> bool((a == b).all()), graphc.get_default_dtype() == graphc.float32
    (True, True)
    >>> graphc.ones(2, 3).stride(), graphc.tril_indices(3, 3).tolist()
    ((3, 1), [[0, 1, 1, 2, 2, 2], [0, 0, 1, 0, 1, 2]])
"""
from __future__ import annotations

import builtins
import contextlib
import math
import time
import weakref
from typing import Optional

import numpy as np

from graphc import autograd, factories, return_types, tracing
from graphc import functions as F
from graphc import random as _random
from graphc.device import host_array
from graphc.errors import ArgumentError, TraceError
from graphc.tensor import Tensor
from graphc.tensor_methods import inplace_method
from ir import dtypes
from ir.errors import DTypeError


# -- default dtype --------------------------------------------------------------------------
def get_default_dtype() -> dtypes.DType:
    """The dtype factories give floating point data (``torch.get_default_dtype``)."""
    return dtypes.DEFAULT_FLOAT


def set_default_dtype(dtype) -> None:
    """Sets the dtype of float factories and of int-to-float promotion: ``float32`` (the
    start) or ``float64`` (``torch.set_default_dtype``; other dtypes are refused)."""
    dtype = factories.as_dtype(dtype)
    if dtype not in (dtypes.f32, dtypes.f64):
        raise TypeError(f"set_default_dtype: only float32 and float64 are supported as the "
                        f"default dtype, got {dtype}")
    dtypes.DEFAULT_FLOAT = dtype


# -- print options --------------------------------------------------------------------------
_PROFILES = {"default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
             "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
             "full": dict(precision=4, threshold=math.inf, edgeitems=3, linewidth=80)}


def set_printoptions(precision: Optional[int] = None, threshold: Optional[float] = None,
                     edgeitems: Optional[int] = None, linewidth: Optional[int] = None,
                     profile: Optional[str] = None, sci_mode: Optional[bool] = None) -> None:
    """How tensors print (``torch.set_printoptions``): digits after the point, how many
    elements before eliding, the line width, ``sci_mode`` (``False`` never uses exponents);
    ``profile`` is ``'default'``, ``'short'`` or ``'full'``. They are NumPy's print options,
    which ``repr`` of a tensor uses."""
    options = dict(_PROFILES[profile]) if profile is not None else {}
    for name, value in (("precision", precision), ("threshold", threshold),
                        ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            options[name] = value
    if "threshold" in options:
        options["threshold"] = builtins.min(options["threshold"], np.iinfo(np.int64).max)
        options["threshold"] = int(options["threshold"])
    if sci_mode is not None:
        options["suppress"] = not sci_mode
    np.set_printoptions(**options)


# -- inference mode -------------------------------------------------------------------------
class inference_mode(contextlib.ContextDecorator):
    """``with graphc.inference_mode():`` (or as a decorator) records no gradients, as
    ``no_grad`` (``torch.inference_mode``); ``inference_mode(False)`` leaves grad mode as is."""

    def __init__(self, mode: bool = True):
        self.mode = mode
        self._context = None

    def __call__(self, fn=None):
        if fn is None:  # @inference_mode() written with parentheses on a class instance
            return self
        return super().__call__(fn)

    def __enter__(self):
        self._context = autograd.set_grad_enabled(False) if self.mode else \
            contextlib.nullcontext()
        self._context.__enter__()
        _inference_modes.append(self.mode)
        return self

    def __exit__(self, *exc):
        _inference_modes.pop()
        return self._context.__exit__(*exc)


_inference_modes: list = []  # the modes of the inference_mode blocks entered, innermost last


def is_inference_mode_enabled() -> bool:
    """Whether the innermost ``inference_mode`` block turned it on
    (``torch.is_inference_mode_enabled``)."""
    return bool(_inference_modes) and bool(_inference_modes[-1])


# -- random state ---------------------------------------------------------------------------
class Generator(_random.Generator):
    """A random generator of its own (``torch.Generator(device)``): pass it as ``generator=``
    to ``rand randn randint randperm multinomial bernoulli`` or a DataLoader."""

    def __init__(self, device="cpu"):
        super().__init__(0)
        self.device = device
        self._initial = 0

    def manual_seed(self, seed: int) -> Generator:
        super().manual_seed(seed)
        self._initial = int(seed)
        return self

    def seed(self) -> int:
        """Seeds from the clock and answers that seed."""
        value = time.time_ns() & 0x7FFFFFFFFFFFFFFF
        self.manual_seed(value)
        return value

    def initial_seed(self) -> int:
        return self._initial

    def get_state(self) -> Tensor:
        return _state_tensor(self)

    def set_state(self, state: Tensor) -> Generator:
        _restore(self, state)
        return self


def _state_tensor(generator: _random.Generator) -> Tensor:
    base, counter = _random.Generator.get_state(generator)
    words = np.array([base, counter], dtype=np.uint64)
    return factories.from_numpy(words.view(np.uint8).copy())


def _restore(generator: _random.Generator, state: Tensor) -> None:
    generator._refuse_in_trace("set_state")  # before the state tensor's value is read
    if not isinstance(state, Tensor) or state.dtype != dtypes.u8 or list(state.shape) != [16]:
        raise TypeError("set_rng_state: expected the uint8 tensor of 16 bytes that "
                        "get_rng_state returned")
    base, counter = state.numpy().copy().view(np.uint64)
    _random.Generator.set_state(generator, (int(base), int(counter)))


_initial_seed = [0]


def seed() -> int:
    """Seeds the global generator from the clock and answers the seed (``torch.seed``)."""
    value = time.time_ns() & 0x7FFFFFFFFFFFFFFF
    _random.manual_seed(value)
    _initial_seed[0] = value
    return value


def initial_seed() -> int:
    """The seed the global generator last got (``torch.initial_seed``)."""
    base = _random.default_generator.get_state()[0]
    return base if base != (_initial_seed[0] & 0xFFFFFFFFFFFFFFFF) else _initial_seed[0]


def get_rng_state() -> Tensor:
    """The global generator's state, a uint8 tensor (``torch.get_rng_state``)."""
    return _state_tensor(_random.default_generator)


def set_rng_state(state: Tensor) -> None:
    """Restores the global generator to a state from :func:`get_rng_state`."""
    _restore(_random.default_generator, state)


# -- factories ------------------------------------------------------------------------------
def logspace(start: float, end: float, steps: int, base: float = 10.0, *, dtype=None,
             device=None, requires_grad: bool = False) -> Tensor:
    """``steps`` points from ``base**start`` to ``base**end``, evenly spaced in exponent
    (``torch.logspace``)."""
    dtype = factories.as_dtype(dtype or dtypes.DEFAULT_FLOAT)
    exponents = np.linspace(float(start), float(end), int(steps))
    values = np.power(float(base), exponents)
    if not dtype.is_float:
        values = np.trunc(values)
    return factories.tensor(values.astype(dtype.numpy), dtype=dtype, device=device,
                            requires_grad=requires_grad)


def range(start: float = 0, end: Optional[float] = None, step: float = 1, *,  # noqa: A001
          dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """From ``start`` to ``end`` inclusive by ``step``, in the default float dtype
    (``torch.range``, which PyTorch deprecates in favour of ``arange``)."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("range: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(f"range: upper bound and lower bound inconsistent with step sign, "
                           f"got start={start}, end={end}, step={step}")
    count = int(math.floor((end - start) / step)) + 1
    dtype = factories.as_dtype(dtype or dtypes.DEFAULT_FLOAT)
    values = start + step * np.arange(count, dtype=np.float64)
    return factories.tensor(values.astype(dtype.numpy), dtype=dtype, device=device,
                            requires_grad=requires_grad)


def _triangle_indices(rows, cols, keep, dtype, device) -> Tensor:
    r, c = np.nonzero(keep(np.ones((rows, cols), dtype=bool)))
    dtype = factories.as_dtype(dtype or dtypes.i64)
    return factories.tensor(np.stack([r, c]).astype(dtype.numpy).reshape(2, -1), dtype=dtype,
                            device=device)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None) -> Tensor:
    """The ``[2, N]`` row and column indices of the lower triangle of a ``row x col`` matrix
    (diagonal ``offset`` and below), row by row (``torch.tril_indices``)."""
    return _triangle_indices(row, col, lambda m: np.tril(m, offset), dtype, device)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None) -> Tensor:
    """The ``[2, N]`` indices of the upper triangle (diagonal ``offset`` and above)."""
    return _triangle_indices(row, col, lambda m: np.triu(m, offset), dtype, device)


def empty_like(t: Tensor, *, dtype=None, device=None, requires_grad: bool = False,
               memory_format=None) -> Tensor:
    """A tensor of ``t``'s shape (``torch.empty_like``; uninitialized there, zeros here)."""
    out = factories.zeros_like(t, dtype=dtype, device=device)
    out.requires_grad = bool(requires_grad)
    return out


def randint_like(t: Tensor, low: int = 0, high: Optional[int] = None, *, dtype=None,
                 device=None, generator=None) -> Tensor:
    """Random integers in ``[low, high)`` in ``t``'s shape and dtype (``torch.randint_like``;
    ``randint_like(t, high)`` starts at 0)."""
    if high is None:
        low, high = 0, low
    return factories.randint(low, high, tuple(t.shape), dtype=dtype or t.dtype,
                             device=device, generator=generator)


def bernoulli(input: Tensor, p: Optional[float] = None, *, generator=None) -> Tensor:
    """0/1 samples, 1 with probability ``input`` (or the number ``p``), in ``input``'s dtype
    (``torch.bernoulli``). No gradient flows into the samples."""
    input = F.to_tensor(input)
    if not input.dtype.is_float:
        raise DTypeError(f"bernoulli: expected a floating point tensor of probabilities, got "
                         f"{input.dtype}")
    chance = input.detach() if p is None else p
    if p is None:
        F.check_range(input, 0, 1, ArgumentError, "bernoulli: all probabilities must be in "
                      "[0, 1]")
    u = factories.rand(tuple(input.shape), dtype=dtypes.f64, generator=generator)
    return F.cast(F.lt(u, chance), input.dtype)


def _check_categories(weights: Tensor, without_replacement: Optional[int]) -> None:
    """Each row has a positive weight, and ``without_replacement`` of them if given: eagerly
    in NumPy, traced as the compiled graph runs (:func:`graphc.tracing.check`)."""
    empty = "multinomial: invalid multinomial distribution (sum of probabilities <= 0)"
    few = ("multinomial: invalid multinomial distribution (with replacement=False, not enough "
           "non-negative category to sample)")
    if tracing.current() is None:
        positive = (host_array(weights._data) > 0).sum(-1)
        if (positive == 0).any():
            raise RuntimeError(empty)
        if without_replacement is not None and (positive < without_replacement).any():
            raise RuntimeError(few)
        return
    positive = F.sum(F.cast(F.gt(weights, 0), dtypes.i64), -1)
    tracing.check(F.any(F.eq(positive, 0)), RuntimeError, empty)
    if without_replacement is not None:
        tracing.check(F.any(F.lt(positive, without_replacement)), RuntimeError, few)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,
                generator=None) -> Tensor:
    """``num_samples`` indices drawn from the categories of each row of ``input``, with
    probabilities proportional to its non-negative weights (``torch.multinomial``).

    With replacement: inverse transform sampling against the cumulative weights. Without:
    the Gumbel-top-k trick (the ``k`` largest of ``log w + Gumbel noise``), which draws
    exactly like sampling one by one and removing each drawn category. Both compile.
    """
    from graphc.scans_sorts import cumsum, topk
    input = F.to_tensor(input)
    if input.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got {input.ndim}")
    if not input.dtype.is_float:
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: "
                           f"{input.dtype}")
    n = input.shape[-1]
    if num_samples <= 0:
        raise ArgumentError(f"multinomial: cannot sample n_sample <= 0 samples, got "
                            f"{num_samples}")
    if not replacement and num_samples > n:
        raise ArgumentError(f"multinomial: cannot sample n_sample > prob_dist.size(-1) samples "
                            f"without replacement (got {num_samples} > {n})")
    weights = F.cast(input.detach(), dtypes.f64)
    F.check_range(weights, 0, np.finfo(np.float64).max, ArgumentError,
                  "multinomial: probability tensor contains either `inf`, `nan` or element < 0")
    _check_categories(weights, None if replacement else num_samples)
    rows = weights if weights.ndim == 2 else F.unsqueeze(weights, 0)
    batch = rows.shape[0]
    if replacement:
        edges = cumsum(rows, 1)
        edges = F.div(edges, F.narrow(edges, 1, n - 1, 1))
        u = factories.rand(batch, num_samples, 1, dtype=dtypes.f64, generator=generator)
        below = F.ge(u, F.unsqueeze(F.narrow(edges, 1, 0, n - 1), 1))
        drawn = F.sum(F.cast(below, dtypes.i64), -1)
    else:
        u = factories.rand(batch, n, dtype=dtypes.f64, generator=generator)
        gumbel = F.neg(F.log(F.neg(F.log(F.add(F.mul(u, 1.0 - 2e-16), 1e-300)))))
        keys = F.where(F.gt(rows, 0), F.add(F.log(F.where(F.gt(rows, 0), rows, 1.0)), gumbel),
                       F.scalar_like(-math.inf, rows))
        drawn = topk(keys, num_samples, 1).indices
    return drawn if input.ndim == 2 else F.reshape(drawn, [num_samples])


# -- Tensor methods -------------------------------------------------------------------------
def aminmax(x: Tensor, *, dim: Optional[int] = None, keepdim: bool = False):
    """``(min, max)`` over ``dim`` (all elements when None) (``torch.aminmax``)."""
    if x.numel() == 0 and dim is None:
        raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the "
                           "operation has no identity.")
    return return_types.aminmax(F.amin(x, dim, keepdim), F.amax(x, dim, keepdim))


def mode(x: Tensor, dim: int = -1, keepdim: bool = False):
    """The most frequent value along ``dim`` (the smallest among ties) and the index of its
    last occurrence (``torch.mode``). Counts by pairwise comparison: O(n^2) per row. NaNs
    count together, as one value sorted after every number (PyTorch's result for rows with
    NaN follows no such rule: it may give a number that is not the most frequent)."""
    from graphc.torch_functions import movedim
    from ir.types import wrap_dim
    x = F.to_tensor(x)
    if x.ndim == 0:
        return return_types.mode(x, factories.zeros((), dtype=dtypes.i64))
    axis = wrap_dim(dim, x.ndim)
    rows = movedim(x, axis, -1)  # the other dims keep their order
    n = rows.shape[-1]
    if n == 0:
        raise IndexError(f"mode(): Expected reduction dim {dim} to have non-zero size")
    def same(a, b):  # NaN counts as a value like any other (NaN != NaN made a row crash)
        equal = F.eq(a, b)
        return F.logical_or(equal, F.logical_and(F.isnan(a), F.isnan(b))) \
            if x.dtype.is_float else equal

    counts = F.sum(F.cast(same(F.unsqueeze(rows, -1), F.unsqueeze(rows, -2)), dtypes.i64), -1)
    most = F.eq(counts, F.amax(counts, -1, keepdim=True))
    if x.dtype.is_float:  # the smallest most frequent number; NaN if only NaN is (sorted last)
        numbers = F.logical_and(most, F.logical_not(F.isnan(rows)))
        smallest = F.amin(F.where(numbers, rows, math.inf), -1, keepdim=True)
        value = F.where(F.any(numbers, -1, keepdim=True), smallest, math.nan)
    else:
        value = F.amin(F.where(most, rows, F.amax(rows, -1, keepdim=True)), -1, keepdim=True)
    last = F.amax(F.where(same(rows, value), factories.arange(n), -1), -1)
    # the element at that index: PyTorch's gradient goes to it alone
    value = F.squeeze(F.gather(rows, -1, F.unsqueeze(last, -1)), -1)
    if keepdim:
        value, last = F.unsqueeze(value, axis), F.unsqueeze(last, axis)
    return return_types.mode(value, last)


def _element_size(self) -> int:
    """Bytes per element (``Tensor.element_size``)."""
    return int(self.dtype.numpy.itemsize)


def _itself(self, *args, **kwargs):
    return self


def _false(self) -> bool:
    return False


def _register_hook(self, hook):
    """Calls ``hook(grad)`` when the gradient of this tensor is computed in backward; a tensor
    it returns replaces the gradient (``Tensor.register_hook``). Answers a handle whose
    ``remove()`` unregisters it."""
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if tracing.current() is not None:
        raise TraceError("register_hook() inside a compiled function; register it on the "
                         "tensors outside")
    return autograd.register_tensor_hook(self, hook)


_retaining: dict[int, object] = {}  # id -> weakref of tensors that retain_grad() (slots)


def _retains_grad(self) -> bool:
    ref = _retaining.get(id(self))
    return ref is not None and ref() is self


def _retain_grad(self) -> None:
    """Keeps ``.grad`` of this non-leaf tensor after backward (``Tensor.retain_grad``)."""
    if not self.requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    if self._grad_fn is None or _retains_grad(self):
        return
    key = id(self)
    _retaining[key] = weakref.ref(self, lambda _, k=key: _retaining.pop(k, None))
    target = weakref.ref(self)

    def keep(grad):
        tensor = target()
        if tensor is not None:
            g = grad.detach()
            tensor._grad = g if tensor._grad is None else tensor._grad + g
    keep.runs_last = True
    autograd.register_tensor_hook(self, keep)


def _apply_(self, fn):
    """Replaces each element by ``fn(element)`` in place (``Tensor.apply_``; eager only and
    slow, as in PyTorch)."""
    if tracing.current() is not None or self._value is not None:
        raise TraceError("apply_() calls a Python function per element; it cannot run inside "
                         "a compiled function")
    values = np.vectorize(fn, otypes=[self.dtype.numpy])(self.numpy()) if self.numel() else \
        self.numpy()
    return self._assign(lambda old: F.cast(factories.tensor(values), self.dtype))


def _map_(self, other: Tensor, fn):
    """Replaces each element by ``fn(element, other_element)`` in place, ``other``
    broadcasting (``Tensor.map_``; eager only)."""
    if tracing.current() is not None or self._value is not None:
        raise TraceError("map_() calls a Python function per element; it cannot run inside "
                         "a compiled function")
    theirs = np.broadcast_to(F.to_tensor(other).numpy(), self.shape)
    values = np.vectorize(fn, otypes=[self.dtype.numpy])(self.numpy(), theirs) if \
        self.numel() else self.numpy()
    return self._assign(lambda old: F.cast(factories.tensor(values), self.dtype))


def _install() -> None:
    from graphc import data_dependent
    from graphc import torch_functions as T

    for name in ("absolute", "count_nonzero", "cross", "diagflat",
                 "diff", "dist", "equal", "erfinv", "histc", "inner", "isin", "kron", "logit",
                 "nan_to_num", "nanmean", "nansum", "quantile", "ravel", "rot90", "select",
                 "signbit", "slice_scatter", "take", "tensor_split", "hsplit", "vsplit",
                 "dsplit", "tile", "movedim", "moveaxis", "swapaxes", "swapdims",
                 "repeat_interleave", "masked_scatter", "put", "index_select", "renorm"):
        setattr(Tensor, name, getattr(T, name))
    Tensor.cov = T.cov
    from graphc import linalg_solvers as solvers
    Tensor.det, Tensor.logdet, Tensor.slogdet = solvers.det, solvers.logdet, solvers.slogdet
    Tensor.inverse, Tensor.matrix_power = solvers.inv, solvers.matrix_power
    from graphc import linalg_decompositions as decompositions
    Tensor.svd, Tensor.qr = decompositions.svd_legacy, decompositions.qr_legacy
    Tensor.pinverse = decompositions.pinverse
    from graphc import linalg_more, linalg_triangular
    Tensor.cholesky_solve = linalg_triangular.cholesky_solve
    Tensor.cholesky_inverse = linalg_triangular.cholesky_inverse
    Tensor.triangular_solve = linalg_triangular.triangular_solve
    Tensor.matrix_exp = linalg_more.matrix_exp
    for name in ("absolute", "logit", "nan_to_num", "masked_scatter", "put", "erfinv"):
        setattr(Tensor, name + "_", inplace_method(getattr(T, name), name + "_"))
    for name in ("unique", "unique_consecutive", "bincount"):
        setattr(Tensor, name, getattr(data_dependent, name))
    Tensor.bernoulli = lambda self, p=None, *, generator=None: bernoulli(self, p,
                                                                         generator=generator)
    Tensor.multinomial = multinomial
    Tensor.aminmax = aminmax
    Tensor.mode = mode
    Tensor.element_size = _element_size
    # (stride, is_contiguous, storage_offset, contiguous: graphc.views, where views are made)
    Tensor.pin_memory = _itself
    Tensor.share_memory_ = _itself
    Tensor.is_pinned = _false
    Tensor.is_shared = _false
    Tensor.register_hook = _register_hook
    Tensor.retain_grad = _retain_grad
    Tensor.retains_grad = property(_retains_grad)
    Tensor.apply_ = _apply_
    Tensor.map_ = _map_


_install()

__all__ = ["Generator", "bernoulli", "empty_like", "get_default_dtype", "get_rng_state",
           "inference_mode", "initial_seed", "is_inference_mode_enabled", "logspace",
           "multinomial", "randint_like", "range",
           "seed", "set_default_dtype", "set_printoptions", "set_rng_state", "tril_indices",
           "triu_indices", "aminmax", "mode"]
