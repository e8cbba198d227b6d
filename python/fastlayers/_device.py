"""Where an op runs: the seam between the functional API and the CUDA kernels.

``device_of(name=value, ...)`` looks at an op's array arguments (None values are skipped):
it returns None when all of them are CPU data (NumPy arrays, lists, CPU tensors), the GPU
index when all of them are GPU arrays (fastlayers.cuda.Array, CuPy, PyTorch CUDA tensors,
anything with ``__cuda_array_interface__`` or a CUDA ``__dlpack_device__``), and raises
TypeError naming the arguments when they mix CPU and GPU data or two GPUs. The functional
ops call it first and hand GPU arguments to fastlayers.cuda's device paths.
"""
from __future__ import annotations

import numpy as np

_KDLCUDA = 2


def _is_gpu(x) -> bool:
    if type(x) is np.ndarray:  # the common case, answered without attribute lookups
        return False
    dl = getattr(x, "__dlpack_device__", None)
    if dl is not None:  # asked first: cheap, and answers for tensors whose CAI would raise
        try:
            return int(dl()[0]) == _KDLCUDA
        except Exception:  # noqa: BLE001 - a broken protocol is not a GPU array
            return False
    return hasattr(x, "__cuda_array_interface__")


def _gpu_index(x) -> int:
    dl = getattr(x, "__dlpack_device__", None)
    if dl is not None:
        return int(dl()[1])
    from .cuda import asarray  # resolves a bare __cuda_array_interface__ pointer
    return asarray(x).device


def device_of(**arrays):
    """None when every given array is CPU data, else the one GPU index they all live on."""
    gpu, cpu = [], []
    for name, x in arrays.items():
        if x is None:
            continue
        (gpu if _is_gpu(x) else cpu).append(name)
    if not gpu:
        return None
    if cpu:
        raise TypeError(f"mixing devices: {', '.join(gpu)} on the GPU but {', '.join(cpu)} on the CPU "
                        f"({type(arrays[cpu[0]]).__name__}); move them to one device with "
                        "fastlayers.cuda.to_device(...) or .numpy()")
    devices = {name: _gpu_index(arrays[name]) for name in gpu}
    first = devices[gpu[0]]
    for name, d in devices.items():
        if d != first:
            raise TypeError(f"mixing devices: {gpu[0]} is on cuda:{first} but {name} on cuda:{d}")
    return first
