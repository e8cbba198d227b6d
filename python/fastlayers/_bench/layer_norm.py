"""Layer-norm benchmark cases on (8192, 1024) float32 (quick: (2048, 1024)), weight and bias:
forward into an existing output, and backward from the forward's saved statistics (as PyTorch's
native_layer_norm_backward, all three gradients).

Bytes: the forward reads x and writes y (8 bytes an element: the statistics passes re-read a row
from cache); the backward reads x and dy and writes dx (12 bytes). NumPy's formulation: mean and
variance over the last axis, then one broadcast expression.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .common import Case, rng, try_torch


def cases(quick: bool = False) -> list[Case]:
    M, N = (2048 if quick else 8192), 1024
    x = rng(0).standard_normal((M, N), dtype=np.float32)
    g = rng(1).standard_normal((M, N), dtype=np.float32)
    w, b = np.ones(N, np.float32), np.zeros(N, np.float32)
    out = np.empty_like(x)
    _, mean, rstd = F.layer_norm(x, N, w, b, return_stats=True)
    torch = try_torch()
    shape = f"({M},{N}) over {N}"

    def np_forward():
        mu = x.mean(axis=1, keepdims=True)
        y = np.multiply((x - mu) / np.sqrt(x.var(axis=1, keepdims=True) + 1e-5), w, out=out)
        y += b

    th = th_b = None
    if torch:
        tx, tg, tw, tb = (torch.from_numpy(a) for a in (x, g, w, b))
        _, tmean, trstd = torch.ops.aten.native_layer_norm(tx, [N], tw, tb, 1e-5)

        def th():
            return torch.nn.functional.layer_norm(tx, (N,), tw, tb)

        def th_b():
            return torch.ops.aten.native_layer_norm_backward(tg, tx, [N], tmean, trstd, tw, tb, [True, True, True])

    return [
        Case("layer_norm", "layer_norm fwd", shape, lambda: F.layer_norm(x, N, w, b, out=out), np_forward, th,
             bytes=8.0 * x.size),
        Case("layer_norm", "layer_norm bwd", shape,
             lambda: F.layer_norm_backward(g, x, N, w, save_mean=mean, save_rstd=rstd), None, th_b,
             bytes=12.0 * x.size),
    ]
