"""Kernel program -> one Python module of numba-cuda kernels, and ``run``.

The same scalar rendering as the numba CPU backend (:mod:`backends.numba.scalar`, its math
functions swapped for ``math``'s in :mod:`backends.cuda.scalar`, and the loads, stores and folds
of :class:`backends.numba.render.KernelRenderer`); what differs is how the
points of a kernel are spread over threads. Every launch configuration is chosen here, from the
sizes, and written into ``run``'s source:

- **elementwise kernels** are grid-stride loops over the flat output index ``p``: thread ``t``
  of the grid handles ``p = t, t + grid size, ...``, so consecutive threads touch consecutive
  elements (coalesced loads and stores); the loop counters ``i0, i1, ...`` are ``p`` unflattened;
- **reductions** of at least a warp's worth of elements per output point give each output
  point one block: its threads fold strided slices of the reduced elements, then combine their
  partial results with warp shuffles (``shfl_down_sync``), one partial per warp in shared memory,
  and a last round of shuffles. Shorter reductions and arg-reductions (which keep the first
  index of the extremum, an order a tree would have to carry along) run one thread per output
  point, each folding its reduced loop as the CPU backend does;
- **scans** run one thread per row (the other axes' points), each folding along the axis
  and storing the running value at every step; **sorts** one thread per row too, sorting
  the row's indices in a per-thread work array in local memory (``2 n`` i64s);
- **GEMM steps** are a tiled matrix product: 16x16 blocks of threads, each step of the
  contraction staging a 16x16 tile of each operand in shared memory; batch axes run along the
  grid's z axis. A matmul's epilogue kernel (the next step, pointwise over the product) is
  applied to the product before it is stored, so the product never makes a round trip through
  memory. f32 products accumulate in f64 and are rounded once (an f32 running sum of K terms
  drifts by up to K ulps; cuBLAS does that, this kernel stays within one);
- **convolutions** and max pooling arrive as kernels and GEMMs (``backends.kernel.conv`` lowers
  them in the kernel program: im2col, col2im, window arg-reductions), rendered as above;
- **library calls** (gather, scatter_add outside max pooling, grouped conv, ...) run the op's
  NumPy reference on the host: ``run`` calls ``library.<op>_<step>``, which copies its operands
  out and its results back (said in the source).

numba's CUDA simulator has no warp shuffles, and its ``math`` is Python's, which raises where the
device returns NaN or inf; under it (``NUMBA_ENABLE_CUDASIM=1``) the module imports both from
:mod:`backends.cuda.simulator` instead. The source is the same either way.

    >>> import ir
    >>> from backends.kernel import build_program
    >>> g = ir.parse('''func @f(%x: f32[2,3], %b: f32[3]) -> (f32[2,3]) {
    ...   %0: f32[2,3] = add %x, %b
    ...   return %0
    ... }''')
    >>> source = render_module(build_program(g))
    >>> print(source[source.index("@cuda.jit(\\"void"):source.index("def run")].strip())
    @cuda.jit("void(float32[::1], float32[::1], float32[::1])", cache=True)
    def k0(x, b, t0):
        # add: t0 = f32[2,3]; grid-stride over its 6 points
        for p in range(cuda.grid(1), 6, cuda.gridsize(1)):
            i0 = p // 3
            i1 = p % 3
            x0 = x[3*i0 + i1]
            x1 = b[i1]
            t0[3*i0 + i1] = (x0 + x1)
    >>> print(source[source.index("def run"):])  # doctest: +NORMALIZE_WHITESPACE
    def run(x, b, library):
        \"\"\"@f: its steps in order, on flat C-contiguous device arrays.\"\"\"
        t0 = cuda.device_array(6, np.float32)
        k0[1, 32](x, b, t0)
        return (t0,)
    <BLANKLINE>
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from backends.cuda.scalar import CUDA_HELPERS, CudaScalarRenderer
from backends.kernel import (
    ACC,
    Buffer,
    Gemm,
    IndexMap,
    Kernel,
    KernelProgram,
    LibraryCall,
    step_reads,
)
from backends.kernel.program import contiguous_strides
from backends.numba.render import _RESERVED as _NUMBA_RESERVED
from backends.numba.render import (
    ELEMENT,
    INDENT,
    KernelRenderer,
    buffer_names,
    library_name,
    numba_signature,
)
from backends.numba.scalar import ScalarRenderer, constant
from ir.dtypes import DType
from ir.scalar import ArgReduction, Reduction
from ir.scalar.reduction import X

WARP = 32
MAX_THREADS = 256         # threads per block of elementwise kernels and block reductions
MAX_BLOCKS = 4096         # grid-stride loops cover the rest (H100/H200: 132 SMs x 16 blocks ~ 2k)
TILE = 16                 # GEMM tiles: 16x16 threads, 16x16 elements of each operand
DECORATOR_OPTIONS = "cache=True"  # numba-cuda keeps compiled kernels next to the module
# names the generated kernels use for themselves (the numba renderer's, and the thread layout's):
# a buffer named like one of them is renamed
RESERVED = re.compile(rf"(?:{_NUMBA_RESERVED.pattern})|[pqrk]|kk|tx|ty|row|col|lane|warp|tile"
                      r"|tile_[ab]|[ab]_base|partials|offset|other|product|cuda|config"
                      r"|FULL_MASK|shfl_down_sync|libdevice|gemm\d+"
                      r"|(?:floor|ceil)_\w+")


@dataclass(frozen=True)
class Launch:
    """``kernel[blocks, threads]``: each a number, or a tuple for 2-D/3-D grids and blocks."""

    blocks: int | tuple[int, ...]
    threads: int | tuple[int, ...]

    def __str__(self) -> str:
        return f"[{self.blocks}, {self.threads}]"


def elementwise_launch(points: int) -> Launch:
    """Enough warps for ``points`` elements (up to 256 threads a block), blocks capped: the
    kernel's grid-stride loop covers what one pass of the grid does not."""
    threads = min(MAX_THREADS, _round_up(max(points, 1), WARP))
    return Launch(min(MAX_BLOCKS, -(-points // threads)), threads)


def block_reduction_threads(reduced: int) -> int:
    """Threads folding one output point: the reduced count rounded up to a power of two, between
    one warp and 256 threads."""
    return min(MAX_THREADS, max(WARP, 1 << max(reduced - 1, 0).bit_length()))


def uses_block_reduction(kernel: Kernel) -> bool:
    """Whether ``kernel`` folds each output point with a whole block (warp shuffles): plain
    reductions of at least a warp's worth of elements per point."""
    return (isinstance(kernel.reduction, Reduction) and not kernel.scan
            and math.prod(kernel.reduce_shape) >= WARP)


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def render_module(program: KernelProgram,
                  renderer: type[ScalarRenderer] = CudaScalarRenderer) -> str:
    """The Python source of ``program``: helpers, one ``@cuda.jit`` kernel per kernel (a GEMM
    and the epilogue it absorbs count as one), and ``run``."""
    names = buffer_names(program, RESERVED)
    helpers: set[str] = set()
    kernels, launches = [], {}
    absorbed = absorbed_epilogues(program)
    for index, step in enumerate(program.steps):
        if index in absorbed.values():
            continue
        scalars = renderer()
        if isinstance(step, Kernel):
            text, launches[index] = _CudaKernelRenderer(step, names, scalars).render_cuda()
        elif isinstance(step, Gemm):
            epilogue = absorbed.get(index)
            fused = program.steps[epilogue] if epilogue is not None else None
            assert fused is None or isinstance(fused, Kernel)
            text, launches[index] = _GemmRenderer(program, index, step, fused, names,
                                                  scalars).render()
        else:
            continue
        kernels.append(text)
        helpers |= scalars.helpers
    parts = [f'"""numba-cuda kernels of @{program.name}, generated by graphc from its kernel '
             f'program."""',
             "import numpy as np\nfrom numba import config, cuda\n\n"
             "if config.ENABLE_CUDASIM:  # no warp shuffles there, and Python's math raises\n"
             "    from backends.cuda.simulator import libdevice, math, shfl_down_sync\n"
             "else:\n"
             "    import math\n\n"
             "    from numba.cuda import libdevice, shfl_down_sync\n\n"
             "FULL_MASK = 0xFFFFFFFF  # every lane of a warp takes part in a shuffle"]
    parts += [f'@cuda.jit(device=True, inline="always")\n{CUDA_HELPERS[h]}' for h in sorted(helpers)]
    parts += kernels
    parts.append(_entry(program, names, launches, absorbed))
    return "\n\n\n".join(parts) + "\n"


def absorbed_epilogues(program: KernelProgram) -> dict[int, int]:
    """GEMM step index -> the index of the epilogue kernel its tiled kernel applies: the next
    step, when it is a pointwise kernel over the product that reads the product element by
    element, and both operands are matrices (not vectors)."""
    absorbed = {}
    for index, step in enumerate(program.steps[:-1]):
        after = program.steps[index + 1]
        if not isinstance(step, Gemm) or not isinstance(after, Kernel):
            continue
        product = step.output
        if step.a.type.ndim < 2 or step.b.type.ndim < 2 or after.reduction is not None \
                or after.shape != product.type.shape \
                or any(ld.bounds or ld.indirect is not None for ld in after.loads):
            continue  # (the tiled kernel reads the epilogue's other operands unguarded)
        straight = IndexMap(0, contiguous_strides(product.type.shape))
        reads = [ld for ld in after.loads if ld.buffer is product]
        if reads and all(ld.index == straight for ld in reads):
            absorbed[index] = index + 1
    return absorbed


class _CudaKernelRenderer(KernelRenderer):
    """A kernel's points spread over threads (see the module doc for which layout when)."""

    WIDE_FLOAT32_SUMS = False  # its running folds are short: float64 is slow on most GPUs

    def render_cuda(self) -> tuple[str, Launch]:
        kernel = self.kernel
        params = ", ".join(self.names[id(b)] for b in kernel.buffers)
        outputs = ", ".join(f"{self.names[id(b)]} = {b.type}" for b in kernel.outputs)
        points = math.prod(kernel.shape)
        reduced = math.prod(kernel.reduce_shape)
        self.lines = [f'@cuda.jit("{numba_signature(kernel.buffers)}", {DECORATOR_OPTIONS})',
                      f"def {kernel.name}({params}):"]
        what = f"{kernel.origin or 'kernel'}: {outputs}"
        if kernel.sort is not None:
            self._emit(1, f"# {what}; one thread sorts each of its {points} rows of {reduced}")
            self._emit(1, f"work = {self.scratch(2 * reduced)}")
            self._sort(self._grid_stride(points, kernel.shape, 1))
            launch = elementwise_launch(points)
        elif kernel.reduction is None:
            self._emit(1, f"# {what}; grid-stride over its {points} points")
            depth = self._grid_stride(points, kernel.shape, 1)
            self._emit_loads(depth)
            self._emit_stores({}, depth)
            launch = elementwise_launch(points)
        elif uses_block_reduction(kernel):
            assert isinstance(kernel.reduction, Reduction)
            threads = block_reduction_threads(reduced)
            self._emit(1, f"# {what}; one block of {threads} threads folds each of its {points} "
                          f"points' {reduced} elements")
            self._block_fold(kernel.reduction, threads)
            launch = Launch(min(MAX_BLOCKS, points), threads)
        else:
            self._emit(1, f"# {what}; one thread folds each of its {points} points' {reduced} "
                          f"elements")
            depth = self._grid_stride(points, kernel.shape, 1)
            if isinstance(kernel.reduction, Reduction):
                self._fold(kernel.reduction, depth)
            else:
                assert isinstance(kernel.reduction, ArgReduction)
                self._arg_fold(kernel.reduction, depth)
            launch = elementwise_launch(points)
        return "\n".join(self.lines), launch

    def scratch(self, size: int) -> str:
        """Each thread's own work array, in local memory (its size is fixed when rendering)."""
        return f"cuda.local.array({max(size, 1)}, np.int64)"

    def _unflatten(self, flat: str, extents: tuple[int, ...], first: int, depth: int) -> None:
        """``i<first+k> = `` the k-th coordinate of the row-major flat index ``flat``."""
        for k, extent in enumerate(extents):
            inner = math.prod(extents[k + 1:])
            text = flat if inner == 1 else f"{flat} // {inner}"
            if k > 0:
                text = f"{flat} % {extent}" if inner == 1 else f"({text}) % {extent}"
            self._emit(depth, f"i{first + k} = {text}")

    def _grid_stride(self, points: int, extents: tuple[int, ...], depth: int) -> int:
        self._emit(depth, f"for p in range(cuda.grid(1), {points}, cuda.gridsize(1)):")
        self._unflatten("p", extents, 0, depth + 1)
        return depth + 1

    def _block_fold(self, fold: Reduction, threads: int) -> None:
        """Each block folds output points ``q = blockIdx, blockIdx + grid, ...``: a strided
        fold per thread, shuffles within each warp, one partial per warp in shared memory, and
        shuffles over the partials (every warp takes part, so shuffles never diverge)."""
        kernel = self.kernel
        warps = threads // WARP
        dtype = fold.accumulator
        shared_type = "np.int32" if dtype.is_bool else f"np.{dtype.numpy.name}"
        identity = constant(fold.identity)
        self._emit(1, f"partials = cuda.shared.array({warps}, {shared_type})  # one per warp")
        self._emit(1, "lane = cuda.threadIdx.x % 32")
        self._emit(1, "warp = cuda.threadIdx.x // 32")
        points = math.prod(kernel.shape)
        self._emit(1, f"for q in range(cuda.blockIdx.x, {points}, cuda.gridDim.x):")
        self._unflatten("q", kernel.shape, 0, 2)
        self._emit(2, f"{ACC} = {identity}")
        reduced = math.prod(kernel.reduce_shape)
        self._emit(2, f"for r in range(cuda.threadIdx.x, {reduced}, {threads}):")
        self._unflatten("r", kernel.reduce_shape, len(kernel.shape), 3)
        self._element(fold.accumulator, 3)
        self._combine(fold, ELEMENT, 3)
        self._warp_fold(fold, dtype, 2)
        self._emit(2, "if lane == 0:")
        self._emit(3, f"partials[warp] = {ACC}")
        self._emit(2, "cuda.syncthreads()")
        stored = "partials[lane] != 0" if dtype.is_bool else "partials[lane]"
        self._emit(2, f"{ACC} = {stored} if lane < {warps} else {identity}")
        self._warp_fold(fold, dtype, 2)
        self._emit(2, "if cuda.threadIdx.x == 0:")
        self._emit_stores({ACC: ACC}, 3)
        self._emit(2, "cuda.syncthreads()  # partials are read before the next point's writes")

    def _combine(self, fold: Reduction, other: str, depth: int) -> None:
        statements, (combined,) = self.scalars.render([fold.combine], {ACC: ACC, X: other})
        for statement in statements:
            self._emit(depth, statement)
        self._emit(depth, f"{ACC} = {combined}")

    def _warp_fold(self, fold: Reduction, dtype: DType, depth: int) -> None:
        """Lane 0 ends with the fold of the warp's 32 values (a tree of shuffles)."""
        self._emit(depth, "offset = 16")
        self._emit(depth, "while offset > 0:")
        if dtype.is_bool:  # shuffles move 32- and 64-bit numbers, not bools
            self._emit(depth + 1, f"other = shfl_down_sync(FULL_MASK, np.int32({ACC}), offset) "
                                  f"!= 0")
        else:
            self._emit(depth + 1, f"other = shfl_down_sync(FULL_MASK, {ACC}, offset)")
        self._combine(fold, "other", depth + 1)
        self._emit(depth + 1, "offset //= 2")


class _GemmRenderer:
    """A (batched) GEMM as a tiled kernel, with the epilogue kernel that follows it, if any,
    applied to each accumulator before the store."""

    def __init__(self, program: KernelProgram, index: int, step: Gemm, epilogue: Kernel | None,
                 names: dict[int, str], scalars: ScalarRenderer):
        self.program, self.index, self.step, self.epilogue = program, index, step, epilogue
        self.names, self.scalars = names, scalars
        self.name = f"gemm{index}"

    def product_needed(self) -> bool:
        """Whether the product itself must be stored: no epilogue, or one that does not write
        over it while a later step or the program's outputs still read it."""
        product = self.step.output
        if self.epilogue is None:
            return True
        if any(s.buffer is product for s in self.epilogue.stores):
            return False
        later = self.program.steps[self.index + 2:]
        return any(product in step_reads(s) for s in later) \
            or any(b is product for b in self.program.outputs)

    def buffers(self) -> list[Buffer]:
        """The kernel's parameters: the operands, the product when stored, and the epilogue's
        other buffers."""
        step = self.step
        found: dict[int, Buffer] = {}
        for b in [step.a, step.b] + ([step.output] if self.product_needed() else []):
            found.setdefault(id(b), b)
        if self.epilogue is not None:
            for b in self.epilogue.buffers:
                if b is not step.output or self.product_needed():
                    found.setdefault(id(b), b)
                elif any(s.buffer is b for s in self.epilogue.stores):
                    found.setdefault(id(b), b)
        return list(found.values())

    def render(self) -> tuple[str, Launch]:
        step, n = self.step, self.names
        sa, sb, so = step.a.type.shape, step.b.type.shape, step.output.type.shape
        if step.transpose_a:    # stored [..., k, m]
            (k, m), a_m, a_k = sa[-2:], 1, sa[-1]
        else:
            (m, k), a_m, a_k = sa[-2:], sa[-1], 1
        if step.transpose_b:    # stored [..., n, k]
            (cols, _), b_k, b_n = sb[-2:], 1, sb[-1]
        else:
            (_, cols), b_k, b_n = sb[-2:], sb[-1], 1
        batch = so[:-2]
        dtype = f"np.{step.output.dtype.numpy.name}"
        zero = f"{dtype}(0)"
        params = self.buffers()
        a, b, c = n[id(step.a)], n[id(step.b)], n[id(step.output)]
        lines = [f'@cuda.jit("{numba_signature(params)}", {DECORATOR_OPTIONS})',
                 f"def {self.name}({', '.join(n[id(p)] for p in params)}):",
                 f"{INDENT}# {step.origin or 'matmul'}: {c} = {step.output.type} = "
                 f"{a}{'^T' if step.transpose_a else ''} @ {b}{'^T' if step.transpose_b else ''}"
                 f"; {TILE}x{TILE} tiles of both in shared memory, batch along the grid's z",
                 f"{INDENT}tile_a = cuda.shared.array(({TILE}, {TILE}), {dtype})",
                 f"{INDENT}tile_b = cuda.shared.array(({TILE}, {TILE}), {dtype})",
                 f"{INDENT}tx = cuda.threadIdx.x",
                 f"{INDENT}ty = cuda.threadIdx.y",
                 f"{INDENT}row = cuda.blockIdx.y * {TILE} + ty",
                 f"{INDENT}col = cuda.blockIdx.x * {TILE} + tx"]
        body = _CudaKernelRenderer(self.epilogue or _NO_KERNEL, n, self.scalars)
        body._unflatten("cuda.blockIdx.z", batch, 0, 1)
        lines += body.lines
        lines.append(f"{INDENT}a_base = {_base(sa, batch)}")
        lines.append(f"{INDENT}b_base = {_base(sb, batch)}")
        # f32 products accumulate in f64, rounded once: within an ulp of the exact product
        # (an f32 sum of K terms drifts by up to K ulps, more than elementwise tolerances allow)
        wide = "np.float64"
        lines += [f"{INDENT}acc = {wide}(0)",
                  f"{INDENT}for tile in range({-(-k // TILE)}):",
                  f"{INDENT * 2}k = tile * {TILE} + tx",
                  f"{INDENT * 2}tile_a[ty, tx] = {a}[a_base + row * {a_m} + k * {a_k}] "
                  f"if row < {m} and k < {k} else {zero}",
                  f"{INDENT * 2}k = tile * {TILE} + ty",
                  f"{INDENT * 2}tile_b[ty, tx] = {b}[b_base + k * {b_k} + col * {b_n}] "
                  f"if k < {k} and col < {cols} else {zero}",
                  f"{INDENT * 2}cuda.syncthreads()",
                  f"{INDENT * 2}for kk in range({TILE}):",
                  f"{INDENT * 3}acc += {wide}(tile_a[ty, kk]) * {wide}(tile_b[kk, tx])",
                  f"{INDENT * 2}cuda.syncthreads()",
                  f"{INDENT}if row < {m} and col < {cols}:",
                  f"{INDENT * 2}product = {dtype}(acc)"]
        if self.product_needed():
            lines.append(f"{INDENT * 2}{c}[cuda.blockIdx.z * {m * cols} + row * {cols} + col] "
                         f"= product")
        if self.epilogue is not None:
            body.lines = []
            body._emit(2, f"i{len(batch)} = row")
            body._emit(2, f"i{len(batch) + 1} = col")
            product_vars = {ld.var: "product" for ld in self.epilogue.loads
                            if ld.buffer is step.output}
            for load in self.epilogue.loads:
                if load.buffer is not step.output:
                    body._emit(2, f"{load.var} = {n[id(load.buffer)]}[{load.index}]")
            body._emit_stores(product_vars, 2)
            lines.append(f"{INDENT * 2}# epilogue ({self.epilogue.origin}), on the accumulator")
            lines += body.lines
        launch = Launch((-(-cols // TILE), -(-m // TILE), max(math.prod(batch), 1)), (TILE, TILE))
        return "\n".join(lines), launch


_NO_KERNEL = Kernel("none", (), [], None, [])  # type: ignore[arg-type]


def _base(shape: tuple[int, ...], batch: tuple[int, ...]) -> str:
    """The offset of an operand's matrix for batch point ``i0, i1, ...`` (the output's batch
    axes; the operand's own batch axes are right-aligned to them and broadcast when 1)."""
    strides = contiguous_strides(shape)[:-2]
    own = shape[:-2]
    lead = len(batch) - len(own)
    terms = [f"i{lead + a} * {strides[a]}" for a in range(len(own)) if own[a] != 1]
    return " + ".join(terms) or "0"


def _entry(program: KernelProgram, names: dict[int, str], launches: dict[int, Launch],
           absorbed: dict[int, int]) -> str:
    params = ", ".join([names[id(b)] for b in program.inputs] + ["library"])
    lines = [f"def run({params}):",
             f'{INDENT}"""@{program.name}: its steps in order, on flat C-contiguous device '
             f'arrays."""']
    fused_into = {epilogue: gemm for gemm, epilogue in absorbed.items()}
    for index, step in enumerate(program.steps):
        if index in fused_into:
            continue
        if isinstance(step, LibraryCall):
            outputs = ", ".join(names[id(b)] for b in step.outputs)
            args = ", ".join(names[id(b)] for b in step.inputs)
            lines.append(f"{INDENT}({outputs},) = library.{library_name(index, step)}({args})"
                         f"  # library call on the host: {step.op}, NumPy reference")
            continue
        if isinstance(step, Gemm):
            epilogue = program.steps[absorbed[index]] if index in absorbed else None
            assert epilogue is None or isinstance(epilogue, Kernel)
            renderer = _GemmRenderer(program, index, step, epilogue, names, CudaScalarRenderer())
            params_ = renderer.buffers()
            made = [b for b in params_ if b is step.output or (
                renderer.epilogue is not None and b in renderer.epilogue.outputs)]
            name, points = renderer.name, step.output.type.size
        else:
            # a kernel filling in part of a buffer, or rewriting it, allocates nothing
            rewritten = {id(b) for b in step.in_place}
            params_, name = step.buffers, step.name
            made = [b for b in step.outputs if id(b) not in rewritten]
            points = math.prod(step.shape)
        for b in made:
            if not any(b is i for i in program.inputs):
                lines.append(f"{INDENT}{names[id(b)]} = cuda.device_array({b.type.size}, "
                             f"np.{b.dtype.numpy.name})")
        if points:
            args = ", ".join(names[id(b)] for b in params_)
            lines.append(f"{INDENT}{name}{launches[index]}({args})")
    results = ", ".join(names[id(b)] for b in program.outputs)
    lines.append(f"{INDENT}return ({results}{',' if len(program.outputs) == 1 else ''})")
    return "\n".join(lines)
