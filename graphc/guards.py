"""Guards on the Python state a compiled function can read.

A trace bakes in every Python value it reads: ``x * scale`` records the number ``scale`` held,
``if cfg.use_relu:`` records one branch, ``params['w']`` records which tensor the dict held. So
the compiled graph may be reused only while that state is unchanged. :func:`snapshot` walks the
state reachable from the function (its closure, the globals its code names, ``self`` or the
module, and on through attributes, dicts, lists and tuples, and into the closures and globals of
the user functions it finds) and records a flat list of *tokens*: Python numbers, bools and
strings by value, tensors and other objects by identity, containers by their length and keys.
:class:`StateGuard` re-walks at every call and compares; the first difference is named by its
path, as TorchDynamo's guards are:

    >>> import graphc
    >>> scale = 2.0
    >>> f = graphc.compile(lambda x: x * scale)
    >>> f(graphc.ones(2)).tolist()
    [2.0, 2.0]
    >>> scale = 3.0
    >>> f(graphc.ones(2)).tolist()
    [3.0, 3.0]
    >>> f.entries[-1].reason
    'guard failed: scale == 2.0 (now 3.0)'

Walking stops at graphc's own code, the standard library and installed packages (their
functions are identity-checked, not opened), so the walk covers what user code can change.
Python modules reached from user code are opened only for the names that code uses
(``config.lr``).
"""
from __future__ import annotations

import argparse
import array
import collections
import contextvars
import dataclasses
import dis
import functools
import hashlib
import io
import math
import operator
import os
import pickle
import random
import sys
import sysconfig
import threading
import types
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any, Optional

import numpy as np

from graphc import impure_reads
from ir.dtypes import from_numpy
from ir.types import TensorType

_MAX_OBJECTS = 20000  # beyond this the walk stops opening containers (and warns once)
_SMALL_ARRAY = 4096   # NumPy arrays up to this size are guarded by their bytes, larger by a digest
_DIGEST_LIMIT = 1 << 22  # bytes; larger arrays are guarded by identity only (with a warning)
_MODULE_STORAGE = ("_parameters", "_buffers", "_modules")  # nn.Module's attribute dicts
# configs users pass around, and the standard library's containers that keep their items in
# attributes (UserDict.data, ChainMap.maps): opened like a user class's instances
# (a threading.local's __dict__ is the calling thread's: each thread's values are guarded)
_RECORD_TYPES = (types.SimpleNamespace, argparse.Namespace, collections.UserDict,
                 collections.UserList, collections.ChainMap, threading.local)

_GRAPHC_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_LIBRARY_DIRS = tuple(sorted({
    os.path.abspath(p) + os.sep
    for key in ("stdlib", "platstdlib", "purelib", "platlib")
    if (p := sysconfig.get_paths().get(key))
}))
_OWN_DIRS = tuple(_GRAPHC_ROOT + d + os.sep for d in ("graphc", "ir", "passes", "backends"))


@functools.lru_cache(maxsize=4096)
def is_user_code(filename: Optional[str]) -> bool:
    """Whether a source file is the user's (not graphc, the standard library or a package)."""
    if not filename or filename.startswith("<frozen"):
        return False
    path = os.path.abspath(filename)
    return not path.startswith(_OWN_DIRS) and not path.startswith(_LIBRARY_DIRS)


@functools.lru_cache(maxsize=4096)
def _class_is_user_code(cls: type) -> bool:
    module = sys.modules.get(cls.__module__)
    filename = getattr(module, "__file__", None)
    if filename is None:
        # a notebook's cells and ``python -c`` run in a __main__ without a file; other modules
        # without one are the interpreter's or a library's (Cython's shared _cython_3_x)
        return cls.__module__ == "__main__" and module is not None
    return is_user_code(filename)


_MISSING = object()


def _weak(obj) -> tuple:
    """An identity token that does not keep ``obj`` alive where Python allows it.

    The id comes first, so comparing tokens of different objects never calls their ``__eq__``
    (a tensor's is elementwise); a dead weak reference equals no live one, so a new object that
    reuses a dead one's id does not pass for it."""
    try:
        return (id(obj), weakref.ref(obj))
    except TypeError:
        return (id(obj), obj)


def _referent(token: tuple):
    held = token[1]
    return held() if isinstance(held, weakref.ref) else held


def _primitive(obj) -> Optional[tuple]:
    """The value token of a Python/NumPy scalar, or None. Floats compare by bit pattern, so NaN
    equals NaN and -0.0 differs from 0.0 (both change what a graph computes)."""
    kind = type(obj)
    if obj is None or kind in (bool, int, str, bytes):
        return (kind, obj)
    if kind is float:
        return (float, obj.hex() if math.isfinite(obj) else repr(obj))
    if kind is complex:
        return (complex, obj.real.hex(), obj.imag.hex())
    if isinstance(obj, np.generic):
        return (kind, obj.tobytes())
    return None


def _wrapped_function(obj) -> Any:
    """What a graphc ``CompiledFunction`` compiles (a function, a module), or the user function
    a builtin wrapper such as ``functools.lru_cache``'s wraps; else None."""
    if isinstance(obj, _compiled_function_type()):
        return obj.fn
    if type(obj).__module__ in ("functools", "_functools"):
        wrapped = getattr(obj, "__wrapped__", None)
        return wrapped if isinstance(wrapped, types.FunctionType) else None
    return None


@functools.lru_cache(maxsize=1)
def _compiled_function_type() -> type:
    from graphc.compile import CompiledFunction  # compile imports this module
    return CompiledFunction


