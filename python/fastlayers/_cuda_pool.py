"""Device paths of the pool family: what fastlayers.functional.pool runs when its inputs live
on a GPU. Same arguments, output sizes and error messages as the CPU paths (the geometry
helpers of functional/pool.py are reused), on fastlayers.cuda.Array; max-pool indices are int64
device Arrays. Kernels: csrc/cuda/pool.cu, unverified on a GPU at the time of writing.
"""
from __future__ import annotations

import numpy as np

from . import _core
from .cuda import Array, _asarray, _check_out, _operand, _require, empty

_ADAPTIVE, _AVG = 1, 0


def _p():
    from .functional import pool  # imported late: functional.pool imports this module
    return pool


def _indices(indices, device: int) -> Array:
    idx = _asarray(indices)
    if idx.dtype != np.int64:
        raise TypeError(f"indices: expected an int64 device array, got dtype {idx.dtype}")
    if idx.device != device:
        raise TypeError(f"indices: on device {idx.device}, expected device {device} like grad_out")
    return idx


def max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, dims, out):
    _require()
    P = _p()
    x = _operand(x, "input")
    planes, spatial = P._planes(x.shape, dims)
    size, shape = P._pool_geometry(x.shape, spatial, kernel_size, stride, padding, dilation, ceil_mode, dims, False)
    out_shape = x.shape[:-dims] + size
    out = _check_out(out, out_shape, x.device, inputs=(x,))
    idx = empty(out_shape, x.device, np.int64) if return_indices else None
    _core.cuda_max_pool2d_forward(out._mem, idx._mem if idx is not None else None, x._mem, planes, shape)
    return (out, idx) if return_indices else out


def max_pool_backward(grad_out, indices, input_shape, dims, out):
    _require()
    P = _p()
    grad_out = _operand(grad_out, "grad_out")
    idx = _indices(indices, grad_out.device)
    input_shape = tuple(int(v) for v in input_shape)
    if idx.shape != grad_out.shape:
        raise ValueError(f"indices: expected the shape of grad_out {grad_out.shape}, got {idx.shape}")
    if len(input_shape) != grad_out.ndim or input_shape[:-dims] != grad_out.shape[:-dims]:
        raise ValueError(f"input_shape: {input_shape} does not match grad_out of shape {grad_out.shape}")
    planes, spatial = P._planes(grad_out.shape, dims, "grad_out")
    in_sp = input_shape[-dims:]
    if dims == 1:
        shape = (1, in_sp[0], 1, spatial[0], 1, 1, 1, 1, 0, 0, 1, 1)
    else:
        shape = (in_sp[0], in_sp[1], spatial[0], spatial[1], 1, 1, 1, 1, 0, 0, 1, 1)
    out = _check_out(out, input_shape, grad_out.device, inputs=(grad_out,))
    _core.cuda_max_pool2d_backward(out._mem, grad_out._mem, idx._mem, planes, shape)
    return out


def avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, dims, out):
    _require()
    P = _p()
    x = _operand(x, "input")
    planes, spatial = P._planes(x.shape, dims)
    size, shape = P._pool_geometry(x.shape, spatial, kernel_size, stride, padding, 1, ceil_mode, dims, True)
    cip, div = P._avg_args(ceil_mode, count_include_pad, divisor_override)
    out = _check_out(out, x.shape[:-dims] + size, x.device, inputs=(x,))
    _core.cuda_avg_pool2d(out._mem, x._mem, planes, shape, _AVG, False, cip, div)
    return out


def avg_pool_backward(grad_out, input_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                      divisor_override, dims, out):
    _require()
    P = _p()
    grad_out = _operand(grad_out, "grad_out")
    input_shape = tuple(int(v) for v in input_shape)
    planes, spatial = P._planes(input_shape, dims, "input_shape")
    size, shape = P._pool_geometry(input_shape, spatial, kernel_size, stride, padding, 1, ceil_mode, dims, True)
    if grad_out.shape != input_shape[:-dims] + size:
        raise ValueError(f"grad_out: expected shape {input_shape[:-dims] + size} for input shape {input_shape}, "
                         f"got {grad_out.shape}")
    cip, div = P._avg_args(ceil_mode, count_include_pad, divisor_override)
    out = _check_out(out, input_shape, grad_out.device, inputs=(grad_out,))
    _core.cuda_avg_pool2d(out._mem, grad_out._mem, planes, shape, _AVG, True, cip, div)
    return out


def adaptive_avg_pool2d(x, output_size, out):
    _require()
    P = _p()
    x = _operand(x, "input")
    planes, spatial = P._planes(x.shape, 2)
    size = P._adaptive_size(output_size, spatial)
    out = _check_out(out, x.shape[:-2] + size, x.device, inputs=(x,))
    shape = (spatial[0], spatial[1], size[0], size[1], 1, 1, 1, 1, 0, 0, 1, 1)
    _core.cuda_avg_pool2d(out._mem, x._mem, planes, shape, _ADAPTIVE, False, True, 0)
    return out


def adaptive_avg_pool2d_backward(grad_out, input_shape, out):
    _require()
    P = _p()
    grad_out = _operand(grad_out, "grad_out")
    input_shape = tuple(int(v) for v in input_shape)
    planes, size = P._planes(grad_out.shape, 2, "grad_out")
    if len(input_shape) != grad_out.ndim or input_shape[:-2] != grad_out.shape[:-2]:
        raise ValueError(f"input_shape: {input_shape} does not match grad_out of shape {grad_out.shape}")
    spatial = input_shape[-2:]
    P._adaptive_size(size, spatial)
    out = _check_out(out, input_shape, grad_out.device, inputs=(grad_out,))
    shape = (spatial[0], spatial[1], size[0], size[1], 1, 1, 1, 1, 0, 0, 1, 1)
    _core.cuda_avg_pool2d(out._mem, grad_out._mem, planes, shape, _ADAPTIVE, True, True, 0)
    return out


def global_avg_pool2d_backward(grad_out, input_shape, out):
    grad_out = _operand(grad_out, "grad_out")
    input_shape = tuple(int(v) for v in input_shape)
    if grad_out.shape == input_shape[:-2]:
        grad_out = grad_out.reshape(grad_out.shape + (1, 1))
    return adaptive_avg_pool2d_backward(grad_out, input_shape, out)
