"""The pass manager: runs a pipeline, with verification, IR printing, timing and validation.

    >>> import io, ir
    >>> g = ir.parse('''func @f(%x: f32[2]) -> (f32[2]) {
    ...   %0: f32[2] = exp %x
    ...   %1: f32[2] = log %x
    ...   return %1
    ... }''')
    >>> log = io.StringIO()
    >>> pm = PassManager("dce", verify_each=True, print_after="changed", stream=log,
    ...                  validate=True)
    >>> [n.op for n in pm.run(g).nodes]
    ['log']
    >>> print(log.getvalue().splitlines()[0])
    // ----- IR after dce (1 of 1) ----- //

Each pass is also reported on the ``graphc.passes`` logger (name, time, whether it changed the
graph, node counts), which ``GRAPHC_LOG=passes`` shows.
"""
from __future__ import annotations

import inspect
import logging
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TextIO

import numpy as np

from ir.errors import IRError, VerifyError
from ir.graph import Graph
from ir.printer import to_text
from ir.verify import verify
from passes import validate as validation
from passes.registry import PASSES, Pass, PassError, Pipeline, parse_pipeline

log = logging.getLogger("graphc.passes")


class PassVerifyError(PassError):
    """The graph a pass returned does not verify."""


class ValidationError(PassError):
    """A pass changed the graph's results. Names the pass and says where the reproducer is."""

    def __init__(self, message: str, pass_text: str, output: int, max_error: float,
                 reproducer: str | None):
        super().__init__(message)
        self.pass_text = pass_text
        self.output = output
        self.max_error = max_error
        self.reproducer = reproducer


