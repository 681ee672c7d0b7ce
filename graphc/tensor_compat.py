"""PyTorch's remaining ``Tensor`` surface: ``.data``, ``.type()``, ``new_*``, in-place random
fills, the legacy constructors ``graphc.Tensor(2, 3)`` / ``graphc.FloatTensor([...])``, the
methods of :mod:`graphc.composites`, :mod:`graphc.linalg` and :mod:`graphc.data_dependent`, and
the in-place forms PyTorch has of methods defined elsewhere (``tril_``, ``cumsum_``, ``eq_``,
``squeeze_``, ...), all through ``Tensor._assign`` (version counter, autograd of the rebinding,
the leaf-requires-grad error, state written back by compiled functions).

Importing ``graphc`` attaches them to :class:`graphc.Tensor`.

    >>> import graphc
    >>> w = graphc.nn.Parameter(graphc.Tensor(2, 3))
    >>> _ = w.data.normal_(0.0, 0.02)      # weight-init code: writes w, records no gradient
    >>> w.type(), w.requires_grad, float(w.abs().max()) > 0
    ('graphc.FloatTensor', True, True)
    >>> isinstance(w.long(), graphc.LongTensor)
    True
"""
from __future__ import annotations

from typing import Optional

from graphc import autograd, composites, data_dependent, factories, linalg, tracing, views
from graphc import functions as F
from graphc.errors import TraceError
from graphc.tensor import Tensor
from graphc.tensor_methods import _overwrite, inplace_method
from ir import dtypes


# -- .data: the same values, seen without autograd ---------------------------------------------
class _DataView(Tensor):
    """What ``tensor.data`` returns: the tensor's values as a tensor that does not require grad
    and has no history, sharing the values both ways, as PyTorch's ``.data`` shares storage.

    graphc never writes arrays in place, so sharing is by delegation: the view reads its base's
    current value, and an in-place op on the view (``p.data.normal_()``, ``p.data.add_(u)``)
    rebinds the base under ``no_grad``, keeping the base's place in the autograd graph (and so
    refreshes the base's views). A view taken of it (``p.data[3:6]``) is a detached view of the
    base (:mod:`graphc.views`), written the same way.
    """

    __slots__ = ("_base", "_leaf_requires_grad", "_stopped")

    @property
    def _data(self):
        return self._base._data

    @_data.setter
    def _data(self, array) -> None:
        self._base._data = array

    @property
    def _value(self):
        base = self._base
        value = base._value
        if value is None and tracing.current() is not None:
            value = tracing.current().value_of(base)  # a concrete base read inside a trace
        if value is None:
            return None
        # inside a trace, .data is cut from autograd as it is eagerly: without the cut, what is
        # computed from it (or .data itself returned) depended on the base differentiably and
        # a compiled call's outputs came back requiring grad. One cut per value of the base.
        if self._stopped is None or self._stopped[0] is not value:
            self._stopped = (value, self._trace.emit("stop_gradient", [value], {}))
        return self._stopped[1]

    @property
    def _trace(self):
        return self._base._trace or tracing.current()

    @property
    def requires_grad(self) -> bool:
        """False, unless set (``state_dict()[k].requires_grad_()``): a leaf of its own then,
        as PyTorch's detached values become."""
        return self._leaf_requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self._leaf_requires_grad = bool(flag)

    @property
    def _grad_fn(self):
        return None

    def __reduce_ex__(self, protocol):
        # pickled and deep-copied as a plain tensor of the values it shows now (a snapshot),
        # as a PyTorch state_dict's values are; by its array, so that the views of one tensor
        # (tied weights) share one copy
        return (Tensor._wrap, (self._data,))

    def _assign(self, compute, resizes: Optional[str] = None) -> Tensor:
        base = self._base
        history = base._grad_fn

        def detached(old: Tensor) -> Tensor:
            return compute(views.detached_copy(old))
        if resizes is not None:
            detached = views.keeping_layout(detached, resizes, "a `.data` view")
        with autograd.no_grad():
            base._assign(detached)  # never resizes the base: keeping_layout saw to it
        base._grad_fn = history
        return self


