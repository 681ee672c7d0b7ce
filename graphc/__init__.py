"""graphc: PyTorch-style deep learning that runs eagerly or compiles through a typed IR.

    >>> import graphc
    >>> x = graphc.randn(4, 3)
    >>> f = graphc.compile(lambda x: graphc.relu(x).sum(dim=1))
    >>> ((f(x) - graphc.relu(x).sum(dim=1)).abs() < 1e-6).all().item()
    True
"""
from backends.threads import get_num_threads, set_num_threads
from graphc import autograd, cuda, data, nn, optim
from graphc import logs as _logs
from graphc import tensor_methods as _tensor_methods  # noqa: F401  (Tensor's ops and methods)
from graphc.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from graphc.compile import compile, trace
from graphc.device import DeviceError, device
from graphc.dtype_info import finfo, iinfo
from graphc.errors import (
                           AutogradError,
                           CheckpointError,
                           DTypeError,
                           GraphcError,
                           IRError,
                           ParseError,
                           ShapeError,
                           TraceError,
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
from graphc.func import grad, value_and_grad
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
                           cast,
                           cat,
                           chunk,
                           clamp,
                           clip,
                           concat,
                           cos,
                           div,
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
                           index_select,
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
from graphc.random import manual_seed
from graphc.serialization import load, save
from graphc.tensor import Tensor
from graphc.tracing import TraceContext

float = float32  # noqa: A001  (graphc.float, like torch.float)
double = float64
long = int64

__version__ = "0.1.0"

_logs.configure_from_environment()  # GRAPHC_LOG=graph,passes,guards

__all__ = [
    "AutogradError", "CheckpointError", "DTypeError", "GraphcError", "IRError", "ParseError",
    "ShapeError", "TraceError", "VerifyError", "Tensor", "arange", "as_tensor", "bool", "empty",
    "eye", "float32", "float64", "from_numpy", "full", "full_like", "int32", "int64", "linspace",
    "normal", "ones", "ones_like", "rand", "rand_like", "randint", "randn", "randn_like",
    "randperm", "tensor", "uniform", "zeros", "zeros_like", "abs", "add", "all", "amax", "amin",
    "any", "argmax", "argmin", "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "bmm",
    "cast", "cat", "chunk", "clamp", "clip", "concat", "cos", "div", "dot", "eq", "erf", "exp",
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
    "short", "float16", "half", "bfloat16", "finfo", "iinfo",
]
