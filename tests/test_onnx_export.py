"""ONNX export (``graphc.onnx.export``, ``graphc export``): models checked by ``onnx.checker``
and run by onnxruntime against graphc, every registry op's lowering against its float64 oracle,
dynamic dimensions, names, and the errors."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx  # the test extra installs onnx and onnxruntime
import onnxruntime as ort
import pytest

import graphc
import graphc.nn as nn
import graphc.onnx
import ir
import passes
from conftest import TOLERANCES, assert_close
from graphc.cli import main
from graphc.onnx.errors import UnsupportedOperatorError
from graphc.onnx.exporter import build_model
from graphc.onnx.lowering import NOT_EXPRESSIBLE, has_lowering
from ir.evaluate import evaluate, quiet_float_errors
from ir.types import TensorType

ROOT = Path(__file__).resolve().parents[1]


def session(proto):
    """An onnxruntime session of ``proto``, after the full ONNX checker has passed it."""
    onnx.checker.check_model(proto, full_check=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def eager(model, *args):
    with graphc.no_grad():
        return model(*args).numpy()


# -- models ------------------------------------------------------------------------------------
class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 5, batch_first=True)
        self.head = nn.Linear(5, 2)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.LogSoftmax(dim=-1))


def cnn():
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


def encoder_layer():
    return nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)


MODELS = {"mlp": (mlp, (2, 4)), "cnn": (cnn, (2, 1, 8, 8)),
          "lstm": (LSTMClassifier, (2, 4, 3)), "transformer_encoder": (encoder_layer, (2, 5, 8))}


def _trained_batchnorm(model):
    """Running statistics that are not the initial 0 and 1, so eval mode really uses them."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(graphc.tensor([0.5, -0.25]))
            module.running_var.copy_(graphc.tensor([2.0, 0.5]))
    return model


@pytest.mark.parametrize("name", list(MODELS))
def test_exported_model_passes_checker_and_onnxruntime_reproduces_graphc_at_other_batch_sizes(
        name, tmp_path):
    graphc.manual_seed(0)
    make, shape = MODELS[name]
    model = _trained_batchnorm(make())
    path = tmp_path / f"{name}.onnx"
    graphc.onnx.export(model, (graphc.randn(*shape),), str(path), input_names=["x"],
                       output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["x"]
    assert [o.name for o in proto.graph.output] == ["y"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    run = session(proto)
    model.eval()
    for batch in (shape[0], 3, 1):
        x = graphc.randn(batch, *shape[1:])
        (got,) = run.run(None, {"x": x.numpy()})
        assert_close(got, eager(model, x))


@pytest.mark.parametrize("opset", [18, 21])
def test_newer_opsets_export_models_onnxruntime_runs(opset):
    """Opset 18 moved the reductions' axes from attributes to inputs; 21 is a later IR."""
    graphc.manual_seed(7)
    model = mlp()
    proto = graphc.onnx.export(model, graphc.randn(2, 4), opset_version=opset)
    assert proto.opset_import[0].version == opset
    x = graphc.randn(2, 4)
    assert_close(session(proto).run(None, {"input": x.numpy()})[0], eager(model, x))


def test_parameters_and_buffers_become_initializers_named_as_in_the_state_dict():
    model = cnn()
    proto = graphc.onnx.export(model, graphc.randn(1, 1, 8, 8))
    names = {t.name for t in proto.graph.initializer}
    assert names == set(model.state_dict()) - {"1.num_batches_tracked"}
    weight = next(t for t in proto.graph.initializer if t.name == "0.weight")
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(weight),
                                  model.state_dict()["0.weight"].numpy())


def test_export_of_a_training_model_uses_eval_mode_and_restores_training():
    graphc.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.BatchNorm1d(4))
    model.train()
    model[0].eval()
    proto = graphc.onnx.export(model, graphc.randn(3, 4))
    assert [m.training for m in model.modules()] == [True, False, True, True]
    model.eval()
    x = graphc.randn(3, 4)
    assert_close(session(proto).run(None, {"input": x.numpy()})[0], eager(model, x))


