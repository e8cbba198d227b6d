"""Ready-made models assembled from fastlayers.nn (one file per model family)."""
from .cnn import CNN
from .gan import DCGAN, Discriminator, Generator
from .mlp import MLP
from .gpt import GPT
from .deepdta import DeepDTA
from .cyclegan import CycleGAN
from .sentence_encoder import SentenceEncoder
from .unet import UNet

__all__ = ["CNN", "MLP", "GPT", "SentenceEncoder", "DCGAN", "Discriminator", "Generator", "UNet", "DeepDTA", "CycleGAN"]


def __dir__():
    """dir() shows the public API only (__all__), not the helpers this module imports."""
    return sorted(__all__)
