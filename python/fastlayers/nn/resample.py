"""Resampling layers: Upsample (UpsamplingNearest2d, UpsamplingBilinear2d) and the padding
layers ReflectionPad1d/2d, ReplicationPad1d/2d, CircularPad1d/2d, ZeroPad1d/2d, ConstantPad1d/2d,
with torch.nn's constructors. No parameters, no state_dict entries; training mode caches the
input's shape, which the backward needs."""
from __future__ import annotations

import numbers

from .. import functional as F
from .._backend import operand
from .module import Module


class Upsample(Module):
    """functional.interpolate as a layer: size or scale_factor, mode 'nearest' (default),
    'nearest-exact', 'linear' or 'bilinear', align_corners, recompute_scale_factor."""

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size, self.mode, self.align_corners = size, mode, align_corners
        self.scale_factor = tuple(float(v) for v in scale_factor) if isinstance(scale_factor, (tuple, list)) \
            else (float(scale_factor) if scale_factor is not None else None)
        self.recompute_scale_factor = recompute_scale_factor
        self._shape = None

    def _args(self):
        return self.size, self.scale_factor, self.mode, self.align_corners, self.recompute_scale_factor

    def forward(self, x):
        x = operand(x, "input")
        y = F.interpolate(x, *self._args())
        if self.training:
            self._shape = x.shape
        return y

    def backward(self, grad_out):
        return F.interpolate_backward(grad_out, self._take("_shape", "input shape"), *self._args())

    def clear_cache(self) -> None:
        self._shape = None

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, "nearest")


class UpsamplingBilinear2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, "bilinear", align_corners=True)


class _Pad(Module):
    _dims = 2
    _mode = "constant"

    def __init__(self, padding, value: float = 0.0):
        super().__init__()
        n = 2 * self._dims
        if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
            padding = (int(padding),) * n
        padding = tuple(padding)
        if len(padding) != n or any(isinstance(p, bool) or not isinstance(p, numbers.Integral) for p in padding):
            raise ValueError(f"padding: expected an int or a tuple of {n} ints, got {padding!r}")
        self.padding, self.value = tuple(int(p) for p in padding), float(value)
        self._shape = None

    def forward(self, x):
        x = operand(x, "input")
        y = F.pad(x, self.padding, self._mode, self.value if self._mode == "constant" else None)
        if self.training:
            self._shape = x.shape
        return y

    def backward(self, grad_out):
        return F.pad_backward(grad_out, self._take("_shape", "input shape"), self.padding, self._mode)

    def clear_cache(self) -> None:
        self._shape = None

    def extra_repr(self) -> str:
        return f"{self.padding}" + (f", value={self.value}" if self._mode == "constant" else "")


class ReflectionPad1d(_Pad):
    _dims, _mode = 1, "reflect"


class ReflectionPad2d(_Pad):
    _dims, _mode = 2, "reflect"


class ReplicationPad1d(_Pad):
    _dims, _mode = 1, "replicate"


class ReplicationPad2d(_Pad):
    _dims, _mode = 2, "replicate"


class CircularPad1d(_Pad):
    _dims, _mode = 1, "circular"


class CircularPad2d(_Pad):
    _dims, _mode = 2, "circular"


class ConstantPad1d(_Pad):
    _dims = 1


class ConstantPad2d(_Pad):
    _dims = 2


class ZeroPad1d(_Pad):
    _dims = 1

    def __init__(self, padding):
        super().__init__(padding, 0.0)


class ZeroPad2d(_Pad):
    _dims = 2

    def __init__(self, padding):
        super().__init__(padding, 0.0)
