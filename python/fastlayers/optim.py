"""Optimizers (SGD, Adam, AdamW), gradient clipping and learning-rate schedulers.

The update rules and defaults are torch.optim's. Each step makes one call into C++ per
parameter group; there every parameter gets one fused kernel that reads parameter,
gradient and state once and writes them once (csrc/ops/optim.h). Parameters without a
gradient (``grad is None``) are skipped, as in PyTorch.

``state_dict()`` / ``load_state_dict()`` round-trip the hyper-parameters and the per-parameter
state (step counts, moment buffers), with parameters numbered in group order as PyTorch does.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ._backend import DEVICE, HOST
from ._backend.device import Array, is_gpu

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "clip_grad_norm_", "LRScheduler", "StepLR",
           "CosineAnnealingLR"]


def _real(value, name: str, low: float = 0.0) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    if not value >= low:
        raise ValueError(f"{name}: expected a value >= {low}, got {value}")
    return float(value)


def _backend(params):
    """HOST when no parameter of the group lives on a GPU, DEVICE when all do; TypeError if mixed."""
    gpu = [is_gpu(p.data) for p in params]
    if any(gpu) and not all(gpu):
        raise TypeError("params: a parameter group mixes GPU and CPU parameters; move them to one device")
    return DEVICE if gpu and all(gpu) else HOST


def _pair(be, p):
    """The parameter (updated in place) and its gradient, float32, of one shape, on one device."""
    data = be.inplace(p.data, "param")
    if be is DEVICE and not is_gpu(p.grad):
        raise TypeError(f"grad: expected a GPU array for a parameter on the GPU, got {type(p.grad).__name__}")
    grad = be.operand(p.grad, "grad", data)
    if grad.shape != data.shape:
        raise ValueError(f"grad: expected the parameter's shape {data.shape}, got {grad.shape}")
    if be is HOST and grad is not p.grad:
        p.grad = grad  # converted once, kept
    return data, grad


def _state_array(be, st: dict, key: str, like, zero: bool = True):
    """st[key] on like's backend and device: created (zeros, or uninitialised when not zero), or
    moved there once (a NumPy state loaded by load_state_dict, a parameter moved to a GPU)."""
    v = st.get(key)
    if v is None:
        v = be.from_host(np.zeros(like.shape, np.float32), like) if zero or be is DEVICE else np.empty_like(like)
    elif be is DEVICE and not (isinstance(v, Array) and v.device == like.device):
        v = be.from_host(np.ascontiguousarray(v, dtype=np.float32), like) if not is_gpu(v) else \
            be.inplace(v, key, like)
    elif be is HOST and not isinstance(v, np.ndarray):
        v = v.numpy()
    if v.shape != like.shape:
        raise ValueError(f"{key}: expected the parameter's shape {like.shape}, got {v.shape}")
    st[key] = v
    return v


def _copy_state(v):
    """A state_dict entry: NumPy copies of host and device arrays (so that it saves and loads
    anywhere; a device parameter's state moves back to its device on the next step)."""
    if isinstance(v, np.ndarray):
        return v.copy()
    return v.numpy() if isinstance(v, Array) else v


class Optimizer:
    """Base class: parameter groups, per-parameter state, zero_grad and state_dict."""

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict = {}
        params = list(params)
        if not params:
            raise ValueError("params: optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group: dict) -> None:
        group = dict(group)
        ps = group["params"]
        group["params"] = [ps] if hasattr(ps, "data") and hasattr(ps, "grad") else list(ps)
        for p in group["params"]:
            if not (hasattr(p, "data") and hasattr(p, "grad")):
                raise TypeError(f"params: expected fastlayers.nn.Parameter objects, got {type(p).__name__}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("params: a parameter appears in more than one parameter group")
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad[...] = 0.0

    def _live(self, group: dict) -> list:
        return [p for p in group["params"] if p.grad is not None]

    def step(self) -> None:
        raise NotImplementedError

    # ---- state_dict: parameters are numbered 0, 1, ... in group order ----
    def state_dict(self) -> dict:
        index, groups, n = {}, [], 0
        for g in self.param_groups:
            ids = list(range(n, n + len(g["params"])))
            for p, i in zip(g["params"], ids):
                index[id(p)] = i
            n += len(ids)
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: _copy_state(v) for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"state_dict: has {len(groups)} parameter groups, this optimizer has "
                             f"{len(self.param_groups)}")
        by_index = {}
        for mine, theirs in zip(self.param_groups, groups):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError(f"state_dict: a parameter group has {len(theirs['params'])} parameters, "
                                 f"this optimizer's has {len(mine['params'])}")
            by_index.update(zip((int(i) for i in theirs["params"]), mine["params"]))
        new_state = {}
        for key, st in state_dict["state"].items():
            p = by_index.get(int(key))
            if p is None:
                raise ValueError(f"state_dict: state for unknown parameter index {key}")
            entry = {}
            for k, v in st.items():
                if isinstance(v, np.ndarray) or hasattr(v, "numpy"):
                    arr = np.array(v, dtype=np.float32, copy=True)
                    if arr.shape != p.data.shape:
                        raise ValueError(f"state_dict: {k} of parameter {key} has shape {arr.shape}, "
                                         f"expected {p.data.shape}")
                    entry[k] = np.ascontiguousarray(arr)
                else:
                    entry[k] = int(v) if k == "step" else v
            new_state[p] = entry
        for mine, theirs in zip(self.param_groups, groups):
            for k, v in theirs.items():
                if k != "params":
                    mine[k] = tuple(v) if isinstance(v, list) else v
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines + [")"])


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum, dampening and
    L2 weight decay, exactly as torch.optim.SGD (the momentum buffer starts as the first
    gradient)."""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        lr, momentum = _real(lr, "lr"), _real(momentum, "momentum")
        dampening, weight_decay = _real(dampening, "dampening", -math.inf), _real(weight_decay, "weight_decay")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov: needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=bool(nesterov)))

    def step(self) -> None:
        for group in self.param_groups:
            live = self._live(group)
            if not live:
                continue
            be = _backend(live)
            params, grads, bufs, first = [], [], [], []
            for p in live:
                data, grad = _pair(be, p)
                st = self.state.setdefault(p, {})
                buf = None
                if group["momentum"] != 0:
                    first.append(st.get("momentum_buffer") is None)
                    buf = be.raw(_state_array(be, st, "momentum_buffer", data, zero=False))
                else:
                    first.append(False)
                params.append(be.raw(data))
                grads.append(be.raw(grad))
                bufs.append(buf)
            be.ops.sgd_step(params, grads, bufs, first, group["lr"], group["momentum"], group["dampening"],
                            group["weight_decay"], group["nesterov"])


class Adam(Optimizer):
    """Adam (Kingma & Ba) with L2 weight decay added to the gradient and optional AMSGrad,
    as torch.optim.Adam."""

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False):
        lr, eps, weight_decay = _real(lr, "lr"), _real(eps, "eps"), _real(weight_decay, "weight_decay")
        b1, b2 = (_real(b, "betas") for b in betas)
        if not (b1 < 1.0 and b2 < 1.0):
            raise ValueError(f"betas: expected values in [0, 1), got {tuple(betas)}")
        super().__init__(params, dict(lr=lr, betas=(b1, b2), eps=eps, weight_decay=weight_decay,
                                      amsgrad=bool(amsgrad)))

    def step(self) -> None:
        for group in self.param_groups:
            live = self._live(group)
            if not live:
                continue
            be = _backend(live)
            params, grads, ms, vs, vmaxs, steps = [], [], [], [], [], []
            for p in live:
                data, grad = _pair(be, p)
                st = self.state.setdefault(p, {})
                st.setdefault("step", 0)
                ms.append(be.raw(_state_array(be, st, "exp_avg", data)))
                vs.append(be.raw(_state_array(be, st, "exp_avg_sq", data)))
                vmaxs.append(be.raw(_state_array(be, st, "max_exp_avg_sq", data)) if group["amsgrad"] else None)
                st["step"] += 1
                steps.append(st["step"])
                params.append(be.raw(data))
                grads.append(be.raw(grad))
            b1, b2 = group["betas"]
            be.ops.adam_step(params, grads, ms, vs, vmaxs, steps, group["lr"], b1, b2, group["eps"],
                             group["weight_decay"], self._decoupled)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p *= 1 - lr * weight_decay
    before the Adam update, as torch.optim.AdamW (default weight_decay 1e-2)."""

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scales all gradients in place so that their joint norm is at most max_norm.

    Returns the total norm before clipping (as torch.nn.utils.clip_grad_norm_); the scale is
    max_norm / (norm + 1e-6), applied only when it is below 1.
    """
    if hasattr(parameters, "data") and hasattr(parameters, "grad"):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    max_norm, norm_type = _real(max_norm, "max_norm"), float(norm_type)
    if not grads:
        return 0.0
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    else:
        if norm_type <= 0:
            raise ValueError(f"norm_type: expected a positive number or inf, got {norm_type}")
        if norm_type == 2.0:
            acc = sum(float(np.dot(g.ravel(), g.ravel())) for g in grads)
        else:
            acc = sum(float(np.sum(np.abs(g, dtype=np.float64) ** norm_type)) for g in grads)
        total = acc ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} is {total}")
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= np.float32(coef)
    return total


class LRScheduler:
    """Base class: sets each group's lr from its initial lr and the epoch counter."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected a fastlayers.optim.Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for g in optimizer.param_groups:
            g.setdefault("initial_lr", g["lr"])
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = self.lr_at(base, self.last_epoch)

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """lr = initial_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"step_size: expected a positive integer, got {step_size!r}")
        self.step_size, self.gamma = step_size, _real(gamma, "gamma")
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (initial_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2 (the closed form
    of torch's CosineAnnealingLR; it keeps following the cosine past T_max)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max < 1:
            raise ValueError(f"T_max: expected a positive integer, got {T_max!r}")
        self.T_max, self.eta_min = T_max, _real(eta_min, "eta_min")
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


def __dir__():
    """dir() shows the public API only (__all__), not the helpers this module imports."""
    return sorted(__all__)
