"""Optimizers and learning-rate schedulers with PyTorch's API (``graphc.optim``).

They run eagerly and inside ``@graphc.compile``: a whole training step (forward, backward,
``opt.step()``) traces into one graph that updates parameters and optimizer state in place.

    >>> import graphc
    >>> from graphc.nn import Parameter
    >>> w = Parameter(graphc.zeros(3))
    >>> opt = graphc.optim.Adam([w], lr=1e-2)
    >>> @graphc.compile
    ... def train_step(x, y):
    ...     opt.zero_grad()
    ...     loss = ((x @ w - y) ** 2).mean()
    ...     loss.backward()
    ...     opt.step()
    ...     return loss
    >>> x, y = graphc.ones(4, 3), graphc.ones(4)
    >>> losses = [train_step(x, y).item() for _ in range(3)]
    >>> losses[2] < losses[0], len(train_step.entries)
    (True, 1)
"""
from graphc.optim import lr_scheduler, swa_utils
from graphc.optim.adadelta import Adadelta
from graphc.optim.adafactor import Adafactor
from graphc.optim.adagrad import Adagrad
from graphc.optim.adam import Adam, AdamW
from graphc.optim.adamax import Adamax
from graphc.optim.asgd import ASGD
from graphc.optim.lbfgs import LBFGS
from graphc.optim.nadam import NAdam
from graphc.optim.optimizer import Optimizer
from graphc.optim.radam import RAdam
from graphc.optim.rmsprop import RMSprop
from graphc.optim.rprop import Rprop
from graphc.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adafactor", "Adamax",
           "NAdam", "RAdam", "Rprop", "ASGD", "LBFGS", "lr_scheduler", "swa_utils"]
