"""``TransformerDecoderLayer``, ``TransformerDecoder`` and ``nn.Transformer``: PyTorch's
parameter names and shapes (written out literally), forward results against the NumPy oracle
of PyTorch's documented layers (``np_mha``, ``np_encoder_layer`` of the encoder tests, and a
decoder layer written here), every mask, gradients against finite differences, and compiled
results against eager mode.
"""
from __future__ import annotations

import numpy as np
import pytest
from test_nn_rnn_transformer import (
    assert_module_grads,
    causal_bool,
    np_encoder_layer,
    np_gelu,
    np_layer_norm,
    np_mha,
    params_np,
)

import graphc
from conftest import assert_close
from graphc import nn


def f64(array):
    return graphc.tensor(np.asarray(array, dtype=np.float64))


def sub_params(p, prefix):
    return {k[len(prefix):]: v for k, v in p.items() if k.startswith(prefix)}


def np_decoder_layer(x, memory, p, heads, norm_first, activation, tgt_mask=None,
                     memory_mask=None, tgt_kpm=None, memory_kpm=None, batch_first=False):
    """PyTorch's documented TransformerDecoderLayer in eval mode (dropout is the identity)."""
    act = {"relu": lambda t: np.maximum(t, 0), "gelu": np_gelu}[activation]

    def sa(t):
        return np_mha(t, t, t, sub_params(p, "self_attn."), heads, key_padding_mask=tgt_kpm,
                      attn_mask=tgt_mask, batch_first=batch_first)[0]

    def mha(t):
        return np_mha(t, memory, memory, sub_params(p, "multihead_attn."), heads,
                      key_padding_mask=memory_kpm, attn_mask=memory_mask,
                      batch_first=batch_first)[0]

    def ff(t):
        return act(t @ p["linear1.weight"].T + p["linear1.bias"]) @ p["linear2.weight"].T \
            + p["linear2.bias"]

    def norm(i, t):
        return np_layer_norm(t, p[f"norm{i}.weight"], p[f"norm{i}.bias"])

    if norm_first:
        x = x + sa(norm(1, x))
        x = x + mha(norm(2, x))
        return x + ff(norm(3, x))
    x = norm(1, x + sa(x))
    x = norm(2, x + mha(x))
    return norm(3, x + ff(x))


def randomized(module, seed=0):
    """The module in float64 eval mode with every parameter random (LayerNorm's (1, 0) start and
    the zero attention biases would hide mistakes)."""
    module = module.double().eval()
    r = np.random.default_rng(seed)
    with graphc.no_grad():
        for p in module.parameters():
            p.copy_(f64(r.standard_normal(p.shape) * 0.5 + (1.0 if p.ndim == 1 else 0.0)))
    return module


def data(seed=1, tgt_len=4, src_len=5, batch=3, d_model=8):
    r = np.random.default_rng(seed)
    return r.standard_normal((tgt_len, batch, d_model)), r.standard_normal((src_len, batch, d_model))


# -- parameters ----------------------------------------------------------------------------------
def test_transformer_parameter_names_and_shapes_are_pytorchs():
    model = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                           dim_feedforward=16)
    attention = [("in_proj_weight", (24, 8)), ("in_proj_bias", (24,)),
                 ("out_proj.weight", (8, 8)), ("out_proj.bias", (8,))]
    feed_forward = [("linear1.weight", (16, 8)), ("linear1.bias", (16,)),
                    ("linear2.weight", (8, 16)), ("linear2.bias", (8,))]
    expected = (
        [(f"encoder.layers.0.self_attn.{n}", s) for n, s in attention]
        + [(f"encoder.layers.0.{n}", s) for n, s in feed_forward]
        + [(f"encoder.layers.0.norm{i}.{n}", (8,)) for i in (1, 2) for n in ("weight", "bias")]
        + [("encoder.norm.weight", (8,)), ("encoder.norm.bias", (8,))]
        + [(f"decoder.layers.0.self_attn.{n}", s) for n, s in attention]
        + [(f"decoder.layers.0.multihead_attn.{n}", s) for n, s in attention]
        + [(f"decoder.layers.0.{n}", s) for n, s in feed_forward]
        + [(f"decoder.layers.0.norm{i}.{n}", (8,)) for i in (1, 2, 3)
           for n in ("weight", "bias")]
        + [("decoder.norm.weight", (8,)), ("decoder.norm.bias", (8,))])
    assert [(n, tuple(p.shape)) for n, p in model.named_parameters()] == expected
    assert [n for n in model.state_dict()] == [n for n, _ in expected]


