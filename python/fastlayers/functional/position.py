"""Position encodings for sequence models (the embedding family's position tables).

``sinusoidal_position_encoding(num_positions, embedding_dim, base=10000.0)`` is the fixed table of
"Attention Is All You Need", (num_positions, embedding_dim) float32, laid out interleaved as the
paper and PyTorch's tutorial: column 2i holds sin(p / base^(2i / d)) and column 2i + 1 holds
cos(p / base^(2i / d)) for position p (an odd last column holds a sine). It is computed in float64
and rounded once. Learned position embeddings are a table of parameters looked up with
functional.embedding (see nn.LearnedPositionalEmbedding).
"""
from __future__ import annotations

import numbers

import numpy as np


def _count(n, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"{name}: expected a non-negative integer, got {n!r}")
    return int(n)


def sinusoidal_position_encoding(num_positions: int, embedding_dim: int, base: float = 10000.0) -> np.ndarray:
    """The (num_positions, embedding_dim) sine / cosine table (see the module doc for its layout)."""
    P, d = _count(num_positions, "num_positions"), _count(embedding_dim, "embedding_dim")
    if not isinstance(base, numbers.Real) or isinstance(base, bool) or not base > 1.0:
        raise ValueError(f"base: expected a real number above 1, got {base!r}")
    pos = np.arange(P, dtype=np.float64)[:, None]
    freq = np.exp(-np.log(float(base)) * np.arange(0, d, 2, dtype=np.float64) / max(d, 1))
    table = np.empty((P, d), np.float64)
    table[:, 0::2] = np.sin(pos * freq)
    table[:, 1::2] = np.cos(pos * freq[:d // 2])
    return table.astype(np.float32)
