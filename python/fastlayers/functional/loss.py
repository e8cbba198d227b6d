"""The loss family: cross_entropy (fused log-softmax + NLL), nll_loss, mse_loss,
binary_cross_entropy_with_logits, each with a backward.

Arguments, their order and results follow torch.nn.functional: ``reduction`` is 'mean'
(default), 'sum' or 'none' (the deprecated ``size_average`` / ``reduce`` pair maps to it as in
PyTorch); a reduced loss is returned as a Python float, 'none' gives a float32 array shaped like
the target's rows. A backward takes ``grad_out`` (a number for 'mean'/'sum', an array shaped
like the unreduced loss for 'none') and returns dL/dinput with the reduction's scale folded in.

Cross-entropy takes logits (C,), (N, C) or (N, C, d1, ..., dk) and either class indices of
shape (), (N,) or (N, d1, ..., dk), or class probabilities of the input's own shape (floats).
``weight`` (C,) weights the classes; ``ignore_index`` rows (class indices) contribute nothing;
``label_smoothing`` eps mixes the target with the uniform distribution. The mean divides by
the summed weight of the non-ignored targets (their count without weights; NaN over none),
or by N * d1 * ... * dk for probability targets -- PyTorch's formulas, ops/loss.h.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _core
from .._backend import backend_of

_REDUCTIONS = ("mean", "sum", "none")
_MSE, _BCE = _core.PointLoss.mse, _core.PointLoss.bce_with_logits


def _check_reduction(reduction) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


def _reduction(size_average, reduce, reduction) -> str:
    """reduction, or what PyTorch's deprecated size_average / reduce pair means when one is given."""
    for name, v in (("size_average", size_average), ("reduce", reduce)):
        if v is not None and not isinstance(v, (bool, np.bool_)):
            raise TypeError(f"{name}: expected a bool or None (deprecated; use reduction=), got {v!r}")
    if size_average is None and reduce is None:
        return _check_reduction(reduction)
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


def _smoothing(label_smoothing) -> float:
    if not isinstance(label_smoothing, numbers.Real) or isinstance(label_smoothing, bool):
        raise TypeError(f"label_smoothing: expected a real number, got {type(label_smoothing).__name__}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing: expected a value in [0, 1], got {label_smoothing}")
    return float(label_smoothing)


def _ignore(ignore_index) -> int:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"ignore_index: expected an integer, got {type(ignore_index).__name__}")
    if not -2**63 <= ignore_index < 2**63:
        raise ValueError(f"ignore_index: {ignore_index} does not fit an int64")
    return int(ignore_index)


def _dtype_shape(a):
    if hasattr(a, "dtype") and hasattr(a, "shape"):
        return np.dtype(a.dtype) if not str(a.dtype).startswith("torch.") else np.asarray(a).dtype, tuple(a.shape)
    a = np.asarray(a)
    return a.dtype, a.shape


class _Targets:
    """Validated cross-entropy / NLL arguments: logits x (float32, as given), targets t (int64 class
    indices, or float32 probabilities when soft) and weight, on the backend they live on; the
    (N, C, D) the kernels take, and the shape of the unreduced loss."""

    def __init__(self, input, target, weight, allow_soft: bool):
        be = backend_of(input=input, target=target, weight=weight)
        x = be.operand(input, "input")
        if x.ndim == 0:
            raise ValueError("input: expected logits of shape (C,), (N, C) or (N, C, d1, ..., dk), got a 0-d array")
        single = x.ndim == 1
        C = int(x.shape[0] if single else x.shape[1])
        if C == 0:
            raise ValueError(f"input: expected at least one class, got shape {x.shape}")
        self.row_shape = () if single else (int(x.shape[0]),) + tuple(x.shape[2:])
        self.N, self.C = (1 if single else int(x.shape[0])), C
        self.D = 1 if single else int(np.prod(x.shape[2:], dtype=np.int64))
        tdtype, tshape = _dtype_shape(target)
        self.soft = tshape == x.shape and tdtype.kind in "fc"
        if tshape == x.shape and not self.soft:
            raise TypeError(f"target: expected floating-point class probabilities for a target of the input's shape "
                            f"{x.shape}, got dtype {tdtype}")
        if self.soft:
            if not allow_soft:
                raise TypeError(f"target: expected integer class indices, got dtype {tdtype}")
            t = be.operand(target, "target", x)
        else:
            if tdtype.kind not in "iu":
                raise TypeError(f"target: expected integer class indices of shape {self.row_shape} or class "
                                f"probabilities of shape {x.shape}, got dtype {tdtype} and shape {tshape}")
            if tshape != self.row_shape:
                raise ValueError(f"target: expected shape {self.row_shape} (class indices) for input of shape "
                                 f"{x.shape}, got {tshape}")
            t = be.index_operand(target, "target", x)
            t = t.reshape(-1) if t.ndim != 1 else t
        if weight is not None:
            weight = be.operand(weight, "weight", x)
            if weight.shape != (C,):
                raise ValueError(f"weight: expected shape ({C},) (one weight per class), got {weight.shape}")
        self.be, self.x, self.t, self.weight = be, x, t, weight

    def raw_weight(self):
        return None if self.weight is None else self.be.raw(self.weight)


