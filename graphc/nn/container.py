"""Containers: ``Sequential``, ``ModuleList`` and ``ModuleDict``, as in PyTorch.

Children are registered under their position ("0", "1", ...) or key, so parameter names and
state-dict keys match PyTorch's (``0.weight``, ``layers.2.bias``, ``heads.cls.weight``). Only
modules (or None) can be put in a container, and the names after every insertion, deletion and
concatenation are PyTorch's: positions are renumbered "0", "1", ... after a deletion.

    >>> from graphc import nn
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> len(net), type(net[1]).__name__, len(net[:2])
    (3, 'ReLU', 2)
"""
from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Optional, Union

from graphc.nn.module import Module, _check_module


def _index(index: int, length: int, what: str) -> int:
    index = operator.index(index)
    if not -length <= index < length:
        raise IndexError(f"index {index} is out of range for {what} of length {length}")
    return index % length


class _ModuleSequence(Module):
    """What ``Sequential`` and ``ModuleList`` share: children addressed by position."""

    def _key(self, index: int) -> str:
        keys = list(self._modules)
        return keys[_index(index, len(keys), type(self).__name__)]

    def __setitem__(self, index: int, module: Module) -> None:
        setattr(self, self._key(index), module)

    def __delitem__(self, index: Union[int, slice]) -> None:
        items = list(self)
        if not isinstance(index, slice):
            index = _index(index, len(items), type(self).__name__)
        del items[index]
        _renumber(self._modules, items)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def pop(self, index: Union[int, slice]):
        """Removes and returns the module at ``index`` (or the slice, as a container)."""
        module = self[index]
        del self[index]
        return module

    def append(self, module: Module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]):
        for module in modules:
            self.append(module)
        return self


class Sequential(_ModuleSequence):
    """Runs its modules in order, feeding each one's output to the next.

    ``Sequential(m1, m2, ...)`` names them "0", "1", ...; ``Sequential(OrderedDict(...))`` uses
    the given names (a slice keeps them; deleting or inserting renumbers all, as in PyTorch).
    """

    def __init__(self, *args: Union[Module, OrderedDict[str, Module]]):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)(OrderedDict(list(self._modules.items())[index]))
        return self._modules[self._key(index)]

    def insert(self, index: int, module: Module) -> Sequential:
        """Inserts ``module`` before position ``index`` (``-len(self) <= index <= len(self)``)."""
        _check_module(module)
        if not -len(self) <= index <= len(self):
            raise IndexError(f"index {index} is out of range for inserting into a Sequential "
                             f"of length {len(self)}")
        items = list(self)
        items.insert(index, module)
        _renumber(self._modules, items)
        return self

    def __add__(self, other: Sequential) -> Sequential:
        return Sequential().extend(self).extend(_sequential(other))

    def __iadd__(self, other: Sequential) -> Sequential:
        return self.extend(_sequential(other))

    def __mul__(self, times: int) -> Sequential:
        """``seq * 2`` runs the same modules twice (they are shared, not copied)."""
        return Sequential().extend(list(self) * _repeats(times))

    __rmul__ = __mul__

    def __imul__(self, times: int) -> Sequential:
        return self.extend(list(self) * (_repeats(times) - 1))

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input


class ModuleList(_ModuleSequence):
    """A list of modules whose parameters belong to the owner (indexable, iterable)."""

    def __init__(self, modules: Optional[Iterable[Module]] = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)(list(self)[index])
        return self._modules[self._key(index)]

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList(list(self) + list(other))

    def insert(self, index: int, module: Module) -> None:
        """Inserts ``module`` before ``index`` as ``list.insert`` does: a negative index counts
        from the end, one beyond either end inserts there (PyTorch documents this but its code
        fails for negative indices)."""
        _check_module(module)
        items = list(self)
        items.insert(index, module)
        _renumber(self._modules, items)

    def __repr__(self) -> str:
        """PyTorch's layout, which folds runs of equal entries: ``(0-2): 3 x Linear(...)``."""
        runs = []  # [first index, last index, repr]
        for i, module in enumerate(self):
            text = repr(module)
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        if not runs:
            return type(self).__name__ + "()"
        lines = [f"({first}): {text}" if first == last else
                 f"({first}-{last}): {last - first + 1} x {text}" for first, last, text in runs]
        return (type(self).__name__ + "(\n  "
                + "\n  ".join(line.replace("\n", "\n  ") for line in lines) + "\n)")

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList is a container; iterate over it in forward()")


class ModuleDict(Module):
    """An ordered dict of modules keyed by name (keys are attribute-style strings)."""

    def __init__(self, modules: Optional[Union[Mapping[str, Module], Iterable]] = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def clear(self) -> None:
        self._modules.clear()

    def pop(self, key: str) -> Module:
        module = self._modules[key]
        del self._modules[key]
        return module

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def update(self, modules) -> None:
        """Adds the entries of a mapping, a ModuleDict or an iterable of (key, module) pairs."""
        if not isinstance(modules, Iterable):
            raise TypeError("ModuleDict.update needs a mapping or an iterable of (key, module) "
                            f"pairs, got {type(modules).__name__}")
        pairs = modules.items() if isinstance(modules, (Mapping, ModuleDict)) else modules
        for i, pair in enumerate(pairs):
            if not isinstance(pair, Iterable):
                raise TypeError(f"ModuleDict.update: element #{i} should be a (key, module) "
                                f"pair, got {type(pair).__name__}")
            pair = tuple(pair)
            if len(pair) != 2:
                raise ValueError(f"ModuleDict.update: element #{i} has length {len(pair)}; "
                                 "2 is required")
            self[pair[0]] = pair[1]

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict is a container; index it in forward()")


def _sequential(other) -> Sequential:
    if not isinstance(other, Sequential):
        raise ValueError(f"a Sequential can only be concatenated with a Sequential, "
                         f"not {type(other).__name__}")
    return other


def _repeats(times) -> int:
    if not isinstance(times, int):
        raise TypeError(f"unsupported operand type(s) for *: 'Sequential' and "
                        f"'{type(times).__name__}'")
    if times <= 0:
        raise ValueError(f"non-positive multiplication factor {times} for Sequential")
    return times


def _renumber(table, modules) -> None:
    """Refills a container's module table as "0", "1", ... (PyTorch's positional names)."""
    table.clear()
    for i, module in enumerate(modules):
        table[str(i)] = module
