"""Ready-made models assembled from fastlayers.nn (one file per model family)."""
from .mlp import MLP

__all__ = ["MLP"]
