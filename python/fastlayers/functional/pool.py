"""The pool family: max_pool1d/2d, avg_pool1d/2d, adaptive_avg_pool2d, global_avg_pool2d.

Arguments, output sizes and error rules follow torch.nn.functional. Inputs are batched
(N, C, H, W) / (N, C, L) or unbatched (C, H, W) / (C, L); every (n, c) plane is pooled on
its own. Max pooling's indices are int64 flat positions h * W + w within the input plane,
as PyTorch's, and ``max_pool2d_backward`` routes grad_out by them. Average pooling's backward
takes the forward's arguments again (it needs no saved tensor). GPU inputs run the CUDA
kernels (the same functions, through the device backend); mixing devices is a TypeError.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _core
from .._backend import backend_of
from .._backend.host import int_tuple, shape_tuple


def _pair(v, name: str, n: int = 2) -> tuple:
    return int_tuple(v, name, n)


def _out_size(size, k, s, p, d, ceil_mode) -> int:
    """PyTorch's pooling_output_shape."""
    num = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = num // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _planes(shape: tuple, dims: int, name: str = "input") -> tuple[int, tuple]:
    """(plane count, spatial shape) of a batched or unbatched input with `dims` spatial dims."""
    if len(shape) not in (dims + 1, dims + 2):
        want = "(N, C, L) or (C, L)" if dims == 1 else "(N, C, H, W) or (C, H, W)"
        raise ValueError(f"{name}: expected a {dims + 1}-D or {dims + 2}-D array {want}, got shape {tuple(shape)}")
    return int(np.prod(shape[:-dims], dtype=np.int64)), tuple(int(v) for v in shape[-dims:])


def _pool_geometry(in_shape, spatial, kernel_size, stride, padding, dilation, ceil_mode, dims, avg):
    """Validated (P, Q) and the Pool2dShape the bindings take."""
    k = _pair(kernel_size, "kernel_size", dims)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) \
        else _pair(stride, "stride", dims)
    p = _pair(padding, "padding", dims)
    d = _pair(dilation, "dilation", dims)
    if min(k) < 1:
        raise ValueError(f"kernel_size: must be greater than zero, got {k}")
    if min(s) < 1:
        raise ValueError(f"stride: must be greater than zero, got {s}")
    if min(d) < 1:
        raise ValueError(f"dilation: must be greater than zero, got {d}")
    for ki, pi, di in zip(k, p, d):
        limit = ki // 2 if avg else ((ki - 1) * di + 1) // 2
        if pi < 0 or pi > limit:
            raise ValueError(f"padding: should be at most half of {'kernel' if avg else 'effective kernel'} size, "
                             f"got padding={p}, kernel_size={k}" + ("" if avg else f" and dilation={d}"))
    out = tuple(_out_size(n, ki, si, pi, di, ceil_mode) for n, ki, si, pi, di in zip(spatial, k, s, p, d))
    if min(out) < 1:
        raise ValueError(f"input: given input shape {tuple(in_shape)}, the calculated output size "
                         f"{out} is too small (kernel_size={k}, stride={s}, padding={p}, dilation={d})")
    if dims == 1:
        shape = _core.Pool2dShape(1, spatial[0], 1, out[0], 1, k[0], 1, s[0], 0, p[0], 1, d[0])
    else:
        shape = _core.Pool2dShape(spatial[0], spatial[1], out[0], out[1], k[0], k[1], s[0], s[1], p[0], p[1], d[0],
                                  d[1])
    return out, shape


def _plane_shape(in_spatial, out_spatial) -> "_core.Pool2dShape":
    """The Pool2dShape of a backward that needs only the plane sizes (max and adaptive pooling)."""
    if len(in_spatial) == 1:
        return _core.Pool2dShape(1, in_spatial[0], 1, out_spatial[0], 1, 1, 1, 1, 0, 0, 1, 1)
    return _core.Pool2dShape(in_spatial[0], in_spatial[1], out_spatial[0], out_spatial[1], 1, 1, 1, 1, 0, 0, 1, 1)