def test_compiled_float16_model_exports_the_model_it_compiles():
    graphc.manual_seed(6)
    model = nn.Sequential(nn.Linear(4, 3), nn.GELU()).to(graphc.float16)
    x = graphc.randn(2, 4).to(graphc.float16)
    proto = graphc.onnx.export(graphc.compile(model), x)
    assert {t.name for t in proto.graph.initializer} == {"0.weight", "0.bias"}
    (got,) = session(proto).run(None, {"input": x.numpy()})
    assert got.dtype == np.float16
    assert_close(got, eager(model, x))


def test_function_with_several_inputs_and_outputs_keeps_names_and_order(tmp_path):
    def f(a, b):
        return a @ b, (a.sum(dim=1) * 2.0).exp(), a  # an input returned as it is, too
    a, b = np.arange(6.0, dtype=np.float32).reshape(2, 3) / 6, np.ones((3, 4), np.float32)
    with open(tmp_path / "f.onnx", "wb") as out:  # a file object, as torch accepts
        graphc.onnx.export(f, (graphc.tensor(a), graphc.tensor(b)), out)
    proto = onnx.load(str(tmp_path / "f.onnx"))
    assert [i.name for i in proto.graph.input] == ["a", "b"]
    assert [o.name for o in proto.graph.output] == ["output0", "output1", "output2"]
    product, total, same = session(proto).run(None, {"a": a, "b": b})
    np.testing.assert_array_equal(same, a)
    assert_close(product, a.astype(np.float64) @ b)
    assert_close(total, np.exp(a.astype(np.float64).sum(1) * 2))


def test_batch_size_read_in_python_becomes_shape_arithmetic_under_dynamic_axes():
    def f(x):  # x.shape[0] is a Python int in the trace: 2 * batch rows, then batch + 1
        rows = x.reshape(x.shape[0] * 2, -1)
        return graphc.cat([rows.sum(dim=1), graphc.zeros(x.shape[0] + 1)])
    proto = graphc.onnx.export(f, graphc.ones(2, 4), dynamic_axes={"x": [0]})
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "3*x_dynamic_axes_1+1"
    run = session(proto)
    x = np.arange(20, dtype=np.float32).reshape(5, 4)
    (got,) = run.run(None, {"x": x})
    want = np.concatenate([x.astype(np.float64).reshape(10, 2).sum(1), np.zeros(6)])
    assert_close(got, want)


class MeanEmbedding(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.fc = nn.Linear(4, 2)

    def forward(self, ids, bias=None):
        return self.fc(self.emb(ids).mean(dim=1)) + bias


def test_mean_over_a_dynamic_axis_divides_by_its_size_at_run_time():
    """The count a mean divides by is a constant in the trace; under dynamic_axes it is
    computed from the input's shape (and keyword arguments come as a trailing dict)."""
    graphc.manual_seed(3)
    model = MeanEmbedding()
    ids, bias = graphc.tensor([[1, 2, 3], [4, 5, 9]]), graphc.tensor([0.5, -0.5])
    proto = graphc.onnx.export(model, (ids, {"bias": bias}),
                               dynamic_axes={"ids": {0: "batch", 1: "seq"}})
    assert [i.name for i in proto.graph.input] == ["ids", "bias"]
    longer = np.array([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [1, 1, 1, 1, 1]])
    (got,) = session(proto).run(None, {"ids": longer, "bias": bias.numpy()})
    table = model.emb.weight.numpy().astype(np.float64)
    weight, b = model.fc.weight.numpy().astype(np.float64), model.fc.bias.numpy()
    assert_close(got, table[longer].mean(axis=1) @ weight.T + b + bias.numpy())


def test_example_batch_of_one_exports_a_graph_for_every_batch_size():
    graphc.manual_seed(4)
    model = _trained_batchnorm(cnn())
    proto = graphc.onnx.export(model, graphc.randn(1, 1, 8, 8), input_names=["x"],
                               dynamic_axes={"x": {0: "batch"}})
    x = graphc.randn(3, 1, 8, 8)
    assert_close(session(proto).run(None, {"x": x.numpy()})[0], eager(model.eval(), x))


def test_pooling_indices_follow_dynamic_height_and_width():
    """MaxPool's indices count within each plane of the run-time size, not the example's."""
    graphc.manual_seed(5)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(2))
    proto = graphc.onnx.export(model, graphc.randn(2, 1, 8, 8), input_names=["x"],
                               dynamic_axes={"x": {0: "b", 2: "h", 3: "w"}})
    x = graphc.randn(3, 1, 10, 6)
    assert_close(session(proto).run(None, {"x": x.numpy()})[0], eager(model, x))


