"""``nn.AdaptiveLogSoftmaxWithLoss``: the adaptive softmax of Grave et al. (2016) for large
vocabularies, as PyTorch's (its submodules ``head`` and ``tail.<i>.0`` / ``tail.<i>.1``, so
state dicts move between the two).

    >>> import graphc
    >>> from graphc import nn
    >>> asm = nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs=[4, 7])
    >>> out = asm(graphc.randn(3, 8), graphc.tensor([0, 5, 9]))
    >>> out.output.shape, out.loss.shape, asm.log_prob(graphc.randn(3, 8)).shape
    ((3,), (), (3, 10))

The frequent classes (below ``cutoffs[0]``) sit in the head with one logit per cluster of
rarer ones; each cluster's classes get a small projection of their own. Where PyTorch runs a
cluster's projection on the rows whose targets fall in it (data-dependent shapes), graphc runs
it on every row and keeps the rows that need it, so the same per-row values come out and the
module compiles; a target out of range raises PyTorch's ``RuntimeError``, compiled too. Eagerly
a cluster no target falls in is skipped, as in PyTorch (its parameters get no gradient); a
compiled call runs every cluster, so theirs are zeros there, not None.
"""
from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence

from graphc import functions as F
from graphc import tracing
from graphc.factories import zeros_like
from graphc.nn.container import ModuleList, Sequential
from graphc.nn.linear import Linear
from graphc.nn.module import Module
from graphc.tensor import Tensor

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """Adaptive softmax over ``n_classes`` classes split at ``cutoffs`` (increasing, in
    ``1 .. n_classes - 1``): ``forward(input, target)`` gives the target log-probabilities
    ``output`` and their mean negative ``loss``; :meth:`log_prob` all log-probabilities;
    :meth:`predict` the most likely class. Cluster ``i`` projects to ``in_features //
    div_value ** (i + 1)`` features first."""

    def __init__(self, in_features: int, n_classes: int, cutoffs: Sequence[int],
                 div_value: float = 4.0, head_bias: bool = False, device=None,
                 dtype=None) -> None:
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
            raise ValueError("cutoffs should be a sequence of unique, positive integers sorted "
                             "in an increasing order, where each value is between 1 and "
                             "n_classes-1")
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(in_features, self.head_size, bias=head_bias, device=device,
                           dtype=dtype)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hsz = int(in_features // (div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(
                Linear(in_features, hsz, bias=False, device=device, dtype=dtype),
                Linear(hsz, osz, bias=False, device=device, dtype=dtype)))

    def reset_parameters(self) -> None:
        self.head.reset_parameters()
        for i2h, h2o in self.tail:
            i2h.reset_parameters()
            h2o.reset_parameters()

    def forward(self, input_: Tensor, target_: Tensor) -> _ASMoutput:
        if target_.ndim == 1:
            if input_.shape[0] != target_.shape[0]:
                raise RuntimeError("Input and target should have the same size in the batch "
                                   "dimension.")
            if input_.ndim != 2:
                raise RuntimeError(f"1D target tensor expects 2D input tensors, but found "
                                   f"inputs with size {tuple(input_.shape)}")
        elif target_.ndim == 0:
            if input_.ndim != 1:
                raise RuntimeError(f"0D target tensor expects 1D input tensors, but found "
                                   f"inputs with size {tuple(input_.shape)}")
        else:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        batched = target_.ndim > 0
        input = input_ if batched else input_.unsqueeze(0)
        target = target_ if batched else target_.unsqueeze(0)
        self._check_targets(target)
        head_logprob = F.log_softmax(self.head(input), 1)
        # the head's column of each row: its class, or its cluster's logit
        cluster = zeros_like(target)
        for low in self.cutoffs[:-1]:
            cluster = cluster + (target >= low).to(target.dtype)
        head_index = F.where(cluster == 0, target, cluster + (self.shortlist_size - 1))
        output = F.gather(head_logprob, 1, head_index.unsqueeze(1)).squeeze(1)
        eager = tracing.current() is None and not target.is_traced
        for i in range(self.n_clusters):
            if eager and not bool((cluster == i + 1).any().item()):
                continue  # as PyTorch: a cluster no target is in is not run (its grads None)
            low, high = self.cutoffs[i], self.cutoffs[i + 1]
            local = F.clamp(target - low, 0, high - low - 1)
            cluster_logprob = F.log_softmax(self.tail[i](input), 1)
            picked = F.gather(cluster_logprob, 1, local.unsqueeze(1)).squeeze(1)
            output = output + F.where(cluster == i + 1, picked, zeros_like(picked))
        loss = (-output).mean()
        return _ASMoutput(output if batched else output.squeeze(0), loss)

    def _check_targets(self, target: Tensor) -> None:
        outside = ((target < 0) | (target >= self.n_classes)).any()
        if tracing.current() is None and not target.is_traced:
            if bool(outside.item()):
                raise RuntimeError(f"Target values should be in [0, {self.n_classes - 1}], "
                                   f"but values in range [{target.min().item()}, "
                                   f"{target.max().item()}] were found. ")
            return
        tracing.check(outside, RuntimeError,
                      f"Target values should be in [0, {self.n_classes - 1}]")

    def _get_full_log_prob(self, input: Tensor, head_output: Tensor) -> Tensor:
        head_logprob = F.log_softmax(head_output, 1)
        pieces = [head_logprob[:, :self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster_logprob = F.log_softmax(self.tail[i](input), 1)
            column = self.shortlist_size + i
            pieces.append(cluster_logprob + head_logprob[:, column:column + 1])
        return F.cat(pieces, 1)

    def log_prob(self, input: Tensor) -> Tensor:
        """The log-probabilities of all ``n_classes`` classes, for a batch ``(N, in_features)``."""
        return self._get_full_log_prob(input, self.head(input))

    def predict(self, input: Tensor) -> Tensor:
        """The most likely class of each row: the head's answer when it is a frequent class,
        else the argmax of the full log-probabilities (equivalent to ``log_prob(input).
        argmax(1)``, cheaper when the head is confident)."""
        head_output = self.head(input)
        output = F.argmax(head_output, 1)
        full = F.argmax(self._get_full_log_prob(input, head_output), 1)
        return F.where(output >= self.shortlist_size, full, output)