views.DATA_VIEW_TYPE = _DataView


def _get_data(self) -> Tensor:
    base = self._base if isinstance(self, _DataView) else self
    view = object.__new__(_DataView)
    view._base = base
    view._leaf_requires_grad = False
    view._grad = view._name_hint = None
    view._version = 0
    view._stopped = view._view_info = view._views = None
    return view


def _set_data(self, value) -> None:
    """``t.data = other``: ``t`` takes ``other``'s values (shape and dtype too, eagerly, as in
    PyTorch); inside a compiled function the shape must stay the same."""
    if not isinstance(value, Tensor):
        raise TypeError(f"data must be set to a Tensor, got {type(value).__name__}")
    base = self._base if isinstance(self, _DataView) else self
    if tracing.current() is None and base._value is None and value._value is None:
        views.rehome(base)  # its views keep the values they share, as PyTorch's keep the storage
        base._data = value._data
        return
    if value.shape != base.shape:
        raise TraceError(f"assigning .data of shape {list(value.shape)} to a tensor of shape "
                         f"{list(base.shape)} inside a compiled function; the shape of state "
                         f"must stay the same")
    _get_data(base)._assign(lambda old: value.detach())


# -- .type() and the legacy tensor types --------------------------------------------------------
_TYPE_NAMES = {"f32": "FloatTensor", "f64": "DoubleTensor", "i64": "LongTensor",
               "i32": "IntTensor", "bool": "BoolTensor", "f16": "HalfTensor",
               "bf16": "BFloat16Tensor", "u8": "ByteTensor", "i8": "CharTensor",
               "i16": "ShortTensor"}


def type_name(dtype: dtypes.DType, on_cuda: bool = False) -> str:
    """PyTorch's legacy name of a tensor type: ``graphc.FloatTensor``, ``graphc.cuda.LongTensor``."""
    name = _TYPE_NAMES.get(dtype.name, f"{dtype.name}Tensor")
    return f"graphc.{'cuda.' if on_cuda else ''}{name}"


class _LegacyTensorType(type):
    """Metaclass of ``graphc.FloatTensor`` & co.: calling one makes a tensor of its dtype
    (``FloatTensor(2, 3)``: uninitialized, of that shape; ``FloatTensor([1, 2])``: from data),
    and ``isinstance(t, graphc.FloatTensor)`` checks a cpu tensor's dtype."""

    dtype: dtypes.DType

    def __call__(cls, *args, device=None):
        return legacy_new(cls.dtype, args, device)

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype and not obj.is_cuda

    def __repr__(cls) -> str:
        return f"<class '{type_name(cls.dtype)}'>"


def _legacy_type(dtype: dtypes.DType) -> type:
    return _LegacyTensorType(_TYPE_NAMES[dtype.name], (), {"dtype": dtype,
                                                            "__module__": "graphc"})


FloatTensor = _legacy_type(dtypes.f32)
DoubleTensor = _legacy_type(dtypes.f64)
LongTensor = _legacy_type(dtypes.i64)
IntTensor = _legacy_type(dtypes.i32)
BoolTensor = _legacy_type(dtypes.bool_)
LEGACY_TYPES = {type_name(t.dtype): t for t in (FloatTensor, DoubleTensor, LongTensor,
                                                 IntTensor, BoolTensor)}


def legacy_new(dtype: dtypes.DType, args: tuple, device=None) -> Tensor:
    """``Tensor(*args)`` of PyTorch's legacy constructors: ints are a shape (values
    uninitialized in PyTorch; zeros here), anything else is data converted to ``dtype``."""
    if not args:
        return factories.zeros(0, dtype=dtype, device=device)
    if all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        return factories.zeros(*args, dtype=dtype, device=device)
    if len(args) > 1:
        raise TypeError(f"Tensor(): expected a shape (ints) or one sequence of data, got "
                        f"{len(args)} arguments of types "
                        f"{[type(a).__name__ for a in args]}")
    return factories.tensor(args[0], dtype=dtype, device=device)


