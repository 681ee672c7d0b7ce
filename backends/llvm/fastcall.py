"""The generated call wrapper: a compiled graph called from Python as one native function.

Calling an executable through ctypes costs microseconds (argument conversion, ``np.empty`` per
output, the env dict). For a program that is one native segment (plus constants), the module
also gets ``ptr @fastcall(ptr self, ptr args, i64 nargs)``, a CPython ``METH_FASTCALL``
function made callable with ``PyCFunction_NewEx``. Called with the input arrays, it

- checks each argument is exactly an ``ndarray`` (not a subclass) of the graph input's dtype
  (the builtin descriptor object), rank and shape, C-contiguous and aligned (the kernels'
  loads assume their element type's alignment), by reading the
  ``PyArrayObject`` fields; anything else returns ``None``, and the caller takes the checked
  path (which converts, or raises the usual error);
- allocates the outputs by calling NumPy's ``PyArray_New``, places temporaries in an arena on
  the stack (or the heap when large), runs the kernels (releasing the GIL when they do enough
  work to be worth it), and returns the tuple of outputs.

Nothing process-specific is in the IR (so the on-disk cache key and the cached object code stay
valid in a new process): the addresses it needs (``PyArray_Type``, NumPy's and CPython's
functions, the dtype descriptors, the constants' data) are in a *runtime table*, a uint64
array passed as the function's ``self``, whose data pointer the wrapper reads where the
segments read any array's (``call.ARRAY_DATA_OFFSET``). The table object also keeps the method
definition and the JIT'd code alive for as long as the function object lives.

    >>> import backends, ir, numpy as np
    >>> run = backends.get("llvm").compile(ir.parse('''func @f(%x: f32[4]) -> (f32[4]) {
    ...   %0: f32[4] = relu %x
    ...   return %0
    ... }'''))
    >>> run.fast_call(np.array([-1, 2, -3, 4], np.float32))
    (array([0., 2., 0., 4.], dtype=float32),)
    >>> run.fast_call(np.zeros(4)) is None  # float64: the executable's checked path says why
    True
"""
from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]

from backends.kernel import Buffer, KernelProgram, LibraryCall
from backends.llvm.call import (
    ARENA_ALIGNMENT,
    ARRAY_DATA_OFFSET,
    CallStep,
    Segment,
    call_kernels,
    kernel_work,
    place_arena,
)
from ir.dtypes import ALL as ALL_DTYPES

FASTCALL_NAME = "fastcall"
METH_FASTCALL = 0x0080
RELEASE_GIL_MIN_WORK = 1 << 14  # loop iterations; below this the GIL round trip costs more
STACK_ARENA_MAX = 1 << 14       # bytes of temporaries placed on the caller's stack

# PyArrayObject_fields (numpy/ndarraytypes.h): PyObject_HEAD, data, nd, dimensions, strides,
# base, descr, flags; :func:`abi_checked` verifies every offset used here once per process.
_OB_TYPE, _ND, _DIMENSIONS, _DESCR, _FLAGS = 8, 24, 32, 56, 64
_C_CONTIGUOUS = 0x0001
_ALIGNED = 0x0100  # NPY_ARRAY_ALIGNED: a view at an odd byte offset has it clear
_NUMPY_API_NEW = 93        # PyArray_New's slot in NumPy's C-API table (fixed since NumPy 1.0)
_NUMPY_API_TYPE = 2        # &PyArray_Type
_NUMPY_ABI_VERSIONS = (0x01000009, 0x02000000)  # PyArray_GetNDArrayCVersion() we know

# the runtime table: these slots, then one descriptor per IR dtype, then constants' data
_SLOTS = ("array_type", "array_new", "tuple_new", "tuple_set_item", "incref", "decref", "none",
          "save_thread", "restore_thread", "raw_malloc", "raw_free", "no_memory")
_DESCR_SLOT = {d.name: len(_SLOTS) + i for i, d in enumerate(ALL_DTYPES)}
_FIRST_CONSTANT = len(_SLOTS) + len(ALL_DTYPES)

