"""graphc: PyTorch-style deep learning that runs eagerly or compiles through a typed IR.

    >>> import graphc
    >>> x = graphc.randn(4, 3)
    >>> f = graphc.compile(lambda x: graphc.relu(x).sum(dim=1))
    >>> ((f(x) - graphc.relu(x).sum(dim=1)).abs() < 1e-6).all().item()
    True
"""
import importlib as _importlib
import sys as _sys
import types as _types

from backends.llvm.blas import set_blas_threads as _set_blas_threads
from backends.threads import get_num_threads, set_num_threads
from graphc import (  # PyTorch's module paths
                           accelerator,
                           amp,
                           autograd,
                           backends,
                           cuda,
                           func,
                           linalg,
                           nn,
                           return_types,
                           sparse,
)
from graphc import autograd_gradcheck as _autograd_gradcheck
from graphc import logs as _logs
from graphc import tensor_compat as _tensor_compat  # noqa: F401  (.data, .type(), new_*, ...)
from graphc import tensor_methods as _tensor_methods  # noqa: F401  (Tensor's ops and methods)
from graphc import windows as _windows  # noqa: F401  (Tensor.unfold)
from graphc.amp import (
                           autocast,
                           get_autocast_dtype,
                           is_autocast_cache_enabled,
                           is_autocast_enabled,
                           set_autocast_cache_enabled,
                           set_autocast_dtype,
                           set_autocast_enabled,
)
from graphc.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from graphc.composites import (
                           addcdiv,
                           addcmul,
                           allclose,
                           flip,
                           fliplr,
                           flipud,
                           isclose,
                           roll,
                           t,
                           unbind,
)
from graphc.contractions import (
                           addbmm,
                           addmm,
                           addmv,
                           addr,
                           baddbmm,
                           einsum,
                           ger,
                           mv,
                           tensordot,
)
from graphc.data_dependent import (
                           argwhere,
                           bincount,
                           masked_select,
                           nonzero,
                           unique,
                           unique_consecutive,
)
from graphc.device import DeviceError, device
from graphc.diagonals import diag, diag_embed, diagonal
from graphc.dtype_info import can_cast, finfo, iinfo, promote_types, result_type
from graphc.errors import (
                           ArgumentDTypeError,
                           ArgumentError,
                           ArgumentTypeError,
                           AutogradError,
                           CheckpointError,
                           DTypeError,
                           GraphcError,
                           IndexArgumentError,
                           IntegerDivisionByZero,
                           IRError,
                           ParseError,
                           ShapeError,
                           TraceError,
                           UnsupportedArgumentError,
                           VerifyError,
)
from graphc.factories import (
                           arange,
                           as_tensor,
                           bfloat16,
                           bool,
                           empty,
                           eye,
                           float16,
                           float32,
                           float64,
                           from_numpy,
                           full,
                           full_like,
                           half,
                           int8,
                           int16,
                           int32,
                           int64,
                           linspace,
                           normal,
                           ones,
                           ones_like,
                           rand,
                           rand_like,
                           randint,
                           randn,
                           randn_like,
                           randperm,
                           short,
                           tensor,
                           uint8,
                           uniform,
                           zeros,
                           zeros_like,
)
from graphc.func import autograd_functional as _autograd_functional
from graphc.func import grad, value_and_grad, vmap
from graphc.functions import (
                           abs,
                           add,
                           all,
                           amax,
                           amin,
                           any,
                           argmax,
                           argmin,
                           bitwise_and,
                           bitwise_not,
                           bitwise_or,
                           bitwise_xor,
                           bmm,
                           broadcast_to,
                           cast,
                           cat,
                           chunk,
                           clamp,
                           clip,
                           concat,
                           cos,
                           dot,
                           eq,
                           erf,
                           exp,
                           expand,
                           expm1,
                           flatten,
                           gather,
                           ge,
                           gelu,
                           gt,
                           isfinite,
                           isinf,
                           isnan,
                           le,
                           log,
                           log1p,
                           log_softmax,
                           logical_and,
                           logical_not,
                           logical_or,
                           logical_xor,
                           logsumexp,
                           lt,
                           matmul,
                           max,
                           maximum,
                           mean,
                           min,
                           minimum,
                           mm,
                           mul,
                           narrow,
                           ne,
                           neg,
                           outer,
                           pad,
                           permute,
                           pow,
                           reciprocal,
                           relu,
                           reshape,
                           rsqrt,
                           scatter_add,
                           sigmoid,
                           sign,
                           silu,
                           sin,
                           softmax,
                           split,
                           sqrt,
                           square,
                           squeeze,
                           stack,
                           std,
                           sub,
                           sum,
                           tanh,
                           transpose,
                           tril,
                           triu,
                           unsqueeze,
                           var,
                           where,
)
from graphc.index_ops import (
                           index_add,
                           index_copy,
                           index_fill,
                           index_put,
                           index_reduce,
                           scatter,
                           scatter_reduce,
                           take_along_dim,
)
from graphc.linalg import tensor_norm as norm
from graphc.linalg_decompositions import pinverse
from graphc.linalg_decompositions import qr_legacy as qr
from graphc.linalg_decompositions import svd_legacy as svd
from graphc.linalg_lu import lu_unpack
from graphc.linalg_more import matrix_exp
from graphc.linalg_more import vander_legacy as vander
from graphc.linalg_solvers import det, logdet, matrix_power, slogdet
from graphc.linalg_solvers import inv as inverse
from graphc.linalg_triangular import cholesky_inverse, cholesky_solve, triangular_solve
from graphc.math_functions import (
                           acos,
                           acosh,
                           arccos,
                           arccosh,
                           arcsin,
                           arcsinh,
                           arctan,
                           arctan2,
                           arctanh,
                           asin,
                           asinh,
                           atan,
                           atan2,
                           atanh,
                           ceil,
                           clamp_max,
                           clamp_min,
                           cosh,
                           div,
                           divide,
                           exp2,
                           fix,
                           floor,
                           floor_divide,
                           fmod,
                           frac,
                           hypot,
                           lerp,
                           log2,
                           log10,
                           logaddexp,
                           remainder,
                           round,
                           sinh,
                           tan,
                           true_divide,
                           trunc,
                           xlogy,
)
from graphc.random import manual_seed
from graphc.scans_sorts import (
                           argsort,
                           cummax,
                           cummin,
                           cumprod,
                           cumsum,
                           kthvalue,
                           logcumsumexp,
                           median,
                           msort,
                           prod,
                           sort,
                           topk,
)
from graphc.size import Size
from graphc.sparse import SparseCOOTensor, sparse_coo_tensor, spmm
from graphc.tensor import Tensor
from graphc.tensor_compat import BoolTensor, DoubleTensor, FloatTensor, IntTensor, LongTensor
from graphc.torch_functions import (
                           absolute,
                           atleast_1d,
                           atleast_2d,
                           atleast_3d,
                           broadcast_tensors,
                           bucketize,
                           cartesian_prod,
                           cdist,
                           clone,
                           column_stack,
                           concatenate,
                           count_nonzero,
                           cov,
                           cross,
                           diagflat,
                           diff,
                           dist,
                           dsplit,
                           dstack,
                           equal,
                           erfinv,
                           histc,
                           hsplit,
                           hstack,
                           index_select,
                           inner,
                           is_floating_point,
                           is_tensor,
                           isin,
                           kron,
                           logit,
                           masked_fill,
                           meshgrid,
                           moveaxis,
                           movedim,
                           nan_to_num,
                           nanmean,
                           nansum,
                           numel,
                           quantile,
                           ravel,
                           renorm,
                           repeat_interleave,
                           rot90,
                           row_stack,
                           searchsorted,
                           select,
                           signbit,
                           slice_scatter,
                           std_mean,
                           swapaxes,
                           swapdims,
                           take,
                           tensor_split,
                           tile,
                           trapezoid,
                           trapz,
                           var_mean,
                           vsplit,
                           vstack,
)
from graphc.torch_runtime import (
                           Generator,
                           aminmax,
                           bernoulli,
                           empty_like,
                           get_default_dtype,
                           get_rng_state,
                           inference_mode,
                           initial_seed,
                           logspace,
                           mode,
                           multinomial,
                           randint_like,
                           range,
                           seed,
                           set_default_dtype,
                           set_printoptions,
                           set_rng_state,
                           tril_indices,
                           triu_indices,
)
from graphc.tracing import TraceContext

