"""The attention family: fused scaled dot-product attention, forward and backward (CPU).

``scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
scale=None)`` has PyTorch's signature and semantics: query (..., L, E), key (..., S, E), value
(..., S, Ev) with any leading (batch, head) dimensions, broadcast against each other as PyTorch
does; the result is (..., L, Ev) = softmax(scale * query key^T + mask) value, scale 1/sqrt(E) by
default. attn_mask is boolean (True = attend) or float (added to the scaled scores), broadcast
to (..., L, S) without a copy (key-padding masks are (B, 1, 1, S)); is_causal masks key j for
query i when j > i (top-left aligned, as PyTorch's, also when L != S); the two are exclusive.
A query row that attends to no key gives zeros (and zero gradients), as PyTorch 2.13 on the CPU.

The kernel is fused (FlashAttention-2's algorithm, csrc/cpu/attention.cpp): the L x S score
matrix never exists; scratch is a few tiles per thread (about 200 KiB at E = 64).

Backward. ``scaled_dot_product_attention(..., return_lse=True)`` also returns lse (..., L), the
log-sum-exp of each row of masked, scaled scores (+inf for a row with no attended key), and
``scaled_dot_product_attention_backward(grad_out, query, key, value, out, lse, attn_mask=None,
dropout_p=0.0, is_causal=False, scale=None, *, seed=None)`` returns (grad_query, grad_key,
grad_value) from it, each of its input's shape (summed over broadcast dimensions), recomputing
the probabilities tile by tile. Pass it the forward's inputs, mask, is_causal, scale, dropout_p
and seed.

Dropout (dropout_p > 0, applied whenever it is given, as PyTorch's SDPA does): each attention
weight is zeroed with probability dropout_p and the rest scaled by 1 / (1 - dropout_p), with
functional.dropout's counter-based mask over the (..., L, S) weights: ``seed`` (an integer in
[0, 2^64); None draws one from fastlayers' generator) fixes it, and the backward re-derives the
same mask from the same seed, so with return_lse=True an explicit seed is required. The fused
kernel never stores the mask or the weights.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _core
from .._backend.host import as_f32, as_float_param, check_out
from .._random import next_seed
from .dropout import _check_seed

_KIND = _core.AttnMask


def _qkv(query, key, value):
    """float32 arrays of query, key, value broadcast to one batch shape, and that shape."""
    q, k, v = as_f32(query, "query"), as_f32(key, "key"), as_f32(value, "value")
    for name, a in (("query", q), ("key", k), ("value", v)):
        if a.ndim < 2:
            raise ValueError(f"{name}: expected an array of shape (..., T, D), got shape {a.shape}")
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(f"key: expected head dimension {q.shape[-1]} of query {q.shape} as its last dimension, "
                         f"got shape {k.shape}")
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(f"value: expected the {k.shape[-2]} keys of key {k.shape} as its dimension -2, "
                         f"got shape {v.shape}")
    try:
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(f"query, key, value: leading dimensions {q.shape[:-2]}, {k.shape[:-2]}, {v.shape[:-2]} "
                         "do not broadcast") from None
    return tuple(_broadcast(a, batch) for a in (q, k, v)) + (batch,)


def _broadcast(a: np.ndarray, batch: tuple) -> np.ndarray:
    shape = tuple(batch) + a.shape[-2:]
    return a if a.shape == shape else np.ascontiguousarray(np.broadcast_to(a, shape))


def _mask(attn_mask, is_causal, batch: tuple, L: int, S: int):
    """(kind, data, offsets, stride_q, stride_k) for _core: the mask seen as (BH, L, S) through
    per-batch-head offsets and two strides into its own (compact) data, no broadcast copy."""
    if not isinstance(is_causal, (bool, np.bool_)):
        raise TypeError(f"is_causal: expected a bool, got {type(is_causal).__name__}")
    if attn_mask is None:
        return (_KIND.causal if is_causal else _KIND.none), None, None, 0, 0
    if is_causal:
        raise ValueError("attn_mask: must be None when is_causal=True (PyTorch allows one of the two)")
    arr = np.asarray(attn_mask) if not isinstance(attn_mask, np.ndarray) else attn_mask
    if arr.dtype == np.bool_:
        data, kind = np.ascontiguousarray(arr).view(np.uint8), _KIND.boolean
    else:
        data, kind = as_f32(arr, "attn_mask"), _KIND.additive
    full = tuple(batch) + (L, S)
    try:
        ok = np.broadcast_shapes(data.shape, full) == full
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"attn_mask: expected a shape that broadcasts to {full} (..., L, S), got {data.shape}")
    strides = [s // data.itemsize for s in np.broadcast_to(data, full).strides]
    offsets = np.zeros(batch, dtype=np.int64)
    for d, n in enumerate(batch):
        shape = [1] * len(batch)
        shape[d] = n
        offsets = offsets + (np.arange(n, dtype=np.int64) * strides[d]).reshape(shape)
    return kind, data, np.ascontiguousarray(offsets.reshape(-1)), strides[-2], strides[-1]


def _scale(scale, E: int) -> float:
    if scale is None:
        return 1.0 / math.sqrt(E) if E > 0 else 1.0
    return as_float_param(scale, "scale")


def _dropout(dropout_p, seed, need_seed: str = "") -> tuple:
    """(seed, threshold, scale) for _core (threshold 0: no dropout), from a checked dropout_p."""
    if not isinstance(dropout_p, numbers.Real) or isinstance(dropout_p, bool):
        raise TypeError(f"dropout_p: expected a real number, got {type(dropout_p).__name__}")
    p = float(dropout_p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout_p: expected a probability in [0, 1], got {dropout_p}")
    if p == 0.0:
        return 0, 0, 1.0
    if seed is None:
        if need_seed:
            raise ValueError(f"seed: required when dropout_p > 0 {need_seed} (the backward re-derives the mask "
                             "from it)")
        seed = next_seed()
    seed = _check_seed(seed)
    if p >= 1.0:  # every weight dropped: the caller zeroes the result
        return seed, 0, 0.0
    return seed, min(int(round(p * 2.0**32)), 2**32 - 1), 1.0 / (1.0 - p)


def _dims(q, k, v):
    BH = int(np.prod(q.shape[:-2], dtype=np.int64))
    return BH, q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1]


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0, is_causal: bool = False,
                                 scale=None, *, return_lse: bool = False, seed=None, out=None):
    """softmax(scale * query key^T + mask) value, over the last two dimensions (see the module doc).

    Returns the output (..., L, Ev), or (output, lse) with return_lse=True, lse (..., L) being what
    scaled_dot_product_attention_backward needs besides the inputs and the output (and the seed,
    with dropout).
    """
    seed, threshold, drop_scale = _dropout(dropout_p, seed, "and return_lse=True" if return_lse else "")
    q, k, v, batch = _qkv(query, key, value)
    BH, L, S, E, Ev = _dims(q, k, v)
    kind, data, offsets, sq, sk = _mask(attn_mask, is_causal, batch, L, S)
    out = check_out(out, tuple(batch) + (L, Ev), inputs=(q, k, v))
    lse = np.empty(tuple(batch) + (L,), dtype=np.float32) if return_lse else None
    _core.attention_forward(out, lse, q, k, v, BH, L, S, E, Ev, kind, data, offsets, sq, sk, _scale(scale, E), seed,
                            threshold, drop_scale)
    if drop_scale == 0.0:  # dropout_p = 1
        out.fill(0.0)
    return (out, lse) if return_lse else out


def _reduce_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    """g summed over the dimensions that broadcasting added to or stretched in `shape`."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, (a, b) in enumerate(zip(g.shape, shape)) if b == 1 and a != 1)
    return np.ascontiguousarray(g.sum(axis=axes, keepdims=True) if axes else g, dtype=np.float32)


