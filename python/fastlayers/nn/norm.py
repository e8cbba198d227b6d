"""Batch normalisation layers: BatchNorm1d ((N, C) or (N, C, L)) and BatchNorm2d
((N, C, H, W)), with PyTorch's parameters (weight, bias) and buffers (running_mean,
running_var, num_batches_tracked), so a PyTorch state_dict loads as is.

Training mode normalises with the batch statistics, updates the running ones (momentum, or
a cumulative average when momentum is None) and caches what backward needs; eval mode uses
the running statistics (or the batch's when track_running_stats is False).
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .._backend import operand
from .module import Module, Parameter, factory_device


class _BatchNorm(Module):
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
        w = None if self.weight is None else self.weight.data
        b = None if self.bias is None else self.bias.data
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
        w = None if self.weight is None else self.weight.data
        dx, dw, db = F.batch_norm_backward(grad_out, x, w, training=True, eps=self.eps, save_mean=mean,
                                           save_invstd=invstd)
        if self.weight is not None:
            self.weight.accumulate(dw)
            self.bias.accumulate(db)
        return dx

    def clear_cache(self) -> None:
        self._cache = None

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    _ranks = (4,)
