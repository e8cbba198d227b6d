"""Train/test split and mini-batch iteration with seeded shuffling."""
from __future__ import annotations

import numpy as np

from .._random import default_generator


def _rng(seed):
    return default_generator() if seed is None else np.random.default_rng(seed)


def train_test_split(X, y, test_size: float = 0.2, seed=None):
    """(X_train, X_test, y_train, y_test) after one seeded shuffle; test_size is a fraction."""
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"y: expected {len(X)} labels for X of shape {X.shape}, got {len(y)}")
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size: expected a fraction in (0, 1), got {test_size}")
    order = _rng(seed).permutation(len(X))
    n_test = max(1, int(round(test_size * len(X))))
    test, train = order[:n_test], order[n_test:]
    return X[train], X[test], y[train], y[test]


def batches(X, y, batch_size: int = 32, shuffle: bool = True, seed=None, drop_last: bool = False):
    """Yields (X_batch, y_batch) over one pass; shuffled with `seed` (None: fastlayers' generator).
    Batches are contiguous copies (fancy indexing), ready for the kernels."""
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"y: expected {len(X)} labels for X of shape {X.shape}, got {len(y)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    n = len(X)
    order = _rng(seed).permutation(n) if shuffle else None
    stop = n - n % batch_size if drop_last else n
    for i in range(0, stop, batch_size):
        if order is None:
            yield X[i:i + batch_size], y[i:i + batch_size]
        else:
            idx = order[i:i + batch_size]
            yield X[idx], y[idx]


class DataLoader:
    """Iterable over mini-batches; every iteration (epoch) reshuffles, from one seeded stream."""

    def __init__(self, X, y, batch_size: int = 32, shuffle: bool = True, seed=None, drop_last: bool = False):
        self.X, self.y = np.asarray(X), np.asarray(y)
        if len(self.X) != len(self.y):
            raise ValueError(f"y: expected {len(self.X)} labels for X of shape {self.X.shape}, got {len(self.y)}")
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self._rng = _rng(seed) if seed is not None else None

    def __len__(self) -> int:
        n = len(self.X)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        seed = int(self._rng.integers(2**63 - 1)) if self._rng is not None else None
        return batches(self.X, self.y, self.batch_size, self.shuffle, seed, self.drop_last)
