"""The device backend: arrays in GPU memory and the glue every family's device path shares.

- ``Array``: a C-contiguous array on one GPU (public as ``fastlayers.cuda.Array``), made by
  ``to_device``, ``empty``, ``asarray``, ``from_dlpack``; its memory comes from the caching
  allocator of csrc/cuda/memory.cu or is foreign memory (CuPy, PyTorch) kept alive by it.
- ``device_of(name=value, ...)``: None when every given array is CPU data, else the one GPU
  index they all live on; mixing CPU and GPU data (or two GPUs) is a TypeError naming them.
- ``DEVICE``: the backend object the functional ops call when their inputs live on a GPU
  (the same interface as ``host.HOST``: operand, out, empty, raw, ops).

All the runtime calls go through the module global ``_rt`` (the extension module): the host
stand-in of tools/cuda_emu swaps it, and ``DEVICE.raw``, for host memory and the CPU kernels,
so that every device path runs on a machine without a GPU.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _core
from .host import as_f32

_rt = _core  # the runtime and cuda_<op> entry points (swapped by the host stand-in)

_KDLCUDA = 2
_LEGACY_STREAM = 1  # __cuda_array_interface__ / DLPack code of the legacy default stream
_DL_CODES = {"i": 0, "u": 1, "f": 2, "b": 6}  # NumPy kind -> DLPack type code
_DL_KINDS = {0: "i", 1: "u", 2: "f", 6: "b"}
_MAX_GATHER_DIMS = 8  # kMaxCopyDims of csrc/cuda/copy.cuh


# ---- where arrays live ----------------------------------------------------------------------
def is_gpu(x) -> bool:
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
    return asarray(x).device


def device_of(**arrays):
    """None when every given array is CPU data, else the one GPU index they all live on."""
    gpu, cpu = [], []
    for name, x in arrays.items():
        if x is None:
            continue
        (gpu if is_gpu(x) else cpu).append(name)
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


# ---- availability --------------------------------------------------------------------------

def _driver_present() -> bool:
    """Whether the NVIDIA driver's user-space library loads (the CUDA runtime needs it)."""
    import ctypes
    import sys
    try:
        ctypes.CDLL("nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1")
    except OSError:
        return False
    return True


def _driver_version() -> str:
    try:
        with open("/proc/driver/nvidia/version") as fh:
            return fh.readline().strip()
    except OSError:
        return ""


def explain(reason: str) -> str:
    """The CUDA runtime's word for 'no GPU here' in plain terms: without any driver it answers
    cudaErrorInsufficientDriver, 'driver version is insufficient', though no driver exists."""
    name = reason.split(":", 1)[0]
    if name == "cudaErrorInsufficientDriver":
        if not _driver_present():
            return "no NVIDIA driver found (libcuda.so.1 cannot be loaded: no NVIDIA GPU driver is installed)"
        version = _driver_version()
        return (f"the NVIDIA driver is older than this build's CUDA runtime needs: update it"
                f"{f' ({version})' if version else ''} [{name}]")
    if name == "cudaErrorNoDevice":
        return f"no NVIDIA GPU found (the driver is installed but sees none) [{name}]"
    return reason


def probe(rt=None) -> tuple:
    """(number of usable CUDA devices, '' or why none is usable in plain terms), as the runtime
    rt (default: the one device paths use, which the host stand-in swaps) sees it."""
    count, reason = (rt or _rt).cuda_probe()
    return (count, "") if count > 0 else (0, explain(reason))


def device_count() -> int:
    """Number of usable CUDA devices (0 without a GPU, driver or CUDA build)."""
    return _rt.cuda_probe()[0]


def is_available() -> bool:
    """True when fastlayers was built with CUDA kernels and a GPU is usable."""
    return device_count() > 0


def unavailable_reason() -> str:
    """Why CUDA cannot be used ('' when it can): 'no NVIDIA driver found', 'no NVIDIA GPU
    found', the CUDA error text otherwise, or the build setting."""
    return probe()[1]


_usable_count = 0  # device count once a probe found GPUs (it cannot change within a process)


def _require(device=None) -> int:
    """The device index to use, or RuntimeError when CUDA is unusable."""
    global _usable_count
    count = _usable_count
    if count == 0:
        count, reason = probe()
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
        _rt.cuda_copy_to_host(out, self._mem)
        return out

    def copy(self) -> "Array":
        """A new Array with a copy of the data, on the same device."""
        dst = _rt.cuda_alloc(self.nbytes, self.device)
        _rt.cuda_copy(dst, self._mem, self.nbytes)
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
            _rt.cuda_make_wait(int(stream), self.device)
        if src._dtype.kind not in _DL_CODES:
            raise BufferError(f"dtype {src._dtype} has no DLPack code")
        return _rt.cuda_to_dlpack(src._mem, list(src._shape), _DL_CODES[src._dtype.kind], src._dtype.itemsize * 8)