float = float32  # noqa: A001  (graphc.float, like torch.float)
double = float64
long = int64

__version__ = "0.1.0"

# ``graphc.autograd.functional`` (torch.autograd.functional): importable by that name too
autograd.functional = _autograd_functional
_sys.modules["graphc.autograd.functional"] = _autograd_functional
# ``graphc.autograd.gradcheck``/``gradgradcheck`` (the functions, as in PyTorch) and the module
# by that import path (from torch.autograd.gradcheck import GradcheckError)
autograd.gradcheck = _autograd_gradcheck.gradcheck
autograd.gradgradcheck = _autograd_gradcheck.gradgradcheck
_sys.modules["graphc.autograd.gradcheck"] = _autograd_gradcheck

_logs.configure_from_environment()  # GRAPHC_LOG=graph,passes,guards
# NumPy's bundled BLAS, which eager matmul uses as well as compiled code, gets graphc's thread
# count from the start (one thread on two cores or fewer: its spin-waiting pool is ~10x slower
# at the median on a shared machine), not only once something is compiled.
_set_blas_threads(get_num_threads())

__all__ = [
    "AutogradError", "CheckpointError", "DTypeError", "GraphcError", "IRError", "ParseError",
    "ShapeError", "TraceError", "VerifyError", "Tensor", "arange", "as_tensor", "bool", "empty",
    "eye", "float32", "float64", "from_numpy", "full", "full_like", "int32", "int64", "linspace",
    "normal", "ones", "ones_like", "rand", "rand_like", "randint", "randn", "randn_like",
    "randperm", "tensor", "uniform", "zeros", "zeros_like", "abs", "add", "all", "amax", "amin",
    "any", "argmax", "argmin", "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "bmm",
    "cast", "cat", "chunk", "clamp", "clip", "concat", "cos", "dot", "eq", "erf", "exp",
    "expand", "flatten", "gather", "ge", "gelu", "gt", "index_select", "isfinite", "isinf",
    "isnan", "le", "log", "log_softmax", "logical_and", "logical_not", "logical_or", "logsumexp",
    "log1p", "expm1", "lt", "matmul", "max", "maximum", "mean", "min", "minimum", "mm", "mul",
    "narrow", "ne", "neg", "outer", "pad", "permute", "pow", "reciprocal", "relu", "reshape",
    "rsqrt", "scatter_add", "sigmoid", "sign", "silu", "sin", "softmax", "split", "sqrt", "square",
    "squeeze", "stack", "std", "sub", "sum", "tanh", "transpose", "tril", "triu", "unsqueeze",
    "var", "where", "enable_grad", "no_grad", "set_grad_enabled", "is_grad_enabled", "autograd",
    "manual_seed", "TraceContext", "compile", "trace", "grad", "value_and_grad", "nn", "optim",
    "data", "save", "load", "cuda", "device", "DeviceError", "get_num_threads",
    "set_num_threads", "float", "double", "long", "__version__", "uint8", "int8", "int16",
    "short", "float16", "half", "bfloat16", "finfo", "iinfo", "can_cast", "promote_types",
    "result_type",
    "return_types", "prod", "cumsum", "cumprod", "logcumsumexp", "cummax", "cummin", "argsort",
    "sort", "msort", "topk", "kthvalue", "median",
    # PyTorch's front-end surface (issue 10): module paths, legacy types, composites
    "accelerator", "backends", "linalg", "onnx", "testing", "utils", "FloatTensor", "DoubleTensor",
    "LongTensor", "IntTensor", "BoolTensor", "addcdiv", "addcmul", "allclose", "flip", "fliplr",
    "flipud", "isclose", "roll", "t", "unbind", "argwhere", "masked_select", "nonzero", "norm",
    # scatter and index family (graphc/index_ops.py)
    "index_add", "index_copy", "index_fill", "index_put", "index_reduce", "scatter",
    "scatter_reduce",
    "take_along_dim",
    # contractions and diagonals (graphc/contractions.py, graphc/diagonals.py)
    "addbmm", "addmm", "addmv", "addr", "baddbmm", "einsum", "ger", "mv", "tensordot",
    "diag", "diag_embed", "diagonal",
    # sparse COO tensors (graphc/sparse.py)
    "sparse", "SparseCOOTensor", "sparse_coo_tensor", "spmm",
    "IntegerDivisionByZero", "ArgumentError", "ArgumentTypeError", "ArgumentDTypeError",
    "IndexArgumentError", "UnsupportedArgumentError",
    # graphc.math_functions
    "acos", "acosh", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh",
    "asin", "asinh", "atan", "atan2", "atanh", "ceil", "clamp_min", "clamp_max", "cosh", "div",
    "divide", "exp2", "fix", "floor", "floor_divide", "fmod", "frac", "hypot", "lerp", "log10",
    "log2", "logaddexp", "remainder", "round", "sinh", "tan", "true_divide", "trunc", "xlogy",
]
__all__ += ["Size"]  # graphc/size.py
__all__ += ["func", "vmap"]  # function transforms (graphc.func)
__all__ += ["det", "inverse", "logdet", "matrix_power", "slogdet"]  # graphc/linalg_solvers.py
__all__ += ["pinverse", "qr", "svd"]  # graphc/linalg_decompositions.py
# graphc/linalg_triangular.py, linalg_lu.py, linalg_more.py
__all__ += ["cholesky_inverse", "cholesky_solve", "triangular_solve", "lu_unpack", "matrix_exp",
            "vander"]
