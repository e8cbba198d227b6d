"""Ready-made models assembled from fastlayers.nn (one file per model family)."""
from .cnn import CNN
from .gan import DCGAN, Discriminator, Generator
from .mlp import MLP

__all__ = ["CNN", "DCGAN", "Discriminator", "Generator", "MLP"]
