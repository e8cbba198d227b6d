"""Ready-made models assembled from fastlayers.nn (one file per model family)."""
from .cnn import CNN
from .mlp import MLP

__all__ = ["CNN", "MLP"]
