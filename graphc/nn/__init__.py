"""Neural-network building blocks with PyTorch's names, shapes and initializations."""
from graphc.nn.module import Module, Parameter