class _ByValue:
    """An object in a token that compares by its own ``==`` (an equal object made anew passes),
    safely: another type, or an ``==`` that raises or gives no bool, is a difference."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __eq__(self, other) -> bool:
        if not isinstance(other, _ByValue) or type(other.value) is not type(self.value):
            return False
        if other.value is self.value:
            return True
        try:
            return (self.value == other.value) is True
        except Exception:
            return False

    def __repr__(self) -> str:
        return repr(self.value)


def _object_token(obj) -> tuple:
    """The token of an object the walk does not take apart as a container or function. One
    whose attributes the walk opens (a user class's instance, a module) by its type: its
    fields follow. Others are out of the walk's sight, so the object itself must be the same:
    mutable bytes by their contents (``bytearray``, ``array.array``); a hashable object that
    defines ``==`` by value (a slice, range, Fraction, Decimal, timedelta, dtype: an equal one
    made anew passes); anything else by identity (``max`` swapped for ``min``, an
    ``itemgetter``, a ``graphc.Generator``)."""
    cls = type(obj)
    if _opens_instances_of(cls):
        return ("object", _weak(cls))
    if isinstance(obj, (bytearray, array.array)):
        return ("bytes", cls, bytes(obj))
    if cls is slice or (cls.__eq__ is not object.__eq__ and cls.__hash__ is not None):
        # (slices are immutable, though not hashable before Python 3.12)
        return ("equal", _ByValue(obj))
    return ("object", _weak(obj))


def is_plain_value(obj) -> bool:
    """A Python or NumPy scalar, str, bytes or None: immutable, guarded by value."""
    return _primitive(obj) is not None


def _describe(token) -> str:
    """A token as the user would recognize the value."""
    if token == ("unset",):
        return "unset"
    if isinstance(token, tuple) and token and token[0] == "value":
        kind, raw = token[1], token[2:]
        if kind is float:
            return repr(float.fromhex(raw[0])) if raw[0] not in ("nan", "inf", "-inf") else raw[0]
        if isinstance(kind, type) and issubclass(kind, np.generic):
            return repr(np.frombuffer(raw[0], dtype=kind)[0])
        return repr(raw[0]) if len(raw) == 1 else repr(raw)
    if isinstance(token, tuple) and token and token[0] == "tensor":
        alive = _referent(token[1])
        if alive is None:
            return "a tensor that no longer exists"
        return "a tensor created by the trace" if token[2] else f"tensor of type {alive.ir_type}"
    if isinstance(token, tuple) and token and token[0] in ("dict", "seq", "set"):
        return {"dict": "a dict with keys {}", "seq": "a {} of length {}",
                "set": "a set {}"}[token[0]].format(*[_short(t) for t in token[1:]])
    if isinstance(token, tuple) and token and token[0] == "equal":
        return _short(token[1].value)
    if isinstance(token, tuple) and token and token[0] == "bytes":
        return f"a {token[1].__name__} holding {_short(token[2])}"
    if isinstance(token, tuple) and token and token[0] == "object":
        obj = _referent(token[1])
        return "an object that no longer exists" if obj is None else f"the object {_short(obj)}"
    return _short(token)


def _key_change(old: tuple, new: tuple) -> str:
    """How a dict's (or an object's attributes') keys changed, from their tokens."""
    def names(keys):
        return ", ".join(repr(key[1]) if key[0] != "key" else "an object" for key in keys)
    added = [key for key in new if key not in old]
    removed = [key for key in old if key not in new]
    parts = ([f"{names(added)} added"] if added else []) + (
        [f"{names(removed)} removed"] if removed else [])
    return " and ".join(parts) or "its keys are in another order"


def _short(obj) -> str:
    if isinstance(obj, type):
        return obj.__name__
    text = repr(obj)
    return text if len(text) <= 60 else text[:57] + "..."


_FUNCTION_STATE = ("__defaults__", "__kwdefaults__", "__dict__")  # read, walked when not empty
_PARTIAL_FIELDS = ("func", "args", "keywords")
_ANY = object()  # a recorded dict value that may change (read as a graph input at every call)


def _cell_contents(cell):
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return _MISSING


def _read_global_names(fn: types.FunctionType) -> tuple:
    """The globals a user function's walk reads, in walk order."""
    names = _global_names(fn.__code__)
    if "globals" in names and "globals" not in fn.__globals__:
        # globals()['name'] reads variables no instruction names: read them all
        names = frozenset(n for n in fn.__globals__ if not n.startswith("__"))
    return tuple(sorted(names))


@functools.lru_cache(maxsize=1024)
def _slot_names(cls: type) -> tuple:
    """The ``__slots__`` attributes of ``cls`` and its bases, in walk order."""
    names = []
    for klass in cls.__mro__:
        slots = vars(klass).get("__slots__", ())
        names += [n for n in ((slots,) if isinstance(slots, str) else slots)
                  if n not in ("__dict__", "__weakref__")]
    return tuple(names)


def _set_token(items) -> tuple:
    values = [_primitive(item) for item in items]
    return ("set", frozenset(values) if None not in values else _weak(items))


def _attributes(obj, names) -> tuple:
    return tuple(getattr(obj, name, _MISSING) for name in names)


def _entries(mapping, names) -> tuple:
    return tuple(mapping.get(name, _MISSING) for name in names)


# The checks of StateGuard's record: each says whether one object the walk opened still holds what
# the walk read from it (the same objects, by identity; recomputed tokens where the walk reads
# contents: arrays, sets, whether a tensor is concrete).

_PLAIN_MAPPINGS = (dict, collections.OrderedDict, collections.defaultdict, types.MappingProxyType)


def _same_items(container, items: tuple) -> bool:
    """A dict (items as (key, value) pairs) or a sequence holds the same objects in order."""
    if len(container) != len(items):
        return False
    if type(container) in _PLAIN_MAPPINGS:
        for (key, value), (old_key, old_value) in zip(container.items(), items):
            if key is not old_key or (value is not old_value and old_value is not _ANY):
                return False
        return True
    if isinstance(container, dict):  # a subclass may serve items() and [] apart: read as the walk
        for key, (old_key, old_value) in zip(list(container), items):
            if key is not old_key or (old_value is not _ANY and container[key] is not old_value):
                return False
        return True
    for value, old_value in zip(container, items):
        if value is not old_value:
            return False
    return True


def _environ_holds(names: tuple, values: tuple) -> bool:
    environ = os.environ
    return all(environ.get(name) == value for name, value in zip(names, values))


def _same_entries(mapping, names: tuple, values: tuple) -> bool:
    for name, value in zip(names, values):
        if mapping.get(name, _MISSING) is not value:
            return False
    return True


def _same_attributes(obj, names: tuple, values: tuple) -> bool:
    for name, value in zip(names, values):
        if getattr(obj, name, _MISSING) is not value:
            return False
    return True


def _context_value(var: contextvars.ContextVar):
    """What ``var.get()`` gives in the current context (its default if unset), or _MISSING."""
    try:
        return var.get()
    except LookupError:
        return _MISSING


def _same_context_value(var: contextvars.ContextVar, value) -> bool:
    return _context_value(var) is value


def _same_bytes(obj, contents: bytes) -> bool:
    return bytes(obj) == contents


def _same_type_and_fields(obj, cls: type, fields) -> bool:
    return type(obj) is cls and getattr(obj, "__dict__", None) is fields


def _same_function(fn, code, contents: tuple, defaults, kwdefaults, fields,
                   kwdefaults_opened: bool, fields_opened: bool, reads_globals: bool,
                   names: tuple, values: tuple) -> bool:
    if (fn.__code__ is not code or fn.__defaults__ is not defaults
            or fn.__kwdefaults__ is not kwdefaults or fn.__dict__ is not fields):
        return False
    # keyword defaults and attributes the walk did not open (empty then) must still be empty
    if (fields and not fields_opened) or (kwdefaults and not kwdefaults_opened):
        return False
    if contents:
        for cell, value in zip(fn.__closure__, contents):
            if _cell_contents(cell) is not value:
                return False
    if reads_globals and _read_global_names(fn) != names:  # globals() reads them all
        return False
    return not names or _same_entries(fn.__globals__, names, values)


def _tensor_meta(tensor) -> tuple:
    """What code may read of a tensor besides its values: dtype, shape, requires_grad, and
    whether it has a ``.grad`` (``if p.grad is None:``; the gradient's values, if read, make it
    a graph input)."""
    data = tensor._data
    return data.dtype, data.shape, tensor.requires_grad, tensor.grad is not None


def _tensor_is(tensor, concrete: bool, meta: Optional[tuple]) -> bool:
    return ((tensor._value is not None) is concrete
            and (meta is None or _tensor_meta(tensor) == meta))


def _describe_meta(meta: tuple) -> str:
    dtype, shape, requires_grad, has_grad = meta
    kind = TensorType(from_numpy(dtype), tuple(shape))
    return (f"{kind}{', requires grad' if requires_grad else ''}"
            f"{', has a .grad' if has_grad else ''}")


def _array_token_is(lifted_ids, array, token) -> bool:
    return _Walker(frozenset(), lifted_ids)._array_token(array, "") == token


def _set_token_is(items, token) -> bool:
    return _set_token(items) == token


class _Walker:
    """Walks reachable state once, recording (path, token) pairs in a deterministic order."""

    def __init__(self, skip: frozenset, lifted_ids: frozenset, on_tensor=None,
                 record: bool = False, items: Optional[dict] = None):
        self.skip = skip                    # (id(container), key) pairs read as graph inputs
        self.lifted_ids = lifted_ids  # ids of NumPy arrays and tensors read at every call
        self.on_tensor = on_tensor          # callback(path, tensor) while snapshotting
        # (check, *arguments): what each opened object held, for StateGuard's record
        self.record: Optional[list] = [] if record else None
        self.seen: dict[int, Any] = {}
        self.tensor_paths: dict[int, Any] = {}  # where each tensor was first reached
        self.count = 0
        self.truncated = False
        self.paths: list = []   # where each token was read (str, or a lazily joined tuple)
        self.tokens: list = []
        self.checkpoint: Optional[_Checkpoint] = None  # set by _walk_roots
        self.generators: list = []  # (path, generator) of NumPy's and Python's generators reached
        self.iterators: list = []  # (path, iterator) of the iterators reached (generators, ...)
        self.impure_sources: list = []  # paths of the clocks and entropy sources reached
        self.items = items  # if a dict: (id(mapping), key) -> the token of each number

    def emit(self, path, token) -> None:
        self.paths.append(path)
        self.tokens.append(token)

    def walk(self, obj, path: str, used_names: frozenset) -> None:
        token = _primitive(obj)
        if token is not None:
            self.emit(path, ("value",) + token)
            return
        from graphc.tensor import Tensor
        if isinstance(obj, Tensor):
            self.tensor_paths.setdefault(id(obj), path)
            if self.on_tensor is not None:
                self.on_tensor(path, obj)
            concrete = obj._value is not None
            # a tensor the graph does not read may still have been looked at (``if
            # p.requires_grad:``, ``buf.shape[0]``); a graph input's are guarded as an input's
            meta = None if concrete or id(obj) in self.lifted_ids else _tensor_meta(obj)
            self.emit(path, ("tensor", _weak(obj), concrete, meta))
            if self.record is not None:
                self.record.append((_tensor_is, obj, concrete, meta))
            self._tensor_extras(obj, path, used_names)
            return
        key = id(obj)
        if key in self.seen:  # shared or cyclic: the same object must be reached again
            self.emit(path, ("same-as", self.seen[key]))
            return
        self.seen[key] = path
        if impure_reads.is_source(obj, used_names):  # time, datetime.now, os.urandom, ...
            self.impure_sources.append(path)
        self.count += 1
        if self.count > _MAX_OBJECTS:
            self.truncated = True
            self.emit(path, ("object", _weak(obj)))
            return
        if isinstance(obj, np.ndarray):
            token = self._array_token(obj, path)
            self.emit(path, token)
            if self.record is not None:
                self.record.append((_array_token_is, self.lifted_ids, obj, token))
        elif isinstance(obj, dict):
            self._dict(obj, path, used_names)
        elif isinstance(obj, (list, tuple, collections.deque)):
            self.emit(path, ("seq", type(obj), len(obj)))
            if self.record is not None:
                self.record.append((_same_items, obj, tuple(obj)))
            for i, item in enumerate(obj):
                self.walk(item, (path, "[]", i), used_names)
        elif isinstance(obj, (set, frozenset)):
            token = _set_token(obj)
            self.emit(path, token)
            if self.record is not None:
                self.record.append((_set_token_is, obj, token))
        elif isinstance(obj, types.FunctionType):
            self.emit(path, ("object", _weak(obj)))
            self._function(obj, path)
        elif isinstance(obj, functools.partial):
            # the function and the arguments it is called with: p.keywords['s'] = 3.0 counts
            self.emit(path, ("object", _weak(type(obj))))
            if self.record is not None:
                self.record.append((_same_attributes, obj, _PARTIAL_FIELDS,
                                    _attributes(obj, _PARTIAL_FIELDS)))
            self.walk(obj.func, (path, ".", "func"), used_names)
            self.walk(obj.args, (path, ".", "args"), used_names)
            self.walk(obj.keywords, (path, ".", "keywords"), used_names)
        elif isinstance(obj, types.MethodType):
            self.emit(path, ("object", _weak(obj.__func__)))
            self.walk(obj.__self__, (path, ".", "__self__"), used_names)
            self._function(obj.__func__, path)
        elif (isinstance(obj, types.BuiltinMethodType)
              and not isinstance(obj.__self__, (types.ModuleType, type(None)))):
            # a bound method of a builtin object (get = table.get): the object is state
            self.emit(path, ("object", _weak(type(obj)), obj.__name__))
            self.walk(obj.__self__, (path, ".", "__self__"), used_names)
        elif obj is os.environ:
            # os.environ["SCALE"], os.getenv("SCALE"): the variables the code names, by value
            # (None: unset); a name the code computes is not seen
            names = tuple(sorted(used_names))
            values = tuple(obj.get(name) for name in names)
            for name, value in zip(names, values):
                self.emit((path, "[]", name), ("value", type(value), value))
            if self.record is not None:
                self.record.append((_environ_holds, names, values))
        elif isinstance(obj, contextvars.ContextVar):
            # cv.get(): the value in the calling context, guarded like an attribute's
            self.emit(path, ("object", _weak(obj)))
            value = _context_value(obj)
            if self.record is not None:
                self.record.append((_same_context_value, obj, value))
            if value is _MISSING:
                self.emit((path, ".", "get()"), ("unset",))
            else:
                self.walk(value, (path, ".", "get()"), used_names)
        elif isinstance(obj, types.ModuleType):
            self.emit(path, ("object", _weak(obj)))
            drawn = _MODULE_GENERATORS.get(id(obj))
            if drawn is None and obj is np and "random" in used_names:
                drawn = np.random.mtrand._rand
            if drawn is not None:  # np.random.rand(), random.random(): the global generators
                self.generators.append((path, drawn))
            if obj is os and not used_names.isdisjoint(("environ", "getenv")):
                self.walk(os.environ, (path, ".", "environ"), used_names)
            elif is_user_code(getattr(obj, "__file__", None)):
                names = [name for name in sorted(used_names) if not name.startswith("__")]
                if self.record is not None:
                    self.record.append((_same_entries, obj.__dict__, tuple(names),
                                        _entries(obj.__dict__, names)))
                for name in names:
                    if name in obj.__dict__:
                        self.walk(obj.__dict__[name], (path, ".", name), used_names)
        elif isinstance(obj, type):
            self.emit(path, ("object", _weak(obj)))
            if _class_is_user_code(obj):
                self._class(obj, path, used_names)
        elif (wrapped := _wrapped_function(obj)) is not None:
            # a compiled function (inlined into the trace that calls it) or a cache wrapper
            # (functools.lru_cache): what the function (or module) inside reads is read
            self.emit(path, ("object", _weak(obj)))
            if isinstance(wrapped, types.FunctionType):
                self._function(wrapped, (path, ".", "__wrapped__"))
            else:
                self.walk(wrapped, (path, ".", "__wrapped__"), used_names)
        else:
            token = _object_token(obj)
            self.emit(path, token)
            if token[0] == "bytes" and self.record is not None:  # changed in place: read again
                self.record.append((_same_bytes, obj, token[2]))
            if isinstance(obj, _FOREIGN_GENERATORS):  # drawn from while tracing? (its state
                self.generators.append((path, obj))  # is not guarded: eager use may move it)
            if isinstance(obj, Iterator) and not isinstance(obj, io.IOBase):
                self.iterators.append((path, obj))  # (its position is not seen either)
            if _class_is_user_code(type(obj)):  # its attributes as its methods use them
                used_names = used_names | _class_names(type(obj))
            fields = getattr(obj, "__dict__", None)
            if self.record is not None:
                self.record.append((_same_type_and_fields, obj, type(obj), fields))
            if isinstance(fields, dict) and _opens_instances_of(type(obj)):
                self._dict(fields, path, used_names, attributes=True)
            if _opens_instances_of(type(obj)):
                self._slots(obj, path, used_names)
            if _class_is_user_code(type(obj)):
                self.walk(type(obj), ("type(", path, ")"), used_names)

    def _tensor_extras(self, tensor, path, used_names) -> None:
        """What else a trace may have read of a tensor: its hooks (``w.register_hook(clip)``
        changes what backward computes) and, for a Parameter, its Python attributes (``w.scale``
        read as ``x * w * w.scale``). Registering a hook or adding a first attribute moves
        ``autograd.tensor_state_changes``, which makes the next call walk again."""
        hooks = _tensor_hooks(tensor)
        if hooks:
            self.walk(hooks, (path, ".", "<hooks>"), used_names)
        after_accumulation = _post_accumulate_hooks(tensor)
        if after_accumulation:  # (a compiled backward ran them while tracing)
            self.walk(after_accumulation, (path, ".", "<post-accumulate-grad hooks>"),
                      used_names)
        fields = getattr(tensor, "__dict__", None)
        if fields:  # (setting a first attribute also moves tensor_state_changes)
            self._dict(fields, path, used_names, attributes=True)

    def _array_token(self, array: np.ndarray, path):
        """An array is guarded by content, since Python code may read it while tracing
        (``float(a[0])``): small ones by their bytes, larger ones by a digest. Arrays the graph
        reads at every call need identity only; huge ones get identity only, and a warning."""
        head = ("array", _weak(array), array.shape, array.dtype.str)
        if id(array) in self.lifted_ids:
            return head
        contents = _array_contents(array)
        if contents is None:
            if self.on_tensor is not None:  # warn while tracing, not at every call
                warnings.warn(f"graphc.compile: NumPy array {render(path)} ({array.nbytes} "
                              f"bytes) is guarded by identity only: changing its contents in "
                              f"place does not retrace; pass it as an argument or a tensor",
                              stacklevel=6)
            return head
        return head + (contents,)

    def _slots(self, obj, path, used_names) -> None:
        """Attributes kept in ``__slots__`` (instances without a ``__dict__`` for them)."""
        names = _slot_names(type(obj))
        if self.record is not None and names:
            self.record.append((_same_attributes, obj, names, _attributes(obj, names)))
        for name in names:
            value = getattr(obj, name, _MISSING)
            if value is _MISSING:
                self.emit((path, ".", name), ("unset",))
            else:
                self.walk(value, (path, ".", name), used_names)

    def _dict(self, mapping: dict, path: str, used_names, attributes: bool = False):
        keys = list(mapping)
        key_tokens = tuple(_primitive(k) or ("key", _weak(k)) for k in keys)
        self.emit(path, ("dict", key_tokens))
        if self.record is not None:
            # a value read as a graph input at every call may be another object next time
            self.record.append((_same_items, mapping, tuple(
                (k, _ANY if (id(mapping), k) in self.skip else mapping[k]) for k in keys)))
        for k in keys:
            if (id(mapping), k) in self.skip:
                continue
            value = mapping[k]
            if self.items is not None:
                self.items[(id(mapping), k)] = _primitive(value)
            if attributes and k in _MODULE_STORAGE and isinstance(value, dict):
                # a Module's parameters, buffers and children read as attributes: model.fc.weight
                self.emit(path, ("dict", tuple(_primitive(name) for name in value)))
                if self.record is not None:
                    self.record.append((_same_items, value, tuple(value.items())))
                for name, item in value.items():
                    self.walk(item, (path, ".", name), used_names)
                continue
            self.walk(value, self._item_path(path, k, attributes), used_names)

    def _item_path(self, path, key, attributes: bool):
        if attributes and isinstance(key, str):
            return (path, ".", key)
        if _primitive(key) is not None:
            return (path, "[]", key)
        # objects as keys (parameters in optimizer state): name them without their values
        from graphc.tensor import Tensor
        if isinstance(key, Tensor):
            where = self.tensor_paths.get(id(key))
            return (path, "[", where or f"<tensor {key.ir_type}>", "]")
        return (path, "[", f"<{type(key).__name__} object>", "]")

    def _function(self, fn: types.FunctionType, path: str):
        code = fn.__code__
        user_code = is_user_code(code.co_filename)
        names = _attribute_and_global_names(code)
        cells = fn.__closure__ or ()
        contents = [_cell_contents(cell) for cell in cells] if user_code else []
        attributes = [getattr(fn, name, None) for name in _FUNCTION_STATE] if user_code else []
        global_names = _read_global_names(fn) if user_code else ()
        if self.record is not None:
            defaults, kwdefaults, fields = (attributes if user_code else
                                            [getattr(fn, n, None) for n in _FUNCTION_STATE])
            self.record.append((_same_function, fn, code, tuple(contents), defaults, kwdefaults,
                                fields, bool(kwdefaults), bool(fields),
                                "globals" in _global_names(code), global_names,
                                _entries(fn.__globals__, global_names)))
        if not user_code:
            # a wrapper made by graphc or a library (graphc.grad(f), @graphc.no_grad(),
            # functools.wraps) runs the user functions it holds: walk those
            held = [(name, _cell_contents(cell)) for name, cell in zip(code.co_freevars, cells)]
            held.append(("__wrapped__", getattr(fn, "__wrapped__", None)))
            for name, value in held:
                if isinstance(value, (types.FunctionType, types.MethodType, functools.partial)):
                    self.walk(value, name if path == "" else (path, ".", name), names)
            return
        for name, value in zip(code.co_freevars, contents):
            if value is not _MISSING:  # an empty cell: the variable is not assigned yet
                self.walk(value, name if path == "" else (path, ".", name), names)
        # defaults and function attributes are state too (helper.__defaults__ = (3.0,))
        for name, value in zip(_FUNCTION_STATE, attributes):
            if value:
                self.walk(value, name if path == "" else (path, ".", name), names)
        module = fn.__globals__.get("__name__", "?")
        for name in global_names:
            if name in fn.__globals__:
                where = name if path == "" else (module, ".", name)
                self.walk(fn.__globals__[name], where, names)

    def _class(self, cls: type, path: str, used_names):
        if self.record is not None:
            self.record.append((_same_attributes, cls, ("__mro__",), (cls.__mro__,)))
        for klass in cls.__mro__:
            if klass is object or not _class_is_user_code(klass):
                continue
            if self.record is not None:
                self.record.append((_same_items, vars(klass), tuple(vars(klass).items())))
            for name, value in sorted(vars(klass).items()):
                if name.startswith("__"):
                    continue
                if isinstance(value, property):  # its getter runs when the trace reads it
                    value = value.fget
                elif isinstance(value, (classmethod, staticmethod)):
                    value = value.__func__
                self.walk(value, (klass.__name__, ".", name), used_names)


def render(path) -> str:
    """A path as text: ``cfg.use_relu``, ``params['w']``, ``opt.state[model.weight]['buf']``.
    Paths are built as nested tuples while walking and joined only when shown."""
    if isinstance(path, str):
        return path
    if len(path) == 3 and path[1] == ".":
        return f"{render(path[0])}.{path[2]}"
    if len(path) == 3 and path[1] == "[]":
        return f"{render(path[0])}[{path[2]!r}]"
    return "".join(render(part) for part in path)


def _nested_codes(code: types.CodeType) -> Iterator[types.CodeType]:
    """A code object and those of the functions, lambdas and comprehensions defined in it."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _nested_codes(const)


@functools.lru_cache(maxsize=4096)
def _global_names(code: types.CodeType) -> frozenset:
    """The global variables a code object (with its nested functions) reads or assigns (a
    tensor the trace assigns to a global must not leak out as a traced placeholder)."""
    return frozenset(instruction.argval for c in _nested_codes(code)
                     for instruction in dis.get_instructions(c)
                     if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL"))


@functools.lru_cache(maxsize=4096)
def _attribute_and_global_names(code: types.CodeType) -> frozenset:
    """Every name a code object uses as a global or an attribute (``config.lr`` uses both),
    and every string constant spelled as a name: ``getattr(config, "lr")`` and
    ``vars(config)["lr"]`` read the attribute ``lr`` too."""
    return frozenset(name for c in _nested_codes(code)
                     for name in c.co_names + tuple(
                         const for const in c.co_consts
                         if isinstance(const, str) and const.isidentifier()))


def _class_names(cls: type) -> frozenset:
    """The names the methods of a user class use (:func:`_attribute_and_global_names`): what
    ``self.config.lr`` in its ``forward`` reads of a module kept in ``self.config``."""
    names: set = set()
    for klass in cls.__mro__:
        if klass is object or not _class_is_user_code(klass):
            continue
        for value in vars(klass).values():
            if isinstance(value, property):
                value = value.fget
            elif isinstance(value, (classmethod, staticmethod)):
                value = value.__func__
            code = getattr(value, "__code__", None)
            if isinstance(code, types.CodeType):
                names |= _attribute_and_global_names(code)
    return frozenset(names)


def _function_names(fn) -> frozenset:
    """The names a compiled function's code uses (see :func:`roots`); none for other
    callables, whose code the walk reaches through their class."""
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    return _attribute_and_global_names(code) if isinstance(code, types.CodeType) else frozenset()


@functools.lru_cache(maxsize=4096)
def _opens_instances_of(cls: type) -> bool:
    """Whether an object's attributes are state the walk opens: instances of user classes,
    modules, optimizers and schedulers, and the standard library's plain records."""
    from graphc.nn.module import Module
    from graphc.optim.lr_scheduler import LRScheduler
    from graphc.optim.optimizer import Optimizer
    return (_class_is_user_code(cls) or issubclass(cls, (Module, Optimizer, LRScheduler))
            or cls in _RECORD_TYPES or dataclasses.is_dataclass(cls))


def roots(fn) -> list[tuple[str, Any]]:
    """Where the walk starts: the function itself (its closure and globals, named by their
    variable names), or ``self`` of a bound method, or the module passed to compile()."""
    if hasattr(fn, "named_parameters"):  # compile(model)
        return [("model", fn)]
    if isinstance(fn, types.MethodType):
        return [("self", fn.__self__), ("", fn.__func__)]
    if isinstance(fn, types.FunctionType):
        return [("", fn)]
    return [("", fn)] if callable(fn) else []


def opens(obj) -> bool:
    """Whether a static argument is an object whose contents the function may read (a config,
    a module, a dict): such arguments are walked like the function's globals."""
    return _primitive(obj) is None


@dataclasses.dataclass(frozen=True)
class _Checkpoint:
    """A walker's state after the function's own roots, before the static arguments: a guard
    whose function state still holds resumes here to walk only new static arguments."""
    tokens: int          # how many tokens the function's roots gave
    records: int         # how many record entries
    seen: dict           # id -> path of the objects reached (kept alive by those entries)
    count: int
    truncated: bool


def _walk_roots(fn, extra_roots, skip, lifted_ids, on_tensor=None,
                record: bool = False, resume: Optional[_Checkpoint] = None,
                items: Optional[dict] = None) -> _Walker:
    """Walk ``fn``'s own roots, then ``extra_roots``; with ``resume``, only ``extra_roots``,
    from where an earlier walk of the same function's roots stopped (``walker.checkpoint``)."""
    _walking.depth += 1
    try:
        return _walk_roots_now(fn, extra_roots, skip, lifted_ids, on_tensor, record, resume,
                               items)
    finally:
        _walking.depth -= 1


class _Walking(threading.local):
    depth = 0


# How many walks this thread is running: what a walk reads is not what the traced code read
# (optimizer.ParamGroup notes the code's reads of numbers lifted as graph inputs)
_walking = _Walking()


def walking() -> bool:
    return _walking.depth > 0


def _walk_roots_now(fn, extra_roots, skip, lifted_ids, on_tensor, record, resume,
                    items) -> _Walker:
    walker = _Walker(skip, lifted_ids, on_tensor, record, items)
    used_names = _function_names(fn)  # what it reads of self and of static arguments
    if resume is None:
        for name, root in roots(fn):
            if name == "" and isinstance(root, types.FunctionType):
                walker._function(root, "")
            else:
                walker.walk(root, name or "fn", used_names)
    else:
        walker.seen = dict(resume.seen)
        walker.count, walker.truncated = resume.count, resume.truncated
    walker.checkpoint = _Checkpoint(len(walker.tokens), len(walker.record or ()),
                                    dict(walker.seen), walker.count, walker.truncated)
    for name, root in extra_roots:
        walker.walk(root, name or "fn", used_names)
    if walker.truncated:
        warnings.warn(f"graphc.compile: the Python state reachable from {fn!r} has more than "
                      f"{_MAX_OBJECTS} objects; deeper state is guarded by identity only",
                      stacklevel=5)
    return walker


def snapshot(fn, extra_roots=(), skip: frozenset = frozenset(),
             lifted_ids: frozenset = frozenset(),
             on_tensor: Optional[Callable[[Any, Any], None]] = None,
             generators: Optional[list] = None,
             items: Optional[dict] = None,
             reached: Optional[set] = None,
             iterators: Optional[list] = None,
             impure_sources: Optional[list] = None) -> list[tuple[str, Any]]:
    """(path, token) for everything ``fn`` can read, in a fixed order. ``extra_roots`` are
    (name, object) pairs read besides (static arguments). ``generators``, if given, is
    extended with :func:`foreign_generators` of what the walk reached; ``items``, if given,
    gets the value token (None for a non-number) of every dict entry reached, by
    ``(id(mapping), key)``; ``reached``, if given, gets the ids of the objects reached;
    ``iterators``, if given, the (path, iterator) of the iterators reached;
    ``impure_sources``, if given, the paths of the :func:`impure_reads.is_source` reached."""
    walker = _walk_roots(fn, extra_roots, skip, lifted_ids, on_tensor, items=items)
    if reached is not None:
        reached.update(walker.seen)
    if generators is not None:
        generators.extend(foreign_generators(walker.generators))
    if iterators is not None:
        iterators.extend((render(path), it) for path, it in walker.iterators)
    if impure_sources is not None:
        impure_sources.extend(render(path) for path in walker.impure_sources)
    return [(render(path), token) for path, token in zip(walker.paths, walker.tokens)]


# Random generators that are not graphc's: a number one gives while tracing becomes a constant of
# the graph, so the function must not draw from them (compile's _refuse_foreign_draws).
_FOREIGN_GENERATORS = (random.Random, np.random.Generator, np.random.RandomState,
                       np.random.BitGenerator)
_GLOBAL_GENERATORS = (("np.random (NumPy's global generator)", np.random.mtrand._rand),
                      ("random (Python's global generator)", random._inst))
# the modules whose functions draw from those (np.random.rand, random.random)
_MODULE_GENERATORS = {id(np.random): np.random.mtrand._rand, id(random): random._inst}


def _generator_state(generator) -> Optional[bytes]:
    """A NumPy or Python random generator's state, as bytes; None for one without a state
    (``random.SystemRandom``)."""
    try:
        if isinstance(generator, random.Random):
            state: Any = generator.getstate()
        elif isinstance(generator, np.random.Generator):
            state = generator.bit_generator.state
        elif isinstance(generator, np.random.RandomState):
            state = generator.get_state(legacy=False)
        else:
            state = generator.state
    except NotImplementedError:
        return None
    return pickle.dumps(state)


def foreign_generators(reached: list) -> list[tuple[str, Any, bytes, bool]]:
    """(name, generator, state now, whether the walk reached it) of the generators in
    ``reached`` (a walker's (path, generator) pairs) and of NumPy's and Python's global ones,
    each once. A global one is reached through its module (``np.random.rand``) or a bound
    method of it (``from random import random``)."""
    names = {id(generator): name for name, generator in _GLOBAL_GENERATORS}
    found = [(names.get(id(obj), render(path)), obj, True) for path, obj in reached]
    found += [(name, generator, False) for name, generator in _GLOBAL_GENERATORS]
    seen: set[int] = set()
    states = []
    for name, generator, walked in found:
        if id(generator) in seen:
            continue
        seen.add(id(generator))
        state = _generator_state(generator)
        if state is not None:
            states.append((name, generator, state, walked))
    return states


def drawn_from(generators: list[tuple[str, Any, bytes, bool]]) -> list[tuple[str, bool]]:
    """(name, whether the walk reached it) of the :func:`foreign_generators` whose state moved
    since."""
    return [(name, walked) for name, generator, state, walked in generators
            if _generator_state(generator) != state]


def number_changed(items: dict, container, key) -> bool:
    """Whether ``container[key]`` holds another value than the number ``items`` (filled by
    :func:`snapshot`) recorded; False where the snapshot did not reach it or it was no number."""
    was = items.get((id(container), key))
    now = dict.get(container, key) if isinstance(container, dict) else container.get(key)
    return was is not None and was != _primitive(now)


def paths_to(fn, extra_roots, objects: dict) -> dict:
    """Where the walk from ``fn`` (and ``extra_roots``) reaches each of ``objects`` (id ->
    object): id -> the first path found, for those it reaches."""
    walker = _walk_roots(fn, extra_roots, frozenset(), frozenset())
    return {key: render(walker.seen[key]) for key in objects if key in walker.seen}


def _state_changes() -> int:
    return _tensor_state_changes()[0]


@functools.lru_cache(maxsize=1)
def _tensor_state_changes() -> list:
    from graphc.autograd import tensor_state_changes  # graphc imports this module early
    return tensor_state_changes


def _tensor_hooks(tensor):
    from graphc.autograd import tensor_hooks
    return tensor_hooks(tensor)


def _post_accumulate_hooks(tensor):
    from graphc.autograd import post_accumulate_hooks
    return post_accumulate_hooks(tensor)


class StateGuard:
    """Holds while the state ``fn`` can read still has the tokens recorded at trace time.

    Re-walking all of it at every call costs about 0.7 ms for a model and its optimizer, so a
    walk whose tokens match also records what each object it opened held (the objects in a
    dict, list or closure, by identity; see :class:`_Walker`). While every opened object still
    holds the same objects, a walk from the same roots would reach the same objects and read
    the same tokens, so comparing identities (``check_identities``, tens of microseconds)
    stands in for it. The first difference drops the record and walks again.

        >>> import graphc
        >>> model = graphc.nn.Linear(2, 2)
        >>> f = graphc.compile(lambda x: model(x) * 2)
        >>> _ = f(graphc.ones(1, 2))
        >>> (guard,) = [g for g in f.entries[0].guards if isinstance(g, StateGuard)]
        >>> guard.check_identities()
        True
        >>> model.extra = 1.0
        >>> guard.check_identities()
        False
    """

    def __init__(self, fn, extra_roots, expected: list, skip: frozenset,
                 lifted_ids: frozenset, refs=()):
        self.fn = fn
        self.extra_roots = list(extra_roots)
        # where each extra root (a static argument) is among a call's arguments: a guard that
        # has them walks the objects passed now (graphc.tracing.StaticRef)
        self.refs = list(refs)
        self._walked_roots = self.extra_roots  # the roots the record was made from
        self.paths = [path for path, _ in expected]
        self.expected = [token for _, token in expected]
        self.skip = skip
        self.lifted_ids = lifted_ids
        count = len(self.expected)
        self.description = (f"Python state the function can read is unchanged ({count} "
                            f"value{'' if count == 1 else 's'} and identit"
                            f"{'y' if count == 1 else 'ies'} checked)")
        # what the last matching walk read, object by object; None: walk at the next call
        # (also when the state now is not what is guarded: the trace changed it)
        self._record: Optional[list] = None
        self._state_changes = -1  # autograd.tensor_state_changes when the record was made
        self._checkpoint: Optional[_Checkpoint] = None  # where the static arguments' walk began
        self._walk_matches()

    def check_identities(self) -> bool:
        """A cheap test that is enough for the guard to hold (False: ask :meth:`holds`)."""
        record = self._record
        if record is None or self._state_changes != _state_changes():
            return False  # (a state tensor's hook or attribute changed: walk, comparing them)
        for check, arguments in record:
            if not check(*arguments):
                self._record = None  # do not keep objects the state no longer holds alive
                return False
        return True

    def _roots_now(self, resolve) -> list:
        """The extra roots of a call: the static arguments passed to it, where known."""
        if not self.refs or resolve is None:
            return self.extra_roots
        return [(name, resolve(ref)) for (name, _), ref in zip(self.extra_roots, self.refs)]

    def holds(self, resolve=None) -> bool:
        try:
            roots = self._roots_now(resolve)
        except Exception:  # the call's arguments are not known here: walk nothing, fail
            return False
        if any(now is not then for (_, now), (_, then) in zip(roots, self._walked_roots)):
            # another (maybe equal) object: what it holds is unchecked; the function's own
            # state need not be walked again while its part of the record holds
            if self._walk_new_static_arguments(roots):
                return True
            self._record = None
        return self.check_identities() or self._walk_matches(roots)

    def _walk_matches(self, roots: Optional[list] = None) -> bool:
        roots = self.extra_roots if roots is None else roots
        try:
            walker = _walk_roots(self.fn, roots, self.skip, self.lifted_ids, record=True)
        except Exception:  # state that vanished or broke: retrace rather than guess
            return False
        return self._keep_if_matches(walker, roots, [])

    def _walk_new_static_arguments(self, roots: list) -> bool:
        """Walk only the static arguments of a call that passes new objects for them (an
        equal config made per call), from the checkpoint of the last matching walk, if what
        that walk read of the function's own state still holds. The checkpoint's object ids
        are safe to reuse then: its record entries hold those objects alive."""
        record, checkpoint = self._record, self._checkpoint
        if record is None or checkpoint is None:
            return False
        own = record[:checkpoint.records]
        for check, arguments in own:
            if not check(*arguments):
                return False
        try:
            walker = _walk_roots(self.fn, roots, self.skip, self.lifted_ids, record=True,
                                 resume=checkpoint)
        except Exception:
            return False
        return self._keep_if_matches(walker, roots, own, checkpoint)

    def _keep_if_matches(self, walker: _Walker, roots: list, own: list,
                         checkpoint: Optional[_Checkpoint] = None) -> bool:
        """Keep the record of a walk (after ``own``, the function state's part when resumed)
        whose tokens are the guarded ones."""
        start = 0 if checkpoint is None else checkpoint.tokens
        matches = walker.tokens == self.expected[start:]
        if not matches:
            self._record = self._checkpoint = None
            return False
        self._record = own + [(entry[0], entry[1:]) for entry in walker.record]
        self._state_changes = _state_changes()
        self._checkpoint = checkpoint or walker.checkpoint
        self._walked_roots = roots
        return True

    def failure(self, resolve=None) -> str:
        """What changed, named by its path (``cfg.use_relu == True (now False)``)."""
        try:
            now = snapshot(self.fn, self._roots_now(resolve), self.skip, self.lifted_ids)
        except Exception as exc:
            return f"reading the function's Python state failed: {exc}"
        for (path, token), old_path, old in zip(now, self.paths, self.expected):
            if path != old_path:
                return f"{old_path} is no longer there (now {path})"
            if token != old and token[0] == old[0] == "tensor" and old[2] and not token[2]:
                return f"{path} was created by the traced call and is now concrete state"
            if (token != old and token[0] == old[0] == "tensor" and token[1] == old[1]
                    and token[3] is not None and old[3] is not None):
                return f"{path} is {_describe_meta(old[3])} (now {_describe_meta(token[3])})"
            if token != old and token[0] == old[0] == "tensor" and token[2] == old[2]:
                return (f"{path} is the tensor seen while tracing (now another "
                        f"{_describe(token)})")
            if old[0] == "created":
                return (f"{path} was set by the traced call (Python code a compiled call does "
                        f"not run again)")
            if old[0] == "rewritten" and token != old:
                now_is = (_describe_meta(token[3]) if token[0] == "tensor" and token[3]
                          else _describe(token))
                return (f"{path}, which the traced call replaced, was {_describe_meta(old[1])} "
                        f"when traced (now {now_is})")
            if token != old and token[0] == old[0] == "dict":
                return f"{path}: {_key_change(old[1], token[1])}"
            if token != old:
                return f"{path} == {_describe(old)} (now {_describe(token)})"
        return "the structure of the function's Python state changed"

    def details(self, limit: int = 8) -> list[str]:
        """The guarded Python values, for ``explain()``."""
        values = [f"{path} == {_describe(token)}" for path, token in zip(self.paths, self.expected)
                  if token[0] == "value"]
        more = len(values) - limit
        return values[:limit] + ([f"... and {more} more"] if more > 0 else [])


class _Rewritten(tuple):
    """The token of a state tensor the trace replaced without reading its values (a forward
    pre-hook's ``module.weight = weight_orig * weight_mask``, as pruning sets it): every
    compiled call writes it anew, so it matches any concrete tensor with the old one's meta
    (dtype, shape, requires_grad, whether it has a .grad: all the trace could have read of it
    without making it a graph input), rather than only the one the last call wrote (which
    would retrace at every call). Its hooks and Python attributes are guarded at their own
    paths, as any tensor's. Only an identity test of the old tensor (``s.w is t``) is not
    replayed."""

    __hash__ = tuple.__hash__

    def __eq__(self, other) -> bool:
        # (a tensor token: "tensor", identity, whether traced, meta)
        return (isinstance(other, tuple) and len(other) == 4 and other[0] == "tensor"
                and not other[2] and other[3] == self[1])

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)


