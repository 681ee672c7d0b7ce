"""LLVM IR -> machine code in this process: llvmlite's MCJIT, optimized for the host CPU.

Code is generated for the host's triple, CPU name and CPU features.
Optimization is LLVM's default ``O2`` pipeline without loop unrolling (see
:func:`compile_module`); no fast-math flags are set anywhere, and the target machine keeps
LLVM's default of no FMA contraction, so IEEE results are kept.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import llvmlite.binding as llvm  # type: ignore[import-untyped]
from llvmlite import ir  # type: ignore[import-untyped]

# AVX-512 CPUs whose cores lower their clock for 512-bit instructions enough that LLVM's
# preference for 256-bit vectors pays off there (Intel's first AVX-512 server cores).
DOWNCLOCKING_AVX512_CPUS = frozenset({"skylake-avx512", "cascadelake", "cooperlake"})


def vector_features(cpu: str, features: str) -> str:
    """``features`` with LLVM's preference for 256-bit vectors lifted on AVX-512 CPUs that do
    not lower their clock much for 512-bit ones (LLVM keeps it for all of them). On an Emerald
    Rapids core the GELU*sigmoid chain on 4M floats ran 1.3-1.5x faster with 512-bit vectors
    (3 runs side by side in one process); the attention, CNN and MLP steps were unchanged
    (0.98-1.04x: GEMM-bound, and OpenBLAS picks its own kernels).

        >>> vector_features("sapphirerapids", "+avx512f,+fma")
        '+avx512f,+fma,-prefer-256-bit'
        >>> vector_features("cascadelake", "+avx512f,+fma")
        '+avx512f,+fma'
        >>> vector_features("znver3", "+avx2,-avx512f")
        '+avx2,-avx512f'
    """
    if "+avx512f" not in features.split(",") or cpu in DOWNCLOCKING_AVX512_CPUS:
        return features
    return features + ",-prefer-256-bit"


@functools.cache
def _host() -> tuple[llvm.Target, str, str]:
    """The host's target, CPU name and CPU features (see :func:`vector_features`), looked up
    once."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    cpu = llvm.get_host_cpu_name()
    return target, cpu, vector_features(cpu, llvm.get_host_cpu_features().flatten())


def host_features() -> str:
    """The CPU features code is generated for (``+avx512f,...``), as LLVM spells them."""
    return _host()[2]


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


def set_host_target(module: ir.Module) -> None:
    """Stamps the host's triple and data layout on ``module`` (its text then says them)."""
    module.triple = llvm.get_process_triple()
    module.data_layout = data_layout()


def codegen_settings() -> dict[str, object]:
    """Everything besides the IR and the optimization level that decides the machine code
    :func:`compile_module` makes: part of the on-disk cache key. Keep it in step with
    :func:`target_machine`."""
    _, cpu, features = _host()
    return {"triple": llvm.get_process_triple(), "cpu": cpu, "features": features,
            "llvm": ".".join(map(str, llvm.llvm_version_info)), "codegen_opt": 2, "jit": True}


def compile_module(module: ir.Module | str, speed_level: int = 2,
                   on_object: Callable[[bytes], None] | None = None,
                   loop_unrolling: bool = False) -> JitModule:
    """Verifies, optimizes (``O<speed_level>``) and JIT-compiles ``module`` (or its text, with
    the host target set); ``on_object`` receives the object code the JIT made (to cache it).

    ``loop_unrolling`` is off by default: on the kernels of an MLP training step it doubled
    the object code and the time to optimize and generate it (0.83 s against 0.40 s of CPU)
    and made the kernels no faster (vectorized loops already process a vector per
    iteration; LLVM fully unrolled short outer loops around them). See
    ``benchmarks/compile_time.py`` and docs/DESIGN-NOTES.md."""
    machine = target_machine()
    if isinstance(module, ir.Module):
        set_host_target(module)
    seconds = {}
    start = time.perf_counter()
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()
    seconds["parse"] = time.perf_counter() - start
    start = time.perf_counter()
    options = llvm.create_pipeline_tuning_options(speed_level=speed_level)
    options.loop_unrolling = loop_unrolling
    passes = llvm.create_pass_builder(machine, options)
    passes.getModulePassManager().run(parsed, passes)
    seconds["optimize"] = time.perf_counter() - start
    start = time.perf_counter()
    engine = llvm.create_mcjit_compiler(parsed, machine)
    if on_object is not None:
        engine.set_object_cache(notify_func=lambda _module, code: on_object(bytes(code)))
    engine.finalize_object()
    seconds["codegen"] = time.perf_counter() - start
    return JitModule(engine, str(parsed), seconds)


def load_object(object_code: bytes, optimized_ir: str, imports: tuple[str, ...] = ()) -> JitModule:
    """Links ``object_code`` (made by :func:`compile_module` for this host) into this process.
    The caller must have checked it is intact: LLVM trusts it. ``LookupError`` if a symbol in
    ``imports`` cannot be resolved here (linking would abort the process)."""
    start = time.perf_counter()
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), target_machine())
    # the process's own symbols (libm, ...) are searchable once an engine exists
    missing = [name for name in imports if not llvm.address_of_symbol(name)]
    if missing:
        raise LookupError(f"symbols {', '.join(missing)} not found in this process")
    engine.add_object_file(llvm.ObjectFileRef.from_data(object_code))
    engine.finalize_object()
    return JitModule(engine, optimized_ir, {"link": time.perf_counter() - start})