def to_device(x, device: int = 0) -> Array:
    """Copies a NumPy array (or anything np.asarray accepts) to `device` as float32.

    Other real dtypes are converted to float32 once; complex, object and string data raise
    TypeError. A float32 device array on the same device is returned as is (no copy).
    """
    dev = _require(device)
    if is_gpu(x):
        arr = asarray(x)
        if arr.dtype != np.float32:
            arr = _operand(arr, "x")
        if arr.device == dev:
            return arr
        dst = _rt.cuda_alloc(arr.nbytes, dev)
        _rt.cuda_copy(dst, arr._mem, arr.nbytes)
        return Array(dst, arr.shape, arr.dtype)
    host = as_f32(x, "x")
    mem = _rt.cuda_alloc(host.nbytes, dev)
    _rt.cuda_copy_from_host(mem, host)
    return Array(mem, host.shape, np.float32)


def empty(shape, device: int = 0, dtype=np.float32) -> Array:
    """An uninitialised array on `device`."""
    dev = _require(device)
    shape = (int(shape),) if isinstance(shape, numbers.Integral) else tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"shape: negative dimension in {shape}")
    dt = np.dtype(dtype)
    return Array(_rt.cuda_alloc(int(np.prod(shape, dtype=np.int64)) * dt.itemsize, dev), shape, dt)


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
    if is_gpu(obj):
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
    device = _rt.cuda_pointer_device(ptr) if ptr and size else 0
    stream = cai.get("stream")
    if stream is not None and stream != _LEGACY_STREAM and ptr:
        _rt.cuda_wait_for(int(stream), device)
    if strides is None:
        return Array(_rt.cuda_wrap(ptr, size * dtype.itemsize, device, obj), shape, dtype)
    if any(st < 0 for st in strides):
        raise ValueError(f"device arrays with negative strides are not supported (strides {tuple(strides)})")
    extent = sum((n - 1) * st for n, st in zip(shape, strides)) + dtype.itemsize
    return _gather(_rt.cuda_wrap(ptr, extent, device, obj), shape, strides, dtype)


def _gather(src_mem, shape, byte_strides, dtype) -> Array:
    """A C-contiguous copy of the strided data in src_mem (non-contiguous inputs are copied once)."""
    if len(shape) > _MAX_GATHER_DIMS:
        raise ValueError(f"non-contiguous device arrays of more than {_MAX_GATHER_DIMS} dimensions are not supported")
    dst = _rt.cuda_alloc(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize, src_mem.device)
    _rt.cuda_gather_strided(dst, src_mem, [int(n) for n in shape], [int(st) for st in byte_strides], dtype.itemsize)
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
    mem, shape, code, bits, strides = _rt.cuda_from_dlpack(capsule)
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
    _rt.cuda_synchronize(_require(device))


def empty_cache() -> None:
    """Returns every cached, unused block of the caching allocator to the driver."""
    _require()
    _rt.cuda_empty_cache()


def memory_stats(device: int = 0) -> dict:
    """Bytes in use, cached and at peak in the caching allocator, and its cudaMalloc count."""
    return dict(_rt.cuda_memory_stats(_require(device)))


# ---- argument checks shared by the device paths of the functional ops ---------------------------

def _to_f32(arr: Array) -> Array:
    """A float32 copy of a device array of another real dtype (converted once, on the device)."""
    dst = _rt.cuda_alloc(arr.size * 4, arr.device)
    _rt.cuda_convert_f32(dst, arr._mem, arr.size, arr.dtype.kind, arr.dtype.itemsize)
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




# ---- what modules and optimizers share: moving state between host and device -------------------

def parse_device(device):
    """None for 'cpu', else the GPU index of 'cuda' / 'cuda:N' (RuntimeError without a GPU)."""
    name = str(device)
    if name == "cpu":
        return None
    if name == "cuda" or name.startswith("cuda:"):
        index = name[5:] or "0"
        if not index.isdigit():
            raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {device!r}")
        return _require(int(index))
    raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def move(a, index):
    """a on the host (index None) or on GPU `index`; non-float host arrays stay on the host."""
    if a is None:
        return None
    if index is None:
        return asarray(a).numpy() if is_gpu(a) else a
    if not is_gpu(a) and np.asarray(a).dtype.kind != "f":
        return a  # e.g. BatchNorm's num_batches_tracked counter
    return to_device(a, index)


def host_copy(a) -> np.ndarray:
    """A NumPy copy of a host or device array (state_dict holds host arrays)."""
    return asarray(a).numpy() if is_gpu(a) else np.array(a, copy=True)


# ---- the backend object of the functional ops ----------------------------------------------------

class _CudaOps:
    """``DEVICE.ops.<op>``: the extension's ``cuda_<op>`` entry point (looked up in ``_rt`` at
    each call, so that the host stand-in can swap it)."""

    def __getattr__(self, op: str):
        fn = getattr(_rt, "cuda_" + op, None)
        if fn is None:
            raise NotImplementedError(f"{op}: this op has no CUDA kernels yet; run it on NumPy arrays "
                                      "(fastlayers.cuda.Array.numpy(), Module.to('cpu'))")
        return fn


