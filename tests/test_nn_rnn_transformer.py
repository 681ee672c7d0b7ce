"""Recurrent and attention layers: graphc.nn.{RNN, LSTM, GRU, *Cell, MultiheadAttention,
TransformerEncoderLayer} and scaled_dot_product_attention.

Every forward value is compared with an independent float64 NumPy implementation written here
from the documented equations (PyTorch's), run on the module's own parameters. Modules are cast
with ``.double()`` for those comparisons, so the tolerance is float64's (``rtol=1e-10``); one
float32 run per layer checks the default dtype against the same oracle with float32 tolerances.
Gradients of every parameter and input are compared with central finite differences in float64
(``eps=1e-6``, ``rtol=1e-5, atol=1e-7``, the suite's tolerances from ``conftest.py``). Compiled
(``graphc.compile``) results must equal eager ones to float32 rounding (``rtol=atol=1e-6``).
State-dict keys are PyTorch's documented names, hard-coded.
"""
import math

import numpy as np
import pytest

import graphc
from conftest import FD_EPS, FD_TOL
from graphc import nn

F64 = dict(rtol=1e-10, atol=1e-12)
F32_VS_F64 = dict(rtol=1e-5, atol=2e-6)
COMPILED_VS_EAGER = dict(rtol=1e-6, atol=1e-6)


def rng(seed=0):
    return np.random.default_rng(seed)


def f64(array):
    return graphc.tensor(np.asarray(array, dtype=np.float64))


def params_np(module):
    """The module's parameters as float64 NumPy arrays, by state-dict name."""
    return {k: v.numpy().astype(np.float64) for k, v in module.state_dict().items()}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# -- module gradient check (parameters and inputs vs central finite differences) ---------------
def _flat_outputs(result):
    if isinstance(result, graphc.Tensor):
        return [result]
    flat = []
    for item in result:
        if item is not None:
            flat.extend(_flat_outputs(item))
    return flat


def assert_module_grads(module, inputs, run):
    """Autograd of loss = sum_i <run(module, *inputs)_i, w_i> matches finite differences.

    ``module`` must be float64; ``inputs`` are float64 arrays (all checked); ``run`` returns a
    tensor or a nested tuple of tensors. Every parameter entry and input entry is perturbed.
    """
    projections = {}

    def loss(tensors):
        outs = _flat_outputs(run(module, *tensors))
        total = None
        for i, out in enumerate(outs):
            if i not in projections:
                projections[i] = rng(100 + i).uniform(0.5, 1.5, size=out.shape)
            term = (out * f64(projections[i])).sum()
            total = term if total is None else total + term
        return total

    module.zero_grad()
    tensors = [graphc.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in inputs]
    loss(tensors).backward()
    analytic = {name: p.grad for name, p in module.named_parameters()}
    analytic.update({f"input {i}": t.grad for i, t in enumerate(tensors)})

    def numeric_value():
        with graphc.no_grad():
            return loss([f64(a) for a in arrays]).item()

    arrays = [np.array(a, dtype=np.float64) for a in inputs]
    targets = [(name, p) for name, p in module.named_parameters()]
    for name, p in targets:
        base = p.numpy().copy()
        expected = np.zeros_like(base)
        for index in np.ndindex(base.shape):
            values = []
            for delta in (FD_EPS, -FD_EPS):
                moved = base.copy()
                moved[index] += delta
                with graphc.no_grad():
                    p.copy_(graphc.tensor(moved))
                values.append(numeric_value())
            expected[index] = (values[0] - values[1]) / (2 * FD_EPS)
        with graphc.no_grad():
            p.copy_(graphc.tensor(base))
        assert analytic[name] is not None, f"parameter {name} got no gradient"
        np.testing.assert_allclose(analytic[name].numpy(), expected, **FD_TOL,
                                   err_msg=f"gradient of {name}")
    for i, array in enumerate(arrays):
        expected = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + FD_EPS
            up = numeric_value()
            array[index] = saved - FD_EPS
            down = numeric_value()
            array[index] = saved
            expected[index] = (up - down) / (2 * FD_EPS)
        np.testing.assert_allclose(analytic[f"input {i}"].numpy(), expected, **FD_TOL,
                                   err_msg=f"gradient of input {i}")


# =============================================================================================
# Recurrent layers
# =============================================================================================
GATES = {"tanh": 1, "relu": 1, "lstm": 4, "gru": 3}


