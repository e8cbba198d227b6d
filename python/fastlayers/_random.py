"""The process-wide random generator behind parameter initialisation, dropout seeds and
data shuffling. ``fastlayers.manual_seed(n)`` resets it, so a run is repeatable end to end.
"""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Seeds fastlayers' generator (initialisation, dropout masks, shuffling); returns it."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed: expected an integer, got {type(seed).__name__}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator() -> np.random.Generator:
    """The generator that manual_seed last reset."""
    return _generator


def next_seed() -> int:
    """A fresh 64-bit seed from the generator (for the C++ counter-based kernels)."""
    return int(_generator.integers(0, 2**63 - 1, dtype=np.int64))
