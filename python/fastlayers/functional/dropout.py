"""Dropout with a counter-based mask drawn by the C++ kernel (csrc/ops/dropout.h).

Element i is kept iff a 32-bit hash of (seed, i) is at least round(p * 2^32); the output is
x * mask with mask = 1 / (1 - p) where kept and 0 elsewhere (a multiply, as in PyTorch, so a
NaN input stays NaN). The mask is a pure function of the seed and the
element index, so ``dropout_backward(grad_out, p, seed)`` applies the very same mask without
storing it, and the result does not depend on the thread count.
"""
from __future__ import annotations

import numbers

import numpy as np

from .._backend import backend_of, run_inplace
from .._random import next_seed


def _check_p(p) -> float:
    if not isinstance(p, numbers.Real) or isinstance(p, bool):
        raise TypeError(f"p: expected a real number, got {type(p).__name__}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p: expected a probability in [0, 1], got {p}")
    return float(p)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed: expected an integer, got {type(seed).__name__}")
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed: expected an integer in [0, 2^64), got {seed}")
    return int(seed)


def _mask(p: float) -> tuple[int, float]:
    """(threshold, scale) of the kernel's mask for drop probability p."""
    # p = 1 drops every element (1 / (1 - p) is not finite): the mask of threshold 2^32 - 1 keeps
    # almost nothing, and scale 0 zeroes the rest, as x * 0 (NaN stays NaN, as in PyTorch)
    return min(int(round(p * 2.0**32)), 2**32 - 1), (0.0 if p >= 1.0 else 1.0 / (1.0 - p))


def _apply(x, p: float, seed: int, out, name: str):
    be = backend_of(**{name: x}, out=out)
    x = be.operand(x, name)
    out = be.out(out, x.shape, x, inputs=(x,))
    be.ops.dropout_apply(be.raw(out), be.raw(x), seed, *_mask(p))
    return out


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False, *, seed=None, out=None):
    """Zeroes each element with probability p and scales the rest by 1 / (1 - p).

    ``seed`` (an integer in [0, 2^64)) fixes the mask; None draws one from fastlayers'
    generator (see fastlayers.manual_seed). Pass the same seed to dropout_backward.
    With training=False or p=0 the input is returned unchanged (copied into out= if given).
    inplace=True writes the result into the input and returns it (as PyTorch's).
    """
    x = input
    p = _check_p(p)
    if inplace:
        if out is not None:
            raise ValueError("out: cannot be given together with inplace=True (the input is the output)")
        if not training or p == 0.0:
            return x
        return _apply_inplace(x, p, next_seed() if seed is None else _check_seed(seed))
    if not training or p == 0.0:
        be = backend_of(input=x, out=out)
        x = be.operand(x, "input")
        if out is None:
            return x
        out = be.out(out, x.shape, x, inputs=(x,))
        if out is not x:
            be.ops.dropout_apply(be.raw(out), be.raw(x), 0, 0, 1.0)  # threshold 0 keeps all: a copy
        return out
    return _apply(x, p, next_seed() if seed is None else _check_seed(seed), out, "input")


def _apply_inplace(x, p: float, seed: int):
    return run_inplace(x, lambda be, o, i: be.ops.dropout_apply(be.raw(o), be.raw(i), seed, *_mask(p)))


def dropout_backward(grad_out, p: float, seed: int, *, out=None):
    """grad_out * mask * 1 / (1 - p), with the mask of dropout(x, p, seed=seed)."""
    p = _check_p(p)
    if p == 0.0:
        return dropout(grad_out, 0.0, False, out=out)
    return _apply(grad_out, p, _check_seed(seed), out, "grad_out")
