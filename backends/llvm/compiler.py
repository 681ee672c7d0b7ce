"""LLVM module -> native code in this process, reusing code compiled before.

A :class:`CachingCompiler` looks a module up by its cache key (:func:`backends.llvm.cache.
cache_key`: the LLVM IR text, the options, the target, the versions) first among the modules
this compiler has compiled in this process (``memory``), then in the on-disk cache (``disk``),
and compiles it only when neither has it (``fresh``), writing the object code to disk for the
next process. The :class:`~backends.base.CompileInfo` it returns says which, and how long each
stage took.

Making a module and printing its text cost time too, so a caller that can name the module by a
shorter text that decides it entirely (the llvm backend: the graph's IR text, its call plan,
its options and a fingerprint of the code generator) uses :meth:`CachingCompiler.
compile_source`, which renders the module only on a miss.

    >>> import tempfile
    >>> from pathlib import Path
    >>> from llvmlite import ir
    >>> from backends.llvm.cache import ObjectCache
    >>> def module():
    ...     m = ir.Module(name="demo")
    ...     f = ir.Function(m, ir.FunctionType(ir.IntType(64), []), "answer")
    ...     ir.IRBuilder(f.append_basic_block()).ret(ir.Constant(ir.IntType(64), 42))
    ...     return m
    >>> disk = ObjectCache(Path(tempfile.mkdtemp()))
    >>> compiled = CachingCompiler(disk).compile(module(), exports=["answer"])
    >>> compiled.info.source, CachingCompiler(disk).compile(module(), ["answer"]).info.source
    ('fresh', 'disk')
    >>> keyed = CachingCompiler(disk).compile_source("the answer, v1", module, ["answer"])
    >>> again = CachingCompiler(disk).compile_source("the answer, v1", module, ["answer"])
    >>> keyed.info.source, again.info.source, again.llvm_ir is None
    ('fresh', 'disk', True)
"""
from __future__ import annotations

import collections
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from llvmlite import ir  # type: ignore[import-untyped]

from backends.base import CompileInfo
from backends.llvm.cache import CachedObject, ObjectCache, cache_key, code_fingerprint
from backends.llvm.jit import (
    JitModule,
    codegen_settings,
    compile_module,
    load_object,
    set_host_target,
)

MEMORY_ENTRIES = 256  # compiled modules kept per compiler (least recently used go first)


@dataclass
class Compiled:
    """A module's code in this process, its LLVM IR text (as handed to the optimizer; ``None``
    when :meth:`CachingCompiler.compile_source` found the code without rendering the module)
    and how it was obtained."""

    jit: JitModule
    llvm_ir: str | None
    info: CompileInfo


def imported_symbols(module: ir.Module) -> tuple[str, ...]:
    """The functions ``module`` declares but does not define (libm, BLAS, ...): what its object
    code needs from the process. LLVM intrinsics are not symbols; the C library functions that
    codegen lowers some of them to (``expf``, ``memset``) are in every process, while symbols
    registered at run time (``llvm.add_symbol``) must be declared, so they are checked."""
    return tuple(sorted(f.name for f in module.functions
                        if f.is_declaration and not f.name.startswith("llvm.")))


