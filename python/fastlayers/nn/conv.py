"""Convolution layers: Conv1d, Conv2d, ConvTranspose2d, with PyTorch's weight layouts,
initialisation and state_dict keys (weight, bias).

Conv1d / Conv2d weights are (out_channels, in_channels/groups, *kernel); ConvTranspose2d's
(in_channels, out_channels/groups, kH, kW). In training mode forward caches its input;
backward(dy) accumulates weight.grad and bias.grad and returns dL/dinput
(need_input_grad=False skips that one, for a first layer fed with data).
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

    def forward(self, x):
        y = self._forward(x)
        if self.training:
            self._x = operand(x, "input")
        return y

    def backward(self, grad_out, need_input_grad: bool = True):
        x = self._take("_x")
        w = self.weight.data
        self.weight.accumulate(self._grad_weight(grad_out, x, w.shape))
        if self.bias is not None:
            self.bias.accumulate(self._grad_bias(grad_out))
        return self._grad_input(grad_out, w, x.shape) if need_input_grad else None

    def clear_cache(self) -> None:
        self._x = None

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, groups={self.groups}, bias={self.bias is not None}")


class Conv2d(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        dev = factory_device(device, dtype)
        if padding_mode != "zeros":
            raise ValueError(f"padding_mode: only 'zeros' is supported, got {padding_mode!r}")
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self._init_conv(in_channels, out_channels, kernel_size, 2, groups, bias, False)
        self._placed(dev)

    def _args(self):
        return self.stride, self.padding, self.dilation, self.groups

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
        if padding_mode != "zeros":
            raise ValueError(f"padding_mode: only 'zeros' is supported, got {padding_mode!r}")
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self._init_conv(in_channels, out_channels, kernel_size, 1, groups, bias, False)
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
