"""``graphc.Tensor``: a NumPy-backed tensor with PyTorch's API and autograd.

A tensor is either *concrete* (``_data`` holds a NumPy array) or *traced* (``_value`` is an IR
value of the graph being traced by ``@graphc.compile``). Every op goes through :func:`apply`,
which evaluates the op's registry reference on arrays, or appends an IR node while tracing, and
records a :class:`~graphc.autograd.GradFn` when autograd is on. In-place ops rebind the tensor to
a new result (arrays are never written to), so every recorded value stays valid.

    >>> import graphc
    >>> x = graphc.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> y = (x @ x.T).sum()
    >>> y.backward(); x.grad.shape
    (2, 2)
"""
from __future__ import annotations

import weakref
from typing import Optional

import numpy as np

from graphc import autograd, tracing
from graphc.errors import AutogradError, TraceError
from ir import dtypes
from ir.evaluate import evaluate, quiet_float_errors
from ir.registry import get as get_op
from ir.types import TensorType, normalize_axis


def apply(op: str, inputs, **attrs) -> Tensor:
    """Applies primitive ``op`` to tensors: the one entry point of every tensor computation."""
    opdef = get_op(op)
    attrs = opdef.check_attrs(attrs)
    out_type = opdef.infer([t.type for t in inputs], attrs)
    ctx = tracing.current()
    if ctx is None:
        for t in inputs:
            if t._value is not None:
                raise TraceError(f"a traced tensor ({t._value.type}) escaped from a compiled "
                                 "function and was used outside it; return it instead")
        with quiet_float_errors():
            out = Tensor._wrap(evaluate(opdef, [t._data for t in inputs], attrs, out_type))
    else:
        value = ctx.emit(op, [ctx.value_of(t) for t in inputs], attrs)
        out = Tensor._traced(value, ctx)
    if (opdef.differentiable and autograd.is_grad_enabled()
            and any(t.requires_grad for t in inputs)):
        out.requires_grad = True
        out._grad_fn = autograd.GradFn(opdef, attrs, inputs, out)
    return out