class PassManager:
    """Runs ``pipeline`` (text such as ``"dce,autodiff{wrt=[0]}"``, or a list of passes).

    Options:

    * ``verify_each``: verify the graph after every pass; a broken graph is a
      :class:`PassVerifyError` naming the pass;
    * ``print_after``: ``"all"``, ``"changed"`` (when the IR text changed), or pass names; the
      IR is printed to ``stream`` (default stderr) after those passes;
    * ``timing``: collect time per pass; :meth:`timing_table` formats it;
    * ``validate``: run the reference interpreter before and after every pass on seeded inputs
      (``seed``, or the arrays in ``inputs`` by input name) and stop with a
      :class:`ValidationError` at the first pass that changes an output, after writing a
      reproducer to ``reproducer_dir`` (default: a new temporary directory).
    """

    def __init__(self, pipeline: str | Sequence[Pass], *, verify_each: bool = False,
                 print_after: None | str | Iterable[str] = None,
                 stream: TextIO | None = None, timing: bool = False, validate: bool = False,
                 inputs: Mapping[str, np.ndarray] | None = None, seed: int = 0,
                 reproducer_dir: str | None = None):
        self.pipeline: Pipeline = parse_pipeline(pipeline)
        self.verify_each = verify_each
        self.print_after = _print_after(print_after)
        self.stream = stream
        self.timing = timing
        self.validate = validate
        self.inputs = dict(inputs) if inputs is not None else None
        self.seed = seed
        self.reproducer_dir = reproducer_dir
        self.timings: dict[str, list] = {}  # pass name -> [calls, seconds], in first-run order

    def run(self, graph: Graph) -> Graph:
        """Runs every pass in order and returns the resulting graph (the input may be mutated:
        use the result)."""
        arrays: dict[str, np.ndarray] = {}
        outputs: tuple = ()
        if self.validate:
            arrays = validation.make_inputs(graph, self.seed, self.inputs)
            outputs = self._reference(graph, arrays, "before the first pass")
        for position, pass_ in enumerate(self.pipeline, 1):
            where = f"{pass_} ({position} of {len(self.pipeline)})"
            keep_text = self.validate or self.print_after == "changed"
            before_text = to_text(graph, debug_info=True) if keep_text else ""
            input_names = [validation.input_name(v) for v in graph.inputs]
            n_before = len(graph.nodes)
            start = time.perf_counter()
            try:
                result = pass_.apply(graph)
            except PassError:
                raise
            except IRError as exc:
                raise PassError(f"pass {where} failed: {exc}") from exc
            except Exception as exc:
                if _plugin_file(pass_) is None:
                    raise  # a bug in graphc's own pass: the CLI says so
                raise PassError(f"pass {where}, from a plugin, failed: {type(exc).__name__}: "
                                f"{exc}") from exc
            if not (isinstance(result, tuple) and len(result) == 2
                    and isinstance(result[0], Graph)):
                raise PassError(f"pass {where} returned {type(result).__name__}; apply() must "
                                f"return PassResult(graph, changed)")
            graph, changed = result
            seconds = time.perf_counter() - start
            record = self.timings.setdefault(pass_.name, [0, 0.0])
            record[0] += 1
            record[1] += seconds
            log.info("%s: %.3f ms, %s, %d -> %d nodes", pass_, seconds * 1e3,
                     "changed" if changed else "unchanged", n_before, len(graph.nodes))
            if self.verify_each or self.validate:  # (the reference interpreter needs a
                try:                                # valid graph to compare)
                    verify(graph)
                except VerifyError as exc:
                    raise PassVerifyError(f"the graph is invalid after pass {where}: "
                                          f"{exc}") from exc
            if self.validate:
                arrays = validation.make_inputs(graph, self.seed, arrays)
                outputs = self._check(graph, arrays, outputs, pass_, where, before_text,
                                      input_names)
            self._print(graph, pass_, position, before_text)
        return graph

    # -- printing --------------------------------------------------------------------------------
    def _print(self, graph: Graph, pass_: Pass, position: int, before_text: str):
        wanted = self.print_after
        if wanted is None:
            return
        if wanted == "changed":
            if to_text(graph, debug_info=True) == before_text:
                return
        elif wanted != "all" and pass_.name not in wanted:
            return
        stream = self.stream or sys.stderr
        stream.write(f"// ----- IR after {pass_} ({position} of {len(self.pipeline)}) ----- //\n"
                     f"{to_text(graph)}\n")

    def timing_table(self) -> str:
        """Time per pass: calls, seconds and share of the total, slowest first.

            >>> pm = PassManager("dce,dce", timing=True)
            >>> import ir; _ = pm.run(ir.parse("func @f(%x: f32[]) -> (f32[]) {\\n  return %x\\n}"))
            >>> print(pm.timing_table().splitlines()[0])
            pass                   calls     seconds       %
        """
        total = sum(seconds for _, seconds in self.timings.values())
        lines = [f"{'pass':<20} {'calls':>7} {'seconds':>11} {'%':>7}"]
        rows = sorted(self.timings.items(), key=lambda item: -item[1][1])
        for name, (calls, seconds) in rows:
            share = 100.0 * seconds / total if total else 0.0
            lines.append(f"{name:<20} {calls:>7} {seconds:>11.6f} {share:>6.1f}%")
        calls = sum(c for c, _ in self.timings.values())
        lines.append(f"{'total':<20} {calls:>7} {total:>11.6f} {100.0 if total else 0.0:>6.1f}%")
        return "\n".join(lines)

    # -- validation ------------------------------------------------------------------------------
    def _reference(self, graph: Graph, arrays: Mapping[str, np.ndarray], when: str) -> tuple:
        try:
            return validation.run_reference(graph, arrays)
        except validation.ReferenceFailed as exc:
            raise PassError(f"cannot validate: the graph fails {when} on the generated "
                            f"inputs: {exc}") from exc

    def _check(self, graph: Graph, arrays: dict, before: tuple, pass_: Pass, where: str,
               before_text: str, input_names: list[str]) -> tuple:
        labels = validation.label_outputs(graph)
        try:
            after = validation.run_reference(graph, arrays)
            mismatch = validation.compare(before, after, labels)
        except validation.ReferenceFailed as exc:
            after, mismatch = (), validation.Mismatch(0, f"the graph no longer runs: {exc}")
        if mismatch is None:
            return after
        reason = f"pass {where} changed the results: {mismatch.description}"
        plugin = _plugin_file(pass_)
        directory = validation.write_reproducer(
            before_text, {name: arrays[name] for name in input_names},
            str(pass_), reason, self.reproducer_dir, plugin)
        replay = validation.replay_command(str(pass_), plugin)
        raise ValidationError(f"{reason}; reproducer in {directory} (replay there: {replay})",
                              str(pass_), mismatch.output, mismatch.max_error, directory)


def _print_after(value) -> None | str | frozenset:
    if value is None or value in ("all", "changed"):
        return value
    names = frozenset([value] if isinstance(value, str) else value)
    unknown = sorted(names - set(PASSES))
    if unknown:
        raise PassError(f"cannot print after unknown pass(es) {', '.join(unknown)}; known "
                        f"passes: {', '.join(sorted(PASSES))}")
    return names


def _plugin_file(pass_: Pass) -> str | None:
    """The file to ``--plugin`` for a pass registered outside the ``passes`` package."""
    module = type(pass_).__module__
    if module == "passes" or module.startswith("passes."):
        return None
    try:
        return os.path.abspath(inspect.getsourcefile(type(pass_)) or "")
    except TypeError:
        return None


def run(graph: Graph, pipeline: str | Sequence[Pass]) -> Graph:
    """Runs ``pipeline`` over ``graph`` with no extras; returns the resulting graph."""
    return PassManager(pipeline).run(graph)
