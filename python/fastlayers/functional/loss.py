"""The loss family: cross_entropy (fused log-softmax + NLL), nll_loss, mse_loss,
binary_cross_entropy_with_logits, each with a backward.

Arguments and results follow torch.nn.functional: ``reduction`` is 'mean' (default), 'sum'
or 'none'; a reduced loss is returned as a Python float, 'none' gives a float32 array.
A backward takes ``grad_out`` (a number for 'mean'/'sum', an array shaped like the
unreduced loss for 'none') and returns dL/dinput with the reduction's scale folded in.

Cross-entropy takes logits (N, C) or (C,) and class-index targets (N,) or a scalar;
``ignore_index`` rows contribute nothing and are left out of the mean (a mean over no rows
is NaN, as in PyTorch); ``label_smoothing`` eps mixes the one-hot target with the uniform
distribution: loss = (1 - eps) nll + eps * mean_c(-log_softmax). Class weights and
probability targets are not supported.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _core
from .._backend.host import as_f32, check_out

_REDUCTIONS = ("mean", "sum", "none")
_MSE, _BCE = 0, 1


def _check_reduction(reduction) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


def _class_targets(input, target) -> tuple[np.ndarray, np.ndarray, bool]:
    """(logits as (N, C), targets as int64 (N,), whether the input was a single row)."""
    x = as_f32(input, "input")
    if x.ndim not in (1, 2):
        raise ValueError(f"input: expected logits of shape (N, C) or (C,), got shape {x.shape}")
    t = np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"target: expected integer class indices, got dtype {t.dtype} "
                        "(probability targets are not supported)")
    single = x.ndim == 1
    if single:
        if t.ndim != 0:
            raise ValueError(f"target: expected a scalar class index for input of shape {x.shape}, "
                             f"got shape {t.shape}")
        x = x.reshape(1, -1)
    elif t.shape != (x.shape[0],):
        raise ValueError(f"target: expected shape ({x.shape[0]},) for input of shape {x.shape}, got {t.shape}")
    if x.shape[1] == 0:
        raise ValueError(f"input: expected at least one class, got shape {x.shape}")
    t = np.ascontiguousarray(t.reshape(-1), dtype=np.int64)
    return x, t, single


def _smoothing(label_smoothing) -> float:
    if not isinstance(label_smoothing, numbers.Real) or isinstance(label_smoothing, bool):
        raise TypeError(f"label_smoothing: expected a real number, got {type(label_smoothing).__name__}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing: expected a value in [0, 1], got {label_smoothing}")
    return float(label_smoothing)


def _ignore(ignore_index) -> int:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"ignore_index: expected an integer, got {type(ignore_index).__name__}")
    return int(ignore_index)


def cross_entropy_forward(input, target, ignore_index: int = -100, label_smoothing: float = 0.0):
    """Fused log-softmax + NLL over rows: (row losses (N,), log-sum-exp per row (N,),
    sum of row losses, number of non-ignored rows). The building block of cross_entropy
    and of nn.CrossEntropyLoss, which keeps lse for the backward."""
    x, t, _ = _class_targets(input, target)
    n, c = x.shape
    rows, lse = np.empty(n, np.float32), np.empty(n, np.float32)
    total, count = _core.ce_forward(rows, lse, x, t, n, c, _ignore(ignore_index), _smoothing(label_smoothing))
    return rows, lse, total, count


def _reduce(rows: np.ndarray, total: float, count: int, reduction: str, single: bool):
    if reduction == "none":
        return rows.reshape(()) if single else rows
    if reduction == "sum":
        return float(total)
    return float(total) / count if count else float("nan")


def cross_entropy(input, target, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0):
    """Cross-entropy of logits against class indices, as torch.nn.functional.cross_entropy."""
    reduction = _check_reduction(reduction)
    single = np.ndim(input) == 1
    rows, _, total, count = cross_entropy_forward(input, target, ignore_index, label_smoothing)
    return _reduce(rows, total, count, reduction, single)


def _grad_scale(grad_out, reduction: str, count: int, shape: tuple):
    """(scalar scale, per-item grad array or None) for a backward kernel."""
    if reduction == "none":
        g = as_f32(grad_out, "grad_out")
        if g.shape != shape:
            raise ValueError(f"grad_out: expected shape {shape} for reduction='none', got {g.shape}")
        return 1.0, g.reshape(-1)
    if not isinstance(grad_out, numbers.Real) and np.ndim(grad_out) != 0:
        raise ValueError(f"grad_out: expected a number for reduction={reduction!r}, got shape {np.shape(grad_out)}")
    g = float(grad_out)
    if reduction == "mean":
        return (g / count if count else float("nan")), None
    return g, None


def cross_entropy_backward(grad_out, input, target, ignore_index: int = -100, reduction: str = "mean",
                           label_smoothing: float = 0.0, *, lse=None, count=None, out=None) -> np.ndarray:
    """dL/dinput = scale * (softmax(input) - (1 - eps) onehot(target) - eps / C); ignored rows 0.

    ``lse`` and ``count`` (the log-sum-exp per row and the non-ignored row count from
    cross_entropy_forward) skip recomputing the forward when given.
    """
    reduction = _check_reduction(reduction)
    x, t, single = _class_targets(input, target)
    n, c = x.shape
    ign, eps = _ignore(ignore_index), _smoothing(label_smoothing)
    if lse is None or count is None:
        _, lse, _, count = cross_entropy_forward(x, t, ign, eps)
    else:
        lse = as_f32(lse, "lse")
    scale, g = _grad_scale(grad_out, reduction, int(count), () if single else (n,))
    out = check_out(out, (c,) if single else (n, c), inputs=(x,))
    _core.ce_backward(out, x, lse, t, g, scale, n, c, ign, eps)
    return out


def nll_loss(input, target, ignore_index: int = -100, reduction: str = "mean"):
    """Negative log-likelihood of log-probabilities (N, C) at class indices (N,)."""
    reduction = _check_reduction(reduction)
    x, t, single = _class_targets(input, target)
    keep, tc = _nll_targets(t, x.shape[1], _ignore(ignore_index))
    rows = np.where(keep, -x[np.arange(x.shape[0]), tc], np.float32(0)).astype(np.float32)
    return _reduce(rows, float(rows.sum(dtype=np.float64)), int(keep.sum()), reduction, single)


def _nll_targets(t: np.ndarray, c: int, ignore_index: int):
    keep = t != ignore_index
    bad = keep & ((t < 0) | (t >= c))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"target: class index {int(t[i])} at position {i} is out of range [0, {c}) "
                         f"(ignore_index={ignore_index})")
    return keep, np.where(keep, t, 0)


def nll_loss_backward(grad_out, input, target, ignore_index: int = -100, reduction: str = "mean",
                      *, out=None) -> np.ndarray:
    """dL/dinput: -scale at each row's target class, 0 elsewhere and on ignored rows."""
    reduction = _check_reduction(reduction)
    x, t, single = _class_targets(input, target)
    keep, tc = _nll_targets(t, x.shape[1], _ignore(ignore_index))
    scale, g = _grad_scale(grad_out, reduction, int(keep.sum()), () if single else (x.shape[0],))
    out = check_out(out, (x.shape[1],) if single else x.shape, inputs=(x,))
    out[...] = 0.0
    rows = np.arange(x.shape[0])
    vals = -scale * (g if g is not None else np.float32(1.0))
    out.reshape(x.shape)[rows, tc] = np.where(keep, vals, np.float32(0))
    return out


