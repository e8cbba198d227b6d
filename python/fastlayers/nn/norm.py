"""Normalisation layers: BatchNorm1d ((N, C) or (N, C, L)) and BatchNorm2d ((N, C, H, W)),
InstanceNorm1d / InstanceNorm2d and GroupNorm, with PyTorch's parameters (weight, bias) and
buffers (running_mean, running_var, num_batches_tracked), so a PyTorch state_dict loads as is.

Training mode normalises with the batch statistics, updates the running ones (momentum, or
a cumulative average when momentum is None) and caches what backward needs; eval mode uses
the running statistics (or the batch's when track_running_stats is False).
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .._backend import operand
from .module import Module, Parameter, factory_device


class _Norm(Module):
    """What the norm layers share: their optional affine parameters and the cache of (input,
    statistics)."""

    def _affine(self):
        return (None if self.weight is None else self.weight.data), (None if self.bias is None else self.bias.data)

    def _accumulate(self, dx, dw, db):
        if self.weight is not None:
            self.weight.accumulate(dw)
            self.bias.accumulate(db)
        return dx

    def clear_cache(self) -> None:
        self._cache = None


class _BatchNorm(_Norm):
    _ranks: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None):
        super().__init__()
        dev = factory_device(device, dtype)
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"num_features: expected a positive integer, got {num_features!r}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        C = self.num_features
        self.weight = Parameter(np.ones(C, np.float32)) if affine else None
        self.bias = Parameter(np.zeros(C, np.float32)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(C, np.float32))
            self.register_buffer("running_var", np.ones(C, np.float32))
            # 0-d as PyTorch's; set in the registry directly because register_buffer's
            # np.ascontiguousarray would make it 1-d, and updated in place (never reassigned)
            self.register_buffer("num_batches_tracked", None)
            self._buffers["num_batches_tracked"] = np.zeros((), np.int64)
            object.__setattr__(self, "num_batches_tracked", self._buffers["num_batches_tracked"])
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None
        self._cache = None
        self._placed(dev)

    def _check(self, x):
        if x.ndim not in self._ranks or x.shape[1] != self.num_features:
            want = " or ".join(f"{r}-D" for r in self._ranks)
            raise ValueError(f"{type(self).__name__}: expected a {want} input with {self.num_features} channels "
                             f"on axis 1, got shape {x.shape}")

    def forward(self, x):
        x = operand(x, "input")
        self._check(x)
        w, b = self._affine()
        use_batch = self.training or not self.track_running_stats
        if not use_batch:
            return F.batch_norm(x, self.running_mean, self.running_var, w, b, False, 0.0, self.eps)
        momentum = 0.0
        if self.training and self.track_running_stats:
            count = self._buffers["num_batches_tracked"]
            count[...] += 1
            momentum = 1.0 / float(count) if self.momentum is None else float(self.momentum)
        track = self.training and self.track_running_stats
        y, mean, invstd = F.batch_norm(x, self.running_mean if track else None, self.running_var if track else None,
                                       w, b, True, momentum, self.eps, return_stats=True)
        if self.training:
            self._cache = (x, mean, invstd)
        return y

    def backward(self, grad_out):
        x, mean, invstd = self._take("_cache")
        return self._accumulate(*F.batch_norm_backward(grad_out, x, self._affine()[0], training=True, eps=self.eps,
                                                       save_mean=mean, save_invstd=invstd))

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    _ranks = (4,)


class _InstanceNorm(_BatchNorm):
    """Instance norm of batched (N, C, *spatial) or unbatched (C, *spatial) inputs; PyTorch's
    defaults: affine=False, track_running_stats=False. Each sample and channel is normalised over
    its positions in training (and always when no running statistics are tracked); in eval mode
    with track_running_stats the running statistics normalise."""

    _spatial = 2

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, x):
        x = operand(x, "input")
        d = self._spatial
        if x.ndim not in (d + 1, d + 2):
            raise ValueError(f"{type(self).__name__}: expected a {d + 1}-D (unbatched) or {d + 2}-D input, "
                             f"got shape {x.shape}")
        xb = x.reshape((1,) + x.shape) if x.ndim == d + 1 else x
        if self.affine and xb.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected input with {self.num_features} channels (dim "
                             f"{xb.ndim - d - 1}), got shape {x.shape}")
        use_input = self.training or not self.track_running_stats
        w, b = self._affine()
        momentum = 0.0 if self.momentum is None else float(self.momentum)
        y, mean, invstd = F.instance_norm(xb, self.running_mean, self.running_var, w, b, use_input, momentum,
                                          self.eps, return_stats=True)
        if self.training:
            self._cache = (xb, mean, invstd, use_input, x.shape)
        return y.reshape(x.shape)

    def backward(self, grad_out):
        xb, mean, invstd, use_input, shape = self._take("_cache")
        g = operand(grad_out, "grad_out").reshape(xb.shape)
        w = self._affine()[0]
        if use_input:
            dx, dw, db = F.instance_norm_backward(g, xb, w, save_mean=mean, save_invstd=invstd)
        else:
            dx, dw, db = F.batch_norm_backward(g, xb, w, self.running_mean, self.running_var, False, self.eps)
        return self._accumulate(dx, dw, db).reshape(shape)


class InstanceNorm1d(_InstanceNorm):
    _spatial = 1


class InstanceNorm2d(_InstanceNorm):
    _spatial = 2


class GroupNorm(_Norm):
    """Group norm over (N, C, *) inputs: weight (C,) and bias (C,) (affine=True), statistics per
    sample over num_groups groups of C / num_groups channels, as torch.nn.GroupNorm."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, device=None,
                 dtype=None):
        super().__init__()
        dev = factory_device(device, dtype)
        for name, v in (("num_groups", num_groups), ("num_channels", num_channels)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")
        if num_channels % num_groups:
            raise ValueError(f"num_channels: {num_channels} must be divisible by num_groups={num_groups}")
        self.num_groups, self.num_channels, self.eps, self.affine = int(num_groups), int(num_channels), float(eps), \
            bool(affine)
        self.weight = Parameter(np.ones(num_channels, np.float32)) if affine else None
        self.bias = Parameter(np.zeros(num_channels, np.float32)) if affine else None
        self._cache = None
        self._placed(dev)

    def forward(self, x):
        x = operand(x, "input")
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected an input (N, {self.num_channels}, *), got shape {x.shape}")
        y, mean, invstd = F.group_norm(x, self.num_groups, *self._affine(), self.eps, return_stats=True)
        if self.training:
            self._cache = (x, mean, invstd)
        return y

    def backward(self, grad_out):
        x, mean, invstd = self._take("_cache")
        return self._accumulate(*F.group_norm_backward(grad_out, x, self.num_groups, self._affine()[0], self.eps,
                                                       save_mean=mean, save_invstd=invstd))

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
