"""GEMM from the BLAS NumPy already ships (OpenBLAS), found at run time; NumPy's matmul if not.

No new dependency: NumPy's wheels bundle OpenBLAS next to the package (``numpy.libs/`` on
Linux, ``numpy/.libs/`` in older wheels, ``numpy/.dylibs/`` on macOS). :func:`find_blas` opens
that library with ctypes and looks for ``cblas_sgemm``/``cblas_dgemm`` under the names the
various builds export: ``scipy_cblas_sgemm64_`` (NumPy 2, 64-bit integers), ``cblas_sgemm64_``
(NumPy 1.22+), plain ``cblas_sgemm`` (32-bit integers), and the matching
``openblas_set_num_threads``/``openblas_get_num_threads``. When nothing is found, or
``GRAPHC_BLAS=numpy`` asks for it, :func:`gemm` calls ``np.matmul`` instead: same results
within float tolerance, and :func:`describe` says which is in use.

The executable calls GEMM from its Python step runner through ctypes, with the buffers'
addresses. Measured on the reference machine: about 1.5-2 us per call for the ctypes call
itself, against 6 ms for one GEMM of the MLP step (256x784 @ 784x512). A batched GEMM makes
one ctypes call for all its matrices: a generated loop calls BLAS through its address
(:mod:`backends.llvm.gemm_batch`; attention's heads are 32 matrices per product).

    >>> import numpy as np
    >>> a = np.arange(6, dtype=np.float32).reshape(2, 3)
    >>> b = np.ones((2, 3), np.float32)
    >>> out = np.empty((2, 2), np.float32)
    >>> gemm(a, b, out, transpose_b=True)  # a @ b.T, written into out
    >>> out
    array([[ 3.,  3.],
           [12., 12.]], dtype=float32)
"""
from __future__ import annotations

import ctypes
import functools
import glob
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from backends.kernel.program import Strided

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112

# (prefix, suffix, integer type): the names under which OpenBLAS builds export cblas symbols
_NAMINGS = (("scipy_", "64_", ctypes.c_int64), ("", "64_", ctypes.c_int64),
            ("scipy_", "", ctypes.c_int), ("", "", ctypes.c_int))


@dataclass(frozen=True)
class Blas:
    """The entry points of one BLAS library."""

    path: str
    sgemm: Callable[..., Any]
    dgemm: Callable[..., Any]
    set_threads: Callable[..., Any] | None
    get_threads: Callable[..., Any] | None
    integer: Any = ctypes.c_int64  # the ctypes type of the GEMMs' sizes and strides
    core: str | None = None  # the CPU whose kernels OpenBLAS chose ("Haswell"), if it says

    @property
    def kernel_vector_bits(self) -> int | None:
        """The width of the vectors in the library's float kernels, from :attr:`core`."""
        return kernel_vector_bits(self.core)

    def gemm_for(self, dtype: np.dtype) -> Callable[..., Any] | None:
        return {"float32": self.sgemm, "float64": self.dgemm}.get(np.dtype(dtype).name)

    def gemm_address(self, dtype: np.dtype) -> int | None:
        """The address of the GEMM for ``dtype`` (for generated code to call), or None."""
        function: Any = self.gemm_for(dtype)
        return None if function is None else ctypes.cast(function, ctypes.c_void_p).value


# OpenBLAS's kernel families (the names its dynamic builds report) by vector width: the ones
# with AVX-512 float kernels, and x86 ones whose widest are 256-bit AVX/AVX2. Older SSE-only
# families (Nehalem, Core2, ...) are left unknown: large products then stay in BLAS, the safe
# side, on CPUs that old.
_AVX512_CORES = frozenset({"skylakex", "cooperlake", "sapphirerapids"})
_AVX2_CORES = frozenset({"haswell", "zen", "sandybridge", "excavator", "steamroller",
                         "piledriver", "bulldozer"})


def kernel_vector_bits(core: str | None) -> int | None:
    """The vector width of OpenBLAS's float kernels for ``core`` (None: unknown).

        >>> kernel_vector_bits("Haswell"), kernel_vector_bits("SkylakeX"), kernel_vector_bits("?")
        (256, 512, None)
    """
    name = (core or "").strip().lower()
    return 512 if name in _AVX512_CORES else 256 if name in _AVX2_CORES else None