def _ce_forward(a: _Targets, ignore_index, label_smoothing):
    """(rows, lse, total, count, weight): per-row losses and log-sum-exps, the loss sum, the
    counted rows and the mean's divisor."""
    be, rows = a.be, a.N * a.D
    eps = _smoothing(label_smoothing)
    loss, lse = be.empty((rows,), a.x), be.empty((rows,), a.x)
    if a.soft:
        if _ignore(ignore_index) >= 0:
            raise ValueError(f"ignore_index: not supported for probability targets, got {ignore_index}")
        total, count, weight = be.ops.ce_soft_forward(be.raw(loss), be.raw(lse), be.raw(a.x), be.raw(a.t), a.N, a.C,
                                                      a.D, eps, a.raw_weight())
    else:
        total, count, weight = be.ops.ce_forward(be.raw(loss), be.raw(lse), be.raw(a.x), be.raw(a.t), a.N, a.C, a.D,
                                                 _ignore(ignore_index), eps, a.raw_weight())
    return loss, lse, total, count, weight


def _reduce(rows, total: float, weight: float, reduction: str, row_shape: tuple):
    if reduction == "none":
        return rows.reshape(row_shape)
    if reduction == "sum":
        return float(total)
    return float(total) / weight if weight else float("nan")


def cross_entropy_forward(input, target, ignore_index: int = -100, label_smoothing: float = 0.0, *, weight=None):
    """Fused log-softmax + NLL over rows: (row losses, log-sum-exp per row, sum of row losses,
    the mean's divisor) -- rows flattened to N * d1 * ... * dk. The building block of
    cross_entropy and of nn.CrossEntropyLoss, which keeps lse for the backward. On device arrays
    the rows and lse stay on the device; the sum and divisor come back as numbers."""
    rows, lse, total, _, weight_sum = _ce_forward(_Targets(input, target, weight, True), ignore_index,
                                                  label_smoothing)
    return rows, lse, total, weight_sum


def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0):
    """Cross-entropy of logits against class indices or class probabilities, as
    torch.nn.functional.cross_entropy (see the module docstring)."""
    reduction = _reduction(size_average, reduce, reduction)
    a = _Targets(input, target, weight, True)
    rows, _, total, _, weight_sum = _ce_forward(a, ignore_index, label_smoothing)
    return _reduce(rows, total, weight_sum, reduction, a.row_shape)


def _grad_scale(be, grad_out, reduction: str, divisor: float, shape: tuple, like):
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
        return (g / divisor if divisor else float("nan")), None
    return g, None


def _raw(be, a):
    return None if a is None else be.raw(a)


def cross_entropy_backward(grad_out, input, target, ignore_index: int = -100, reduction: str = "mean",
                           label_smoothing: float = 0.0, *, weight=None, lse=None, count=None, out=None):
    """dL/dinput (ops/loss.h): for class indices scale * (softmax(input) ((1 - eps) w_t + eps W / C)
    - eps w / C - (1 - eps) w_t onehot(target)), ignored rows 0; for probabilities
    scale * (softmax(input) sum(w t') - w t').

    ``lse`` and ``count`` (the log-sum-exp per row and the mean's divisor from
    cross_entropy_forward) skip recomputing the forward when given.
    """
    reduction = _check_reduction(reduction)
    a = _Targets(input, target, weight, True)
    be = a.be
    ign, eps = _ignore(ignore_index), _smoothing(label_smoothing)
    if lse is None or count is None:
        _, lse, _, _, count = _ce_forward(a, ign, eps)
    else:
        lse = be.operand(lse, "lse", a.x)
        if lse.size != a.N * a.D:
            raise ValueError(f"lse: expected {a.N * a.D} values (one per row), got shape {lse.shape}")
    scale, g = _grad_scale(be, grad_out, reduction, float(count), a.row_shape, a.x)
    out = be.out(out, a.x.shape, a.x, inputs=(a.x,))
    if a.soft:
        be.ops.ce_soft_backward(be.raw(out), be.raw(a.x), be.raw(lse), be.raw(a.t), _raw(be, g), scale, a.N, a.C, a.D,
                                eps, a.raw_weight())
    else:
        be.ops.ce_backward(be.raw(out), be.raw(a.x), be.raw(lse), be.raw(a.t), _raw(be, g), scale, a.N, a.C, a.D, ign,
                           eps, a.raw_weight())
    return out


def _nll_forward(a: _Targets, ignore_index):
    be = a.be
    rows = be.empty((a.N * a.D,), a.x)
    total, _, weight_sum = be.ops.nll_forward(be.raw(rows), be.raw(a.x), be.raw(a.t), a.N, a.C, a.D,
                                              _ignore(ignore_index), a.raw_weight())
    return rows, total, weight_sum