def merge_read_values(before: list, after: list, lifted_ids=frozenset()) -> list:
    """The tokens to guard: the state after the trace (so state the trace created, such as
    optimizer buffers, counts as present), except Python values the trace changed, which keep the
    value it read (so ``if cfg.first: ...; cfg.first = False`` retraces on the next call), and
    Python values the trace created, which match nothing: compiled calls do not replay the
    Python code that set them (``state['step'] = state.get('step', 0) + 1``), so the next call
    retraces, and from then on they are values read like any other."""
    read = {path: token for path, token in before if token[0] == "value"}
    # contents the trace changed in place (stats[0] += 1 on a NumPy array, seen.add(key),
    # a bytearray): kept as read too, so the next call retraces and runs that code again
    # (guarded as left, the compiled call ran without it: stale counts, a set never growing)
    changed = {path: token for path, token in before if token[0] in ("array", "bytes", "set")}
    existed = {path for path, _ in before}
    # containers by path, kind and place among the path's containers (a module's attributes
    # and its _modules are two dicts at one path): what the trace began with
    containers = dict(_containers(before))
    # concrete state tensors the trace did not read (not graph inputs), by path: one it
    # replaced by a value it computed is written anew by every call
    unread = {path: token for path, token in before if token[0] == "tensor" and not token[2]
              and token[1][0] not in lifted_ids}
    merged = []
    for (path, token), (where, _) in zip(after, _containers(after, every=True)):
        if token[0] == "value" and path in read:
            token = read[path]
        elif path in changed and _changed_in_place(changed[path], token):
            token = changed[path]
        elif token[0] == "tensor" and token[2] and path in unread:
            token = _Rewritten(("rewritten", unread[path][3]))
        elif token[0] == "value" and path not in existed:
            token = ("created", token)
        elif _lost_items(containers.get(where), token):
            # the trace took items out (q.pop(), del cfg['k']): a compiled call would not take
            # them out again, so the next call retraces, as for a value the trace changed
            token = containers[where]
        merged.append((path, token))
    return merged


