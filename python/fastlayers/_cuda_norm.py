"""Device paths of the norm family: what fastlayers.functional.norm runs when its inputs live
on a GPU. Same arguments, rules and error messages as the CPU paths, on fastlayers.cuda.Array;
running_mean / running_var must be float32 device Arrays (updated in place). Kernels:
csrc/cuda/norm.cu, unverified on a GPU at the time of writing.
"""
from __future__ import annotations

import numpy as np

from . import _core
from ._backend.host import as_float_param
from ._backend.device import Array, _check_out, _operand, _require, empty, to_device


def _n():
    from .functional import norm  # imported late: functional.norm imports this module
    return norm


def _channel(a, C: int, name: str, device: int, writable: bool = False):
    if a is None:
        return None
    arr = _operand(a, name, device, out=writable)
    if arr.shape != (C,):
        raise ValueError(f"{name}: expected shape ({C},) for an input of {C} channels, got {arr.shape}")
    return arr


def _mem(a):
    return None if a is None else a._mem


def batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, return_stats, out):
    _require()
    x = _operand(x, "input")
    dev = x.device
    N, C, L = _n()._nlc(x.shape)
    running_mean = _channel(running_mean, C, "running_mean", dev, writable=True)
    running_var = _channel(running_var, C, "running_var", dev, writable=True)
    weight = _channel(weight, C, "weight", dev)
    bias = _channel(bias, C, "bias", dev)
    momentum = as_float_param(momentum, "momentum")
    eps = as_float_param(eps, "eps")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("running_mean, running_var: required when training is False")
    if training and N * L <= 1:
        raise ValueError(f"input: expected more than 1 value per channel when training, got input shape {x.shape}")
    out = _check_out(out, x.shape, dev, inputs=(x,))
    mean, invstd = empty((C,), dev), empty((C,), dev)
    _core.cuda_batch_norm_forward(out._mem, mean._mem, invstd._mem, _mem(running_mean), _mem(running_var), x._mem,
                                  _mem(weight), _mem(bias), N, C, L, bool(training), momentum, eps)
    return (out, mean, invstd) if return_stats else out


def batch_norm_backward(grad_out, x, weight, running_mean, running_var, training, eps, save_mean, save_invstd,
                        out) -> tuple[Array, Array, Array]:
    _require()
    grad_out = _operand(grad_out, "grad_out")
    dev = grad_out.device
    x = _operand(x, "x", dev)
    if x.shape != grad_out.shape:
        raise ValueError(f"x: expected the shape of grad_out {grad_out.shape}, got {x.shape}")
    N, C, L = _n()._nlc(x.shape, "x")
    weight = _channel(weight, C, "weight", dev)
    eps = as_float_param(eps, "eps")
    if training:
        if save_mean is None or save_invstd is None:
            if N * L <= 1:
                raise ValueError(f"x: expected more than 1 value per channel when training, got shape {x.shape}")
            save_mean, save_invstd = empty((C,), dev), empty((C,), dev)
            _core.cuda_batch_norm_stats(save_mean._mem, save_invstd._mem, x._mem, N, C, L, eps)
        mean = _channel(save_mean, C, "save_mean", dev)
        invstd = _channel(save_invstd, C, "save_invstd", dev)
    else:
        running_mean = _channel(running_mean, C, "running_mean", dev)
        running_var = _channel(running_var, C, "running_var", dev)
        if running_mean is None or running_var is None:
            raise ValueError("running_mean, running_var: required when training is False")
        mean = running_mean
        # C floats: computed on the host exactly as the CPU path does, then copied back
        invstd = to_device((1.0 / np.sqrt(running_var.numpy().astype(np.float64) + eps)).astype(np.float32), dev)
    out = _check_out(out, x.shape, dev, inputs=(grad_out, x))
    grad_weight, grad_bias = empty((C,), dev), empty((C,), dev)
    _core.cuda_batch_norm_backward(out._mem, grad_weight._mem, grad_bias._mem, grad_out._mem, x._mem, _mem(weight),
                                   mean._mem, invstd._mem, N, C, L, bool(training))
    return out, grad_weight, grad_bias
