"""``graphc.utils``: PyTorch's ``torch.utils`` paths (``graphc.utils.data``,
``graphc.utils.checkpoint``)."""
from graphc.utils import checkpoint, data

__all__ = ["checkpoint", "data"]