def test_export_params_false_makes_parameters_graph_inputs():
    model = nn.Linear(3, 2)
    proto = graphc.onnx.export(model, graphc.ones(1, 3), export_params=False)
    assert [i.name for i in proto.graph.input] == ["input", "weight", "bias"]
    assert not proto.graph.initializer
    x, w, b = np.ones((1, 3), np.float32), np.full((2, 3), 2, np.float32), np.ones(2, np.float32)
    (got,) = session(proto).run(None, {"input": x, "weight": w, "bias": b})
    assert_close(got, [[7.0, 7.0]])


def test_graph_that_changes_with_the_dynamic_size_is_refused_with_a_clear_error():
    def f(x):
        return x * 2.0 if x.shape[0] < 3 else x.exp()
    with pytest.raises(graphc.onnx.OnnxExportError, match="changes with the size of the "
                       "dynamic dimension"):
        graphc.onnx.export(f, graphc.ones(2, 3), dynamic_axes={"x": {0: "batch"}})


def test_reshape_to_a_product_of_two_dynamic_sizes_leaves_it_to_onnx_as_minus_one():
    def f(x):
        return x.reshape(x.shape[0] * x.shape[1]) * 2.0
    proto = graphc.onnx.export(f, graphc.ones(2, 3), dynamic_axes={"x": {0: "b", 1: "t"}})
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    (got,) = session(proto).run(None, {"x": x})
    assert_close(got, x.astype(np.float64).ravel() * 2)


def test_size_that_is_no_sum_of_dynamic_sizes_is_refused_naming_the_ir_line():
    def f(x):
        return graphc.zeros(x.shape[0] * x.shape[1]) + x.sum()
    with pytest.raises(graphc.onnx.OnnxExportError) as caught:
        graphc.onnx.export(f, graphc.ones(2, 3), dynamic_axes={"x": {0: "b", 1: "t"}})
    assert "attribute 'shape'" in str(caught.value) and "= const" in str(caught.value)
    assert "a product of two dynamic sizes" in str(caught.value)


def test_transformer_encoder_exports_with_dynamic_batch_and_sequence_length():
    graphc.manual_seed(2)
    model = encoder_layer()
    proto = graphc.onnx.export(model, graphc.randn(2, 5, 8), input_names=["x"],
                               dynamic_axes={"x": {0: "batch", 1: "seq"}})
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", "seq", 8]
    model.eval()
    x = graphc.randn(3, 7, 8)
    assert_close(session(proto).run(None, {"x": x.numpy()})[0], eager(model, x))


def test_lstm_with_a_dynamic_sequence_length_is_refused_as_its_unrolled_graph_changes():
    with pytest.raises(graphc.onnx.OnnxExportError, match="a Python loop over it"):
        graphc.onnx.export(nn.LSTM(3, 4, batch_first=True), graphc.ones(2, 3, 3),
                           dynamic_axes={"input": {1: "seq"}})


def test_op_without_lowering_raises_unsupported_operator_error_naming_op_and_ir_line():
    def f(x):
        return x.cumprod(dim=0)
    with pytest.raises(UnsupportedOperatorError) as caught:
        graphc.onnx.export(f, graphc.ones(3))
    message = str(caught.value)
    assert "'cumprod'" in message and "cumprod %x {axis=0}" in message
    assert isinstance(caught.value, RuntimeError)


def test_bad_arguments_are_clear_errors():
    model = nn.Linear(2, 2)
    x = graphc.ones(1, 2)
    with pytest.raises(graphc.onnx.OnnxExportError, match="opset_version must be"):
        graphc.onnx.export(model, x, opset_version=7)
    with pytest.raises(graphc.onnx.OnnxExportError, match="neither an input"):
        graphc.onnx.export(model, x, dynamic_axes={"nope": [0]})
    with pytest.raises(graphc.onnx.OnnxExportError, match="2 input_names for 1 input"):
        graphc.onnx.export(model, x, input_names=["a", "b"])


