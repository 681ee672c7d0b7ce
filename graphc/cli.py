"""The ``graphc`` command line: dump traced IR, run ``.gir`` files, optimize them.

Seven commands: ``graphc dump FILE.py:FUNC --arg TYPE ...`` traces a function into IR (``--code``
adds the code a backend generates from it), ``graphc run IN.gir`` runs an IR file,
``graphc opt IN.gir -p PIPELINE`` runs passes over it
(verifying, printing, timing and numerically validating each), ``graphc passes`` lists the
passes, and ``graphc viz IN.gir -o OUT.svg`` draws a graph (fused groups as clusters, see
:mod:`graphc.viz`; without Graphviz it writes the DOT text and exits 1, saying so).
``graphc cache info|clear`` shows or empties the on-disk cache of compiled code.
``graphc export IN.gir -o OUT.onnx`` writes an IR file as an ONNX model (:mod:`graphc.onnx`).
``graphc profile [-o TRACE.json] SCRIPT.py [ARGS...]`` runs a script under
:mod:`graphc.profiler` and prints its table (see :mod:`graphc.profiler.cli`).
``graphc launch -n N script.py [args]`` runs a script as N MPI processes
(:mod:`graphc.distributed.launch`).
``graphc --help`` ends with worked examples (:data:`EXAMPLES`), which the test suite runs.

``dump`` imports ``model.py`` as a module (its directory first on ``sys.path``; code under
``if __name__ == "__main__":`` does not run), looks up the function or module object (dotted
attribute paths such as ``net.encoder`` are allowed), makes random inputs of the ``--arg``
types, traces it with :func:`graphc.trace` and prints the IR. Types are written as in the IR:
``f32[32,784]``, ``i64[32]``, ``f32[]`` for a scalar.

Random inputs (``dump``, and ``run`` without ``--inputs``) come from NumPy's generator seeded
with ``--seed`` (a non-negative integer, default 0): floats are standard normal, integers
uniform in ``[0, 10)``, bools fair coin flips. ``dump`` also seeds graphc
(``graphc.manual_seed``) before importing the file, so parameters that the module initializes
randomly are the same from run to run.

Every user error prints one message to stderr and exits with status 1: parse errors as
``file:line:col: error: message`` with the source line and a caret, everything else as
``graphc: error: message``. ``--traceback`` re-raises instead, to see the Python traceback.
Command-line usage errors exit with status 2 (argparse's convention).

The same entry point is :func:`main`, which takes an argument list and returns the exit status::

    >>> from graphc.cli import main
    >>> main(["passes"])  # doctest: +ELLIPSIS
    autodiff ...
    dce ...
    0
"""
from __future__ import annotations

import argparse
import difflib
import importlib.util
import inspect
import math
import os
import re
import sys
import traceback
import zipfile
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Optional

import numpy as np

import backends
import graphc
import ir
import passes
from backends.interpreter import ExecutionError
from graphc import viz
from graphc.errors import GraphcError
from graphc.profiler import cli as profiler_cli
from ir.dtypes import BY_NAME as DTYPES
from ir.dtypes import from_numpy
from ir.printer import format_node

PROG = "graphc"
_TYPE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\[\s*((?:\d+\s*(?:,\s*\d+\s*)*)?)\]\s*\Z")
_TYPE_FORM = "DTYPE[D0,D1,...] such as f32[32,784], i64[32] or f32[] for a scalar"
_SHOWN_VALUES = 6  # how many leading values `run` prints per output
_DEFAULT_BACKEND_HELP = "llvm where llvmlite can generate code here, else interpreter; " \
    "$GRAPHC_BACKEND overrides"
# The examples at the end of `graphc --help` (tests/test_docs.py runs them).
EXAMPLES = """\
examples (from the repository root):
  graphc dump examples/quickstart.py:mlp --arg 'f32[32,784]' --arg 'f32[128,784]' \\
      --arg 'f32[128]' --arg 'f32[10,128]' --arg 'f32[10]' -o model.gir
  graphc run model.gir --out outputs.npz
  graphc opt model.gir -p 'autodiff{cotangent=true},dce' -o grads.gir
  graphc dump examples/quickstart.py:mlp --arg 'f32[4,784]' --arg 'f32[128,784]' \\
      --arg 'f32[128]' --arg 'f32[10,128]' --arg 'f32[10]' -p dce --debug-info
  graphc opt model.gir -p 'autodiff{cotangent=true},dce' --verify-each --validate --timing
  graphc opt model.gir -p fuse -o fused.gir
  graphc viz fused.gir -o fused.dot
  graphc dump examples/quickstart.py:mlp --arg 'f32[4,784]' --arg 'f32[128,784]' \\
      --arg 'f32[128]' --arg 'f32[10,128]' --arg 'f32[10]' --stage optimized --backend llvm --code
  graphc cache info
  graphc passes

Run 'graphc COMMAND --help' for the options of a command."""
# How many operand elements one node of a graph given to `run` may read. Arrays that really
# exist are bounded by memory, but a broadcast_to view costs none: a `sum` over a 10**12-element
# broadcast would read for many minutes. 2**36 elements (256 GiB of f32) is more than any array
# that fits in this machine's memory.
MAX_ELEMENTS_READ = 2 ** 36