class CachingCompiler:
    """Compiles LLVM modules, reusing code by key: from memory, then from ``disk`` (``None``:
    no disk cache). ``speed_level`` and ``loop_unrolling`` tune LLVM's pipeline
    (:func:`~backends.llvm.jit.compile_module`)."""

    def __init__(self, disk: ObjectCache | None, speed_level: int = 2,
                 loop_unrolling: bool = False):
        self.disk, self.speed_level, self.loop_unrolling = disk, speed_level, loop_unrolling
        self._memory: collections.OrderedDict[str, JitModule] = collections.OrderedDict()
        self._functions: dict[str, Any] = {}  # name -> ctypes function (see function())

    def options(self) -> dict[str, object]:
        """The options that change the code made from the same IR (part of the key)."""
        return {"speed_level": self.speed_level, "loop_unrolling": self.loop_unrolling}

    def function(self, name: str, render: Callable[[], ir.Module], prototype: Any) -> Any:
        """The function ``name`` of a hand-written module (a GEMM or index loop) that
        ``render()`` makes, as ``prototype`` (a ctypes ``CFUNCTYPE``) of its address; made,
        loaded or compiled once per compiler. The module is keyed by ``name`` and the code
        generator's :func:`~backends.llvm.cache.code_fingerprint`, so ``name`` must decide it
        entirely. The function keeps the code that holds it alive."""
        found = self._functions.get(name)
        if found is None:
            compiled = self.compile_source(f"{name} code {code_fingerprint()}", render, [name])
            found = prototype(compiled.jit.address(name))
            found.machine_code = compiled.jit  # freed with the function
            self._functions[name] = found
        return found

    def compile(self, module: ir.Module, exports: Sequence[str],
                seconds: dict[str, float] | None = None) -> Compiled:
        """``module``'s code, with every function named in ``exports`` found in it, keyed by
        its LLVM IR text. ``seconds`` holds the stages the caller timed before (they lead the
        report)."""
        seconds = dict(seconds or {})
        start = time.perf_counter()
        set_host_target(module)
        llvm_ir = str(module)
        seconds["ir text"] = time.perf_counter() - start
        return self._compile(llvm_ir, lambda: (module, llvm_ir), exports, seconds, llvm_ir)

    def compile_source(self, source: str, render: Callable[[], ir.Module],
                       exports: Sequence[str],
                       seconds: dict[str, float] | None = None) -> Compiled:
        """The code of the module ``render()`` makes, keyed by ``source``: a text that decides
        that module entirely (two different modules must never share a source). ``render`` is
        called only when no cache has the code; then ``Compiled.llvm_ir`` is its text, else
        ``None``."""
        seconds = dict(seconds or {})

        def rendered() -> tuple[ir.Module, str]:
            start = time.perf_counter()
            module = render()
            printed = time.perf_counter()
            set_host_target(module)
            llvm_ir = str(module)
            seconds["render"] = printed - start
            seconds["ir text"] = time.perf_counter() - printed
            return module, llvm_ir
        return self._compile(source, rendered, exports, seconds)

    def _compile(self, source: str, rendered: Callable[[], tuple[ir.Module, str]],
                 exports: Sequence[str], seconds: dict[str, float],
                 llvm_ir: str | None = None) -> Compiled:
        """Memory, then disk, then a fresh compile of ``rendered()`` (the module and its
        text), all under the key of ``source``; ``llvm_ir``: the text, when known already."""
        start = time.perf_counter()
        key = cache_key(source, self.options(), codegen_settings())
        seconds["key"] = time.perf_counter() - start
        jit = self._memory.get(key)
        if jit is not None:
            self._memory.move_to_end(key)
            return Compiled(jit, llvm_ir, CompileInfo("memory", seconds, key=key))
        note = ""
        if self.disk is not None:
            jit, note = self._load(key, exports, seconds)
            if jit is not None:
                self._remember(key, jit)
                return Compiled(jit, llvm_ir, CompileInfo("disk", seconds, key=key))
        module, llvm_ir = rendered()
        objects: list[bytes] = []
        jit = compile_module(llvm_ir, self.speed_level, on_object=objects.append,
                             loop_unrolling=self.loop_unrolling)
        seconds.update(jit.seconds)
        if self.disk is not None and len(objects) == 1:
            start = time.perf_counter()
            self.disk.store(key, CachedObject(objects[0], tuple(exports),
                                              imported_symbols(module), jit.optimized_ir))
            seconds["cache write"] = time.perf_counter() - start
        self._remember(key, jit)
        return Compiled(jit, llvm_ir, CompileInfo("fresh", seconds, note=note, key=key))

    def _load(self, key: str, exports: Sequence[str],
              seconds: dict[str, float]) -> tuple[JitModule | None, str]:
        """The code of ``key`` from disk, or ``(None, why not)`` (why is empty for a plain
        miss). The entry's integrity was checked by the store; here, that it links: the
        symbols it imports exist in this process and it defines every export."""
        assert self.disk is not None
        start = time.perf_counter()
        entry, why_not = self.disk.load(key)
        if entry is None:
            return None, "" if why_not == "no entry" else f"disk cache: {why_not}"
        if set(exports) - set(entry.exports):
            return None, "disk cache: the entry lacks functions this program calls"
        try:
            jit = load_object(entry.object_code, entry.optimized_ir, entry.imports)
        except LookupError as exc:
            return None, f"disk cache: {exc}"
        missing = [name for name in exports if not jit.address(name)]
        if missing:
            return None, f"disk cache: functions {', '.join(missing)} not found after linking"
        seconds["cache load"] = time.perf_counter() - start
        return jit, ""

    def _remember(self, key: str, jit: JitModule) -> None:
        self._memory[key] = jit
        while len(self._memory) > MEMORY_ENTRIES:
            self._memory.popitem(last=False)


__all__ = ["CachingCompiler", "Compiled", "imported_symbols"]