def test_random_numbers_export_as_onnx_random_operators_without_graphc_seed_input():
    proto = graphc.onnx.export(lambda x: x + graphc.rand(1000), graphc.zeros(1000))
    assert [i.name for i in proto.graph.input] == ["x"]
    assert "RandomUniform" in {n.op_type for n in proto.graph.node}
    (got,) = session(proto).run(None, {"x": np.full(1000, 2.0, np.float32)})
    assert got.shape == (1000,) and 2.0 <= got.min() and got.max() < 3.0 and got.std() > 0.2


def test_program_returning_a_python_value_is_refused():
    with pytest.raises(graphc.onnx.OnnxExportError, match="returns the Python value 3"):
        graphc.onnx.export(lambda x: (x + 1, 3), graphc.ones(2))


def test_program_writing_state_is_refused():
    counter = graphc.zeros(1)

    def f(x):
        counter.add_(1.0)
        return x + counter
    with pytest.raises(graphc.onnx.OnnxExportError, match="writes state"):
        graphc.onnx.export(f, graphc.ones(2))


# -- every registry op -------------------------------------------------------------------------
def _registry_samples():
    from test_registry import ORACLES, SAMPLES, _as64
    return SAMPLES, ORACLES, _as64


def _one_node_model(name, case, opset=18):
    opdef = ir.get_op(name)
    graph = ir.Graph(f"op_{name}")
    values = [graph.add_input(f"x{i}", TensorType(ir.dtypes.from_numpy(a.dtype), a.shape))
              for i, a in enumerate(case.inputs)]
    node = graph.add_node(name, values, dict(case.attrs))
    graph.set_outputs(node.outputs)
    return build_model(graph, len(node.outputs), [f"x{i}" for i in range(len(values))],
                       [f"y{i}" for i in range(len(node.outputs))], {}, opset), opdef


@pytest.mark.parametrize("name", [op.name for op in ir.all_ops()])
def test_every_registry_op_lowers_to_onnx_and_matches_its_oracle_or_is_refused(name):
    samples, oracles, _as64 = _registry_samples()
    assert has_lowering(name) != (name in NOT_EXPRESSIBLE), name
    for case in samples[name]:
        if name in NOT_EXPRESSIBLE:
            with pytest.raises(UnsupportedOperatorError, match=f"'{name}'"):
                _one_node_model(name, case)
            continue
        if name == "pad" and any(p[2] for p in case.attrs["pads"]):
            with pytest.raises(UnsupportedOperatorError, match="interior padding"):
                _one_node_model(name, case)
            continue
        opdef = ir.get_op(name)
        types = [TensorType(ir.dtypes.from_numpy(a.dtype), a.shape) for a in case.inputs]
        out_type = opdef.infer(types, opdef.check_attrs(case.attrs))
        # reductions take their axes as attributes before opset 18 and as inputs from it
        for opset in (18, 17) if opdef.kind == "reduce" else (18,):
            proto, _ = _one_node_model(name, case, opset)
            if ir.dtypes.bf16 in (out_type.dtype, *(t.dtype for t in types)):
                onnx.checker.check_model(proto, full_check=True)
                continue  # onnxruntime's Python API takes and gives no bfloat16 arrays
            got = session(proto).run(None, {f"x{i}": np.asarray(a)
                                            for i, a in enumerate(case.inputs)})
            assert got[0].shape == out_type.shape and got[0].dtype == out_type.dtype.numpy
            if name in ("random_uniform", "random_normal"):
                continue  # other numbers of the same law: shape and dtype are what can agree
            expected = np.asarray(oracles[name](*[_as64(a) for a in case.inputs],
                                                **case.attrs))
            if out_type.dtype.is_float:
                tolerance = (out_type.dtype.name if out_type.dtype.is_low_precision_float
                             else "f32")
                assert_close(got[0].astype(np.float64), expected.astype(np.float64),
                             dtype=tolerance)
            else:
                np.testing.assert_array_equal(got[0], expected)


