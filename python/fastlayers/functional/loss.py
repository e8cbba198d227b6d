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
from .._backend import HOST, backend_of

_REDUCTIONS = ("mean", "sum", "none")
_MSE, _BCE = _core.PointLoss.mse, _core.PointLoss.bce_with_logits


def _check_reduction(reduction) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


def _class_targets(input, target):
    """(backend, logits as (N, C), targets as int64 (N,), whether the input was a single row),
    on the backend the input lives on (device targets stay on the device)."""
    be = backend_of(input=input, target=target)
    x = be.operand(input, "input")
    if x.ndim not in (1, 2):
        raise ValueError(f"input: expected logits of shape (N, C) or (C,), got shape {x.shape}")
    if be is HOST:
        t = np.asarray(target)
        if t.dtype.kind not in "iu":
            raise TypeError(f"target: expected integer class indices, got dtype {t.dtype} "
                            "(probability targets are not supported)")
    else:
        t = be.index_operand(target, "target", x)
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
    t = be.index_operand(t.reshape(-1), "target", x) if be is HOST else t.reshape(-1)
    return be, x, t, single


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
    and of nn.CrossEntropyLoss, which keeps lse for the backward. On device arrays the rows
    and lse stay on the device; the sum and count come back as numbers."""
    return _ce_forward(input, target, ignore_index, label_smoothing)[:4]


def _ce_forward(input, target, ignore_index, label_smoothing):
    be, x, t, single = _class_targets(input, target)
    n, c = x.shape
    rows, lse = be.empty((n,), x), be.empty((n,), x)
    total, count = be.ops.ce_forward(be.raw(rows), be.raw(lse), be.raw(x), be.raw(t), n, c, _ignore(ignore_index),
                                     _smoothing(label_smoothing))
    return rows, lse, total, count, single


def _reduce(rows, total: float, count: int, reduction: str, single: bool):
    if reduction == "none":
        return rows.reshape(()) if single else rows
    if reduction == "sum":
        return float(total)
    return float(total) / count if count else float("nan")


def cross_entropy(input, target, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0):
    """Cross-entropy of logits against class indices, as torch.nn.functional.cross_entropy."""
    reduction = _check_reduction(reduction)
    rows, _, total, count, single = _ce_forward(input, target, ignore_index, label_smoothing)
    return _reduce(rows, total, count, reduction, single)


def _grad_scale(be, grad_out, reduction: str, count: int, shape: tuple, like):
    """(scalar scale, per-item grad array on like's backend or None) for a backward kernel."""
    if reduction == "none":
        g = be.operand(grad_out, "grad_out", like)
        if g.shape != shape:
            raise ValueError(f"grad_out: expected shape {shape} for reduction='none', got {g.shape}")
        return 1.0, g.reshape(-1)
    if not isinstance(grad_out, numbers.Real) and np.ndim(grad_out) != 0:
        raise ValueError(f"grad_out: expected a number for reduction={reduction!r}, got shape {np.shape(grad_out)}")
    g = float(grad_out)
    if reduction == "mean":
        return (g / count if count else float("nan")), None
    return g, None


def _raw(be, a):
    return None if a is None else be.raw(a)


def cross_entropy_backward(grad_out, input, target, ignore_index: int = -100, reduction: str = "mean",
                           label_smoothing: float = 0.0, *, lse=None, count=None, out=None):
    """dL/dinput = scale * (softmax(input) - (1 - eps) onehot(target) - eps / C); ignored rows 0.

    ``lse`` and ``count`` (the log-sum-exp per row and the non-ignored row count from
    cross_entropy_forward) skip recomputing the forward when given.
    """
    reduction = _check_reduction(reduction)
    be, x, t, single = _class_targets(input, target)
    n, c = x.shape
    ign, eps = _ignore(ignore_index), _smoothing(label_smoothing)
    if lse is None or count is None:
        _, lse, _, count = cross_entropy_forward(x, t, ign, eps)
    else:
        lse = be.operand(lse, "lse", x)
    scale, g = _grad_scale(be, grad_out, reduction, int(count), () if single else (n,), x)
    out = be.out(out, (c,) if single else (n, c), x, inputs=(x,))
    be.ops.ce_backward(be.raw(out), be.raw(x), be.raw(lse), be.raw(t), _raw(be, g), scale, n, c, ign, eps)
    return out


def nll_loss(input, target, ignore_index: int = -100, reduction: str = "mean"):
    """Negative log-likelihood of log-probabilities (N, C) at class indices (N,)."""
    reduction = _check_reduction(reduction)
    be, x, t, single = _class_targets(input, target)
    n, c = x.shape
    rows = be.empty((n,), x)
    total, count = be.ops.nll_forward(be.raw(rows), be.raw(x), be.raw(t), n, c, _ignore(ignore_index))
    return _reduce(rows, total, count, reduction, single)


def nll_loss_backward(grad_out, input, target, ignore_index: int = -100, reduction: str = "mean",
                      *, out=None):
    """dL/dinput: -scale at each row's target class, 0 elsewhere and on ignored rows."""
    reduction = _check_reduction(reduction)
    be, x, t, single = _class_targets(input, target)
    n, c = x.shape
    ign = _ignore(ignore_index)
    count = 0
    if reduction == "mean":  # the non-ignored rows (a mean's divisor), counted where the targets live
        count = int((be.to_host(t) != ign).sum())
    scale, g = _grad_scale(be, grad_out, reduction, count, () if single else (n,), x)
    out = be.out(out, (c,) if single else (n, c), x, inputs=(x,))
    be.ops.nll_backward(be.raw(out), be.raw(t), _raw(be, g), scale, n, c, ign)
    return out


def _point_args(input, target):
    be = backend_of(input=input, target=target)
    x = be.operand(input, "input")
    y = be.operand(target, "target", x)
    if x.shape != y.shape:
        raise ValueError(f"target: expected the shape of input {x.shape}, got {y.shape}")
    return be, x, y


def _point_loss(op, input, target, reduction: str):
    reduction = _check_reduction(reduction)
    be, x, y = _point_args(input, target)
    if reduction == "none":
        loss = be.empty(x.shape, x)
        be.ops.point_loss_forward(op, be.raw(loss), be.raw(x), be.raw(y))
        return loss
    total = be.ops.point_loss_forward(op, None, be.raw(x), be.raw(y))
    if reduction == "sum":
        return float(total)
    return float(total) / x.size if x.size else float("nan")


def _point_loss_backward(op, grad_out, input, target, reduction: str, out):
    reduction = _check_reduction(reduction)
    be, x, y = _point_args(input, target)
    scale, g = _grad_scale(be, grad_out, reduction, x.size, x.shape, x)
    out = be.out(out, x.shape, x, inputs=(x, y))
    be.ops.point_loss_backward(op, be.raw(out), be.raw(x), be.raw(y), _raw(be, g), scale)
    return out


def mse_loss(input, target, reduction: str = "mean"):
    """Mean squared error (input - target)^2; shapes must be equal (no broadcasting)."""
    return _point_loss(_MSE, input, target, reduction)


def mse_loss_backward(grad_out, input, target, reduction: str = "mean", *, out=None):
    """scale * 2 (input - target)."""
    return _point_loss_backward(_MSE, grad_out, input, target, reduction, out)


def binary_cross_entropy_with_logits(input, target, reduction: str = "mean"):
    """-(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))), computed stably from the logits x
    as max(x, 0) - x t + log1p(exp(-|x|)). No weight / pos_weight."""
    return _point_loss(_BCE, input, target, reduction)


def binary_cross_entropy_with_logits_backward(grad_out, input, target, reduction: str = "mean",
                                              *, out=None):
    """scale * (sigmoid(input) - target)."""
    return _point_loss_backward(_BCE, grad_out, input, target, reduction, out)
