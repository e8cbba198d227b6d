"""The embedding family: ``embedding(input, weight, padding_idx=None)`` (PyTorch's signature)
and its backward.

``input`` holds integer indices of any shape (any integer dtype; floats and bools raise
TypeError); the result is (*input.shape, embedding_dim), the rows of ``weight``
(num_embeddings, embedding_dim) at those indices. An index outside [0, num_embeddings) raises
IndexError before any memory is read. The backward scatter-adds the output gradient's rows into
the weight gradient, exactly and deterministically under repeated indices and any thread count
(csrc/cpu/embedding.cpp); row ``padding_idx`` gets no gradient.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _core
from .._backend.host import as_f32, check_out


def _indices(input) -> np.ndarray:
    if hasattr(input, "detach"):  # a torch tensor
        input = input.detach().cpu().numpy()
    arr = np.asarray(input)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"input: expected integer indices, got dtype {arr.dtype}")
    return np.asarray(arr, dtype=np.int64, order="C")


def _check_range(idx: np.ndarray, num_embeddings: int) -> None:
    if idx.size and (idx.min() < 0 or idx.max() >= num_embeddings):
        bad = idx.min() if idx.min() < 0 else idx.max()
        raise IndexError(f"input: index {bad} is out of range for num_embeddings {num_embeddings} "
                         f"(indices must lie in [0, {num_embeddings}))")


def _padding(padding_idx, num_embeddings: int) -> int:
    """padding_idx as a row in [0, V), or -1 for none (negative values count from the end, as PyTorch)."""
    if padding_idx is None:
        return -1
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral):
        raise TypeError(f"padding_idx: expected an integer or None, got {type(padding_idx).__name__}")
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"padding_idx: must be within [-{num_embeddings}, {num_embeddings}), got {padding_idx}")
    return int(padding_idx) % num_embeddings


def _weight(weight, name: str = "weight") -> np.ndarray:
    w = as_f32(weight, name)
    if w.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (num_embeddings, embedding_dim) array, got shape {w.shape}")
    return w


def embedding(input, weight, padding_idx=None, *, out=None) -> np.ndarray:
    """weight[input]: (*input.shape, embedding_dim). padding_idx only marks the row that the
    backward leaves without gradient (its forward row is returned as it is, as in PyTorch)."""
    w = _weight(weight)
    _padding(padding_idx, w.shape[0])
    idx = _indices(input)
    _check_range(idx, w.shape[0])
    out = check_out(out, idx.shape + (w.shape[1],), inputs=(w,))
    _core.embedding_forward(out, w, idx)
    return out


def embedding_backward(grad_out, input, num_embeddings: int, padding_idx=None, *, grad_weight=None) -> np.ndarray:
    """The weight gradient (num_embeddings, embedding_dim) of embedding: grad_out's rows added
    at their indices. grad_weight: an array the gradient is added into in place (and returned)."""
    if isinstance(num_embeddings, bool) or not isinstance(num_embeddings, numbers.Integral) or num_embeddings < 0:
        raise ValueError(f"num_embeddings: expected a non-negative integer, got {num_embeddings!r}")
    idx = _indices(input)
    _check_range(idx, num_embeddings)
    pad = _padding(padding_idx, num_embeddings) if num_embeddings else -1
    g = as_f32(grad_out, "grad_out")
    if g.ndim != idx.ndim + 1 or g.shape[:-1] != idx.shape:
        raise ValueError(f"grad_out: expected shape {idx.shape + ('embedding_dim',)} for input {idx.shape}, "
                         f"got {g.shape}")
    shape = (int(num_embeddings), g.shape[-1])
    accumulate = grad_weight is not None
    dw = check_out(grad_weight, shape, "grad_weight", inputs=(g,))
    if accumulate and np.may_share_memory(dw, g):
        raise ValueError("grad_weight: shares memory with grad_out")
    _core.embedding_backward(dw, g, idx, pad, accumulate)
    return dw