def np_step(mode, x, h, c, w_ih, w_hh, b_ih, b_hh):
    """One step of PyTorch's documented cell equations, float64."""
    gi = x @ w_ih.T + (0 if b_ih is None else b_ih)
    gh = h @ w_hh.T + (0 if b_hh is None else b_hh)
    if mode == "tanh":
        return np.tanh(gi + gh), None
    if mode == "relu":
        return np.maximum(gi + gh, 0.0), None
    if mode == "lstm":
        i, f, g, o = np.split(gi + gh, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        return sigmoid(o) * np.tanh(c), c
    i_r, i_z, i_n = np.split(gi, 3, axis=-1)
    h_r, h_z, h_n = np.split(gh, 3, axis=-1)
    r, z = sigmoid(i_r + h_r), sigmoid(i_z + h_z)
    n = np.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h, None


def np_rnn(mode, p, x, h0=None, c0=None, num_layers=1, batch_first=False, bidirectional=False,
           hidden=None):
    """Reference multi-layer (bi)directional RNN over batched input; returns (out, h_n, c_n)."""
    if batch_first:
        x = x.transpose(1, 0, 2)
    seq, batch = x.shape[:2]
    dirs = 2 if bidirectional else 1
    if h0 is None:
        h0 = np.zeros((num_layers * dirs, batch, hidden))
    if c0 is None and mode == "lstm":
        c0 = np.zeros((num_layers * dirs, batch, hidden))
    h_n, c_n = [], []
    layer_in = x
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w_ih, w_hh = p["weight_ih" + sfx], p["weight_hh" + sfx]
            b_ih, b_hh = p.get("bias_ih" + sfx), p.get("bias_hh" + sfx)
            h = h0[layer * dirs + d]
            c = c0[layer * dirs + d] if mode == "lstm" else None
            out = np.zeros((seq, batch, hidden))
            for t in (reversed(range(seq)) if d else range(seq)):
                h, c = np_step(mode, layer_in[t], h, c, w_ih, w_hh, b_ih, b_hh)
                out[t] = h
            outs.append(out)
            h_n.append(h)
            c_n.append(c)
        layer_in = np.concatenate(outs, axis=-1)
    out = layer_in.transpose(1, 0, 2) if batch_first else layer_in
    return out, np.stack(h_n), (np.stack(c_n) if mode == "lstm" else None)


def make_rnn(mode, *args, **kwargs):
    if mode in ("tanh", "relu"):
        return nn.RNN(*args, nonlinearity=mode, **kwargs)
    return {"lstm": nn.LSTM, "gru": nn.GRU}[mode](*args, **kwargs)


def unpack(mode, result):
    out, state = result
    return (out, state[0], state[1]) if mode == "lstm" else (out, state, None)


MODES = ["tanh", "relu", "lstm", "gru"]


class TestRecurrentParameters:
    def test_state_dict_keys_and_shapes_follow_pytorch(self):
        lstm = nn.LSTM(3, 5, num_layers=2)
        assert list(lstm.state_dict()) == [
            "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
            "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"]
        shapes = {k: v.shape for k, v in lstm.state_dict().items()}
        assert shapes == {"weight_ih_l0": (20, 3), "weight_hh_l0": (20, 5), "bias_ih_l0": (20,),
                          "bias_hh_l0": (20,), "weight_ih_l1": (20, 5), "weight_hh_l1": (20, 5),
                          "bias_ih_l1": (20,), "bias_hh_l1": (20,)}

    def test_bidirectional_keys_and_shapes(self):
        gru = nn.GRU(3, 4, num_layers=2, bidirectional=True)
        assert list(gru.state_dict()) == [
            "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
            "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse",
            "bias_hh_l0_reverse",
            "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
            "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse",
            "bias_hh_l1_reverse"]
        assert gru.weight_ih_l0.shape == (12, 3)
        assert gru.weight_ih_l1_reverse.shape == (12, 8)  # layer 1 reads both directions

    @pytest.mark.parametrize("mode", MODES)
    def test_without_bias_only_weights(self, mode):
        m = make_rnn(mode, 2, 3, num_layers=2, bias=False)
        assert list(m.state_dict()) == ["weight_ih_l0", "weight_hh_l0",
                                        "weight_ih_l1", "weight_hh_l1"]
        assert m.weight_hh_l0.shape == (GATES[mode] * 3, 3)

    def test_cell_keys(self):
        for cell in (nn.RNNCell(3, 4), nn.LSTMCell(3, 4), nn.GRUCell(3, 4)):
            assert list(cell.state_dict()) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
        assert nn.LSTMCell(3, 4).weight_ih.shape == (16, 3)
        assert list(nn.GRUCell(3, 4, bias=False).state_dict()) == ["weight_ih", "weight_hh"]

    @pytest.mark.parametrize("mode", MODES)
    def test_init_is_uniform_in_bound_and_seeded(self, mode):
        graphc.manual_seed(3)
        a = make_rnn(mode, 6, 16, num_layers=2)
        graphc.manual_seed(3)
        b = make_rnn(mode, 6, 16, num_layers=2)
        bound = 1 / math.sqrt(16)
        values = []
        for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
            assert pa.dtype == graphc.float32 and pa.requires_grad
            np.testing.assert_array_equal(pa.numpy(), pb.numpy(), err_msg=name)
            values.append(pa.numpy().ravel())
        values = np.concatenate(values)
        assert values.min() >= -bound and values.max() <= bound
        # thousands of U(-k, k) draws: the extremes approach k, the mean is near 0
        assert values.min() < -0.95 * bound and values.max() > 0.95 * bound
        assert abs(values.mean()) < 0.05 * bound
        # distinct parameters are independent draws
        assert not np.array_equal(a.weight_hh_l0.numpy(), a.weight_hh_l1.numpy())

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="nonlinearity"):
            nn.RNN(2, 3, nonlinearity="sigmoid")
        with pytest.raises(ValueError, match="dropout"):
            nn.LSTM(2, 3, dropout=1.5)
        with pytest.raises(ValueError, match="proj_size"):  # (proj_size < hidden_size works)
            nn.LSTM(2, 3, proj_size=3)
        lstm = nn.LSTM(2, 3)
        with pytest.raises(ValueError, match="input_size"):
            lstm(graphc.randn(4, 1, 5))
        with pytest.raises(ValueError, match="h_0"):
            lstm(graphc.randn(4, 2, 2), (graphc.zeros(1, 3, 3), graphc.zeros(1, 2, 3)))
        with pytest.raises(ValueError, match="2-D.*3-D"):
            lstm(graphc.randn(4))

    def test_repr(self):
        assert repr(nn.LSTM(3, 5, num_layers=2, batch_first=True)) == \
            "LSTM(3, 5, num_layers=2, batch_first=True)"
        assert repr(nn.RNN(3, 5, nonlinearity="relu")) == "RNN(3, 5, nonlinearity='relu')"


RNN_CONFIGS = [
    dict(num_layers=1, batch_first=False, with_state=False),
    dict(num_layers=1, batch_first=False, with_state=True),
    dict(num_layers=2, batch_first=True, with_state=True),
    dict(num_layers=2, batch_first=False, with_state=False, bidirectional=True),
    dict(num_layers=2, batch_first=True, with_state=True, bidirectional=True),
]


