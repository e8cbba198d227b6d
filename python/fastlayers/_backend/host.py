"""The host backend: argument handling shared by every functional op, and HOST, the backend
object a family's CPU path calls (the same interface as device.DEVICE).

The rules (DESIGN.md "dtype" and "Errors"):
- float32 is the compute type. Other real dtypes (float16/64, ints, bool) are converted to
  float32 once; complex, object, string and other kinds raise TypeError.
- Non-contiguous inputs are copied once to C order.
- ``out=`` must be a writable, C-contiguous float32 ndarray of exactly the result's shape;
  it may be the input itself (in place) but must not partially overlap an input.
"""
from __future__ import annotations

import numbers
import operator

import numpy as np

from .. import _core

_REAL_KINDS = "fiub"  # float, signed int, unsigned int, bool


def as_f32(x, name: str) -> np.ndarray:
    """Returns x as a C-contiguous float32 ndarray, converting once if needed."""
    if isinstance(x, np.ndarray):
        arr = x
    else:
        if _is_device_array(x):
            raise TypeError(f"{name}: expected a NumPy array on the CPU, got a device array "
                            f"({type(x).__name__}); mixing devices is not supported")
        try:
            arr = np.asarray(x)
        except Exception as exc:  # noqa: BLE001 - report what we were given
            raise TypeError(f"{name}: expected an array of real numbers, got {type(x).__name__}") from exc
    if arr.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{name}: expected a real-valued array (float32 is the compute type), "
                        f"got dtype {arr.dtype}")
    if arr.dtype != np.float32 or not arr.flags.c_contiguous:
        # (np.ascontiguousarray alone would make a 0-d array 1-d)
        arr = np.ascontiguousarray(arr, dtype=np.float32).reshape(arr.shape)
    return arr


def _is_device_array(x) -> bool:
    return hasattr(x, "__cuda_array_interface__")


def check_out(out, shape: tuple, name: str = "out", inputs: tuple = ()) -> np.ndarray:
    """Validates a caller's out= array, or allocates a fresh one when out is None."""
    if out is None:
        return np.empty(shape, dtype=np.float32)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != np.float32:
        raise TypeError(f"{name}: expected dtype float32, got {out.dtype}")
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {tuple(out.shape)}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous array")
    if not out.flags.writeable:
        raise ValueError(f"{name}: array is read-only")
    for arr in inputs:
        if arr is out or not np.may_share_memory(out, arr):
            continue
        same = (arr.__array_interface__["data"][0] == out.__array_interface__["data"][0]
                and arr.shape == out.shape and arr.strides == out.strides)
        if not same:
            raise ValueError(f"{name}: partially overlaps an input; pass a separate array or the input itself")
    return out


def normalize_axis(axis, ndim: int, name: str = "axis") -> int:
    try:
        ax = operator.index(axis)
    except TypeError:
        raise TypeError(f"{name}: expected an integer, got {type(axis).__name__}") from None
    if not -ndim <= ax < ndim:
        raise ValueError(f"{name}: {axis} is out of range for an array of {ndim} dimensions")
    return ax % ndim


def axis_split(shape: tuple, axis: int) -> tuple[int, int, int]:
    """(outer, n, inner) of a C-contiguous array reduced along `axis`."""
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    return outer, int(shape[axis]), inner


def as_float_param(value, name: str) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    return float(value)


# Geometry parameters (kernel sizes, strides, paddings, dilations) at most this large: every
# product the kernels form from them stays far inside int64.
PARAM_LIMIT = 2**31 - 1


def _int_param(e, name: str, v, n: int, limit: int) -> int:
    if isinstance(e, bool) or not isinstance(e, numbers.Integral):
        raise ValueError(f"{name}: expected an int or a tuple of {n} ints, got {v!r}")
    if not -limit <= e <= limit:
        raise ValueError(f"{name}: {int(e)} is out of range (at most {limit} in magnitude), got {v!r}")
    return int(e)


