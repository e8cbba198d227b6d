"""Activation modules: Sigmoid, Tanh, ReLU, LeakyReLU, ELU, GELU, SiLU, Softmax, LogSoftmax.

Arguments and defaults are torch.nn's (LeakyReLU's negative_slope is 0.01, as PyTorch's and
functional.leaky_relu's). Each caches, in training mode, the tensor its backward needs: the
input for ReLU, LeakyReLU, ELU, GELU, SiLU; the output for Sigmoid, Tanh, Softmax, LogSoftmax.
``inplace=True`` (ReLU, LeakyReLU, ELU, SiLU) writes the result into the input and returns it; the
backward then works from the output where that carries the input's sign (ReLU, LeakyReLU with
a slope >= 0) and from a copy of the input otherwise. Modules with a ``fuse_spec`` can be
fused into a preceding Linear by Sequential: their backward then works from the output, which
for them carries the same information as the input.
"""
from __future__ import annotations

from .. import functional as F
from .._backend import operand
from .module import Module


class _Activation(Module):
    _saves_output = False

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)
        self._s = None

    def _forward(self, x, inplace: bool = False):
        raise NotImplementedError

    def _backward(self, grad_out, saved):
        raise NotImplementedError

    def _output_has_sign(self) -> bool:
        """Whether the output carries what backward needs of the input (so that an in-place
        forward can save the output instead of a copy of the input)."""
        return False

    def fuse_spec(self):
        """The functional.linear activation this module equals, or None if not fusable."""
        return None

    def save_fused_output(self, y) -> None:
        if self.training:
            self._s = y

    def forward(self, x):
        if self.inplace:
            keep = self.training and not self._saves_output and not self._output_has_sign()
            saved = operand(x, "input").copy() if keep else None
            y = self._forward(x, inplace=True)
            if self.training:
                self._s = saved if keep else operand(y, "input")
            return y
        x = operand(x, "input")  # converted once, on the device it lives on
        y = self._forward(x)
        if self.training:
            self._s = y if self._saves_output else x
        return y

    def backward(self, grad_out):
        return self._backward(grad_out, self._take("_s", "tensor"))

    def clear_cache(self) -> None:
        self._s = None

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Sigmoid(_Activation):
    _saves_output = True

    def _forward(self, x, inplace=False):
        return F.sigmoid(x)

    def _backward(self, g, y):
        return F.sigmoid_backward(g, y)

    def fuse_spec(self):
        return "sigmoid"


class Tanh(_Activation):
    _saves_output = True

    def _forward(self, x, inplace=False):
        return F.tanh(x)

    def _backward(self, g, y):
        return F.tanh_backward(g, y)

    def fuse_spec(self):
        return "tanh"


class ReLU(_Activation):
    def _forward(self, x, inplace=False):
        return F.relu(x, inplace)

    def _backward(self, g, x):
        return F.relu_backward(g, x)  # x > 0 exactly where relu(x) > 0: the output works too

    def _output_has_sign(self) -> bool:
        return True

    def fuse_spec(self):
        return "relu"


class LeakyReLU(_Activation):
    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__(inplace)
        self.negative_slope = float(negative_slope)

    def _forward(self, x, inplace=False):
        return F.leaky_relu(x, self.negative_slope, inplace)

    def _backward(self, g, x):
        return F.leaky_relu_backward(g, x, self.negative_slope)

    def _output_has_sign(self) -> bool:
        return self.negative_slope >= 0  # then output > 0 exactly where input > 0

    def fuse_spec(self):
        # the sign of the output equals the sign of the input only for a positive slope
        return ("leaky_relu", self.negative_slope) if self.negative_slope > 0 else None

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(_Activation):
    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__(inplace)
        self.alpha = float(alpha)

    def _forward(self, x, inplace=False):
        return F.elu(x, self.alpha, inplace)

    def _backward(self, g, x):
        return F.elu_backward(g, x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(_Activation):
    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate: expected 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def _forward(self, x, inplace=False):
        return F.gelu(x, self.approximate)

    def _backward(self, g, x):
        return F.gelu_backward(g, x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(_Activation):
    """x * sigmoid(x). Not fused into a preceding Linear by Sequential: its output does not
    determine its input (silu is not monotonic), which its backward needs."""

    def _forward(self, x, inplace=False):
        return F.silu(x, inplace)

    def _backward(self, g, x):
        return F.silu_backward(g, x)


class Softmax(_Activation):
    _saves_output = True

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def _forward(self, x, inplace=False):
        return F.softmax(x, self.dim)

    def _backward(self, g, y):
        return F.softmax_backward(g, y, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def _forward(self, x, inplace=False):
        return F.log_softmax(x, self.dim)

    def _backward(self, g, y):
        return F.log_softmax_backward(g, y, self.dim)
