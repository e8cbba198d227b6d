"""Pooling benchmark cases on (32, 64, 56, 56) float32 (quick: (8, 64, 56, 56)).

NumPy's best max_pool2d 2x2 is four strided slices and np.maximum; its average pooling is
the sum of the k*k shifted slices of a padded copy. Bytes: input read + output written.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .common import Case, rng, try_torch


def cases(quick: bool = False) -> list[Case]:
    n = 8 if quick else 32
    x = rng(0).standard_normal((n, 64, 56, 56), dtype=np.float32)
    y = np.empty((n, 64, 28, 28), np.float32)
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    gy = rng(1).standard_normal(y.shape, dtype=np.float32)
    dx = np.empty_like(x)
    torch = try_torch()
    nnf = torch.nn.functional if torch else None
    tx = torch.from_numpy(x) if torch else None
    shape = f"({n},64,56,56)"
    b_fwd = 4.0 * (x.size + y.size)

    def np_max2():
        a = np.maximum(x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2])
        np.maximum(a, x[:, :, 1::2, 0::2], out=a)
        return np.maximum(a, x[:, :, 1::2, 1::2], out=a)

    def np_avg3():
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        acc = np.zeros_like(x)
        for r in range(3):
            for s in range(3):
                acc += xp[:, :, r:r + 56, s:s + 56]
        return acc / 9

    def np_max2_backward():
        d = np.zeros((n, 64, 28 * 28, 4), np.float32)
        sel = ((idx // 56) % 2) * 2 + (idx % 2)
        np.put_along_axis(d, sel.reshape(n, 64, -1, 1), gy.reshape(n, 64, -1, 1), -1)
        return d.reshape(n, 64, 28, 28, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(x.shape)

    t_idx = torch.from_numpy(idx) if torch else None
    t_gy = torch.from_numpy(gy) if torch else None
    return [
        Case("pool", "max_pool2d 2x2", shape, lambda: F.max_pool2d(x, 2), np_max2,
             torch and (lambda: nnf.max_pool2d(tx, 2)), bytes=b_fwd),
        Case("pool", "max_pool2d 2x2 +indices", shape, lambda: F.max_pool2d(x, 2, return_indices=True), None,
             torch and (lambda: nnf.max_pool2d(tx, 2, return_indices=True)), bytes=b_fwd + 8.0 * y.size),
        Case("pool", "max_pool2d_backward 2x2", shape, lambda: F.max_pool2d_backward(gy, idx, x.shape, out=dx),
             np_max2_backward,
             torch and (lambda: torch.ops.aten.max_pool2d_with_indices_backward(t_gy, tx, [2, 2], [2, 2], [0, 0],
                                                                                 [1, 1], False, t_idx)),
             bytes=4.0 * x.size + 12.0 * y.size),
        Case("pool", "avg_pool2d 3x3 s1 p1", shape, lambda: F.avg_pool2d(x, 3, 1, 1), np_avg3,
             torch and (lambda: nnf.avg_pool2d(tx, 3, 1, 1)), bytes=8.0 * x.size),
        Case("pool", "global_avg_pool2d", shape, lambda: F.global_avg_pool2d(x), lambda: x.mean(axis=(2, 3)),
             torch and (lambda: nnf.adaptive_avg_pool2d(tx, 1)), bytes=4.0 * x.size),
    ]
