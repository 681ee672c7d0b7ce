"""Draws the pictures of docs/examples.md: the quickstart MLP's graphs, as ``graphc viz`` does.

Run from the repository root: python docs/make_pictures.py [--out DIR] [--format svg|png|dot]

Three graphs of ``examples/quickstart.py``'s ``mlp`` (x: f32[32,784], one hidden layer of 128,
10 classes): the forward as ``graphc.compile`` optimizes it, the same after the llvm backend's
lowering (``fuse``: each cluster is one generated kernel), and a whole compiled training step
(forward, ``loss.backward()``, SGD update) after that lowering. The graphs come from
``graphc.compile(fn, backend="interpreter").graph_for(...)`` (the default pipeline, no
lowering), are lowered by ``passes.PassManager(backends.get("llvm").lowering)`` (so the pictures
do not depend on whether llvm is this machine's default backend), and are drawn by
:func:`graphc.viz.write_picture`, the code behind ``graphc viz``. SVG and PNG need Graphviz's
``dot``; ``--format dot`` writes the DOT text without it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "examples")]  # this checkout's graphc, and quickstart.py

from quickstart import mlp  # noqa: E402

import backends  # noqa: E402
import graphc  # noqa: E402
import graphc.nn.functional as F  # noqa: E402
import ir  # noqa: E402
import passes  # noqa: E402
from graphc import optim, viz  # noqa: E402


def quickstart_inputs() -> tuple[graphc.Tensor, list[graphc.Tensor]]:
    """The quickstart's input batch and parameters (w1, b1, w2, b2), seeded as it seeds them."""
    graphc.manual_seed(0)
    x = graphc.randn(32, 784)
    params = [graphc.randn(128, 784) * 0.05, graphc.zeros(128),
              graphc.randn(10, 128) * 0.05, graphc.zeros(10)]
    return x, params


def lowered(graph: ir.Graph, backend: str = "llvm") -> ir.Graph:
    """``graph`` after ``backend``'s lowering pipeline, as that backend compiles it (the
    passes may change ``graph`` itself)."""
    return passes.PassManager(backends.get(backend).lowering, verify_each=True).run(graph)


# graphc.compile's graph before any backend's lowering: the interpreter's (it needs none)
def forward_graph() -> ir.Graph:
    x, params = quickstart_inputs()
    return graphc.compile(mlp, backend="interpreter").graph_for(x, *params)


def training_step_graph() -> ir.Graph:
    x, (w1, b1, w2, b2) = quickstart_inputs()
    for p in (w1, b1, w2, b2):
        p.requires_grad_()
    labels = graphc.randint(0, 10, (32,))
    opt = optim.SGD([w1, b1, w2, b2], lr=0.1)

    def train_step(x, labels):  # the parameters by name, so the picture names them
        opt.zero_grad()
        loss = F.nll_loss(graphc.log(mlp(x, w1, b1, w2, b2)), labels)
        loss.backward()
        opt.step()
        return loss

    return graphc.compile(train_step, backend="interpreter").graph_for(x, labels)


def pictures() -> dict[str, ir.Graph]:
    """File stem -> graph, for every picture of docs/examples.md."""
    return {"quickstart_mlp_forward": forward_graph(),
            "quickstart_mlp_forward_fused": lowered(forward_graph()),  # passes mutate graphs
            "quickstart_mlp_training_step_fused": lowered(training_step_graph())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "pictures"),
                        help="the folder to write into (default: docs/pictures)")
    parser.add_argument("--format", choices=["svg", "png", "dot"], default="svg")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for stem, graph in pictures().items():
        path = viz.write_picture(graph, str(out / f"{stem}.{args.format}"))
        print(f"{path}: {len(graph.nodes)} nodes")


if __name__ == "__main__":
    main()