# more of PyTorch's top level (graphc/torch_functions.py, graphc/torch_runtime.py, data_dependent)
__all__ += ["bincount", "unique", "unique_consecutive", "logical_xor", "broadcast_to"]
__all__ += [
    "absolute", "atleast_1d", "atleast_2d", "atleast_3d", "broadcast_tensors", "bucketize",
    "cartesian_prod", "cdist", "clone", "column_stack", "concatenate", "count_nonzero", "cov",
    "cross", "diagflat", "diff", "dist", "dsplit", "dstack", "equal", "erfinv", "histc",
    "hsplit", "hstack", "inner", "is_floating_point", "is_tensor", "isin", "kron", "logit",
    "masked_fill", "meshgrid", "moveaxis", "movedim", "nan_to_num", "nanmean", "nansum",
    "numel", "quantile", "ravel", "renorm", "repeat_interleave", "rot90", "row_stack",
    "searchsorted",
    "select", "signbit", "slice_scatter", "std_mean", "swapaxes", "swapdims", "take",
    "tensor_split", "tile", "trapezoid", "trapz", "var_mean", "vsplit", "vstack"
]
__all__ += [
    "Generator", "aminmax", "bernoulli", "empty_like", "get_default_dtype", "get_rng_state",
    "inference_mode", "initial_seed", "logspace", "mode", "multinomial", "randint_like",
    "range", "seed", "set_default_dtype", "set_printoptions", "set_rng_state", "tril_indices",
    "triu_indices"
]
# PyTorch's remaining elementwise functions and aliases (graphc/elementwise_extras.py)
from graphc.elementwise_extras import (  # noqa: E402
    bitwise_left_shift,
    bitwise_right_shift,
    copysign,
    deg2rad,
    float_power,
    fmax,
    fmin,
    greater,
    greater_equal,
    heaviside,
    isneginf,
    isposinf,
    less,
    less_equal,
    multiply,
    negative,
    not_equal,
    rad2deg,
    rsub,
    sgn,
    sinc,
    subtract,
    unflatten,
    vdot,
)

