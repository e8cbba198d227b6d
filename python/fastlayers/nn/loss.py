"""Loss modules: CrossEntropyLoss, NLLLoss, MSELoss, BCEWithLogitsLoss.

``loss = crit(pred, target)`` returns the loss (a float, or an array for reduction='none')
and, in training mode, caches what ``crit.backward()`` needs; ``crit.backward(grad_out=1.0)``
returns dL/dpred with the reduction folded in, ready for ``model.backward(...)``.
"""
from __future__ import annotations

from .. import functional as F
from .._backend import backend_of
from ..functional.loss import _ce_forward, _check_reduction, _class_targets, _reduce
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = _check_reduction(reduction)
        self._cache = None

    def clear_cache(self) -> None:
        self._cache = None

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Fused log-softmax + NLL over logits (N, C) and class indices (N,), as
    torch.nn.CrossEntropyLoss with ignore_index and label_smoothing (no class weights)."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(reduction)
        if weight is not None:
            raise ValueError("weight: class weights are not supported by fastlayers' CrossEntropyLoss")
        self.ignore_index, self.label_smoothing = int(ignore_index), float(label_smoothing)

    def forward(self, input, target):
        _, x, t, single = _class_targets(input, target)
        rows, lse, total, count, _ = _ce_forward(x, t, self.ignore_index, self.label_smoothing)
        if self.training:
            self._cache = (x.reshape(-1) if single else x, t.reshape(()) if single else t, lse, count)
        return _reduce(rows, total, count, self.reduction, single)

    def backward(self, grad_out=1.0):
        x, t, lse, count = self._take("_cache", "forward")
        return F.cross_entropy_backward(grad_out, x, t, self.ignore_index, self.reduction,
                                        self.label_smoothing, lse=lse, count=count)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (e.g. from LogSoftmax) at class indices."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        if weight is not None:
            raise ValueError("weight: class weights are not supported by fastlayers' NLLLoss")
        self.ignore_index = int(ignore_index)

    def forward(self, input, target):
        loss = F.nll_loss(input, target, self.ignore_index, self.reduction)
        if self.training:
            _, x, t, single = _class_targets(input, target)
            self._cache = (x.reshape(-1) if single else x, t.reshape(()) if single else t)
        return loss

    def backward(self, grad_out=1.0):
        x, t = self._take("_cache", "forward")
        return F.nll_loss_backward(grad_out, x, t, self.ignore_index, self.reduction)


class _PointLoss(_Loss):
    _forward_fn = staticmethod(F.mse_loss)
    _backward_fn = staticmethod(F.mse_loss_backward)

    def forward(self, input, target):
        be = backend_of(input=input, target=target)
        x, y = be.operand(input, "input"), be.operand(target, "target")
        loss = self._forward_fn(x, y, self.reduction)
        if self.training:
            self._cache = (x, y)
        return loss

    def backward(self, grad_out=1.0):
        x, y = self._take("_cache", "forward")
        return self._backward_fn(grad_out, x, y, self.reduction)


class MSELoss(_PointLoss):
    """Mean squared error; input and target of equal shape."""


class BCEWithLogitsLoss(_PointLoss):
    """Binary cross-entropy on logits, computed stably; input and target of equal shape,
    targets in [0, 1]. No weight / pos_weight."""

    _forward_fn = staticmethod(F.binary_cross_entropy_with_logits)
    _backward_fn = staticmethod(F.binary_cross_entropy_with_logits_backward)

    def __init__(self, weight=None, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        if weight is not None or pos_weight is not None:
            raise ValueError("weight / pos_weight: not supported by fastlayers' BCEWithLogitsLoss")
