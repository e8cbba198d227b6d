"""Data for the demos and tests: the four playground datasets (circle, xor, gaussian,
spiral), scikit-learn's 8x8 digits, a train/test split, a seeded batch iterator, and character-level text (text.py)."""
from .digits import load_digits
from .loader import DataLoader, batches, train_test_split
from .playground import DATASETS, circle, gaussian, make_dataset, spiral, xor
from .text import CharCorpus, pydoc_text

__all__ = ["DATASETS", "circle", "xor", "gaussian", "spiral", "make_dataset", "load_digits", "DataLoader",
           "batches", "train_test_split", "CharCorpus", "pydoc_text"]


def __dir__():
    """dir() shows the public API only (__all__), not the helpers this module imports."""
    return sorted(__all__)