def _point_args(input, target):
    x = as_f32(input, "input")
    y = as_f32(target, "target")
    if x.shape != y.shape:
        raise ValueError(f"target: expected the shape of input {x.shape}, got {y.shape}")
    return x, y


def _point_loss(op: int, input, target, reduction: str):
    reduction = _check_reduction(reduction)
    x, y = _point_args(input, target)
    if reduction == "none":
        loss = np.empty(x.shape, np.float32)
        _core.point_loss_forward(op, loss, x, y)
        return loss
    total = _core.point_loss_forward(op, None, x, y)
    if reduction == "sum":
        return float(total)
    return float(total) / x.size if x.size else float("nan")


def _point_loss_backward(op: int, grad_out, input, target, reduction: str, out) -> np.ndarray:
    reduction = _check_reduction(reduction)
    x, y = _point_args(input, target)
    scale, g = _grad_scale(grad_out, reduction, x.size, x.shape)
    out = check_out(out, x.shape, inputs=(x, y))
    _core.point_loss_backward(op, out, x, y, g, scale)
    return out


def mse_loss(input, target, reduction: str = "mean"):
    """Mean squared error (input - target)^2; shapes must be equal (no broadcasting)."""
    return _point_loss(_MSE, input, target, reduction)


def mse_loss_backward(grad_out, input, target, reduction: str = "mean", *, out=None) -> np.ndarray:
    """scale * 2 (input - target)."""
    return _point_loss_backward(_MSE, grad_out, input, target, reduction, out)


def binary_cross_entropy_with_logits(input, target, reduction: str = "mean"):
    """-(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))), computed stably from the logits x
    as max(x, 0) - x t + log1p(exp(-|x|)). No weight / pos_weight."""
    return _point_loss(_BCE, input, target, reduction)


def binary_cross_entropy_with_logits_backward(grad_out, input, target, reduction: str = "mean",
                                              *, out=None) -> np.ndarray:
    """scale * (sigmoid(input) - target)."""
    return _point_loss_backward(_BCE, grad_out, input, target, reduction, out)
