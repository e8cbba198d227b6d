"""Data for the demos and tests: the four playground datasets (circle, xor, gaussian,
spiral), scikit-learn's 8x8 digits, synthetic shape scenes (detection, segmentation,
captions), a train/test split and a seeded batch iterator."""
from .digits import load_digits
from .loader import DataLoader, batches, train_test_split
from .playground import DATASETS, circle, gaussian, make_dataset, spiral, xor
from .scenes import COLOUR_NAMES, SHAPES, Scenes, make_scenes

__all__ = ["DATASETS", "circle", "xor", "gaussian", "spiral", "make_dataset", "load_digits", "DataLoader",
           "batches", "train_test_split", "SHAPES", "COLOUR_NAMES", "Scenes", "make_scenes"]
