"""The llvm backend: kernel programs rendered to LLVM IR with llvmlite, JIT-compiled for the host.

``backends.get("llvm")`` imports :mod:`backends.llvm.backend` on first use, so ``import graphc``
never loads llvmlite. Modules: ``scalar`` (one rule per scalar primitive), ``half`` (f16/bf16
<-> f32 conversions), ``render`` (kernels -> one LLVM module), ``jit`` (optimize and compile in
this process), ``compiler`` (reuse compiled code from memory or disk), ``cache`` (the on-disk
object cache), ``backend`` (the executable).
"""
