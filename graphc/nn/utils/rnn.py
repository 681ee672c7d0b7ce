"""Sequences of different lengths in one batch, as ``torch.nn.utils.rnn``: padding them into one
tensor, and *packing* them so that ``RNN``/``LSTM``/``GRU`` run each sequence only over its own
length (the final hidden state of a short sequence is its state at its last element, not after
the padding).

    >>> import graphc
    >>> from graphc.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence
    >>> batch = pad_sequence([graphc.ones(3, 2), graphc.ones(1, 2)])       # (3, 2, 2)
    >>> packed = pack_padded_sequence(batch, [3, 1])
    >>> packed.batch_sizes.tolist()
    [2, 1, 1]
    >>> lstm = graphc.nn.LSTM(2, 4)
    >>> out, (h, c) = lstm(packed)
    >>> padded, lengths = pad_packed_sequence(out)
    >>> padded.shape, lengths.tolist(), bool((padded[1:, 1] == 0).all())
    ((3, 2, 4), [3, 1], True)

A packed sequence's ``data`` holds the batch's elements time step by time step, each step's
sequences in order of decreasing length (``batch_sizes[t]`` of them at step ``t``);
``sorted_indices`` says which sequence of the batch is which there, ``unsorted_indices`` the
way back. The lengths are Python numbers while packing: inside a compiled function they shape
the graph (a new set of lengths retraces).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Optional

import numpy as np

from graphc import factories
from graphc import functions as F
from graphc.tensor import Tensor

__all__ = ["PackedSequence", "pad_sequence", "pack_padded_sequence", "pad_packed_sequence",
           "pack_sequence", "unpad_sequence", "unpack_sequence", "padded_in_packed_order",
           "repacked"]


class _Packed(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Optional[Tensor] = None
    unsorted_indices: Optional[Tensor] = None


class PackedSequence(_Packed):
    """``data`` (total elements, *features), ``batch_sizes`` (int64, one per time step), and the
    permutations ``sorted_indices`` / ``unsorted_indices`` (None when the batch came sorted).
    The packing functions also keep the sizes and the order as Python numbers, which a compiled
    function reads (its tensors have no values while it is traced)."""

    def sizes(self) -> list[int]:
        """``batch_sizes`` as Python numbers."""
        kept = self.__dict__.get("_sizes")
        return list(kept) if kept is not None else [int(n) for n in self.batch_sizes.tolist()]

    def lengths(self) -> list[int]:
        """Each sequence's length, in the packed (sorted) order."""
        sizes = self.sizes()
        return [sum(1 for n in sizes if n > b) for b in range(sizes[0] if sizes else 0)]

    def _tree_flatten(self):
        """For graphc.pytree: the tensors are leaves; the sizes and the order, Python numbers,
        are the structure (a compiled function given new lengths retraces)."""
        return tuple(self), (tuple(self.sizes()), self.__dict__.get("_unsorted"))

    @classmethod
    def _tree_unflatten(cls, meta, children):
        packed = cls(*children)
        packed.__dict__.update(_sizes=meta[0], _unsorted=meta[1])
        return packed

    def unsorted_order(self) -> Optional[list[int]]:
        """``unsorted_indices`` as Python numbers (None for a batch packed in its order)."""
        if self.unsorted_indices is None:
            return None
        kept = self.__dict__.get("_unsorted")
        return list(kept) if kept is not None else [int(i) for i in
                                                      self.unsorted_indices.tolist()]


def _packed(data, sizes: list[int], order: Optional[list[int]]) -> PackedSequence:
    unsorted = None if order is None else [int(i) for i in np.argsort(order)]
    packed = PackedSequence(data, factories.tensor(sizes, dtype=factories.int64),
                            None if order is None else _index(order),
                            None if unsorted is None else _index(unsorted))
    packed.__dict__.update(_sizes=tuple(sizes), _unsorted=None if unsorted is None
                           else tuple(unsorted))
    return packed


def repacked(like: PackedSequence, data: Tensor) -> PackedSequence:
    """``data`` packed as ``like`` is (a recurrent layer's output for a packed input)."""
    packed = PackedSequence(data, *like[1:])
    packed.__dict__.update(like.__dict__)
    return packed


def _index(values: list[int]) -> Tensor:
    return factories.tensor(values, dtype=factories.int64)


def _lengths_list(lengths, batch: int) -> list[int]:
    values = lengths.tolist() if isinstance(lengths, Tensor) else list(np.asarray(lengths))
    values = [int(n) for n in values]
    if len(values) != batch:
        raise ValueError(f"pack_padded_sequence: expected {batch} lengths (one per sequence of "
                         f"the batch), got {len(values)}")
    if any(n <= 0 for n in values):
        raise ValueError(f"pack_padded_sequence: every length must be at least 1, got {values}")
    return values