def test_transformer_defaults_are_pytorchs():
    model = nn.Transformer()
    assert (model.d_model, model.nhead, model.batch_first) == (512, 8, False)
    assert len(model.encoder.layers) == 6 and len(model.decoder.layers) == 6
    layer = model.decoder.layers[0]
    assert layer.linear1.weight.shape == (2048, 512)
    assert layer.dropout.p == 0.1 and layer.norm1.eps == 1e-5


def test_transformer_initializes_every_matrix_xavier_uniform():
    graphc.manual_seed(0)
    model = nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                           dim_feedforward=32)
    for name, p in model.named_parameters():
        values = p.numpy()
        if p.ndim > 1:
            fan_out, fan_in = p.shape
            assert np.abs(values).max() <= np.sqrt(6.0 / (fan_in + fan_out)), name
        elif name.endswith("norm.weight") or ".norm" in name and name.endswith("weight"):
            assert (values == 1.0).all(), name


# -- forward against the oracle -------------------------------------------------------------------
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_layer_matches_the_oracle_with_every_mask(norm_first, activation):
    layer = randomized(nn.TransformerDecoderLayer(8, 2, 16, activation=activation,
                                                  norm_first=norm_first))
    tgt, memory = data()
    tgt_kpm = np.zeros((3, 4), dtype=bool)
    tgt_kpm[2, 3] = True
    memory_kpm = np.zeros((3, 5), dtype=bool)
    memory_kpm[1, 3:] = True
    memory_mask = np.random.default_rng(7).standard_normal((4, 5))
    out = layer(f64(tgt), f64(memory), tgt_mask=graphc.tensor(causal_bool(4)),
                memory_mask=f64(memory_mask), tgt_key_padding_mask=graphc.tensor(tgt_kpm),
                memory_key_padding_mask=graphc.tensor(memory_kpm))
    expected = np_decoder_layer(tgt, memory, params_np(layer), 2, norm_first, activation,
                                tgt_mask=causal_bool(4), memory_mask=memory_mask,
                                tgt_kpm=tgt_kpm, memory_kpm=memory_kpm)
    assert_close(out, expected)


def test_decoder_layer_batch_first_and_unbatched_inputs():
    layer = randomized(nn.TransformerDecoderLayer(8, 2, 16, batch_first=True))
    tgt, memory = data()
    p = params_np(layer)
    out = layer(f64(tgt.transpose(1, 0, 2)), f64(memory.transpose(1, 0, 2)))
    assert_close(out, np_decoder_layer(tgt, memory, p, 2, False, "relu").transpose(1, 0, 2))
    unbatched = layer(f64(tgt[:, 0]), f64(memory[:, 0]))
    assert_close(unbatched, np_decoder_layer(tgt[:, :1], memory[:, :1], p, 2, False,
                                             "relu")[:, 0])


def test_decoder_layer_takes_a_callable_activation():
    layer = randomized(nn.TransformerDecoderLayer(8, 2, 16, activation=nn.GELU()))
    tgt, memory = data()
    assert_close(layer(f64(tgt), f64(memory)),
                 np_decoder_layer(tgt, memory, params_np(layer), 2, False, "gelu"))
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerDecoderLayer(8, 2, activation="tanh")


