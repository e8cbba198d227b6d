"""Float64 NumPy oracles of the attention family (the whole score matrix, PyTorch's semantics),
and the same formulation in float32, the baseline that the fused kernels' error is held to."""
from __future__ import annotations

import numpy as np


def _default_scale(q):
    """1 / sqrt(E); 1 for E = 0 (the scores are 0 whatever the scale)."""
    return 1.0 / np.sqrt(q.shape[-1]) if q.shape[-1] else 1.0


def _bias(mask, is_causal, L, S, dtype):
    """The additive form of a mask: 0 / -inf (boolean, causal) or the float mask itself."""
    if is_causal:
        return np.where(np.tril(np.ones((L, S), dtype=bool)), 0.0, -np.inf).astype(dtype)
    if mask is None:
        return np.zeros((L, S), dtype)
    mask = np.asarray(mask)
    if mask.dtype == np.bool_:
        return np.where(mask, 0.0, -np.inf).astype(dtype)
    return mask.astype(dtype)


def sdpa_probs(q, k, mask=None, is_causal=False, scale=None, dtype=np.float64):
    """P = softmax(scale q k^T + mask) over keys (rows with no attended key: 0), (..., L, S)."""
    q, k = np.asarray(q, dtype), np.asarray(k, dtype)
    scale = _default_scale(q) if scale is None else scale
    s = (q @ np.swapaxes(k, -1, -2)) * dtype(scale) + _bias(mask, is_causal, q.shape[-2], k.shape[-2], dtype)
    m = np.max(s, axis=-1, keepdims=True, initial=-np.inf)
    m = np.where(np.isneginf(m), 0.0, m).astype(dtype)
    e = np.exp(s - m)
    total = e.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, e / total, 0.0).astype(dtype)


def sdpa_lse(q, k, mask=None, is_causal=False, scale=None):
    """log(sum(exp(scale q k^T + mask))) over keys, (..., L)."""
    q, k = np.asarray(q, np.float64), np.asarray(k, np.float64)
    scale = _default_scale(q) if scale is None else scale
    s = (q @ np.swapaxes(k, -1, -2)) * scale + _bias(mask, is_causal, q.shape[-2], k.shape[-2], np.float64)
    m = np.max(s, axis=-1, keepdims=True, initial=-np.inf)
    return (m + np.log(np.sum(np.exp(s - m), axis=-1, keepdims=True)))[..., 0]


def sdpa(q, k, v, mask=None, is_causal=False, scale=None, dtype=np.float64, drop=None):
    """softmax(scale q k^T + mask) v with leading dimensions broadcast, (..., L, Ev); drop: the
    dropout factors of the weights (keep / (1 - p), (..., L, S)) or None."""
    p = sdpa_probs(q, k, mask, is_causal, scale, dtype)
    return (p if drop is None else p * np.asarray(drop, dtype)) @ np.asarray(v, dtype)


def _sum_to(g, shape):
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, (a, b) in enumerate(zip(g.shape, shape)) if b == 1 and a != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def sdpa_backward(g, q, k, v, mask=None, is_causal=False, scale=None, dtype=np.float64, drop=None):
    """(dq, dk, dv) of sum(sdpa(q, k, v, drop=drop) * g), each of its input's shape."""
    q, k, v, g = (np.asarray(a, dtype) for a in (q, k, v, g))
    scale = dtype(_default_scale(q) if scale is None else scale)
    p = sdpa_probs(q, k, mask, is_causal, scale, dtype)
    drop = np.ones((), dtype) if drop is None else np.asarray(drop, dtype)
    dv = np.swapaxes(p * drop, -1, -2) @ g
    dp = (g @ np.swapaxes(v, -1, -2)) * drop
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True)) * scale
    dq = ds @ k
    dk = np.swapaxes(ds, -1, -2) @ q
    return _sum_to(dq, q.shape), _sum_to(dk, k.shape), _sum_to(dv, v.shape)
