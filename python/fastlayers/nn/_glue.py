"""The element-wise glue that composite modules (attention, transformer layers, position embeddings)
need between functional ops: residual sums, broadcast additions, axis permutations, sums and means
over axes, stacking, row views and zeros. On NumPy arrays these are NumPy. On device arrays they
stay on the device, built from the device backend's primitives (the strided gather for
permutations and broadcasts, GEMMs with a row of ones for sums, scaling and additions, device
copies): correct, not fast (a GEMM of one row per element-wise op), and no host round trip.
"""
from __future__ import annotations

import numpy as np

from .._backend import DEVICE
from .._backend.device import is_gpu


def _on_device(b, like):
    """b (a device array, or host data such as a fixed table) as a float32 array on like's device."""
    if is_gpu(b):
        return DEVICE.operand(b, "input", like)
    return DEVICE.from_host(np.ascontiguousarray(b, dtype=np.float32), like)


def add(a, b):
    """a + b (NumPy broadcasting), a fresh float32 array on a's device."""
    if not is_gpu(a):
        return np.add(a, b, dtype=np.float32)
    a = DEVICE.operand(a, "input")
    b = _on_device(b, a)
    shape = np.broadcast_shapes(a.shape, b.shape)
    out = DEVICE.broadcast(a, shape)
    out = out.copy() if out is a else out
    DEVICE.add_(out, DEVICE.broadcast(b, shape))
    return out


def add_(a, b):
    """a += b in place (a: a float32 array this code owns; b broadcast to a's shape); returns a."""
    if is_gpu(a):
        DEVICE.add_(a, DEVICE.broadcast(_on_device(b, a), a.shape))
    else:
        np.add(a, b, out=a)
    return a


def sum_of(*arrays):
    """The sum of several arrays of one shape (skipping None), a fresh array."""
    arrays = [a for a in arrays if a is not None]
    total = add(arrays[0], arrays[1]) if len(arrays) > 1 else arrays[0].copy()
    for a in arrays[2:]:
        add_(total, a)
    return total


def permute(x, axes):
    """np.transpose(x, axes) as a C-contiguous float32 copy on x's device."""
    if is_gpu(x):
        return DEVICE.permute(DEVICE.operand(x, "input"), axes)
    return np.ascontiguousarray(np.transpose(x, axes), dtype=np.float32)


def scale(x, factor: float):
    """x * factor, a fresh float32 array on x's device."""
    if is_gpu(x):
        return DEVICE.scale(x, factor)
    return np.multiply(x, np.float32(factor), dtype=np.float32)


def mean(x, axis: int):
    """x averaged over one axis (float32), a fresh array on x's device."""
    if not is_gpu(x):
        return np.mean(x, axis=axis, dtype=np.float32)
    axis = axis % x.ndim
    kept = x.shape[:axis] + (1,) + x.shape[axis + 1:]
    total = DEVICE.sum_to(DEVICE.operand(x, "input"), kept).reshape(x.shape[:axis] + x.shape[axis + 1:])
    return DEVICE.scale(total, 1.0 / x.shape[axis]) if x.shape[axis] else DEVICE.scale(total, np.nan)


def stack(arrays):
    """np.stack(arrays) along a new first axis, a fresh float32 array on the first one's device."""
    first = arrays[0]
    if not is_gpu(first):
        return np.stack(arrays).astype(np.float32, copy=False)
    out = DEVICE.empty((len(arrays),) + tuple(first.shape), first)
    for i, a in enumerate(arrays):
        a = DEVICE.operand(a, "input", first)
        if a.shape != first.shape:
            raise ValueError(f"stack: expected arrays of shape {first.shape}, got {a.shape}")
        DEVICE.copy_into(rows(out, i, i + 1), a)
    return out


def rows(x, lo: int, hi: int):
    """x[lo:hi] along the first axis: a view (writes reach x), on x's device (no copy)."""
    return DEVICE.rows(x, lo, hi) if is_gpu(x) else x[lo:hi]


def unstack(x):
    """The views x[0], x[1], ... along the first axis (no copy)."""
    return [rows(x, i, i + 1).reshape(x.shape[1:]) for i in range(x.shape[0])]


def zeros_like(x):
    """A float32 array of zeros of x's shape on x's device."""
    if is_gpu(x):
        return DEVICE.zero_(DEVICE.empty(x.shape, x))
    return np.zeros(x.shape, np.float32)


def to_device_of(host, like):
    """A host array (a mask: bool or float32, kept so) on like's device; host itself, or None,
    when like is a NumPy array."""
    if host is None or not is_gpu(like):
        return host
    return DEVICE.from_host(np.ascontiguousarray(host), like)