def _max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, dims, out):
    be = backend_of(input=x, out=out)
    x = be.operand(x, "input")
    planes, spatial = _planes(x.shape, dims)
    size, shape = _pool_geometry(x.shape, spatial, kernel_size, stride, padding, dilation, ceil_mode, dims, False)
    out_shape = x.shape[:-dims] + size
    out = be.out(out, out_shape, x, inputs=(x,), separate=True)
    idx = be.empty(out_shape, x, np.int64) if return_indices else None
    be.ops.max_pool2d_forward(be.raw(out), None if idx is None else be.raw(idx), be.raw(x), planes, shape)
    return (out, idx) if return_indices else out


def _max_pool_backward(grad_out, indices, input_shape, dims, out):
    be = backend_of(grad_out=grad_out, indices=indices, out=out)
    grad_out = be.operand(grad_out, "grad_out")
    indices = be.index_operand(indices, "indices", grad_out)
    input_shape = shape_tuple(input_shape, "input_shape")
    if indices.shape != grad_out.shape:
        raise ValueError(f"indices: expected the shape of grad_out {grad_out.shape}, got {indices.shape}")
    if len(input_shape) != grad_out.ndim or input_shape[:-dims] != grad_out.shape[:-dims]:
        raise ValueError(f"input_shape: {input_shape} does not match grad_out of shape {grad_out.shape}")
    planes, spatial = _planes(grad_out.shape, dims, "grad_out")
    shape = _plane_shape(input_shape[-dims:], spatial)
    out = be.out(out, input_shape, grad_out, inputs=(grad_out,), separate=True)
    be.ops.max_pool2d_backward(be.raw(out), be.raw(grad_out), be.raw(indices), planes, shape)
    return out


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False, *, out=None):
    """Max over kernel_size windows of each (H, W) plane; returns (y, indices) with
    return_indices. Padded positions never win (they act as -inf). NaN propagates."""
    return _max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2, out)


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False, *, out=None):
    """max_pool2d over the last axis of (N, C, L) or (C, L); indices are positions in L."""
    return _max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1, out)


def max_pool2d_backward(grad_out, indices, input_shape, *, out=None):
    """dL/dx: each grad_out value added at its window's winner (indices from max_pool2d)."""
    return _max_pool_backward(grad_out, indices, input_shape, 2, out)


def max_pool1d_backward(grad_out, indices, input_shape, *, out=None):
    return _max_pool_backward(grad_out, indices, input_shape, 1, out)


def _avg_args(ceil_mode, count_include_pad, divisor_override):
    """(count_include_pad, divisor) with divisor 0 for none; PyTorch takes any non-zero divisor."""
    if divisor_override is None:
        return bool(count_include_pad), 0
    if not isinstance(divisor_override, numbers.Integral) or isinstance(divisor_override, bool):
        raise ValueError(f"divisor_override: expected a non-zero int or None, got {divisor_override!r}")
    if divisor_override == 0 or abs(divisor_override) > 2**62:
        raise ValueError(f"divisor_override: expected a non-zero int of magnitude at most 2**62, "
                         f"got {divisor_override!r}")
    return bool(count_include_pad), int(divisor_override)


def _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, dims, out):
    be = backend_of(input=x, out=out)
    x = be.operand(x, "input")
    planes, spatial = _planes(x.shape, dims)
    size, shape = _pool_geometry(x.shape, spatial, kernel_size, stride, padding, 1, ceil_mode, dims, True)
    cip, div = _avg_args(ceil_mode, count_include_pad, divisor_override)
    out = be.out(out, x.shape[:-dims] + size, x, inputs=(x,), separate=True)
    be.ops.avg_pool2d_forward(be.raw(out), be.raw(x), planes, shape, cip, div)
    return out


