"""The layout operations of the device backend (a base of device.DeviceBackend): row views,
zeros, broadcasts and their gradient sums, axis permutations, device copies and scaling, all on the
device with the runtime's primitives (the strided gather, memset, copies, GEMMs with a row of
ones). Like device.py they reach the runtime through device._rt at each call, so the host
stand-in of tools/cuda_emu, which swaps it, runs them on host memory.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _core
from . import device as _d  # (a circular import: only its attributes at call time are used)

if TYPE_CHECKING:
    from .device import Array


class DeviceLayout:
    @staticmethod
    def rows(a: Array, lo: int, hi: int) -> Array:
        """a[lo:hi] along the first axis: a view of the same memory (writes reach a), which keeps
        a alive."""
        n = a.shape[0]
        lo, hi = max(0, min(lo, n)), max(0, min(hi, n))
        hi = max(lo, hi)
        row = a.nbytes // n if n else 0
        mem = _d._rt.cuda_wrap(a.data_ptr + lo * row, (hi - lo) * row, a.device, a)
        return _d.Array(mem, (hi - lo,) + a.shape[1:], a.dtype)

    @staticmethod
    def zero_(a: Array) -> Array:
        """a filled with zeros, in place (on the device)."""
        _d._rt.cuda_memset(a._mem, 0, a.nbytes)
        return a

    @staticmethod
    def broadcast(a: Array, shape) -> Array:
        """A C-contiguous copy of a broadcast to shape (NumPy's rules; a itself when it has that
        shape), made on the device by the strided gather with zero strides."""
        shape = tuple(int(s) for s in shape)
        if a.shape == shape:
            return a
        if len(shape) < a.ndim or np.broadcast_shapes(a.shape, shape) != shape:
            raise ValueError(f"cannot broadcast an array of shape {a.shape} to shape {shape}")
        if int(np.prod(shape, dtype=np.int64)) == 0:
            return _d.empty(shape, a.device, a.dtype)
        lead = len(shape) - a.ndim
        strides, step = [0] * len(shape), a.dtype.itemsize
        for d in range(a.ndim - 1, -1, -1):
            strides[lead + d] = step if a.shape[d] != 1 else 0
            step *= a.shape[d]
        return _d._gather(a._mem, shape, strides, a.dtype)

    @staticmethod
    def permute(a: Array, axes) -> Array:
        """np.transpose(a, axes) as a C-contiguous copy on a's device (the strided gather)."""
        axes = tuple(int(ax) for ax in axes)
        if sorted(axes) != list(range(a.ndim)):
            raise ValueError(f"axes: expected a permutation of {a.ndim} axes, got {axes}")
        step, strides = a.dtype.itemsize, [0] * a.ndim
        for d in range(a.ndim - 1, -1, -1):
            strides[d] = step
            step *= a.shape[d]
        shape = tuple(a.shape[ax] for ax in axes)
        if axes == tuple(range(a.ndim)):
            return a.copy()
        if int(np.prod(shape, dtype=np.int64)) == 0:
            return _d.empty(shape, a.device, a.dtype)
        return _d._gather(a._mem, shape, [strides[ax] for ax in axes], a.dtype)

    @staticmethod
    def copy_into(dst: Array, src: Array) -> Array:
        """dst's memory <- src's (the same number of bytes, on one device); returns dst."""
        if dst.nbytes != src.nbytes:
            raise ValueError(f"expected {dst.nbytes} bytes, got {src.nbytes}")
        if src.nbytes:
            _d._rt.cuda_copy(dst._mem, src._mem, src.nbytes)
        return dst

    def scale(self, a: Array, factor: float) -> Array:
        """factor * a, a fresh float32 array on a's device (a GEMM with alpha: one product each)."""
        a = _d._operand(a, "input")
        out = _d.empty(a.shape, a.device)
        if a.size:
            self.ops.gemm(self.raw(out), self.raw(self._ones(1, a.device)), self.raw(a), 1, 1, a.size, 1, False, False,
                          False, False, float(factor), 0.0, None, _core.GemmBias.none, None, 0.0,
                          _core.GemmPrecision.fp32)
        return out

    def sum_to(self, g: Array, shape) -> Array:
        """g summed over the dimensions that broadcasting added to or stretched in `shape` (the
        gradient of broadcast), on the device: one batched GEMM with a row of ones per
        reduced dimension."""
        shape = tuple(int(n) for n in shape)
        if g.shape == shape:
            return g
        full = (1,) * (g.ndim - len(shape)) + shape
        cur = g
        for ax in range(g.ndim):
            n = cur.shape[ax]
            if full[ax] != 1 or n == 1:
                continue
            outer = int(np.prod(cur.shape[:ax], dtype=np.int64))
            inner = int(np.prod(cur.shape[ax + 1:], dtype=np.int64))
            out = _d.empty(cur.shape[:ax] + (1,) + cur.shape[ax + 1:], g.device)
            if out.size and n == 0:
                self.zero_(out)
            elif out.size:
                self.ops.gemm(self.raw(out), self.raw(self._ones(n, g.device)), self.raw(cur), outer, 1, inner, n,
                              False, False, True, False, 1.0, 0.0, None, _core.GemmBias.none, None, 0.0,
                              _core.GemmPrecision.fp32)
            cur = out
        return cur.reshape(shape)
