"""The activation family: sigmoid, tanh, relu, leaky_relu, elu, gelu, silu, softmax, log_softmax, maxout.

Every op takes float32 arrays (other real dtypes are converted once), returns a new float32
array or writes into ``out=``, and has a backward that takes the gradient of the output and
the tensor the forward saved (named in each docstring). ``out=`` may be the input itself.
Arguments follow torch.nn.functional: ``inplace=True`` (relu, leaky_relu, elu, silu) writes the
result into the input and returns it; ops over an axis take ``dim=`` (PyTorch's name) or
``axis=``; a 0-d input gives a 0-d output (softmax treats it as one element).

Accuracy of the vector kernels (AVX2 / AVX-512) against float64, over the whole float range:
sigmoid, tanh, elu, exp-based ops within a few ulp (see csrc/cpu/ukernels/vmath_impl.h);
gelu's erfc within about 1e-6 relative. Inputs of +-inf and NaN follow IEEE semantics as
PyTorch does.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from .._backend import HOST, backend_of, run_inplace
from .._backend.host import as_float_param, axis_split, normalize_axis

_Op = _core.ActOp  # the element-wise ops of csrc/ops/activation.h
_F32 = np.dtype(np.float32)


def _unary(op, x, out, a: float = 0.0, inplace: bool = False):
    if inplace:
        return _unary_inplace(op, x, out, a)
    be = backend_of(input=x, out=out)
    x = be.operand(x, "input")
    out = be.out(out, x.shape, x, inputs=(x,))
    be.ops.act_forward(op, be.raw(out), be.raw(x), a)
    return out


def _unary_inplace(op, x, out, a: float):
    """inplace=True: the result written into x, which is returned (see run_inplace)."""
    if out is not None:
        raise ValueError("out: cannot be given together with inplace=True (the input is the output)")
    return run_inplace(x, lambda be, o, i: be.ops.act_forward(op, be.raw(o), be.raw(i), a))


def _unary_backward(op, grad_out, saved, saved_name: str, out, a: float = 0.0):
    be = backend_of(grad_out=grad_out, **{saved_name: saved}, out=out)
    grad_out = be.operand(grad_out, "grad_out")
    saved = be.operand(saved, saved_name, grad_out)
    if saved.shape != grad_out.shape:
        raise ValueError(f"{saved_name}: expected the shape of grad_out {grad_out.shape}, got {saved.shape}")
    out = be.out(out, grad_out.shape, grad_out, inputs=(grad_out, saved))
    be.ops.act_backward(op, be.raw(out), be.raw(grad_out), be.raw(saved), a)
    return out


def sigmoid(input, *, out=None) -> np.ndarray:
    """1 / (1 + exp(-x)). Backward takes the output y."""
    return _unary(_Op.sigmoid, input, out)


def sigmoid_backward(grad_out, y, *, out=None) -> np.ndarray:
    """grad_out * y * (1 - y), y = sigmoid(x)."""
    return _unary_backward(_Op.sigmoid, grad_out, y, "y", out)


def tanh(input, *, out=None) -> np.ndarray:
    """Hyperbolic tangent. Backward takes the output y."""
    return _unary(_Op.tanh, input, out)


def tanh_backward(grad_out, y, *, out=None) -> np.ndarray:
    """grad_out * (1 - y^2), y = tanh(x)."""
    return _unary_backward(_Op.tanh, grad_out, y, "y", out)


def relu(input, inplace: bool = False, *, out=None) -> np.ndarray:
    """max(x, 0); NaN stays NaN. Backward takes the input x (or the output: same sign)."""
    return _unary(_Op.relu, input, out, inplace=inplace)


def relu_backward(grad_out, x, *, out=None) -> np.ndarray:
    """grad_out where x > 0, else 0."""
    return _unary_backward(_Op.relu, grad_out, x, "x", out)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False, *, out=None) -> np.ndarray:
    """x if x > 0 else negative_slope * x.

    The default slope is PyTorch's 0.01; the course's leaky ReLU ``max(0.1x, x)`` is
    ``leaky_relu(x, 0.1)``. Backward takes the input x (or, for a positive slope, the output).
    """
    return _unary(_Op.leaky_relu, input, out, as_float_param(negative_slope, "negative_slope"), inplace)


def leaky_relu_backward(grad_out, x, negative_slope: float = 0.01, *, out=None) -> np.ndarray:
    return _unary_backward(_Op.leaky_relu, grad_out, x, "x", out, as_float_param(negative_slope, "negative_slope"))


def elu(input, alpha: float = 1.0, inplace: bool = False, *, out=None) -> np.ndarray:
    """x if x > 0 else alpha * (exp(x) - 1), computed with an accurate expm1. Backward takes x."""
    return _unary(_Op.elu, input, out, as_float_param(alpha, "alpha"), inplace)


def elu_backward(grad_out, x, alpha: float = 1.0, *, out=None) -> np.ndarray:
    return _unary_backward(_Op.elu, grad_out, x, "x", out, as_float_param(alpha, "alpha"))


def _gelu_op(approximate):
    if approximate == "none":
        return _Op.gelu
    if approximate == "tanh":
        return _Op.gelu_tanh
    raise ValueError(f"approximate: expected 'none' or 'tanh', got {approximate!r}")


def gelu(input, approximate: str = "none", *, out=None) -> np.ndarray:
    """x * Phi(x) (approximate='none', the exact erf form) or the tanh approximation
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as torch.nn.functional.gelu. Backward takes x."""
    return _unary(_gelu_op(approximate), input, out)


def gelu_backward(grad_out, x, approximate: str = "none", *, out=None) -> np.ndarray:
    return _unary_backward(_gelu_op(approximate), grad_out, x, "x", out)


def silu(input, inplace: bool = False, *, out=None) -> np.ndarray:
    """x * sigmoid(x) (SiLU, swish), as torch.nn.functional.silu. Backward takes the input x."""
    return _unary(_Op.silu, input, out, inplace=inplace)


def silu_backward(grad_out, x, *, out=None) -> np.ndarray:
    """grad_out * s (1 + x (1 - s)), s = sigmoid(x)."""
    return _unary_backward(_Op.silu, grad_out, x, "x", out)


def _dim(dim, axis, default: int):
    """(axis, the name it was given as) from PyTorch's dim= or NumPy's axis= (at most one)."""
    if dim is not None and axis is not None and dim != axis:
        raise TypeError(f"dim, axis: give one of them (dim={dim!r}, axis={axis!r})")
    if dim is not None:
        return dim, "dim"
    return (axis, "axis") if axis is not None else (default, "dim")


def _result_dtype(dtype):
    """None (float32) or the NumPy float dtype of softmax's dtype= (a NumPy dtype, a name, or a
    torch dtype such as torch.float64); the computation is float32 either way."""
    if dtype is None:
        return None
    spec = str(dtype)[6:] if str(dtype).startswith("torch.") else dtype
    try:
        dt = np.dtype(spec)
    except TypeError:
        raise TypeError(f"dtype: expected a floating dtype, got {dtype!r}") from None
    if dt.kind != "f":
        raise TypeError(f"dtype: expected a floating dtype, got {dtype!r}")
    return None if dt == _F32 else dt


def _softmax(x, dim, axis, dtype, out, log: bool):
    ax, name = _dim(dim, axis, -1)
    rdt = _result_dtype(dtype)
    if rdt is not None and out is not None:
        raise TypeError(f"dtype: out= is float32, dtype={dtype!r} asks for {rdt}")
    be = backend_of(input=x, out=out)
    x = be.operand(x, "input")
    if rdt is not None and be is not HOST:
        raise TypeError(f"dtype: device results are float32, got dtype={dtype!r}")
    ax = normalize_axis(ax, max(x.ndim, 1), name)  # a 0-d input is one element along dim 0 / -1
    out = be.out(out, x.shape, x, inputs=(x,))
    be.ops.softmax_forward(be.raw(out), be.raw(x), *axis_split(x.shape or (1,), ax), log)
    return out if rdt is None else out.astype(rdt)


def _softmax_backward(grad_out, y, dim, axis, out, log: bool):
    ax, name = _dim(dim, axis, -1)
    be = backend_of(grad_out=grad_out, y=y, out=out)
    grad_out = be.operand(grad_out, "grad_out")
    y = be.operand(y, "y", grad_out)
    if y.shape != grad_out.shape:
        raise ValueError(f"y: expected the shape of grad_out {grad_out.shape}, got {y.shape}")
    ax = normalize_axis(ax, max(grad_out.ndim, 1), name)
    out = be.out(out, grad_out.shape, grad_out, inputs=(grad_out, y))
    be.ops.softmax_backward(be.raw(out), be.raw(grad_out), be.raw(y), *axis_split(grad_out.shape or (1,), ax), log)
    return out


def softmax(input, dim=None, _stacklevel: int = 3, dtype=None, *, axis=None, out=None) -> np.ndarray:
    """exp(x - max) / sum(exp(x - max)) along `dim` (or `axis`; default -1: PyTorch's implicit
    choice of dim is deprecated there, so give dim). dtype: the result's floating dtype (computed
    in float32, then converted; host arrays). Backward takes the output y."""
    return _softmax(input, dim, axis, dtype, out, False)


def softmax_backward(grad_out, y, dim=None, *, axis=None, out=None) -> np.ndarray:
    """y * (grad_out - sum(grad_out * y, dim))."""
    return _softmax_backward(grad_out, y, dim, axis, out, False)


def log_softmax(input, dim=None, _stacklevel: int = 3, dtype=None, *, axis=None, out=None) -> np.ndarray:
    """x - max - log(sum(exp(x - max))) along `dim` (or `axis`, default -1): finite for any
    finite input. dtype as for softmax. Backward takes the output y."""
    return _softmax(input, dim, axis, dtype, out, True)


def log_softmax_backward(grad_out, y, dim=None, *, axis=None, out=None) -> np.ndarray:
    """grad_out - exp(y) * sum(grad_out, dim)."""
    return _softmax_backward(grad_out, y, dim, axis, out, True)


def _maxout_shape(shape: tuple, pieces, ax, name) -> tuple[int, tuple, tuple[int, int, int]]:
    if isinstance(pieces, bool) or not isinstance(pieces, (int, np.integer)):
        raise TypeError(f"pieces: expected an integer, got {type(pieces).__name__}")
    if len(shape) == 0:
        raise ValueError("input: maxout needs at least one dimension, got a 0-d array")
    ax = normalize_axis(ax, len(shape), name)
    if pieces < 1 or shape[ax] % pieces != 0:
        raise ValueError(f"pieces: {pieces} does not divide the channel count {shape[ax]} "
                         f"(axis {ax} of input shape {tuple(shape)})")
    out_shape = shape[:ax] + (shape[ax] // pieces,) + shape[ax + 1:]
    return int(pieces), out_shape, axis_split(shape, ax)


def maxout(input, pieces: int, dim=None, *, axis=None, out=None):
    """Max over groups of `pieces` consecutive channels along `dim` (or `axis`; default 1).

    Output channel c is max(x[c*pieces], ..., x[c*pieces + pieces-1]) along that axis, which
    shrinks by a factor of ``pieces``. The first maximum wins ties; NaN propagates.
    Backward takes the input x and routes grad_out to each group's winner.
    """
    be = backend_of(input=input, out=out)
    x = be.operand(input, "input")
    pieces, out_shape, split = _maxout_shape(x.shape, pieces, *_dim(dim, axis, 1))
    out = be.out(out, out_shape, x, inputs=(x,))
    be.ops.maxout_forward(be.raw(out), be.raw(x), *split, pieces)
    return out


def maxout_backward(grad_out, x, pieces: int, dim=None, *, axis=None, out=None):
    be = backend_of(grad_out=grad_out, x=x, out=out)
    grad_out = be.operand(grad_out, "grad_out")
    x = be.operand(x, "x", grad_out)
    pieces, out_shape, split = _maxout_shape(x.shape, pieces, *_dim(dim, axis, 1))
    if grad_out.shape != out_shape:
        raise ValueError(f"grad_out: expected shape {out_shape} for x of shape {x.shape} and pieces={pieces}, "
                         f"got {grad_out.shape}")
    out = be.out(out, x.shape, x, inputs=(grad_out, x))
    be.ops.maxout_backward(be.raw(out), be.raw(grad_out), be.raw(x), *split, pieces)
    return out
