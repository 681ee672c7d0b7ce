"""``graphc.utils``: PyTorch's ``torch.utils`` paths (``graphc.utils.data``)."""
from graphc.utils import data

__all__ = ["data"]