class CLIError(Exception):
    """A user error the command line reports as ``graphc: error: <message>``."""


# -- types and random inputs ------------------------------------------------------------------

def parse_type(text: str, what: str = "type") -> ir.TensorType:
    """``"f32[32,784]"`` -> ``TensorType(f32, (32, 784))``; raises :class:`CLIError`.

        >>> str(parse_type("i64[ 4, 2 ]"))
        'i64[4,2]'
    """
    match = _TYPE.match(text)
    if match is None:
        raise CLIError(f"{what}: cannot read {text!r} as a type; expected {_TYPE_FORM}")
    if match.group(1) not in DTYPES:
        close = difflib.get_close_matches(match.group(1), DTYPES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise CLIError(f"{what}: unknown dtype {match.group(1)!r} in {text!r}; expected one of "
                       f"{', '.join(DTYPES)}{hint}")
    digits = [d.strip() for d in match.group(2).split(",") if d.strip()]
    if any(len(d) > 30 for d in digits):  # beyond any real size (and int() stops at 4300 digits)
        raise CLIError(f"{what}: a dimension in {text[:40]!r}... has more than 30 digits")
    dims = tuple(int(d) for d in digits)
    return ir.TensorType(DTYPES[match.group(1)], dims)


def parse_seed(text: str) -> int:
    """``--seed``: a non-negative integer (argparse reports the error and exits with 2)."""
    try:
        seed = int(text)
    except ValueError:
        seed = None
    if seed is None or seed < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text[:40]!r}")
    return seed


def random_array(type: ir.TensorType, rng: np.random.Generator) -> np.ndarray:
    """A random array of ``type``: normal floats, integers in [0, 10), fair bools."""
    dtype = type.dtype
    if dtype.is_float:
        return rng.standard_normal(type.shape).astype(dtype.numpy)
    if dtype.is_int:
        return rng.integers(0, 10, size=type.shape).astype(dtype.numpy)
    return rng.integers(0, 2, size=type.shape).astype(np.bool_)


def _format_bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024:
            return f"{n:.3g} {unit}" if unit != "bytes" else f"{n} bytes"
        n /= 1024
    return f"{n:.3g} EiB"


def random_inputs(named_types: Sequence[tuple[str, ir.TensorType]], seed: int) -> list[np.ndarray]:
    """Random arrays (see :func:`random_array`) for ``(label, type)`` pairs; an input too large
    to create is a :class:`CLIError` naming it and its size."""
    rng = np.random.default_rng(seed)
    arrays = []
    for label, type in named_types:
        try:
            arrays.append(random_array(type, rng))
        except (MemoryError, ValueError) as exc:
            size = int(np.prod(type.shape, dtype=object)) * type.dtype.numpy.itemsize
            raise CLIError(f"cannot create random input {label}: {type} "
                           f"({_format_bytes(size)}): {exc}") from None
    return arrays


def elements_read(node: ir.Node) -> int:
    """How many operand elements ``node`` reads where its output does not bound them: a
    reduction reads its whole operand, ``matmul`` both matrices once per batch entry. Other
    ops read about as many elements as they write, which the memory limits bound.

        >>> g = ir.parse('''func @f(%a: f32[8,2,3], %b: f32[3,4]) -> (f32[8,2,4]) {
        ...   %0: f32[8,2,4] = matmul %a, %b
        ...   return %0
        ... }''')
        >>> elements_read(g.nodes[0])  # 8 batches of a 2x3 and a 3x4 matrix
        144
    """
    if node.opdef.kind == "reduce":
        return math.prod(node.inputs[0].type.shape)
    if node.op == "matmul":
        a, b = (v.type.shape for v in node.inputs)
        out = node.output.type.shape
        return math.prod(out[:-2]) * (math.prod(a[-2:]) + math.prod(b[-2:]))  # rank >= 2
    return 0


def check_elements_read(graph: ir.Graph, name: str) -> None:
    """A :class:`CLIError` naming the first node that would read more than
    ``MAX_ELEMENTS_READ`` elements, before anything runs."""
    names = {id(v): f"%{v.name}" for v in graph.inputs}
    for index, node in enumerate(graph.nodes):
        for k, value in enumerate(node.outputs):  # a fused node may have several results
            names[id(value)] = f"%{index}" if len(node.outputs) == 1 else f"%{index}.{k}"
        count = elements_read(node)
        if count > MAX_ELEMENTS_READ:
            raise CLIError(f"{name}: node {index} ({format_node(node, names)}) would "
                           f"read {count:,} elements, more than the {MAX_ELEMENTS_READ:,} that "
                           f"graphc run allows for one node")