_I32, _I64, _PTR = ir.IntType(32), ir.IntType(64), ir.PointerType()
_VOID = ir.VoidType()
_SIGNATURES = {  # the C signatures of what the table points to
    "array_new": ir.FunctionType(_PTR, [_PTR, _I32, _PTR, _I32, _PTR, _PTR, _I32, _I32, _PTR]),
    "tuple_new": ir.FunctionType(_PTR, [_I64]),
    "tuple_set_item": ir.FunctionType(_I32, [_PTR, _I64, _PTR]),
    "incref": ir.FunctionType(_VOID, [_PTR]),
    "decref": ir.FunctionType(_VOID, [_PTR]),
    "save_thread": ir.FunctionType(_PTR, []),
    "restore_thread": ir.FunctionType(_VOID, [_PTR]),
    "raw_malloc": ir.FunctionType(_PTR, [_I64]),
    "raw_free": ir.FunctionType(_VOID, [_PTR]),
    "no_memory": ir.FunctionType(_PTR, []),
}


def constant_buffers(plan: list[CallStep]) -> list[Buffer]:
    """The buffers of ``plan``'s ``const`` steps, in the order their data pointers follow the
    fixed slots of the runtime table."""
    return [b for step in plan if isinstance(step, LibraryCall) and step.op == "const"
            for b in step.outputs]


def fastcall_segment(program: KernelProgram, plan: list[CallStep]) -> Segment | None:
    """The one segment the wrapper runs, or None when ``plan`` is not one segment plus
    constants whose arrays are all inputs, constants or outputs it allocates (GEMMs, library
    calls, parallel kernels and returned constants keep the Python call path)."""
    steps = [s for s in plan if not (isinstance(s, LibraryCall) and s.op == "const")]
    if len(steps) != 1 or not isinstance(steps[0], Segment):
        return None
    segment = steps[0]
    if any(k.in_place for k in segment.kernels):
        return None
    inputs = {id(b) for b in program.inputs}
    constants = {id(b) for b in constant_buffers(plan)}
    outputs = {id(b) for b in program.outputs}
    if outputs & constants:
        return None  # a returned constant must be copied: the checked path does that
    produced = {id(b) for k in segment.kernels for b in k.outputs}
    if produced & inputs:
        return None  # an input updated in place: the checked path copies what it may not write
    for buffer in segment.arrays:
        if id(buffer) not in inputs | constants and not (
                id(buffer) in produced and id(buffer) in outputs):
            return None
    if not outputs <= inputs | produced:
        return None
    return segment


def render_fastcall(module: ir.Module, program: KernelProgram, plan: list[CallStep]) -> bool:
    """Adds ``@fastcall`` to ``module`` (which holds the kernels) when ``plan`` allows it
    (:func:`fastcall_segment`); whether it did."""
    segment = fastcall_segment(program, plan)
    if segment is None:
        return False
    _WrapperRenderer(module, program, segment, constant_buffers(plan)).render()
    return True


