"""Pictures of graphs: Graphviz DOT text, and SVG or PNG when Graphviz is installed.

:func:`to_dot` writes the DOT text itself (no dependency): one box per op, labelled with the
op and its result types; one ellipse per graph input and per output (``aliases %w`` for
outputs that overwrite an input); an edge per value read. A ``fused`` node is drawn as a
cluster (``subgraph cluster_N``) holding its body's nodes, with its body arguments as small
ellipses fed by the operands, and edges from the body's yielded values to the users outside,
so fusion groups show as boxes around the ops they hold. Bodies nest the same way.

:func:`write_picture` picks the format from the file name: ``.dot``/``.gv`` is the text,
``.svg``/``.png``/``.pdf`` run Graphviz's ``dot`` program. Without ``dot`` on the PATH it
writes the DOT text next to the requested file and raises :class:`GraphvizMissing`, whose
message says where the text is and how to install Graphviz (``graphc viz`` then exits 1, so
scripts notice that the picture is missing).

    >>> import ir
    >>> g = ir.parse('''func @f(%x: f32[3]) -> (f32[3]) {
    ...   %0: f32[3] = exp %x
    ...   return %0
    ... }''')
    >>> print(to_dot(g))  # doctest: +NORMALIZE_WHITESPACE
    digraph "f" {
      rankdir=TB;
      node [shape=box, style=rounded, fontname="Helvetica", fontsize=10];
      edge [fontname="Helvetica", fontsize=9];
      "in0" [shape=ellipse, label="%x\\nf32[3]"];
      "n0" [label="exp\\n%0: f32[3]"];
      "in0" -> "n0";
      "out0" [shape=ellipse, label="return 0\\nf32[3]"];
      "n0" -> "out0";
    }
"""
from __future__ import annotations

import os
import shutil
import subprocess

from graphc.errors import GraphcError
from ir.graph import Graph, Node
from ir.printer import value_names

TEXT_FORMATS = (".dot", ".gv")
PICTURE_FORMATS = (".svg", ".png", ".pdf")
INSTALL_HINT = ("install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew "
                "install graphviz; conda: conda install graphviz)")


class VizError(GraphcError):
    """A picture could not be written: unknown format, or Graphviz failed."""


class GraphvizMissing(VizError):
    """Graphviz's ``dot`` is not installed; the DOT text was written instead (``dot_path``)."""

    def __init__(self, message: str, dot_path: str):
        super().__init__(message)
        self.dot_path = dot_path


def _quote(text: str) -> str:
    """A DOT string literal (backslashes and quotes escaped, newlines as ``\\n``)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class _DotWriter:
    """Emits DOT statements for a graph and, recursively, for the bodies of its fused nodes."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.clusters = 0

    def emit(self, indent: int, text: str) -> None:
        self.lines.append("  " * indent + text)

    def graph(self, graph: Graph, prefix: str, indent: int, sources: dict[int, str]) -> None:
        """Draws ``graph``'s nodes; ``sources`` maps each input (by id) to the DOT node that
        provides it and receives the DOT node providing each node result."""
        names = value_names(graph)
        for index, node in enumerate(graph.nodes):
            node_id = f"{prefix}n{index}"
            if node.body is not None:
                self.fused(node, node_id, indent, sources, names)
                continue
            results = ", ".join(f"{names[id(v)]}: {v.type}" for v in node.outputs)
            self.emit(indent, f"{_quote(node_id)} [label={_quote(node.op + chr(10) + results)}];")
            self.edges(node, node_id, indent, sources)
            for value in node.outputs:
                sources[id(value)] = node_id

    def fused(self, node: Node, node_id: str, indent: int, sources: dict[int, str],
              names: dict[int, str]) -> None:
        body = node.body
        assert body is not None
        results = ", ".join(names[id(v)] for v in node.outputs)
        self.emit(indent, f"subgraph {_quote(f'cluster_{self.clusters}')} {{")
        self.clusters += 1
        self.emit(indent + 1, f"label={_quote(f'fused {results}')}; style=rounded; "
                              'color="#3366cc"; fontcolor="#3366cc";')
        inner: dict[int, str] = {}
        for i, argument in enumerate(body.inputs):
            arg_id = f"{node_id}_arg{i}"
            label = f"%{argument.name}\n{argument.type}"
            self.emit(indent + 1, f"{_quote(arg_id)} [shape=ellipse, fontsize=8, "
                                  f"label={_quote(label)}];")
            inner[id(argument)] = arg_id
        self.graph(body, f"{node_id}_", indent + 1, inner)
        self.emit(indent, "}")
        # Outside the cluster: Graphviz puts a node in every cluster whose edges name it.
        for argument, operand in zip(body.inputs, node.inputs):
            self.emit(indent, f"{_quote(sources[id(operand)])} -> {_quote(inner[id(argument)])};")
        for result, yielded in zip(node.outputs, body.outputs):
            sources[id(result)] = inner[id(yielded)]

    def edges(self, node: Node, node_id: str, indent: int, sources: dict[int, str]) -> None:
        for value in node.inputs:
            self.emit(indent, f"{_quote(sources[id(value)])} -> {_quote(node_id)};")


