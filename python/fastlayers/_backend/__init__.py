"""Where an op runs. ``backend_of(name=array, ...)`` returns ``host.HOST`` when every given array
is CPU data and ``device.DEVICE`` when all of them live on one GPU (mixing is a TypeError
naming the arguments). Both backends have one interface (operand, out, empty, from_host,
to_host, raw, ops), so each family's functional op validates once and runs on either.
"""
from __future__ import annotations

import numpy as np

from .device import DEVICE, device_of
from .host import HOST

_ndarray = np.ndarray


def backend_of(**arrays):
    """HOST or DEVICE for the given arrays (None values are skipped)."""
    for x in arrays.values():
        if x is not None and type(x) is not _ndarray:  # anything but NumPy arrays: ask device_of
            return HOST if device_of(**arrays) is None else DEVICE
    return HOST


def run_inplace(x, op, name: str = "input"):
    """An element-wise op's ``inplace=True`` (torch's relu_ & co): ``op(be, out, x)`` writes the
    result of x into out, here x itself, which is returned. A float32 C-contiguous array (NumPy
    or device) is its own output; another writable NumPy array (float64, a strided view)
    receives the float32 result converted back into its dtype. A read-only array is a
    ValueError, a non-array or a device array of another dtype a TypeError."""
    be = backend_of(**{name: x})
    if be is HOST:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name}: inplace=True needs an array to write into, got {type(x).__name__}")
        if not x.flags.writeable:
            raise ValueError(f"{name}: array is read-only (inplace=True writes into it)")
        if x.dtype == np.float32 and x.flags.c_contiguous:
            op(be, x, x)
            return x
        tmp = HOST.operand(x, name)  # a float32 copy
        op(be, tmp, tmp)
        np.copyto(x, tmp, casting="unsafe")
        return x
    xd = be.inplace(x, name)  # float32 device memory, written as it is (never a converted copy)
    op(be, xd, xd)
    return x


def operand(x, name: str = "input"):
    """x as a float32 array of the backend it lives on (a NumPy array, or a device Array)."""
    return backend_of(**{name: x}).operand(x, name)


__all__ = ["HOST", "DEVICE", "backend_of", "device_of", "operand", "run_inplace"]
