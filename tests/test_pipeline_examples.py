"""The whole optimizing pipeline on the examples' compiled training steps, pass by pass.

Issue 7's bar: with ``--validate --verify-each`` every pass keeps the results of the compiled
training steps of all examples equal (MLP, CNN, char-LSTM and an attention block), under the
reference interpreter. Each step is traced with ``passes=""`` (the raw trace), then the
pipeline below runs under the pass manager, which verifies the graph after each pass and
compares every output with the result before the pass (bitwise for integers, per-dtype
tolerances for floats: see ``passes/validate.py``).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_pass_manager import _example_models, _training_step_graph

import graphc
import ir
import passes
from graphc import nn

ROOT = Path(__file__).resolve().parents[1]
FULL_PIPELINE = "dce,cse,fold,simplify,dce,fuse,remat,plan"


class AttentionBlock(nn.Module):
    """An attention classifier: a transformer encoder layer (multi-head attention, layer norm,
    residuals, feed-forward), mean over positions, then a linear head."""

    def __init__(self, d_model=16, heads=4, classes=10):
        super().__init__()
        self.encoder = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=32,
                                                  dropout=0.0, batch_first=True)
        self.head = nn.Linear(d_model, classes)

    def forward(self, x):
        return self.head(self.encoder(x).mean(dim=1))


def _models():
    models = _example_models()
    graphc.manual_seed(1)
    models["attention"] = (AttentionBlock(), graphc.randn(2, 5, 16), graphc.randint(0, 10, (2,)))
    return models


@pytest.mark.parametrize("name", ["mlp", "cnn", "char_lstm", "attention"])
def test_every_pass_keeps_the_training_step_results(name):
    model, x, y = _models()[name]
    graph = _training_step_graph(model, x, y)
    traced_nodes = len(graph.nodes)  # passes may rewrite the graph they are given in place
    manager = passes.PassManager(FULL_PIPELINE, verify_each=True, validate=True, timing=True)
    result = manager.run(graph)
    fused = [n for n in result.nodes if n.op == "fused"]
    assert fused, f"{name}: nothing was fused"
    assert len(result.nodes) < traced_nodes / 2, f"{name}: fusion should shrink the graph"
    assert result.plan is not None, f"{name}: plan records buffers for backends"
    assert len(manager.timing_table().splitlines()) > len(FULL_PIPELINE.split(","))


def test_graphc_opt_validates_every_pass_on_a_training_step_file(tmp_path):
    model, x, y = _models()["attention"]
    path = tmp_path / "step.gir"
    path.write_text(ir.to_text(_training_step_graph(model, x, y)))
    out = tmp_path / "step.opt.gir"
    result = subprocess.run([sys.executable, "-m", "graphc", "opt", str(path), "-p", FULL_PIPELINE,
                             "--verify-each", "--validate", "-o", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    optimized = ir.parse(out.read_text(), str(out))
    assert any(n.op == "fused" for n in optimized.nodes)
