"""LayerNorm: torch.nn.LayerNorm's constructor (normalized_shape, eps=1e-5, elementwise_affine=True,
bias=True), parameters (weight ones, bias zeros, of normalized_shape) and state_dict, on the fused
functional.layer_norm. Training mode caches the input and the row statistics (mean, rstd), so
backward does not recompute them; backward accumulates weight.grad and bias.grad."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .module import Module, Parameter, factory_device


def _shape_tuple(normalized_shape) -> tuple:
    if isinstance(normalized_shape, (int, np.integer)) and not isinstance(normalized_shape, bool):
        normalized_shape = (normalized_shape,)
    try:
        if isinstance(normalized_shape, (str, bytes)):
            raise TypeError
        shape = tuple(normalized_shape)
        # (not int(d): that truncates 5.5 and raises OverflowError on inf)
        if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in shape):
            raise TypeError
    except TypeError:
        raise TypeError(f"normalized_shape: expected an int or a tuple of ints, got {normalized_shape!r}") from None
    shape = tuple(int(d) for d in shape)
    if not shape or any(d < 1 for d in shape):
        raise ValueError(f"normalized_shape: expected a non-empty shape of positive sizes, got {shape}")
    return shape


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        dev = factory_device(device, dtype)
        super().__init__()
        self.normalized_shape = _shape_tuple(normalized_shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        ns = self.normalized_shape
        self.weight = Parameter(np.ones(ns, np.float32)) if self.elementwise_affine else None
        self.bias = Parameter(np.zeros(ns, np.float32)) if self.elementwise_affine and bias else None
        self._cache = None
        self._placed(dev)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            self.weight.data[...] = 1.0
        if self.bias is not None:
            self.bias.data[...] = 0.0

    def forward(self, x):
        w = None if self.weight is None else self.weight.data
        b = None if self.bias is None else self.bias.data
        if not self.training:
            return F.layer_norm(x, self.normalized_shape, w, b, self.eps)
        y, mean, rstd = F.layer_norm(x, self.normalized_shape, w, b, self.eps, return_stats=True)
        self._cache = (x, mean, rstd)
        return y

    def backward(self, grad_out):
        x, mean, rstd = self._saved(self._cache)
        w = None if self.weight is None else self.weight.data
        dx, dw, db = F.layer_norm_backward(grad_out, x, self.normalized_shape, w, self.eps, save_mean=mean,
                                           save_rstd=rstd)
        if self.weight is not None:
            self.weight.accumulate(dw)
        if self.bias is not None:
            self.bias.accumulate(db)
        return dx

    def clear_cache(self) -> None:
        self._cache = None

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