class TestRecurrentForward:
    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize("config", RNN_CONFIGS, ids=lambda c: "-".join(
        f"{k}={v}" for k, v in c.items()))
    def test_matches_numpy_float64(self, mode, config):
        config = dict(config)
        with_state = config.pop("with_state")
        seq, batch, inp, hid = 5, 3, 4, 6
        graphc.manual_seed(1)
        m = make_rnn(mode, inp, hid, **config).double()
        dirs = 2 if config.get("bidirectional") else 1
        r = rng(1)
        x = r.normal(size=(batch, seq, inp) if config["batch_first"] else (seq, batch, inp))
        h0 = r.normal(size=(config["num_layers"] * dirs, batch, hid)) if with_state else None
        c0 = r.normal(size=h0.shape) if with_state and mode == "lstm" else None
        hx = None
        if with_state:
            hx = (f64(h0), f64(c0)) if mode == "lstm" else f64(h0)
        out, h_n, c_n = unpack(mode, m(f64(x), hx))
        e_out, e_h, e_c = np_rnn(mode, params_np(m), x, h0, c0, hidden=hid, **config)
        assert out.dtype == graphc.float64
        np.testing.assert_allclose(out.numpy(), e_out, **F64)
        np.testing.assert_allclose(h_n.numpy(), e_h, **F64)
        if mode == "lstm":
            np.testing.assert_allclose(c_n.numpy(), e_c, **F64)

    @pytest.mark.parametrize("mode", MODES)
    def test_float32_default(self, mode):
        graphc.manual_seed(2)
        m = make_rnn(mode, 3, 4, num_layers=2)
        x = rng(2).normal(size=(6, 2, 3)).astype(np.float32)
        out, h_n, c_n = unpack(mode, m(graphc.tensor(x)))
        e_out, e_h, e_c = np_rnn(mode, params_np(m), x.astype(np.float64), num_layers=2,
                                 hidden=4)
        assert out.dtype == graphc.float32 and h_n.dtype == graphc.float32
        np.testing.assert_allclose(out.numpy(), e_out, **F32_VS_F64)
        np.testing.assert_allclose(h_n.numpy(), e_h, **F32_VS_F64)

    @pytest.mark.parametrize("mode", MODES)
    def test_without_bias(self, mode):
        m = make_rnn(mode, 3, 4, bias=False).double()
        x = rng(3).normal(size=(4, 2, 3))
        out, h_n, _ = unpack(mode, m(f64(x)))
        e_out, e_h, _ = np_rnn(mode, params_np(m), x, hidden=4)
        np.testing.assert_allclose(out.numpy(), e_out, **F64)

    @pytest.mark.parametrize("mode", MODES)
    def test_unbatched_equals_batch_of_one(self, mode):
        m = make_rnn(mode, 3, 4, num_layers=2, bidirectional=True).double()
        r = rng(4)
        x, h0, c0 = r.normal(size=(5, 3)), r.normal(size=(4, 4)), r.normal(size=(4, 4))
        hx = (f64(h0), f64(c0)) if mode == "lstm" else f64(h0)
        out, h_n, c_n = unpack(mode, m(f64(x), hx))
        assert out.shape == (5, 8) and h_n.shape == (4, 4)
        e_out, e_h, e_c = np_rnn(mode, params_np(m), x[:, None], h0[:, None],
                                 c0[:, None] if mode == "lstm" else None, num_layers=2,
                                 bidirectional=True, hidden=4)
        np.testing.assert_allclose(out.numpy(), e_out[:, 0], **F64)
        np.testing.assert_allclose(h_n.numpy(), e_h[:, 0], **F64)
        if mode == "lstm":
            assert c_n.shape == (4, 4)
            np.testing.assert_allclose(c_n.numpy(), e_c[:, 0], **F64)

    def test_output_shapes_follow_pytorch(self):
        lstm = nn.LSTM(3, 5, num_layers=3, batch_first=True, bidirectional=True)
        out, (h, c) = lstm(graphc.randn(2, 7, 3))
        assert out.shape == (2, 7, 10) and h.shape == (6, 2, 5) and c.shape == (6, 2, 5)
        out, h = nn.GRU(3, 5)(graphc.randn(7, 2, 3))
        assert out.shape == (7, 2, 5) and h.shape == (1, 2, 5)

    def test_dropout_between_layers_only_in_training(self):
        graphc.manual_seed(5)
        m = nn.GRU(3, 4, num_layers=2, dropout=1.0).double()
        x = rng(5).normal(size=(4, 2, 3))
        m.eval()
        out_eval, h_eval = m(f64(x))
        p = params_np(m)
        e_out, e_h, _ = np_rnn("gru", p, x, num_layers=2, hidden=4)
        np.testing.assert_allclose(out_eval.numpy(), e_out, **F64)
        # training with p=1: layer 1 receives zeros; its first layer is untouched
        m.train()
        out_train, h_train = m(f64(x))
        layer1 = {k[:-1] + "0": v for k, v in p.items() if k.endswith("l1")}
        e_out1, e_h1, _ = np_rnn("gru", layer1, np.zeros((4, 2, 4)), hidden=4)
        np.testing.assert_allclose(out_train.numpy(), e_out1, **F64)
        np.testing.assert_allclose(h_train.numpy()[0], e_h[0], **F64)

    def test_dropout_is_random_but_seeded(self):
        m = nn.LSTM(3, 4, num_layers=2, dropout=0.5)
        x = graphc.randn(6, 2, 3)
        graphc.manual_seed(7)
        a = m(x)[0].numpy()
        b = m(x)[0].numpy()
        graphc.manual_seed(7)
        c = m(x)[0].numpy()
        assert not np.array_equal(a, b)
        np.testing.assert_array_equal(a, c)