def to_dot(graph: Graph) -> str:
    """The DOT text of ``graph`` (see the module docstring for what is drawn)."""
    writer = _DotWriter()
    writer.emit(0, f"digraph {_quote(graph.name)} {{")
    writer.emit(1, "rankdir=TB;")
    writer.emit(1, 'node [shape=box, style=rounded, fontname="Helvetica", fontsize=10];')
    writer.emit(1, 'edge [fontname="Helvetica", fontsize=9];')
    sources: dict[int, str] = {}
    for i, value in enumerate(graph.inputs):
        sources[id(value)] = f"in{i}"
        label = f"%{value.name}\n{value.type}"
        writer.emit(1, f"{_quote(f'in{i}')} [shape=ellipse, label={_quote(label)}];")
    writer.graph(graph, "", 1, sources)
    for i, value in enumerate(graph.outputs):
        label = f"return {i}\n{value.type}"
        aliased = graph.output_aliases.get(i)
        if aliased is not None:
            label += f" aliases %{graph.inputs[aliased].name}"
        writer.emit(1, f"{_quote(f'out{i}')} [shape=ellipse, label={_quote(label)}];")
        writer.emit(1, f"{_quote(sources[id(value)])} -> {_quote(f'out{i}')};")
    writer.emit(0, "}")
    return "\n".join(writer.lines)


def write_picture(graph: Graph, path: str) -> str:
    """Writes ``graph`` to ``path`` as DOT text (``.dot``, ``.gv``) or as a picture drawn by
    Graphviz (``.svg``, ``.png``, ``.pdf``); returns the path written.

    Raises :class:`GraphvizMissing` (after writing the DOT text next to ``path``) when
    Graphviz is not installed, and :class:`VizError` for other formats or a failed ``dot``.
    """
    stem, extension = os.path.splitext(path)
    extension = extension.lower()
    text = to_dot(graph) + "\n"
    if extension in TEXT_FORMATS:
        _write(path, text)
        return path
    if extension not in PICTURE_FORMATS:
        raise VizError(f"cannot tell the format of {path!r} from its extension; expected "
                       f"one of {', '.join(TEXT_FORMATS + PICTURE_FORMATS)}")
    dot = shutil.which("dot")
    if dot is None:
        dot_path = stem + ".dot"
        _write(dot_path, text)
        raise GraphvizMissing(
            f"Graphviz's 'dot' program is not on the PATH, so {path!r} was not drawn; the "
            f"graph is in {dot_path!r}. To draw it, {INSTALL_HINT}, then run: "
            f"dot -T{extension[1:]} {dot_path} -o {path}", dot_path)
    try:
        done = subprocess.run([dot, f"-T{extension[1:]}", "-o", path], input=text.encode(),
                              capture_output=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VizError(f"running Graphviz's dot to draw {path!r} failed: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        raise VizError(f"Graphviz's dot could not draw {path!r}: {message}")
    return path


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise VizError(f"cannot write {path!r}: {exc.strerror or exc}") from exc