def pad_sequence(sequences: Sequence[Tensor], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """Stacks tensors of shape (length_i, *) into (max_length, batch, *) (``batch_first``:
    (batch, max_length, *)), filling with ``padding_value`` after (``padding_side="left"``:
    before) each shorter one."""
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got "
                         f"{padding_side!r}")
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pad_sequence: received an empty list of sequences")
    trailing = sequences[0].shape[1:]
    for i, seq in enumerate(sequences):
        if seq.ndim == 0 or seq.shape[1:] != trailing:
            raise ValueError(f"pad_sequence: sequence {i} has shape {list(seq.shape)}; every "
                             f"sequence must be (length, {', '.join(map(str, trailing))})")
    longest = max(seq.shape[0] for seq in sequences)
    padded = []
    for seq in sequences:
        missing = longest - seq.shape[0]
        if missing:
            fill = factories.full((missing,) + tuple(trailing), padding_value, dtype=seq.dtype)
            seq = F.cat([seq, fill] if padding_side == "right" else [fill, seq], 0)
        padded.append(seq)
    return F.stack(padded, 0 if batch_first else 1)


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Packs a padded batch (max_length, batch, *) (``batch_first``: (batch, max_length, *))
    whose sequence ``i`` is ``lengths[i]`` long. With ``enforce_sorted`` the lengths must
    decrease; otherwise the batch is sorted here and the permutation kept."""
    if batch_first:
        input = F.transpose(input, 0, 1)
    batch = input.shape[1]
    values = _lengths_list(lengths, batch)
    if max(values) > input.shape[0]:
        raise ValueError(f"pack_padded_sequence: a length of {max(values)} is longer than the "
                         f"{input.shape[0]} time steps of the input")
    if enforce_sorted:
        if any(a < b for a, b in zip(values, values[1:])):
            raise RuntimeError(f"pack_padded_sequence: lengths {values} are not sorted in "
                               "decreasing order; sort the batch or pass enforce_sorted=False")
        order = None
    else:
        order = sorted(range(batch), key=lambda b: -values[b])  # stable, as torch.sort
        input = F.index_select(input, 1, _index(order))
        values = [values[b] for b in order]
    steps = [input[t, :sum(1 for n in values if n > t)] for t in range(values[0])]
    return _packed(F.cat(steps, 0), [step.shape[0] for step in steps], order)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: Optional[int] = None) -> tuple[Tensor, Tensor]:
    """The inverse of :func:`pack_padded_sequence`: ``(padded, lengths)`` in the batch's
    original order; ``total_length`` pads to that many steps."""
    padded, lengths = padded_in_packed_order(sequence, padding_value)
    if total_length is not None:
        if total_length < padded.shape[0]:
            raise ValueError(f"pad_packed_sequence: total_length {total_length} is shorter than "
                             f"the longest sequence ({padded.shape[0]})")
        extra = total_length - padded.shape[0]
        if extra:
            padded = F.cat([padded, factories.full((extra,) + tuple(padded.shape[1:]),
                                                   padding_value, dtype=padded.dtype)], 0)
    unsorted = sequence.unsorted_order()
    if unsorted is not None:
        padded = F.index_select(padded, 1, _index(unsorted))
        lengths = [lengths[i] for i in unsorted]
    if batch_first:
        padded = F.transpose(padded, 0, 1)
    return padded, _index(lengths)


def padded_in_packed_order(sequence: PackedSequence,
                           padding_value: float = 0.0) -> tuple[Tensor, list[int]]:
    """A packed batch as (steps, batch, *), its sequences in packed (decreasing length)
    order, and their lengths: what a recurrent layer runs on."""
    data, sizes = sequence.data, sequence.sizes()
    batch = sizes[0]
    rows, start = [], 0
    for size in sizes:
        row = data[start:start + size]
        if size < batch:
            fill = factories.full((batch - size,) + tuple(data.shape[1:]), padding_value,
                                  dtype=data.dtype)
            row = F.cat([row, fill], 0)
        rows.append(row)
        start += size
    return F.stack(rows, 0), sequence.lengths()


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Packs a list of (length_i, *) tensors (:func:`pad_sequence` then
    :func:`pack_padded_sequence`)."""
    lengths = [seq.shape[0] for seq in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded: Tensor, lengths, batch_first: bool = False) -> list[Tensor]:
    """The sequences of a padded batch, each cut to its length."""
    if not batch_first:
        padded = F.transpose(padded, 0, 1)
    return [padded[b, :n] for b, n in enumerate(_lengths_list(lengths, padded.shape[0]))]


def unpack_sequence(packed: PackedSequence) -> list[Tensor]:
    """The sequences of a packed batch, in their original order."""
    padded, lengths = pad_packed_sequence(packed, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
