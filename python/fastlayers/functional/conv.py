"""The conv family: conv1d, conv2d, conv_transpose2d, forward and backward.

Arguments and weight layouts follow torch.nn.functional: conv weights are (K, C/groups, R, S)
((K, C/groups, S) for conv1d), transposed-convolution weights (C_in, C_out/groups, R, S).
Padding is an int, a pair, "valid" or "same" (stride 1 only; an even kernel pads one more
on the bottom / right, as PyTorch). Inputs are batched (N, C, H, W) / (N, C, L) or unbatched.

Backward functions return one gradient each (``*_backward_input``, ``*_backward_weight``,
``*_backward_bias``); ``conv2d_backward`` and friends return (grad_input, grad_weight,
grad_bias). Transposed convolution is conv2d with the roles of input and output exchanged:
its forward is conv2d's backward-input and its backward-input is conv2d's forward.
GPU inputs run the CUDA kernels through the device backend; mixing devices is a TypeError.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _core
from .._backend import backend_of
from .._backend.host import int_tuple


_tuple = int_tuple


def _groups(groups) -> int:
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"groups: expected a positive int, got {groups!r}")
    return int(groups)


def _batched(shape: tuple, dims: int, name: str) -> tuple:
    """(N, C, *spatial) of a batched or unbatched shape; raises on other ranks."""
    if len(shape) == dims + 1:
        return (1,) + tuple(shape)
    if len(shape) != dims + 2:
        want = "(N, C, L) or (C, L)" if dims == 1 else "(N, C, H, W) or (C, H, W)"
        raise ValueError(f"{name}: expected a {dims + 1}-D or {dims + 2}-D array {want}, got shape {tuple(shape)}")
    return tuple(shape)


def _lift(t: tuple, dims: int, fill: int) -> tuple:
    """A 1-D parameter pair becomes (fill, v): conv1d runs as conv2d with H = 1."""
    return t if dims == 2 else (fill,) + t


def _conv_shape(x_shape, w_shape, stride, padding, dilation, groups, dims) -> tuple[tuple, tuple]:
    """The Conv2dShape of the bindings and the output shape (batched) of conv1d/conv2d."""
    N, C, *spatial = x_shape
    groups = _groups(groups)
    s = _tuple(stride, "stride", dims)
    d = _tuple(dilation, "dilation", dims)
    if len(w_shape) != dims + 2:
        raise ValueError(f"weight: expected a {dims + 2}-D array (out_channels, in_channels/groups, "
                         f"{'kW' if dims == 1 else 'kH, kW'}), got shape {tuple(w_shape)}")
    K, Cg, *ks = w_shape
    if C % groups:
        raise ValueError(f"groups: input channels {C} (input shape {tuple(x_shape)}) are not divisible by "
                         f"groups={groups}")
    if K % groups:
        raise ValueError(f"groups: output channels {K} (weight shape {tuple(w_shape)}) are not divisible by "
                         f"groups={groups}")
    if Cg != C // groups or K == 0 or min(ks) < 1:
        raise ValueError(f"weight: expected shape ({K}, {C // groups}, {', '.join(map(str, ks))}) = "
                         f"(out_channels, in_channels/groups, kernel) for input of shape {tuple(x_shape)} "
                         f"and groups={groups}, got {tuple(w_shape)}")
    if min(s) < 1 or min(d) < 1:
        raise ValueError(f"stride, dilation: must be positive, got stride={s}, dilation={d}")
    span = tuple(di * (k - 1) + 1 for di, k in zip(d, ks))
    if isinstance(padding, str):
        if padding == "valid":
            before, total = (0,) * dims, (0,) * dims
        elif padding == "same":
            if max(s) != 1:
                raise ValueError(f"padding: 'same' is not supported for strided convolutions (stride={s})")
            total = tuple(sp - 1 for sp in span)
            before = tuple(t // 2 for t in total)
        else:
            raise ValueError(f"padding: expected an int, a tuple, 'valid' or 'same', got {padding!r}")
    else:
        before = _tuple(padding, "padding", dims)
        if min(before) < 0:
            raise ValueError(f"padding: must be non-negative, got {before}")
        total = tuple(2 * p for p in before)
    padded = tuple(n + t for n, t in zip(spatial, total))
    if any(pn < sp for pn, sp in zip(padded, span)):
        raise ValueError(f"input: padded input size {padded} (input shape {tuple(x_shape)}) is smaller than the "
                         f"dilated kernel size {span} (weight shape {tuple(w_shape)}, dilation={d})")
    out = tuple((pn - sp) // si + 1 for pn, sp, si in zip(padded, span, s))
    H, W = _lift(tuple(spatial), dims, 1)
    R, S = _lift(tuple(ks), dims, 1)
    P, Q = _lift(out, dims, 1)
    sh, sw = _lift(s, dims, 1)
    ph, pw = _lift(before, dims, 0)
    dh, dw = _lift(d, dims, 1)
    return _core.Conv2dShape(N, C, H, W, K, R, S, P, Q, sh, sw, ph, pw, dh, dw, groups), (N, K) + out


def _bias(be, bias, n: int, like):
    if bias is None:
        return None
    bias = be.operand(bias, "bias", like)
    if bias.shape != (n,):
        raise ValueError(f"bias: expected shape ({n},), got {bias.shape}")
    return be.raw(bias)


def _unbatch(out_shape: tuple, batched: bool) -> tuple:
    return out_shape if batched else out_shape[1:]


def _conv(x, weight, bias, stride, padding, dilation, groups, dims, out):
    be = backend_of(input=x, weight=weight, bias=bias, out=out)
    x = be.operand(x, "input")
    weight = be.operand(weight, "weight", x)
    xs = _batched(x.shape, dims, "input")
    shape, out_shape = _conv_shape(xs, weight.shape, stride, padding, dilation, groups, dims)
    b = _bias(be, bias, shape.K, x)
    out = be.out(out, _unbatch(out_shape, len(xs) == x.ndim), x, inputs=(x, weight), separate=True)
    be.ops.conv2d_forward(be.raw(out), be.raw(x), be.raw(weight), b, shape)
    return out


def _grad_shapes(be, grad_out, like, x_shape, w_shape, shape_fn, args):
    """Checks grad_out against the forward's output shape; returns (shape, grad_out).
    shape_fn: _conv_shape (args: stride, padding, dilation, groups, dims) or _transpose_shape."""
    grad_out = be.operand(grad_out, "grad_out", like)
    dims = args[-1] if shape_fn is _conv_shape else 2
    xs = _batched(tuple(int(v) for v in x_shape), dims, "input_shape")
    shape, out_shape = shape_fn(xs, tuple(int(v) for v in w_shape), *args)
    want = _unbatch(out_shape, len(xs) == len(x_shape))
    if grad_out.shape != want:
        raise ValueError(f"grad_out: expected shape {want} (the output for input shape {tuple(x_shape)} and weight "
                         f"shape {tuple(w_shape)}), got {grad_out.shape}")
    return shape, grad_out


def _conv_backward_input(grad_out, weight, input_shape, stride, padding, dilation, groups, dims, out):
    be = backend_of(grad_out=grad_out, weight=weight, out=out)
    weight = be.operand(weight, "weight")
    input_shape = tuple(int(v) for v in input_shape)
    shape, grad_out = _grad_shapes(be, grad_out, weight, input_shape, weight.shape, _conv_shape,
                                   (stride, padding, dilation, groups, dims))
    out = be.out(out, input_shape, weight, inputs=(grad_out, weight), separate=True)
    be.ops.conv2d_backward_input(be.raw(out), be.raw(grad_out), be.raw(weight), None, shape)
    return out


def _conv_backward_weight(grad_out, x, weight_shape, stride, padding, dilation, groups, dims, out):
    be = backend_of(grad_out=grad_out, input=x, out=out)
    x = be.operand(x, "input")
    weight_shape = tuple(int(v) for v in weight_shape)
    shape, grad_out = _grad_shapes(be, grad_out, x, x.shape, weight_shape, _conv_shape,
                                   (stride, padding, dilation, groups, dims))
    out = be.out(out, weight_shape, x, inputs=(grad_out, x), separate=True)
    be.ops.conv2d_backward_weight(be.raw(out), be.raw(grad_out), be.raw(x), shape)
    return out


def _bias_grad(grad_out, dims: int):
    """Sum of grad_out over every axis but the channel axis (batched or unbatched)."""
    be = backend_of(grad_out=grad_out)
    grad_out = be.operand(grad_out, "grad_out")
    gs = _batched(grad_out.shape, dims, "grad_out")
    db = be.empty((gs[1],), grad_out)
    be.ops.conv_bias_backward(be.raw(db), be.raw(grad_out), gs[0], gs[1], int(np.prod(gs[2:], dtype=np.int64)))
    return db


# ---- conv2d / conv1d ----


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, out=None):
    """2-D cross-correlation of (N, C, H, W) with weight (K, C/groups, R, S), plus bias (K,)."""
    return _conv(x, weight, bias, stride, padding, dilation, groups, 2, out)


def conv2d_backward_input(grad_out, weight, input_shape, stride=1, padding=0, dilation=1, groups=1, *,
                          out=None):
    return _conv_backward_input(grad_out, weight, input_shape, stride, padding, dilation, groups, 2, out)


def conv2d_backward_weight(grad_out, x, weight_shape, stride=1, padding=0, dilation=1, groups=1, *,
                           out=None):
    return _conv_backward_weight(grad_out, x, weight_shape, stride, padding, dilation, groups, 2, out)


def conv2d_backward_bias(grad_out):
    return _bias_grad(grad_out, 2)


def conv2d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1, bias: bool = True):
    """(grad_input, grad_weight, grad_bias or None)."""
    return _conv_backward(grad_out, x, weight, stride, padding, dilation, groups, bias, 2)


def _conv_backward(grad_out, x, weight, stride, padding, dilation, groups, bias: bool, dims: int):
    """The three gradients of conv{dims}d, on the device the arguments live on."""
    be = backend_of(grad_out=grad_out, input=x, weight=weight)
    x = be.operand(x, "input")
    weight = be.operand(weight, "weight", x)
    return (_conv_backward_input(grad_out, weight, x.shape, stride, padding, dilation, groups, dims, None),
            _conv_backward_weight(grad_out, x, weight.shape, stride, padding, dilation, groups, dims, None),
            _bias_grad(grad_out, dims) if bias else None)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, out=None):
    """1-D cross-correlation of (N, C, L) with weight (K, C/groups, S): conv2d with H = 1."""
    return _conv(x, weight, bias, stride, padding, dilation, groups, 1, out)


def conv1d_backward_input(grad_out, weight, input_shape, stride=1, padding=0, dilation=1, groups=1, *,
                          out=None):
    return _conv_backward_input(grad_out, weight, input_shape, stride, padding, dilation, groups, 1, out)


def conv1d_backward_weight(grad_out, x, weight_shape, stride=1, padding=0, dilation=1, groups=1, *,
                           out=None):
    return _conv_backward_weight(grad_out, x, weight_shape, stride, padding, dilation, groups, 1, out)


def conv1d_backward_bias(grad_out):
    return _bias_grad(grad_out, 1)


def conv1d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1, bias: bool = True):
    """(grad_input, grad_weight, grad_bias or None)."""
    return _conv_backward(grad_out, x, weight, stride, padding, dilation, groups, bias, 1)


# ---- conv_transpose2d ----


def _transpose_shape(x_shape, w_shape, stride, padding, output_padding, groups, dilation) -> tuple[tuple, tuple]:
    """The conv2d view of a transposed convolution: its output plays conv2d's input."""
    N, Cin, Hin, Win = x_shape
    groups = _groups(groups)
    s = _tuple(stride, "stride", 2)
    p = _tuple(padding, "padding", 2)
    op = _tuple(output_padding, "output_padding", 2)
    d = _tuple(dilation, "dilation", 2)
    if len(w_shape) != 4:
        raise ValueError(f"weight: expected a 4-D array (in_channels, out_channels/groups, kH, kW), "
                         f"got shape {tuple(w_shape)}")
    if Cin % groups:
        raise ValueError(f"groups: input channels {Cin} (input shape {tuple(x_shape)}) are not divisible by "
                         f"groups={groups}")
    if w_shape[0] != Cin or min(w_shape[1:]) < 1:
        raise ValueError(f"weight: expected shape ({Cin}, out_channels/groups, kH, kW) for input of shape "
                         f"{tuple(x_shape)}, got {tuple(w_shape)}")
    if min(s) < 1 or min(d) < 1 or min(p) < 0:
        raise ValueError(f"stride, dilation, padding: got stride={s}, dilation={d}, padding={p}")
    if any(o < 0 or (o >= si and o >= di) for o, si, di in zip(op, s, d)):
        raise ValueError(f"output_padding: must be smaller than either stride or dilation, got "
                         f"output_padding={op}, stride={s}, dilation={d}")
    Cout = w_shape[1] * groups
    R, S = w_shape[2:]
    Hout = (Hin - 1) * s[0] - 2 * p[0] + d[0] * (R - 1) + op[0] + 1
    Wout = (Win - 1) * s[1] - 2 * p[1] + d[1] * (S - 1) + op[1] + 1
    if Hout < 1 or Wout < 1:
        raise ValueError(f"input: output size ({Hout}, {Wout}) is too small for input shape {tuple(x_shape)}, "
                         f"weight shape {tuple(w_shape)}, stride={s}, padding={p}")
    return (_core.Conv2dShape(N, Cout, Hout, Wout, Cin, R, S, Hin, Win, s[0], s[1], p[0], p[1], d[0], d[1], groups),
            (N, Cout, Hout, Wout))


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *,
                     out=None):
    """Transposed 2-D convolution (the gradient of conv2d with respect to its input) of
    (N, C_in, H, W) with weight (C_in, C_out/groups, R, S), plus bias (C_out,)."""
    be = backend_of(input=x, weight=weight, bias=bias, out=out)
    x = be.operand(x, "input")
    weight = be.operand(weight, "weight", x)
    xs = _batched(x.shape, 2, "input")
    shape, out_shape = _transpose_shape(xs, weight.shape, stride, padding, output_padding, groups, dilation)
    b = _bias(be, bias, shape.C, x)
    out = be.out(out, _unbatch(out_shape, len(xs) == x.ndim), x, inputs=(x, weight), separate=True)
    be.ops.conv2d_backward_input(be.raw(out), be.raw(x), be.raw(weight), b, shape)
    return out


