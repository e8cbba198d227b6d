"""Pooling layers: MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool2d (PyTorch's arguments).

Max pooling caches its indices in training mode and routes the gradient by them; average
pooling caches only the input shape. No parameters, no state_dict entries.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .._backend import operand
from .module import Module


class _MaxPool(Module):
    _fwd = _bwd = None

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.return_indices, self.ceil_mode = bool(return_indices), bool(ceil_mode)
        self._idx = self._shape = None

    def forward(self, x):
        x = operand(x, "input")
        keep = self.training or self.return_indices
        out = type(self)._fwd(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, keep)
        if not keep:
            return out
        y, idx = out
        if self.training:
            self._idx, self._shape = idx, x.shape
        return (y, idx) if self.return_indices else y

    def backward(self, grad_out):
        idx, shape = self._take("_idx", "indices"), self._shape
        return type(self)._bwd(grad_out, idx, shape)

    def clear_cache(self) -> None:
        self._idx = self._shape = None

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool2d(_MaxPool):
    _fwd = staticmethod(F.max_pool2d)
    _bwd = staticmethod(F.max_pool2d_backward)


class MaxPool1d(_MaxPool):
    _fwd = staticmethod(F.max_pool1d)
    _bwd = staticmethod(F.max_pool1d_backward)


class _AvgPool(Module):
    _fwd = _bwd = None

    def forward(self, x):
        x = operand(x, "input")
        y = type(self)._fwd(x, *self._args)
        if self.training:
            self._shape = x.shape
        return y

    def backward(self, grad_out):
        return type(self)._bwd(grad_out, self._take("_shape", "input shape"), *self._args)

    def clear_cache(self) -> None:
        self._shape = None

    def extra_repr(self) -> str:
        return f"kernel_size={self._args[0]}, stride={self._args[1]}, padding={self._args[2]}"


class AvgPool2d(_AvgPool):
    _fwd = staticmethod(F.avg_pool2d)
    _bwd = staticmethod(F.avg_pool2d_backward)

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override=None):
        super().__init__()
        self._args = (kernel_size, stride, padding, bool(ceil_mode), bool(count_include_pad), divisor_override)
        self._shape = None


class AvgPool1d(_AvgPool):
    _fwd = staticmethod(F.avg_pool1d)
    _bwd = staticmethod(F.avg_pool1d_backward)

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__()
        self._args = (kernel_size, stride, padding, bool(ceil_mode), bool(count_include_pad))
        self._shape = None


class AdaptiveAvgPool2d(Module):
    """output_size: an int, a pair, or a pair with None (keep that input size)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size
        self._shape = None

    def forward(self, x):
        x = operand(x, "input")
        y = F.adaptive_avg_pool2d(x, self.output_size)
        if self.training:
            self._shape = x.shape
        return y

    def backward(self, grad_out):
        return F.adaptive_avg_pool2d_backward(grad_out, self._take("_shape", "input shape"))

    def clear_cache(self) -> None:
        self._shape = None

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