def scaled_dot_product_attention_backward(grad_out, query, key, value, out, lse, attn_mask=None,
                                          dropout_p: float = 0.0, is_causal: bool = False, scale=None, *, seed=None):
    """(grad_query, grad_key, grad_value) of scaled_dot_product_attention, from grad_out (..., L, Ev),
    the forward's inputs and options (its seed with dropout), its output and its lse (return_lse=True)."""
    seed, threshold, drop_scale = _dropout(dropout_p, seed, "in the backward")
    q, k, v, batch = _qkv(query, key, value)
    BH, L, S, E, Ev = _dims(q, k, v)
    kind, data, offsets, sq, sk = _mask(attn_mask, is_causal, batch, L, S)
    shapes = {"grad_out": tuple(batch) + (L, Ev), "out": tuple(batch) + (L, Ev), "lse": tuple(batch) + (L,)}
    arrays = {}
    for name, a in (("grad_out", grad_out), ("out", out), ("lse", lse)):
        arrays[name] = as_f32(a, name)
        if arrays[name].shape != shapes[name]:
            raise ValueError(f"{name}: expected shape {shapes[name]}, got {arrays[name].shape}")
    dq, dk, dv = np.empty_like(q), np.empty_like(k), np.empty_like(v)
    if drop_scale == 0.0:  # dropout_p = 1: the output is 0 whatever the inputs
        dq.fill(0.0), dk.fill(0.0), dv.fill(0.0)
    else:
        _core.attention_backward(dq, dk, dv, arrays["grad_out"], q, k, v, arrays["out"], arrays["lse"], BH, L, S, E,
                                 Ev, kind, data, offsets, sq, sk, _scale(scale, E), seed, threshold, drop_scale)
    return (_reduce_to(dq, np.shape(query)), _reduce_to(dk, np.shape(key)), _reduce_to(dv, np.shape(value)))