def conv_transpose2d_backward_input(grad_out, weight, input_shape, stride=1, padding=0, output_padding=0, groups=1,
                                    dilation=1, *, out=None):
    be = backend_of(grad_out=grad_out, weight=weight, out=out)
    weight = be.operand(weight, "weight")
    input_shape = tuple(int(v) for v in input_shape)
    shape, grad_out = _grad_shapes(be, grad_out, weight, input_shape, weight.shape, _transpose_shape,
                                   (stride, padding, output_padding, groups, dilation))
    out = be.out(out, input_shape, weight, inputs=(grad_out, weight), separate=True)
    be.ops.conv2d_forward(be.raw(out), be.raw(grad_out), be.raw(weight), None, shape)
    return out


def conv_transpose2d_backward_weight(grad_out, x, weight_shape, stride=1, padding=0, output_padding=0, groups=1,
                                     dilation=1, *, out=None):
    be = backend_of(grad_out=grad_out, input=x, out=out)
    x = be.operand(x, "input")
    weight_shape = tuple(int(v) for v in weight_shape)
    shape, grad_out = _grad_shapes(be, grad_out, x, x.shape, weight_shape, _transpose_shape,
                                   (stride, padding, output_padding, groups, dilation))
    out = be.out(out, weight_shape, x, inputs=(grad_out, x), separate=True)
    be.ops.conv2d_backward_weight(be.raw(out), be.raw(x), be.raw(grad_out), shape)
    return out


def conv_transpose2d_backward(grad_out, x, weight, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                              bias: bool = True):
    """(grad_input, grad_weight, grad_bias or None) of conv_transpose2d."""
    be = backend_of(grad_out=grad_out, input=x, weight=weight)
    x = be.operand(x, "input")
    weight = be.operand(weight, "weight", x)
    args = (stride, padding, output_padding, groups, dilation)
    return (conv_transpose2d_backward_input(grad_out, weight, x.shape, *args),
            conv_transpose2d_backward_weight(grad_out, x, weight.shape, *args),
            _bias_grad(grad_out, 2) if bias else None)
