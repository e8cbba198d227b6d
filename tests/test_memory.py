"""Size and memory (issue 22, hardening): products whose output passes 2^31 elements (opt-in,
`-m large`: 8.6 GB), and resident memory flat over repeated calls of each CPU family (10,000
calls of the cheap ones, 2,000 of conv, GEMM, pooling, norm, loss, RNN and attention calls, to
keep the default run near 15 s)."""
from __future__ import annotations

import gc
import os
import sys

import numpy as np
import pytest

import fastlayers.functional as F

from test_threads import _calls


@pytest.mark.large
def test_matmul_output_past_2_31_elements():
    m, n, k = 65536, 32769, 3   # m n = 2^31 + 65536
    rng = np.random.default_rng(0)
    a = rng.integers(-3, 4, (m, k)).astype(np.float32)
    b = rng.integers(-3, 4, (k, n)).astype(np.float32)
    c = F.matmul(a, b)
    assert c.shape == (m, n)
    for i, j in [(0, 0), (m - 1, n - 1), (65535, 32768), (2**31 // n, 2**31 % n), (40000, 123)]:
        assert c[i, j] == float(a[i].astype(np.float64) @ b[:, j]), (i, j)
    rows = np.arange(m - 64, m)
    np.testing.assert_array_equal(c[rows], a[rows] @ b)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_resident_memory_is_flat_over_10000_calls(rng):
    for name, f in _calls(rng).items():
        for _ in range(200):  # warm: scratch buffers, the pool, caches reach their size
            f()
        gc.collect()
        before = _rss_bytes()
        for _ in range(10_000 if name in ("activation", "softmax", "dropout", "embedding", "layer_norm") else 2_000):
            f()
        gc.collect()
        grown = _rss_bytes() - before
        assert grown < 8 << 20, f"{name}: resident memory grew by {grown / 2**20:.1f} MiB"
