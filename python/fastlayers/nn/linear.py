"""Linear and Maxout layers (weights (out, in) as PyTorch), on the fused GEMM of
functional.linear: bias and, inside Sequential, a following ReLU / LeakyReLU / Sigmoid /
Tanh are applied while the output tile is in cache (see Sequential.forward)."""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .._backend import backend_of
from .._backend.device import Array, is_gpu
from . import init
from .module import Module, Parameter, factory_device


def _features(n, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"{name}: expected a non-negative integer, got {n!r}")
    return int(n)


def _accumulable(grad, data) -> bool:
    """Whether a parameter's gradient can take linear_backward's sums in place."""
    if is_gpu(data):
        return (isinstance(grad, Array) and grad.dtype == np.float32 and grad.shape == data.shape
                and grad.device == data.device and grad.data_ptr != data.data_ptr)
    return (isinstance(grad, np.ndarray) and grad.dtype == np.float32 and grad.flags.c_contiguous
            and grad.flags.writeable and grad.shape == data.shape and not np.may_share_memory(grad, data))


class _Affine(Module):
    """Holds weight (rows, in_features) and bias (rows,), initialised as torch.nn.Linear."""

    _skips_input_grad = True

    def _init_affine(self, in_features: int, rows: int, bias: bool) -> None:
        self.weight = Parameter(np.empty((rows, in_features), np.float32))
        self.bias = Parameter(np.empty(rows, np.float32)) if bias else None
        self.reset_parameters()
        self._x = None

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight.data, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.data.shape[1]
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias.data, -bound, bound)

    def _input(self, x):
        """x on the weight's device (TypeError when they differ), float32, of shape (..., in)."""
        be = backend_of(input=x, weight=self.weight.data)
        x = be.operand(x, "input", self.weight.data)
        k = self.weight.data.shape[1]
        if x.ndim < 1 or x.shape[-1] != k:
            raise ValueError(f"{type(self).__name__}: expected input of shape (..., {k}) (in_features={k}), "
                             f"got {x.shape}")
        return x

    def _affine(self, x, activation=None):
        b = None if self.bias is None else self.bias.data
        return F.linear(x, self.weight.data, b, activation)

    def _affine_backward(self, grad_z, x, need_input_grad: bool = True):
        # Into existing gradients in place (the weight GEMM with beta = 1), else fresh ones.
        w, b = self.weight, self.bias
        into_w = w.grad if _accumulable(w.grad, w.data) else None
        into_b = b.grad if b is not None and _accumulable(b.grad, b.data) else None
        gx, gw, gb = F.linear_backward(grad_z, x, w.data, need_bias=b is not None, need_input=need_input_grad,
                                       grad_weight=into_w, grad_bias=into_b)
        if into_w is None:
            w.accumulate(gw)
        if b is not None and into_b is None:
            b.accumulate(gb)
        return gx

    def clear_cache(self) -> None:
        self._x = None


class Linear(_Affine):
    """y = x @ weight.T + bias; weight (out_features, in_features), bias (out_features,)."""

    _accepts_activation = True

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        dev = factory_device(device, dtype)
        self.in_features = _features(in_features, "in_features")
        self.out_features = _features(out_features, "out_features")
        self._init_affine(self.in_features, self.out_features, bias)
        self._placed(dev)

    def forward(self, x, activation=None):
        """``activation`` (a functional.linear activation spec) is applied in the same pass;
        Sequential passes it when an activation module follows, which then backs it out."""
        x = self._input(x)
        y = self._affine(x, activation)
        if self.training:
            self._x = x
        return y

    def backward(self, grad_out, need_input_grad: bool = True):
        """dL/dx (None with need_input_grad=False, which skips computing it)."""
        return self._affine_backward(grad_out, self._take("_x"), need_input_grad)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Maxout(_Affine):
    """Maxout unit (Goodfellow et al.): y_c = max_k (w_{c,k}^T x + b_{c,k}), k < pieces.

    weight is (out_features * pieces, in_features): rows c * pieces .. c * pieces + pieces - 1
    are the pieces of output c (pieces = 2 is the course's max(w1^T x + b1, w2^T x + b2)).
    """

    def __init__(self, in_features: int, out_features: int, pieces: int = 2, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        dev = factory_device(device, dtype)
        self.in_features = _features(in_features, "in_features")
        self.out_features = _features(out_features, "out_features")
        if isinstance(pieces, bool) or not isinstance(pieces, (int, np.integer)) or pieces < 1:
            raise ValueError(f"pieces: expected a positive integer, got {pieces!r}")
        self.pieces = int(pieces)
        self._init_affine(self.in_features, self.out_features * self.pieces, bias)
        self._z = None
        self._placed(dev)

    def forward(self, x):
        x = self._input(x)
        z = self._affine(x)
        if self.training:
            self._x, self._z = x, z
        return F.maxout(z, self.pieces, axis=-1)

    def backward(self, grad_out, need_input_grad: bool = True):
        z, x = self._take("_z", "output"), self._take("_x")
        gz = F.maxout_backward(grad_out, z, self.pieces, axis=-1)
        return self._affine_backward(gz, x, need_input_grad)

    def clear_cache(self) -> None:
        self._x = self._z = None

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}, "
                f"bias={self.bias is not None}")