class TestCells:
    @pytest.mark.parametrize("mode", MODES)
    def test_cell_matches_numpy(self, mode):
        cell = {"tanh": lambda: nn.RNNCell(3, 4),
                "relu": lambda: nn.RNNCell(3, 4, nonlinearity="relu"),
                "lstm": lambda: nn.LSTMCell(3, 4),
                "gru": lambda: nn.GRUCell(3, 4)}[mode]().double()
        p = params_np(cell)
        r = rng(6)
        x, h, c = r.normal(size=(2, 3)), r.normal(size=(2, 4)), r.normal(size=(2, 4))
        e_h, e_c = np_step(mode, x, h, c, p["weight_ih"], p["weight_hh"], p["bias_ih"],
                           p["bias_hh"])
        if mode == "lstm":
            got_h, got_c = cell(f64(x), (f64(h), f64(c)))
            np.testing.assert_allclose(got_c.numpy(), e_c, **F64)
            z_h, _ = cell(f64(x))          # omitted state means zeros
            e_zh, _ = np_step(mode, x, 0 * h, 0 * c, p["weight_ih"], p["weight_hh"],
                              p["bias_ih"], p["bias_hh"])
            u_h, u_c = cell(f64(x[0]), (f64(h[0]), f64(c[0])))   # unbatched
            np.testing.assert_allclose(u_c.numpy(), e_c[0], **F64)
        else:
            got_h = cell(f64(x), f64(h))
            z_h = cell(f64(x))
            e_zh, _ = np_step(mode, x, 0 * h, None, p["weight_ih"], p["weight_hh"],
                              p["bias_ih"], p["bias_hh"])
            u_h = cell(f64(x[0]), f64(h[0]))
        np.testing.assert_allclose(got_h.numpy(), e_h, **F64)
        np.testing.assert_allclose(z_h.numpy(), e_zh, **F64)
        np.testing.assert_allclose(u_h.numpy(), e_h[0], **F64)

    def test_cell_equals_one_layer_step(self):
        graphc.manual_seed(8)
        lstm = nn.LSTM(3, 4).double()
        cell = nn.LSTMCell(3, 4).double()
        cell.load_state_dict({k[:-3]: v for k, v in lstm.state_dict().items()})
        x = f64(rng(8).normal(size=(1, 2, 3)))
        out, (h, c) = lstm(x)
        h2, c2 = cell(x[0])
        np.testing.assert_allclose(h2.numpy(), h.numpy()[0], **F64)
        np.testing.assert_allclose(c2.numpy(), c.numpy()[0], **F64)


class TestRecurrentGradients:
    @pytest.mark.parametrize("mode", MODES)
    def test_two_layers_with_state(self, mode):
        graphc.manual_seed(9)
        m = make_rnn(mode, 2, 2, num_layers=2).double()
        r = rng(9)
        x, h0, c0 = r.normal(size=(3, 2, 2)), r.normal(size=(2, 2, 2)), r.normal(size=(2, 2, 2))
        if mode == "lstm":
            assert_module_grads(m, [x, h0, c0], lambda mod, x, h, c: mod(x, (h, c)))
        else:
            assert_module_grads(m, [x, h0], lambda mod, x, h: mod(x, h))

    def test_bidirectional_batch_first(self):
        graphc.manual_seed(10)
        m = nn.GRU(2, 2, bidirectional=True, batch_first=True).double()
        assert_module_grads(m, [rng(10).normal(size=(2, 3, 2))], lambda mod, x: mod(x))

    def test_cell(self):
        graphc.manual_seed(11)
        cell = nn.LSTMCell(2, 3).double()
        r = rng(11)
        assert_module_grads(cell, [r.normal(size=(2, 2)), r.normal(size=(2, 3)),
                                   r.normal(size=(2, 3))],
                            lambda mod, x, h, c: mod(x, (h, c)))


class TestRecurrentCompiled:
    def test_lstm_compiled_equals_eager(self):
        graphc.manual_seed(12)
        lstm = nn.LSTM(3, 4, num_layers=2, batch_first=True, dropout=0.3).eval()
        compiled = graphc.compile(lstm)
        r = rng(12)
        x = graphc.tensor(r.normal(size=(2, 5, 3)).astype(np.float32))
        h0 = graphc.tensor(r.normal(size=(2, 2, 4)).astype(np.float32))
        c0 = graphc.tensor(r.normal(size=(2, 2, 4)).astype(np.float32))
        for args in ((x,), (x, (h0, c0))):
            out, (h, c) = compiled(*args)
            e_out, (e_h, e_c) = lstm(*args)
            for got, want in ((out, e_out), (h, e_h), (c, e_c)):
                assert got.shape == want.shape
                np.testing.assert_allclose(got.numpy(), want.numpy(), **COMPILED_VS_EAGER)

    def test_gru_compiled_training_step_matches_eager_gradients(self):
        graphc.manual_seed(13)
        gru = nn.GRU(2, 3, bidirectional=True)
        x = graphc.tensor(rng(13).normal(size=(4, 2, 2)).astype(np.float32))

        def step(x):
            gru.zero_grad()
            out, h = gru(x)
            loss = (out * out).sum() + h.sum()
            loss.backward()
            return loss

        eager_loss = step(x)
        eager = {n: p.grad.numpy().copy() for n, p in gru.named_parameters()}
        compiled_loss = graphc.compile(step)(x)
        np.testing.assert_allclose(compiled_loss.numpy(), eager_loss.numpy(),
                                   **COMPILED_VS_EAGER)
        for name, p in gru.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), eager[name], **COMPILED_VS_EAGER,
                                       err_msg=name)


# =============================================================================================
# Attention
# =============================================================================================
def np_softmax(x):
    with np.errstate(invalid="ignore"):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)


def np_float_mask(mask):
    """PyTorch's canonical mask: bool True -> -inf, float unchanged."""
    mask = np.asarray(mask)
    if mask.dtype == bool:
        return np.where(mask, -np.inf, 0.0)
    return mask.astype(np.float64)


def np_mha(query, key, value, p, heads, key_padding_mask=None, attn_mask=None,
           average=True, batch_first=False):
    """PyTorch's documented multi-head attention (time-major layout, heads as (N*H) rows)."""
    if batch_first:
        query, key, value = (t.transpose(1, 0, 2) for t in (query, key, value))
    L, N, E = query.shape
    S = key.shape[0]
    hd = E // heads
    if "in_proj_weight" in p:
        w_q, w_k, w_v = np.split(p["in_proj_weight"], 3)
    else:
        w_q, w_k, w_v = p["q_proj_weight"], p["k_proj_weight"], p["v_proj_weight"]
    b_q, b_k, b_v = np.split(p["in_proj_bias"], 3) if "in_proj_bias" in p else (0, 0, 0)
    q = (query @ w_q.T + b_q).reshape(L, N * heads, hd).transpose(1, 0, 2)
    k = (key @ w_k.T + b_k).reshape(S, N * heads, hd).transpose(1, 0, 2)
    v = (value @ w_v.T + b_v).reshape(S, N * heads, hd).transpose(1, 0, 2)
    scores = (q / math.sqrt(hd)) @ k.transpose(0, 2, 1)             # (N*H, L, S)
    if attn_mask is not None:
        scores = scores + np_float_mask(attn_mask)                   # (L, S) or (N*H, L, S)
    if key_padding_mask is not None:
        kpm = np_float_mask(key_padding_mask)                        # (N, S)
        scores = scores + np.repeat(kpm, heads, axis=0)[:, None, :]
    weights = np_softmax(scores)
    out = (weights @ v).transpose(1, 0, 2).reshape(L, N, E)
    out = out @ p["out_proj.weight"].T + p.get("out_proj.bias", 0)
    if batch_first:
        out = out.transpose(1, 0, 2)
    weights = weights.reshape(N, heads, L, S)
    return out, (weights.mean(axis=1) if average else weights)


