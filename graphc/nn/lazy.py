"""``LazyLinear``: a ``Linear`` whose ``in_features`` is read from its first input, as
PyTorch's lazy modules. Until then ``weight`` (and ``bias``) are empty placeholders; the first
call creates them with ``Linear``'s initialization and the module becomes a ``Linear``
(PyTorch's ``cls_to_become``). That first call must be eager: a compiled function cannot create
parameters while it is traced.

    >>> import graphc
    >>> from graphc import nn
    >>> layer = nn.LazyLinear(3)
    >>> layer(graphc.ones(2, 5)).shape, layer.weight.shape, type(layer).__name__
    ((2, 3), (3, 5), 'Linear')
"""
from __future__ import annotations

from graphc import factories, tracing
from graphc.errors import TraceError
from graphc.nn.linear import Linear
from graphc.nn.module import Module, Parameter
from graphc.tensor import Tensor
from ir import dtypes


class LazyLinear(Linear):
    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None):
        Module.__init__(self)
        self.in_features = 0
        self.out_features = out_features
        self._dtype = dtype or dtypes.DEFAULT_FLOAT
        self.weight = Parameter(factories.empty(0, dtype=self._dtype))
        if bias:
            self.bias = Parameter(factories.empty(0, dtype=self._dtype))
        else:
            self.register_parameter("bias", None)

    def has_uninitialized_params(self) -> bool:
        return self.in_features == 0

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params():
            super().reset_parameters()

    def materialize_from_state_dict(self, state_dict, prefix: str) -> None:
        """Before the first call, a checkpoint's ``weight`` gives ``in_features``: the
        parameters are created at its shape for ``load_state_dict`` to fill (PyTorch's lazy
        load hook), and the module becomes a ``Linear``."""
        weight = state_dict.get(prefix + "weight")
        shape = getattr(weight, "shape", None)
        if not self.has_uninitialized_params() or shape is None or len(shape) != 2:
            return
        self._materialize(int(shape[1]))

    def _materialize(self, in_features: int) -> None:
        self.in_features = in_features
        self.weight = Parameter(factories.empty(self.out_features, self.in_features,
                                                dtype=self._dtype))
        if self.bias is not None:
            self.bias = Parameter(factories.empty(self.out_features, dtype=self._dtype))
        Linear.reset_parameters(self)
        self.__class__ = self.cls_to_become

    def initialize_parameters(self, input: Tensor) -> None:
        """Creates ``weight`` (out_features, input's last dim) and ``bias``, initialized as
        ``Linear``'s, and turns this module into a ``Linear``."""
        if tracing.current() is not None:
            raise TraceError("LazyLinear: call the module once eagerly (a dry run) before "
                             "compiling, so that its parameters exist; a compiled function "
                             "cannot create them while it is traced")
        if input.ndim < 1:
            raise ValueError("LazyLinear: input must have at least 1 dimension (features)")
        self._materialize(int(input.shape[-1]))

    def forward(self, input: Tensor) -> Tensor:
        if self.has_uninitialized_params():
            self.initialize_parameters(input)  # the module is a Linear from here on
        return Linear.forward(self, input)