# -- reading files ----------------------------------------------------------------------------

def _read_text(path: str) -> tuple[str, str]:
    """The text of ``path`` (``-`` is stdin) and the name errors should use for it."""
    if path == "-":
        return sys.stdin.read(), "<stdin>"
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(), path
    except OSError as exc:
        raise CLIError(f"cannot read {path!r}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise CLIError(f"cannot read {path!r}: not UTF-8 text ({exc.reason})") from exc


def _write_text(path: Optional[str], text: str) -> None:
    if path is None or path == "-":
        sys.stdout.write(text + "\n")
        return
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    except OSError as exc:
        raise CLIError(f"cannot write {path!r}: {exc.strerror or exc}") from exc


def load_graph(path: str) -> ir.Graph:
    """Parses and verifies the IR in ``path``; errors point at the file."""
    text, name = _read_text(path)
    graph = ir.parse(text, name)
    try:
        ir.verify(graph)
    except ir.VerifyError as exc:
        raise CLIError(f"{name}: invalid IR: {exc}") from exc
    return graph


def check_pipeline(pipeline: str) -> passes.Pipeline:
    """Reads a pipeline; unknown passes and bad options are ``passes.PassError``."""
    return passes.parse_pipeline(pipeline)


# -- dump -------------------------------------------------------------------------------------

def _split_target(target: str) -> tuple[str, str]:
    path, sep, attr = target.rpartition(":")
    if not sep or not path or not attr or "/" in attr or "\\" in attr:
        raise CLIError(f"expected FILE.py:FUNC (for example model.py:mlp), got {target!r}")
    return path, attr


def _user_location(exc: BaseException, path: str) -> Optional[str]:
    """``file:line`` of the innermost frame of ``exc``'s traceback that is in ``path``."""
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        return f"{exc.filename}:{exc.lineno}"
    where = None
    target = os.path.abspath(path)
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == target:
            where = f"{frame.filename}:{frame.lineno}"
    return where


# What the user's code may raise that the CLI reports as its failure (SystemExit: sys.exit()
# called while importing or tracing it, which would otherwise end the CLI with its status)
_USER_CODE_ERRORS = (Exception, SystemExit, GeneratorExit)


def _describe_user_error(exc: BaseException, path: str, doing: str) -> str:
    message = str(exc) or type(exc).__name__
    known = isinstance(exc, (ir.IRError, GraphcError))
    if isinstance(exc, SyntaxError):
        message = f"SyntaxError: {exc.msg}"
    elif not known:
        message = f"{type(exc).__name__}: {message}"
    where = _user_location(exc, path)
    if where and (isinstance(exc, SyntaxError) or os.path.basename(path) not in message):
        message = f"{where}: {message}"
    text = f"{doing}: {message}"
    if not known:
        text += " (run with --traceback to see the full traceback)"
    return text


def _importable(name: str) -> bool:
    try:
        return name.isidentifier() and importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def load_target(target: str, seed: int) -> tuple[Any, str]:
    """Imports FILE.py and returns the object FUNC names in it (and the file's path)."""
    path, attr = _split_target(target)
    if not os.path.isfile(path):
        raise CLIError(f"cannot read {path!r}: "
                       f"{'is a directory' if os.path.isdir(path) else 'no such file'}")
    stem = os.path.splitext(os.path.basename(path))[0]
    # its own name, unless that names a module Python would import otherwise: numba.py must
    # not become the numba graphc imports later, nor its folder hide that numba (the folder,
    # for the file's own imports, goes last then)
    shadows = _importable(stem)
    taken = stem in sys.modules or shadows
    module_name = stem if stem.isidentifier() and not taken else "_graphc_user_main"
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:
        sys.path.insert(len(sys.path) if shadows else 0, directory)
    graphc.manual_seed(seed)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise CLIError(f"cannot import {path!r} as a Python module (expected a .py file)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickle look modules up by name
    try:
        spec.loader.exec_module(module)
    except _USER_CODE_ERRORS as exc:  # sys.exit() in the file too: not a silent success
        raise CLIError(_describe_user_error(exc, path, f"importing {path} failed")) from exc
    obj: Any = module
    walked = []
    for part in attr.split("."):
        if not hasattr(obj, part):
            owner = path if not walked else f"{path}:{'.'.join(walked)}"
            names = [n for n in dir(obj) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=3)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise CLIError(f"{owner} has no attribute {part!r}{hint}")
        obj = getattr(obj, part)
        walked.append(part)
    if not callable(obj):
        raise CLIError(f"{path}:{attr} is a {type(obj).__name__}, not a function or module")
    return obj, path


def _check_arity(fn: Callable, n_args: int, target: str) -> None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # builtins and odd callables: let the call itself complain
    try:
        signature.bind(*range(n_args))
    except TypeError as exc:
        params = ", ".join(signature.parameters)
        raise CLIError(f"{target} takes ({params}) but {n_args} --arg "
                       f"value{'s were' if n_args != 1 else ' was'} given: {exc}") from exc


def dump_pipeline(args: argparse.Namespace) -> str:
    """The pipeline ``dump`` runs on the traced graph: ``--stage traced`` runs only ``-p``
    (nothing by default); ``--stage optimized`` runs ``-p`` or, without it, graphc.compile's
    default pipeline, then the backend's lowering, as ``graphc.compile`` does."""
    if args.stage == "traced":
        return args.passes or ""
    from graphc.compile import DEFAULT_PIPELINE
    lowering = getattr(backends.get(args.backend), "lowering", "")
    chosen = DEFAULT_PIPELINE if args.passes is None else args.passes
    return ",".join(p for p in (chosen, lowering) if p)


def chosen_backend(args: argparse.Namespace) -> backends.Backend:
    """The backend ``--backend`` names, else the default ``graphc.compile`` uses
    (:func:`backends.default_backend`); an unknown name fails here, before any work."""
    if args.backend is None:
        args.backend = backends.default_backend().name
    return backends.get(args.backend)


def cmd_dump(args: argparse.Namespace) -> int:
    types = [parse_type(text, f"--arg #{i + 1}") for i, text in enumerate(args.arg)]
    chosen_backend(args)
    pipeline = dump_pipeline(args)
    if pipeline:
        check_pipeline(pipeline)  # a bad pipeline fails before the import and trace
    fn, path = load_target(args.target, args.seed)
    _check_arity(fn, len(types), args.target)
    arrays = random_inputs([(f"--arg #{i + 1}", t) for i, t in enumerate(types)], args.seed)
    inputs = [graphc.from_numpy(a) for a in arrays]
    try:
        graph = graphc.trace(fn, *inputs)
    except _USER_CODE_ERRORS as exc:
        raise CLIError(_describe_user_error(exc, path, f"tracing {args.target} failed")) from exc
    if pipeline:
        graph = passes.run(graph, pipeline)
        ir.verify(graph)
    text = ir.to_text(graph, debug_info=args.debug_info)
    if args.code:
        # what the backend generates from this graph: for llvm the kernel program and LLVM IR
        text += f"\n\n; code generated by backend {args.backend}\n"
        text += backends.get(args.backend).compile(graph).source()
    _write_text(args.output, text)
    return 0


# -- run --------------------------------------------------------------------------------------

def _dtype_name(array: np.ndarray) -> str:
    try:
        return from_numpy(array.dtype).name
    except Exception:  # float16, unsigned, object, ...: not an IR dtype
        return str(array.dtype)


def load_inputs(graph: ir.Graph, path: str) -> list[np.ndarray]:
    """The graph's inputs from an ``.npz`` file, by name; all mismatches are reported at once."""
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError as exc:
        raise CLIError(f"cannot read {path!r}: no such file") from exc
    except (ValueError, zipfile.BadZipFile) as exc:  # NumPy's ValueError is about pickles
        raise CLIError(f"{path}: not a NumPy .npz archive (write one with np.savez)") from exc
    except (OSError, EOFError) as exc:
        raise CLIError(f"cannot read inputs from {path!r}: {exc}") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise CLIError(f"{path}: expected an .npz archive (np.savez) of named arrays, "
                       f"got a single array")
    with archive:
        try:
            arrays = {key: archive[key] for key in archive.files}
        except (OSError, ValueError, EOFError, MemoryError, zipfile.BadZipFile,
                zlib.error) as exc:  # damaged members, absurd shapes in a header
            raise CLIError(f"cannot read inputs from {path!r}: {exc}") from exc
    not_arrays = sorted(k for k, a in arrays.items() if not isinstance(a, np.ndarray))
    if not_arrays:  # NpzFile hands back the raw bytes of members that are not .npy files
        raise CLIError(f"{path}: member(s) {', '.join(repr(k) for k in not_arrays)} are not "
                       f"NumPy arrays (.npy files, as np.savez writes them)")
    problems = []
    wanted = {v.name for v in graph.inputs}
    missing = [f"%{v.name}: {v.type}" for v in graph.inputs if v.name not in arrays]
    if missing:
        problems.append(f"missing input{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    extra = sorted(k for k in arrays if k not in wanted)
    if extra:
        problems.append(f"unexpected array{'s' if len(extra) > 1 else ''} "
                        f"{', '.join(repr(k) for k in extra)} (graph inputs: "
                        f"{', '.join(v.name for v in graph.inputs) or 'none'})")
    result = []
    for value in graph.inputs:
        array = arrays.get(value.name)
        if array is None:
            continue
        if (value.type.dtype == ir.bf16 and array.dtype.kind == "V"
                and array.dtype.itemsize == 2):
            array = array.view(ir.bf16.numpy)  # .npz files keep bfloat16 as raw 2-byte items
        got = f"{_dtype_name(array)}[{','.join(str(d) for d in array.shape)}]"
        if array.shape != value.type.shape:
            problems.append(f"input %{value.name} expects {value.type}, got shape {got}")
        elif array.dtype != value.type.dtype.numpy:
            module = "ml_dtypes" if value.type.dtype == ir.bf16 else "np"
            problems.append(f"input %{value.name} expects {value.type}, got dtype {got} "
                            f"(convert it with .astype({module}.{value.type.dtype.numpy.name}))")
        result.append(array)
    if problems:
        raise CLIError(f"{path}: " + "; ".join(problems))
    return result


def _format_number(x) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    if isinstance(x, (np.floating, float)):
        return f"{float(x):.6g}"
    return str(int(x))


def summarize(label: str, array: np.ndarray) -> str:
    """One line per output: label, type, statistics, and the first few values."""
    text = f"{label}: {_dtype_name(array)}[{','.join(str(d) for d in array.shape)}]"
    if array.dtype == ir.bf16.numpy:  # (NumPy does not see ml_dtypes' bfloat16 as a float)
        array = array.astype(np.float32)  # exact
    flat = array.reshape(-1)
    if flat.size > 1:
        if array.dtype.kind == "f":
            finite = flat[np.isfinite(flat)]
            if finite.size:
                text += (f"  min={_format_number(finite.min())} max={_format_number(finite.max())}"
                         f" mean={_format_number(finite.mean(dtype=np.float64))}")
            n_nan, n_inf = int(np.isnan(flat).sum()), int(np.isinf(flat).sum())
            if n_nan or n_inf:
                text += f"  nan={n_nan} inf={n_inf}"
        elif array.dtype.kind in "iu":
            text += f"  min={flat.min()} max={flat.max()}"
        elif array.dtype.kind == "b":
            text += f"  true={int(flat.sum())}/{flat.size}"
    shown = ", ".join(_format_number(x) for x in flat[:_SHOWN_VALUES])
    more = ", ..." if flat.size > _SHOWN_VALUES else ""
    return text + f"  [{shown}{more}]"


def _output_labels(graph: ir.Graph) -> list[str]:
    """``out0 (%3)``: the npz key and the value's name as the IR text prints it."""
    printed = ir.printer.value_names(graph)
    return [f"out{i} ({printed.get(id(v), '?')})" for i, v in enumerate(graph.outputs)]


def _npz_path(out: str) -> str:
    """Where ``--out`` writes (NumPy adds ``.npz`` to a name without it); a directory is an
    error before anything runs."""
    if os.path.isdir(out):
        raise CLIError(f"--out {out!r} is a directory; give a file name (outputs.npz)")
    return out if out.endswith(".npz") else out + ".npz"


def cmd_run(args: argparse.Namespace) -> int:
    backend = chosen_backend(args)
    out = _npz_path(args.out) if args.out else None
    graph = load_graph(args.input)
    check_elements_read(graph, "<stdin>" if args.input == "-" else args.input)
    if args.inputs:
        arrays = load_inputs(graph, args.inputs)
    else:
        arrays = random_inputs([(f"%{v.name}", v.type) for v in graph.inputs], args.seed)
        if graph.inputs:
            print(f"inputs: random (seed {args.seed}): "
                  + ", ".join(f"%{v.name}: {v.type}" for v in graph.inputs))
    executable = backend.compile(graph)
    outputs = executable(*arrays)
    for label, array in zip(_output_labels(graph), outputs):
        print(summarize(label, np.asarray(array)))
    if out:
        try:
            np.savez(out, **{f"out{i}": np.asarray(a) for i, a in enumerate(outputs)})
        except OSError as exc:
            raise CLIError(f"cannot write {out!r}: {exc.strerror or exc}") from exc
        if out != args.out:
            print(f"outputs written to {out}")
    return 0


# -- opt and passes ---------------------------------------------------------------------------

def _load_plugins(paths: Sequence[str]) -> None:
    for path in paths:
        passes.load_plugin(path)


def describe_passes() -> str:
    """Every registered pass: name and doc, then one line per option (type, default, doc)."""
    lines = []
    for name in sorted(passes.PASSES):
        cls = passes.PASSES[name]
        lines.append(f"{name:<12} {cls.doc}".rstrip())
        for spec in passes.registry.option_specs(cls):
            default = "" if spec.default is None else f" = {passes.registry.format_value(spec.default)}"
            doc = f"  {spec.doc}" if spec.doc else ""
            lines.append(f"    {spec.text_name}: {spec.type_name}{default}{doc}")
    return "\n".join(lines)


def cmd_passes(args: argparse.Namespace) -> int:
    _load_plugins(args.plugin)
    print(describe_passes())
    return 0


def cmd_opt(args: argparse.Namespace) -> int:
    _load_plugins(args.plugin)
    if args.list_passes:
        print(describe_passes())
        return 0
    if args.input is None:
        raise CLIError("opt needs an input file (IN.gir, or - for stdin)")
    print_after = ("all" if args.print_after_all else "changed" if args.print_changed
                   else [n.strip() for text in args.print_after for n in text.split(",")
                         if n.strip()] or None)
    manager = passes.PassManager(args.passes, verify_each=args.verify_each,
                                 print_after=print_after, timing=args.timing,
                                 validate=args.validate, seed=args.seed,
                                 reproducer_dir=args.reproducer_dir)  # bad pipelines fail here
    graph = load_graph(args.input)
    if args.inputs:
        if not args.validate:
            raise CLIError("--inputs is used by --validate; add --validate")
        manager.inputs = {v.name: a for v, a in zip(graph.inputs, load_inputs(graph, args.inputs))}
    graph = manager.run(graph)
    try:
        ir.verify(graph)
    except ir.VerifyError as exc:
        raise CLIError(f"the graph is invalid after -p {args.passes}: {exc}") from exc
    _write_text(args.output, ir.to_text(graph, debug_info=args.debug_info))
    if args.timing:
        print(manager.timing_table(), file=sys.stderr)
    if args.report:
        for pass_ in manager.pipeline:
            report = getattr(pass_, "last_report", None)
            if report is not None:
                print(report, file=sys.stderr)
        if graph.plan is not None:
            print(f"plan: {graph.plan.summary()}", file=sys.stderr)
    return 0


# -- viz ----------------------------------------------------------------------------------------

def cmd_viz(args: argparse.Namespace) -> int:
    graph = load_graph(args.input)
    if args.passes:
        graph = passes.PassManager(args.passes, verify_each=True).run(graph)
    if args.output is None or args.output == "-":
        sys.stdout.write(viz.to_dot(graph) + "\n")
        return 0
    viz.write_picture(graph, args.output)  # GraphvizMissing: the DOT is written, exit 1
    return 0


# -- export -----------------------------------------------------------------------------------

def cmd_export(args: argparse.Namespace) -> int:
    try:
        from graphc.onnx.exporter import DEFAULT_OPSET, build_model, check_opset, save
    except ImportError as exc:
        raise CLIError(str(exc)) from exc
    opset = check_opset(DEFAULT_OPSET if args.opset is None else args.opset)
    graph = load_graph(args.input)
    if args.passes:
        graph = passes.PassManager(args.passes, verify_each=True).run(graph)
    n_outputs = len(graph.outputs)
    output_names = ["output"] if n_outputs == 1 else [f"output{i}" for i in range(n_outputs)]
    model = build_model(graph, n_outputs, [v.name for v in graph.inputs], output_names, {},
                        opset)  # an op without a lowering stops here: nothing is written
    try:
        save(model, args.output)
    except OSError as exc:
        raise CLIError(f"cannot write {args.output}: {exc.strerror or exc}") from exc
    return 0


# -- cache ------------------------------------------------------------------------------------

def cmd_cache(args: argparse.Namespace) -> int:
    from backends.llvm import cache
    if args.action == "info":
        found = cache.summary()
        print(f"location: {found.directory}")
        print(f"entries: {found.entries}")
        print(f"size: {_format_bytes(found.total_bytes)}")
    else:
        removed = cache.clear()
        print(f"removed {removed} entr{'y' if removed == 1 else 'ies'} from {cache.cache_dir()}")
    return 0


# -- the parser and main ----------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS,
                        help="show the Python traceback of an error instead of one message")
    parser = argparse.ArgumentParser(
        prog=PROG, parents=[common],
        description="graphc: trace Python to IR, run and optimize .gir files.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    dump = commands.add_parser(
        "dump", parents=[common], help="trace FILE.py:FUNC on random inputs and print its IR",
        description="Imports FILE.py, traces FUNC (a function or module object; dotted paths "
                    "allowed) on random inputs of the --arg types and prints the IR. Random "
                    "floats are standard normal, integers uniform in [0, 10), bools fair.")
    dump.add_argument("target", metavar="FILE.py:FUNC")
    dump.add_argument("--arg", action="append", default=[], metavar="TYPE",
                      help="type of the next positional argument, e.g. f32[32,784], i64[32], "
                           "f32[] (repeat once per argument)")
    dump.add_argument("--debug-info", action="store_true",
                      help="print source locations (loc(\"file\":line)) after each node")
    dump.add_argument("--seed", type=parse_seed, default=0,
                      help="seed for random inputs (default 0)")
    dump.add_argument("--stage", choices=("traced", "optimized"), default="traced",
                      help="traced (default): the raw trace; optimized: after graphc.compile's "
                           "default pipeline (or -p) and the backend's lowering")
    dump.add_argument("-p", "--passes", "--pipeline", dest="passes", metavar="PIPELINE",
                      help="run this pipeline on the traced graph, e.g. dce (see 'graphc "
                           "passes'); with --stage optimized it replaces the default pipeline")
    dump.add_argument("--backend", default=None,
                      help=f"whose lowering --stage optimized runs (default: graphc.compile's, "
                           f"{_DEFAULT_BACKEND_HELP}; registered: "
                           f"{', '.join(backends.available())})")
    dump.add_argument("--code", action="store_true",
                      help="after the IR, print the code --backend generates from it (llvm: "
                           "the kernel program and the LLVM IR); use with --stage optimized")
    dump.add_argument("-o", "--output", metavar="OUT.gir",
                      help="write the IR here (default stdout)")
    dump.set_defaults(handler=cmd_dump)

    run = commands.add_parser(
        "run", parents=[common], help="run an IR file and summarize its outputs",
        description="Parses and verifies IN.gir, runs it on inputs from an .npz archive (keys "
                    "are the graph's input names) or on random inputs, and prints a summary "
                    "of each output. A node that would read more than 2**36 elements (a "
                    "reduction over a huge broadcast_to, say) is refused before anything runs.")
    run.add_argument("input", metavar="IN.gir", help="the IR file, or - for stdin")
    run.add_argument("--inputs", metavar="X.npz", help="input arrays by name (np.savez)")
    run.add_argument("--backend", default=None,
                     help=f"backend to compile with (default: {_DEFAULT_BACKEND_HELP}; "
                          f"registered: {', '.join(backends.available())})")
    run.add_argument("--out", metavar="Y.npz", help="write the outputs as out0, out1, ...")
    run.add_argument("--seed", type=parse_seed, default=0,
                     help="seed for random inputs when --inputs is not given (default 0)")
    run.set_defaults(handler=cmd_run)

    opt = commands.add_parser(
        "opt", parents=[common], help="run passes over an IR file and print the result",
        description="Parses and verifies IN.gir, runs the pipeline and prints (or writes) the "
                    "IR. IR dumps and the timing table go to stderr.")
    opt.add_argument("input", metavar="IN.gir", nargs="?", help="the IR file, or - for stdin")
    opt.add_argument("-p", "--passes", metavar="PIPELINE", default="",
                     help="comma-separated passes with options, e.g. "
                          "'dce,autodiff{wrt=[0,2]}' (see 'graphc passes')")
    opt.add_argument("-o", "--output", metavar="OUT.gir", help="write the IR here (default stdout)")
    opt.add_argument("--debug-info", action="store_true", help="print source locations")
    opt.add_argument("--list-passes", action="store_true",
                     help="list the passes and exit (as 'graphc passes')")
    opt.add_argument("--verify-each", action="store_true", help="verify the IR after every pass")
    printing = opt.add_mutually_exclusive_group()
    printing.add_argument("--print-after-all", action="store_true",
                          help="print the IR after every pass")
    printing.add_argument("--print-after", action="append", default=[], metavar="NAME",
                          help="print the IR after each run of pass NAME (repeatable)")
    printing.add_argument("--print-changed", action="store_true",
                          help="print the IR after each pass that changed it")
    opt.add_argument("--timing", action="store_true", help="print the time spent in each pass")
    opt.add_argument("--report", action="store_true",
                     help="print what passes report (remat: bytes saved; plan: arena size)")
    opt.add_argument("--validate", action="store_true",
                     help="run the interpreter before and after each pass and stop at the first "
                          "pass that changes the results, writing a reproducer")
    opt.add_argument("--inputs", metavar="X.npz",
                     help="with --validate: the inputs to validate on (default: seeded random "
                          "inputs in each op's domain)")
    opt.add_argument("--seed", type=parse_seed, default=0,
                     help="seed of the --validate inputs (default 0)")
    opt.add_argument("--reproducer-dir", metavar="DIR",
                     help="with --validate: where to write the reproducer (default: a new "
                          "temporary directory)")
    opt.add_argument("--plugin", action="append", default=[], metavar="FILE.py",
                     help="import FILE.py first, to register passes it defines (repeatable)")
    opt.set_defaults(handler=cmd_opt)

    viz_command = commands.add_parser(
        "viz", parents=[common], help="draw an IR file (fused groups as clusters)",
        description="Parses and verifies IN.gir and draws it: one box per op with its result "
                    "types, fused nodes as clusters around their bodies. OUT.dot (or .gv) is "
                    "Graphviz text; OUT.svg, OUT.png and OUT.pdf are drawn with Graphviz's "
                    "dot program. Without Graphviz the DOT text is written next to OUT and "
                    "the command exits with status 1, saying how to install it.")
    viz_command.add_argument("input", metavar="IN.gir", help="the IR file, or - for stdin")
    viz_command.add_argument("-o", "--output", metavar="OUT.{dot,svg,png,pdf}",
                             help="where to draw it (default: DOT text on stdout)")
    viz_command.add_argument("-p", "--passes", metavar="PIPELINE",
                             help="run these passes first, e.g. fuse")
    viz_command.set_defaults(handler=cmd_viz)

    passes_command = commands.add_parser(
        "passes", parents=[common], help="list the passes with their docs and options",
        description="Lists every registered pass: its one-line doc and each option with its "
                    "type and default, as written in a pipeline (NAME{option=value,...}).")
    passes_command.add_argument("--plugin", action="append", default=[], metavar="FILE.py",
                                help="import FILE.py first, to list the passes it registers")
    passes_command.set_defaults(handler=cmd_passes)

    export_command = commands.add_parser(
        "export", parents=[common], help="write an IR file as an ONNX model",
        description="Parses and verifies IN.gir and writes it as an ONNX model: its inputs "
                    "keep their names, its outputs are 'output' (or output0, output1, ...). "
                    "An op ONNX cannot express is an error naming the op and its IR line, "
                    "and nothing is written. Needs the onnx package (graphc[onnx]).")
    export_command.add_argument("input", metavar="IN.gir", help="the IR file, or - for stdin")
    export_command.add_argument("-o", "--output", metavar="OUT.onnx", required=True,
                                help="the ONNX file to write")
    export_command.add_argument("-p", "--passes", metavar="PIPELINE",
                                help="run this pass pipeline first (as written for opt)")
    export_command.add_argument("--opset", type=int, metavar="N",
                                help="the ONNX opset to write (default 17)")
    export_command.set_defaults(handler=cmd_export)

    cache_command = commands.add_parser(
        "cache", parents=[common], help="show or clear the on-disk cache of compiled code",
        description="The llvm backend keeps the object code it compiles in $GRAPHC_CACHE_DIR "
                    "(default $XDG_CACHE_HOME/graphc, else ~/.cache/graphc), and the numba "
                    "and cuda backends their generated modules and numba's machine code for "
                    "them. 'info' prints its location, number of entries and size; 'clear' "
                    "removes the entries.")
    cache_command.add_argument("action", choices=("info", "clear"))
    cache_command.set_defaults(handler=cmd_cache)

    profiler_cli.add_command(commands, common)
    launch_command = commands.add_parser(
        "launch", parents=[common], help="run a script as N MPI processes (data parallel)",
        description="Runs SCRIPT as N processes through mpiexec (python -m mpi4py SCRIPT ARGS), "
                    "for graphc.distributed; the exit status is mpiexec's. Needs "
                    "pip install graphc[distributed].")
    launch_command.add_argument("-n", "--nproc", type=int, required=True, metavar="N",
                                help="how many processes (ranks) to start")
    launch_command.add_argument("--hostfile", metavar="FILE",
                                help="the machines to run on, one host name a line (MPI's "
                                     "host file)")
    launch_command.add_argument("script", metavar="SCRIPT", help="the Python script to run")
    launch_command.add_argument("script_args", nargs=argparse.REMAINDER, metavar="ARGS",
                                help="arguments passed to the script")
    launch_command.set_defaults(handler=cmd_launch)
    return parser


def cmd_launch(args: argparse.Namespace) -> int:
    from graphc.distributed.launch import launch  # starts nothing at import, but only here
    return launch(args.nproc, args.script, args.script_args, hostfile=args.hostfile)


# Errors that are the user's to fix: reported as one message, without a traceback.
_USER_ERRORS = (CLIError, ir.IRError, GraphcError, passes.PassError, backends.BackendError,
                ExecutionError)


def _message(exc: BaseException) -> str:
    if isinstance(exc, ir.ParseError):
        return str(exc)  # file:line:col: error: ... plus the source line and a caret
    return f"{PROG}: error: {exc}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command line on ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    args = build_parser().parse_args(argv)
    show_traceback = getattr(args, "traceback", False)
    try:
        return args.handler(args)
    except _USER_ERRORS as exc:
        if show_traceback:
            raise
        print(_message(exc), file=sys.stderr)
        return 1
    except MemoryError as exc:  # inputs or a graph too large for this machine
        if show_traceback:
            raise
        print(f"{PROG}: error: out of memory: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `graphc dump ... | head`: the reader left; stop quietly (and keep Python from
        # complaining again when it flushes stdout at exit).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        if show_traceback:
            raise
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug in graphc itself: still one line, with a way to see more
        if show_traceback:
            raise
        print(f"{PROG}: internal error: {type(exc).__name__}: {exc} (this is a bug in graphc; "
              f"run with --traceback to see where)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