def test_transformer_decoder_stacks_copies_then_the_final_norm():
    layer = nn.TransformerDecoderLayer(8, 2, 16)
    decoder = randomized(nn.TransformerDecoder(layer, num_layers=2, norm=nn.LayerNorm(8)))
    assert decoder.layers[0] is not decoder.layers[1]
    tgt, memory = data()
    p = params_np(decoder)
    expected = tgt
    for i in range(2):
        expected = np_decoder_layer(expected, memory, sub_params(p, f"layers.{i}."), 2, False,
                                    "relu", tgt_mask=causal_bool(4))
    expected = np_layer_norm(expected, p["norm.weight"], p["norm.bias"])
    out = decoder(f64(tgt), f64(memory), tgt_mask=graphc.tensor(causal_bool(4)))
    assert_close(out, expected)


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_matches_the_encoder_decoder_oracle(norm_first):
    model = randomized(nn.Transformer(8, 2, 2, 2, 16, norm_first=norm_first))
    tgt, src = data(src_len=6)
    src_kpm = np.zeros((3, 6), dtype=bool)
    src_kpm[0, 4:] = True
    p = params_np(model)
    memory = src
    for i in range(2):
        memory = np_encoder_layer(memory, sub_params(p, f"encoder.layers.{i}."), 2, norm_first,
                                  "relu", kpm=src_kpm)
    memory = np_layer_norm(memory, p["encoder.norm.weight"], p["encoder.norm.bias"])
    expected = tgt
    for i in range(2):
        expected = np_decoder_layer(expected, memory, sub_params(p, f"decoder.layers.{i}."), 2,
                                    norm_first, "relu", tgt_mask=causal_bool(4),
                                    memory_kpm=src_kpm)
    expected = np_layer_norm(expected, p["decoder.norm.weight"], p["decoder.norm.bias"])
    out = model(f64(src), f64(tgt), tgt_mask=nn.Transformer.generate_square_subsequent_mask(4),
                src_key_padding_mask=graphc.tensor(src_kpm),
                memory_key_padding_mask=graphc.tensor(src_kpm))
    assert_close(out, expected)


def test_generate_square_subsequent_mask_is_minus_infinity_above_the_diagonal():
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    assert mask.dtype == graphc.float32
    assert mask.tolist() == [[0.0, -np.inf, -np.inf], [0.0, 0.0, -np.inf], [0.0, 0.0, 0.0]]


def test_tgt_is_causal_without_a_mask_equals_the_square_subsequent_mask():
    model = randomized(nn.Transformer(8, 2, 1, 1, 16))
    tgt, src = data()
    with_mask = model(f64(src), f64(tgt),
                      tgt_mask=nn.Transformer.generate_square_subsequent_mask(4).double())
    hinted = model(f64(src), f64(tgt), tgt_is_causal=True)
    assert_close(hinted, with_mask.numpy())


def test_memory_key_padding_mask_hides_padded_memory_positions():
    decoder_layer = randomized(nn.TransformerDecoderLayer(8, 2, 16))
    tgt, memory = data()
    kpm = np.zeros((3, 5), dtype=bool)
    kpm[:, 4] = True
    changed = memory.copy()
    changed[4] += 10.0
    outs = [decoder_layer(f64(tgt), f64(m), memory_key_padding_mask=graphc.tensor(kpm)).numpy()
            for m in (memory, changed)]
    assert_close(outs[0], outs[1])


def test_transformer_rejects_mismatched_batches_and_features():
    model = nn.Transformer(8, 2, 1, 1, 16)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        model(graphc.randn(5, 3, 8), graphc.randn(4, 2, 8))
    with pytest.raises(RuntimeError, match="feature number of src and tgt must be equal to "
                                           "d_model"):
        model(graphc.randn(5, 3, 8), graphc.randn(4, 3, 6))


def test_a_state_dict_with_pytorchs_names_loads_into_a_fresh_model():
    source = randomized(nn.Transformer(8, 2, 1, 1, 16), seed=3)
    target = nn.Transformer(8, 2, 1, 1, 16).double().eval()
    target.load_state_dict({k: f64(v.numpy()) for k, v in source.state_dict().items()})
    tgt, src = data()
    assert_close(target(f64(src), f64(tgt)), source(f64(src), f64(tgt)).numpy())


# -- gradients and compilation --------------------------------------------------------------------
def test_decoder_layer_gradients_match_finite_differences():
    layer = randomized(nn.TransformerDecoderLayer(4, 2, 6, norm_first=True), seed=5)
    tgt, memory = data(tgt_len=3, src_len=2, batch=1, d_model=4)
    mask = graphc.tensor(causal_bool(3))
    assert_module_grads(layer, [tgt, memory],
                        lambda m, t, s: m(t, s, tgt_mask=mask))


