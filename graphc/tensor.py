"""``graphc.Tensor``: a NumPy-backed tensor with PyTorch's API and autograd.

A tensor is either *concrete* (``_data`` holds a NumPy array) or *traced* (``_value`` is an IR
value of the graph being traced by ``@graphc.compile``). This module holds the data type itself:
storage, type, identity, autograd fields, conversions and repr. It imports no other part of
graphc that computes: every op goes through :func:`graphc.dispatch.apply`, and the operators and
the methods that trace, record or run ops (``x + y``, ``.grad``, ``.backward()``, in-place ops,
``.numpy()``'s check for a trace) are attached by :mod:`graphc.tensor_methods`, which importing
``graphc`` loads. In-place ops rebind the tensor to a new result (arrays are never written to), so
every recorded value stays valid; views (``x[0]``, ``x.t()``) share values with their base by
propagation (:mod:`graphc.views`).

    >>> import graphc
    >>> x = graphc.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> y = (x @ x.T).sum()
    >>> y.backward(); x.grad.shape
    (2, 2)
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from graphc.errors import AutogradError, ShapeError
from graphc.size import Size
from ir import dtypes
from ir.types import TensorType, normalize_axis

_new_object = object.__new__
_new_tuple = tuple.__new__


class Tensor:
    """An n-dimensional array with autograd, like ``torch.Tensor``.

    Create tensors with :func:`graphc.tensor`, :func:`graphc.zeros`, :func:`graphc.randn`, ...
    ``Tensor(2, 3)`` and ``Tensor(data)`` are PyTorch's legacy constructor (float32, like
    ``graphc.FloatTensor``; ``__init__`` is attached by :mod:`graphc.tensor_compat`).
    """

    # _view_info: what makes this tensor a view (graphc.views.ViewInfo), else None; _views: weak
    # references to the views of this tensor (a root), or None
    __slots__ = ("_data", "_value", "_trace", "requires_grad", "_grad", "_grad_fn", "_version",
                 "_name_hint", "_view_info", "_views", "__weakref__", "__dict__")
    __array_priority__ = 1000  # ndarray <op> Tensor defers to Tensor's reflected operators

    def _init(self, data, value, trace):
        self._data = data
        self._value = value
        self._trace = trace
        self.requires_grad = False
        self._grad = None
        self._grad_fn = None
        self._version = 0
        self._name_hint = self._view_info = self._views = None

    @classmethod
    def _wrap(cls, array: np.ndarray) -> Tensor:
        t = object.__new__(cls)
        t._init(array, None, None)
        return t

    @staticmethod
    def _from_result(array: np.ndarray) -> Tensor:
        """A new concrete tensor over ``array``, an output a compiled graph just made: the same
        as ``Tensor._wrap``, without its call layers (the compiled call path makes one per
        output, and every slot must be set, as ``_init`` does).

            >>> import numpy as np
            >>> t = Tensor._from_result(np.ones(2, np.float32))
            >>> t.requires_grad, t.grad, t.is_traced, t.tolist()
            (False, None, False, [1.0, 1.0])
        """
        t = _new_object(Tensor)
        t._data = array
        t._value = t._trace = t._grad = t._grad_fn = t._name_hint = t._view_info = t._views = None
        t.requires_grad = False
        t._version = 0
        return t

    @classmethod
    def _traced(cls, value, ctx) -> Tensor:
        t = object.__new__(cls)
        t._init(None, value, ctx)
        return t

    def _alias(self) -> Tensor:
        """Another tensor object for the same value and history (not for users)."""
        t = object.__new__(Tensor)
        t._init(self._data, self._value, self._trace)
        t.requires_grad = self.requires_grad
        t._grad_fn = self._grad_fn
        return t

    def __getstate__(self):
        """Pickled and copied (``copy.copy``, ``deepcopy``) as a tensor of its own: a view's
        link to its base (``_view_info``) and a base's weak references to its views are left
        out (a copied base shared its views' list with the original otherwise)."""
        state = object.__getstate__(self)  # (__dict__ or None, the slots that are set)
        own, slots = state if isinstance(state, tuple) else (state, {})
        slots = {k: v for k, v in slots.items() if k not in ("_view_info", "_views")}
        return own, slots

    def __setstate__(self, state) -> None:
        own, slots = state
        self._view_info = self._views = None
        for name, value in slots.items():
            object.__setattr__(self, name, value)
        if own:
            self.__dict__.update(own)

    # -- type and identity ---------------------------------------------------------------------
    @property
    def is_traced(self) -> bool:
        return self._value is not None

    @property
    def ir_type(self) -> TensorType:
        """The IR type (dtype and shape), as the graph sees it. (``.type()`` is PyTorch's method,
        which names the type as a string or converts: see :mod:`graphc.tensor_compat`.)"""
        if self._value is not None:
            return self._value.type
        data = self._data
        if type(data) is np.ndarray:  # (a device array's shape may be of another kind)
            return TensorType.of_array(dtypes.from_numpy(data.dtype), data.shape)
        return TensorType(dtypes.from_numpy(data.dtype), data.shape)

    @property
    def shape(self) -> Size:
        """The sizes of the dims, a :class:`graphc.Size` (a tuple: ``x.shape == (2, 3)``)."""
        return _new_tuple(Size, self._value.type.shape if self._value is not None
                          else self._data.shape)

    @property
    def dtype(self) -> dtypes.DType:
        if self._value is not None:
            return self._value.type.dtype
        return dtypes.from_numpy(self._data.dtype)  # (ir_type's dtype, without the type)

    @property
    def ndim(self) -> int:
        return len(self._value.type.shape) if self._value is not None else self._data.ndim

    def dim(self) -> int:
        return self.ndim

    def size(self, dim: Optional[int] = None):
        """``x.size()`` is ``x.shape`` (a :class:`graphc.Size`); ``x.size(d)`` the size of dim d."""
        return self.shape if dim is None else self.shape[normalize_axis(dim, self.ndim)]

    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def is_floating_point(self) -> bool:
        return self.dtype.is_float

    @property
    def device(self):
        """Where the values live: ``device(type='cpu')`` or ``device(type='cuda', index=0)``
        (a traced tensor: the cpu; compiled graphs run where their backend runs)."""
        from graphc.device import device_of  # a leaf module; tensor.py imports none at load
        return device_of(self._data)

    @property
    def is_cuda(self) -> bool:
        return type(self._data) is not np.ndarray and self.device.type == "cuda"

    # devices graphc does not have: PyTorch programs ask (`input.is_cuda or input.is_xpu`)
    is_xpu = is_mps = is_meta = property(lambda self: False)

    __hash__ = object.__hash__

    # -- autograd ------------------------------------------------------------------------------
    @property
    def grad_fn(self):
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if self._grad_fn is not None and not requires_grad:
            raise AutogradError("requires_grad_(False) is only allowed on leaf tensors; "
                                "use detach() instead")
        if requires_grad and not self.dtype.is_float:
            raise AutogradError(f"only floating point tensors can require gradients, "
                                f"got {self.dtype}")
        self.requires_grad = requires_grad
        return self

    def detach_(self) -> Tensor:
        self._grad_fn = None
        self.requires_grad = False
        return self

    def retain_grad(self) -> None:
        raise NotImplementedError("retain_grad() is not supported; use graphc.autograd.grad")

    # -- conversions that need a concrete value (``_concrete``: see graphc.tensor_methods) -----
    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The values as a NumPy array: a read-only view (graphc never writes arrays in place,
        and tensors may share them, so writing into one would change others silently).

        Unlike PyTorch, a tensor that requires grad is accepted (PyTorch asks for
        ``t.detach().numpy()`` because its array shares the storage autograd reads, so a write
        into it would change a saved value unseen; graphc's is read-only and cannot). ``force``
        is PyTorch's (detach and copy to the CPU first): graphc's ``numpy()`` already does
        both, so it changes nothing here."""
        return _read_only(self._concrete("call .numpy()"))

    def item(self):
        return self._one_element("call .item()").item()

    def _one_element(self, what: str) -> np.ndarray:
        data = self._concrete(what)
        if data.size != 1:
            raise ShapeError(f"only tensors with one element can be converted to Python scalars "
                             f"({what}); got shape {list(data.shape)}")
        return data.reshape(())

    def tolist(self):
        return self._concrete("call .tolist()").tolist()

    def __array__(self, dtype=None, copy=None):
        data = self._concrete("pass the tensor to NumPy")
        return _read_only(data) if dtype is None else data.astype(dtype)

    def __bool__(self) -> bool:
        data = self._concrete("use the tensor as a Python bool (if/while/and/or)")
        if data.size != 1:
            raise ShapeError(f"the truth value of a tensor with {data.size} elements is "
                             "ambiguous; use .any() or .all()")
        return bool(data.reshape(()))

    def __float__(self) -> float:
        return float(self._one_element("convert the tensor to float"))

    def __int__(self) -> int:
        return int(self._one_element("convert the tensor to int"))

    def __index__(self) -> int:
        if self.dtype.is_float or self.dtype.is_bool:
            raise TypeError("only integer tensors of one element can be used as an index")
        return int(self)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        extra = ""
        if self._grad_fn is not None:
            extra = f", grad_fn=<{self._grad_fn.name}>"
        elif self.requires_grad:
            extra = ", requires_grad=True"
        if self._value is not None:
            return f"tensor(<traced: {self.ir_type}>{extra})"
        values = self._data
        where = ""
        if self.is_cuda:  # printed as PyTorch prints it, from a host copy
            from graphc.device import host_array
            values, where = host_array(values), f", device='{self.device}'"
        if self.dtype == dtypes.bf16:  # ml_dtypes prints 0.0 as "0": its exact f32 values
            values = np.asarray(values).astype(np.float32)
        body = np.array2string(values, separator=", ", prefix="tensor(", threshold=200)
        default = self.dtype in (dtypes.f32, dtypes.i64, dtypes.bool_)  # not printed, as in torch
        dtype = "" if default else f", dtype={self.dtype}"
        return f"tensor({body}{where}{dtype}{extra})"


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view