def _init_legacy(self, *args, dtype=None, requires_grad: bool = False, device=None):
    """``graphc.Tensor(2, 3)`` (float32 of that shape) or ``graphc.Tensor(data)`` (float32
    from data, as PyTorch's ``torch.Tensor`` is ``FloatTensor``); float64 after
    ``graphc.set_default_dtype(graphc.float64)``, as in PyTorch."""
    made = legacy_new(factories.as_dtype(dtype or dtypes.DEFAULT_FLOAT), args, device)
    self._init(made._data, made._value, made._trace)
    self.requires_grad = bool(requires_grad)


def _type(self, dtype=None, non_blocking: bool = False):
    """``t.type()`` names the type (``'graphc.FloatTensor'``); ``t.type(dtype)`` converts to a
    dtype, a legacy type (``graphc.LongTensor``) or its name (``'torch.DoubleTensor'`` too)."""
    if dtype is None:
        return type_name(self.dtype, self.is_cuda)
    if isinstance(dtype, _LegacyTensorType):
        dtype = dtype.dtype
    elif isinstance(dtype, str) and dtype.endswith("Tensor"):
        name = "graphc." + dtype.split(".")[-1]
        if name not in LEGACY_TYPES:
            raise TypeError(f"type(): unknown tensor type {dtype!r}; graphc knows "
                            f"{sorted(LEGACY_TYPES)}")
        dtype = LEGACY_TYPES[name].dtype
    return F.cast(self, dtype)


# -- new_* --------------------------------------------------------------------------------------
def _like(self, dtype, device):
    return (dtype if dtype is not None else self.dtype,
            device if device is not None or self._value is not None else self.device)


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(self, dtype, device)
    return factories.full(size, fill_value, dtype=dtype, device=device,
                          requires_grad=requires_grad)


def _new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
    return _new_full(self, factories._shape(size), 0, dtype=dtype, device=device,
                     requires_grad=requires_grad)


def _new_ones(self, *size, dtype=None, device=None, requires_grad=False):
    return _new_full(self, factories._shape(size), 1, dtype=dtype, device=device,
                     requires_grad=requires_grad)


def _new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(self, dtype, device)
    return factories.tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


# -- in-place fills -----------------------------------------------------------------------------
def _random_fill(name: str, make):
    def fill(self, *args, **kwargs):
        if not self.dtype.is_float:
            raise F.DTypeError(f"{name}: random fills need a floating point tensor, got "
                               f"{self.dtype}")
        return self._assign(lambda old: _overwrite(old, make(old, *args, **kwargs)))
    fill.__name__ = name
    fill.__doc__ = (f"``{name}``: fills the tensor in place with fresh samples from graphc's "
                    f"generator (``graphc.manual_seed``) or ``generator=``; no gradient flows "
                    f"into the samples.")
    return fill


def _normal(old, mean=0.0, std=1.0, *, generator=None):
    return factories.normal(float(mean), float(std), old.shape, dtype=old.dtype,
                            generator=generator)


def _uniform(old, a=0.0, b=1.0, *, generator=None):
    return factories.uniform(old.shape, float(a), float(b), dtype=old.dtype, generator=generator)


def _bernoulli(old, p=0.5, *, generator=None):
    return F.cast(F.lt(factories.rand(old.shape, dtype=dtypes.f64, generator=generator), p),
                  old.dtype)


def _exponential(old, lambd=1.0, *, generator=None):
    # in [0, 1): 1 - u is never 0
    u = factories.rand(old.shape, dtype=old.dtype, generator=generator)
    return F.div(F.neg(F.log(F.sub(1.0, u))), float(lambd))


def _t_(self):
    """In-place ``t()``: a matrix becomes its transpose (its shape swapped too, eagerly)."""
    return self._assign(composites.t, resizes="t_")