def causal_bool(L, S=None):
    S = L if S is None else S
    return np.triu(np.ones((L, S), dtype=bool), k=1)


class TestMultiheadAttentionParameters:
    def test_state_dict_keys_and_shapes_follow_pytorch(self):
        mha = nn.MultiheadAttention(8, 2)
        sd = mha.state_dict()
        assert list(sd) == ["in_proj_weight", "in_proj_bias", "out_proj.weight",
                            "out_proj.bias"]
        assert [sd[k].shape for k in sd] == [(24, 8), (24,), (8, 8), (8,)]
        assert isinstance(mha.out_proj, nn.Linear)
        assert mha.head_dim == 4 and mha.q_proj_weight is None

    def test_separate_projections_when_kdim_vdim_differ(self):
        mha = nn.MultiheadAttention(8, 2, kdim=3, vdim=5, bias=False)
        assert list(mha.state_dict()) == ["q_proj_weight", "k_proj_weight", "v_proj_weight",
                                          "out_proj.weight"]
        assert mha.k_proj_weight.shape == (8, 3) and mha.v_proj_weight.shape == (8, 5)
        assert mha.in_proj_weight is None and mha.in_proj_bias is None

    def test_init_xavier_weights_zero_biases(self):
        graphc.manual_seed(20)
        mha = nn.MultiheadAttention(16, 4)
        w = mha.in_proj_weight.numpy()
        bound = math.sqrt(6.0 / (16 + 48))
        assert w.min() >= -bound and w.max() <= bound and w.max() > 0.9 * bound
        np.testing.assert_array_equal(mha.in_proj_bias.numpy(), np.zeros(48))
        np.testing.assert_array_equal(mha.out_proj.bias.numpy(), np.zeros(16))
        assert np.abs(mha.out_proj.weight.numpy()).max() <= 1 / math.sqrt(16)
        graphc.manual_seed(20)
        np.testing.assert_array_equal(nn.MultiheadAttention(16, 4).in_proj_weight.numpy(), w)

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="divisible"):
            nn.MultiheadAttention(10, 3)
        mha = nn.MultiheadAttention(4, 2)
        with pytest.raises(ValueError, match="attn_mask"):
            x = graphc.randn(3, 2, 4)
            mha(x, x, x, attn_mask=graphc.zeros(3, 4))


