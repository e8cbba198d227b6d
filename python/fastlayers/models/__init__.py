"""Ready-made models assembled from fastlayers.nn (one file per model family)."""
from .cnn import CNN
from .mlp import MLP
from .gpt import GPT
from .sentence_encoder import SentenceEncoder

__all__ = ["CNN", "MLP", "GPT", "SentenceEncoder"]


def __dir__():
    """dir() shows the public API only (__all__), not the helpers this module imports."""
    return sorted(__all__)
