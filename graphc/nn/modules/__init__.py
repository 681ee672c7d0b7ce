"""PyTorch's module paths under ``torch.nn.modules``, for code that names classes by them.

PyTorch programs name layer classes by their defining module, most often in an allow-list for
``torch.load``::

    with torch.serialization.safe_globals([torch.nn.modules.rnn.LSTM, ...]):
        model = torch.load(f)

Each submodule here (``graphc.nn.modules.rnn``, ``.linear``, ...) holds the graphc classes that
PyTorch keeps in the module of that name; ``import graphc.nn.modules.rnn`` works too.

    >>> import graphc
    >>> graphc.nn.modules.rnn.LSTM is graphc.nn.LSTM
    True
"""
from __future__ import annotations

import sys
import types

from graphc import nn

# torch.nn.modules.<name>: the classes PyTorch defines there (those graphc has)
_LAYOUT = {
    "module": "Module",
    "container": "Sequential ModuleList ModuleDict ParameterList ParameterDict",
    "linear": "Identity Linear Bilinear LazyLinear",
    "flatten": "Flatten Unflatten",
    "conv": "Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d LazyConv1d "
            "LazyConv2d LazyConv3d",
    "pooling": "MaxPool2d MaxPool3d AvgPool2d AvgPool3d AdaptiveAvgPool1d AdaptiveAvgPool2d "
               "AdaptiveAvgPool3d MaxPool1d AvgPool1d AdaptiveMaxPool1d AdaptiveMaxPool2d "
               "LPPool1d LPPool2d MaxUnpool1d MaxUnpool2d",
    "batchnorm": "BatchNorm1d BatchNorm2d BatchNorm3d",
    "instancenorm": "InstanceNorm1d InstanceNorm2d InstanceNorm3d",
    "normalization": "LayerNorm GroupNorm RMSNorm LocalResponseNorm",
    "dropout": "Dropout Dropout1d Dropout2d Dropout3d AlphaDropout FeatureAlphaDropout",
    "sparse": "Embedding EmbeddingBag",
    "activation": "ReLU ReLU6 GELU SiLU Tanh Sigmoid LogSigmoid Softplus Softmax LogSoftmax "
                  "Softmin LeakyReLU ELU Hardtanh MultiheadAttention SELU CELU GLU Hardswish "
                  "Hardsigmoid Hardshrink Softshrink Tanhshrink Softsign Mish Threshold RReLU "
                  "PReLU Softmax2d",
    "loss": "MSELoss L1Loss SmoothL1Loss HuberLoss KLDivLoss CrossEntropyLoss NLLLoss BCELoss "
            "BCEWithLogitsLoss CosineEmbeddingLoss MarginRankingLoss HingeEmbeddingLoss "
            "SoftMarginLoss MultiLabelSoftMarginLoss MultiMarginLoss MultiLabelMarginLoss "
            "TripletMarginLoss PoissonNLLLoss GaussianNLLLoss CTCLoss",
    "rnn": "RNN LSTM GRU RNNCell LSTMCell GRUCell",
    "transformer": "TransformerEncoderLayer TransformerEncoder TransformerDecoderLayer "
                   "TransformerDecoder Transformer",
    "upsampling": "Upsample UpsamplingNearest2d UpsamplingBilinear2d",
    "pixelshuffle": "PixelShuffle PixelUnshuffle",
    "fold": "Fold Unfold",
    "padding": "ZeroPad1d ZeroPad2d ZeroPad3d ConstantPad1d ConstantPad2d ConstantPad3d "
               "ReflectionPad1d ReflectionPad2d ReflectionPad3d ReplicationPad1d "
               "ReplicationPad2d ReplicationPad3d CircularPad1d CircularPad2d CircularPad3d",
    "distance": "CosineSimilarity PairwiseDistance",
    "channelshuffle": "ChannelShuffle",
    "adaptive": "AdaptiveLogSoftmaxWithLoss",
}

__all__ = sorted(_LAYOUT)


def _make(name: str, classes: str) -> types.ModuleType:
    module = types.ModuleType(f"{__name__}.{name}",
                              f"graphc's classes at PyTorch's torch.nn.modules.{name}.")
    for cls in classes.split():
        setattr(module, cls, getattr(nn, cls))
    module.__all__ = classes.split()
    sys.modules[module.__name__] = module
    return module


for _name, _classes in _LAYOUT.items():
    globals()[_name] = _make(_name, _classes)
# MultiheadAttention's output projection class in PyTorch: a Linear under another name
linear.NonDynamicallyQuantizableLinear = nn.Linear  # type: ignore[name-defined] # noqa: F821