class TestMultiheadAttentionForward:
    L, S, N, E, H = 4, 5, 3, 8, 2

    def setup_method(self):
        graphc.manual_seed(21)
        self.mha = nn.MultiheadAttention(self.E, self.H).double()
        self.p = params_np(self.mha)
        r = rng(21)
        self.q = r.normal(size=(self.L, self.N, self.E))
        self.k = r.normal(size=(self.S, self.N, self.E))
        self.v = r.normal(size=(self.S, self.N, self.E))

    def check(self, module=None, p=None, q=None, k=None, v=None, heads=None, **masks):
        module, p = module or self.mha, p or self.p
        q, k, v = (self.q if q is None else q), (self.k if k is None else k), \
            (self.v if v is None else v)
        average = masks.pop("average_attn_weights", True)
        tensors = {name: (graphc.tensor(m) if isinstance(m, np.ndarray) else m)
                   for name, m in masks.items()}
        out, w = module(f64(q), f64(k), f64(v), average_attn_weights=average, **tensors)
        e_out, e_w = np_mha(q, k, v, p, heads or module.num_heads, average=average,
                            batch_first=module.batch_first, **masks)
        np.testing.assert_allclose(out.numpy(), e_out, **F64)
        np.testing.assert_allclose(w.numpy(), e_w, **F64)
        return out, w

    def test_self_and_cross_attention_without_masks(self):
        out, w = self.check()
        assert out.shape == (4, 3, 8) and w.shape == (3, 4, 5)
        np.testing.assert_allclose(w.numpy().sum(-1), np.ones((3, 4)), **F64)
        self.check(k=self.q, v=self.q)

    def test_per_head_weights(self):
        out, w = self.check(average_attn_weights=False)
        assert w.shape == (3, 2, 4, 5)

    def test_bool_attn_mask(self):
        out, w = self.check(attn_mask=causal_bool(4, 5))
        assert np.all(w.numpy()[:, causal_bool(4, 5)] == 0)

    def test_float_attn_mask(self):
        self.check(attn_mask=rng(22).normal(size=(4, 5)))

    def test_3d_attn_mask_per_batch_and_head(self):
        mask = rng(23).random(size=(3 * 2, 4, 5)) < 0.3
        mask[:, :, 0] = False  # every query keeps one key
        self.check(attn_mask=mask, average_attn_weights=False)

    def test_key_padding_mask(self):
        kpm = np.zeros((3, 5), dtype=bool)
        kpm[0, 3:] = True
        kpm[2, 1] = True
        out, w = self.check(key_padding_mask=kpm)
        assert np.all(w.numpy()[0, :, 3:] == 0) and np.all(w.numpy()[2, :, 1] == 0)

    def test_float_key_padding_mask_with_attn_mask(self):
        kpm = np.where(rng(24).random(size=(3, 5)) < 0.3, -np.inf, 0.0)
        kpm[:, 0] = 0.0
        self.check(key_padding_mask=kpm, attn_mask=rng(25).normal(size=(4, 5)))

    def test_bool_masks_combined(self):
        kpm = np.zeros((3, 5), dtype=bool)
        kpm[1, 4] = True
        self.check(key_padding_mask=kpm, attn_mask=causal_bool(4, 5))

    def test_is_causal_without_mask_masks_the_future(self):
        out, w = self.mha(f64(self.q), f64(self.q), f64(self.q), is_causal=True)
        e_out, e_w = np_mha(self.q, self.q, self.q, self.p, 2, attn_mask=causal_bool(4))
        np.testing.assert_allclose(out.numpy(), e_out, **F64)
        np.testing.assert_allclose(w.numpy(), e_w, **F64)

    def test_need_weights_false(self):
        out, w = self.mha(f64(self.q), f64(self.k), f64(self.v), need_weights=False)
        assert w is None
        np.testing.assert_allclose(out.numpy(), np_mha(self.q, self.k, self.v, self.p, 2)[0],
                                   **F64)

    def test_batch_first(self):
        graphc.manual_seed(26)
        mha = nn.MultiheadAttention(8, 4, batch_first=True).double()
        r = rng(26)
        q, k = r.normal(size=(3, 4, 8)), r.normal(size=(3, 5, 8))
        kpm = np.zeros((3, 5), dtype=bool)
        kpm[1, :2] = True
        out, w = self.check(mha, params_np(mha), q, k, k, key_padding_mask=kpm)
        assert out.shape == (3, 4, 8)

    def test_unbatched(self):
        q, k, v = self.q[:, 1], self.k[:, 1], self.v[:, 1]
        kpm = np.array([False, True, False, False, True])
        out, w = self.mha(f64(q), f64(k), f64(v), key_padding_mask=graphc.tensor(kpm),
                          attn_mask=graphc.tensor(causal_bool(4, 5)))
        e_out, e_w = np_mha(q[:, None], k[:, None], v[:, None], self.p, 2,
                            key_padding_mask=kpm[None], attn_mask=causal_bool(4, 5))
        assert out.shape == (4, 8) and w.shape == (4, 5)
        np.testing.assert_allclose(out.numpy(), e_out[:, 0], **F64)
        np.testing.assert_allclose(w.numpy(), e_w[0], **F64)

    def test_kdim_vdim_and_no_bias(self):
        graphc.manual_seed(27)
        mha = nn.MultiheadAttention(8, 2, kdim=3, vdim=6, bias=False).double()
        r = rng(27)
        self.check(mha, params_np(mha), k=r.normal(size=(5, 3, 3)), v=r.normal(size=(5, 3, 6)),
                   attn_mask=causal_bool(4, 5))

    def test_float32_default(self):
        graphc.manual_seed(28)
        mha = nn.MultiheadAttention(8, 2)
        q = self.q.astype(np.float32)
        out, w = mha(graphc.tensor(q), graphc.tensor(q), graphc.tensor(q),
                     attn_mask=graphc.tensor(causal_bool(4)))
        e_out, e_w = np_mha(q.astype(np.float64), q, q, params_np(mha), 2,
                            attn_mask=causal_bool(4))
        assert out.dtype == graphc.float32
        np.testing.assert_allclose(out.numpy(), e_out, **F32_VS_F64)
        np.testing.assert_allclose(w.numpy(), e_w, **F32_VS_F64)

    @pytest.mark.filterwarnings("ignore:invalid value encountered")
    def test_fully_masked_row_is_nan_like_pytorch(self):
        kpm = np.zeros((3, 5), dtype=bool)
        kpm[0] = True
        out, w = self.mha(f64(self.q), f64(self.k), f64(self.v),
                          key_padding_mask=graphc.tensor(kpm))
        assert np.isnan(out.numpy()[:, 0]).all() and np.isfinite(out.numpy()[:, 1:]).all()

    def test_attention_dropout_only_in_training(self):
        graphc.manual_seed(29)
        mha = nn.MultiheadAttention(8, 2, dropout=0.5).double()
        q = f64(self.q)
        mha.eval()
        out, w = mha(q, q, q)
        e_out, e_w = np_mha(self.q, self.q, self.q, params_np(mha), 2)
        np.testing.assert_allclose(out.numpy(), e_out, **F64)
        mha.train()
        _, w_train = mha(q, q, q, average_attn_weights=False)
        kept = w_train.numpy() != 0
        assert 0.2 < kept.mean() < 0.8
        # kept weights are the eval weights scaled by 1 / (1 - p)
        _, w_eval = np_mha(self.q, self.q, self.q, params_np(mha), 2, average=False)
        np.testing.assert_allclose(w_train.numpy()[kept], 2 * w_eval[kept], **F64)


class TestScaledDotProductAttention:
    def test_matches_numpy_with_masks(self):
        from graphc.nn.transformer import scaled_dot_product_attention as sdpa
        r = rng(30)
        q, k, v = r.normal(size=(2, 3, 4, 6)), r.normal(size=(2, 3, 5, 6)), \
            r.normal(size=(2, 3, 5, 7))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(6)
        np.testing.assert_allclose(sdpa(f64(q), f64(k), f64(v)).numpy(),
                                   np_softmax(scores) @ v, **F64)
        allowed = ~causal_bool(4, 5)  # functional convention: True = may attend
        np.testing.assert_allclose(
            sdpa(f64(q), f64(k), f64(v), attn_mask=graphc.tensor(allowed)).numpy(),
            np_softmax(np.where(allowed, scores, -np.inf)) @ v, **F64)
        np.testing.assert_allclose(
            sdpa(f64(q), f64(k), f64(v), is_causal=True).numpy(),
            np_softmax(np.where(allowed, scores, -np.inf)) @ v, **F64)
        bias = r.normal(size=(4, 5))
        np.testing.assert_allclose(
            sdpa(f64(q), f64(k), f64(v), attn_mask=f64(bias), scale=0.5).numpy(),
            np_softmax(q @ k.transpose(0, 1, 3, 2) * 0.5 + bias) @ v, **F64)


