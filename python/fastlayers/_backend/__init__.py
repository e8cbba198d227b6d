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


def operand(x, name: str = "input"):
    """x as a float32 array of the backend it lives on (a NumPy array, or a device Array)."""
    return backend_of(**{name: x}).operand(x, name)


__all__ = ["HOST", "DEVICE", "backend_of", "device_of", "operand"]