def int_tuple(v, name: str, n: int, limit: int = PARAM_LIMIT) -> tuple:
    """(v,) * n for an int, or a tuple of n ints (a 1-tuple is repeated): kernel sizes, strides.
    Floats (inf and NaN included) and ints beyond +-limit are a ValueError naming the argument."""
    if isinstance(v, numbers.Number) or isinstance(v, np.generic):
        return (_int_param(v, name, v, n, limit),) * n
    try:
        t = tuple(v)
    except TypeError:
        raise TypeError(f"{name}: expected an int or a tuple of {n} ints, got {type(v).__name__}") from None
    if len(t) == 1:
        t = t * n
    if len(t) != n:
        raise ValueError(f"{name}: expected an int or a tuple of {n} ints, got {v!r}")
    return tuple(_int_param(e, name, v, n, limit) for e in t)


def shape_tuple(v, name: str) -> tuple:
    """A shape given as a sequence of non-negative ints (input_shape of a backward); floats, inf
    and sizes past 2**62 are a ValueError naming the argument, never an OverflowError."""
    try:
        t = tuple(v)
    except TypeError:
        raise TypeError(f"{name}: expected a sequence of ints, got {type(v).__name__}") from None
    for e in t:
        if isinstance(e, bool) or not isinstance(e, numbers.Integral) or not 0 <= e <= 2**62:
            raise ValueError(f"{name}: expected non-negative ints, got {tuple(v)!r}")
    return tuple(int(e) for e in t)


class HostBackend:
    """What a family's CPU path calls: NumPy arrays in and out, the _core entry points.

    The device backend (device.DeviceBackend) has the same methods, so a functional op is written
    once: ``be = backend_of(...)``, then ``be.operand``, ``be.out``, ``be.ops.<op>(be.raw(a), ...)``."""

    name = "cpu"
    ops = _core

    @staticmethod
    def operand(x, name: str, like=None) -> np.ndarray:
        return as_f32(x, name)

    @staticmethod
    def out(out, shape, like, inputs=(), name: str = "out", separate: bool = False) -> np.ndarray:
        """out= checked (or allocated). separate: the op reads neighbouring positions, so out may
        not share memory with any input at all (not even be the input itself)."""
        if separate and out is not None and any(np.may_share_memory(out, a) for a in inputs):
            raise ValueError(f"{name}: must not share memory with the inputs (this op reads neighbouring positions)")
        return check_out(out, shape, name, inputs)

    @staticmethod
    def inplace(a, name: str, like=None) -> np.ndarray:
        """a, an array the op updates in place (running statistics, optimizer state): it must
        already be a writable, C-contiguous float32 ndarray (a converted copy would lose the update)."""
        if not isinstance(a, np.ndarray) or a.dtype != np.float32 or not a.flags.c_contiguous \
                or not a.flags.writeable:
            raise TypeError(f"{name}: expected a writable, contiguous float32 array (updated in place)")
        return a

    @staticmethod
    def index_operand(x, name: str, like=None) -> np.ndarray:
        """x as a C-contiguous int64 array (other integer dtypes converted; others TypeError)."""
        x = np.ascontiguousarray(x)
        if x.dtype != np.int64:
            if x.dtype.kind not in "iu":
                raise TypeError(f"{name}: expected an int64 array, got dtype {x.dtype}")
            x = x.astype(np.int64)
        return x

    @staticmethod
    def empty(shape, like, dtype=np.float32) -> np.ndarray:
        return np.empty(shape, dtype)

    @staticmethod
    def broadcast(a: np.ndarray, shape) -> np.ndarray:
        """A C-contiguous copy of a broadcast to shape (NumPy's rules; a itself when it has that shape)."""
        if a.shape == tuple(shape):
            return a
        return np.ascontiguousarray(np.broadcast_to(a, shape))

    @staticmethod
    def from_host(a: np.ndarray, like) -> np.ndarray:
        return a

    @staticmethod
    def to_host(a: np.ndarray) -> np.ndarray:
        return a

    @staticmethod
    def raw(a: np.ndarray) -> np.ndarray:
        return a


HOST = HostBackend()
