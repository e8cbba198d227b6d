"""Float64 NumPy oracles, one section per op family."""
from __future__ import annotations

import math

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])

# ---- activation ----


def sigmoid(x):
    x = np.asarray(x, np.float64)
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def tanh(x):
    return np.tanh(np.asarray(x, np.float64))


def relu(x):
    x = np.asarray(x, np.float64)
    return np.where(np.isnan(x), x, np.maximum(x, 0))


def leaky_relu(x, slope=0.1):
    x = np.asarray(x, np.float64)
    return np.where(x > 0, x, slope * x)


def elu(x, alpha=1.0):
    x = np.asarray(x, np.float64)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def gelu(x, approximate="none"):
    x = np.asarray(x, np.float64)
    if approximate == "tanh":  # 0.5 x (1 + tanh(u)) = x sigmoid(2u), without cancellation
        return x * sigmoid(2 * math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))
    with np.errstate(invalid="ignore"):
        return x * 0.5 * _erfc(-x / math.sqrt(2))


def softmax(x, axis=-1):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    x = np.asarray(x, np.float64)
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def maxout(x, pieces, axis=1):
    x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    y = x.reshape(x.shape[:-1] + (x.shape[-1] // pieces, pieces)).max(axis=-1)
    return np.moveaxis(y, -1, axis)

# ---- gemm ----


def matmul(a, b, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, c=None):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if trans_a:
        a = np.swapaxes(a, -1, -2)
    if trans_b:
        b = np.swapaxes(b, -1, -2)
    r = alpha * np.matmul(a, b)
    if beta != 0.0:
        r = r + beta * np.asarray(c, np.float64)
    return r


_LINEAR_ACTS = {None: lambda v: v, "relu": relu, "leaky_relu": leaky_relu, "elu": elu,
                "gelu": gelu, "sigmoid": sigmoid, "tanh": tanh}


def linear(x, weight, bias=None, activation=None, param=None):
    y = np.asarray(x, np.float64) @ np.asarray(weight, np.float64).T
    if bias is not None:
        y = y + np.asarray(bias, np.float64)
    f = _LINEAR_ACTS[activation]
    return f(y) if param is None else f(y, param)


def linear_backward(grad_out, x, weight):
    g = np.asarray(grad_out, np.float64)
    x = np.asarray(x, np.float64)
    g2 = g.reshape(-1, g.shape[-1])
    x2 = x.reshape(-1, x.shape[-1])
    return g @ np.asarray(weight, np.float64), g2.T @ x2, g2.sum(axis=0)


# ---- loss ----


def cross_entropy_rows(x, t, ignore_index=-100, label_smoothing=0.0):
    """Per-row loss (0 on ignored rows) and the gradient of sum(rows) in float64."""
    x = np.asarray(x, np.float64)
    t = np.asarray(t)
    n, c = x.shape
    m = x.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(x - m).sum(axis=1))
    keep = t != ignore_index
    tc = np.where(keep, t, 0)
    logp = x - lse[:, None]
    rows = -(1 - label_smoothing) * logp[np.arange(n), tc] - label_smoothing * logp.mean(axis=1)
    onehot = np.zeros_like(x)
    onehot[np.arange(n), tc] = 1.0
    grad = np.exp(logp) - (1 - label_smoothing) * onehot - label_smoothing / c
    return np.where(keep, rows, 0.0), np.where(keep[:, None], grad, 0.0)


def mse(x, y):
    return (np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2


def bce_with_logits(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))


# ---- dropout ----


def _mix32(x):
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def dropout_keep(seed: int, n: int, p: float, start: int = 0):
    """The keep mask of elements start .. start + n - 1 (within one 2^32 chunk), as csrc/cpu/dropout.h."""
    hi = np.uint32(start >> 32)
    s_lo, s_hi = np.uint32(seed & 0xFFFFFFFF), np.uint32(seed >> 32)
    with np.errstate(over="ignore"):
        k1 = _mix32(s_lo ^ _mix32(s_hi ^ _mix32(np.uint32(hi + np.uint32(0x9E3779B9)))))
        k2 = _mix32(k1 ^ np.uint32(0x85EBCA6B))
        lo = (np.arange(n, dtype=np.uint64) + np.uint64(start & 0xFFFFFFFF)).astype(np.uint32)
        bits = _mix32((_mix32(lo ^ k1) + k2).astype(np.uint32))
    return bits >= np.uint32(min(int(round(p * 2.0**32)), 2**32 - 1))


# ---- optim ----


def sgd_steps(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """Parameter after one SGD step per gradient in `grads`, in float64."""
    p = np.asarray(p, np.float64).copy()
    buf = None
    for g in grads:
        d = np.asarray(g, np.float64) + weight_decay * p
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p -= lr * d
    return p


def adam_steps(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False, amsgrad=False):
    """Parameter after one Adam (decoupled: AdamW) step per gradient, in float64."""
    p = np.asarray(p, np.float64).copy()
    m, v, vmax = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    b1, b2 = betas
    for t, g in enumerate(grads, 1):
        g = np.asarray(g, np.float64)
        if decoupled:
            p *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        vd = vmax if amsgrad else v
        p -= lr / (1 - b1**t) * m / (np.sqrt(vd) / np.sqrt(1 - b2**t) + eps)
    return p
