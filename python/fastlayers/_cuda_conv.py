"""Device paths of the conv family: what fastlayers.functional.conv runs when its inputs live
on a GPU. Same arguments, shape rules and error messages as the CPU paths (the shape helpers
of functional/conv.py are reused), on fastlayers.cuda.Array; results are Arrays. Kernels:
csrc/cuda/conv.cu (implicit GEMM), unverified on a GPU at the time of writing.
"""
from __future__ import annotations

from . import _core
from ._backend.device import Array, _check_out, _operand, _require


def _c():
    from .functional import conv  # imported late: functional.conv imports this module
    return conv


def _bias(bias, n: int, device: int):
    if bias is None:
        return None
    b = _operand(bias, "bias", device)
    if b.shape != (n,):
        raise ValueError(f"bias: expected shape ({n},), got {b.shape}")
    return b._mem


def conv(x, weight, bias, stride, padding, dilation, groups, dims, out) -> Array:
    _require()
    C = _c()
    x = _operand(x, "input")
    w = _operand(weight, "weight", x.device)
    xs = C._batched(x.shape, dims, "input")
    shape, out_shape = C._conv_shape(xs, w.shape, stride, padding, dilation, groups, dims)
    b = _bias(bias, shape[4], x.device)
    out = _check_out(out, C._unbatch(out_shape, len(xs) == x.ndim), x.device, inputs=(x, w))
    _core.cuda_conv2d_forward(out._mem, x._mem, w._mem, b, shape)
    return out


def _grad_shapes(grad_out, device, x_shape, w_shape, args, dims, transposed=False):
    """functional.conv's _grad_shapes / _transpose_grad on a device grad_out. args: (stride,
    padding, dilation, groups) or, transposed, (stride, padding, output_padding, groups, dilation)."""
    C = _c()
    grad_out = _operand(grad_out, "grad_out", device)
    xs = C._batched(tuple(int(v) for v in x_shape), dims, "input_shape")
    w_shape = tuple(int(v) for v in w_shape)
    if transposed:
        shape, out_shape = C._transpose_shape(xs, w_shape, *args)
    else:
        shape, out_shape = C._conv_shape(xs, w_shape, *args, dims)
    want = C._unbatch(out_shape, len(xs) == len(x_shape))
    if grad_out.shape != want:
        raise ValueError(f"grad_out: expected shape {want} (the output for input shape {tuple(x_shape)} and weight "
                         f"shape {w_shape}), got {grad_out.shape}")
    return shape, grad_out


def backward_input(grad_out, weight, input_shape, stride, padding, dilation, groups, dims, out) -> Array:
    _require()
    w = _operand(weight, "weight")
    input_shape = tuple(int(v) for v in input_shape)
    shape, grad_out = _grad_shapes(grad_out, w.device, input_shape, w.shape, (stride, padding, dilation, groups), dims)
    out = _check_out(out, input_shape, w.device, inputs=(grad_out, w))
    _core.cuda_conv2d_backward_input(out._mem, grad_out._mem, w._mem, None, shape)
    return out


def backward_weight(grad_out, x, weight_shape, stride, padding, dilation, groups, dims, out) -> Array:
    _require()
    x = _operand(x, "input")
    weight_shape = tuple(int(v) for v in weight_shape)
    shape, grad_out = _grad_shapes(grad_out, x.device, x.shape, weight_shape, (stride, padding, dilation, groups),
                                   dims)
    out = _check_out(out, weight_shape, x.device, inputs=(grad_out, x))
    _core.cuda_conv2d_backward_weight(out._mem, grad_out._mem, x._mem, shape)
    return out


def bias_grad(grad_out, dims: int) -> Array:
    _require()
    grad_out = _operand(grad_out, "grad_out")
    gs = _c()._batched(grad_out.shape, dims, "grad_out")
    L = 1
    for v in gs[2:]:
        L *= v
    db = _check_out(None, (gs[1],), grad_out.device)
    _core.cuda_conv_bias_backward(db._mem, grad_out._mem, gs[0], gs[1], L)
    return db


def backward(grad_out, x, weight, stride, padding, dilation, groups, dims, bias: bool):
    """(grad_input, grad_weight, grad_bias or None) of conv1d / conv2d."""
    x = _operand(x, "input")
    w = _operand(weight, "weight", x.device)
    return (backward_input(grad_out, w, x.shape, stride, padding, dilation, groups, dims, None),
            backward_weight(grad_out, x, w.shape, stride, padding, dilation, groups, dims, None),
            bias_grad(grad_out, dims) if bias else None)


# ---- conv_transpose2d: conv2d with the roles of input and output exchanged ----

def transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, out) -> Array:
    _require()
    C = _c()
    x = _operand(x, "input")
    w = _operand(weight, "weight", x.device)
    xs = C._batched(x.shape, 2, "input")
    shape, out_shape = C._transpose_shape(xs, w.shape, stride, padding, output_padding, groups, dilation)
    b = _bias(bias, shape[1], x.device)
    out = _check_out(out, C._unbatch(out_shape, len(xs) == x.ndim), x.device, inputs=(x, w))
    _core.cuda_conv2d_backward_input(out._mem, x._mem, w._mem, b, shape)
    return out


def transpose_backward_input(grad_out, weight, input_shape, stride, padding, output_padding, groups, dilation,
                             out) -> Array:
    _require()
    w = _operand(weight, "weight")
    input_shape = tuple(int(v) for v in input_shape)
    shape, grad_out = _grad_shapes(grad_out, w.device, input_shape, w.shape,
                                   (stride, padding, output_padding, groups, dilation), 2, True)
    out = _check_out(out, input_shape, w.device, inputs=(grad_out, w))
    _core.cuda_conv2d_forward(out._mem, grad_out._mem, w._mem, None, shape)
    return out


def transpose_backward_weight(grad_out, x, weight_shape, stride, padding, output_padding, groups, dilation,
                              out) -> Array:
    _require()
    x = _operand(x, "input")
    weight_shape = tuple(int(v) for v in weight_shape)
    shape, grad_out = _grad_shapes(grad_out, x.device, x.shape, weight_shape,
                                   (stride, padding, output_padding, groups, dilation), 2, True)
    out = _check_out(out, weight_shape, x.device, inputs=(grad_out, x))
    _core.cuda_conv2d_backward_weight(out._mem, x._mem, grad_out._mem, shape)
    return out


def transpose_backward(grad_out, x, weight, stride, padding, output_padding, groups, dilation, bias: bool):
    x = _operand(x, "input")
    w = _operand(weight, "weight", x.device)
    args = (stride, padding, output_padding, groups, dilation)
    return (transpose_backward_input(grad_out, w, x.shape, *args, None),
            transpose_backward_weight(grad_out, x, w.shape, *args, None),
            bias_grad(grad_out, 2) if bias else None)
