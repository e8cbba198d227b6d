"""GEMM benchmark cases: matmul (square and skinny) and linear + bias + relu.

FLOPs per call: 2 * M * N * K (one multiply and one add per term; the bias and relu are not
counted). Every formulation writes into a preallocated output (out=), so page faults of fresh
outputs are not timed. NumPy's linear is its three separate operations (matmul into y, add the
bias, maximum with 0), PyTorch's is F.linear followed by an in-place relu.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .common import Case, rng, try_torch


def _matmul_case(torch, m: int, k: int, n: int, label: str) -> Case:
    r = rng(m * 7 + n)
    a = r.standard_normal((m, k), dtype=np.float32)
    b = r.standard_normal((k, n), dtype=np.float32)
    c = np.empty((m, n), np.float32)
    th = None
    if torch:
        ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
        th = lambda: torch.matmul(ta, tb, out=tc)  # noqa: E731
    return Case("gemm", "matmul", label, lambda: F.matmul(a, b, out=c), lambda: np.matmul(a, b, out=c), th,
                flops=2.0 * m * n * k)


def _batched_case(torch, batch: int, m: int, k: int, n: int) -> Case:
    r = rng(batch)
    a = r.standard_normal((batch, m, k), dtype=np.float32)
    b = r.standard_normal((batch, k, n), dtype=np.float32)
    c = np.empty((batch, m, n), np.float32)
    th = None
    if torch:
        ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
        th = lambda: torch.matmul(ta, tb, out=tc)  # noqa: E731
    return Case("gemm", "matmul batched", f"{batch}x({m}x{k} @ {k}x{n})", lambda: F.matmul(a, b, out=c),
                lambda: np.matmul(a, b, out=c), th, flops=2.0 * batch * m * n * k)


def _linear_case(torch, m: int, k: int, n: int) -> Case:
    r = rng(m + k)
    x = r.standard_normal((m, k), dtype=np.float32)
    w = (r.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)
    bias = r.standard_normal(n, dtype=np.float32)
    y = np.empty((m, n), np.float32)
    wt = w.T

    def np_linear():
        np.matmul(x, wt, out=y)
        np.add(y, bias, out=y)
        np.maximum(y, 0, out=y)

    th = None
    if torch:
        tx, tw, tbias = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(bias)
        th = lambda: torch.nn.functional.linear(tx, tw, tbias).relu_()  # noqa: E731
    return Case("gemm", "linear+bias+relu", f"M={m} K={k} N={n}", lambda: F.linear(x, w, bias, "relu", out=y),
                np_linear, th, flops=2.0 * m * n * k)


def _linear_backward_case(torch, m: int, k: int, n: int) -> Case:
    r = rng(m + n)
    x = r.standard_normal((m, k), dtype=np.float32)
    w = r.standard_normal((n, k), dtype=np.float32)
    g = r.standard_normal((m, n), dtype=np.float32)
    gx, gw = np.empty_like(x), np.empty_like(w)

    def np_backward():
        np.matmul(g, w, out=gx)
        np.matmul(g.T, x, out=gw)
        g.sum(axis=0)

    return Case("gemm", "linear_backward", f"M={m} K={k} N={n}", lambda: F.linear_backward(g, x, w), np_backward,
                None, flops=4.0 * m * n * k, note="ours allocates grad_x, grad_weight per call")


def _linear_backward_accumulate_case(torch, m: int, k: int, n: int) -> Case:
    """The training step's form: gradients added into kept .grad buffers (NumPy: a temporary and
    an addition; torch: addmm_, its beta = 1 GEMM)."""
    r = rng(m + n + 1)
    x = r.standard_normal((m, k), dtype=np.float32)
    w = r.standard_normal((n, k), dtype=np.float32)
    g = r.standard_normal((m, n), dtype=np.float32)
    gx = np.empty_like(x)
    ours_w, ours_b = np.zeros_like(w), np.zeros(n, np.float32)
    np_w, np_b = np.zeros_like(w), np.zeros(n, np.float32)

    def np_backward():
        np.matmul(g, w, out=gx)
        np.add(np_w, g.T @ x, out=np_w)
        np.add(np_b, g.sum(axis=0), out=np_b)
        return gx, np_w, np_b

    th = None
    if torch:
        tx, tw, tg, tgx = (torch.from_numpy(v) for v in (x, w, g, np.empty_like(x)))
        t_w, t_b = torch.zeros(n, k), torch.zeros(n)

        def th():
            torch.matmul(tg, tw, out=tgx)
            t_w.addmm_(tg.T, tx)
            t_b.add_(tg.sum(0))
            return tgx, t_w, t_b

    return Case("gemm", "linear_backward into .grad", f"M={m} K={k} N={n}",
                lambda: F.linear_backward(g, x, w, grad_weight=ours_w, grad_bias=ours_b), np_backward, th,
                flops=4.0 * m * n * k)


def cases(quick: bool = False) -> list[Case]:
    torch = try_torch()
    sizes = [64, 128, 256, 512, 1024] + ([] if quick else [2048, 4096])
    out = [_matmul_case(torch, s, s, s, f"{s}x{s}x{s}") for s in sizes]
    out.append(_matmul_case(torch, 256, 512, 10, "M=256 K=512 N=10"))
    out.append(_batched_case(torch, 64, 128, 64, 128))
    out += [_linear_case(torch, m, 784, 512) for m in (64, 256)]
    out.append(_linear_backward_case(torch, 256, 784, 512))
    out.append(_linear_backward_accumulate_case(torch, 256, 784, 512))
    return out
