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

from ._backend.device import (Array, _require, asarray, device_count, empty, empty_cache,
                              from_dlpack, is_available, memory_stats, synchronize, to_device, unavailable_reason)
from ._backend.host import as_float_param
from .functional import gemm as _gemm

__all__ = ["Array", "is_available", "device_count", "unavailable_reason", "to_device", "empty", "asarray",
           "from_dlpack", "synchronize", "empty_cache", "memory_stats", "matmul", "linear",
           "set_matmul_precision", "get_matmul_precision"]


# ---- SGEMM: the functional ops (one dispatch point), under their fastlayers.cuda names -----------

def matmul(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None):
    """out = alpha * op(a) @ op(b) + beta * out on device arrays, on our own SGEMM kernels:
    fastlayers.functional.matmul, which runs where its operands live. Precision: see
    set_matmul_precision."""
    _require()
    return _gemm.matmul(a, b, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta, out=out)


def linear(x, weight, bias=None, activation=None, *, activation_param=None, out=None):
    """activation(x @ weight.T + bias) in one GEMM with a fused epilogue (the output is written
    once): fastlayers.functional.linear with the activation's parameter as a keyword. activation:
    None, 'relu', 'leaky_relu' (slope 0.01 unless activation_param), 'elu' (alpha 1.0 unless
    activation_param), 'gelu', 'gelu_tanh', 'silu', 'sigmoid' or 'tanh'."""
    _require()
    if activation_param is not None:
        activation = (activation, as_float_param(activation_param, "activation_param"))
    return _gemm.linear(x, weight, bias, activation, out=out)


set_matmul_precision = _gemm.set_matmul_precision
get_matmul_precision = _gemm.get_matmul_precision


def __dir__():
    """dir() shows the public API only (__all__), not the helpers this module imports."""
    return sorted(__all__)
