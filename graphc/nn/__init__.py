"""Neural-network building blocks with PyTorch's names, shapes and initializations.

    >>> import graphc
    >>> from graphc import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> model(graphc.zeros(3, 4)).shape
    (3, 2)
"""
from graphc.nn.module import Module, Parameter
from graphc.nn import functional, init
from graphc.nn.container import Sequential, ModuleList, ModuleDict
from graphc.nn.linear import Linear, Identity, Flatten, Unflatten
from graphc.nn.conv import Conv1d, Conv2d
from graphc.nn.pooling import MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveAvgPool1d
from graphc.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm
from graphc.nn.dropout import Dropout
from graphc.nn.sparse import Embedding
from graphc.nn.activation import ReLU, ReLU6, GELU, SiLU, Tanh, Sigmoid, LogSigmoid, Softplus
from graphc.nn.activation import Softmax, LogSoftmax, Softmin, LeakyReLU, ELU, Hardtanh
from graphc.nn.loss import MSELoss, L1Loss, SmoothL1Loss, HuberLoss, KLDivLoss
from graphc.nn.loss import CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss
from graphc.nn.rnn import RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell
from graphc.nn.transformer import MultiheadAttention, TransformerEncoderLayer, TransformerEncoder