class _WrapperRenderer:
    """Builds ``@fastcall``: argument checks, output allocation, arena, kernel calls, result
    tuple. A failed check branches to ``miss`` (return ``None``); a failed allocation frees what
    was allocated and returns NULL with Python's ``MemoryError`` set."""

    def __init__(self, module: ir.Module, program: KernelProgram, segment: Segment,
                 constants: list[Buffer]):
        self.module, self.program, self.segment = module, program, segment
        self.constants = constants
        signature = ir.FunctionType(_PTR, [_PTR, _PTR, _I64])
        self.function = ir.Function(module, signature, FASTCALL_NAME)
        self.self_object, self.args, self.nargs = self.function.args
        self.self_object.name, self.args.name, self.nargs.name = "self", "args", "nargs"
        self.builder = ir.IRBuilder(self.function.append_basic_block("entry"))
        self.miss = self.function.append_basic_block("miss")
        self.table = self._field(self.self_object, ARRAY_DATA_OFFSET, _PTR, "table")

    # -- small pieces --------------------------------------------------------------------------
    def _field(self, obj: ir.Value, offset: int, typ: ir.Type, name: str = "") -> ir.Value:
        """The ``typ`` at byte ``offset`` of the object at ``obj``."""
        address = self.builder.gep(obj, [ir.Constant(_I64, offset)], source_etype=ir.IntType(8))
        return self.builder.load(address, typ=typ, name=name)

    def _slot(self, index: int, typ: ir.Type = _PTR, name: str = "") -> ir.Value:
        address = self.builder.gep(self.table, [ir.Constant(_I64, index)], source_etype=_PTR)
        return self.builder.load(address, typ=typ, name=name)

    def _call(self, slot: str, arguments: list, name: str = "") -> ir.Value:
        signature = _SIGNATURES[slot]
        function = self._slot(_SLOTS.index(slot), ir.PointerType(signature), slot)
        return self.builder.call(function, arguments, name=name)

    def _require(self, condition: ir.Value, otherwise: ir.Block, name: str) -> None:
        """Continues in a new block where ``condition`` holds; jumps to ``otherwise`` if not."""
        ok = self.function.append_basic_block(name)
        self.builder.cbranch(condition, ok, otherwise)
        self.builder.position_at_end(ok)

    # -- the wrapper -----------------------------------------------------------------------------
    def render(self) -> None:
        builder, program = self.builder, self.program
        data: dict[int, ir.Value] = {}
        objects: dict[int, ir.Value] = {}
        count = ir.Constant(_I64, len(program.inputs))
        self._require(builder.icmp_signed("==", self.nargs, count), self.miss, "nargs.ok")
        for index, buffer in enumerate(program.inputs):
            address = builder.gep(self.args, [ir.Constant(_I64, index)], source_etype=_PTR)
            obj = builder.load(address, typ=_PTR, name=buffer.name)
            self._check_array(obj, buffer)
            objects[id(buffer)] = obj
            data[id(buffer)] = self._field(obj, ARRAY_DATA_OFFSET, _PTR, f"{buffer.name}.data")
        for index, buffer in enumerate(self.constants):
            data[id(buffer)] = self._slot(_FIRST_CONSTANT + index, name=buffer.name)
        allocated = self._allocate_outputs(objects, data)
        arena_memory = self._arena(data, allocated)
        release = sum(kernel_work(k) for k in self.segment.kernels) >= RELEASE_GIL_MIN_WORK
        state = self._call("save_thread", [], "thread") if release else None
        # the segment function has the kernels inlined already: compiling them twice would
        # cost compile time, and a call per kernel costs nanoseconds
        call_kernels(builder, self.module, self.segment, data, inline=False)
        if state is not None:
            self._call("restore_thread", [state])
        if arena_memory is not None:
            self._call("raw_free", [arena_memory])
        self._return_tuple(objects, allocated)
        builder.position_at_end(self.miss)
        none = self._slot(_SLOTS.index("none"), name="none")
        self._call("incref", [none])
        builder.ret(none)

    def _check_array(self, obj: ir.Value, buffer: Buffer) -> None:
        builder, name = self.builder, buffer.name
        kind = self._field(obj, _OB_TYPE, _PTR, f"{name}.type")
        array_type = self._slot(_SLOTS.index("array_type"), name="ndarray")
        self._require(builder.icmp_unsigned("==", kind, array_type), self.miss, f"{name}.is_array")
        descr = self._field(obj, _DESCR, _PTR, f"{name}.descr")
        expected = self._slot(_DESCR_SLOT[buffer.dtype.name], name=buffer.dtype.name)
        self._require(builder.icmp_unsigned("==", descr, expected), self.miss, f"{name}.dtype_ok")
        shape = tuple(buffer.type.shape)
        rank = self._field(obj, _ND, _I32, f"{name}.nd")
        self._require(builder.icmp_signed("==", rank, ir.Constant(_I32, len(shape))), self.miss,
                      f"{name}.rank_ok")
        flags = self._field(obj, _FLAGS, _I32, f"{name}.flags")
        required = ir.Constant(_I32, _C_CONTIGUOUS | _ALIGNED)
        self._require(builder.icmp_unsigned("==", builder.and_(flags, required), required),
                      self.miss, f"{name}.contiguous_and_aligned")
        if shape:
            dims = self._field(obj, _DIMENSIONS, _PTR, f"{name}.dims")
            for axis, extent in enumerate(shape):
                address = builder.gep(dims, [ir.Constant(_I64, axis)], source_etype=_I64)
                got = builder.load(address, typ=_I64)
                self._require(builder.icmp_signed("==", got, ir.Constant(_I64, extent)),
                              self.miss, f"{name}.dim{axis}_ok")

    def _allocate_outputs(self, objects: dict, data: dict) -> list[ir.Value]:
        """New arrays for the outputs the kernels produce (each once, in output order)."""
        builder, allocated = self.builder, list[ir.Value]()
        array_type = self._slot(_SLOTS.index("array_type"), name="ndarray")
        null = ir.Constant(_PTR, None)
        for buffer in self.program.outputs:
            if id(buffer) in objects:
                continue  # an input returned as it is, or an output already allocated
            shape = tuple(buffer.type.shape)
            dims: ir.Value = null
            if shape:
                extents = ir.ArrayType(_I64, len(shape))
                constant = ir.GlobalVariable(self.module, extents,
                                             f"{FASTCALL_NAME}.shape{len(allocated)}")
                constant.initializer = ir.Constant(extents, list(shape))
                constant.global_constant, constant.linkage = True, "private"
                dims = constant
            type_number = ir.Constant(_I32, np.dtype(buffer.dtype.numpy).num)
            zero = ir.Constant(_I32, 0)
            array = self._call("array_new", [array_type, ir.Constant(_I32, len(shape)), dims,
                                             type_number, null, null, zero, zero, null],
                               buffer.name)
            failed = self._failure_block(list(allocated))
            self._require(builder.icmp_unsigned("!=", array, null), failed, f"{buffer.name}.ok")
            allocated.append(array)
            objects[id(buffer)] = array
            data[id(buffer)] = self._field(array, ARRAY_DATA_OFFSET, _PTR, f"{buffer.name}.data")
        return allocated

    def _failure_block(self, owned: list[ir.Value]) -> ir.Block:
        """A block that drops ``owned`` references and returns NULL (an exception is set)."""
        block = self.function.append_basic_block("failed")
        here = self.builder.block
        self.builder.position_at_end(block)
        for obj in owned:
            self._call("decref", [obj])
        self.builder.ret(ir.Constant(_PTR, None))
        self.builder.position_at_end(here)
        return block

    def _arena(self, data: dict, allocated: list) -> ir.Value | None:
        """Places the segment's temporaries: on the stack when small, else in memory from
        ``PyMem_RawMalloc`` (returned, to be freed after the kernels)."""
        size = self.segment.arena_bytes
        if not self.segment.arena:
            return None
        builder = self.builder
        if size <= STACK_ARENA_MAX:
            with builder.goto_entry_block():  # a fixed-size alloca in the entry block
                arena = builder.alloca(ir.ArrayType(ir.IntType(8), size), name="arena")
                arena.align = ARENA_ALIGNMENT
            place_arena(builder, self.segment, arena, data)
            return None
        memory = self._call("raw_malloc", [ir.Constant(_I64, size + ARENA_ALIGNMENT)], "arena.raw")
        failed = self.function.append_basic_block("arena.failed")
        self._require(builder.icmp_unsigned("!=", memory, ir.Constant(_PTR, None)), failed,
                      "arena.ok")
        here = builder.block
        builder.position_at_end(failed)
        for obj in allocated:
            self._call("decref", [obj])
        builder.ret(self._call("no_memory", []))
        builder.position_at_end(here)
        # round up to the alignment the arena's offsets assume
        address = builder.ptrtoint(memory, _I64)
        mask = ir.Constant(_I64, ARENA_ALIGNMENT - 1)
        aligned = builder.and_(builder.add(address, mask), builder.not_(mask))
        place_arena(builder, self.segment, builder.inttoptr(aligned, _PTR, name="arena"), data)
        return memory

    def _return_tuple(self, objects: dict, allocated: list) -> None:
        builder = self.builder
        outputs = self.program.outputs
        result = self._call("tuple_new", [ir.Constant(_I64, len(outputs))], "result")
        failed = self._failure_block(allocated)
        self._require(builder.icmp_unsigned("!=", result, ir.Constant(_PTR, None)), failed,
                      "result.ok")
        owned = {id(obj) for obj in allocated}  # a new array's first reference goes to the tuple
        for index, buffer in enumerate(outputs):
            obj = objects[id(buffer)]
            if id(obj) in owned:
                owned.discard(id(obj))
            else:
                self._call("incref", [obj])
            self._call("tuple_set_item", [result, ir.Constant(_I64, index), obj])
        builder.ret(result)


