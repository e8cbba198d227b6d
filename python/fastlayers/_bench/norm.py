"""Batch-norm benchmark cases on (32, 64, 56, 56) float32 (quick: (8, 64, 56, 56)): training
forward (statistics, running-stat update, normalisation) and training backward from the
forward's saved statistics (as PyTorch's native_batch_norm_backward).

NumPy's formulation: mean and variance over (0, 2, 3), then one broadcast expression.
Bytes: the forward reads x three times (two statistics passes and the normalisation) and
writes y; the backward reads x and dy twice and writes dx.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .common import Case, rng, try_torch


def cases(quick: bool = False) -> list[Case]:
    n = 8 if quick else 32
    x = rng(0).standard_normal((n, 64, 56, 56), dtype=np.float32)
    g = rng(1).standard_normal(x.shape, dtype=np.float32)
    w = np.ones(64, np.float32)
    b = np.zeros(64, np.float32)
    rm, rv = np.zeros(64, np.float32), np.ones(64, np.float32)
    _, mean, invstd = F.batch_norm(x, None, None, w, b, True, return_stats=True)
    torch = try_torch()
    shape = f"({n},64,56,56)"

    def np_forward():
        mean = x.mean(axis=(0, 2, 3), keepdims=True)
        var = x.var(axis=(0, 2, 3), keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-5) * w[:, None, None] + b[:, None, None]

    def np_backward():
        axes = (0, 2, 3)
        mean = x.mean(axis=axes, keepdims=True)
        inv = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5)
        xhat = (x - mean) * inv
        dxhat = g * w[:, None, None]
        return inv * (dxhat - dxhat.mean(axis=axes, keepdims=True) - xhat * (dxhat * xhat).mean(axis=axes,
                                                                                                  keepdims=True))

    th = th_b = None
    if torch:
        tx, tg, tw, tb = (torch.from_numpy(a) for a in (x, g, w, b))
        trm, trv = torch.zeros(64), torch.ones(64)

        def th():
            return torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, True)

        def th_b():
            return torch.ops.aten.native_batch_norm_backward(tg, tx, tw, trm, trv, mean_t, invstd_t, True, 1e-5,
                                                             [True, True, True])
        _, mean_t, invstd_t = torch.ops.aten.native_batch_norm(tx, tw, tb, trm, trv, True, 0.1, 1e-5)
    return [
        Case("norm", "batch_norm train fwd", shape, lambda: F.batch_norm(x, rm, rv, w, b, True), np_forward, th,
             bytes=16.0 * x.size),
        Case("norm", "batch_norm train bwd", shape, lambda: F.batch_norm_backward(g, x, w, save_mean=mean, save_invstd=invstd), np_backward, th_b,
             bytes=20.0 * x.size),
    ]
