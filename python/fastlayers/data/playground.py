"""The two-class 2-D datasets of playground.tensorflow.org, generated with NumPy.

Each returns (X, y): X float32 (n, 2) with points within about 5 of the origin, y int64 in
{0, 1}. ``noise`` is the standard deviation of Gaussian jitter added to both coordinates
after the label is fixed (so noise makes the classes overlap); ``seed`` makes the draw
repeatable (None draws from fastlayers' generator, see fastlayers.manual_seed).
"""
from __future__ import annotations

import numpy as np

from .._random import default_generator

_RADIUS = 5.0


def _rng(seed) -> np.random.Generator:
    return default_generator() if seed is None else np.random.default_rng(seed)


def _check(n_samples, noise) -> tuple[int, float]:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 2:
        raise ValueError(f"n_samples: expected an integer >= 2, got {n_samples!r}")
    if not noise >= 0:
        raise ValueError(f"noise: expected a standard deviation >= 0, got {noise!r}")
    return int(n_samples), float(noise)


def _finish(X, y, noise, rng):
    X = X + rng.normal(0.0, noise, X.shape) if noise > 0 else X
    order = rng.permutation(len(y))
    return X[order].astype(np.float32), y[order].astype(np.int64)


def circle(n_samples: int = 1000, noise: float = 0.2, seed=None):
    """Class 1 inside radius 2.5, class 0 on the ring between 3.5 and 5."""
    n, noise = _check(n_samples, noise)
    rng = _rng(seed)
    n1 = n // 2
    r = np.concatenate([rng.uniform(0, 0.5 * _RADIUS, n1), rng.uniform(0.7 * _RADIUS, _RADIUS, n - n1)])
    a = rng.uniform(0, 2 * np.pi, n)
    X = np.stack([r * np.sin(a), r * np.cos(a)], axis=1)
    return _finish(X, np.r_[np.ones(n1), np.zeros(n - n1)], noise, rng)


def xor(n_samples: int = 1000, noise: float = 0.2, seed=None):
    """Uniform in [-5, 5]^2 (kept 0.3 away from the axes); class 1 where x * y > 0."""
    n, noise = _check(n_samples, noise)
    rng = _rng(seed)
    X = rng.uniform(-_RADIUS, _RADIUS, (n, 2))
    X += np.where(X > 0, 0.3, -0.3)  # the padding pushes points off the axes
    return _finish(X, (X[:, 0] * X[:, 1] > 0).astype(np.int64), noise, rng)


def gaussian(n_samples: int = 1000, noise: float = 0.2, seed=None):
    """Two Gaussian blobs of standard deviation 1 around (2, 2) (class 1) and (-2, -2)."""
    n, noise = _check(n_samples, noise)
    rng = _rng(seed)
    n1 = n // 2
    y = np.r_[np.ones(n1), np.zeros(n - n1)]
    centers = np.where(y[:, None] > 0, 2.0, -2.0)
    return _finish(centers + rng.normal(0.0, 1.0, (n, 2)), y, noise, rng)


def spiral(n_samples: int = 1000, noise: float = 0.2, seed=None):
    """Two interleaved arms of 1.75 turns from the origin out to radius 5."""
    n, noise = _check(n_samples, noise)
    rng = _rng(seed)
    pts, labels = [], []
    for label, count, delta in ((1, n // 2, 0.0), (0, n - n // 2, np.pi)):
        s = np.arange(count) / count
        r, t = s * _RADIUS, 1.75 * 2 * np.pi * s + delta
        pts.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        labels.append(np.full(count, label))
    return _finish(np.concatenate(pts), np.concatenate(labels), noise, rng)


DATASETS = {"circle": circle, "xor": xor, "gaussian": gaussian, "spiral": spiral}


def make_dataset(name: str, n_samples: int = 1000, noise: float = 0.2, seed=None):
    """One of DATASETS by name."""
    if name not in DATASETS:
        raise ValueError(f"name: expected one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[name](n_samples, noise, seed)
