"""The activation family: sigmoid, tanh, relu, leaky_relu, elu, gelu, softmax, log_softmax, maxout.

Every op takes float32 arrays (other real dtypes are converted once), returns a new float32
array or writes into ``out=``, and has a backward that takes the gradient of the output and
the tensor the forward saved (named in each docstring). ``out=`` may be the input itself.

Accuracy of the vector kernels (AVX2 / AVX-512) against float64, over the whole float range:
sigmoid, tanh, elu, exp-based ops within a few ulp (see csrc/cpu/ukernels/vmath_impl.h);
gelu's erfc within about 1e-6 relative. Inputs of +-inf and NaN follow IEEE semantics as
PyTorch does.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from .._backend import backend_of
from .._backend.host import as_float_param, axis_split, normalize_axis

_Op = _core.ActOp  # the element-wise ops of csrc/ops/activation.h


def _unary(op, x, out, a: float = 0.0):
    be = backend_of(input=x, out=out)
    x = be.operand(x, "input")
    out = be.out(out, x.shape, x, inputs=(x,))
    be.ops.act_forward(op, be.raw(out), be.raw(x), a)
    return out


def _unary_backward(op, grad_out, saved, saved_name: str, out, a: float = 0.0):
    be = backend_of(grad_out=grad_out, **{saved_name: saved}, out=out)
    grad_out = be.operand(grad_out, "grad_out")
    saved = be.operand(saved, saved_name, grad_out)
    if saved.shape != grad_out.shape:
        raise ValueError(f"{saved_name}: expected the shape of grad_out {grad_out.shape}, got {saved.shape}")
    out = be.out(out, grad_out.shape, grad_out, inputs=(grad_out, saved))
    be.ops.act_backward(op, be.raw(out), be.raw(grad_out), be.raw(saved), a)
    return out


def sigmoid(x, *, out=None) -> np.ndarray:
    """1 / (1 + exp(-x)). Backward takes the output y."""
    return _unary(_Op.sigmoid, x, out)


def sigmoid_backward(grad_out, y, *, out=None) -> np.ndarray:
    """grad_out * y * (1 - y), y = sigmoid(x)."""
    return _unary_backward(_Op.sigmoid, grad_out, y, "y", out)


def tanh(x, *, out=None) -> np.ndarray:
    """Hyperbolic tangent. Backward takes the output y."""
    return _unary(_Op.tanh, x, out)


def tanh_backward(grad_out, y, *, out=None) -> np.ndarray:
    """grad_out * (1 - y^2), y = tanh(x)."""
    return _unary_backward(_Op.tanh, grad_out, y, "y", out)


def relu(x, *, out=None) -> np.ndarray:
    """max(x, 0); NaN stays NaN. Backward takes the input x."""
    return _unary(_Op.relu, x, out)


def relu_backward(grad_out, x, *, out=None) -> np.ndarray:
    """grad_out where x > 0, else 0."""
    return _unary_backward(_Op.relu, grad_out, x, "x", out)


def leaky_relu(x, negative_slope: float = 0.1, *, out=None) -> np.ndarray:
    """x if x > 0 else negative_slope * x.

    The default slope is 0.1, the course's leaky ReLU ``max(0.1x, x)``; PyTorch's
    ``torch.nn.functional.leaky_relu`` defaults to 0.01. Backward takes the input x.
    """
    return _unary(_Op.leaky_relu, x, out, as_float_param(negative_slope, "negative_slope"))


def leaky_relu_backward(grad_out, x, negative_slope: float = 0.1, *, out=None) -> np.ndarray:
    return _unary_backward(_Op.leaky_relu, grad_out, x, "x", out, as_float_param(negative_slope, "negative_slope"))


def elu(x, alpha: float = 1.0, *, out=None) -> np.ndarray:
    """x if x > 0 else alpha * (exp(x) - 1), computed with an accurate expm1. Backward takes x."""
    return _unary(_Op.elu, x, out, as_float_param(alpha, "alpha"))


def elu_backward(grad_out, x, alpha: float = 1.0, *, out=None) -> np.ndarray:
    return _unary_backward(_Op.elu, grad_out, x, "x", out, as_float_param(alpha, "alpha"))


def _gelu_op(approximate):
    if approximate == "none":
        return _Op.gelu
    if approximate == "tanh":
        return _Op.gelu_tanh
    raise ValueError(f"approximate: expected 'none' or 'tanh', got {approximate!r}")


def gelu(x, approximate: str = "none", *, out=None) -> np.ndarray:
    """x * Phi(x) (approximate='none', the exact erf form) or the tanh approximation
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as torch.nn.functional.gelu. Backward takes x."""
    return _unary(_gelu_op(approximate), x, out)


def gelu_backward(grad_out, x, approximate: str = "none", *, out=None) -> np.ndarray:
    return _unary_backward(_gelu_op(approximate), grad_out, x, "x", out)


def _softmax(x, axis, out, log: bool):
    be = backend_of(input=x, out=out)
    x = be.operand(x, "input")
    if x.ndim == 0:
        raise ValueError("input: softmax needs at least one dimension, got a 0-d array")
    ax = normalize_axis(axis, x.ndim)
    out = be.out(out, x.shape, x, inputs=(x,))
    be.ops.softmax_forward(be.raw(out), be.raw(x), *axis_split(x.shape, ax), log)
    return out


def _softmax_backward(grad_out, y, axis, out, log: bool):
    be = backend_of(grad_out=grad_out, y=y, out=out)
    grad_out = be.operand(grad_out, "grad_out")
    y = be.operand(y, "y", grad_out)
    if y.shape != grad_out.shape:
        raise ValueError(f"y: expected the shape of grad_out {grad_out.shape}, got {y.shape}")
    if grad_out.ndim == 0:
        raise ValueError("grad_out: softmax needs at least one dimension, got a 0-d array")
    ax = normalize_axis(axis, grad_out.ndim)
    out = be.out(out, grad_out.shape, grad_out, inputs=(grad_out, y))
    be.ops.softmax_backward(be.raw(out), be.raw(grad_out), be.raw(y), *axis_split(grad_out.shape, ax), log)
    return out


def softmax(x, axis: int = -1, *, out=None) -> np.ndarray:
    """exp(x - max) / sum(exp(x - max)) along `axis`. Backward takes the output y."""
    return _softmax(x, axis, out, False)


def softmax_backward(grad_out, y, axis: int = -1, *, out=None) -> np.ndarray:
    """y * (grad_out - sum(grad_out * y, axis))."""
    return _softmax_backward(grad_out, y, axis, out, False)


def log_softmax(x, axis: int = -1, *, out=None) -> np.ndarray:
    """x - max - log(sum(exp(x - max))) along `axis`: finite for any finite input.
    Backward takes the output y."""
    return _softmax(x, axis, out, True)


def log_softmax_backward(grad_out, y, axis: int = -1, *, out=None) -> np.ndarray:
    """grad_out - exp(y) * sum(grad_out, axis)."""
    return _softmax_backward(grad_out, y, axis, out, True)


def _maxout_shape(shape: tuple, pieces, axis) -> tuple[int, tuple, tuple[int, int, int]]:
    if isinstance(pieces, bool) or not isinstance(pieces, (int, np.integer)):
        raise TypeError(f"pieces: expected an integer, got {type(pieces).__name__}")
    if len(shape) == 0:
        raise ValueError("input: maxout needs at least one dimension, got a 0-d array")
    ax = normalize_axis(axis, len(shape))
    if pieces < 1 or shape[ax] % pieces != 0:
        raise ValueError(f"pieces: {pieces} does not divide the channel count {shape[ax]} "
                         f"(axis {ax} of input shape {tuple(shape)})")
    out_shape = shape[:ax] + (shape[ax] // pieces,) + shape[ax + 1:]
    return int(pieces), out_shape, axis_split(shape, ax)


def maxout(x, pieces: int, axis: int = 1, *, out=None):
    """Max over groups of `pieces` consecutive channels along `axis`.

    Output channel c is max(x[c*pieces], ..., x[c*pieces + pieces-1]) along that axis, so
    ``axis`` shrinks by a factor of ``pieces``. The first maximum wins ties; NaN propagates.
    Backward takes the input x and routes grad_out to each group's winner.
    """
    be = backend_of(input=x, out=out)
    x = be.operand(x, "input")
    pieces, out_shape, split = _maxout_shape(x.shape, pieces, axis)
    out = be.out(out, out_shape, x, inputs=(x,))
    be.ops.maxout_forward(be.raw(out), be.raw(x), *split, pieces)
    return out


def maxout_backward(grad_out, x, pieces: int, axis: int = 1, *, out=None):
    be = backend_of(grad_out=grad_out, x=x, out=out)
    grad_out = be.operand(grad_out, "grad_out")
    x = be.operand(x, "x", grad_out)
    pieces, out_shape, split = _maxout_shape(x.shape, pieces, axis)
    if grad_out.shape != out_shape:
        raise ValueError(f"grad_out: expected shape {out_shape} for x of shape {x.shape} and pieces={pieces}, "
                         f"got {grad_out.shape}")
    out = be.out(out, x.shape, x, inputs=(grad_out, x))
    be.ops.maxout_backward(be.raw(out), be.raw(grad_out), be.raw(x), *split, pieces)
    return out