def test_transformer_input_gradients_match_finite_differences():
    model = randomized(nn.Transformer(4, 2, 1, 1, 6), seed=6)
    tgt, src = data(tgt_len=2, src_len=3, batch=1, d_model=4)
    tensors = [graphc.tensor(a, requires_grad=True) for a in (src, tgt)]
    w = np.random.default_rng(9).uniform(0.5, 1.5, (2, 1, 4))
    (model(*tensors, tgt_is_causal=True) * f64(w)).sum().backward()
    eps = 1e-6
    for t, array in zip(tensors, (src, tgt)):
        expected = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            values = []
            for delta in (eps, -eps):
                moved = [a.copy() for a in (src, tgt)]
                moved[0 if array is src else 1][index] += delta
                with graphc.no_grad():
                    values.append((model(f64(moved[0]), f64(moved[1]), tgt_is_causal=True)
                                   * f64(w)).sum().item())
            expected[index] = (values[0] - values[1]) / (2 * eps)
        np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-5, atol=1e-7)


def test_transformer_training_step_compiled_equals_eager():
    r = np.random.default_rng(2)
    src = graphc.tensor(r.standard_normal((2, 5, 8)).astype(np.float32))
    tgt = graphc.tensor(r.standard_normal((2, 4, 8)).astype(np.float32))
    target = graphc.tensor(r.standard_normal((2, 4, 8)).astype(np.float32))
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    results = []
    for compiled in (False, True):
        graphc.manual_seed(0)
        model = nn.Transformer(8, 2, 1, 1, 16, dropout=0.0, batch_first=True, norm_first=True)
        # SGD, not Adam: the key bias's true gradient is 0 (softmax ignores a per-query
        # constant) and Adam would blow its rounding noise up to full-size steps
        opt = graphc.optim.SGD(model.parameters(), lr=0.1)

        def step(src, tgt, target, model=model, opt=opt):
            opt.zero_grad()
            loss = ((model(src, tgt, tgt_mask=mask) - target) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        run = graphc.compile(step) if compiled else step
        losses = [run(src, tgt, target).item() for _ in range(3)]
        results.append((losses, [p.numpy().copy() for p in model.parameters()]))
    (eager_losses, eager_params), (compiled_losses, compiled_params) = results
    assert eager_losses[-1] < eager_losses[0]
    np.testing.assert_allclose(compiled_losses, eager_losses, rtol=1e-5, atol=1e-6)
    for got, want in zip(compiled_params, eager_params):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


# -- TransformerEncoder's nested-tensor path (PyTorch's enable_nested_tensor) -------------------

def _encoders(seed=0, nhead=2, batch_first=True, norm_first=False, activation="relu"):
    """The same encoder twice, with and without enable_nested_tensor, float64 eval mode."""
    made = []
    for nested in (True, False):
        graphc.manual_seed(seed)
        layer = nn.TransformerEncoderLayer(8, nhead, 16, dropout=0.0, batch_first=batch_first,
                                           norm_first=norm_first, activation=activation)
        made.append(randomized(nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8),
                                                     enable_nested_tensor=nested), seed))
    return made


PADDED = np.array([[False] * 5, [False, False, False, True, True], [True] * 5])


def test_encoder_in_inference_gives_zeros_at_padded_positions_as_pytorchs_nested_path():
    nested, plain = _encoders()
    assert nested.use_nested_tensor and not plain.use_nested_tensor
    x = f64(np.random.default_rng(3).standard_normal((3, 5, 8)))
    with graphc.no_grad():
        got = nested(x, src_key_padding_mask=graphc.tensor(PADDED)).numpy()
        ordinary = plain(x, src_key_padding_mask=graphc.tensor(PADDED)).numpy()
        norm_of_zero = nested.norm(graphc.zeros(8, dtype=graphc.float64)).numpy()
    kept = ~PADDED
    assert_close(got[kept], ordinary[kept])  # float64: the same computation
    np.testing.assert_array_equal(got[PADDED], np.broadcast_to(norm_of_zero, got[PADDED].shape))
    assert not np.allclose(ordinary[1, 3:], norm_of_zero)  # (the ordinary path differs there)