# -- the Python side ------------------------------------------------------------------------------
class _RuntimeTable(np.ndarray):
    """The wrapper's ``self``: addresses as uint64, plus what must live as long as the function
    (the method definition, the JIT'd code, the constants)."""

    keep_alive: tuple


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


def _address(function) -> int:
    return ctypes.cast(function, ctypes.c_void_p).value or 0


@functools.cache
def _runtime_addresses() -> tuple[int, ...] | None:
    """The fixed slots of the runtime table for this process, or None when NumPy's C API is not
    the one the wrapper was written against (the Python call path is used then)."""
    core = getattr(np, "_core", None) or np.core
    capsule = core._multiarray_umath._ARRAY_API
    api = ctypes.pythonapi
    api.PyCapsule_GetName.restype, api.PyCapsule_GetName.argtypes = ctypes.c_char_p, [
        ctypes.py_object]
    api.PyCapsule_GetPointer.restype = ctypes.c_void_p
    api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    table = api.PyCapsule_GetPointer(capsule, api.PyCapsule_GetName(capsule))
    if not table:
        return None
    slots = (ctypes.c_void_p * (_NUMPY_API_NEW + 1)).from_address(table)
    version = ctypes.PYFUNCTYPE(ctypes.c_uint)(slots[0] or 0)()
    if version not in _NUMPY_ABI_VERSIONS or slots[_NUMPY_API_TYPE] != id(np.ndarray):
        return None
    array_new = slots[_NUMPY_API_NEW] or 0
    if not array_new or not _array_new_works(array_new):
        return None
    named = {
        "array_type": id(np.ndarray), "array_new": array_new,
        "tuple_new": _address(api.PyTuple_New), "tuple_set_item": _address(api.PyTuple_SetItem),
        "incref": _address(api.Py_IncRef), "decref": _address(api.Py_DecRef),
        "none": id(None), "save_thread": _address(api.PyEval_SaveThread),
        "restore_thread": _address(api.PyEval_RestoreThread),
        "raw_malloc": _address(api.PyMem_RawMalloc), "raw_free": _address(api.PyMem_RawFree),
        "no_memory": _address(api.PyErr_NoMemory),
    }
    if not all(named.values()):
        return None
    return tuple(named[slot] for slot in _SLOTS) + tuple(id(d.numpy) for d in ALL_DTYPES)


