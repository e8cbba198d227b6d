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


def batches(X, y, batch_size: int = 32, shuffle: bool = True, seed=None, drop_last: bool = False,
            num_replicas: int = 1, rank: int = 0):
    """Yields (X_batch, y_batch) over one pass; shuffled with `seed` (None: fastlayers' generator).
    Batches are contiguous copies (fancy indexing), ready for the kernels.

    num_replicas > 1 (data-parallel training, as torch's DistributedSampler): every rank draws
    the same permutation (so `seed` must be given, the same on every rank, and changed per
    epoch) and takes every num_replicas-th index from position `rank`; batch_size is per rank.
    Batch k of all ranks together is then batch k of the single-process pass with batch_size *
    num_replicas. Every rank yields the same number of batches: where the last global batch has
    fewer samples than ranks, some ranks get an empty batch (length 0)."""
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"y: expected {len(X)} labels for X of shape {X.shape}, got {len(y)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    if num_replicas != 1:
        yield from _shard_batches(X, y, batch_size, shuffle, seed, drop_last, num_replicas, rank)
        return
    n = len(X)
    order = _rng(seed).permutation(n) if shuffle else None
    stop = n - n % batch_size if drop_last else n
    for i in range(0, stop, batch_size):
        if order is None:
            yield X[i:i + batch_size], y[i:i + batch_size]
        else:
            idx = order[i:i + batch_size]
            yield X[idx], y[idx]


def _check_shard(num_replicas, rank) -> None:
    if isinstance(num_replicas, bool) or not isinstance(num_replicas, (int, np.integer)) or num_replicas < 1:
        raise ValueError(f"num_replicas: expected a positive integer, got {num_replicas!r}")
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < num_replicas:
        raise ValueError(f"rank: expected an integer in [0, {num_replicas}), got {rank!r}")


def _shard_batches(X, y, batch_size, shuffle, seed, drop_last, num_replicas, rank):
    _check_shard(num_replicas, rank)
    if shuffle and seed is None:
        raise ValueError("seed: expected the same integer seed on every rank when num_replicas > 1, got None")
    n, span = len(X), batch_size * num_replicas
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    n_batches = n // span if drop_last else -(-n // span)
    mine = order[:n_batches * span if drop_last else n][rank::num_replicas]
    for k in range(n_batches):
        idx = mine[k * batch_size:(k + 1) * batch_size]
        yield X[idx], y[idx]


class DataLoader:
    """Iterable over mini-batches; every iteration (epoch) reshuffles, from one seeded stream.
    num_replicas / rank shard every epoch as in batches() (the same seed on every rank)."""

    def __init__(self, X, y, batch_size: int = 32, shuffle: bool = True, seed=None, drop_last: bool = False,
                 num_replicas: int = 1, rank: int = 0):
        self.X, self.y = np.asarray(X), np.asarray(y)
        if len(self.X) != len(self.y):
            raise ValueError(f"y: expected {len(self.X)} labels for X of shape {self.X.shape}, got {len(self.y)}")
        _check_shard(num_replicas, rank)
        if num_replicas > 1 and shuffle and seed is None:
            raise ValueError("seed: expected the same integer seed on every rank when num_replicas > 1, got None")
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.num_replicas, self.rank = num_replicas, rank
        self._rng = _rng(seed) if seed is not None else None

    def __len__(self) -> int:
        n, span = len(self.X), self.batch_size * self.num_replicas
        return n // span if self.drop_last else -(-n // span)

    def __iter__(self):
        seed = int(self._rng.integers(2**63 - 1)) if self._rng is not None else None
        return batches(self.X, self.y, self.batch_size, self.shuffle, seed, self.drop_last, self.num_replicas,
                       self.rank)
