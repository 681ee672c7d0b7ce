"""Recurrent layers: ``RNN`` (tanh or relu), ``LSTM``, ``GRU`` and their one-step ``*Cell`` forms.

Parameter names, shapes, gate order and initialization follow PyTorch exactly, so state dicts
(as NumPy arrays) move between the two. Layer ``k`` (suffix ``_reverse`` for the backward
direction of a bidirectional layer) holds::

    weight_ih_l{k}: (gates * hidden_size, layer_input)   bias_ih_l{k}: (gates * hidden_size,)
    weight_hh_l{k}: (gates * hidden_size, hidden_size)   bias_hh_l{k}: (gates * hidden_size,)

with gates = 1 (RNN), 4 (LSTM: i, f, g, o) or 3 (GRU: r, z, n), every entry drawn from
U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) with graphc's generator. The equations are::

    RNN:  h' = act(W_ih x + b_ih + W_hh h + b_hh)
    LSTM: i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (W_ih x + b_ih + W_hh h + b_hh)
          c' = f * c + i * g;  h' = o * tanh(c')
    GRU:  r, z = sigmoid of the first two thirds of (W_ih x + b_ih + W_hh h + b_hh)
          n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h

Everything is written with graphc tensor ops, so a layer runs eagerly with autograd and traces
under ``@graphc.compile`` (the time loop unrolls into the graph).

    >>> import graphc
    >>> from graphc import nn
    >>> lstm = nn.LSTM(input_size=3, hidden_size=5, num_layers=2)
    >>> out, (h, c) = lstm(graphc.randn(7, 4, 3))       # (seq, batch, feature)
    >>> out.shape, h.shape, c.shape
    ((7, 4, 5), (2, 4, 5), (2, 4, 5))
"""
from __future__ import annotations

import math
from typing import Optional

from graphc import factories
from graphc import functions as F
from graphc.errors import ArgumentDTypeError, ArgumentError, ArgumentTypeError, ShapeError
from graphc.factories import zeros
from graphc.nn import functional, init
from graphc.nn.module import Module, Parameter
from graphc.nn.utils.rnn import PackedSequence, padded_in_packed_order, repacked
from graphc.tensor import Tensor
from graphc.user_warnings import warn

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _reset_uniform(params, hidden_size: int) -> None:
    """Redraws ``params`` in place (in order) from U(-k, k), k = 1/sqrt(hidden_size), as PyTorch."""
    bound = 1.0 / math.sqrt(hidden_size)
    for p in params:
        init.uniform_(p, -bound, bound)