def test_integer_bitwise_ops_and_scatter_extrema_need_opset_18_and_say_so():
    def bits(a, b):
        return a & b

    def scatter_max(x, index, src):
        return x.scatter_reduce(0, index, src, reduce="amax")
    a, b = graphc.tensor([6, 3]), graphc.tensor([1, 2])
    with pytest.raises(graphc.onnx.OnnxExportError, match="opset_version=18"):
        graphc.onnx.export(bits, (a, b))
    (got,) = session(graphc.onnx.export(bits, (a, b), opset_version=18)).run(
        None, {"a": np.array([6, 3]), "b": np.array([5, -1])})
    np.testing.assert_array_equal(got, [4, 3])
    x = graphc.zeros(3)
    with pytest.raises(UnsupportedOperatorError, match="opset_version=18"):
        graphc.onnx.export(scatter_max, (x, graphc.tensor([0, 0]), graphc.ones(2)))


SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 2.5, 0.3, -0.7, 3.0, 100.0, 1e-7, -1e-7,
                    1e30, -1e30, np.inf, -np.inf, np.nan], dtype=np.float32)
ELEMENTWISE_1_2 = [op for op in ir.all_ops() if op.kind == "elementwise" and op.arity in (1, 2)
                   and op.name != "cast"]


def _integer_samples(dtype):
    if dtype == np.bool_:
        return np.array([True, False])
    info = np.iinfo(dtype)
    values = [0, 1, 3, 7, 100, info.max] + ([-1, -3, -7, info.min] if info.min < 0 else [128])
    return np.array(values, dtype=dtype)


def _elementwise_mismatches(values, dtype):
    """(op, operands, onnxruntime, graphc) where the lowering of an elementwise op on every
    pair of ``values`` differs from graphc's reference (ints exactly; floats within float32
    tolerance, NaN where graphc gives NaN, infinities equal)."""
    wrong = []
    for opdef in ELEMENTWISE_1_2:
        inputs = ([values] if opdef.arity == 1 else
                  [grid.ravel() for grid in np.meshgrid(values, values)])
        if opdef.checked_on_integers and dtype.is_int and opdef.arity == 2:
            inputs = [x[inputs[1] != 0] for x in inputs]  # graphc raises on a zero divisor
            if opdef.name == "pow":
                inputs = [x[inputs[1] > 0] for x in inputs]  # and on a negative exponent
        types = [TensorType(dtype, x.shape) for x in inputs]
        attrs = opdef.check_attrs({})
        try:
            out_type = opdef.infer(types, attrs)
        except ir.IRError:
            continue  # the op does not take this dtype (bitwise ops on floats, ...)
        graph = ir.Graph(opdef.name)
        values_in = [graph.add_input(f"x{i}", t) for i, t in enumerate(types)]
        graph.set_outputs([graph.add_node(opdef.name, values_in, {}).output])
        proto = build_model(graph, 1, [f"x{i}" for i in range(len(inputs))], ["y"], {}, 18)
        (got,) = session(proto).run(None, {f"x{i}": x for i, x in enumerate(inputs)})
        with quiet_float_errors():
            want = evaluate(opdef, inputs, attrs, out_type)
        if want.dtype.kind == "f":
            same = ((np.isnan(got) & np.isnan(want)) | (got == want)
                    | np.isclose(got, want, **TOLERANCES["f32"]))
        else:
            same = got == want
        if not same.all():
            at = int(np.argmin(same))
            wrong.append((opdef.name, [x[at] for x in inputs], got[at], want[at]))
    return wrong


def test_elementwise_lowerings_keep_graphc_semantics_on_special_float_values():
    """NaN, infinities, signed zeros, tiny and huge operands, as graphc's reference computes
    them (the lowering renders each op's scalar body, whose own test checks the reference)."""
    assert _elementwise_mismatches(SPECIAL, ir.f32) == []


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16, np.uint8, np.bool_])
def test_elementwise_lowerings_keep_graphc_semantics_on_integer_limits_and_bools(dtype):
    """Wrap-around, INT_MIN / -1, floor division and remainder signs; 8- and 16-bit integers
    (which ONNX runtimes often lack kernels for) and bools."""
    assert _elementwise_mismatches(_integer_samples(dtype), ir.dtypes.from_numpy(dtype)) == []


