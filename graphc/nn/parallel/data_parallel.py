"""``DataParallel`` on graphc's one device: the wrapped module, called as it is."""
from __future__ import annotations

from typing import Optional

from graphc.nn.module import Module


class DataParallel(Module):
    """Wraps ``module`` as ``torch.nn.DataParallel`` does (parameters under ``module.``).

    PyTorch splits each batch over ``device_ids`` and gathers the results on
    ``output_device``; with one device it calls the module directly. graphc drives one device,
    so that is all this does: the results, gradients and state dict keys are those of PyTorch's
    single-device run.
    """

    def __init__(self, module: Module, device_ids: Optional[list] = None, output_device=None,
                 dim: int = 0):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel wraps an nn.Module, got {type(module).__name__}")
        self.module = module
        self.device_ids = list(device_ids) if device_ids is not None else []
        self.output_device = output_device
        self.dim = dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)
