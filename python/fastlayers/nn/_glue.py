"""The element-wise glue that composite modules (attention, transformer layers, position embeddings)
need between functional ops: residual sums, broadcast additions, axis permutations, sums and means
over axes, stacking, row views and zeros. On NumPy arrays these are NumPy; on device arrays they run through host memory (one copy
each way) until the device backend has kernels for them: this file is the one place to change then.
"""
from __future__ import annotations

import numpy as np

from .._backend import DEVICE
from .._backend.device import is_gpu


def _host(*arrays):
    return [DEVICE.to_host(a) if is_gpu(a) else a for a in arrays]


def _back(result: np.ndarray, like):
    return DEVICE.from_host(np.ascontiguousarray(result, dtype=np.float32), like) if is_gpu(like) else result


def add(a, b):
    """a + b (NumPy broadcasting), a fresh float32 array on a's device."""
    ha, hb = _host(a, b)
    return _back(np.add(ha, hb, dtype=np.float32), a)


def add_(a, b):
    """a += b in place (a: a float32 array this code owns); returns a."""
    if is_gpu(a):
        DEVICE.copy_from_host(a, np.add(*_host(a, b), dtype=np.float32))
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
    (hx,) = _host(x)
    return _back(np.ascontiguousarray(np.transpose(hx, axes), dtype=np.float32), x)


def scale(x, factor: float):
    """x * factor, a fresh float32 array on x's device."""
    (hx,) = _host(x)
    return _back(np.multiply(hx, np.float32(factor), dtype=np.float32), x)


def mean(x, axis: int):
    """x averaged over one axis (float32), a fresh array on x's device."""
    (hx,) = _host(x)
    return _back(np.mean(hx, axis=axis, dtype=np.float32), x)


def stack(arrays):
    """np.stack(arrays) along a new first axis, a fresh float32 array on the first one's device."""
    return _back(np.stack(_host(*arrays)), arrays[0])


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
