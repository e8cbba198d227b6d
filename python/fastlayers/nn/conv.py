"""Convolution layers: Conv1d, Conv2d, ConvTranspose2d, with PyTorch's weight layouts,
initialisation and state_dict keys (weight, bias).

Conv1d / Conv2d weights are (out_channels, in_channels/groups, *kernel); ConvTranspose2d's
(in_channels, out_channels/groups, kH, kW). In training mode forward caches its input;
backward(dy) accumulates weight.grad and bias.grad and returns dL/dinput
(need_input_grad=False skips that one, for a first layer fed with data).
Conv1d / Conv2d take padding_mode 'zeros' (default), 'reflect', 'replicate' or 'circular', as
PyTorch: the input is padded by functional.pad (PyTorch's reversed padding, repeated twice; for
padding='same' the extra position of an even window goes at the end), then convolved with
padding 0; the backward returns the padded input's gradient through pad_backward.
"""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .._backend import operand
from . import init
from .module import Module, Parameter, factory_device


def _channels(n, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name}: expected a positive integer, got {n!r}")
    return int(n)


def _ntuple(v, n: int, name: str) -> tuple:
    t = (v,) * n if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else tuple(v)
    if len(t) != n or any(isinstance(e, bool) or not isinstance(e, (int, np.integer)) for e in t):
        raise ValueError(f"{name}: expected an int or a tuple of {n} ints, got {v!r}")
    return tuple(int(e) for e in t)


class _ConvNd(Module):
    """Shared parameters and backward of the convolution layers; subclasses name the
    functional ops (self._fn_*) and the weight's leading dimensions."""

    _skips_input_grad = True

    def _init_conv(self, in_channels, out_channels, kernel_size, dims, groups, bias, transposed):
        self.in_channels = _channels(in_channels, "in_channels")
        self.out_channels = _channels(out_channels, "out_channels")
        self.groups = _channels(groups, "groups")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"groups: in_channels {self.in_channels} and out_channels {self.out_channels} must "
                             f"both be divisible by groups={self.groups}")
        self.kernel_size = _ntuple(kernel_size, dims, "kernel_size")
        lead = ((self.in_channels, self.out_channels // self.groups) if transposed
                else (self.out_channels, self.in_channels // self.groups))
        self.weight = Parameter(np.empty(lead + self.kernel_size, np.float32))
        self.bias = Parameter(np.empty(self.out_channels, np.float32)) if bias else None
        self.reset_parameters()
        self._x = None

    def reset_parameters(self) -> None:
        """As torch.nn.ConvNd: kaiming_uniform(a=sqrt(5)) weights, bias U(+-1/sqrt(fan_in))."""
        init.kaiming_uniform_(self.weight.data, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.fan_in_out(self.weight.data.shape)
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias.data, -bound, bound)

    def _bias(self):
        return None if self.bias is None else self.bias.data

    def _padding_mode(self, padding_mode: str, dims: int) -> None:
        """padding_mode, and for a mode other than 'zeros' the functional.pad tuple it applies (the
        convolution itself then pads nothing)."""
        modes = ("zeros", "reflect", "replicate", "circular")
        if padding_mode not in modes:
            raise ValueError(f"padding_mode: expected one of {modes}, got {padding_mode!r}")
        self.padding_mode, self._pad = padding_mode, None
        self._conv_padding = self.padding
        if padding_mode == "zeros":
            return
        if self.padding == "valid":
            pairs = [(0, 0)] * dims
        elif self.padding == "same":
            total = [d * (k - 1) for d, k in zip(_ntuple(self.dilation, dims, "dilation"), self.kernel_size)]
            pairs = [(t // 2, t - t // 2) for t in total]
        else:
            pairs = [(p, p) for p in _ntuple(self.padding, dims, "padding")]
        self._pad = tuple(v for pair in reversed(pairs) for v in pair)
        self._conv_padding = 0

    def forward(self, x):
        x = operand(x, "input")
        if self._pad is not None:
            x_shape, x = x.shape, F.pad(x, self._pad, self.padding_mode)
        y = self._forward(x)
        if self.training:
            self._x = x
            self._x_shape = x_shape if self._pad is not None else None
        return y

    def backward(self, grad_out, need_input_grad: bool = True):
        x = self._take("_x")
        w = self.weight.data
        self.weight.accumulate(self._grad_weight(grad_out, x, w.shape))
        if self.bias is not None:
            self.bias.accumulate(self._grad_bias(grad_out))
        if not need_input_grad:
            return None
        dx = self._grad_input(grad_out, w, x.shape)
        return dx if self._pad is None else F.pad_backward(dx, self._x_shape, self._pad, self.padding_mode)

    def clear_cache(self) -> None:
        self._x = self._x_shape = None

    def extra_repr(self) -> str:
        mode = "" if self.padding_mode == "zeros" else f", padding_mode={self.padding_mode!r}"
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, groups={self.groups}, bias={self.bias is not None}{mode}")


class Conv2d(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        dev = factory_device(device, dtype)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self._init_conv(in_channels, out_channels, kernel_size, 2, groups, bias, False)
        self._padding_mode(padding_mode, 2)
        self._placed(dev)

    def _args(self):
        return self.stride, self._conv_padding, self.dilation, self.groups

    def _forward(self, x):
        return F.conv2d(x, self.weight.data, self._bias(), *self._args())

    def _grad_weight(self, g, x, shape):
        return F.conv2d_backward_weight(g, x, shape, *self._args())

    def _grad_bias(self, g):
        return F.conv2d_backward_bias(g)

    def _grad_input(self, g, w, shape):
        return F.conv2d_backward_input(g, w, shape, *self._args())


class Conv1d(Conv2d):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        Module.__init__(self)
        dev = factory_device(device, dtype)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self._init_conv(in_channels, out_channels, kernel_size, 1, groups, bias, False)
        self._padding_mode(padding_mode, 1)
        self._placed(dev)

    def _forward(self, x):
        return F.conv1d(x, self.weight.data, self._bias(), *self._args())

    def _grad_weight(self, g, x, shape):
        return F.conv1d_backward_weight(g, x, shape, *self._args())

    def _grad_bias(self, g):
        return F.conv1d_backward_bias(g)

    def _grad_input(self, g, w, shape):
        return F.conv1d_backward_input(g, w, shape, *self._args())


class ConvTranspose2d(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None):
        super().__init__()
        dev = factory_device(device, dtype)
        if padding_mode != "zeros":
            raise ValueError(f"padding_mode: only 'zeros' is supported for ConvTranspose2d, got {padding_mode!r}")
        self.stride, self.padding, self.output_padding, self.dilation = stride, padding, output_padding, dilation
        self._init_conv(in_channels, out_channels, kernel_size, 2, groups, bias, True)
        self.padding_mode, self._pad = "zeros", None
        self._placed(dev)

    def _args(self):
        return self.stride, self.padding, self.output_padding, self.groups, self.dilation

    def _forward(self, x):
        return F.conv_transpose2d(x, self.weight.data, self._bias(), *self._args())

    def _grad_weight(self, g, x, shape):
        return F.conv_transpose2d_backward_weight(g, x, shape, *self._args())

    def _grad_bias(self, g):
        return F.conv2d_backward_bias(g)

    def _grad_input(self, g, w, shape):
        return F.conv_transpose2d_backward_input(g, w, shape, *self._args())
