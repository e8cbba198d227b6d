"""The norm family: batch_norm and batch_norm_backward, as torch.nn.functional.batch_norm.

Inputs are (N, C), (N, C, L) or (N, C, H, W); statistics are per channel (axis 1) over all
other axes. Edge shapes as PyTorch: an empty batch gives an empty result and leaves the running
statistics as they are (training included), an empty 1-D input an empty result. In training, the batch mean and biased variance normalise the input and the
running statistics (float32 arrays of C, when given) are updated in place:
``running = (1 - momentum) * running + momentum * batch`` with the unbiased variance, as
PyTorch does. In eval mode the running statistics normalise.

The backward takes the forward's input and recomputes the batch statistics (one read of x),
unless the forward's ``return_stats=True`` output (mean, invstd) is passed back in.
GPU inputs run the CUDA kernels through the device backend; mixing devices is a TypeError.
"""
from __future__ import annotations

import numpy as np

from .._backend import backend_of
from .._backend.host import as_float_param


def _nlc(shape: tuple, name: str = "input") -> tuple[int, int, int]:
    """(N, C, L) of an input (N, C, *). An empty 1-D input is PyTorch's edge case of no
    channels (its result is empty too); any other input of fewer than 2 dimensions is an error."""
    if len(shape) == 1 and shape[0] == 0:
        return 0, 0, 1
    if len(shape) < 2:
        raise ValueError(f"{name}: expected (N, C), (N, C, L) or (N, C, H, W), got shape {tuple(shape)}")
    return int(shape[0]), int(shape[1]), int(np.prod(shape[2:], dtype=np.int64))


def _zeros(be, C: int, like):
    return be.from_host(np.zeros(C, np.float32), like)


def _channel(be, a, C: int, name: str, like, writable: bool = False):
    if a is None:
        return None
    a = be.inplace(a, name, like) if writable else be.operand(a, name, like)
    if a.shape != (C,):
        raise ValueError(f"{name}: expected shape ({C},) for an input of {C} channels, got {a.shape}")
    return a


def _raw(be, a):
    return None if a is None else be.raw(a)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5, *, return_stats: bool = False, out=None):
    """weight * (x - mean) / sqrt(var + eps) + bias per channel.

    With return_stats, returns (y, mean, invstd): the statistics used, for batch_norm_backward.
    running_mean / running_var (float32, contiguous) are updated in place when training.
    """
    be = backend_of(input=x, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias, out=out)
    x = be.operand(x, "input")
    N, C, L = _nlc(x.shape)
    running_mean = _channel(be, running_mean, C, "running_mean", x, writable=True)
    running_var = _channel(be, running_var, C, "running_var", x, writable=True)
    weight = _channel(be, weight, C, "weight", x)
    bias = _channel(be, bias, C, "bias", x)
    momentum = as_float_param(momentum, "momentum")
    eps = as_float_param(eps, "eps")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("running_mean, running_var: required when training is False")
    if training and N * L == 1:
        raise ValueError(f"input: expected more than 1 value per channel when training, got input shape {x.shape}")
    out = be.out(out, x.shape, x, inputs=(x,))
    if x.size == 0:  # an empty batch (or no channels): an empty result, the running statistics untouched
        return (out, _zeros(be, C, x), _zeros(be, C, x)) if return_stats else out
    mean, invstd = be.empty((C,), x), be.empty((C,), x)
    be.ops.batch_norm_forward(be.raw(out), be.raw(mean), be.raw(invstd), _raw(be, running_mean),
                              _raw(be, running_var), be.raw(x), _raw(be, weight), _raw(be, bias), N, C, L,
                              bool(training), momentum, eps)
    return (out, mean, invstd) if return_stats else out


def batch_norm_backward(grad_out, x, weight=None, running_mean=None, running_var=None, training: bool = True,
                        eps: float = 1e-5, *, save_mean=None, save_invstd=None, out=None):
    """(grad_input, grad_weight, grad_bias) of batch_norm.

    training: through the batch statistics (from save_mean / save_invstd, or recomputed from x);
    otherwise through the running statistics, which act as constants. grad_weight is
    sum(grad_out * x_hat) and grad_bias sum(grad_out) per channel.
    """
    be = backend_of(grad_out=grad_out, x=x, weight=weight, running_mean=running_mean, running_var=running_var,
                    save_mean=save_mean, save_invstd=save_invstd, out=out)
    grad_out = be.operand(grad_out, "grad_out")
    x = be.operand(x, "x", grad_out)
    if x.shape != grad_out.shape:
        raise ValueError(f"x: expected the shape of grad_out {grad_out.shape}, got {x.shape}")
    N, C, L = _nlc(x.shape, "x")
    weight = _channel(be, weight, C, "weight", x)
    eps = as_float_param(eps, "eps")
    if x.size == 0:  # an empty batch: no input gradient, zero parameter gradients (as PyTorch)
        return be.out(out, x.shape, x, inputs=(grad_out, x)), _zeros(be, C, x), _zeros(be, C, x)
    if training:
        if save_mean is None or save_invstd is None:
            if N * L <= 1:
                raise ValueError(f"x: expected more than 1 value per channel when training, got shape {x.shape}")
            save_mean, save_invstd = be.empty((C,), x), be.empty((C,), x)
            be.ops.batch_norm_stats(be.raw(save_mean), be.raw(save_invstd), be.raw(x), N, C, L, eps)
        mean = _channel(be, save_mean, C, "save_mean", x)
        invstd = _channel(be, save_invstd, C, "save_invstd", x)
    else:
        running_mean = _channel(be, running_mean, C, "running_mean", x)
        running_var = _channel(be, running_var, C, "running_var", x)
        if running_mean is None or running_var is None:
            raise ValueError("running_mean, running_var: required when training is False")
        mean = running_mean
        # C floats, computed in float64 on the host as on the CPU path (a copy of C floats each way on a GPU)
        var = be.to_host(running_var).astype(np.float64)
        invstd = be.from_host((1.0 / np.sqrt(var + eps)).astype(np.float32), x)
    out = be.out(out, x.shape, x, inputs=(grad_out, x))
    grad_weight, grad_bias = be.empty((C,), x), be.empty((C,), x)
    be.ops.batch_norm_backward(be.raw(out), be.raw(grad_weight), be.raw(grad_bias), be.raw(grad_out), be.raw(x),
                               _raw(be, weight), be.raw(mean), be.raw(invstd), N, C, L, bool(training))
    return out, grad_weight, grad_bias