__all__ += [
    "bitwise_left_shift", "bitwise_right_shift", "copysign", "deg2rad", "float_power", "fmax",
    "fmin", "greater", "greater_equal", "heaviside", "isneginf", "isposinf", "less",
    "less_equal", "multiply", "negative", "not_equal", "rad2deg", "rsub", "sgn", "sinc",
    "subtract", "unflatten", "vdot",
]
# writes into views and block matrices (graphc/view_scatters.py)
from graphc.view_scatters import block_diag, diagonal_scatter, select_scatter  # noqa: E402

__all__ += ["block_diag", "diagonal_scatter", "select_scatter"]
# checkpoints in the ecosystem's formats: .safetensors (graphc/safetensors.py); graphc.load
# also reads PyTorch's .pt (graphc/torch_checkpoint.py)
__all__ += ["save_file", "load_file"]
# the profiler (graphc/profiler/): torch.profiler's profile, record_function, tables, traces
from graphc import profiler  # noqa: E402

__all__ += ["profiler"]
# data-parallel training over MPI (issue 12): graphc.distributed, torch.distributed's names
# (imported on first use, see _LAZY_MODULES; it imports no MPI until init_process_group)
__all__ += ["distributed"]
# automatic mixed precision (graphc/amp/): torch.autocast, torch.amp.GradScaler
__all__ += ["amp", "autocast", "get_autocast_dtype", "is_autocast_cache_enabled",
            "is_autocast_enabled", "set_autocast_cache_enabled", "set_autocast_dtype",
            "set_autocast_enabled"]

