"""fastlayers.cuda: arrays in GPU memory, zero-copy exchange with CuPy / PyTorch, and SGEMM.

- ``is_available()``, ``device_count()``, ``unavailable_reason()`` (the CUDA error text).
- ``Array``: a C-contiguous array on one GPU. ``to_device(ndarray)`` copies in (real dtypes are
  converted to float32 once, as everywhere in fastlayers), ``.numpy()`` copies out.
  ``__dlpack__`` / ``__dlpack_device__`` and ``__cuda_array_interface__`` (v3) let CuPy,
  PyTorch and Numba use its memory without a copy; ``asarray(obj)`` / ``from_dlpack(obj)``
  wrap theirs without a copy (non-contiguous views are copied once into a contiguous Array).
- The functional ops (``fastlayers.functional``) run on the device their inputs live on and
  return an ``Array``; mixing a device array with a NumPy array is a TypeError.
- ``matmul`` and ``linear``: SGEMM with our own kernels (no cuBLAS). Precision is chosen by
  ``set_matmul_precision``: 'float32' (default; FP32 FMA on the CUDA cores) or 'tf32'
  (tensor cores, inputs rounded to TF32 = 10-bit mantissa, FP32 accumulation; relative error
  of each product up to about 1e-3).

Memory comes from a caching allocator (size-bucketed free lists per device, ``empty_cache()``
returns it to the driver). All fastlayers work is queued on the legacy default stream:
results are ready for any later work on that stream, ``.numpy()`` waits for them, and
``synchronize()`` waits for everything. Objects handed in with a ``stream`` in their
``__cuda_array_interface__`` are ordered after that stream's work.

Without a usable GPU (or in a build without CUDA kernels) ``is_available()`` is False and
every other entry point raises RuntimeError saying why.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _core
from ._array import as_f32, as_float_param
from ._device import _is_gpu

__all__ = ["Array", "is_available", "device_count", "unavailable_reason", "to_device", "empty", "asarray",
           "from_dlpack", "synchronize", "empty_cache", "memory_stats", "matmul", "linear",
           "set_matmul_precision", "get_matmul_precision"]

_KDLCUDA = 2
_LEGACY_STREAM = 1  # __cuda_array_interface__ / DLPack code of the legacy default stream
_DL_CODES = {"i": 0, "u": 1, "f": 2, "b": 6}  # NumPy kind -> DLPack type code
_DL_KINDS = {0: "i", 1: "u", 2: "f", 6: "b"}
_MAX_GATHER_DIMS = 8  # kMaxCopyDims of csrc/cuda/copy.cuh


# ---- availability --------------------------------------------------------------------------

def device_count() -> int:
    """Number of usable CUDA devices (0 without a GPU, driver or CUDA build)."""
    return _core.cuda_probe()[0]


def is_available() -> bool:
    """True when fastlayers was built with CUDA kernels and a GPU is usable."""
    return device_count() > 0


def unavailable_reason() -> str:
    """Why CUDA cannot be used ('' when it can): the CUDA error text, or the build setting."""
    count, reason = _core.cuda_probe()
    return "" if count > 0 else reason


_usable_count = 0  # device count once a probe found GPUs (it cannot change within a process)


def _require(device=None) -> int:
    """The device index to use, or RuntimeError when CUDA is unusable."""
    global _usable_count
    count = _usable_count
    if count == 0:
        count, reason = _core.cuda_probe()
        if count == 0:
            raise RuntimeError(f"fastlayers.cuda: CUDA is not available: {reason}")
        _usable_count = count
    if device is None:
        return 0
    if isinstance(device, bool) or not isinstance(device, numbers.Integral):
        raise TypeError(f"device: expected an integer device index, got {type(device).__name__}")
    if not 0 <= device < count:
        raise ValueError(f"device: expected 0 <= device < {count}, got {device}")
    return int(device)


# ---- the device array ------------------------------------------------------------------------

class Array:
    """A C-contiguous array in the memory of one GPU.

    Create it with ``to_device``, ``empty``, ``asarray`` or ``from_dlpack``; the functional ops
    return it when their inputs live on a GPU. It holds either a block of fastlayers' caching
    allocator or foreign memory (CuPy, PyTorch) kept alive for as long as the Array lives.
    """

    __slots__ = ("_mem", "_shape", "_dtype", "__weakref__")

    def __init__(self, mem, shape, dtype):
        self._mem = mem
        self._shape = tuple(int(s) for s in shape)
        self._dtype = np.dtype(dtype)

    shape = property(lambda self: self._shape, doc="Dimensions, as for NumPy.")
    dtype = property(lambda self: self._dtype, doc="Element type (float32 for arrays fastlayers makes).")
    ndim = property(lambda self: len(self._shape))
    size = property(lambda self: int(np.prod(self._shape, dtype=np.int64)))
    nbytes = property(lambda self: self.size * self._dtype.itemsize)
    device = property(lambda self: int(self._mem.device), doc="Index of the GPU holding the data.")
    data_ptr = property(lambda self: int(self._mem.ptr), doc="Device address of the first element.")

    def __len__(self) -> int:
        if not self._shape:
            raise TypeError("len() of a 0-d array")
        return self._shape[0]

    def __repr__(self) -> str:
        return f"fastlayers.cuda.Array(shape={self._shape}, dtype={self._dtype}, device={self.device})"

    def __array__(self, dtype=None, copy=None):
        raise TypeError("a fastlayers.cuda.Array lives in GPU memory: copy it to the host explicitly with .numpy()")

    def numpy(self) -> np.ndarray:
        """A NumPy copy of the data (waits for the work queued on it)."""
        out = np.empty(self._shape, dtype=self._dtype)
        _core.cuda_copy_to_host(out, self._mem)
        return out

    def copy(self) -> "Array":
        """A new Array with a copy of the data, on the same device."""
        dst = _core.cuda_alloc(self.nbytes, self.device)
        _core.cuda_copy(dst, self._mem, self.nbytes)
        return Array(dst, self._shape, self._dtype)

    def reshape(self, *shape) -> "Array":
        """A view of the same memory with another shape (one dimension may be -1)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        shape = tuple(int(s) for s in shape)
        size = self.size
        if shape.count(-1) == 1:
            known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
            if known > 0 and size % known == 0:
                shape = tuple(size // known if s == -1 else s for s in shape)
        if any(s < 0 for s in shape) or int(np.prod(shape, dtype=np.int64)) != size:
            raise ValueError(f"cannot reshape an array of shape {self._shape} into shape {shape}")
        return Array(self._mem, shape, self._dtype)

    @property
    def __cuda_array_interface__(self) -> dict:
        return {"shape": self._shape, "typestr": self._dtype.str, "data": (self.data_ptr, False),
                "version": 3, "strides": None, "stream": _LEGACY_STREAM}

    def __dlpack_device__(self) -> tuple:
        return (_KDLCUDA, self.device)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule of this memory (legacy, unversioned). `stream`: the consumer's stream,
        which is made to wait for the work fastlayers queued (-1: no ordering)."""
        if dl_device is not None and tuple(dl_device) != self.__dlpack_device__():
            raise BufferError(f"dl_device: cannot export device {self.__dlpack_device__()} data to {tuple(dl_device)}")
        src = self.copy() if copy else self
        if stream is not None and stream not in (-1, 0, _LEGACY_STREAM):
            _core.cuda_make_wait(int(stream), self.device)
        if src._dtype.kind not in _DL_CODES:
            raise BufferError(f"dtype {src._dtype} has no DLPack code")
        return _core.cuda_to_dlpack(src._mem, list(src._shape), _DL_CODES[src._dtype.kind], src._dtype.itemsize * 8)


def to_device(x, device: int = 0) -> Array:
    """Copies a NumPy array (or anything np.asarray accepts) to `device` as float32.

    Other real dtypes are converted to float32 once; complex, object and string data raise
    TypeError. A float32 device array on the same device is returned as is (no copy).
    """
    dev = _require(device)
    if _is_gpu(x):
        arr = asarray(x)
        if arr.dtype != np.float32:
            arr = _operand(arr, "x")
        if arr.device == dev:
            return arr
        dst = _core.cuda_alloc(arr.nbytes, dev)
        _core.cuda_copy(dst, arr._mem, arr.nbytes)
        return Array(dst, arr.shape, arr.dtype)
    host = as_f32(x, "x")
    mem = _core.cuda_alloc(host.nbytes, dev)
    _core.cuda_copy_from_host(mem, host)
    return Array(mem, host.shape, np.float32)


def empty(shape, device: int = 0, dtype=np.float32) -> Array:
    """An uninitialised array on `device`."""
    dev = _require(device)
    shape = (int(shape),) if isinstance(shape, numbers.Integral) else tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"shape: negative dimension in {shape}")
    dt = np.dtype(dtype)
    return Array(_core.cuda_alloc(int(np.prod(shape, dtype=np.int64)) * dt.itemsize, dev), shape, dt)


def asarray(obj) -> Array:
    """Wraps a GPU array without copying: an Array (returned as is), anything with
    ``__cuda_array_interface__`` (CuPy, Numba, PyTorch CUDA tensors) or a CUDA ``__dlpack__``.
    C-contiguous data is shared; a non-contiguous view (non-negative strides, up to 8
    dimensions) is copied once into a new contiguous Array."""
    return _asarray(obj)


def _asarray(obj, out_name=None) -> Array:
    """asarray; out_name names an output argument, which must be shared, not copied (a result
    written into a copy would be lost): a non-contiguous or read-only one raises ValueError."""
    if isinstance(obj, Array):
        return obj
    _require()
    if hasattr(obj, "__cuda_array_interface__"):
        return _from_cai(obj, out_name)
    if _is_gpu(obj):
        return _from_dlpack(obj, out_name)
    raise TypeError(f"expected a GPU array (fastlayers.cuda.Array, CuPy, a PyTorch CUDA tensor), "
                    f"got {type(obj).__name__}")


def _c_contiguous(shape, strides, itemsize) -> bool:
    expected = itemsize
    for n, s in zip(reversed(shape), reversed(strides)):
        if n != 1 and s != expected:
            return False
        expected *= n
    return True


def _from_cai(obj, out_name=None) -> Array:
    cai = obj.__cuda_array_interface__
    shape = tuple(int(s) for s in cai["shape"])
    dtype = np.dtype(cai["typestr"])
    if dtype.kind not in _DL_CODES:
        raise TypeError(f"unsupported device array dtype {dtype}")
    if cai.get("mask") is not None:
        raise TypeError("masked device arrays are not supported")
    size = int(np.prod(shape, dtype=np.int64))
    strides = cai.get("strides")
    if strides is not None and (size == 0 or _c_contiguous(shape, strides, dtype.itemsize)):
        strides = None
    ptr = int(cai["data"][0] or 0)
    if out_name is not None and (strides is not None or cai["data"][1]):
        raise ValueError(f"{out_name}: expected a writable C-contiguous device array, got "
                         f"{'a read-only one' if cai['data'][1] else f'strides {tuple(strides)}'}")
    device = _core.cuda_pointer_device(ptr) if ptr and size else 0
    stream = cai.get("stream")
    if stream is not None and stream != _LEGACY_STREAM and ptr:
        _core.cuda_wait_for(int(stream), device)
    if strides is None:
        return Array(_core.cuda_wrap(ptr, size * dtype.itemsize, device, obj), shape, dtype)
    if any(st < 0 for st in strides):
        raise ValueError(f"device arrays with negative strides are not supported (strides {tuple(strides)})")
    extent = sum((n - 1) * st for n, st in zip(shape, strides)) + dtype.itemsize
    return _gather(_core.cuda_wrap(ptr, extent, device, obj), shape, strides, dtype)


def _gather(src_mem, shape, byte_strides, dtype) -> Array:
    """A C-contiguous copy of the strided data in src_mem (non-contiguous inputs are copied once)."""
    if len(shape) > _MAX_GATHER_DIMS:
        raise ValueError(f"non-contiguous device arrays of more than {_MAX_GATHER_DIMS} dimensions are not supported")
    dst = _core.cuda_alloc(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize, src_mem.device)
    _core.cuda_gather_strided(dst, src_mem, [int(n) for n in shape], [int(st) for st in byte_strides], dtype.itemsize)
    return Array(dst, shape, dtype)


def from_dlpack(obj) -> Array:
    """Wraps an object exposing ``__dlpack__`` on a CUDA device, without copying (a non-contiguous
    tensor is copied once into a contiguous Array)."""
    return _from_dlpack(obj)


def _from_dlpack(obj, out_name=None) -> Array:
    _require()
    if isinstance(obj, Array):
        return obj
    capsule = obj.__dlpack__(stream=_LEGACY_STREAM)
    mem, shape, code, bits, strides = _core.cuda_from_dlpack(capsule)
    if code not in _DL_KINDS:
        raise TypeError(f"unsupported DLPack dtype code {code} ({bits} bits)")
    dtype = np.dtype(f"{_DL_KINDS[code]}{bits // 8}") if code != 6 else np.dtype(np.bool_)
    if strides is not None:
        if out_name is not None:
            raise ValueError(f"{out_name}: expected a C-contiguous device array, got strides {strides}")
        return _gather(mem, shape, [st * dtype.itemsize for st in strides], dtype)
    return Array(mem, shape, dtype)


# ---- runtime -----------------------------------------------------------------------------------

def synchronize(device: int = 0) -> None:
    """Waits until every kernel queued on `device` has finished (and reports their errors)."""
    _core.cuda_synchronize(_require(device))


def empty_cache() -> None:
    """Returns every cached, unused block of the caching allocator to the driver."""
    _require()
    _core.cuda_empty_cache()


def memory_stats(device: int = 0) -> dict:
    """Bytes in use, cached and at peak in the caching allocator, and its cudaMalloc count."""
    return dict(_core.cuda_memory_stats(_require(device)))


# ---- argument checks shared by the device paths of the functional ops ---------------------------

def _to_f32(arr: Array) -> Array:
    """A float32 copy of a device array of another real dtype (converted once, on the device)."""
    dst = _core.cuda_alloc(arr.size * 4, arr.device)
    _core.cuda_convert_f32(dst, arr._mem, arr.size, arr.dtype.kind, arr.dtype.itemsize)
    return Array(dst, arr.shape, np.float32)


def _operand(x, name: str, device=None, out: bool = False) -> Array:
    """x as a float32 Array, on `device` when given: other real dtypes are converted once, as on
    the CPU. out: x is written to, so it must already be float32 (it is never copied)."""
    arr = _asarray(x, name if out else None)
    if arr.dtype != np.float32:
        if out or arr.dtype.kind not in "biuf":
            raise TypeError(f"{name}: expected a float32 device array, got dtype {arr.dtype}")
        arr = _to_f32(arr)
    if device is not None and arr.device != device:
        raise TypeError(f"{name}: on device {arr.device}, expected device {device} like the other arguments")
    return arr


def _check_out(out, shape, device: int, inputs=(), name: str = "out") -> Array:
    """A fresh float32 Array of `shape`, or the caller's out= after checking it."""
    if out is None:
        return empty(shape, device)
    arr = _operand(out, name, device, out=True)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {arr.shape}")
    lo, hi = arr.data_ptr, arr.data_ptr + arr.nbytes
    for x in inputs:
        xlo, xhi = x.data_ptr, x.data_ptr + x.nbytes
        if (xlo, xhi) != (lo, hi) and xlo < hi and lo < xhi:
            raise ValueError(f"{name}: partially overlaps an input; pass a separate array or the input itself")
    return arr


# ---- SGEMM ---------------------------------------------------------------------------------------

_PRECISIONS = {"float32": 0, "highest": 0, "tf32": 1, "high": 1}
_precision = "float32"

# epilogue activations: name -> (ActOp code of csrc/cpu/activation.h, default parameter)
_ACTIVATIONS = {"sigmoid": (0, 0.0), "tanh": (1, 0.0), "relu": (2, 0.0), "leaky_relu": (3, 0.1),
                "elu": (4, 1.0), "gelu": (5, 0.0), "gelu_tanh": (6, 0.0)}


def set_matmul_precision(precision: str) -> None:
    """'float32' (default, also 'highest'): FP32 FMA on the CUDA cores, as accurate as a float32
    BLAS. 'tf32' (also 'high'): tensor cores, inputs rounded to TF32 (10-bit mantissa, round to
    nearest), FP32 accumulation; each product has a relative error up to about 1e-3, so results
    differ from float32 by about 1e-3 * sqrt(K) relative. Applies to every later matmul/linear."""
    global _precision
    if precision not in _PRECISIONS:
        raise ValueError(f"precision: expected one of {sorted(_PRECISIONS)}, got {precision!r}")
    _precision = "tf32" if _PRECISIONS[precision] else "float32"


def get_matmul_precision() -> str:
    """The current matmul precision: 'float32' or 'tf32'."""
    return _precision


def _sgemm(a, b, trans_a, trans_b, alpha, beta, out, bias=None, act=-1, act_param=0.0) -> Array:
    _require()
    a = _operand(a, "a")
    b = _operand(b, "b", a.device)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"a and b: expected 2-D operands, got shapes {a.shape} and {b.shape}")
    m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
    k2, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if k != k2:
        raise ValueError(f"a and b: inner dimensions disagree: a {a.shape}{' transposed' if trans_a else ''} "
                         f"gives K={k}, b {b.shape}{' transposed' if trans_b else ''} gives K={k2}")
    alpha = as_float_param(alpha, "alpha")
    beta = as_float_param(beta, "beta")
    if beta != 0.0 and out is None:
        raise ValueError("beta: a nonzero beta scales out=, so out= must be given")
    if out is not None:
        out_arr = _operand(out, "out", a.device, out=True)
        if out_arr.data_ptr in (a.data_ptr, b.data_ptr) and out_arr.nbytes:
            raise ValueError(f"out: aliases an input (out {out_arr.shape}, a {a.shape}, b {b.shape})")
    out = _check_out(out, (m, n), a.device, inputs=(a, b))
    bias_mem = None
    if bias is not None:
        bias = _operand(bias, "bias", a.device)
        if bias.shape != (n,):
            raise ValueError(f"bias: expected shape ({n},), got {bias.shape}")
        bias_mem = bias._mem
    _core.cuda_sgemm(out._mem, a._mem, b._mem, m, n, k, bool(trans_a), bool(trans_b), alpha, beta, bias_mem,
                     act, float(act_param), _PRECISIONS[_precision])
    return out


