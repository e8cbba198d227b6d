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
