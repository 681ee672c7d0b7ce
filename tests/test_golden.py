"""Golden files: one small ``.gir`` per case under ``tests/golden/``, FileCheck style.

Each file holds the IR to start from and, in ``//`` comment lines before it, what to do and
what to expect::

    // RUN: cse,dce                 the pipeline (required)
    // CHECK: %0: f32[3] = add      a line containing this text, after the previous match
    // CHECK-NEXT: return %0        ... on the very next line
    // CHECK-NOT: mul               no line containing this between the matches around it
    // ERROR: text                  instead of CHECKs: the pipeline fails, saying this

Every pipeline runs under the pass manager with ``verify_each`` and ``validate``: each pass must
keep the graph valid and its results equal under the reference interpreter, so a golden file
checks both the shape of the output and that it still computes the same numbers.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import ir
import passes

GOLDEN = Path(__file__).parent / "golden"
DIRECTIVES = ("RUN", "CHECK", "CHECK-NEXT", "CHECK-NOT", "ERROR")


def read_case(path: Path) -> tuple[str, list[tuple[str, str]], str]:
    """(pipeline, [(directive, text)], IR text) of a golden file."""
    pipeline, checks, ir_lines = None, [], []
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("//"):
            body = stripped[2:].strip()
            directive, colon, text = body.partition(":")
            if colon and directive in DIRECTIVES:
                if directive == "RUN":
                    pipeline = text.strip()
                else:
                    checks.append((directive, text.strip()))
            ir_lines.append("")  # keep line numbers of the IR as in the file
        else:
            ir_lines.append(line)
    assert pipeline is not None, f"{path.name}: no '// RUN: <pipeline>' line"
    assert checks, f"{path.name}: nothing to check"
    return pipeline, checks, "\n".join(ir_lines)


def file_check(output: str, checks: list[tuple[str, str]], name: str) -> None:
    """FileCheck's CHECK / CHECK-NEXT / CHECK-NOT over ``output``'s lines."""
    lines = output.splitlines()
    position = 0  # index of the first line not yet consumed
    pending_not: list[str] = []
    for directive, text in checks:
        if directive == "CHECK-NOT":
            pending_not.append(text)
            continue
        if directive == "CHECK-NEXT":
            found = position if position < len(lines) and text in lines[position] else None
        else:
            found = next((i for i in range(position, len(lines)) if text in lines[i]), None)
        if found is None:
            where = "on the next line" if directive == "CHECK-NEXT" else "after the last match"
            pytest.fail(f"{name}: {directive}: {text!r} not found {where}; output:\n{output}")
        for forbidden in pending_not:
            hit = next((lines[i] for i in range(position, found) if forbidden in lines[i]), None)
            assert hit is None, f"{name}: CHECK-NOT: {forbidden!r} found in {hit!r}:\n{output}"
        pending_not = []
        position = found + 1
    for forbidden in pending_not:
        hit = next((line for line in lines[position:] if forbidden in line), None)
        assert hit is None, f"{name}: CHECK-NOT: {forbidden!r} found in {hit!r}:\n{output}"


CASES = sorted(GOLDEN.glob("*.gir"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden(path):
    pipeline, checks, text = read_case(path)
    graph = ir.parse(text, str(path))
    errors = [t for d, t in checks if d == "ERROR"]
    manager = passes.PassManager(pipeline, verify_each=True, validate=True)
    if errors:
        with pytest.raises(Exception) as info:
            manager.run(graph)
        for expected in errors:
            assert expected in str(info.value), f"{path.name}: error {info.value!s} lacks {expected!r}"
        return
    result = manager.run(graph)
    output = ir.to_text(result)
    assert ir.to_text(ir.parse(output)) == output, f"{path.name}: output does not round-trip"
    file_check(output, checks, path.name)


def test_file_check_itself_fails_on_a_missing_or_forbidden_line():
    output = "a\nb\nc"
    file_check(output, [("CHECK", "a"), ("CHECK-NEXT", "b"), ("CHECK-NOT", "x"), ("CHECK", "c")],
               "ok")
    for checks in ([("CHECK", "z")], [("CHECK", "a"), ("CHECK-NEXT", "c")],
                   [("CHECK", "a"), ("CHECK-NOT", "b"), ("CHECK", "c")],
                   [("CHECK", "c"), ("CHECK", "a")]):
        with pytest.raises((AssertionError, pytest.fail.Exception)):
            file_check(output, checks, "bad")
