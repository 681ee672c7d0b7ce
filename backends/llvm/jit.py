"""LLVM IR -> machine code in this process: llvmlite's MCJIT, optimized for the host CPU.

Code is generated for the host's triple, CPU name and CPU features.
Optimization is LLVM's default ``O2`` pipeline; no fast-math flags are set anywhere, and the
target machine keeps LLVM's default of no FMA contraction, so IEEE results are kept.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import llvmlite.binding as llvm  # type: ignore[import-untyped]
from llvmlite import ir  # type: ignore[import-untyped]


@functools.cache
def _host() -> tuple[llvm.Target, str, str]:
    """The host's target, CPU name and CPU features, looked up once."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target, llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


def target_machine() -> llvm.TargetMachine:
    """A new target machine for the host (an MCJIT engine takes ownership of the one it gets,
    so each compile needs its own)."""
    target, cpu, features = _host()
    return target.create_target_machine(cpu=cpu, features=features, opt=2, jit=True)


@functools.cache
def data_layout() -> str:
    """The host machine's data layout, read once."""
    return str(target_machine().target_data)


@dataclass
class JitModule:
    """A module compiled into this process: look its functions up by name. Keeps the engine
    (and so the machine code) alive as long as it lives."""

    engine: llvm.ExecutionEngine
    optimized_ir: str
    seconds: dict[str, float] = field(default_factory=dict)  # stage -> time it took

    def address(self, name: str) -> int:
        return self.engine.get_function_address(name)


def compile_module(module: ir.Module, speed_level: int = 2) -> JitModule:
    """Verifies, optimizes (``O<speed_level>``) and JIT-compiles ``module``."""
    machine = target_machine()
    module.triple = llvm.get_process_triple()
    module.data_layout = data_layout()
    seconds = {}
    start = time.perf_counter()
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()
    seconds["parse"] = time.perf_counter() - start
    start = time.perf_counter()
    options = llvm.create_pipeline_tuning_options(speed_level=speed_level)
    passes = llvm.create_pass_builder(machine, options)
    passes.getModulePassManager().run(parsed, passes)
    seconds["optimize"] = time.perf_counter() - start
    start = time.perf_counter()
    engine = llvm.create_mcjit_compiler(parsed, machine)
    engine.finalize_object()
    seconds["codegen"] = time.perf_counter() - start
    return JitModule(engine, str(parsed), seconds)
