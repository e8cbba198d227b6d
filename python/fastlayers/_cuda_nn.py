"""Device support of fastlayers.nn: moving a Module's parameters and buffers between the host
and a GPU (Module.to), and the device path of the affine layers (Linear, Maxout), which run
on fastlayers.cuda.linear / matmul (our SGEMM kernels). Gradients of device parameters are
accumulated on the device (GEMMs with beta = 1 into the existing grad).

Other modules run on the device where their functional ops do (activations, conv, pooling,
batch_norm); the losses run on the host. Unverified on a GPU at the time of writing.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._backend.device import _is_gpu


def _cuda():
    from . import cuda  # late: keeps `import fastlayers.nn` free of the CUDA layer
    return cuda


def parse_device(device):
    """None for 'cpu', else the GPU index of 'cuda' / 'cuda:N' (RuntimeError without a GPU)."""
    name = str(device)
    if name == "cpu":
        return None
    if name == "cuda" or name.startswith("cuda:"):
        index = name[5:] or "0"
        if not index.isdigit():
            raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {device!r}")
        return _cuda()._require(int(index))
    raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def move(a, index):
    """a on the host (index None) or on GPU `index`; non-float host arrays stay on the host."""
    if a is None:
        return None
    if index is None:
        return a.numpy() if _is_gpu(a) else a
    if not _is_gpu(a) and np.asarray(a).dtype.kind != "f":
        return a  # e.g. BatchNorm's num_batches_tracked counter
    return _cuda().to_device(a, index)


def host_copy(a) -> np.ndarray:
    """A NumPy copy of a host or device array (state_dict holds host arrays)."""
    return _cuda().asarray(a).numpy() if _is_gpu(a) else np.array(a, copy=True)


def copy_into(target, arr: np.ndarray) -> None:
    """Writes the host array arr into the device array target in place."""
    cuda = _cuda()
    src = cuda.to_device(arr.astype(np.float32, copy=False), target.device)
    cuda._core.cuda_copy(target._mem, src._mem, target.nbytes)


def accumulate(grad, g) -> None:
    """grad += g on the device: a rank-1 SGEMM (ones(1, 1) @ g + 1 * grad), always in float32
    (whatever set_matmul_precision says)."""
    cuda = _cuda()
    grad = cuda._operand(grad, "grad", out=True)
    g = cuda._operand(g, "grad", grad.device)
    if g.shape != grad.shape:
        raise ValueError(f"grad: expected shape {grad.shape}, got {g.shape}")
    n = grad.size
    if n:
        one = _ones_row(1, grad.device)
        cuda._core.cuda_sgemm(grad._mem, one._mem, g._mem, 1, n, 1, False, False, 1.0, 1.0, None, -1, 0.0, 0)


def on_device(param) -> bool:
    return param is not None and _is_gpu(param.data)


def affine_input(x, weight, layer: str):
    cuda = _cuda()
    x = cuda._operand(x, "input", weight.device)
    k = weight.shape[1]
    if x.ndim < 1 or x.shape[-1] != k:
        raise ValueError(f"{layer}: expected input of shape (..., {k}) (in_features={k}), got {x.shape}")
    return x


def linear(x, weight, bias, activation):
    """cuda.linear with a functional.linear activation spec (None, a name or (name, param))."""
    param = None
    if isinstance(activation, tuple):
        activation, param = activation
        if activation == "gelu" and param == "tanh":
            activation, param = "gelu_tanh", None
        elif not isinstance(param, numbers.Real):
            raise ValueError(f"activation: unsupported parameter {param!r}")
    return _cuda().linear(x, weight, bias, activation, activation_param=param)


_ones: dict = {}


def _ones_row(m: int, device: int):
    key = (m, device)
    if key not in _ones:
        _ones[key] = _cuda().to_device(np.ones((1, m), np.float32), device)
    return _ones[key]


def affine_backward(weight, bias, grad_z, x, need_input_grad: bool):
    """dL/dx (or None); weight.grad and bias.grad accumulate on the device."""
    cuda = _cuda()
    w = weight.data
    rows, k = w.shape
    g2 = cuda._operand(grad_z, "grad_out", w.device).reshape(-1, rows)
    x2 = x.reshape(-1, k)
    if weight.grad is None:
        weight.grad = cuda.matmul(g2, x2, trans_a=True)
    else:
        cuda.matmul(g2, x2, trans_a=True, beta=1.0, out=cuda._operand(weight.grad, "grad", out=True).reshape(rows, k))
    if bias is not None:
        ones = _ones_row(g2.shape[0], w.device)
        if bias.grad is None:
            bias.grad = cuda.matmul(ones, g2).reshape(rows)
        else:
            cuda.matmul(ones, g2, beta=1.0, out=cuda._operand(bias.grad, "grad", out=True).reshape(1, rows))
    if not need_input_grad:
        return None
    return cuda.matmul(g2, w).reshape(x.shape)