class DeviceBackend:
    """What a family's device path calls (the same interface as host.HostBackend).

    ``like``: an operand already on the target GPU (outputs go to its device)."""

    name = "cuda"
    ops = _CudaOps()

    @staticmethod
    def operand(x, name: str, like=None) -> Array:
        _require()
        return _operand(x, name, None if like is None else like.device)

    @staticmethod
    def out(out, shape, like, inputs=(), name: str = "out", separate: bool = False) -> Array:
        """out= checked (or allocated); separate: out may not overlap any input at all."""
        arr = _check_out(out, shape, like.device, inputs, name)
        if separate and out is not None:
            lo, hi = arr.data_ptr, arr.data_ptr + arr.nbytes
            if any(x.data_ptr < hi and lo < x.data_ptr + x.nbytes for x in inputs if x.nbytes and arr.nbytes):
                raise ValueError(f"{name}: must not share memory with the inputs (this op reads neighbouring "
                                 "positions)")
        return arr

    @staticmethod
    def inplace(a, name: str, like=None) -> Array:
        """a, a float32 device array the op updates in place (never a converted copy)."""
        _require()
        return _operand(a, name, None if like is None else like.device, out=True)

    @staticmethod
    def index_operand(x, name: str, like=None) -> Array:
        """x as an int64 device array on like's device (never converted: TypeError otherwise)."""
        _require()
        arr = _asarray(x)
        if arr.dtype != np.int64:
            raise TypeError(f"{name}: expected an int64 device array, got dtype {arr.dtype}")
        if like is not None and arr.device != like.device:
            raise TypeError(f"{name}: on device {arr.device}, expected device {like.device} like the other arguments")
        return arr

    @staticmethod
    def empty(shape, like, dtype=np.float32) -> Array:
        return empty(shape, like.device, dtype)

    @staticmethod
    def broadcast(a: Array, shape) -> Array:
        """A C-contiguous copy of a broadcast to shape (NumPy's rules; a itself when it has that
        shape), made on the device by the strided gather with zero strides."""
        shape = tuple(int(s) for s in shape)
        if a.shape == shape:
            return a
        if len(shape) < a.ndim or np.broadcast_shapes(a.shape, shape) != shape:
            raise ValueError(f"cannot broadcast an array of shape {a.shape} to shape {shape}")
        lead = len(shape) - a.ndim
        strides, step = [0] * len(shape), a.dtype.itemsize
        for d in range(a.ndim - 1, -1, -1):
            strides[lead + d] = step if a.shape[d] != 1 else 0
            step *= a.shape[d]
        return _gather(a._mem, shape, strides, a.dtype)

    @staticmethod
    def from_host(a: np.ndarray, like) -> Array:
        """A host array copied to like's device, keeping its dtype (int64 indices, targets) and shape."""
        a = np.ascontiguousarray(a).reshape(np.shape(a))  # (ascontiguousarray alone makes 0-d arrays 1-d)
        mem = _rt.cuda_alloc(a.nbytes, like.device)
        _rt.cuda_copy_from_host(mem, a)
        return Array(mem, a.shape, a.dtype)

    @staticmethod
    def to_host(a: Array) -> np.ndarray:
        return a.numpy()

    @staticmethod
    def copy_from_host(target: Array, a: np.ndarray) -> None:
        """Writes the host array a into the device array target, in place (same size)."""
        src = np.ascontiguousarray(a, dtype=target.dtype)
        if src.nbytes != target.nbytes:
            raise ValueError(f"expected {target.size} elements, got {src.size}")
        _rt.cuda_copy_from_host(target._mem, src)

    def add_(self, target: Array, g) -> None:
        """target += g on the device (a rank-1 GEMM with beta = 1: ones(1, 1) @ g + target)."""
        target = _operand(target, "grad", out=True)
        g = _operand(g, "grad", target.device)
        if g.shape != target.shape:
            raise ValueError(f"grad: expected shape {target.shape}, got {g.shape}")
        if target.size:
            one = self._ones(1, target.device)
            self.ops.gemm(self.raw(target), self.raw(one), self.raw(g), 1, 1, target.size, 1, False, False, False,
                          False, 1.0, 1.0, None, _core.GemmBias.none, None, 0.0, _core.GemmPrecision.fp32)

    _ones_cache: dict = {}

    def _ones(self, n: int, device: int) -> Array:
        key = (n, device, id(_rt))
        if key not in self._ones_cache:
            self._ones_cache[key] = to_device(np.ones((1, n), np.float32), device)
        return self._ones_cache[key]

    @staticmethod
    def raw(a: Array):
        """What the cuda_<op> entry points take for an Array: its CudaMemory (the host
        stand-in replaces this with a NumPy view of the host memory)."""
        return a._mem


DEVICE = DeviceBackend()
