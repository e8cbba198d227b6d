"""The attention family: fused scaled dot-product attention, forward and backward, on the CPU or on
the GPU the arrays live on (mixing devices is a TypeError).

``scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
scale=None)`` has PyTorch's signature and semantics: query (..., L, E), key (..., S, E), value
(..., S, Ev) with any leading (batch, head) dimensions, broadcast against each other as PyTorch
does; the result is (..., L, Ev) = softmax(scale * query key^T + mask) value, scale 1/sqrt(E) by
default. attn_mask is boolean (True = attend) or float (added to the scaled scores), broadcast
to (..., L, S) without a copy (key-padding masks are (B, 1, 1, S)); is_causal masks key j for
query i when j > i (top-left aligned, as PyTorch's, also when L != S); the two are exclusive.
A query row that attends to no key gives zeros (and zero gradients), as PyTorch 2.13 on the CPU.

The kernel is fused (FlashAttention-2's algorithm, csrc/cpu/attention.cpp, csrc/cuda/attention.cu):
the L x S score matrix never exists; scratch is a few tiles per thread (about 200 KiB at E = 64).
On a GPU the head dimensions E, Ev are at most 256 (ValueError beyond).

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
from .._backend import backend_of
from .._backend.host import as_float_param
from .._random import next_seed
from .dropout import _check_seed

_KIND = _core.AttnMask


def _qkv(be, query, key, value):
    """query, key, value as float32 arrays of be broadcast to one batch shape, that shape, and the
    shapes they came with (the backward sums the gradients back to them)."""
    q = be.operand(query, "query")
    k, v = be.operand(key, "key", q), be.operand(value, "value", q)
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
    shapes = (q.shape, k.shape, v.shape)
    return tuple(be.broadcast(a, tuple(batch) + a.shape[-2:]) for a in (q, k, v)) + (batch, shapes)


def _broadcast_strides(shape: tuple, full: tuple) -> list:
    """Element strides of a C-contiguous array of `shape` seen broadcast to `full` (0 where stretched)."""
    lead = (1,) * (len(full) - len(shape)) + tuple(shape)
    strides, step = [], 1
    for n in reversed(lead):
        strides.append(step)
        step *= n
    return [0 if n == 1 else st for n, st in zip(lead, reversed(strides))]


def _mask(be, attn_mask, is_causal, batch: tuple, L: int, S: int, like):
    """(kind, data, offsets, stride_q, stride_k) for _core: the mask seen as (BH, L, S) through
    per-batch-head offsets (a host int64 array) and two strides into its own (compact) data on be,
    no broadcast copy."""
    if not isinstance(is_causal, (bool, np.bool_)):
        raise TypeError(f"is_causal: expected a bool, got {type(is_causal).__name__}")
    if attn_mask is None:
        return (_KIND.causal if is_causal else _KIND.none), None, None, 0, 0
    if is_causal:
        raise ValueError("attn_mask: must be None when is_causal=True (PyTorch allows one of the two)")
    data = be.as_array(attn_mask, "attn_mask", like)
    if data.dtype == np.bool_:
        kind = _KIND.boolean
    else:
        data, kind = be.operand(data, "attn_mask", like), _KIND.additive
    full = tuple(batch) + (L, S)
    try:
        ok = np.broadcast_shapes(data.shape, full) == full
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"attn_mask: expected a shape that broadcasts to {full} (..., L, S), got {data.shape}")
    strides = _broadcast_strides(data.shape, full)
    offsets = np.zeros(batch, dtype=np.int64)
    for d, n in enumerate(batch):
        shape = [1] * len(batch)
        shape[d] = n
        offsets = offsets + (np.arange(n, dtype=np.int64) * strides[d]).reshape(shape)
    return kind, be.raw(data), np.ascontiguousarray(offsets.reshape(-1)), strides[-2], strides[-1]


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
    be = backend_of(query=query, key=key, value=value, attn_mask=attn_mask, out=out)
    q, k, v, batch, _ = _qkv(be, query, key, value)
    BH, L, S, E, Ev = _dims(q, k, v)
    kind, data, offsets, sq, sk = _mask(be, attn_mask, is_causal, batch, L, S, q)
    out = be.out(out, tuple(batch) + (L, Ev), q, inputs=(q, k, v))
    lse = be.empty(tuple(batch) + (L,), q) if return_lse else None
    be.ops.attention_forward(be.raw(out), None if lse is None else be.raw(lse), be.raw(q), be.raw(k), be.raw(v), BH,
                             L, S, E, Ev, kind, data, offsets, sq, sk, _scale(scale, E), seed, threshold, drop_scale)
    if drop_scale == 0.0:  # dropout_p = 1
        be.zero_(out)
    return (out, lse) if return_lse else out


def scaled_dot_product_attention_backward(grad_out, query, key, value, out, lse, attn_mask=None,
                                          dropout_p: float = 0.0, is_causal: bool = False, scale=None, *, seed=None):
    """(grad_query, grad_key, grad_value) of scaled_dot_product_attention, from grad_out (..., L, Ev),
    the forward's inputs and options (its seed with dropout), its output and its lse (return_lse=True)."""
    seed, threshold, drop_scale = _dropout(dropout_p, seed, "in the backward")
    be = backend_of(grad_out=grad_out, query=query, key=key, value=value, out=out, lse=lse, attn_mask=attn_mask)
    q, k, v, batch, shapes = _qkv(be, query, key, value)
    BH, L, S, E, Ev = _dims(q, k, v)
    kind, data, offsets, sq, sk = _mask(be, attn_mask, is_causal, batch, L, S, q)
    want = {"grad_out": tuple(batch) + (L, Ev), "out": tuple(batch) + (L, Ev), "lse": tuple(batch) + (L,)}
    arrays = {}
    for name, a in (("grad_out", grad_out), ("out", out), ("lse", lse)):
        arrays[name] = be.operand(a, name, q)
        if arrays[name].shape != want[name]:
            raise ValueError(f"{name}: expected shape {want[name]}, got {arrays[name].shape}")
    dq, dk, dv = be.empty(q.shape, q), be.empty(k.shape, q), be.empty(v.shape, q)
    if drop_scale == 0.0:  # dropout_p = 1: the output is 0 whatever the inputs
        be.zero_(dq), be.zero_(dk), be.zero_(dv)
    else:
        be.ops.attention_backward(be.raw(dq), be.raw(dk), be.raw(dv), be.raw(arrays["grad_out"]), be.raw(q),
                                  be.raw(k), be.raw(v), be.raw(arrays["out"]), be.raw(arrays["lse"]), BH, L, S, E, Ev,
                                  kind, data, offsets, sq, sk, _scale(scale, E), seed, threshold, drop_scale)
    return tuple(be.sum_to(g, shape) for g, shape in zip((dq, dk, dv), shapes))
