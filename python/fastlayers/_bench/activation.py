"""Activation benchmark cases: 16M float32 elements into an existing output (out=).

Bytes per call: 4 bytes read + 4 written per element (8 read + 4 written for backward).
NumPy's formulations are the fastest we know that write into the same preallocated array.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .common import Case, rng, try_torch


def cases(quick: bool = False) -> list[Case]:
    n = (1 << 20) if quick else (1 << 24)
    x = rng(0).standard_normal(n, dtype=np.float32) * 3
    y = np.empty_like(x)
    tmp = np.empty_like(x)
    torch = try_torch()
    tx = torch.from_numpy(x) if torch else None
    ty = torch.from_numpy(y) if torch else None
    shape = f"({n},) out="
    b = 8.0 * n

    def np_sigmoid():
        np.negative(x, out=tmp)
        np.exp(tmp, out=tmp)
        np.add(tmp, 1.0, out=tmp)
        np.reciprocal(tmp, out=y)

    def np_elu():
        np.expm1(x, out=y)
        np.copyto(y, x, where=x > 0)

    def np_gelu():
        # x * Phi(x) = 0.5 x (1 + erf(x / sqrt2)); NumPy has no erf, SciPy's ufunc does.
        from scipy.special import erf
        np.multiply(x, 0.7071067811865476, out=tmp)
        erf(tmp, out=tmp)
        np.add(tmp, 1.0, out=tmp)
        np.multiply(tmp, 0.5, out=tmp)
        np.multiply(x, tmp, out=y)

    def np_softmax():
        xs = x.reshape(-1, 1024)
        m = xs.max(axis=1, keepdims=True)
        t = tmp.reshape(-1, 1024)
        np.subtract(xs, m, out=t)
        np.exp(t, out=t)
        np.divide(t, t.sum(axis=1, keepdims=True), out=y.reshape(-1, 1024))

    try:
        import scipy.special  # noqa: F401
        gelu_np = np_gelu
    except ImportError:
        gelu_np = None

    def tf(fn, *args, **kw):
        """PyTorch's op on the same memory, writing into ty where torch offers out=."""
        return (lambda: fn(tx, *args, **kw)) if torch else None

    rows = lambda a: a.reshape(-1, 1024)  # noqa: E731
    out = [
        Case("activation", "relu", shape, lambda: F.relu(x, out=y), lambda: np.maximum(x, 0, out=y),
             torch and tf(torch.clamp_min, 0, out=ty), bytes=b),
        Case("activation", "sigmoid", shape, lambda: F.sigmoid(x, out=y), np_sigmoid,
             torch and tf(torch.sigmoid, out=ty), bytes=b),
        Case("activation", "tanh", shape, lambda: F.tanh(x, out=y), lambda: np.tanh(x, out=y),
             torch and tf(torch.tanh, out=ty), bytes=b),
        Case("activation", "leaky_relu(0.1)", shape, lambda: F.leaky_relu(x, 0.1, out=y),
             lambda: np.maximum(x, np.multiply(x, 0.1, out=tmp), out=y),
             torch and tf(torch._C._nn.leaky_relu, 0.1, out=ty), bytes=b),
        Case("activation", "elu", shape, lambda: F.elu(x, out=y), np_elu,
             torch and tf(torch._C._nn.elu, 1.0, out=ty), bytes=b),
        Case("activation", "gelu", shape, lambda: F.gelu(x, out=y), gelu_np,
             torch and tf(torch._C._nn.gelu, out=ty), bytes=b),
        Case("activation", "gelu(tanh)", shape, lambda: F.gelu(x, "tanh", out=y), None,
             torch and tf(torch._C._nn.gelu, approximate="tanh", out=ty), bytes=b),
        Case("activation", "softmax(rows of 1024)", shape, lambda: F.softmax(rows(x), out=rows(y)), np_softmax,
             torch and (lambda: torch._softmax(rows(tx), -1, False)), bytes=b),
        Case("activation", "sigmoid_backward", shape, lambda: F.sigmoid_backward(x, x, out=y), None,
             torch and (lambda: torch.ops.aten.sigmoid_backward.grad_input(tx, tx, grad_input=ty)), bytes=12.0 * n),
        Case("activation", "gelu_backward", shape, lambda: F.gelu_backward(x, x, out=y), None,
             torch and (lambda: torch.ops.aten.gelu_backward.grad_input(tx, tx, grad_input=ty)), bytes=12.0 * n),
    ]
    return out
