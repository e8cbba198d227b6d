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

from . import _core
from ._backend.device import (Array, _check_out, _operand, _require, asarray, device_count, empty, empty_cache,
                              from_dlpack, is_available, memory_stats, synchronize, to_device, unavailable_reason)
from ._backend.host import as_float_param

__all__ = ["Array", "is_available", "device_count", "unavailable_reason", "to_device", "empty", "asarray",
           "from_dlpack", "synchronize", "empty_cache", "memory_stats", "matmul", "linear",
           "set_matmul_precision", "get_matmul_precision"]


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