def _linear(x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    out = F.matmul(x, F.transpose(weight, 0, 1))
    return out if bias is None else F.add(out, bias)


# -- one time step of each cell type (x_proj = W_ih x + b_ih, already computed) -------------------
def _rnn_step(x_proj: Tensor, h: Tensor, w_hh: Tensor, b_hh: Optional[Tensor], mode: str) -> Tensor:
    pre = F.add(x_proj, _linear(h, w_hh, b_hh))
    return F.tanh(pre) if mode == "RNN_TANH" else F.relu(pre)


def _lstm_step(x_proj: Tensor, state, w_hh: Tensor, b_hh: Optional[Tensor],
               w_hr: Optional[Tensor] = None):
    h, c = state
    gates = F.add(x_proj, _linear(h, w_hh, b_hh))
    i, f, g, o = F.chunk(gates, 4, dim=-1)
    i, f, g, o = F.sigmoid(i), F.sigmoid(f), F.tanh(g), F.sigmoid(o)
    c = F.add(F.mul(f, c), F.mul(i, g))
    h = F.mul(o, F.tanh(c))
    if w_hr is not None:  # proj_size: the hidden state is projected down (h = W_hr h)
        h = _linear(h, w_hr, None)
    return h, c


def _gru_step(x_proj: Tensor, h: Tensor, w_hh: Tensor, b_hh: Optional[Tensor]) -> Tensor:
    x_r, x_z, x_n = F.chunk(x_proj, 3, dim=-1)
    h_r, h_z, h_n = F.chunk(_linear(h, w_hh, b_hh), 3, dim=-1)
    r = F.sigmoid(F.add(x_r, h_r))
    z = F.sigmoid(F.add(x_z, h_z))
    n = F.tanh(F.add(x_n, F.mul(r, h_n)))
    return F.add(F.mul(F.sub(1.0, z), n), F.mul(z, h))


def _step(mode: str, x_proj: Tensor, state, w_hh: Tensor, b_hh: Optional[Tensor],
          w_hr: Optional[Tensor] = None):
    if mode == "LSTM":
        return _lstm_step(x_proj, state, w_hh, b_hh, w_hr)
    if mode == "GRU":
        return _gru_step(x_proj, state, w_hh, b_hh)
    return _rnn_step(x_proj, state, w_hh, b_hh, mode)


def _permuted_state(state, indices: Optional[Tensor]):
    """Initial or final states (a tensor, or LSTM's pair) with the batch (dim 1) reordered."""
    if state is None or indices is None:
        return state
    if isinstance(state, (tuple, list)):
        return tuple(F.index_select(s, 1, indices) for s in state)
    return F.index_select(state, 1, indices)


class RNNBase(Module):
    """Shared machinery of :class:`RNN`, :class:`LSTM` and :class:`GRU` (like PyTorch's)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0):
        super().__init__()
        if mode not in _GATES:
            raise ArgumentError(f"unknown RNN mode {mode!r}; expected one of {sorted(_GATES)}")
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ArgumentError(f"hidden_size must be a positive int, got {hidden_size!r}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ArgumentError(f"num_layers must be a positive int, got {num_layers!r}")
        if isinstance(dropout, bool) or not 0.0 <= float(dropout) <= 1.0:
            raise ArgumentError(f"dropout must be a number in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warn(f"dropout is applied between recurrent layers, after all but the last: "
                 f"dropout={dropout} with num_layers=1 does nothing")
        if not isinstance(proj_size, int) or proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size or hidden_size  # the size of h (c stays hidden_size)
        # PyTorch's order: per layer, per direction: w_ih, w_hh, b_ih, b_hh, w_hr.
        self._flat_weights_names = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else real_hidden * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = [("weight_ih", (gate_size, layer_input)),
                          ("weight_hh", (gate_size, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size:
                    shapes += [("weight_hr", (proj_size, hidden_size))]
                for name, shape in shapes:
                    setattr(self, name + suffix, Parameter(zeros(*shape)))
                    self._flat_weights_names.append(name + suffix)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraws every parameter, in place, from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        _reset_uniform([getattr(self, n) for n in self._flat_weights_names], self.hidden_size)

    @property
    def all_weights(self) -> list:
        """Parameters grouped per layer and direction, like PyTorch's ``all_weights``."""
        per = (4 if self.bias else 2) + (1 if self.proj_size else 0)
        flat = [getattr(self, n) for n in self._flat_weights_names]
        return [flat[i:i + per] for i in range(0, len(flat), per)]

    def flatten_parameters(self) -> None:
        """A no-op kept for PyTorch compatibility (cuDNN weight packing)."""

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        return s

    # -- forward --------------------------------------------------------------------------------
    def _check_input(self, input: Tensor) -> bool:
        """Validates ``input``; returns whether it is batched (3-D)."""
        if not isinstance(input, Tensor):
            raise ArgumentTypeError(f"{type(self).__name__} expects a Tensor input, "
                                    f"got {type(input).__name__}")
        if input.ndim not in (2, 3):
            raise ArgumentError(f"{type(self).__name__}: expected 2-D (unbatched) or 3-D (batched) "
                                f"input, got shape {list(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise ShapeError(f"{type(self).__name__}: input.size(-1) must be equal to input_size."
                             f" Expected {self.input_size}, got {input.shape[-1]}")
        if not input.dtype.is_float:
            raise ArgumentDTypeError(f"{type(self).__name__}: input dtype {input.dtype} does not "
                                     f"match the weights' floating point dtype; convert it with "
                                     f"input.float()")
        return input.ndim == 3

    def _check_hidden(self, hx: Tensor, expected: tuple, batched: bool, what: str) -> None:
        if not isinstance(hx, Tensor):
            raise ArgumentTypeError(f"{type(self).__name__}: {what} must be a Tensor, "
                                    f"got {type(hx).__name__}")
        if hx.ndim != (3 if batched else 2):
            raise ShapeError(f"{type(self).__name__}: for {'3' if batched else '2'}-D input, "
                             f"{what} should be {'3' if batched else '2'}-D but got "
                             f"{hx.ndim}-D tensor")
        if tuple(hx.shape) != tuple(expected):
            raise ShapeError(f"{type(self).__name__}: expected {what} size {list(expected)}, "
                             f"got {list(hx.shape)}")

    def forward(self, input: Tensor, hx=None):
        """Runs the layer over a sequence.

        ``input`` is (seq, batch, input_size), (batch, seq, input_size) with ``batch_first``,
        or (seq, input_size) unbatched. ``hx`` (zeros when omitted) is
        (num_layers * directions, batch, hidden_size), or a pair ``(h_0, c_0)`` for LSTM.
        Returns ``(output, h_n)`` or, for LSTM, ``(output, (h_n, c_n))``; ``output`` holds the
        last layer's hidden state at every step, both directions concatenated.
        """
        packed = input if isinstance(input, PackedSequence) else None
        masks = None
        if packed is not None:  # run each sequence over its own length (see _run_direction)
            x, lengths = padded_in_packed_order(packed)
            masks = [F.unsqueeze(factories.tensor([t < n for n in lengths]), 1)
                     for t in range(x.shape[0])]
            batched = True
            hx = _permuted_state(hx, packed.sorted_indices)
        else:
            batched = self._check_input(input)
            x = input if batched else F.unsqueeze(input, 1)
            if batched and self.batch_first:
                x = F.transpose(x, 0, 1)
        batch = x.shape[1]
        directions = 2 if self.bidirectional else 1
        state_shape = (self.num_layers * directions, batch, self.hidden_size)
        h_shape = (state_shape[0], batch, self.proj_size or self.hidden_size)
        given_shape = state_shape if batched else (state_shape[0], state_shape[2])
        given_h = h_shape if batched else (h_shape[0], h_shape[2])
        is_lstm = self.mode == "LSTM"
        if hx is None:
            h0 = zeros(*h_shape, dtype=x.dtype)
            c0 = zeros(*state_shape, dtype=x.dtype) if is_lstm else None
        else:
            if is_lstm:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise ArgumentTypeError("LSTM: hx must be a tuple (h_0, c_0)")
                h0, c0 = hx
                self._check_hidden(h0, given_h, batched, "h_0")
                self._check_hidden(c0, given_shape, batched, "c_0")
            else:
                if isinstance(hx, (tuple, list)):
                    raise ArgumentTypeError(f"{type(self).__name__}: hx must be a Tensor, not a tuple")
                h0, c0 = hx, None
                self._check_hidden(h0, given_shape, batched, "hx")
            if not batched:
                h0 = F.unsqueeze(h0, 1)
                c0 = F.unsqueeze(c0, 1) if is_lstm else None

        h_last, c_last = [], []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                index = layer * directions + direction
                state = (h0[index], c0[index]) if is_lstm else h0[index]
                out, state = self._run_direction(layer_input, state, layer, direction == 1,
                                                 masks)
                outputs.append(out)
                if is_lstm:
                    h_last.append(state[0])
                    c_last.append(state[1])
                else:
                    h_last.append(state)
            layer_input = F.cat(outputs, dim=-1)
            if self.dropout > 0 and layer < self.num_layers - 1 and self.training:
                layer_input = functional.dropout(layer_input, self.dropout, training=True)

        output = layer_input
        h_n = F.stack(h_last, dim=0)
        c_n = F.stack(c_last, dim=0) if is_lstm else None
        if packed is not None:  # the outputs packed as the input was, states in batch order
            output = repacked(packed, F.cat([output[t, :n]
                                             for t, n in enumerate(packed.sizes())], 0))
            if is_lstm:
                h_n, c_n = _permuted_state((h_n, c_n), packed.unsorted_indices)
                return output, (h_n, c_n)
            return output, _permuted_state(h_n, packed.unsorted_indices)
        if batched and self.batch_first:
            output = F.transpose(output, 0, 1)
        if not batched:
            output = F.squeeze(output, 1)
            h_n = F.squeeze(h_n, 1)
            c_n = F.squeeze(c_n, 1) if is_lstm else None
        return (output, (h_n, c_n)) if is_lstm else (output, h_n)

    def _run_direction(self, x: Tensor, state, layer: int, reverse: bool, masks=None):
        """One layer in one direction over time-major ``x``; returns (outputs, final state).

        ``masks[t]`` (packed input: (batch, 1) bools, whether step ``t`` is within each
        sequence) keeps a sequence's state where it is past its end, and its output 0 there.
        Padding comes after each sequence, so forward the state stops at its last element,
        and in reverse it stays the initial state until its last element, then runs back."""
        suffix = f"_l{layer}" + ("_reverse" if reverse else "")
        w_ih, w_hh = getattr(self, "weight_ih" + suffix), getattr(self, "weight_hh" + suffix)
        b_ih = getattr(self, "bias_ih" + suffix) if self.bias else None
        b_hh = getattr(self, "bias_hh" + suffix) if self.bias else None
        w_hr = getattr(self, "weight_hr" + suffix) if self.proj_size else None
        # The input projection of all steps at once: one matmul instead of seq_len small ones.
        x_proj = _linear(x, w_ih, b_ih)
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        outputs = [None] * x.shape[0]
        for t in steps:
            new = _step(self.mode, x_proj[t], state, w_hh, b_hh, w_hr)
            if masks is not None:
                new = (tuple(F.where(masks[t], a, b) for a, b in zip(new, state))
                       if self.mode == "LSTM" else F.where(masks[t], new, state))
            state = new
            h = state[0] if self.mode == "LSTM" else state
            outputs[t] = h if masks is None else F.where(masks[t], h, 0.0)
        return F.stack(outputs, dim=0), state


class RNN(RNNBase):
    """Elman RNN: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, like ``torch.nn.RNN``.

    ``nonlinearity`` is ``"tanh"`` (default) or ``"relu"``.

        >>> import graphc
        >>> rnn = graphc.nn.RNN(4, 8, batch_first=True)
        >>> out, h = rnn(graphc.randn(2, 5, 4))
        >>> out.shape, h.shape
        ((2, 5, 8), (1, 2, 8))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False):
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if nonlinearity not in modes:
            raise ArgumentError(f"unknown nonlinearity {nonlinearity!r}; use 'tanh' or 'relu'")
        super().__init__(modes[nonlinearity], input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory, gate order (i, f, g, o), like ``torch.nn.LSTM``.

        >>> import graphc
        >>> lstm = graphc.nn.LSTM(4, 8)
        >>> out, (h, c) = lstm(graphc.randn(5, 4))            # unbatched (seq, feature)
        >>> out.shape, h.shape
        ((5, 8), (1, 8))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size)


class GRU(RNNBase):
    """Gated recurrent unit, gate order (r, z, n), like ``torch.nn.GRU``.

        >>> import graphc
        >>> gru = graphc.nn.GRU(4, 8, num_layers=2)
        >>> out, h = gru(graphc.randn(5, 3, 4))
        >>> out.shape, h.shape
        ((5, 3, 8), (2, 3, 8))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional)


