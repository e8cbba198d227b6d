"""Ready-made models assembled from fastlayers.nn (one file per model family)."""
from .cnn import CNN
from .mlp import MLP

__all__ = ["CNN", "MLP"]


def __dir__():
    """dir() shows the public API only (__all__), not the helpers this module imports."""
    return sorted(__all__)
