"""The norm family: batch_norm and batch_norm_backward, as torch.nn.functional.batch_norm.

Inputs are (N, C), (N, C, L) or (N, C, H, W); statistics are per channel (axis 1) over all
other axes. In training, the batch mean and biased variance normalise the input and the
running statistics (float32 arrays of C, when given) are updated in place:
``running = (1 - momentum) * running + momentum * batch`` with the unbiased variance, as
PyTorch does. In eval mode the running statistics normalise.

The backward takes the forward's input and recomputes the batch statistics (one read of x),
unless the forward's ``return_stats=True`` output (mean, invstd) is passed back in.
GPU inputs run the CUDA kernels (fastlayers._cuda_norm); mixing devices is a TypeError.
"""
from __future__ import annotations

import numpy as np

from .. import _core, _cuda_norm
from .._backend.host import as_f32, as_float_param, check_out
from .._backend.device import device_of


def _nlc(shape: tuple, name: str = "input") -> tuple[int, int, int]:
    if len(shape) < 2:
        raise ValueError(f"{name}: expected (N, C), (N, C, L) or (N, C, H, W), got shape {tuple(shape)}")
    return int(shape[0]), int(shape[1]), int(np.prod(shape[2:], dtype=np.int64))


def _channel(a, C: int, name: str, writable: bool = False):
    if a is None:
        return None
    if writable:
        if not isinstance(a, np.ndarray) or a.dtype != np.float32 or not a.flags.c_contiguous \
                or not a.flags.writeable:
            raise TypeError(f"{name}: expected a writable, contiguous float32 array (updated in place)")
    else:
        a = as_f32(a, name)
    if a.shape != (C,):
        raise ValueError(f"{name}: expected shape ({C},) for an input of {C} channels, got {a.shape}")
    return a


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5, *, return_stats: bool = False, out=None):
    """weight * (x - mean) / sqrt(var + eps) + bias per channel.

    With return_stats, returns (y, mean, invstd): the statistics used, for batch_norm_backward.
    """
    if device_of(input=x, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias,
                 out=out) is not None:
        return _cuda_norm.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps,
                                     return_stats, out)
    x = as_f32(x, "input")
    N, C, L = _nlc(x.shape)
    running_mean = _channel(running_mean, C, "running_mean", writable=True)
    running_var = _channel(running_var, C, "running_var", writable=True)
    weight = _channel(weight, C, "weight")
    bias = _channel(bias, C, "bias")
    momentum = as_float_param(momentum, "momentum")
    eps = as_float_param(eps, "eps")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("running_mean, running_var: required when training is False")
    if training and N * L <= 1:
        raise ValueError(f"input: expected more than 1 value per channel when training, got input shape {x.shape}")
    out = check_out(out, x.shape, inputs=(x,))
    mean = np.empty(C, np.float32)
    invstd = np.empty(C, np.float32)
    _core.batch_norm_forward(out, mean, invstd, running_mean, running_var, x, weight, bias, N, C, L,
                             bool(training), momentum, eps)
    return (out, mean, invstd) if return_stats else out


def batch_norm_backward(grad_out, x, weight=None, running_mean=None, running_var=None, training: bool = True,
                        eps: float = 1e-5, *, save_mean=None, save_invstd=None, out=None):
    """(grad_input, grad_weight, grad_bias) of batch_norm.

    training: through the batch statistics (from save_mean / save_invstd, or recomputed from x);
    otherwise through the running statistics, which act as constants. grad_weight is
    sum(grad_out * x_hat) and grad_bias sum(grad_out) per channel.
    """
    if device_of(grad_out=grad_out, x=x, weight=weight, running_mean=running_mean, running_var=running_var,
                 save_mean=save_mean, save_invstd=save_invstd, out=out) is not None:
        return _cuda_norm.batch_norm_backward(grad_out, x, weight, running_mean, running_var, training, eps,
                                              save_mean, save_invstd, out)
    grad_out = as_f32(grad_out, "grad_out")
    x = as_f32(x, "x")
    if x.shape != grad_out.shape:
        raise ValueError(f"x: expected the shape of grad_out {grad_out.shape}, got {x.shape}")
    N, C, L = _nlc(x.shape, "x")
    weight = _channel(weight, C, "weight")
    eps = as_float_param(eps, "eps")
    if training:
        if save_mean is None or save_invstd is None:
            if N * L <= 1:
                raise ValueError(f"x: expected more than 1 value per channel when training, got shape {x.shape}")
            save_mean = np.empty(C, np.float32)
            save_invstd = np.empty(C, np.float32)
            _core.batch_norm_stats(save_mean, save_invstd, x, N, C, L, eps)
        mean = _channel(save_mean, C, "save_mean")
        invstd = _channel(save_invstd, C, "save_invstd")
    else:
        running_mean = _channel(running_mean, C, "running_mean")
        running_var = _channel(running_var, C, "running_var")
        if running_mean is None or running_var is None:
            raise ValueError("running_mean, running_var: required when training is False")
        mean = running_mean
        invstd = (1.0 / np.sqrt(running_var.astype(np.float64) + eps)).astype(np.float32)
    out = check_out(out, x.shape, "out", inputs=(grad_out, x))
    grad_weight = np.empty(C, np.float32)
    grad_bias = np.empty(C, np.float32)
    _core.batch_norm_backward(out, grad_weight, grad_bias, grad_out, x, weight, mean, invstd, N, C, L,
                              bool(training))
    return out, grad_weight, grad_bias
