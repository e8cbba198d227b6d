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
from .. import _cuda_activation as _dev  # device paths, for inputs on a GPU
from .._array import as_f32, as_float_param, axis_split, check_out, normalize_axis
from .._device import device_of

# op codes of csrc/cpu/activation.h (enum ActOp)
_SIGMOID, _TANH, _RELU, _LEAKY, _ELU, _GELU, _GELU_TANH = range(7)


def _unary(op: int, x, out, a: float = 0.0) -> np.ndarray:
    if device_of(input=x, out=out) is not None:
        return _dev.unary(op, x, out, a)
    x = as_f32(x, "input")
    out = check_out(out, x.shape, inputs=(x,))
    _core.act_forward(op, out, x, a)
    return out


def _unary_backward(op: int, grad_out, saved, saved_name: str, out, a: float = 0.0) -> np.ndarray:
    if device_of(grad_out=grad_out, **{saved_name: saved}, out=out) is not None:
        return _dev.unary_backward(op, grad_out, saved, saved_name, out, a)
    grad_out = as_f32(grad_out, "grad_out")
    saved = as_f32(saved, saved_name)
    if saved.shape != grad_out.shape:
        raise ValueError(f"{saved_name}: expected the shape of grad_out {grad_out.shape}, got {saved.shape}")
    out = check_out(out, grad_out.shape, inputs=(grad_out, saved))
    _core.act_backward(op, out, grad_out, saved, a)
    return out


def sigmoid(x, *, out=None) -> np.ndarray:
    """1 / (1 + exp(-x)). Backward takes the output y."""
    return _unary(_SIGMOID, x, out)


def sigmoid_backward(grad_out, y, *, out=None) -> np.ndarray:
    """grad_out * y * (1 - y), y = sigmoid(x)."""
    return _unary_backward(_SIGMOID, grad_out, y, "y", out)


def tanh(x, *, out=None) -> np.ndarray:
    """Hyperbolic tangent. Backward takes the output y."""
    return _unary(_TANH, x, out)


def tanh_backward(grad_out, y, *, out=None) -> np.ndarray:
    """grad_out * (1 - y^2), y = tanh(x)."""
    return _unary_backward(_TANH, grad_out, y, "y", out)


def relu(x, *, out=None) -> np.ndarray:
    """max(x, 0); NaN stays NaN. Backward takes the input x."""
    return _unary(_RELU, x, out)


def relu_backward(grad_out, x, *, out=None) -> np.ndarray:
    """grad_out where x > 0, else 0."""
    return _unary_backward(_RELU, grad_out, x, "x", out)


def leaky_relu(x, negative_slope: float = 0.1, *, out=None) -> np.ndarray:
    """x if x > 0 else negative_slope * x.

    The default slope is 0.1, the course's leaky ReLU ``max(0.1x, x)``; PyTorch's
    ``torch.nn.functional.leaky_relu`` defaults to 0.01. Backward takes the input x.
    """
    return _unary(_LEAKY, x, out, as_float_param(negative_slope, "negative_slope"))


def leaky_relu_backward(grad_out, x, negative_slope: float = 0.1, *, out=None) -> np.ndarray:
    return _unary_backward(_LEAKY, grad_out, x, "x", out, as_float_param(negative_slope, "negative_slope"))


def elu(x, alpha: float = 1.0, *, out=None) -> np.ndarray:
    """x if x > 0 else alpha * (exp(x) - 1), computed with an accurate expm1. Backward takes x."""
    return _unary(_ELU, x, out, as_float_param(alpha, "alpha"))


def elu_backward(grad_out, x, alpha: float = 1.0, *, out=None) -> np.ndarray:
    return _unary_backward(_ELU, grad_out, x, "x", out, as_float_param(alpha, "alpha"))


def _gelu_op(approximate) -> int:
    if approximate == "none":
        return _GELU
    if approximate == "tanh":
        return _GELU_TANH
    raise ValueError(f"approximate: expected 'none' or 'tanh', got {approximate!r}")


def gelu(x, approximate: str = "none", *, out=None) -> np.ndarray:
    """x * Phi(x) (approximate='none', the exact erf form) or the tanh approximation
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as torch.nn.functional.gelu. Backward takes x."""
    return _unary(_gelu_op(approximate), x, out)


def gelu_backward(grad_out, x, approximate: str = "none", *, out=None) -> np.ndarray:
    return _unary_backward(_gelu_op(approximate), grad_out, x, "x", out)


def _softmax(x, axis, out, log: bool) -> np.ndarray:
    if device_of(input=x, out=out) is not None:
        return _dev.softmax(x, axis, out, log)
    x = as_f32(x, "input")
    if x.ndim == 0:
        raise ValueError("input: softmax needs at least one dimension, got a 0-d array")
    ax = normalize_axis(axis, x.ndim)
    out = check_out(out, x.shape, inputs=(x,))
    _core.softmax_forward(out, x, *axis_split(x.shape, ax), log)
    return out


def _softmax_backward(grad_out, y, axis, out, log: bool) -> np.ndarray:
    if device_of(grad_out=grad_out, y=y, out=out) is not None:
        return _dev.softmax_backward(grad_out, y, axis, out, log)
    grad_out = as_f32(grad_out, "grad_out")
    y = as_f32(y, "y")
    if y.shape != grad_out.shape:
        raise ValueError(f"y: expected the shape of grad_out {grad_out.shape}, got {y.shape}")
    if grad_out.ndim == 0:
        raise ValueError("grad_out: softmax needs at least one dimension, got a 0-d array")
    ax = normalize_axis(axis, grad_out.ndim)
    out = check_out(out, grad_out.shape, inputs=(grad_out, y))
    _core.softmax_backward(out, grad_out, y, *axis_split(grad_out.shape, ax), log)
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


def maxout(x, pieces: int, axis: int = 1, *, out=None) -> np.ndarray:
    """Max over groups of `pieces` consecutive channels along `axis`.

    Output channel c is max(x[c*pieces], ..., x[c*pieces + pieces-1]) along that axis, so
    ``axis`` shrinks by a factor of ``pieces``. The first maximum wins ties; NaN propagates.
    Backward takes the input x and routes grad_out to each group's winner.
    """
    if device_of(input=x, out=out) is not None:
        return _dev.maxout(x, pieces, axis, out, _maxout_shape)
    x = as_f32(x, "input")
    pieces, out_shape, split = _maxout_shape(x.shape, pieces, axis)
    out = check_out(out, out_shape, inputs=(x,))
    _core.maxout_forward(out, x, *split, pieces)
    return out


def maxout_backward(grad_out, x, pieces: int, axis: int = 1, *, out=None) -> np.ndarray:
    if device_of(grad_out=grad_out, x=x, out=out) is not None:
        return _dev.maxout_backward(grad_out, x, pieces, axis, out, _maxout_shape)
    grad_out = as_f32(grad_out, "grad_out")
    x = as_f32(x, "x")
    pieces, out_shape, split = _maxout_shape(x.shape, pieces, axis)
    if grad_out.shape != out_shape:
        raise ValueError(f"grad_out: expected shape {out_shape} for x of shape {x.shape} and pieces={pieces}, "
                         f"got {grad_out.shape}")
    out = check_out(out, x.shape, inputs=(grad_out, x))
    _core.maxout_backward(out, grad_out, x, *split, pieces)
    return out