class TestMultiheadAttentionGradients:
    def test_all_parameters_and_inputs_with_masks(self):
        graphc.manual_seed(31)
        mha = nn.MultiheadAttention(4, 2).double()
        r = rng(31)
        kpm = graphc.tensor(np.array([[False, False, True], [False, False, False]]))
        mask = graphc.tensor(r.normal(size=(2, 3)))
        assert_module_grads(
            mha, [r.normal(size=(2, 2, 4)), r.normal(size=(3, 2, 4)), r.normal(size=(3, 2, 4))],
            lambda m, q, k, v: m(q, k, v, key_padding_mask=kpm, attn_mask=mask))

    def test_separate_projections_batch_first(self):
        graphc.manual_seed(32)
        mha = nn.MultiheadAttention(4, 2, kdim=3, vdim=2, batch_first=True).double()
        r = rng(32)
        assert_module_grads(
            mha, [r.normal(size=(2, 2, 4)), r.normal(size=(2, 3, 3)), r.normal(size=(2, 3, 2))],
            lambda m, q, k, v: m(q, k, v, average_attn_weights=False))


# =============================================================================================
# TransformerEncoderLayer
# =============================================================================================
def np_layer_norm(x, w, b, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def np_gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def np_encoder_layer(x, p, heads, norm_first, activation, src_mask=None, kpm=None,
                     batch_first=False, eps=1e-5):
    """PyTorch's documented TransformerEncoderLayer in eval mode (dropout is the identity)."""
    sa_p = {k[len("self_attn."):]: v for k, v in p.items() if k.startswith("self_attn.")}
    act = {"relu": lambda t: np.maximum(t, 0), "gelu": np_gelu}[activation]

    def sa(t):
        return np_mha(t, t, t, sa_p, heads, key_padding_mask=kpm, attn_mask=src_mask,
                      batch_first=batch_first)[0]

    def ff(t):
        return act(t @ p["linear1.weight"].T + p["linear1.bias"]) @ p["linear2.weight"].T \
            + p["linear2.bias"]

    def norm(i, t):
        return np_layer_norm(t, p[f"norm{i}.weight"], p[f"norm{i}.bias"], eps)

    if norm_first:
        x = x + sa(norm(1, x))
        return x + ff(norm(2, x))
    x = norm(1, x + sa(x))
    return norm(2, x + ff(x))


ENCODER_KEYS = [
    "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
    "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
    "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"]


def randomize_norms(layer, seed):
    """LayerNorm starts at (1, 0); random affine parameters make the oracle test meaningful."""
    r = rng(seed)
    with graphc.no_grad():
        for name in ("norm1", "norm2"):
            norm = getattr(layer, name)
            norm.weight.copy_(graphc.tensor(r.uniform(0.5, 1.5, size=norm.weight.shape)))
            norm.bias.copy_(graphc.tensor(r.normal(size=norm.bias.shape)))


class TestTransformerEncoderLayer:
    def test_submodules_and_state_dict_follow_pytorch(self):
        layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
        assert [n for n, _ in layer.named_children()] == [
            "self_attn", "linear1", "dropout", "linear2", "norm1", "norm2", "dropout1",
            "dropout2"]
        assert list(layer.state_dict()) == ENCODER_KEYS
        shapes = [v.shape for v in layer.state_dict().values()]
        assert shapes == [(24, 8), (24,), (8, 8), (8,), (16, 8), (16,), (8, 16), (8,), (8,),
                          (8,), (8,), (8,)]
        assert isinstance(layer.self_attn, nn.MultiheadAttention)
        assert layer.self_attn.dropout == 0.1 and layer.dropout.p == 0.1

    @pytest.mark.parametrize("norm_first", [False, True])
    @pytest.mark.parametrize("activation", ["relu", "gelu"])
    def test_eval_matches_numpy(self, norm_first, activation):
        graphc.manual_seed(40)
        layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, activation=activation,
                                           norm_first=norm_first).double().eval()
        randomize_norms(layer, 40)
        x = rng(40).normal(size=(5, 3, 8))
        out = layer(f64(x))
        np.testing.assert_allclose(out.numpy(), np_encoder_layer(
            x, params_np(layer), 2, norm_first, activation), **F64)

    @pytest.mark.parametrize("norm_first", [False, True])
    def test_masks_and_batch_first(self, norm_first):
        graphc.manual_seed(41)
        layer = nn.TransformerEncoderLayer(8, 4, dim_feedforward=12, batch_first=True,
                                           norm_first=norm_first, layer_norm_eps=1e-3)
        layer = layer.double().eval()
        randomize_norms(layer, 41)
        x = rng(41).normal(size=(3, 5, 8))
        kpm = np.zeros((3, 5), dtype=bool)
        kpm[0, 4] = kpm[2, 2] = True
        out = layer(f64(x), src_mask=graphc.tensor(causal_bool(5)),
                    src_key_padding_mask=graphc.tensor(kpm))
        np.testing.assert_allclose(out.numpy(), np_encoder_layer(
            x, params_np(layer), 4, norm_first, "relu", src_mask=causal_bool(5), kpm=kpm,
            batch_first=True, eps=1e-3), **F64)
        causal = layer(f64(x), is_causal=True, src_key_padding_mask=graphc.tensor(kpm))
        np.testing.assert_allclose(causal.numpy(), out.numpy(), **F64)

    def test_unbatched_and_callable_activation(self):
        graphc.manual_seed(42)
        layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, activation=graphc.gelu)
        layer = layer.double().eval()
        x = rng(42).normal(size=(3, 4))
        out = layer(f64(x))
        assert out.shape == (3, 4)
        np.testing.assert_allclose(out.numpy(), np_encoder_layer(
            x[:, None], params_np(layer), 2, False, "gelu")[:, 0], **F64)

    def test_float32_default(self):
        graphc.manual_seed(43)
        layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16).eval()
        x = rng(43).normal(size=(4, 2, 8)).astype(np.float32)
        out = layer(graphc.tensor(x))
        assert out.dtype == graphc.float32
        np.testing.assert_allclose(out.numpy(), np_encoder_layer(
            x.astype(np.float64), params_np(layer), 2, False, "relu"), rtol=1e-5, atol=1e-5)

    def test_bad_activation(self):
        with pytest.raises(RuntimeError, match="relu/gelu"):  # PyTorch's type
            nn.TransformerEncoderLayer(4, 2, activation="tanh")

    def test_dropout_only_in_training(self):
        graphc.manual_seed(44)
        layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.5)
        x = graphc.randn(4, 2, 8)
        layer.eval()
        a, b = layer(x).numpy(), layer(x).numpy()
        np.testing.assert_array_equal(a, b)
        layer.train()
        assert not np.allclose(layer(x).numpy(), a)
        no_dropout = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0)
        no_dropout.load_state_dict(layer.state_dict())
        np.testing.assert_allclose(no_dropout.train()(x).numpy(), a, rtol=1e-6, atol=1e-6)

    @pytest.mark.parametrize("norm_first", [False, True])
    def test_gradients(self, norm_first):
        graphc.manual_seed(45)
        layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=3, norm_first=norm_first,
                                           activation="gelu").double().eval()
        randomize_norms(layer, 45)
        kpm = graphc.tensor(np.array([[False, False, True], [False, False, False]]))
        assert_module_grads(layer, [rng(45).normal(size=(3, 2, 4))],
                            lambda m, x: m(x, src_key_padding_mask=kpm))