# In-place forms of methods installed elsewhere: ``x.name_(*args)`` rebinds ``x`` to
# ``x.name(*args)`` (cast back to x's dtype, as PyTorch stores in-place results).
_SAME_SHAPE_INPLACE = """
arccos arccosh arcsin arcsinh arctan arctan2 arctanh clip cumprod cumsum divide eq erf expm1 fix
ge greater greater_equal gt le less less_equal log1p logical_and logical_or logical_xor lt ne
not_equal reciprocal renorm rsqrt sign tril triu
""".split()
# ... and those that change the shape: eagerly only (a compiled function's state keeps its shape)
_RESIZING_INPLACE = ("squeeze", "unsqueeze", "transpose", "swapaxes", "swapdims")


def _method_inplace(name: str, resizes: bool = False):
    def method(self, *args, **kwargs):
        # looked up when called: some out-of-place methods are installed after this module
        return self._assign(lambda old: getattr(old, name)(*args, **kwargs),
                            name + "_" if resizes else None)
    method.__name__ = name + "_"
    method.__doc__ = f"In-place ``{name}``: ``x.{name}_(...)`` makes ``x`` ``x.{name}(...)``."
    return method


def _copy(self: Tensor) -> Tensor:
    """``copy.copy(t)``, as PyTorch's: the same values, ``requires_grad``, history and Python
    attributes, but no ``.grad`` (PyTorch rebuilds the tensor from its storage; sharing the
    ``.grad`` object made a backward through either accumulate into both).

        >>> import copy, graphc
        >>> x = graphc.ones(2, requires_grad=True)
        >>> x.sum().backward()
        >>> y = copy.copy(x)
        >>> y.requires_grad, y.grad, x.grad.tolist()
        (True, None, [1.0, 1.0])
    """
    cls = type(self)
    if cls.__reduce_ex__ is not Tensor.__reduce_ex__:  # its own (a .data view: a snapshot)
        rebuild, arguments = self.__reduce_ex__(4)[:2]
        return rebuild(*arguments)
    new = object.__new__(cls)
    for klass in cls.__mro__:
        for slot in vars(klass).get("__slots__", ()):
            if slot not in _NOT_COPIED and hasattr(self, slot):
                object.__setattr__(new, slot, getattr(self, slot))
    fields = getattr(self, "__dict__", None)
    if fields:
        new.__dict__.update(fields)
    new._grad = new._view_info = new._views = None
    return new


# a copy is a tensor of its own: no link to a base, and no share in the original's views
_NOT_COPIED = ("__weakref__", "_view_info", "_views")


def _install() -> None:
    Tensor.__init__ = _init_legacy
    Tensor.__copy__ = _copy
    Tensor.data = property(_get_data, _set_data)
    Tensor.type = _type
    Tensor.new_full = _new_full
    Tensor.new_zeros = _new_zeros
    Tensor.new_ones = _new_ones
    Tensor.new_empty = _new_zeros  # uninitialized in PyTorch: zeros here
    Tensor.new_tensor = _new_tensor
    Tensor.normal_ = _random_fill("normal_", _normal)
    Tensor.uniform_ = _random_fill("uniform_", _uniform)
    Tensor.bernoulli_ = _random_fill("bernoulli_", _bernoulli)
    Tensor.exponential_ = _random_fill("exponential_", _exponential)
    Tensor.t_ = _t_
    for name in ("repeat", "flip", "fliplr", "flipud", "roll", "unbind", "t", "addcmul",
                 "addcdiv", "isclose", "allclose"):
        setattr(Tensor, name, getattr(composites, name))
    Tensor.addcmul_ = inplace_method(composites.addcmul)
    Tensor.addcdiv_ = inplace_method(composites.addcdiv)
    Tensor.logical_xor = F.logical_xor
    for name in _SAME_SHAPE_INPLACE:
        setattr(Tensor, name + "_", _method_inplace(name))
    for name in _RESIZING_INPLACE:
        setattr(Tensor, name + "_", _method_inplace(name, resizes=True))
    Tensor.norm = linalg.tensor_norm
    Tensor.nonzero = data_dependent.nonzero
    Tensor.argwhere = data_dependent.argwhere
    Tensor.masked_select = data_dependent.masked_select


_install()

__all__ = ["BoolTensor", "DoubleTensor", "FloatTensor", "IntTensor", "LongTensor", "legacy_new",
           "type_name"]