def _array_contents(array: np.ndarray) -> Optional[bytes]:
    """What stands for an array's contents in its token: its bytes (small), a digest, or None
    (huge: identity only)."""
    if array.size <= _SMALL_ARRAY:
        return array.tobytes()
    if array.nbytes > _DIGEST_LIMIT:
        return None
    contiguous = np.ascontiguousarray(array)
    return hashlib.blake2b(memoryview(contiguous).cast("B"), digest_size=16).digest()


def _changed_in_place(old: tuple, new: tuple) -> bool:
    """Whether an array/bytes/set token ``new`` is the same object as ``old`` (arrays) or at
    least of its kind, with other contents. (An array the graph now reads at every call has a
    token without its contents: they are compared with the ones read, stats[0] += 1 too.)"""
    if old[0] != new[0] or old == new:
        return False
    if old[0] != "array":
        return True
    array = _referent(old[1])
    if array is None or array is not _referent(new[1]) or len(old) < 5:
        return False
    return _array_contents(array) != old[4]


def iterator_position(iterator) -> Optional[tuple]:
    """Where ``iterator`` stands, as far as it can be seen from outside (None where it cannot):
    a generator by its frame's last instruction, others by ``length_hint`` and by what
    ``__reduce__`` says (a list iterator's index, ``itertools.count``'s next number)."""
    if isinstance(iterator, types.GeneratorType):
        frame = iterator.gi_frame
        return ("generator", None if frame is None else frame.f_lasti)
    hint = -1
    with warnings.catch_warnings():  # (itertools' __reduce__ warns from Python 3.12)
        warnings.simplefilter("ignore")
        try:
            hint = operator.length_hint(iterator, -1)
        except Exception:
            pass
        try:
            reduced = iterator.__reduce__()
            state = tuple(_shallow(x) for x in reduced[1:]) if isinstance(reduced, tuple) \
                else None
        except Exception:
            state = None
    if hint < 0 and state is None:
        return None
    return ("iterator", hint, state)


