"""The host stand-in for the CUDA backend: every device path of fastlayers on a machine without a GPU.

"Device" memory is host memory (HostMem, addressed like the extension's CudaMemory), and each
``cuda_<op>`` entry point is the CPU entry point ``<op>`` of the same family binding, which has
the same arguments (csrc/bindings/backend.h binds both from one template). Installed, it swaps
two things of fastlayers._backend.device: the runtime module ``_rt`` and ``DEVICE.raw`` (an
Array's memory becomes a NumPy view of the right dtype and size). Everything above the bindings
-- Array, to_device / asarray, every functional op's device path, the modules' ``.to("cuda")``,
optimizers on device parameters -- then runs here and is checked against the CPU results.

It checks the Python device layer, not the CUDA kernels: tools/cuda_emu/run.py checks those by
emulation, and tests marked ``cuda`` on a real GPU.

    from standin import HostStandIn
    with HostStandIn():            # or .install() / .uninstall()
        y = F.relu(fastlayers.cuda.to_device(x))
"""
from __future__ import annotations

import ctypes

import numpy as np

from fastlayers import _core
from fastlayers._backend import device as _device


class HostMem:
    """A 'device' allocation: host bytes, addressed like the real CudaMemory."""

    def __init__(self, nbytes, ptr=None, owner=None):
        if ptr is None:
            self.buf = np.zeros(max(nbytes, 1), np.uint8)
            ptr = self.buf.ctypes.data
        else:
            self.buf = np.frombuffer((ctypes.c_uint8 * max(nbytes, 1)).from_address(ptr), np.uint8)
        self.ptr, self.nbytes, self.device, self.owner = ptr, nbytes, 0, owner

    def f32(self, n):
        assert 4 * n <= self.nbytes
        return self.buf[:4 * n].view(np.float32)


def host_view(arr) -> np.ndarray:
    """DEVICE.raw under the stand-in: the Array's memory as a flat NumPy array of its dtype."""
    return arr._mem.buf[:arr.nbytes].view(arr.dtype)


class HostStandIn:
    """The runtime entry points on host memory, and cuda_<op> -> the CPU <op>."""

    def __init__(self):
        self.waits = []
        self.stats = {"in_use": 0, "cached": 0, "peak": 0, "mallocs": 0}
        self._saved = None

    # ---- install -------------------------------------------------------------------------------
    def install(self):
        self._saved = (_device._rt, _device.DEVICE.__dict__.get("raw"), _device._usable_count)
        _device._rt = self
        _device.DEVICE.raw = host_view
        _device._usable_count = 0
        return self

    def uninstall(self):
        rt, raw, count = self._saved
        _device._rt = rt
        if raw is None:
            _device.DEVICE.__dict__.pop("raw", None)
        else:
            _device.DEVICE.raw = raw
        _device._usable_count = count

    def __enter__(self):
        return self.install()

    def __exit__(self, *exc):
        self.uninstall()

    # ---- runtime -------------------------------------------------------------------------------
    cuda_probe = staticmethod(lambda: (1, ""))
    cuda_pointer_device = staticmethod(lambda ptr: 0)
    cuda_synchronize = staticmethod(lambda device: None)

    def cuda_alloc(self, nbytes, device):
        self.stats["in_use"] += nbytes  # (no mallocs counted: as a cache that always hits)
        return HostMem(nbytes)

    def cuda_memory_stats(self, device):
        return dict(self.stats)

    def cuda_empty_cache(self):
        self.stats["cached"] = 0

    def cuda_wrap(self, ptr, nbytes, device, owner):
        return HostMem(nbytes, ptr, owner)

    def cuda_wait_for(self, stream, device):
        self.waits.append(stream)

    def cuda_make_wait(self, stream, device):
        self.waits.append(stream)

    def cuda_copy_from_host(self, mem, arr):
        mem.buf[:arr.nbytes] = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)

    def cuda_copy_to_host(self, out, mem):
        out.reshape(-1).view(np.uint8)[:] = mem.buf[:out.nbytes]

    def cuda_gather_strided(self, dst, src, shape, strides, itemsize):
        assert src.ptr % itemsize == 0
        view = np.lib.stride_tricks.as_strided(src.buf.view(np.dtype(f"u{itemsize}")), shape, strides)
        dst.buf[:view.size * itemsize] = np.ascontiguousarray(view).reshape(-1).view(np.uint8)

    def cuda_convert_f32(self, dst, src, n, kind, itemsize):
        dst.f32(n)[:] = src.buf[:n * itemsize].view(np.dtype(f"{kind}{itemsize}"))

    def cuda_copy(self, dst, src, nbytes):
        dst.buf[:nbytes] = src.buf[:nbytes]

    # ---- kernels: cuda_<op> is the CPU <op> (the same arguments, arrays as host views) ----------
    def __getattr__(self, name):
        # only where the extension binds cuda_<op> too: an op without CUDA kernels fails here as
        # it would on a GPU
        if name.startswith("cuda_") and hasattr(_core, name):
            fn = getattr(_core, name[5:], None)
            if fn is not None:
                return fn
        raise AttributeError(f"the host stand-in has no {name!r}")
