"""Neural-network building blocks with PyTorch's names, shapes and initializations.

    >>> import graphc
    >>> from graphc import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> model(graphc.zeros(3, 4)).shape
    (3, 2)
"""
import importlib as _importlib

from graphc.nn import functional, init
from graphc.nn.activation import (
    ELU,
    GELU,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softmin,
    Softplus,
    Tanh,
)
from graphc.nn.activation_more import (
    CELU,
    GLU,
    SELU,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Mish,
    PReLU,
    RReLU,
    Softmax2d,
    Softshrink,
    Softsign,
    Tanhshrink,
    Threshold,
)
from graphc.nn.adaptive import AdaptiveLogSoftmaxWithLoss
from graphc.nn.bilinear import Bilinear, ChannelShuffle
from graphc.nn.container import ModuleDict, ModuleList, Sequential
from graphc.nn.conv import (
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
)
from graphc.nn.distance import CosineSimilarity, PairwiseDistance
from graphc.nn.dropout import (
    AlphaDropout,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    FeatureAlphaDropout,
)
from graphc.nn.embedding_bag import EmbeddingBag
from graphc.nn.fold import Fold, Unfold
from graphc.nn.lazy import (
    LazyConv1d,
    LazyConv2d,
    LazyConv3d,
    LazyLinear,
    UninitializedParameter,
)
from graphc.nn.linear import Flatten, Identity, Linear, Unflatten
from graphc.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from graphc.nn.loss_more import (
    CosineEmbeddingLoss,
    CTCLoss,
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    MarginRankingLoss,
    MultiLabelMarginLoss,
    MultiLabelSoftMarginLoss,
    MultiMarginLoss,
    PoissonNLLLoss,
    SoftMarginLoss,
    TripletMarginLoss,
    TripletMarginWithDistanceLoss,
)
from graphc.nn.module import Module, Parameter
from graphc.nn.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from graphc.nn.normalization_more import (
    BatchNorm3d,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    LocalResponseNorm,
    RMSNorm,
)
from graphc.nn.padding import (
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
)
from graphc.nn.parameter_containers import ParameterDict, ParameterList
from graphc.nn.pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AvgPool2d,
    AvgPool3d,
    MaxPool2d,
    MaxPool3d,
)
from graphc.nn.pooling_more import (
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    AvgPool1d,
    LPPool1d,
    LPPool2d,
    MaxPool1d,
    MaxUnpool1d,
    MaxUnpool2d,
)
from graphc.nn.sparse import Embedding
from graphc.nn.upsampling import (
    PixelShuffle,
    PixelUnshuffle,
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
)

__all__ = [
    "Module", "Parameter", "functional", "init", "utils", "Sequential", "ModuleList", "ModuleDict",
    "Linear", "Identity", "Flatten", "Unflatten", "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d",
    "AdaptiveAvgPool2d", "AdaptiveAvgPool1d", "BatchNorm1d", "BatchNorm2d", "LayerNorm",
    "GroupNorm", "Dropout", "Embedding", "ReLU", "ReLU6", "GELU", "SiLU", "Tanh", "Sigmoid",
    "LogSigmoid", "Softplus", "Softmax", "LogSoftmax", "Softmin", "LeakyReLU", "ELU", "Hardtanh",
    "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss", "CrossEntropyLoss", "NLLLoss",
    "BCELoss", "BCEWithLogitsLoss", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
    "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder",
    "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Dropout1d", "Dropout2d", "Dropout3d",
    "TransformerDecoderLayer", "TransformerDecoder", "Transformer", "Upsample",
    "UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle", "PixelUnshuffle", "Conv3d",
    "MaxPool3d", "AvgPool3d", "AdaptiveAvgPool3d", "AlphaDropout", "FeatureAlphaDropout",
    "parallel", "DataParallel",
    "Fold", "Unfold",
]
# the second wave of layers, losses and containers
__all__ += [
    "CELU", "GLU", "PReLU", "RReLU", "SELU", "Hardshrink", "Hardsigmoid", "Hardswish", "Mish",
    "Softmax2d", "Softshrink", "Softsign", "Tanhshrink", "Threshold", "Bilinear",
    "ChannelShuffle", "CosineSimilarity", "PairwiseDistance", "EmbeddingBag",
    "CosineEmbeddingLoss", "GaussianNLLLoss", "HingeEmbeddingLoss", "MarginRankingLoss",
    "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss", "PoissonNLLLoss",
    "SoftMarginLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss", "BatchNorm3d",
    "InstanceNorm1d", "InstanceNorm2d",
    "InstanceNorm3d", "LocalResponseNorm", "RMSNorm", "CircularPad1d", "CircularPad2d",
    "CircularPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ReflectionPad1d",
    "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
    "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ParameterDict", "ParameterList",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "AvgPool1d", "LPPool1d",
    "LPPool2d", "MaxPool1d",
    "MaxUnpool1d", "MaxUnpool2d", "LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConv3d",
    "UninitializedParameter", "parameter",
]

# PyTorch's torch.nn.modules.* paths (graphc/nn/modules/; imported on first use, see _LAZY)
__all__ += ["modules"]
# data-parallel training (issue 12)
__all__ += ["SyncBatchNorm"]  # graphc/nn/sync_batchnorm.py (imported on first use)
# the connectionist temporal classification loss (session 27)
__all__ += ["CTCLoss"]
# the adaptive softmax (session 27)
__all__ += ["AdaptiveLogSoftmaxWithLoss"]

from graphc.nn import parameter  # noqa: E402  (torch.nn.parameter)

# Lazy loading (PEP 562; docs/DESIGN-NOTES.md, "Lazy loading"): these are imported on first use
# (``nn.LSTM``, ``from graphc.nn import DataParallel``), not by ``import graphc``, which needs
# only nn.functional and the common layers. name -> (module, attribute or None for the module)
_LAZY = {"parallel": ("graphc.nn.parallel", None), "utils": ("graphc.nn.utils", None),
         "modules": ("graphc.nn.modules", None), "rnn": ("graphc.nn.rnn", None),
         "transformer": ("graphc.nn.transformer", None),
         "transformer_decoder": ("graphc.nn.transformer_decoder", None),
         "sync_batchnorm": ("graphc.nn.sync_batchnorm", None),
         "DataParallel": ("graphc.nn.parallel", "DataParallel"),
         "SyncBatchNorm": ("graphc.nn.sync_batchnorm", "SyncBatchNorm")}
_LAZY.update({name: ("graphc.nn.rnn", name)
              for name in ("GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell")})
_LAZY.update({name: ("graphc.nn.transformer", name)
              for name in ("MultiheadAttention", "TransformerEncoder", "TransformerEncoderLayer")})
_LAZY.update({name: ("graphc.nn.transformer_decoder", name)
              for name in ("Transformer", "TransformerDecoder", "TransformerDecoderLayer")})


def __getattr__(name: str):
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
        module = _importlib.import_module(module_name)
        value = module if attribute is None else getattr(module, attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'graphc.nn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
