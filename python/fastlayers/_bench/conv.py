"""Convolution benchmark cases (issue 5): forward and forward + backward against PyTorch CPU
(oneDNN) and a NumPy im2col + matmul implementation, on the same inputs in the same run.

  (a) N=64, C=1, 28x28, K=32, 5x5, pad 2      (b) N=32, C=64, 56x56, K=64, 3x3, pad 1
  (c) N=32, C=128, 28x28, K=128, 3x3, pad 1   1x1: N=32, C=128, 28x28, K=256
  depthwise: N=32, C=128, 56x56, 3x3, pad 1, groups=128
quick: N divided by 8. FLOPs: 2 N K P Q (C/groups) R S per forward, three times that for
forward + backward (backward-input and backward-weight are a forward's worth each): the
direct convolution's count. Where our driver runs Winograd F(2x2, 3x3) ((b) and (c)), it does
2.25x fewer multiplications, so those rows give effective GFLOP/s (Case.effective), and their
%peak can pass 100%.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .common import Case, rng, try_torch

SHAPES = [  # name, (N, C, H, W), (K, C/groups, R, S), padding, groups
    ("conv2d (a) 5x5", (64, 1, 28, 28), (32, 1, 5, 5), 2, 1),
    ("conv2d (b) 3x3", (32, 64, 56, 56), (64, 64, 3, 3), 1, 1),
    ("conv2d (c) 3x3", (32, 128, 28, 28), (128, 128, 3, 3), 1, 1),
    ("conv2d 1x1", (32, 128, 28, 28), (256, 128, 1, 1), 0, 1),
    ("conv2d depthwise 3x3", (32, 128, 56, 56), (128, 1, 3, 3), 1, 128),
]


def _np_im2col(xp, R, S, P, Q):
    """(N P Q, C R S) patch matrix of a padded input (stride 1)."""
    N, C = xp.shape[:2]
    win = np.lib.stride_tricks.sliding_window_view(xp, (R, S), axis=(2, 3))  # N, C, P, Q, R, S
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(N * P * Q, C * R * S)


def _numpy_impl(x, w, b, pad, groups, g):
    """NumPy forward and forward + backward (im2col + matmul; depthwise as a sum of shifted
    slices, NumPy's best formulation there)."""
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    P, Q = H + 2 * pad - R + 1, W + 2 * pad - S + 1

    def pad_x():
        return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))

    if groups > 1:
        def fwd():
            xp = pad_x()
            y = np.empty((N, K, P, Q), np.float32)
            y[...] = b[None, :, None, None]
            for r in range(R):
                for s in range(S):
                    y += xp[:, :, r:r + P, s:s + Q] * w[None, :, 0, r, s, None, None]
            return y, xp

        def fwd_bwd():
            _, xp = fwd()
            dxp = np.zeros_like(xp)
            dw = np.empty_like(w)
            for r in range(R):
                for s in range(S):
                    dxp[:, :, r:r + P, s:s + Q] += g * w[None, :, 0, r, s, None, None]
                    dw[:, 0, r, s] = np.einsum("nkpq,nkpq->k", g, xp[:, :, r:r + P, s:s + Q])
            return dxp[:, :, pad:pad + H, pad:pad + W], dw, g.sum(axis=(0, 2, 3))
        return (lambda: fwd()[0]), fwd_bwd

    wm = w.reshape(K, -1)

    def fwd():
        col = _np_im2col(pad_x(), R, S, P, Q)
        return (col @ wm.T + b).reshape(N, P, Q, K).transpose(0, 3, 1, 2), col

    def fwd_bwd():
        _, col = fwd()
        gm = g.transpose(0, 2, 3, 1).reshape(N * P * Q, K)
        dw = (gm.T @ col).reshape(w.shape)
        dcol = (gm @ wm).reshape(N, P, Q, C, R, S)
        dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), np.float32)
        for r in range(R):
            for s in range(S):
                dxp[:, :, r:r + P, s:s + Q] += dcol[..., r, s].transpose(0, 3, 1, 2)
        return dxp[:, :, pad:pad + H, pad:pad + W], dw, g.sum(axis=(0, 2, 3))
    return (lambda: fwd()[0]), fwd_bwd


def runs_winograd(ws, out_pixels: int, groups: int) -> bool:
    """Whether our driver runs this stride-1 convolution as Winograd F(2x2, 3x3): the rule of
    winograd_applies in csrc/cpu/conv_winograd.cpp, which every ISA level but scalar has."""
    from .. import get_isa
    k, cg, r, s = ws
    return get_isa() != "scalar" and r == s == 3 and cg >= 8 and k // groups >= 8 and out_pixels >= 196


def cases(quick: bool = False) -> list[Case]:
    torch = try_torch()
    out = []
    for name, xs, ws, pad, groups in SHAPES:
        xs = (max(1, xs[0] // 8),) + xs[1:] if quick else xs
        x = rng(0).standard_normal(xs, dtype=np.float32)
        w = rng(1).standard_normal(ws, dtype=np.float32) * 0.1
        b = rng(2).standard_normal(ws[0], dtype=np.float32)
        y = F.conv2d(x, w, b, 1, pad, 1, groups)
        g = rng(3).standard_normal(y.shape, dtype=np.float32)
        flops = 2.0 * y.size * np.prod(ws[1:])
        shape = f"{xs} k{ws[0]} {ws[2]}x{ws[3]}"
        np_fwd, np_fb = _numpy_impl(x, w, b, pad, groups, g)

        def ours(x=x, w=w, b=b, pad=pad, groups=groups):
            return F.conv2d(x, w, b, 1, pad, 1, groups)

        def ours_fb(x=x, w=w, b=b, pad=pad, groups=groups, g=g):
            F.conv2d(x, w, b, 1, pad, 1, groups)
            return F.conv2d_backward(g, x, w, 1, pad, 1, groups)

        th = th_fb = None
        if torch:
            tx, tw, tb, tg = (torch.from_numpy(a) for a in (x, w, b, g))
            txr, twr, tbr = (t.clone().requires_grad_() for t in (tx, tw, tb))

            def th(tx=tx, tw=tw, tb=tb, pad=pad, groups=groups):
                with torch.no_grad():
                    return torch.nn.functional.conv2d(tx, tw, tb, 1, pad, 1, groups)

            def th_fb(txr=txr, twr=twr, tbr=tbr, tg=tg, pad=pad, groups=groups):
                yy = torch.nn.functional.conv2d(txr, twr, tbr, 1, pad, 1, groups)
                return torch.autograd.grad(yy, (txr, twr, tbr), tg)
        wino = runs_winograd(ws, y.shape[2] * y.shape[3], groups)
        out.append(Case("conv", name, shape, ours, np_fwd, th, flops=flops, effective=wino))
        out.append(Case("conv", name + " fwd+bwd", shape, ours_fb, np_fb, th_fb, flops=3 * flops, effective=wino))
    return out
