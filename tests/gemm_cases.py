"""Shared pieces of the GEMM family's tests (test_gemm.py, test_gemm_paths.py, test_linear.py):
small-integer operands, transposed storage, sizes around a micro-tile, the block sizes."""
from __future__ import annotations

import itertools

import numpy as np

from fastlayers import _core


TRANS = list(itertools.product([False, True], repeat=2))


def ints(rng, shape, lo=-3, hi=4):
    return rng.integers(lo, hi, size=shape).astype(np.float32)


def stored(x, trans):
    """The C-contiguous array whose op() is x (its transpose when trans)."""
    return np.ascontiguousarray(np.swapaxes(x, -1, -2)) if trans else x


def tile_sizes(n_tile):
    """1, tile - 1, tile, tile + 1, several tiles (+ an edge), 97, 129."""
    return sorted({1, max(1, n_tile - 1), n_tile, n_tile + 1, 3 * n_tile + 5, 97, 129})


def blocks():
    return _core.gemm_block_sizes()
