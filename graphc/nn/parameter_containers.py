"""``ParameterList`` and ``ParameterDict``: parameters held in a list or a dict, registered
with the owner under PyTorch's names (``params.0``, ``params.1``, ... and ``params.<key>``).

As in PyTorch, a plain tensor put in either becomes a ``Parameter``.

    >>> import graphc
    >>> from graphc import nn
    >>> class Model(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.params = nn.ParameterList([nn.Parameter(graphc.ones(2)) for _ in range(2)])
    ...         self.extra = nn.ParameterDict({"scale": graphc.zeros(3)})
    >>> list(Model().state_dict())
    ['params.0', 'params.1', 'extra.scale']
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from graphc.nn.module import Module, Parameter
from graphc.tensor import Tensor


def _as_parameter(value: Any) -> Any:
    """Tensors become Parameters (PyTorch's rule); other values are kept as they are."""
    if isinstance(value, Tensor) and not isinstance(value, Parameter):
        return Parameter(value)
    return value


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        kind = "Parameter containing" if isinstance(value, Parameter) else "Tensor"
        size = "x".join(str(s) for s in value.shape)
        # PyTorch's "[torch.float32 of size 2x3]", with the numpy name of the dtype
        return f"{kind}: [graphc.{value.dtype.numpy.name} of size {size}]"
    return f"Object of type: {type(value).__name__}"


class ParameterList(Module):
    """A list of parameters (indexable, iterable, ``append``/``extend``)."""

    def __init__(self, values: Optional[Iterable[Any]] = None):
        super().__init__()
        object.__setattr__(self, "_size", 0)
        if values is not None:
            self.extend(values)

    def _index(self, index: int) -> int:
        if not -self._size <= index < self._size:
            raise IndexError(f"index {index} is out of range")
        return index % self._size if self._size else index

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ParameterList([self[i] for i in range(self._size)[index]])
        return getattr(self, str(self._index(index)))

    def __setitem__(self, index: int, value: Any) -> None:
        setattr(self, str(self._index(index)), _as_parameter(value))

    def __len__(self) -> int:
        return self._size

    def __iter__(self):
        return (self[i] for i in range(self._size))

    def __iadd__(self, values: Iterable[Any]) -> ParameterList:
        return self.extend(values)

    def __dir__(self):
        return [key for key in super().__dir__() if not key.isdigit()]

    def append(self, value: Any) -> ParameterList:
        object.__setattr__(self, "_size", self._size + 1)
        self[self._size - 1] = value
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise TypeError(f"ParameterList.extend should be called with an iterable, but got "
                            f"{type(values).__name__}")
        for value in values:
            self.append(value)
        return self

    def extra_repr(self) -> str:
        return "\n".join(f"({i}): {_describe(value)}" for i, value in enumerate(self))

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterList should not be called.")


class ParameterDict(Module):
    """An ordered dict of parameters keyed by strings (``keys``, ``items``, ``update``...)."""

    def __init__(self, parameters: Optional[Any] = None):
        super().__init__()
        object.__setattr__(self, "_keys", {})
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"ParameterDict keys must be strings, got {type(key).__name__}")
        if "." in key:
            raise KeyError(f"ParameterDict key can't contain \".\", got {key!r}")
        self._keys[key] = None
        setattr(self, key, _as_parameter(value))

    def __delitem__(self, key: str) -> None:
        delattr(self, key)
        del self._keys[key]

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self):
        return iter(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def keys(self):
        return list(self._keys)

    def values(self):
        return [self[key] for key in self._keys]

    def items(self):
        return [(key, self[key]) for key in self._keys]

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def pop(self, key: str) -> Any:
        value = self[key]
        del self[key]
        return value

    def clear(self) -> None:
        for key in list(self._keys):
            del self[key]

    def copy(self) -> ParameterDict:
        return ParameterDict(self.items())

    def update(self, values: Any) -> None:
        pairs = values.items() if isinstance(values, Mapping) else values
        if isinstance(values, Mapping) and not isinstance(values, (OrderedDict, ParameterDict)):
            # PyTorch sorts the keys of any other mapping, a plain dict too: the order of
            # parameters() (and so of an optimizer's state dict) must be the same as its
            pairs = sorted(pairs)
        for pair in pairs:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(f"ParameterDict.update needs (key, value) pairs, got {pair!r}")
            self[pair[0]] = pair[1]

    def extra_repr(self) -> str:
        return "\n".join(f"({key}): {_describe(value)}" for key, value in self.items())

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterDict should not be called.")
