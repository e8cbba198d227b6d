"""Loss modules: CrossEntropyLoss, NLLLoss, MSELoss, BCEWithLogitsLoss, with torch.nn's
constructors (weight and pos_weight are buffers, as PyTorch's, so .to("cuda") moves them).

``loss = crit(pred, target)`` returns the loss (a float, or an array for reduction='none')
and, in training mode, caches what ``crit.backward()`` needs; ``crit.backward(grad_out=1.0)``
returns dL/dpred with the reduction folded in, ready for ``model.backward(...)``.
"""
from __future__ import annotations

from .. import functional as F
from .._backend import operand
from ..functional.loss import _ce_forward, _nll_forward, _reduce, _reduction, _Targets
from .module import Module


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        self.reduction = _reduction(size_average, reduce, reduction)
        self._cache = None

    def _weights(self, **weights) -> None:
        for name, w in weights.items():
            self.register_buffer(name, None if w is None else operand(w, name))

    def clear_cache(self) -> None:
        self._cache = None

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Fused log-softmax + NLL over logits (N, C) or (N, C, d1, ..., dk) and class indices or
    class probabilities, as torch.nn.CrossEntropyLoss (weight, ignore_index, label_smoothing)."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(size_average, reduce, reduction)
        self._weights(weight=weight)
        self.ignore_index, self.label_smoothing = int(ignore_index), float(label_smoothing)

    def forward(self, input, target):
        a = _Targets(input, target, self.weight, True)
        rows, lse, total, _, weight_sum = _ce_forward(a, self.ignore_index, self.label_smoothing)
        if self.training:
            t = a.t if a.soft else a.t.reshape(a.row_shape)
            self._cache = (a.x, t, lse, weight_sum)
        return _reduce(rows, total, weight_sum, self.reduction, a.row_shape)

    def backward(self, grad_out=1.0):
        x, t, lse, weight_sum = self._take("_cache", "forward")
        return F.cross_entropy_backward(grad_out, x, t, self.ignore_index, self.reduction, self.label_smoothing,
                                        weight=self.weight, lse=lse, count=weight_sum)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (e.g. from LogSoftmax) at class indices."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self._weights(weight=weight)
        self.ignore_index = int(ignore_index)

    def forward(self, input, target):
        a = _Targets(input, target, self.weight, False)
        rows, total, weight_sum = _nll_forward(a, self.ignore_index)
        if self.training:
            self._cache = (a.x, a.t.reshape(a.row_shape), weight_sum)
        return _reduce(rows, total, weight_sum, self.reduction, a.row_shape)

    def backward(self, grad_out=1.0):
        x, t, weight_sum = self._take("_cache", "forward")
        return F.nll_loss_backward(grad_out, x, t, self.ignore_index, self.reduction, weight=self.weight,
                                   total_weight=weight_sum)


class MSELoss(_Loss):
    """Mean squared error; input and target of equal shape."""

    def forward(self, input, target):
        x, y = operand(input, "input"), operand(target, "target")
        loss = F.mse_loss(x, y, reduction=self.reduction)
        if self.training:
            self._cache = (x, y)
        return loss

    def backward(self, grad_out=1.0):
        x, y = self._take("_cache", "forward")
        return F.mse_loss_backward(grad_out, x, y, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits, computed stably; input and target of equal shape,
    targets in [0, 1]; weight and pos_weight broadcast to the input (pos_weight (C,) weighs
    the positives of each of the last axis' C classes)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean", pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self._weights(weight=weight, pos_weight=pos_weight)

    def forward(self, input, target):
        x, y = operand(input, "input"), operand(target, "target")
        loss = F.binary_cross_entropy_with_logits(x, y, self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
        if self.training:
            self._cache = (x, y)
        return loss

    def backward(self, grad_out=1.0):
        x, y = self._take("_cache", "forward")
        return F.binary_cross_entropy_with_logits_backward(grad_out, x, y, self.reduction, weight=self.weight,
                                                           pos_weight=self.pos_weight)
