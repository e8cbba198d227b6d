"""Device paths of the activation family: what fastlayers.functional.activation runs when its
inputs live on a GPU (see _device.device_of). Same arguments, checks and results as the CPU
paths, on fastlayers.cuda.Array (float32, C-contiguous); the result is an Array.
"""
from __future__ import annotations

from . import _core
from ._array import axis_split, normalize_axis
from .cuda import Array, _check_out, _operand, _require


def unary(op: int, x, out, a: float) -> Array:
    _require()
    x = _operand(x, "input")
    out = _check_out(out, x.shape, x.device, inputs=(x,))
    _core.cuda_act_forward(op, out._mem, x._mem, x.size, a)
    return out


def unary_backward(op: int, grad_out, saved, saved_name: str, out, a: float) -> Array:
    _require()
    grad_out = _operand(grad_out, "grad_out")
    saved = _operand(saved, saved_name, grad_out.device)
    if saved.shape != grad_out.shape:
        raise ValueError(f"{saved_name}: expected the shape of grad_out {grad_out.shape}, got {saved.shape}")
    out = _check_out(out, grad_out.shape, grad_out.device, inputs=(grad_out, saved))
    _core.cuda_act_backward(op, out._mem, grad_out._mem, saved._mem, grad_out.size, a)
    return out


def softmax(x, axis, out, log: bool) -> Array:
    _require()
    x = _operand(x, "input")
    if x.ndim == 0:
        raise ValueError("input: softmax needs at least one dimension, got a 0-d array")
    ax = normalize_axis(axis, x.ndim)
    out = _check_out(out, x.shape, x.device, inputs=(x,))
    _core.cuda_softmax_forward(out._mem, x._mem, *axis_split(x.shape, ax), log)
    return out


def softmax_backward(grad_out, y, axis, out, log: bool) -> Array:
    _require()
    grad_out = _operand(grad_out, "grad_out")
    y = _operand(y, "y", grad_out.device)
    if y.shape != grad_out.shape:
        raise ValueError(f"y: expected the shape of grad_out {grad_out.shape}, got {y.shape}")
    if grad_out.ndim == 0:
        raise ValueError("grad_out: softmax needs at least one dimension, got a 0-d array")
    ax = normalize_axis(axis, grad_out.ndim)
    out = _check_out(out, grad_out.shape, grad_out.device, inputs=(grad_out, y))
    _core.cuda_softmax_backward(out._mem, grad_out._mem, y._mem, *axis_split(grad_out.shape, ax), log)
    return out


def maxout(x, pieces, axis, out, shape_fn) -> Array:
    """shape_fn: functional.activation._maxout_shape (pieces, out_shape, (outer, n, inner))."""
    _require()
    x = _operand(x, "input")
    pieces, out_shape, split = shape_fn(x.shape, pieces, axis)
    out = _check_out(out, out_shape, x.device, inputs=(x,))
    _core.cuda_maxout_forward(out._mem, x._mem, *split, pieces)
    return out


def maxout_backward(grad_out, x, pieces, axis, out, shape_fn) -> Array:
    _require()
    grad_out = _operand(grad_out, "grad_out")
    x = _operand(x, "x", grad_out.device)
    pieces, out_shape, split = shape_fn(x.shape, pieces, axis)
    if grad_out.shape != out_shape:
        raise ValueError(f"grad_out: expected shape {out_shape} for x of shape {x.shape} and pieces={pieces}, "
                         f"got {grad_out.shape}")
    out = _check_out(out, x.shape, x.device, inputs=(grad_out, x))
    _core.cuda_maxout_backward(out._mem, grad_out._mem, x._mem, *split, pieces)
    return out
