"""The element-wise glue that composite modules (attention, transformer layers, position embeddings)
need between functional ops: residual sums, broadcast additions, axis permutations and sums over
the batch. On NumPy arrays these are NumPy; on device arrays they run through host memory (one copy
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