def test_a_float_padding_mask_pads_wherever_it_is_not_zero_on_the_nested_path():
    nested, plain = _encoders()
    x = f64(np.random.default_rng(3).standard_normal((3, 5, 8)))
    additive = np.where(PADDED, -np.inf, 0.0)
    additive[0, 4] = 0.5  # PyTorch's mask.logical_not() reads any nonzero as padding
    padded = additive != 0
    with graphc.no_grad():
        got = nested(x, src_key_padding_mask=f64(additive)).numpy()
        ordinary = plain(x, src_key_padding_mask=graphc.tensor(padded)).numpy()
    assert_close(got[~padded], ordinary[~padded])
    assert_close(got[0, 4], nested.norm(graphc.zeros(8, dtype=graphc.float64)).numpy())


@pytest.mark.parametrize("case", [
    "train", "grad", "mask", "not-batch-first", "norm-first", "odd-heads", "tanh",
    "padding-first", "compiled", "unbatched"])
def test_the_encoder_computes_padded_positions_where_pytorch_takes_no_nested_path(case):
    nested, plain = _encoders(
        nhead=1 if case == "odd-heads" else 2, batch_first=case != "not-batch-first",
        norm_first=case == "norm-first",
        activation=graphc.tanh if case == "tanh" else "relu")
    padded = PADDED[1:2] if case == "unbatched" else PADDED
    if case == "padding-first":
        padded = padded[:, ::-1].copy()
    x = np.random.default_rng(3).standard_normal((3, 5, 8))
    if case == "not-batch-first":
        x, padded = x.transpose(1, 0, 2), padded  # (S, N, E); the mask stays (N, S)
    if case == "unbatched":
        x, padded = x[1], padded[0]
    kwargs = {"src_key_padding_mask": graphc.tensor(padded)}
    if case == "mask":
        kwargs["mask"] = graphc.zeros(5, 5, dtype=graphc.float64)
    results = []
    for encoder in (nested, plain):
        if case == "train":
            encoder.train()  # (dropout 0: the same numbers twice)
        run = graphc.compile(encoder) if case == "compiled" else encoder
        if case in ("grad", "train"):
            results.append(run(f64(x), **kwargs).detach().numpy())
        else:
            with graphc.no_grad():
                results.append(run(f64(x), **kwargs).numpy())
    np.testing.assert_array_equal(results[0], results[1])


def test_mask_check_false_takes_the_nested_path_inside_a_compiled_function():
    nested, plain = _encoders()
    nested.mask_check = False
    x = f64(np.random.default_rng(3).standard_normal((3, 5, 8)))
    with graphc.no_grad():
        eager = nested(x, src_key_padding_mask=graphc.tensor(PADDED)).numpy()
        compiled = graphc.compile(nested)(x, src_key_padding_mask=graphc.tensor(PADDED)).numpy()
    assert_close(compiled, eager)


def test_attention_to_fully_masked_keys_without_weights_is_zero_as_pytorchs_sdpa_path():
    """PyTorch's MultiheadAttention runs scaled_dot_product_attention when it need not return
    the weights: a query whose every key is padded gets attention 0, so its output is the
    output projection's bias and gradients stay finite; returning the weights keeps NaN."""
    graphc.manual_seed(0)
    mha = graphc.nn.MultiheadAttention(4, 2, batch_first=True)
    x = graphc.randn(2, 3, 4, requires_grad=True)
    padded = graphc.tensor([[True, True, True], [False, True, True]])
    out, weights = mha(x, x, x, key_padding_mask=padded, need_weights=False)
    assert weights is None
    bias = mha.out_proj.bias.detach().numpy()
    np.testing.assert_array_equal(out.detach().numpy()[0], np.broadcast_to(bias, (3, 4)))
    assert np.isfinite(out.detach().numpy()).all()
    out.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    assert np.isfinite(mha.in_proj_weight.grad.numpy()).all()
    with_weights, _ = mha(x, x, x, key_padding_mask=padded, need_weights=True)
    assert np.isnan(with_weights.detach().numpy()[0]).all()
    np.testing.assert_allclose(with_weights.detach().numpy()[1], out.detach().numpy()[1],
                               rtol=1e-6, atol=1e-7)