def library_candidates() -> list[str]:
    """Paths of the BLAS libraries bundled with the installed NumPy, best first."""
    root = os.path.dirname(np.__file__)
    found: list[str] = []
    for folder in (root + ".libs", os.path.join(root, ".libs"), os.path.join(root, ".dylibs")):
        for pattern in ("*openblas*.so*", "*openblas*.dylib", "*openblas*.dll"):
            found += sorted(glob.glob(os.path.join(folder, pattern)))
    return found


def _bind(path: str) -> Blas | None:
    try:
        library = ctypes.CDLL(path)
    except OSError:
        return None
    for prefix, suffix, integer in _NAMINGS:
        try:
            sgemm = getattr(library, f"{prefix}cblas_sgemm{suffix}")
            dgemm = getattr(library, f"{prefix}cblas_dgemm{suffix}")
        except AttributeError:
            continue
        for function, real in ((sgemm, ctypes.c_float), (dgemm, ctypes.c_double)):
            function.restype = None
            # order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc
            function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer,
                                 integer, real, ctypes.c_void_p, integer, ctypes.c_void_p,
                                 integer, real, ctypes.c_void_p, integer]
        set_threads = getattr(library, f"{prefix}openblas_set_num_threads{suffix}", None)
        get_threads = getattr(library, f"{prefix}openblas_get_num_threads{suffix}", None)
        if set_threads is not None:
            set_threads.argtypes, set_threads.restype = [ctypes.c_int], None
        if get_threads is not None:
            get_threads.argtypes, get_threads.restype = [], ctypes.c_int
        corename = getattr(library, f"{prefix}openblas_get_corename{suffix}", None)
        core = None
        if corename is not None:
            corename.argtypes, corename.restype = [], ctypes.c_char_p
            core = (corename() or b"").decode("ascii", "replace") or None
        return Blas(path, sgemm, dgemm, set_threads, get_threads, integer, core)
    return None


@functools.cache
def _find_bundled() -> Blas | None:
    for path in library_candidates():
        blas = _bind(path)
        if blas is not None:
            _apply_threads(blas)
            return blas
    return None


def find_blas() -> Blas | None:
    """NumPy's bundled BLAS, or None when it cannot be found or ``GRAPHC_BLAS=numpy``."""
    if os.environ.get("GRAPHC_BLAS", "").lower() == "numpy":
        return None
    return _find_bundled()


def describe(blas: Blas | None) -> str:
    """One line for ``source()``: which GEMM runs."""
    if blas is None:
        why = ("GRAPHC_BLAS=numpy" if os.environ.get("GRAPHC_BLAS", "").lower() == "numpy"
               else "no BLAS found in NumPy's bundled libraries")
        return f"GEMM: NumPy's matmul ({why})"
    core = f", {blas.core} kernels" if blas.core else ""
    return f"GEMM: cblas from {os.path.basename(blas.path)} (NumPy's bundled BLAS{core})"


def _apply_threads(blas: Blas) -> None:
    # imported late: backends.threads imports this module when the thread count changes
    from backends.threads import get_num_threads
    if blas.set_threads is not None:
        blas.set_threads(get_num_threads())


def set_blas_threads(n: int) -> None:
    """Sets the bundled BLAS's thread count, if the library was found (called by
    :func:`backends.threads.set_num_threads`)."""
    blas = _find_bundled()
    if blas is not None and blas.set_threads is not None:
        blas.set_threads(n)


def blas_threads() -> int | None:
    """The bundled BLAS's thread count as the library reports it (None: cannot tell)."""
    blas = _find_bundled()
    if blas is None or blas.get_threads is None:
        return None
    return int(blas.get_threads())


def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray, *, transpose_a: bool = False,
         transpose_b: bool = False, blas: Blas | None | bool = True) -> None:
    """``out[...] = op(a) @ op(b)`` for 2-D C-contiguous float arrays of one dtype, where
    ``op`` transposes when asked. ``blas=True`` uses :func:`find_blas`; None forces NumPy."""
    if blas is True:
        blas = find_blas()
    m, n = out.shape
    k = a.shape[0] if transpose_a else a.shape[1]
    function = blas.gemm_for(out.dtype) if isinstance(blas, Blas) else None
    if function is None or m == 0 or n == 0 or k == 0:
        np.matmul(a.T if transpose_a else a, b.T if transpose_b else b, out=out)
        return
    function(ROW_MAJOR, TRANS if transpose_a else NO_TRANS, TRANS if transpose_b else NO_TRANS,
             m, n, k, 1.0, a.ctypes.data, a.shape[1], b.ctypes.data, b.shape[1], 0.0,
             out.ctypes.data, n)


