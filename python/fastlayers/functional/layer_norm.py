"""layer_norm and layer_norm_backward, as torch.nn.functional.layer_norm (CPU).

The last len(normalized_shape) dimensions of the input are normalised together: per row,
y = (x - mean) / sqrt(var + eps) * weight + bias, var the biased variance; weight and bias (of
normalized_shape, optional) are applied per element. The forward's ``return_stats=True`` also
returns (mean, rstd) of shape input.shape[:-len(normalized_shape)], rstd = 1 / sqrt(var + eps);
layer_norm_backward recomputes them from the input when they are not passed back in.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _core
from .._backend.host import as_f32, as_float_param, check_out


def _normalized(normalized_shape, x: np.ndarray) -> tuple[tuple, int, int]:
    """(normalized_shape as a tuple, rows M, elements per row N), checked against the input."""
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        shape = (int(normalized_shape),)
    else:
        try:
            shape = tuple(int(d) for d in normalized_shape)
        except TypeError:
            raise TypeError(f"normalized_shape: expected an int or a tuple of ints, "
                            f"got {type(normalized_shape).__name__}") from None
    k = len(shape)
    if k == 0 or any(d < 1 for d in shape):
        raise ValueError(f"normalized_shape: expected a non-empty shape of positive sizes, got {shape}")
    if x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
        raise ValueError(f"input: expected a shape ending in normalized_shape {shape}, got {x.shape}")
    return shape, int(np.prod(x.shape[:x.ndim - k], dtype=np.int64)), int(np.prod(shape, dtype=np.int64))


def _param(a, shape: tuple, name: str):
    if a is None:
        return None
    a = as_f32(a, name)
    if a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape} (normalized_shape), got {a.shape}")
    return a


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5, *, return_stats: bool = False,
               out=None):
    """(x - mean) / sqrt(var + eps) * weight + bias over the trailing normalized_shape.

    With return_stats, returns (y, mean, rstd) for layer_norm_backward.
    """
    x = as_f32(input, "input")
    shape, M, N = _normalized(normalized_shape, x)
    weight, bias = _param(weight, shape, "weight"), _param(bias, shape, "bias")
    eps = as_float_param(eps, "eps")
    out = check_out(out, x.shape, inputs=(x,))
    stats = x.shape[:x.ndim - len(shape)]
    mean, rstd = np.empty(stats, np.float32), np.empty(stats, np.float32)
    _core.layer_norm_forward(out, mean, rstd, x, weight, bias, M, N, eps)
    return (out, mean, rstd) if return_stats else out


def layer_norm_backward(grad_out, input, normalized_shape, weight=None, eps: float = 1e-5, *, save_mean=None,
                        save_rstd=None, out=None):
    """(grad_input, grad_weight, grad_bias) of layer_norm; grad_weight = sum(grad_out * x_hat) and
    grad_bias = sum(grad_out) over the rows, of normalized_shape. save_mean / save_rstd: the
    forward's return_stats output (both or neither; recomputed from input when absent)."""
    x = as_f32(input, "input")
    shape, M, N = _normalized(normalized_shape, x)
    weight = _param(weight, shape, "weight")
    eps = as_float_param(eps, "eps")
    grad_out = as_f32(grad_out, "grad_out")
    if grad_out.shape != x.shape:
        raise ValueError(f"grad_out: expected the input's shape {x.shape}, got {grad_out.shape}")
    stats = x.shape[:x.ndim - len(shape)]
    if (save_mean is None) != (save_rstd is None):
        raise ValueError("save_mean, save_rstd: pass both or neither")
    if save_mean is None:
        save_mean, save_rstd = np.empty(stats, np.float32), np.empty(stats, np.float32)
        _core.layer_norm_forward(None, save_mean, save_rstd, x, None, None, M, N, eps)
    else:
        save_mean, save_rstd = as_f32(save_mean, "save_mean"), as_f32(save_rstd, "save_rstd")
        for name, a in (("save_mean", save_mean), ("save_rstd", save_rstd)):
            if a.shape != stats:
                raise ValueError(f"{name}: expected shape {stats}, got {a.shape}")
    out = check_out(out, x.shape, inputs=(x, grad_out))
    grad_weight, grad_bias = np.empty(shape, np.float32), np.empty(shape, np.float32)
    _core.layer_norm_backward(out, grad_weight, grad_bias, grad_out, x, save_mean, save_rstd, weight, M, N)
    return out, grad_weight, grad_bias
