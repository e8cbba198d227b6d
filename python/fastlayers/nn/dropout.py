"""Dropout: in training mode zeroes each element with probability p (mask from the seeded
C++ kernel, a fresh seed per forward drawn from fastlayers' generator) and scales the rest
by 1 / (1 - p); backward applies the same mask. In eval mode it is the identity."""
from __future__ import annotations

from .. import functional as F
from .._random import next_seed
from ..functional.dropout import _check_p
from .module import Module


class Dropout(Module):
    """inplace=True writes the result into the input (backward needs only the mask's seed)."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        self.p = _check_p(p)
        self.inplace = bool(inplace)
        self._seed = None

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x if self.inplace else F.dropout(x, 0.0, False)
        self._seed = next_seed()
        return F.dropout(x, self.p, True, self.inplace, seed=self._seed)

    def backward(self, grad_out):
        if self.p == 0.0:
            return grad_out  # the identity: nothing saved
        return F.dropout_backward(grad_out, self.p, self._take("_seed", "mask seed"))

    def clear_cache(self) -> None:
        self._seed = None

    def extra_repr(self) -> str:
        return f"p={self.p}" + (", inplace=True" if self.inplace else "")
