"""The embedding family: ``embedding(input, weight, padding_idx=None)`` (PyTorch's signature)
and its backward.

``input`` holds integer indices of any shape (any integer dtype; floats and bools raise
TypeError); the result is (*input.shape, embedding_dim), the rows of ``weight``
(num_embeddings, embedding_dim) at those indices. An index outside [0, num_embeddings) raises
IndexError before any memory is read (on a GPU, the check runs on the device and its result is
read back). The backward scatter-adds the output gradient's rows into
the weight gradient, exactly and deterministically under repeated indices and any thread count
(csrc/cpu/embedding.cpp; on a GPU csrc/cuda/embedding.cu, bit for bit the CPU's result); row
``padding_idx`` gets no gradient. Device arrays run the CUDA kernels (their indices must be int64
device arrays); mixing devices is a TypeError.
"""
from __future__ import annotations

import numbers

import numpy as np

from .._backend import HOST, backend_of


def _indices(be, input, like=None):
    """input as C-contiguous int64 indices on be: host data of any integer dtype is converted
    (floats and bools raise TypeError); device indices must already be int64."""
    if be is not HOST:
        return be.index_operand(input, "input", like)
    if hasattr(input, "detach"):  # a torch tensor
        input = input.detach().cpu().numpy()
    arr = np.asarray(input)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"input: expected integer indices, got dtype {arr.dtype}")
    return np.asarray(arr, dtype=np.int64, order="C")


def _check_range(be, idx, num_embeddings: int) -> None:
    """On the host, before the call (IndexError naming the index). On a GPU the binding checks
    them on the device and raises the same error (csrc/bindings/embedding.cpp)."""
    if be is not HOST:
        return
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


def _weight(be, weight, name: str = "weight"):
    w = be.operand(weight, name)
    if w.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (num_embeddings, embedding_dim) array, got shape {w.shape}")
    return w


def embedding(input, weight, padding_idx=None, *, out=None):
    """weight[input]: (*input.shape, embedding_dim). padding_idx only marks the row that the
    backward leaves without gradient (its forward row is returned as it is, as in PyTorch).
    On device arrays (weight and int64 indices on one GPU) the gather runs there."""
    be = backend_of(input=input, weight=weight, out=out)
    w = _weight(be, weight)
    V, D = w.shape
    _padding(padding_idx, V)
    idx = _indices(be, input, w)
    _check_range(be, idx, V)
    out = be.out(out, idx.shape + (D,), w, inputs=(w,))
    be.ops.embedding_forward(be.raw(out), be.raw(w), be.raw(idx), V, D)
    return out


def embedding_backward(grad_out, input, num_embeddings: int, padding_idx=None, *, grad_weight=None):
    """The weight gradient (num_embeddings, embedding_dim) of embedding: grad_out's rows added
    at their indices. grad_weight: an array the gradient is added into in place (and returned)."""
    if isinstance(num_embeddings, bool) or not isinstance(num_embeddings, numbers.Integral) or num_embeddings < 0:
        raise ValueError(f"num_embeddings: expected a non-negative integer, got {num_embeddings!r}")
    be = backend_of(grad_out=grad_out, input=input, grad_weight=grad_weight)
    g = be.operand(grad_out, "grad_out")
    idx = _indices(be, input, g)
    _check_range(be, idx, num_embeddings)
    pad = _padding(padding_idx, num_embeddings) if num_embeddings else -1
    if g.ndim != idx.ndim + 1 or g.shape[:-1] != idx.shape:
        raise ValueError(f"grad_out: expected shape {idx.shape + ('embedding_dim',)} for input {idx.shape}, "
                         f"got {g.shape}")
    shape = (int(num_embeddings), g.shape[-1])
    accumulate = grad_weight is not None
    dw = be.out(grad_weight, shape, g, inputs=(g,), name="grad_weight", separate=True)
    be.ops.embedding_backward(be.raw(dw), be.raw(g), be.raw(idx), shape[0], shape[1], pad, accumulate)
    return dw