def _avg_pool_backward(grad_out, input_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                       divisor_override, dims, out):
    be = backend_of(grad_out=grad_out, out=out)
    grad_out = be.operand(grad_out, "grad_out")
    input_shape = shape_tuple(input_shape, "input_shape")
    planes, spatial = _planes(input_shape, dims, "input_shape")
    size, shape = _pool_geometry(input_shape, spatial, kernel_size, stride, padding, 1, ceil_mode, dims, True)
    if grad_out.shape != input_shape[:-dims] + size:
        raise ValueError(f"grad_out: expected shape {input_shape[:-dims] + size} for input shape {input_shape}, "
                         f"got {grad_out.shape}")
    cip, div = _avg_args(ceil_mode, count_include_pad, divisor_override)
    out = be.out(out, input_shape, grad_out, inputs=(grad_out,), separate=True)
    be.ops.avg_pool2d_backward(be.raw(out), be.raw(grad_out), planes, shape, cip, div)
    return out


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override=None, *, out=None):
    """Mean over kernel_size windows; the divisor counts padded positions when
    count_include_pad, or is divisor_override when given (as PyTorch)."""
    return _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2, out)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
               *, out=None):
    return _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1, out)


def avg_pool2d_backward(grad_out, input_shape, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                        count_include_pad: bool = True, divisor_override=None, *, out=None):
    return _avg_pool_backward(grad_out, input_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                              divisor_override, 2, out)


def avg_pool1d_backward(grad_out, input_shape, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                        count_include_pad: bool = True, *, out=None):
    return _avg_pool_backward(grad_out, input_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                              None, 1, out)


def _adaptive_size(output_size, spatial) -> tuple:
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"output_size: expected an int or a pair, got {output_size!r}")
        given = [spatial[i] if v is None else v for i, v in enumerate(output_size)]
    else:
        given = output_size
    size = int_tuple(given, "output_size", 2, limit=2**62)
    if min(size) < 1:
        raise ValueError(f"output_size: must be positive, got {size}")
    if min(spatial) < 1:
        raise ValueError(f"input: adaptive pooling needs non-empty planes, got spatial size {spatial}")
    return size


def adaptive_avg_pool2d(x, output_size, *, out=None):
    """Output (p, q) averages rows [floor(pH/P), ceil((p+1)H/P)) and likewise columns."""
    be = backend_of(input=x, out=out)
    x = be.operand(x, "input")
    planes, spatial = _planes(x.shape, 2)
    size = _adaptive_size(output_size, spatial)
    out = be.out(out, x.shape[:-2] + size, x, inputs=(x,), separate=True)
    be.ops.adaptive_avg_pool2d_forward(be.raw(out), be.raw(x), planes, _plane_shape(spatial, size))
    return out


def adaptive_avg_pool2d_backward(grad_out, input_shape, *, out=None):
    be = backend_of(grad_out=grad_out, out=out)
    grad_out = be.operand(grad_out, "grad_out")
    input_shape = shape_tuple(input_shape, "input_shape")
    planes, size = _planes(grad_out.shape, 2, "grad_out")
    if len(input_shape) != grad_out.ndim or input_shape[:-2] != grad_out.shape[:-2]:
        raise ValueError(f"input_shape: {input_shape} does not match grad_out of shape {grad_out.shape}")
    spatial = input_shape[-2:]
    _adaptive_size(size, spatial)
    out = be.out(out, input_shape, grad_out, inputs=(grad_out,), separate=True)
    be.ops.adaptive_avg_pool2d_backward(be.raw(out), be.raw(grad_out), planes, _plane_shape(spatial, size))
    return out


def global_avg_pool2d(x, keepdim: bool = True):
    """Mean of each (H, W) plane: (N, C, 1, 1), or (N, C) with keepdim=False."""
    y = adaptive_avg_pool2d(x, 1)
    return y if keepdim else y.reshape(y.shape[:-2])


def global_avg_pool2d_backward(grad_out, input_shape, *, out=None):
    """Spreads grad_out ((N, C) or (N, C, 1, 1)) evenly over each plane of input_shape."""
    grad_out = backend_of(grad_out=grad_out).operand(grad_out, "grad_out")
    input_shape = shape_tuple(input_shape, "input_shape")
    if grad_out.shape == input_shape[:-2]:
        grad_out = grad_out.reshape(grad_out.shape + (1, 1))
    return adaptive_avg_pool2d_backward(grad_out, input_shape, out=out)