def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
             reduction: str = "mean"):
    """Negative log-likelihood of log-probabilities (C,), (N, C) or (N, C, d1, ..., dk) at class
    indices (), (N,) or (N, d1, ..., dk): -weight[t] * input[t]; the mean divides by the summed
    weights of the non-ignored targets, as torch.nn.functional.nll_loss."""
    reduction = _reduction(size_average, reduce, reduction)
    a = _Targets(input, target, weight, False)
    rows, total, weight_sum = _nll_forward(a, ignore_index)
    return _reduce(rows, total, weight_sum, reduction, a.row_shape)


def nll_loss_backward(grad_out, input, target, ignore_index: int = -100, reduction: str = "mean",
                      *, weight=None, total_weight=None, out=None):
    """dL/dinput: -scale * weight[t] at each row's target class, 0 elsewhere and on ignored rows.
    total_weight: the mean's divisor (the summed target weights), recomputed when not given."""
    reduction = _check_reduction(reduction)
    a = _Targets(input, target, weight, False)
    be = a.be
    ign = _ignore(ignore_index)
    if reduction == "mean" and total_weight is None:  # counted by the forward kernel where the targets live
        total_weight = _nll_forward(a, ign)[2]
    scale, g = _grad_scale(be, grad_out, reduction, float(total_weight or 0.0), a.row_shape, a.x)
    out = be.out(out, a.x.shape, a.x, inputs=(a.x,))
    be.ops.nll_backward(be.raw(out), be.raw(a.t), _raw(be, g), scale, a.N, a.C, a.D, ign, a.raw_weight())
    return out


def _point_args(input, target, weight=None, pos_weight=None):
    """(backend, x, y, weight, pos_weight): weights broadcast to the input's shape (None stays None)."""
    be = backend_of(input=input, target=target, weight=weight, pos_weight=pos_weight)
    x = be.operand(input, "input")
    y = be.operand(target, "target", x)
    if x.shape != y.shape:
        raise ValueError(f"target: expected the shape of input {x.shape}, got {y.shape}")
    ws = []
    for name, w in (("weight", weight), ("pos_weight", pos_weight)):
        if w is not None:
            w = be.operand(w, name, x)
            try:
                w = be.broadcast(w, x.shape)
            except ValueError:
                raise ValueError(f"{name}: shape {w.shape} does not broadcast to the input's shape {x.shape}") from None
        ws.append(w)
    return be, x, y, ws[0], ws[1]


def _point_loss(op, input, target, reduction: str, weight=None, pos_weight=None):
    be, x, y, w, pw = _point_args(input, target, weight, pos_weight)
    if reduction == "none":
        loss = be.empty(x.shape, x)
        be.ops.point_loss_forward(op, be.raw(loss), be.raw(x), be.raw(y), _raw(be, w), _raw(be, pw))
        return loss
    total = be.ops.point_loss_forward(op, None, be.raw(x), be.raw(y), _raw(be, w), _raw(be, pw))
    if reduction == "sum":
        return float(total)
    return float(total) / x.size if x.size else float("nan")


def _point_loss_backward(op, grad_out, input, target, reduction: str, out, weight=None, pos_weight=None):
    reduction = _check_reduction(reduction)
    be, x, y, w, pw = _point_args(input, target, weight, pos_weight)
    scale, g = _grad_scale(be, grad_out, reduction, x.size, x.shape, x)
    out = be.out(out, x.shape, x, inputs=(x, y))
    be.ops.point_loss_backward(op, be.raw(out), be.raw(x), be.raw(y), _raw(be, g), scale, _raw(be, w), _raw(be, pw))
    return out


def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean"):
    """Mean squared error (input - target)^2; shapes must be equal (no broadcasting)."""
    return _point_loss(_MSE, input, target, _reduction(size_average, reduce, reduction))


def mse_loss_backward(grad_out, input, target, reduction: str = "mean", *, out=None):
    """scale * 2 (input - target)."""
    return _point_loss_backward(_MSE, grad_out, input, target, reduction, out)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction: str = "mean", pos_weight=None):
    """-w (p t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))), computed stably from the logits x;
    weight and pos_weight (p) broadcast to the input's shape (pos_weight typically (C,) for
    inputs (..., C)), as torch.nn.functional.binary_cross_entropy_with_logits."""
    return _point_loss(_BCE, input, target, _reduction(size_average, reduce, reduction), weight, pos_weight)


def binary_cross_entropy_with_logits_backward(grad_out, input, target, reduction: str = "mean", *, weight=None,
                                              pos_weight=None, out=None):
    """scale * w (sigmoid(input) - target); with pos_weight p: scale * w ((p t + 1 - t) sigmoid(input) - p t)."""
    return _point_loss_backward(_BCE, grad_out, input, target, reduction, out, weight, pos_weight)