class TestAttentionCompiled:
    def test_encoder_layer_compiled_equals_eager(self):
        graphc.manual_seed(50)
        layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True).eval()
        compiled = graphc.compile(layer)
        x = graphc.tensor(rng(50).normal(size=(2, 5, 8)).astype(np.float32))
        kpm = np.zeros((2, 5), dtype=bool)
        kpm[1, 3:] = True
        for kwargs in ({}, dict(src_mask=graphc.tensor(causal_bool(5)),
                                src_key_padding_mask=graphc.tensor(kpm)),
                       dict(is_causal=True)):
            got, want = compiled(x, **kwargs), layer(x, **kwargs)
            np.testing.assert_allclose(got.numpy(), want.numpy(), **COMPILED_VS_EAGER)

    def test_mha_weights_compiled_equals_eager(self):
        graphc.manual_seed(51)
        mha = nn.MultiheadAttention(8, 2).eval()
        compiled = graphc.compile(mha)
        r = rng(51)
        q = graphc.tensor(r.normal(size=(4, 2, 8)).astype(np.float32))
        mask = graphc.tensor(r.normal(size=(4, 4)).astype(np.float32))
        (out, w), (e_out, e_w) = compiled(q, q, q, attn_mask=mask), mha(q, q, q, attn_mask=mask)
        np.testing.assert_allclose(out.numpy(), e_out.numpy(), **COMPILED_VS_EAGER)
        np.testing.assert_allclose(w.numpy(), e_w.numpy(), **COMPILED_VS_EAGER)

    def test_self_attention_through_one_stacked_projection_equals_three(self):
        # q is k is v: one GEMM through in_proj_weight (as PyTorch); three distinct tensors with
        # the same values take the three-projection path: outputs and all gradients agree
        graphc.manual_seed(53)
        mha = nn.MultiheadAttention(8, 2, batch_first=True).double()
        x = rng(53).normal(size=(2, 5, 8))

        def loss_and_grads(run, same_object):
            mha.zero_grad()
            q, k, v = (graphc.tensor(x, requires_grad=True) for _ in range(3))
            if same_object:
                k = v = q
            out = run(q, k, v)[0]
            (out * out).sum().backward()
            inputs = {id(t): t for t in (q, k, v)}.values()  # q once when k and v are q
            x_grad = sum(t.grad.numpy() for t in inputs)  # d(loss)/dx: x feeds q, k and v
            return [out.numpy(), x_grad] + [p.grad.numpy() for p in mha.parameters()]

        for run in (mha, graphc.compile(mha)):
            three = loss_and_grads(run, same_object=False)
            one = loss_and_grads(run, same_object=True)
            assert len(one) == len(three) == 2 + len(list(mha.parameters()))
            for got, want in zip(one, three):
                np.testing.assert_allclose(got, want, **F64)

    def test_training_mode_dropout_traces(self):
        graphc.manual_seed(52)
        layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.5)
        compiled = graphc.compile(layer)
        x = graphc.randn(3, 2, 8)
        a, b = compiled(x).numpy(), compiled(x).numpy()
        assert a.shape == (3, 2, 8) and not np.array_equal(a, b)  # a fresh mask per call
        layer.eval()
        np.testing.assert_allclose(compiled(x).numpy(), layer(x).numpy(), **COMPILED_VS_EAGER)


class TestTransformerEncoder:
    def test_stack_of_independent_copies(self):
        graphc.manual_seed(60)
        layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=6)
        encoder = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(4))
        keys = list(encoder.state_dict())
        assert keys == ([f"layers.0.{k}" for k in ENCODER_KEYS] +
                        [f"layers.1.{k}" for k in ENCODER_KEYS] + ["norm.weight", "norm.bias"])
        assert encoder.layers[0].linear1.weight is not encoder.layers[1].linear1.weight
        np.testing.assert_array_equal(encoder.layers[1].linear1.weight.numpy(),
                                      layer.linear1.weight.numpy())

    def test_matches_numpy(self):
        graphc.manual_seed(61)
        layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, norm_first=True)
        encoder = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(4))
        encoder = encoder.double().eval()
        for i, sub in enumerate(encoder.layers):
            randomize_norms(sub, 61 + i)
            with graphc.no_grad():   # make the two copies differ
                sub.linear1.weight.copy_(f64(rng(70 + i).normal(size=(6, 4))))
        p = params_np(encoder)
        x = rng(61).normal(size=(3, 2, 4))
        kpm = np.array([[False, False, True], [False, False, False]])
        out = encoder(f64(x), mask=graphc.tensor(causal_bool(3)),
                      src_key_padding_mask=graphc.tensor(kpm))
        expected = x
        for i in range(2):
            sub = {k[len(f"layers.{i}."):]: v for k, v in p.items()
                   if k.startswith(f"layers.{i}.")}
            expected = np_encoder_layer(expected, sub, 2, True, "relu",
                                        src_mask=causal_bool(3), kpm=kpm)
        expected = np_layer_norm(expected, p["norm.weight"], p["norm.bias"])
        np.testing.assert_allclose(out.numpy(), expected, **F64)