def _array_new_works(array_new: int) -> bool:
    """Whether the function at ``array_new`` makes a fresh C-contiguous float32 [2, 3] array."""
    signature = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_int,
                                  ctypes.POINTER(ctypes.c_int64), ctypes.c_int, ctypes.c_void_p,
                                  ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
    dims = (ctypes.c_int64 * 2)(2, 3)
    made = signature(array_new)(id(np.ndarray), 2, dims, np.dtype(np.float32).num, None, None,
                                0, 0, None)
    return (type(made) is np.ndarray and made.shape == (2, 3) and made.dtype == np.float32
            and made.flags.c_contiguous and made.flags.writeable)


@functools.cache
def abi_checked() -> bool:
    """Whether the ``PyArrayObject`` fields the wrapper reads are where it reads them, and
    NumPy's C API is the one it calls (checked once per process on a few arrays)."""
    def read(array, offset, kind):
        return kind.from_address(id(array) + offset).value

    samples = [np.arange(4.0), np.zeros((2, 3), np.int32)[:, 1:], np.array(7, np.int64),
               np.zeros((0, 5), np.bool_), np.zeros(17, np.uint8)[1:].view(np.float32)]
    for array in samples:
        dims = read(array, _DIMENSIONS, ctypes.c_void_p)
        shape = tuple((ctypes.c_int64 * array.ndim).from_address(dims)) if array.ndim else ()
        if (read(array, _OB_TYPE, ctypes.c_void_p) != id(np.ndarray)
                or read(array, _ND, ctypes.c_int) != array.ndim or shape != array.shape
                or read(array, _DESCR, ctypes.c_void_p) != id(array.dtype)
                or bool(read(array, _FLAGS, ctypes.c_int) & _C_CONTIGUOUS)
                != array.flags.c_contiguous
                or bool(read(array, _FLAGS, ctypes.c_int) & _ALIGNED) != array.flags.aligned):
            return False
    return _runtime_addresses() is not None


def make_fastcall(address: int, constants: list[np.ndarray],
                  keep_alive: object) -> Callable[..., tuple | None]:
    """The Python callable of the ``@fastcall`` at ``address``: ``f(*arrays)`` returns the
    output tuple, or None when the arrays are not exactly what the wrapper was generated for.
    ``keep_alive`` (the JIT'd code) lives as long as the callable."""
    fixed = _runtime_addresses()
    assert fixed is not None, "make_fastcall needs abi_checked()"
    values = list(fixed) + [array.ctypes.data for array in constants]
    table = np.array(values, dtype=np.uint64).view(_RuntimeTable)
    method = _MethodDef(FASTCALL_NAME.encode(), address, METH_FASTCALL, None)
    table.keep_alive = (method, keep_alive, tuple(constants))
    new_function = ctypes.pythonapi.PyCFunction_NewEx
    new_function.restype = ctypes.py_object
    new_function.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]
    return new_function(ctypes.addressof(method), table, None)


__all__ = ["FASTCALL_NAME", "abi_checked", "constant_buffers", "fastcall_segment",
           "make_fastcall", "render_fastcall"]
