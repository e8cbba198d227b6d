"""scikit-learn's 8x8 handwritten digits (1797 images, 10 classes), an optional dependency."""
from __future__ import annotations

import numpy as np

INSTALL_HINT = "pip install scikit-learn   (or: pip install 'fastlayers[demo]')"


def load_digits():
    """(X, y): X float32 (1797, 64) scaled to [0, 1], y int64 (1797,) in 0..9.

    Needs scikit-learn; without it raises ImportError with the command that installs it.
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as exc:
        raise ImportError(f"fastlayers.data.load_digits needs scikit-learn, which is not installed: "
                          f"{INSTALL_HINT}") from exc
    X, y = _sk_load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y.astype(np.int64)