def test_fused_nodes_are_inlined_from_their_bodies():
    graph = ir.parse("func @f(%x: f32[4,3], %b: f32[3]) -> (f32[4]) {\n"
                     "  %0: f32[4,3] = add %x, %b\n"
                     "  %1: f32[4,3] = tanh %0\n"
                     "  %2: f32[4] = sum %1 {axes=[1]}\n"
                     "  return %2\n}\n")
    fused = passes.PassManager("fuse").run(graph)
    assert [n.op for n in fused.nodes] == ["fused"]
    proto = build_model(fused, 1, ["x", "b"], ["y"], {}, 17)
    assert "fused" not in {n.op_type for n in proto.graph.node}
    x, b = np.linspace(-2, 2, 12, dtype=np.float32).reshape(4, 3), np.array([1, 0, -1], np.float32)
    (got,) = session(proto).run(None, {"x": x, "b": b})
    assert_close(got, np.tanh(x.astype(np.float64) + b).sum(1))


# -- the command line --------------------------------------------------------------------------
def test_cli_export_writes_a_model_onnxruntime_runs(tmp_path):
    source = tmp_path / "f.gir"
    source.write_text("func @f(%x: f32[2,3], %y: f32[3]) -> (f32[2,3]) {\n"
                      "  %0: f32[2,3] = mul %x, %y\n"
                      "  %1: f32[2,3] = tanh %0\n"
                      "  return %1\n}\n")
    target = tmp_path / "f.onnx"
    done = subprocess.run([sys.executable, "-m", "graphc", "export", str(source), "-p", "fuse",
                           "-o", str(target)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    x, y = np.full((2, 3), 0.5, np.float32), np.array([1, -2, 3], np.float32)
    (got,) = session(onnx.load(str(target))).run(None, {"x": x, "y": y})
    assert_close(got, np.tanh(x.astype(np.float64) * y))


def test_cli_export_errors_name_the_problem_exit_1_and_write_nothing(tmp_path, capsys):
    source = tmp_path / "g.gir"
    source.write_text("func @g(%x: f32[3]) -> (f32[3]) {\n"
                      "  %0: f32[3] = cumprod %x {axis=0}\n"
                      "  return %0\n}\n")
    assert main(["export", str(source), "-o", str(tmp_path / "g.onnx")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("graphc: error: ") and "Traceback" not in error
    assert "'cumprod'" in error and "cumprod %x {axis=0}" in error
    assert not (tmp_path / "g.onnx").exists()
    assert main(["export", str(source), "-o", str(tmp_path / "g.onnx"), "--opset", "3"]) == 1
    assert "opset_version must be" in capsys.readouterr().err
    source.write_text("func @h(%x: f32[3]) -> (f32[3]) {\n  return %x\n}\n")
    assert main(["export", str(source), "-o", str(tmp_path / "missing" / "h.onnx")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_a_constant_array_made_from_a_dynamic_size_is_refused_not_baked_in():
    """interpolate's matrix, made for the example's size, was an initializer: the model ran
    at that size only (onnxruntime failed at any other)."""
    import graphc.nn.functional as F

    def upsample(x):
        return F.interpolate(x, scale_factor=2, mode="linear")

    with pytest.raises(graphc.onnx.OnnxExportError, match=r"has shape \[8, 4\], then"):
        graphc.onnx.export(upsample, (graphc.randn(1, 2, 4),), None, input_names=["x"],
                           dynamic_axes={"x": {2: "n"}})
    fixed = graphc.onnx.export(upsample, (graphc.randn(1, 2, 4),), None)  # (fixed sizes: fine)
    assert len(fixed.graph.initializer) == 1


def test_one_tensor_passed_as_several_arguments_is_several_model_inputs():
    attention = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    x = graphc.randn(2, 5, 8)
    model = graphc.onnx.export(attention, (x, x, x), None, input_names=["q", "k", "v"])
    assert [i.name for i in model.graph.input] == ["q", "k", "v"]
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    y = graphc.randn(2, 5, 8)
    got = session.run(None, {"q": x.numpy(), "k": y.numpy(), "v": y.numpy()})[0]
    with graphc.no_grad():
        assert_close(got, attention(x, y, y)[0].numpy())