class Tensor:
    """An n-dimensional array with autograd, like ``torch.Tensor``.

    Create tensors with :func:`graphc.tensor`, :func:`graphc.zeros`, :func:`graphc.randn`, ...
    ``Tensor(data)`` is the same as ``graphc.tensor(data)``.
    """

    __slots__ = ("_data", "_value", "_trace", "requires_grad", "_grad", "_grad_fn", "_version",
                 "_name_hint", "__weakref__")
    __array_priority__ = 1000  # ndarray <op> Tensor defers to Tensor's reflected operators

    def __init__(self, data=None, dtype=None, requires_grad: bool = False):
        from graphc.factories import tensor as make
        made = make(data if data is not None else [], dtype=dtype)
        self._init(made._data, made._value, made._trace)
        self.requires_grad = bool(requires_grad)

    def _init(self, data, value, trace):
        self._data = data
        self._value = value
        self._trace = trace
        self.requires_grad = False
        self._grad = None
        self._grad_fn = None
        self._version = 0
        self._name_hint = None

    @classmethod
    def _wrap(cls, array: np.ndarray) -> Tensor:
        t = object.__new__(cls)
        t._init(array, None, None)
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

    # -- type and identity ---------------------------------------------------------------------
    @property
    def is_traced(self) -> bool:
        return self._value is not None

    @property
    def type(self) -> TensorType:
        if self._value is not None:
            return self._value.type
        return TensorType(dtypes.from_numpy(self._data.dtype), self._data.shape)

    @property
    def shape(self) -> tuple:
        return self._value.type.shape if self._value is not None else self._data.shape

    @property
    def dtype(self) -> dtypes.DType:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return self.ndim

    def size(self, dim: Optional[int] = None):
        return self.shape if dim is None else self.shape[normalize_axis(dim, self.ndim)]

    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def is_floating_point(self) -> bool:
        return self.dtype.is_float

    __hash__ = object.__hash__

    # -- autograd ------------------------------------------------------------------------------
    @property
    def grad(self) -> Optional[Tensor]:
        ctx = tracing.current()
        if ctx is not None and self._value is None:
            return ctx.read_grad(self)
        return self._grad

    @grad.setter
    def grad(self, value: Optional[Tensor]) -> None:
        if value is not None and not isinstance(value, Tensor):
            raise TypeError(f"grad must be a Tensor or None, got {type(value).__name__}")
        if value is not None and value.shape != self.shape:
            raise AutogradError(f"assigned grad has shape {list(value.shape)}, "
                                f"but the tensor has shape {list(self.shape)}")
        ctx = tracing.current()
        if ctx is not None and self._value is None:
            ctx.write_grad(self, value)
        else:
            self._grad = value

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

    def backward(self, gradient: Optional[Tensor] = None, retain_graph: Optional[bool] = None,
                 create_graph: bool = False) -> None:
        """Accumulates d(self)/d(leaf) into the ``.grad`` of every leaf that requires grad."""
        if gradient is None:
            if self.numel() != 1:
                raise AutogradError(f"backward() without a gradient needs a scalar (one element) "
                                    f"tensor, got shape {list(self.shape)}; pass gradient=")
            from graphc.factories import ones_like
            gradient = ones_like(self)
        elif not isinstance(gradient, Tensor):
            from graphc.factories import tensor as make
            gradient = make(gradient, dtype=self.dtype)
        if gradient.shape != self.shape:
            raise AutogradError(f"gradient has shape {list(gradient.shape)}, expected "
                                f"{list(self.shape)}")
        autograd.run_backward([self], [gradient], create_graph=create_graph,
                              retain_graph=retain_graph)

    def detach(self) -> Tensor:
        """The same value, cut from the autograd history (``stop_gradient`` while tracing)."""
        if tracing.current() is not None:  # also for concrete tensors, so they are lifted
            with autograd.no_grad():
                return apply("stop_gradient", [self])
        return Tensor._wrap(self._data)

    def detach_(self) -> Tensor:
        self._grad_fn = None
        self.requires_grad = False
        return self

    def retain_grad(self) -> None:
        raise NotImplementedError("retain_grad() is not supported; use graphc.autograd.grad")

    # -- in-place machinery --------------------------------------------------------------------
    def _assign(self, compute) -> Tensor:
        """Runs ``compute(old_self) -> new`` and rebinds this tensor to ``new`` (in-place ops)."""
        if self.requires_grad and self._grad_fn is None and autograd.is_grad_enabled():
            raise AutogradError("a leaf tensor that requires grad is used in an in-place "
                                "operation; wrap the update in `with graphc.no_grad():`")
        ctx = tracing.current()
        if ctx is not None and self._value is None:
            # a concrete tensor written inside a trace: its old value is the lifted graph input
            old = Tensor._traced(ctx.value_of(self), ctx)
            old.requires_grad, old._grad_fn = self.requires_grad, self._grad_fn
        else:
            old = self._alias()
        new = compute(old)
        if new.shape != self.shape:
            raise AutogradError(f"in-place result has shape {list(new.shape)}, but the tensor "
                                f"being written has shape {list(self.shape)}")
        if new.dtype != self.dtype:
            if dtypes.promote(new.dtype, self.dtype) != self.dtype:
                raise AutogradError(f"in-place result of dtype {new.dtype} cannot be stored in a "
                                    f"tensor of dtype {self.dtype}")
            new = new.to(self.dtype)
        if ctx is not None and self._value is None:
            ctx.record_mutation(self, new)
        elif new._value is not None:
            self._value, self._trace = new._value, new._trace
        else:
            self._data = new._data
        self._grad_fn = new._grad_fn
        self.requires_grad = self.requires_grad or new.requires_grad
        self._version += 1
        if new._grad_fn is not None:
            new._grad_fn._out_ref = weakref.ref(self)
            new._grad_fn._out_version = self._version
        return self

    # -- conversions that need a concrete value ----------------------------------------------
    def _concrete(self, what: str) -> np.ndarray:
        # While tracing, even a concrete (closure) tensor's value must not be baked into the
        # graph: it may change before the next call.
        if self._value is not None or tracing.current() is not None:
            raise tracing.value_needed_error(what)
        return self._data

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array: a read-only view (graphc never writes arrays in place,
        and tensors may share them, so writing into one would change others silently)."""
        return _read_only(self._concrete("call .numpy()"))

    def item(self):
        return self._one_element("call .item()").item()

    def _one_element(self, what: str) -> np.ndarray:
        data = self._concrete(what)
        if data.size != 1:
            raise ValueError(f"only tensors with one element can be converted to Python scalars "
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
            raise ValueError(f"the truth value of a tensor with {data.size} elements is "
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
            return f"tensor(<traced: {self.type}>{extra})"
        body = np.array2string(self._data, separator=", ", prefix="tensor(", threshold=200)
        default = self.dtype in (dtypes.f32, dtypes.i64, dtypes.bool_)  # not printed, as in torch
        dtype = "" if default else f", dtype={self.dtype}"
        return f"tensor({body}{dtype}{extra})"


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


from graphc import tensor_methods  # noqa: E402,F401  (attaches operators and methods)
