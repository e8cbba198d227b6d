"""layer_norm and layer_norm_backward, as torch.nn.functional.layer_norm, on the CPU or on the GPU
the arrays live on (csrc/cuda/layer_norm.cu; mixing devices is a TypeError).

The last len(normalized_shape) dimensions of the input are normalised together: per row,
y = (x - mean) / sqrt(var + eps) * weight + bias, var the biased variance; weight and bias (of
normalized_shape, optional) are applied per element. The forward's ``return_stats=True`` also
returns (mean, rstd) of shape input.shape[:-len(normalized_shape)], rstd = 1 / sqrt(var + eps);
layer_norm_backward recomputes them from the input when they are not passed back in.
"""
from __future__ import annotations

import numbers

import numpy as np

from .._backend import backend_of
from .._backend.host import as_float_param


def _normalized(normalized_shape, x: np.ndarray) -> tuple[tuple, int, int]:
    """(normalized_shape as a tuple, rows M, elements per row N), checked against the input."""
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        shape = (int(normalized_shape),)
    else:
        try:
            shape = tuple(normalized_shape)
        except TypeError:
            raise TypeError(f"normalized_shape: expected an int or a tuple of ints, "
                            f"got {type(normalized_shape).__name__}") from None
        # (not int(d): that truncates 2.7, takes '3' and raises OverflowError on inf)
        if not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in shape):
            raise TypeError(f"normalized_shape: expected an int or a tuple of ints, got {normalized_shape!r}")
        shape = tuple(int(d) for d in shape)
    k = len(shape)
    if k == 0 or any(d < 1 for d in shape):
        raise ValueError(f"normalized_shape: expected a non-empty shape of positive sizes, got {shape}")
    if x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
        raise ValueError(f"input: expected a shape ending in normalized_shape {shape}, got {x.shape}")
    return shape, int(np.prod(x.shape[:x.ndim - k], dtype=np.int64)), int(np.prod(shape, dtype=np.int64))


def _param(be, a, shape: tuple, name: str, like):
    if a is None:
        return None
    a = be.operand(a, name, like)
    if a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape} (normalized_shape), got {a.shape}")
    return a


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5, *, return_stats: bool = False,
               out=None):
    """(x - mean) / sqrt(var + eps) * weight + bias over the trailing normalized_shape.

    With return_stats, returns (y, mean, rstd) for layer_norm_backward.
    """
    be = backend_of(input=input, weight=weight, bias=bias, out=out)
    x = be.operand(input, "input")
    shape, M, N = _normalized(normalized_shape, x)
    weight, bias = _param(be, weight, shape, "weight", x), _param(be, bias, shape, "bias", x)
    eps = as_float_param(eps, "eps")
    out = be.out(out, x.shape, x, inputs=(x,))
    stats = x.shape[:x.ndim - len(shape)]
    mean, rstd = be.empty(stats, x), be.empty(stats, x)
    be.ops.layer_norm_forward(be.raw(out), be.raw(mean), be.raw(rstd), be.raw(x), _raw(be, weight), _raw(be, bias), M,
                              N, eps)
    return (out, mean, rstd) if return_stats else out


def _raw(be, a):
    return None if a is None else be.raw(a)


def layer_norm_backward(grad_out, input, normalized_shape, weight=None, eps: float = 1e-5, *, save_mean=None,
                        save_rstd=None, out=None):
    """(grad_input, grad_weight, grad_bias) of layer_norm; grad_weight = sum(grad_out * x_hat) and
    grad_bias = sum(grad_out) over the rows, of normalized_shape. save_mean / save_rstd: the
    forward's return_stats output (both or neither; recomputed from input when absent)."""
    be = backend_of(grad_out=grad_out, input=input, weight=weight, save_mean=save_mean, save_rstd=save_rstd,
                    out=out)
    x = be.operand(input, "input")
    shape, M, N = _normalized(normalized_shape, x)
    weight = _param(be, weight, shape, "weight", x)
    eps = as_float_param(eps, "eps")
    grad_out = be.operand(grad_out, "grad_out", x)
    if grad_out.shape != x.shape:
        raise ValueError(f"grad_out: expected the input's shape {x.shape}, got {grad_out.shape}")
    stats = x.shape[:x.ndim - len(shape)]
    if (save_mean is None) != (save_rstd is None):
        raise ValueError("save_mean, save_rstd: pass both or neither")
    if save_mean is None:
        save_mean, save_rstd = be.empty(stats, x), be.empty(stats, x)
        be.ops.layer_norm_forward(None, be.raw(save_mean), be.raw(save_rstd), be.raw(x), None, None, M, N, eps)
    else:
        save_mean, save_rstd = be.operand(save_mean, "save_mean", x), be.operand(save_rstd, "save_rstd", x)
        for name, a in (("save_mean", save_mean), ("save_rstd", save_rstd)):
            if a.shape != stats:
                raise ValueError(f"{name}: expected shape {stats}, got {a.shape}")
    out = be.out(out, x.shape, x, inputs=(x, grad_out))
    grad_weight, grad_bias = be.empty(shape, x), be.empty(shape, x)
    be.ops.layer_norm_backward(be.raw(out), be.raw(grad_weight), be.raw(grad_bias), be.raw(grad_out), be.raw(x),
                               be.raw(save_mean), be.raw(save_rstd), _raw(be, weight), M, N)
    return out, grad_weight, grad_bias
