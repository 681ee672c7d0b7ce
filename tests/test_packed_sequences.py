"""Batches of sequences of different lengths (graphc.nn.utils.rnn): padding, packing, and the
recurrent layers on packed batches. The oracle is each sequence run alone through the same
layer (no padding at all): a packed batch must give every sequence exactly that."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from conftest import assert_close
from graphc.nn.utils import rnn

RNG = np.random.default_rng(7)
LENGTHS = (2, 5, 3, 5, 1)


def _sequences(features=3):
    return [graphc.tensor(RNG.standard_normal((n, features))) for n in LENGTHS]


def test_pad_sequence_stacks_and_fills_after_or_before():
    a, b = graphc.tensor([[1.0], [2.0]]), graphc.tensor([[3.0]])
    assert rnn.pad_sequence([a, b]).tolist() == [[[1.0], [3.0]], [[2.0], [0.0]]]
    assert rnn.pad_sequence([a, b], batch_first=True, padding_value=-1.0,
                            padding_side="left").tolist() == [[[1.0], [2.0]], [[-1.0], [3.0]]]
    with pytest.raises(ValueError, match="sequence 1 has shape"):
        rnn.pad_sequence([a, graphc.ones(2, 2)])


def test_pack_and_unpack_round_trip_in_the_original_order():
    sequences = _sequences()
    packed = rnn.pack_sequence(sequences, enforce_sorted=False)
    # time step t holds the sequences longer than t, longest first
    assert packed.batch_sizes.tolist() == [5, 4, 3, 2, 2]
    assert packed.sorted_indices.tolist() == [1, 3, 2, 0, 4]  # stable among equal lengths
    padded, lengths = rnn.pad_packed_sequence(packed, batch_first=True, total_length=6)
    assert padded.shape == (5, 6, 3) and lengths.tolist() == list(LENGTHS)
    for seq, back in zip(sequences, rnn.unpack_sequence(packed)):
        assert back.tolist() == seq.tolist()
    with pytest.raises(RuntimeError, match="not sorted"):
        rnn.pack_sequence(sequences)
    with pytest.raises(ValueError, match="expected 5 lengths"):
        rnn.pack_padded_sequence(padded, [1, 2], batch_first=True)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_recurrent_layer_runs_each_packed_sequence_over_its_own_length(mode, bidirectional):
    graphc.manual_seed(0)
    layer = getattr(graphc.nn, mode)(3, 4, num_layers=2, bidirectional=bidirectional)
    layer = layer.to(graphc.float64)
    sequences = _sequences()
    directions = 2 if bidirectional else 1
    h0 = graphc.tensor(RNG.standard_normal((2 * directions, len(LENGTHS), 4)))
    hx = (h0, h0 * 0.5) if mode == "LSTM" else h0
    out, state = layer(rnn.pack_sequence(sequences, enforce_sorted=False), hx)
    padded, _ = rnn.pad_packed_sequence(out, batch_first=True)
    final = state[0] if mode == "LSTM" else state
    for b, seq in enumerate(sequences):  # the oracle: the sequence alone, unbatched
        own = (h0[:, b], h0[:, b] * 0.5) if mode == "LSTM" else h0[:, b]
        alone, alone_state = layer(seq, own)
        n = seq.shape[0]
        assert_close(padded[b, :n].numpy(), alone.numpy(), dtype="f64")
        assert padded[b, n:].abs().sum().item() == 0.0
        alone_final = alone_state[0] if mode == "LSTM" else alone_state
        assert_close(final[:, b].numpy(), alone_final.numpy(), dtype="f64")


def test_gradients_flow_through_a_packed_lstm_only_from_within_each_length():
    graphc.manual_seed(1)
    lstm = graphc.nn.LSTM(2, 3, batch_first=True).to(graphc.float64)
    x = graphc.tensor(RNG.standard_normal((2, 4, 2)), requires_grad=True)
    packed = rnn.pack_padded_sequence(x, [4, 2], batch_first=True)
    out, (h, _) = lstm(packed)
    (rnn.pad_packed_sequence(out)[0].sum() + h.sum()).backward()
    assert x.grad[1, 2:].abs().sum().item() == 0.0  # the padding does not take part
    assert x.grad[1, :2].abs().sum().item() > 0.0


def test_packing_and_a_packed_lstm_compile_and_retrace_for_new_lengths():
    graphc.manual_seed(2)
    lstm = graphc.nn.LSTM(2, 3, batch_first=True, bidirectional=True)

    def run(x, lengths):
        packed = rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, (h, _) = lstm(packed)
        return rnn.pad_packed_sequence(out, batch_first=True)[0], h
    compiled = graphc.compile(run)
    x = graphc.randn(3, 4, 2)
    for lengths in ([2, 4, 1], [3, 4, 1], [2, 4, 1]):
        for got, want in zip(compiled(x, lengths), run(x, lengths)):
            assert_close(got.detach().numpy(), want.detach().numpy(), dtype="f32")
    assert compiled.traces == 2  # the lengths shape the graph


def test_a_packed_batch_passed_into_a_compiled_function_keeps_its_sizes():
    # the Python sizes were lost when the argument was flattened; .tolist() of a traced
    # tensor then failed
    graphc.manual_seed(3)
    lstm = graphc.nn.LSTM(2, 3)
    run = graphc.compile(lambda packed: rnn.pad_packed_sequence(lstm(packed)[0])[0])
    x = graphc.randn(4, 3, 2)
    for lengths in ([2, 4, 1], [3, 4, 1]):
        packed = rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
        assert_close(run(packed).detach().numpy(),
                     rnn.pad_packed_sequence(lstm(packed)[0])[0].detach().numpy(), dtype="f32")
    assert run.traces == 2