def _shallow(value, depth: int = 0):
    """Numbers and strings as themselves, tuples one level into them, other objects by id."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple) and depth < 2:
        return tuple(_shallow(v, depth + 1) for v in value)
    return ("id", id(value))


def moved_tensors(before: list, after: list) -> list[tuple[str, str]]:
    """(path, path it came from) where the trace only permuted tensors of the state that
    existed before it (a swap ``a, b = b, a``, a rotated list): every one of them is still
    there, some elsewhere. The guards then pass on the next call and a compiled call does not
    move them again, so every later call would read them where the trace left them. (Where the
    trace also dropped one, ``q.pop(0)``, ``prev = cur; cur = new``, or put one in a second
    place, ``best = current``, the state it leaves differs from the one it read, and the next
    call retraces, or stays as it is: that is as eagerly.)"""
    def held(tokens):
        return {path: _referent(token[1]) for path, token in tokens
                if token[0] == "tensor" and not token[2]}  # (not made by the trace)
    old, new = held(before), held(after)
    old_place: dict[int, str] = {}
    for path, t in old.items():
        old_place.setdefault(id(t), path)
    if {id(t) for t in old.values()} - {id(t) for t in new.values()}:
        return []  # one is gone: not a permutation
    moved = []
    for path, t in new.items():
        source = old_place.get(id(t))
        if t is None or path not in old or old[path] is t or source is None:
            continue
        if new.get(source) is not t:
            moved.append((path, source))
    return moved


def _containers(tokens: list, every: bool = False) -> Iterator[tuple]:
    """``((path, kind, n), token)`` for the n-th list/dict token at each path (with ``every``,
    a pair for every token, ``(None, token)`` for the others)."""
    counts: dict = {}
    for path, token in tokens:
        if token[0] in ("seq", "dict"):
            key = (path, token[0])
            counts[key] = counts.get(key, -1) + 1
            yield (path, token[0], counts[key]), token
        elif every:
            yield None, token


def _lost_items(old: Optional[tuple], new: tuple) -> bool:
    """Whether a list/dict token ``new`` has fewer items than ``old`` had (additions, such as
    optimizer state the first step creates, are kept: they are there on the next call too)."""
    if old is None:
        return False
    if old[0] == "seq":
        return new[2] < old[2]
    return old[0] == "dict" and not all(key in new[1] for key in old[1])
