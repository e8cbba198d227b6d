"""Device paths of the optimizers: what fastlayers.optim's SGD, Adam and AdamW run when a
group's parameters live on a GPU (their ``data`` is a fastlayers.cuda.Array, or any GPU array).

Same update rules, term order and state names as the CPU path (csrc/cpu/optim.h): one fused
CUDA kernel per parameter (csrc/cuda/optim.cu), state tensors (momentum_buffer, exp_avg,
exp_avg_sq, max_exp_avg_sq) kept as device Arrays beside the parameter. The kernels are
unverified on a GPU at the time of writing (tools/cuda_emu checks them by host emulation).
"""
from __future__ import annotations

import numpy as np

from . import _core
from ._backend.device import _is_gpu
from ._backend.device import Array, _operand, _require, to_device


def on_device(params) -> bool:
    """True when every parameter's data is a GPU array, False when none is; TypeError when
    a group mixes devices."""
    gpu = [_is_gpu(p.data) for p in params]
    if any(gpu) and not all(gpu):
        raise TypeError("params: a parameter group mixes GPU and CPU parameters; move them to one device")
    return bool(gpu) and all(gpu)


def copy_state(v):
    """A state_dict entry: NumPy copies of host and device arrays (so that it saves and loads
    anywhere; a device parameter's state moves back to its device on the next step)."""
    if isinstance(v, np.ndarray):
        return v.copy()
    return v.numpy() if isinstance(v, Array) else v


def _pair(p) -> tuple[Array, Array]:
    """The parameter and its gradient as float32 device Arrays of one shape, on one device."""
    data = _operand(p.data, "param", out=True)
    if p.grad is None or not _is_gpu(p.grad):
        raise TypeError(f"grad: expected a GPU array for a parameter on the GPU, got {type(p.grad).__name__}")
    grad = _operand(p.grad, "grad", data.device)
    if grad.shape != data.shape:
        raise ValueError(f"grad: expected the parameter's shape {data.shape}, got {grad.shape}")
    return data, grad


def _zeros_like(a: Array) -> Array:
    return to_device(np.zeros(a.shape, np.float32), a.device)


def _state_array(st: dict, key: str, like: Array) -> Array:
    """st[key] as a device Array on like's device (created as zeros; a NumPy state loaded by
    load_state_dict is moved to the device once)."""
    v = st.get(key)
    if v is None:
        v = _zeros_like(like)
    elif not isinstance(v, Array) or v.device != like.device:
        v = to_device(v, like.device) if not _is_gpu(v) else _operand(v, key, like.device)
    if v.shape != like.shape:
        raise ValueError(f"{key}: expected the parameter's shape {like.shape}, got {v.shape}")
    st[key] = v
    return v


def sgd_step(state: dict, group: dict, live: list) -> None:
    _require()
    for p in live:
        data, grad = _pair(p)
        st = state.setdefault(p, {})
        buf, first = None, False
        if group["momentum"] != 0:
            first = st.get("momentum_buffer") is None
            buf = _state_array(st, "momentum_buffer", data)._mem
        _core.cuda_sgd_update(data._mem, buf, grad._mem, data.size, group["lr"], group["momentum"],
                              group["dampening"], group["weight_decay"], group["nesterov"], first)


def adam_step(state: dict, group: dict, live: list, decoupled: bool) -> None:
    _require()
    b1, b2 = group["betas"]
    for p in live:
        data, grad = _pair(p)
        st = state.setdefault(p, {"step": 0})
        st.setdefault("step", 0)
        m = _state_array(st, "exp_avg", data)
        v = _state_array(st, "exp_avg_sq", data)
        vmax = _state_array(st, "max_exp_avg_sq", data)._mem if group["amsgrad"] else None
        st["step"] += 1
        _core.cuda_adam_update(data._mem, m._mem, v._mem, vmax, grad._mem, data.size, st["step"], group["lr"], b1,
                               b2, group["eps"], group["weight_decay"], decoupled)
