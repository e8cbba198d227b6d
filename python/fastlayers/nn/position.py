"""Position embeddings added to a sequence of token embeddings.

Both modules take x of shape (B, T, C) (batch_first=True, the default) or (T, B, C), and return
x + table[offset : offset + T], the table broadcast over the batch; ``offset`` (default 0) is the
position of the first step, for a continuation. backward(dy) returns dy (the addition's input
gradient).

- SinusoidalPositionalEncoding(embedding_dim, max_len=5000, batch_first=True, base=10000.0): the
  fixed table of functional.sinusoidal_position_encoding (interleaved sin / cos columns); no
  parameters and nothing in the state_dict (the table is recomputed, not saved).
- LearnedPositionalEmbedding(num_positions, embedding_dim, batch_first=True, std=0.02): a trained
  table ``weight`` (num_positions, embedding_dim), drawn from N(0, std^2) as GPT-2 does; its
  backward adds the gradient, summed over the batch, into weight.grad's rows (through
  functional.embedding_backward).
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import functional as F
from .._random import default_generator
from . import _glue
from .linear import _accumulable, _features
from .module import Module, Parameter, factory_device


class _PositionAdd(Module):
    def __init__(self, num_positions: int, embedding_dim: int, batch_first: bool):
        super().__init__()
        self.num_positions = _features(num_positions, "num_positions")
        self.embedding_dim = _features(embedding_dim, "embedding_dim")
        self.batch_first = bool(batch_first)
        self._pos = None

    def _positions(self, x, offset) -> np.ndarray:
        """The positions of x's steps, checked against the table and x's shape."""
        if x.ndim != 3 or x.shape[-1] != self.embedding_dim:
            layout = "(B, T, C)" if self.batch_first else "(T, B, C)"
            raise ValueError(f"{type(self).__name__}: expected input of shape {layout} with C = "
                             f"{self.embedding_dim}, got {tuple(x.shape)}")
        if isinstance(offset, bool) or not isinstance(offset, numbers.Integral) or offset < 0:
            raise ValueError(f"offset: expected a non-negative integer, got {offset!r}")
        T = x.shape[1] if self.batch_first else x.shape[0]
        if offset + T > self.num_positions:
            raise ValueError(f"input: positions {offset}..{offset + T - 1} exceed the table's "
                             f"{self.num_positions} positions")
        return np.arange(offset, offset + T, dtype=np.int64)

    def _add(self, x, table):
        """x + table (T, C), broadcast over the batch axis."""
        return _glue.add(x, table if self.batch_first else table.reshape(table.shape[0], 1, -1))

    def backward(self, grad_out):
        return grad_out

    def clear_cache(self) -> None:
        self._pos = None


class SinusoidalPositionalEncoding(_PositionAdd):
    def __init__(self, embedding_dim: int, max_len: int = 5000, batch_first: bool = True, base: float = 10000.0, *,
                 device=None, dtype=None):
        dev = factory_device(device, dtype)
        super().__init__(max_len, embedding_dim, batch_first)
        self.base = float(base)
        self.pe = F.sinusoidal_position_encoding(self.num_positions, self.embedding_dim, self.base)
        self._placed(dev)

    def forward(self, x, offset: int = 0):
        pos = self._positions(x, offset)
        return self._add(x, self.pe[pos[0]:pos[0] + len(pos)] if len(pos) else self.pe[:0])

    def extra_repr(self) -> str:
        return f"{self.embedding_dim}, max_len={self.num_positions}, batch_first={self.batch_first}"


class LearnedPositionalEmbedding(_PositionAdd):
    def __init__(self, num_positions: int, embedding_dim: int, batch_first: bool = True, std: float = 0.02, *,
                 device=None, dtype=None):
        dev = factory_device(device, dtype)
        super().__init__(num_positions, embedding_dim, batch_first)
        self.std = float(std)
        self.weight = Parameter(np.empty((self.num_positions, self.embedding_dim), np.float32))
        self.reset_parameters()
        self._placed(dev)

    def reset_parameters(self) -> None:
        self.weight.data[...] = default_generator().standard_normal(self.weight.data.shape) * self.std

    def forward(self, x, offset: int = 0):
        pos = self._positions(x, offset)
        if self.training:
            self._pos = pos
        return self._add(x, F.embedding(_glue.to_device_of(pos, self.weight.data), self.weight.data))

    def backward(self, grad_out):
        pos = self._saved(self._pos, "positions")
        g = grad_out if self.batch_first else _glue.permute(grad_out, (1, 0, 2))
        w = self.weight
        idx = _glue.to_device_of(np.ascontiguousarray(np.broadcast_to(pos, g.shape[:2])), w.data)
        into = w.grad if _accumulable(w.grad, w.data) else None
        dw = F.embedding_backward(g, idx, self.num_positions, grad_weight=into)
        if into is None:
            w.accumulate(dw)
        return grad_out

    def extra_repr(self) -> str:
        return f"{self.num_positions}, {self.embedding_dim}, batch_first={self.batch_first}"
