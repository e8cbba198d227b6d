"""The norm family: batch_norm, group_norm, instance_norm and their backwards, as
torch.nn.functional's.

batch_norm: inputs (N, C), (N, C, L) or (N, C, H, W); statistics are per channel (axis 1) over
all other axes. In training, the batch mean and biased variance normalise the input and the
running statistics (float32 arrays of C, when given) are updated in place:
``running = (1 - momentum) * running + momentum * batch`` with the unbiased variance, as
PyTorch does. In eval mode the running statistics normalise. Edge shapes as PyTorch: an empty
batch gives an empty result and leaves the running statistics as they are (training included),
an empty 1-D input an empty result.

group_norm: statistics per sample over each group of C / num_groups channels; instance_norm:
per sample and channel (group_norm with a group per channel), with optional running statistics.

The backwards take the forward's input and recompute the statistics (one read of x), unless
the forward's ``return_stats=True`` output (mean, invstd) is passed back in.
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


# ---- group norm and instance norm (its one-channel-per-group case) ----

def _group_shape(shape: tuple, num_groups, name: str = "input") -> tuple[int, int, int, int]:
    if len(shape) < 2:
        raise ValueError(f"{name}: expected (N, C, *), got shape {tuple(shape)}")
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)):
        raise TypeError(f"num_groups: expected an integer, got {type(num_groups).__name__}")
    N, C, L = int(shape[0]), int(shape[1]), int(np.prod(shape[2:], dtype=np.int64))
    if num_groups < 1 or C % num_groups:
        raise ValueError(f"num_groups: expected a positive divisor of the channel count {C}, got {num_groups}")
    return N, C, int(num_groups), L


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5, *, return_stats: bool = False,
               out=None):
    """weight[c] * (x - mean) / sqrt(var + eps) + bias[c], the statistics of each sample over each
    group of C / num_groups channels (and all positions), as torch.nn.functional.group_norm.

    With return_stats, returns (y, mean, invstd): the (N * num_groups,) group statistics, for
    group_norm_backward."""
    be = backend_of(input=input, weight=weight, bias=bias, out=out)
    x = be.operand(input, "input")
    N, C, G, L = _group_shape(x.shape, num_groups)
    weight = _channel(be, weight, C, "weight", x)
    bias = _channel(be, bias, C, "bias", x)
    eps = as_float_param(eps, "eps")
    out = be.out(out, x.shape, x, inputs=(x,))
    mean, invstd = _group_stats(be, x, None, weight, bias, (N, C, G, L), eps, out)
    return (out, mean, invstd) if return_stats else out


def _group_stats(be, x, var, weight, bias, shape, eps, out):
    """Runs the group-norm forward into out; returns the (N G,) mean and invstd (var: an optional
    (N G,) array receiving the biased variance)."""
    N, C, G, L = shape
    mean, invstd = be.empty((N * G,), x), be.empty((N * G,), x)
    if x.size == 0:
        return _zeros(be, N * G, x), _zeros(be, N * G, x)
    be.ops.group_norm_forward(be.raw(out), be.raw(mean), be.raw(invstd), _raw(be, var), be.raw(x), _raw(be, weight),
                              _raw(be, bias), N, C, G, L, eps)
    return mean, invstd


def _group_backward(be, grad_out, x, weight, shape, eps, save_mean, save_invstd, out):
    N, C, G, L = shape
    if save_mean is None or save_invstd is None:  # the statistics again, from x
        save_mean, save_invstd = _group_stats(be, x, None, None, None, shape, eps, be.empty(x.shape, x))
    else:
        save_mean = be.operand(save_mean, "save_mean", x)
        save_invstd = be.operand(save_invstd, "save_invstd", x)
        if save_mean.size != N * G or save_invstd.size != N * G:
            raise ValueError(f"save_mean, save_invstd: expected {N * G} values (N * groups), got {save_mean.shape} "
                             f"and {save_invstd.shape}")
    out = be.out(out, x.shape, x, inputs=(grad_out, x))
    grad_weight, grad_bias = _zeros(be, C, x), _zeros(be, C, x)
    if x.size:
        be.ops.group_norm_backward(be.raw(out), be.raw(grad_weight), be.raw(grad_bias), be.raw(grad_out), be.raw(x),
                                   _raw(be, weight), be.raw(save_mean), be.raw(save_invstd), N, C, G, L)
    return out, grad_weight, grad_bias


def group_norm_backward(grad_out, x, num_groups: int, weight=None, eps: float = 1e-5, *, save_mean=None,
                        save_invstd=None, out=None):
    """(grad_input, grad_weight, grad_bias) of group_norm, through the group statistics (from
    save_mean / save_invstd, the forward's return_stats, or recomputed from x)."""
    be = backend_of(grad_out=grad_out, x=x, weight=weight, save_mean=save_mean, save_invstd=save_invstd, out=out)
    grad_out = be.operand(grad_out, "grad_out")
    x = be.operand(x, "x", grad_out)
    if x.shape != grad_out.shape:
        raise ValueError(f"x: expected the shape of grad_out {grad_out.shape}, got {x.shape}")
    shape = _group_shape(x.shape, num_groups, "x")
    weight = _channel(be, weight, shape[1], "weight", x)
    return _group_backward(be, grad_out, x, weight, shape, as_float_param(eps, "eps"), save_mean, save_invstd, out)


def _instance_shape(shape: tuple, name: str = "input"):
    """group_norm's shape with a group per channel (one group when there are no channels)."""
    return _group_shape(shape, int(shape[1]) or 1 if len(shape) >= 2 else 1, name)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5, *, return_stats: bool = False, out=None):
    """Each sample and channel normalised over its positions (group_norm with one channel per
    group), as torch.nn.functional.instance_norm. use_input_stats: those statistics, and the
    running ones (when given) updated in place with the mean over the batch of each sample's
    (unbiased variance); otherwise the running statistics normalise (as batch_norm in eval).

    With return_stats, returns (y, mean, invstd): (N * C,) statistics for instance_norm_backward
    (the running statistics' when use_input_stats is False, (C,) each)."""
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps,
                          return_stats=return_stats, out=out)
    be = backend_of(input=input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias, out=out)
    x = be.operand(input, "input")
    N, C, _, L = shape = _instance_shape(x.shape)
    if L == 1:
        raise ValueError(f"input: expected more than 1 spatial element when training, got input shape {x.shape}")
    running_mean = _channel(be, running_mean, C, "running_mean", x, writable=True)
    running_var = _channel(be, running_var, C, "running_var", x, writable=True)
    weight = _channel(be, weight, C, "weight", x)
    bias = _channel(be, bias, C, "bias", x)
    momentum, eps = as_float_param(momentum, "momentum"), as_float_param(eps, "eps")
    out = be.out(out, x.shape, x, inputs=(x,))
    track = running_mean is not None or running_var is not None
    var = be.empty((N * C,), x) if track and x.size else None
    mean, invstd = _group_stats(be, x, var, weight, bias, shape, eps, out)
    if var is not None:
        be.ops.group_norm_update_running(_raw(be, running_mean), _raw(be, running_var), be.raw(mean), be.raw(var),
                                         N, C, C, L, momentum)
    return (out, mean, invstd) if return_stats else out


def instance_norm_backward(grad_out, x, weight=None, running_mean=None, running_var=None,
                           use_input_stats: bool = True, eps: float = 1e-5, *, save_mean=None, save_invstd=None,
                           out=None):
    """(grad_input, grad_weight, grad_bias) of instance_norm: through each sample's statistics
    (use_input_stats), or with the running statistics as constants (batch_norm_backward in eval)."""
    if not use_input_stats:
        return batch_norm_backward(grad_out, x, weight, running_mean, running_var, False, eps, out=out)
    be = backend_of(grad_out=grad_out, x=x, weight=weight, save_mean=save_mean, save_invstd=save_invstd, out=out)
    grad_out = be.operand(grad_out, "grad_out")
    x = be.operand(x, "x", grad_out)
    if x.shape != grad_out.shape:
        raise ValueError(f"x: expected the shape of grad_out {grad_out.shape}, got {x.shape}")
    shape = _instance_shape(x.shape, "x")
    weight = _channel(be, weight, shape[1], "weight", x)
    return _group_backward(be, grad_out, x, weight, shape, as_float_param(eps, "eps"), save_mean, save_invstd, out)
