"""Embedding: a lookup table of num_embeddings rows of embedding_dim floats (torch.nn.Embedding's
constructor, parameter name and initialisation N(0, 1), the padding row zeroed). backward(dy)
accumulates weight.grad (no gradient into padding_idx) and returns None: the input is indices.
On a GPU (``.to("cuda")``) the indices must be int64 device arrays on the weight's device."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .._backend import backend_of
from .._random import default_generator
from ..functional.embedding import _indices, _padding
from .linear import _accumulable, _features
from .module import Module, Parameter, factory_device


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, *, device=None, dtype=None):
        dev = factory_device(device, dtype)
        super().__init__()
        self.num_embeddings = _features(num_embeddings, "num_embeddings")
        self.embedding_dim = _features(embedding_dim, "embedding_dim")
        self.padding_idx = None if padding_idx is None else _padding(padding_idx, self.num_embeddings)
        self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), np.float32))
        self.reset_parameters()
        self._idx = None
        self._placed(dev)

    def reset_parameters(self) -> None:
        self.weight.data[...] = default_generator().standard_normal(self.weight.data.shape, dtype=np.float32)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0.0

    def forward(self, input):
        w = self.weight.data
        idx = _indices(backend_of(input=input, weight=w), input, w)
        y = F.embedding(idx, w, self.padding_idx)
        if self.training:
            self._idx = idx
        return y

    def backward(self, grad_out):
        idx = self._saved(self._idx, "indices")
        w = self.weight
        into = w.grad if _accumulable(w.grad, w.data) else None
        g = F.embedding_backward(grad_out, idx, self.num_embeddings, self.padding_idx, grad_weight=into)
        if into is None:
            w.accumulate(g)
        return None

    def clear_cache(self) -> None:
        self._idx = None

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