# special functions (graphc/special_functions.py): torch.special and the top-level gamma family
from graphc import special  # noqa: E402
from graphc.incomplete_gamma import gammainc as igamma  # noqa: E402
from graphc.incomplete_gamma import gammaincc as igammac  # noqa: E402
from graphc.special_functions import digamma, erfc, i0, lgamma, mvlgamma, polygamma  # noqa: E402

__all__ += ["special", "digamma", "erfc", "i0", "lgamma", "mvlgamma", "polygamma", "igamma",
            "igammac"]

# more of PyTorch's top level, session 27 (graphc/torch_functions_more.py, elementwise_extras)
from graphc.elementwise_extras import (  # noqa: E402
    angle,
    frexp,
    gcd,
    is_nonzero,
    isreal,
    lcm,
    ldexp,
    logaddexp2,
    nextafter,
    positive,
)
from graphc.torch_functions_more import (  # noqa: E402
    chain_matmul,
    combinations,
    corrcoef,
    cosine_similarity,
    cumulative_trapezoid,
    frombuffer,
    gradient,
    histogram,
    histogramdd,
    nanmedian,
    pairwise_distance,
    pdist,
    poisson,
    unravel_index,
)

__all__ += [
    "angle", "frexp", "gcd", "is_nonzero", "isreal", "lcm", "ldexp", "logaddexp2", "nextafter",
    "positive", "chain_matmul", "combinations", "corrcoef", "cosine_similarity",
    "cumulative_trapezoid", "frombuffer", "gradient", "histogram", "histogramdd", "nanmedian",
    "pairwise_distance", "pdist", "poisson", "unravel_index",
]

# more of PyTorch's surface, session 27 (graphc/torch_aliases.py: top-level forms of
# nn.functional with ATen's signatures, top-level in-place and *_copy forms;
# graphc/torch_surface_more.py: windows, queries, factories, DLPack, legacy linalg;
# graphc/torch_settings.py: global switches; graphc/tensor_surface_more.py: Tensor methods)
from graphc import tensor_signatures as _tensor_signatures  # noqa: E402,F401  (x.flip(0, 1), +x)
from graphc import tensor_surface_more as _tensor_surface_more  # noqa: E402,F401
from graphc import torch_aliases as _torch_aliases  # noqa: E402
from graphc.autograd_anomaly import (  # noqa: E402
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_anomaly_enabled,
)
from graphc.torch_functions import (  # noqa: E402
    masked_scatter,
    nanquantile,  # noqa: E402
    put,
)
from graphc.torch_runtime import is_inference_mode_enabled  # noqa: E402
from graphc.torch_settings import (  # noqa: E402
    are_deterministic_algorithms_enabled,
    get_default_device,
    get_deterministic_debug_mode,
    get_float32_matmul_precision,
    get_num_interop_threads,
    is_deterministic_algorithms_warn_only_enabled,
    is_warn_always_enabled,
    set_default_device,
    set_deterministic_debug_mode,
    set_float32_matmul_precision,
    set_flush_denormal,
    set_num_interop_threads,
    set_warn_always,
    use_deterministic_algorithms,
)
from graphc.torch_surface_more import (  # noqa: E402
    adjoint,
    asarray,
    bartlett_window,
    binomial,
    blackman_window,
    broadcast_shapes,
    cholesky,
    conj,
    conj_physical,
    conj_physical_,
    e,
    empty_permuted,
    empty_strided,
    fill,
    frobenius_norm,
    from_dlpack,
    get_device,
    hamming_window,
    hann_window,
    imag,
    inf,
    is_complex,
    is_conj,
    is_inference,
    is_neg,
    is_same_size,
    is_signed,
    kaiser_window,
    layout,
    lu,
    lu_solve,
    nan,
    newaxis,
    nuclear_norm,
    pi,
    real,
    resize_as_,
    resolve_conj,
    resolve_neg,
    scalar_tensor,
    strided,
    to_dlpack,
    typename,
)