@dataclass(frozen=True)
class StridedGemm:
    """How a batched ``op(a) @ op(b)`` whose operands are read in place (kernel IR's
    ``Strided``) runs as 2-D GEMMs: BLAS's own transpose flags (an operand stored
    column-major flips its flag), the leading dimensions, and element offsets per batch entry
    into a's buffer, b's buffer and the (C-contiguous) output."""

    transpose_a: bool
    transpose_b: bool
    m: int
    n: int
    k: int
    lda: int
    ldb: int
    offsets: tuple[tuple[int, int, int], ...]


def plan_strided(a: Strided, b: Strided, out_shape: tuple[int, ...], transpose_a: bool = False,
                 transpose_b: bool = False) -> StridedGemm:
    """The 2-D GEMMs of a batched product (batch axes broadcast) whose operands are read
    through strides: each matrix row-major or column-major with a leading dimension, any batch
    strides (a C-contiguous operand is the plain case). Several batch entries of ``a`` fold into
    one taller GEMM when ``b`` has no batch axes and their rows are evenly spaced.

        >>> from backends.kernel.program import Strided, contiguous_strides
        >>> heads = Strided((2, 3, 4), 8, (4, 16, 1))  # [rows, 2 heads, 4] read per head
        >>> plan = plan_strided(heads, Strided((4, 5), 0, (5, 1)), (2, 3, 5))
        >>> plan.lda, plan.offsets
        (16, ((8, 0, 0), (12, 0, 15)))
        >>> plan_strided(Strided((6, 4), 0, (4, 1)), Strided((4, 5), 0, (1, 4)), (6, 5))
        StridedGemm(transpose_a=False, transpose_b=True, m=6, n=5, k=4, lda=4, ldb=4, offsets=((0, 0, 0),))
    """
    # imported here: `import graphc` loads this module for set_blas_threads, and the kernel IR
    # is for compiled code only (docs/DESIGN-NOTES.md, "Lazy loading")
    from backends.kernel.program import Strided, contiguous_strides
    from backends.kernel.views import matrix_layout, reshape_linear
    batch = out_shape[:-2]
    m, n = out_shape[-2:]
    layout_a, layout_b = matrix_layout(a.shape, a.strides), matrix_layout(b.shape, b.strides)
    assert layout_a is not None and layout_b is not None, "the kernel builder checked them"
    (column_a, lda), (column_b, ldb) = layout_a, layout_b
    flag_a, flag_b = transpose_a != column_a, transpose_b != column_b
    k = a.shape[-2] if transpose_a else a.shape[-1]
    count = math.prod(batch)
    if count == 0:
        return StridedGemm(flag_a, flag_b, m, n, k, lda, ldb, ())
    if len(b.shape) == 2 and not transpose_a and not column_a and a.shape[:-2] == batch \
            and count * m > 1:
        # the batch entries' rows are evenly spaced: one taller GEMM
        rows = reshape_linear(a.strides[:-1], a.shape[:-1], (count * m,))
        if rows is not None and rows[0] >= max(k, 1):
            return StridedGemm(False, flag_b, m * count, n, k, rows[0], ldb,
                               ((a.offset, b.offset, 0),))
    out = Strided(out_shape, 0, contiguous_strides(out_shape))
    offsets = []
    for index in np.ndindex(*batch):
        offsets.append((_strided_offset(a, index), _strided_offset(b, index),
                        _strided_offset(out, index)))
    return StridedGemm(flag_a, flag_b, m, n, k, lda, ldb, tuple(offsets))


def _strided_offset(operand: Strided, index: tuple[int, ...]) -> int:
    """The element offset of the matrix at batch ``index`` (right-aligned, size-1 axes
    broadcast) of a strided operand."""
    axes = len(operand.shape) - 2
    lead = len(index) - axes
    return operand.offset + sum(i * stride for i, extent, stride in
                                zip(index[lead:], operand.shape[:-2], operand.strides[:-2])
                                if extent != 1)


def strided_array(buffer: np.ndarray, operand: Strided) -> np.ndarray:
    """A read-only NumPy view of a strided operand in ``buffer``'s memory (NumPy's matmul
    runs it when BLAS does not)."""
    flat = buffer.reshape(-1)
    if 0 in operand.shape:
        return np.empty(operand.shape, buffer.dtype)
    return np.lib.stride_tricks.as_strided(
        flat[operand.offset:], operand.shape,
        tuple(s * buffer.itemsize for s in operand.strides), writeable=False)
