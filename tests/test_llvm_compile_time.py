"""What the llvm backend does to compile fast changes no result.

A kernel's loop nest is generated once (kernels identical but for their buffers share one
function), kernels of few iterations are not optimized (``optnone``), and ``import graphc``
loads no code generator. Expected values are computed here with NumPy.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import graphc
import graphc.nn.functional as F
import ir
from backends.kernel import build_program
from backends.llvm import render
from backends.llvm.backend import LLVMBackend
from backends.llvm.render import kernel_structure
from conftest import TOLERANCES

ROOT = Path(__file__).resolve().parents[1]
TWO_RELUS = '''func @f(%a: f32[6], %b: f32[6]) -> (f32[6], f32[6]) {
  %0: f32[6] = relu %a
  %1: f32[6] = relu %b
  return %0, %1
}'''


def compile_graph(text: str):
    return LLVMBackend(disk=None).compile(ir.parse(text))


def loop_functions(llvm_ir: str) -> list[str]:
    """The kernel and row group functions that hold a loop nest (not the one-line calls to
    another)."""
    return [line for line in llvm_ir.splitlines()
            if line.startswith(('define void @"k', 'define void @"r')) and "noinline" in line]


def test_kernels_identical_but_for_their_buffers_share_one_loop_nest():
    executable = compile_graph(TWO_RELUS)
    assert len(executable.program.kernels) == 2
    assert len(loop_functions(executable.llvm_ir)) == 1
    assert 'alwaysinline' in executable.llvm_ir
    a = np.array([-2, -1, 0, 1, 2, 3], np.float32)
    b = np.array([5, -5, 0.5, -0.5, 7, -7], np.float32)
    relu_a, relu_b = executable(a, b)
    np.testing.assert_array_equal(relu_a, np.maximum(a, 0))
    np.testing.assert_array_equal(relu_b, np.maximum(b, 0))


def test_kernels_of_another_shape_or_dtype_or_body_are_not_shared():
    variants = [TWO_RELUS.replace("%b: f32[6]", "%b: f32[5]").replace("%1: f32[6]", "%1: f32[5]")
                .replace("(f32[6], f32[6])", "(f32[6], f32[5])"),
                TWO_RELUS.replace("%b: f32[6]", "%b: f64[6]").replace("%1: f32[6]", "%1: f64[6]")
                .replace("(f32[6], f32[6])", "(f32[6], f64[6])"),
                TWO_RELUS.replace("relu %b", "neg %b")]
    for text in variants:
        graph = ir.parse(text)
        first, second = build_program(graph).kernels
        assert kernel_structure(first) != kernel_structure(second)
        executable = LLVMBackend(disk=None).compile(graph)
        assert len(loop_functions(executable.llvm_ir)) == 2
        a = np.linspace(-3, 3, 6, dtype=np.float32)
        b_type = graph.inputs[1].type
        b = np.linspace(-2, 2, b_type.shape[0]).astype(b_type.dtype.numpy)
        relu_a, second_out = executable(a, b)
        np.testing.assert_array_equal(relu_a, np.maximum(a, 0))
        expected = -b if "neg" in text else np.maximum(b, 0)
        np.testing.assert_array_equal(second_out, expected)


def test_kernels_that_differ_only_in_a_guarded_loads_pad_do_not_share_code():
    # two pads of one shape, as guarded loads that read their pad value outside the input:
    # sharing one loop nest gave the second pad the first one's value
    @graphc.compile(backend="llvm")
    def padded(x, y):
        return F.pad(x, (1, 1, 1, 1), value=0.0) * 2.0, F.pad(y, (1, 1, 1, 1), value=5.0) * 2.0

    ones = graphc.from_numpy(np.ones((3, 4), np.float32))
    zeros_border, fives_border = padded(ones, ones)
    guarded = [k for k in padded.entries[-1].executable.program.kernels
               if any(ld.bounds for ld in k.loads)]
    assert len(guarded) == 2 and kernel_structure(guarded[0]) != kernel_structure(guarded[1])
    np.testing.assert_array_equal(zeros_border.numpy(), np.pad(np.full((3, 4), 2.0), 1))
    np.testing.assert_array_equal(fives_border.numpy(),
                                  np.pad(np.full((3, 4), 2.0), 1, constant_values=10.0))


def test_compiled_functions_that_share_kernels_compute_each_output():
    def two_relus(a, b):
        return a.relu(), (b * 2).relu(), (a * 2).relu()

    compiled = graphc.compile(two_relus, backend="llvm")
    a = np.array([-1.5, 0.25, 3.0, -0.0], np.float32)
    b = np.array([2.0, -4.0, 0.5, 1.0], np.float32)
    got = compiled(graphc.from_numpy(a), graphc.from_numpy(b))
    expected = (np.maximum(a, 0), np.maximum(2 * b, 0), np.maximum(2 * a, 0))
    for tensor, want in zip(got, expected):
        np.testing.assert_array_equal(tensor.numpy(), want)


MATH = '''func @m(%x: f32[8,16], %y: f32[8,16]) -> (f32[8,16], f32[8], f32[8,16]) {
  %0: f32[8,16] = exp %x
  %1: f32[8,16] = tanh %0
  %2: f32[8,16] = sigmoid %y
  %3: f32[8,16] = div %1, %2
  %4: f32[8,16] = log %2
  %5: f32[8,16] = add %3, %4
  %6: f32[8] = sum %5 {axes=[1]}
  %7: f32[8,16] = erf %x
  return %5, %6, %7
}'''


def compile_math(monkeypatch, optimize_min_work: int):
    monkeypatch.setattr(render, "OPTIMIZE_MIN_WORK", optimize_min_work)
    return LLVMBackend(disk=None, fast_math=True).compile(ir.parse(MATH))


def test_unoptimized_small_kernels_compute_the_same_bits_as_optimized_ones(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 16)).astype(np.float32)
    y = rng.normal(size=(8, 16)).astype(np.float32)
    x[0, :4] = [np.nan, np.inf, -np.inf, -0.0]
    optimized = compile_math(monkeypatch, optimize_min_work=0)
    unoptimized = compile_math(monkeypatch, optimize_min_work=1 << 40)
    assert "optnone" not in optimized.llvm_ir
    assert len(loop_functions(unoptimized.llvm_ir)) == unoptimized.llvm_ir.count("optnone")
    for fast, slow in zip(optimized(x, y), unoptimized(x, y)):
        np.testing.assert_array_equal(fast.view(np.uint32), slow.view(np.uint32))
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    sig = 1 / (1 + np.exp(-y64))
    expected = np.tanh(np.exp(x64)) / sig + np.log(sig)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(unoptimized(x, y)[0], expected, **TOLERANCES["f32"])


def test_only_kernels_of_few_iterations_go_unoptimized():
    text = '''func @s(%x: f32[4], %big: f32[64,128]) -> (f32[4], f32[64,128]) {
      %0: f32[4] = neg %x
      %1: f32[64,128] = neg %big
      return %0, %1
    }'''
    program = build_program(ir.parse(text))
    assert [render.kernel_work(k) for k in program.kernels] == [4, 64 * 128]
    assert 64 * 128 >= render.OPTIMIZE_MIN_WORK > 4
    small, big = (line for line in compile_graph(text).llvm_ir.splitlines()
                  if line.startswith('define void @"k'))
    assert "optnone" in small and "optnone" not in big


def test_small_kernels_of_costly_functions_are_optimized():
    """A softmax's exp over a batch of 256 by 10 classes: 2560 iterations, below the plain
    threshold, but each an inlined polynomial that unoptimized code runs element by element
    (4x slower): optimized, and vectorized; a plain negation of the same size is not."""
    text = '''func @s(%x: f32[256,10]) -> (f32[256,10], f32[256,10]) {
      %0: f32[256,10] = exp %x
      %1: f32[256,10] = neg %x
      return %0, %1
    }'''
    kernels = build_program(ir.parse(text)).kernels
    assert [render.kernel_work(k) for k in kernels] == [2560, 2560]
    assert 2560 < render.OPTIMIZE_MIN_WORK
    assert [render.optimizing_pays(k) for k in kernels] == [True, False]
    costly, plain = (line for line in compile_graph(text).llvm_ir.splitlines()
                     if line.startswith('define void @"k'))
    assert "optnone" not in costly and "optnone" in plain


def test_import_graphc_loads_no_code_generator_and_no_networkx():
    probe = ("import sys, graphc; print(sorted(m for m in ('llvmlite', 'numba', 'networkx') "
             "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