# -- cells --------------------------------------------------------------------------------------
class RNNCellBase(Module):
    """One time step; parameters ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        gate_size = _GATES[mode] * hidden_size
        self.weight_ih = Parameter(zeros(gate_size, input_size))
        self.weight_hh = Parameter(zeros(gate_size, hidden_size))
        if bias:
            self.bias_ih = Parameter(zeros(gate_size))
            self.bias_hh = Parameter(zeros(gate_size))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraws every parameter, in place, from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        _reset_uniform(list(self.parameters()), self.hidden_size)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        return s

    def _prepare(self, input: Tensor, hx, n_states: int):
        if input.ndim not in (1, 2):
            raise ArgumentError(f"{type(self).__name__}: expected 1-D (unbatched) or 2-D (batched) "
                                f"input, got shape {list(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise ArgumentError(f"{type(self).__name__}: input has {input.shape[-1]} features, "
                                f"expected input_size={self.input_size}")
        batched = input.ndim == 2
        x = input if batched else F.unsqueeze(input, 0)
        shape = (x.shape[0], self.hidden_size)
        if hx is None:
            states = [zeros(*shape, dtype=x.dtype) for _ in range(n_states)]
        else:
            states = list(hx) if n_states == 2 else [hx]
            for s in states:
                if tuple(s.shape) != (shape if batched else shape[1:]):
                    raise ArgumentError(f"{type(self).__name__}: hidden state has shape "
                                        f"{list(s.shape)}, expected "
                                        f"{list(shape if batched else shape[1:])}")
            if not batched:
                states = [F.unsqueeze(s, 0) for s in states]
        x_proj = _linear(x, self.weight_ih, self.bias_ih)
        return batched, x_proj, states

    def _finish(self, batched: bool, t: Tensor) -> Tensor:
        return t if batched else F.squeeze(t, 0)


class RNNCell(RNNCellBase):
    """``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, like ``torch.nn.RNNCell``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh"):
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if nonlinearity not in modes:
            raise ArgumentError(f"unknown nonlinearity {nonlinearity!r}; use 'tanh' or 'relu'")
        super().__init__(modes[nonlinearity], input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        batched, x_proj, (h,) = self._prepare(input, hx, 1)
        return self._finish(batched, _rnn_step(x_proj, h, self.weight_hh, self.bias_hh, self.mode))


class LSTMCell(RNNCellBase):
    """One LSTM step, ``(h', c') = cell(x, (h, c))``, like ``torch.nn.LSTMCell``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__("LSTM", input_size, hidden_size, bias)

    def forward(self, input: Tensor, hx=None):
        batched, x_proj, states = self._prepare(input, hx, 2)
        h, c = _lstm_step(x_proj, states, self.weight_hh, self.bias_hh)
        return self._finish(batched, h), self._finish(batched, c)


class GRUCell(RNNCellBase):
    """One GRU step, ``h' = cell(x, h)``, like ``torch.nn.GRUCell``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__("GRU", input_size, hidden_size, bias)

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        batched, x_proj, (h,) = self._prepare(input, hx, 1)
        return self._finish(batched, _gru_step(x_proj, h, self.weight_hh, self.bias_hh))
