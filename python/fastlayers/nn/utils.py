"""torch.nn.utils names: clip_grad_norm_ lives in fastlayers.optim and is re-exported here."""
from ..optim import clip_grad_norm_

__all__ = ["clip_grad_norm_"]


def __dir__():
    """dir() shows the public API only (__all__), not the helpers this module imports."""
    return sorted(__all__)