def matmul(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None) -> Array:
    """out = alpha * op(a) @ op(b) + beta * out for 2-D float32 device arrays, on our own SGEMM
    kernels. op(x) is x.T when trans_x (no copy is made). beta != 0 needs out=. Precision: see
    set_matmul_precision."""
    return _sgemm(a, b, trans_a, trans_b, alpha, beta, out)


def linear(x, weight, bias=None, activation=None, *, activation_param=None, out=None) -> Array:
    """activation(x @ weight.T + bias) in one GEMM with a fused epilogue (the output is written
    once). x (..., in), weight (out, in) as PyTorch's Linear, bias (out,) or None. activation:
    None, 'relu', 'leaky_relu' (slope 0.1 unless activation_param), 'elu' (alpha 1.0 unless
    activation_param), 'gelu', 'gelu_tanh', 'sigmoid' or 'tanh'."""
    _require()
    x = _operand(x, "x")
    w = _operand(weight, "weight", x.device)
    if x.ndim < 1 or w.ndim != 2 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"x and weight: expected x (..., in) and weight (out, in), got {x.shape} and {w.shape}")
    if activation is None:
        act, param = -1, 0.0
    elif activation in _ACTIVATIONS:
        act, param = _ACTIVATIONS[activation]
    else:
        raise ValueError(f"activation: expected None or one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    if activation_param is not None:
        param = as_float_param(activation_param, "activation_param")
    shape = x.shape[:-1] + (w.shape[0],)
    rows = x.reshape(-1, x.shape[-1])
    if out is not None:
        out = _operand(out, "out", x.device, out=True)
        if out.shape != shape:
            raise ValueError(f"out: expected shape {shape}, got {out.shape}")
        out = out.reshape(rows.shape[0], w.shape[0])
    y = _sgemm(rows, w, False, True, 1.0, 0.0, out, bias=bias, act=act, act_param=param)
    return y.reshape(shape)
