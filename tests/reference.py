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
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
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