globals().update({name: getattr(_torch_aliases, name) for name in _torch_aliases.__all__})
detach = Tensor.detach

__all__ += list(_torch_aliases.__all__) + [
    "is_anomaly_check_nan_enabled", "is_anomaly_enabled", "set_anomaly_enabled", "nanquantile",
    "is_inference_mode_enabled", "masked_scatter", "put", "detach",
    "are_deterministic_algorithms_enabled", "get_default_device", "get_deterministic_debug_mode",
    "get_float32_matmul_precision", "get_num_interop_threads",
    "is_deterministic_algorithms_warn_only_enabled", "is_warn_always_enabled",
    "set_default_device", "set_deterministic_debug_mode", "set_float32_matmul_precision",
    "set_flush_denormal", "set_num_interop_threads", "set_warn_always",
    "use_deterministic_algorithms",
    "asarray", "bartlett_window", "binomial", "blackman_window", "broadcast_shapes", "cholesky",
    "conj", "conj_physical", "empty_permuted", "empty_strided", "fill", "frobenius_norm",
    "from_dlpack", "hamming_window", "hann_window", "imag", "is_complex", "is_conj",
    "is_inference", "is_neg", "is_same_size", "is_signed", "kaiser_window", "layout", "lu",
    "lu_solve", "nuclear_norm", "real", "resolve_conj", "resolve_neg", "scalar_tensor",
    "strided", "to_dlpack", "typename", "adjoint", "conj_physical_", "e", "get_device", "inf",
    "nan", "newaxis", "pi", "resize_as_", "default_generator",
]
# last, once every method is attached: PyTorch's view ops (x[0], x.t(), x.view(...), split,
# detach, ...) return views, which share values with their base (graphc/views.py)
from graphc import views as _views  # noqa: E402
from graphc.random import default_generator  # noqa: E402  (torch.default_generator)

_views.install(globals())
_tensor_signatures.install()  # x.squeeze(0, 1) outside the view wrappers (tensor_signatures)

# probability distributions (graphc/distributions/): torch.distributions' families, KL,
# transforms
__all__ += ["distributions"]

# PyTorch's out= keyword on the top-level functions that take it (graphc/out_arg.py)
from graphc import out_arg as _out_arg  # noqa: E402

_out_arg.install(globals(), vars(special))  # (graphc.special.erf is graphc.erf)

# Lazy loading (PEP 562; docs/DESIGN-NOTES.md, "Lazy loading"): these submodules and names are
# imported on first use (``graphc.optim``, ``from graphc import compile``), not by
# ``import graphc``, which stays fast; eager ops need none of them.
_LAZY_MODULES = frozenset({"data", "distributed", "distributions", "onnx", "optim", "testing",
                           "utils",
                           # bound on graphc by the eager imports before: graphc.serialization is
                           # torch.serialization's path (safe_globals), the rest for old code
                           "serialization", "safetensors", "guards", "compiled_grad",
                           "compile_device", "naming", "data_sampler", "data_workers"})
# name -> the module that defines it (the compiler stack: ir's passes, backends, guards;
# checkpoint formats)
_LAZY_NAMES = {"compile": "graphc.compile", "trace": "graphc.compile",
               "load": "graphc.serialization", "save": "graphc.serialization",
               "load_file": "graphc.safetensors", "save_file": "graphc.safetensors"}


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        return _importlib.import_module(f"graphc.{name}")
    if name in _LAZY_NAMES:
        value = getattr(_importlib.import_module(_LAZY_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'graphc' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _LAZY_MODULES | set(_LAZY_NAMES))


class _Package(_types.ModuleType):
    """``graphc``'s module type: importing the submodule ``graphc.compile`` (which the import
    system binds as ``graphc.compile``) leaves the function ``graphc.compile`` in its place."""

    def __setattr__(self, name, value):
        if name in _LAZY_NAMES and isinstance(value, _types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
