"""torch.nn.utils names: clip_grad_norm_ lives in fastlayers.optim and is re-exported here."""
from ..optim import clip_grad_norm_

__all__ = ["clip_grad_norm_"]
