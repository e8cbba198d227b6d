"""The GEMM family: matmul, linear (bias and activation fused into the GEMM), linear_backward.

All compute in float32 (other real dtypes are converted once). matmul follows BLAS:
``out = alpha * op(a) @ op(b) + beta * out`` where op transposes the last two axes when
trans_a / trans_b is set; with beta == 0 the previous contents of ``out`` are ignored
(NaN included), as in BLAS. A 2-D operand that is the transpose of a C-contiguous array
(Fortran order) is used in place, by flipping its transpose flag, never copied.

linear follows torch.nn.functional.linear: ``x @ weight.T + bias`` with weight of shape
(out_features, in_features); the activation, when given, is applied on each output tile
while it is still in cache, so the output is written once.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _core
from .._backend.host import as_f32, as_float_param, check_out
from .._backend.device import device_of

# op codes of csrc/cpu/activation.h (enum ActOp)
_ACT_CODES = {"sigmoid": 0, "tanh": 1, "relu": 2, "leaky_relu": 3, "elu": 4, "gelu": 5}
_GELU_TANH = 6
# Default parameters, as the activation family's functions: leaky_relu slope 0.1, elu alpha 1.
_ACT_DEFAULT = {"leaky_relu": 0.1, "elu": 1.0}
_BIAS_NONE, _BIAS_COL = 0, 1

_F32 = np.dtype(np.float32)


def _operand(x, name: str, trans: bool):
    """(C-contiguous float32 array, trans flag); 2-D Fortran-order arrays flip the flag instead of copying."""
    if type(x) is np.ndarray and x.dtype == _F32:  # the common case, kept cheap for small products
        flags = x.flags
        if flags.c_contiguous:
            return x, trans
        if x.ndim == 2 and flags.f_contiguous:
            return x.T, not trans
    return as_f32(x, name), trans


def _scalar(v, name: str) -> float:
    return v if type(v) is float else as_float_param(v, name)


def _mat_dims(shape: tuple, trans: bool) -> tuple[int, int]:
    """(rows, cols) of op(X) for the last two axes of `shape`."""
    r, c = shape[-2], shape[-1]
    return (c, r) if trans else (r, c)


def _matmul_general(a, b, *, trans_a: bool = False, trans_b: bool = False, alpha: float = 1.0, beta: float = 0.0,
                    out=None) -> np.ndarray:
    """alpha * op(a) @ op(b) + beta * out for 2-D operands or batches of them.

    a: (M, K) or (batch, M, K) ((K, M) / (batch, K, M) when trans_a); b: (K, N) or (batch, K, N)
    ((N, K) ... when trans_b). A 2-D operand, or a batch of 1, is broadcast over the other's batch
    (NumPy's rule). The result is (M, N) when both operands are 2-D, else (batch, M, N).
    beta != 0 needs ``out=`` (it is C); ``out`` must not share memory with a or b.
    """
    # The call as matmul (_core.matmul) hands it on: anything other than 2-D float32 C-contiguous
    # operands with bool flags and float alpha and beta, which it runs itself.
    ta, tb = bool(trans_a), bool(trans_b)  # as the caller gave them, for messages
    if device_of(a=a, b=b, out=out) is not None:  # GPU operands: our CUDA SGEMM (2-D)
        from .. import cuda
        return cuda.matmul(a, b, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, out=out)
    shape_a = a.shape if type(a) is np.ndarray else np.shape(a)
    shape_b = b.shape if type(b) is np.ndarray else np.shape(b)
    a, trans_a = _operand(a, "a", ta)
    b, trans_b = _operand(b, "b", tb)
    if a.ndim not in (2, 3) or b.ndim not in (2, 3):
        name, shp = ("a", shape_a) if a.ndim not in (2, 3) else ("b", shape_b)
        raise ValueError(f"{name}: expected a 2-D or 3-D array, got shape {tuple(shp)} "
                         f"(a: {tuple(shape_a)}, b: {tuple(shape_b)})")
    alpha = _scalar(alpha, "alpha")
    beta = _scalar(beta, "beta")
    M, K = _mat_dims(a.shape, trans_a)
    Kb, N = _mat_dims(b.shape, trans_b)
    if K != Kb:
        raise ValueError(f"matmul: inner dimensions disagree: op(a) is {M}x{K} (a: {tuple(shape_a)}, "
                         f"trans_a={ta}), op(b) is {Kb}x{N} (b: {tuple(shape_b)}, trans_b={tb})")
    ba = a.shape[0] if a.ndim == 3 else 1
    bb = b.shape[0] if b.ndim == 3 else 1
    if ba != bb and ba != 1 and bb != 1:
        raise ValueError(f"matmul: batch sizes {ba} and {bb} cannot be broadcast "
                         f"(a: {tuple(shape_a)}, b: {tuple(shape_b)})")
    batch = max(ba, bb)
    out_shape = (M, N) if a.ndim == 2 and b.ndim == 2 else (batch, M, N)
    if beta != 0.0 and out is None:
        raise ValueError("beta: a non-zero beta scales out=, which was not given")
    # check_out, then _core.gemm raises ValueError when out shares memory with an operand
    out = np.empty(out_shape, dtype=np.float32) if out is None else check_out(out, out_shape)
    _core.gemm(out, a, b, batch, M, N, K, trans_a, trans_b, ba == 1 and batch > 1, bb == 1 and batch > 1,
               alpha, beta, None, _BIAS_NONE, -1, 0.0)
    return out


# matmul is the native entry _core.matmul: the common 2-D call runs without a Python frame, and
# every other call comes to _matmul_general with its arguments as given.
_matmul_general.__name__ = _matmul_general.__qualname__ = "matmul"  # as TypeErrors name it
_core.set_matmul_general(_matmul_general)
matmul = _core.matmul


def _parse_activation(activation) -> tuple[int, float]:
    """(ActOp code or -1, parameter) from None, 'name' or ('name', param)."""
    if activation is None:
        return -1, 0.0
    if isinstance(activation, str):
        name, param = activation, None
    elif isinstance(activation, tuple) and len(activation) == 2 and isinstance(activation[0], str):
        name, param = activation
    else:
        raise TypeError(f"activation: expected None, a name or a (name, parameter) tuple, got {activation!r}")
    if name not in _ACT_CODES:
        raise ValueError(f"activation: expected one of {sorted(_ACT_CODES)}, got {name!r}")
    if name == "gelu":
        if param not in (None, "none", "tanh"):
            raise ValueError(f"activation: gelu's approximate must be 'none' or 'tanh', got {param!r}")
        return (_GELU_TANH if param == "tanh" else _ACT_CODES[name]), 0.0
    if param is None:
        return _ACT_CODES[name], _ACT_DEFAULT.get(name, 0.0)
    if name not in _ACT_DEFAULT:
        raise ValueError(f"activation: {name} takes no parameter, got {param!r}")
    if not isinstance(param, numbers.Real) or isinstance(param, bool):
        raise TypeError(f"activation: the parameter of {name} must be a real number, got {type(param).__name__}")
    return _ACT_CODES[name], float(param)


def linear(x, weight, bias=None, activation=None, *, out=None) -> np.ndarray:
    """activation(x @ weight.T + bias), in one pass over the output.

    x: (..., in_features); weight: (out_features, in_features); bias: (out_features,) or None.
    activation: None, 'relu', 'leaky_relu', 'elu', 'gelu', 'sigmoid', 'tanh', or a tuple
    with a parameter: ('leaky_relu', slope) (default 0.1, as functional.leaky_relu),
    ('elu', alpha) (default 1.0), ('gelu', 'tanh') for the tanh approximation.
    Returns (..., out_features).
    """
    if device_of(x=x, weight=weight, bias=bias, out=out) is not None:
        return _linear_cuda(x, weight, bias, activation, out)
    x = as_f32(x, "x")
    # A weight in Fortran order (e.g. the transpose of an (in, out) array) is read as it is.
    w, trans_w = _operand(weight, "weight", True)
    if w.ndim != 2:
        raise ValueError(f"weight: expected a 2-D array (out_features, in_features), got shape {w.shape}")
    if x.ndim < 1:
        raise ValueError("x: expected an array of shape (..., in_features), got a 0-d array")
    N, K = _mat_dims(w.shape, not trans_w)
    weight = w.T if not trans_w else w  # (out_features, in_features) view, for messages
    if x.shape[-1] != K:
        raise ValueError(f"linear: x's last dimension {x.shape[-1]} (x: {x.shape}) does not match "
                         f"in_features {K} of weight {weight.shape}")
    mode = _BIAS_NONE
    if bias is not None:
        bias = as_f32(bias, "bias")
        if bias.shape != (N,):
            raise ValueError(f"bias: expected shape ({N},) for weight {weight.shape}, got {bias.shape}")
        mode = _BIAS_COL
    act, param = _parse_activation(activation)
    out = check_out(out, x.shape[:-1] + (N,))
    M = x.size // K if K else int(np.prod(x.shape[:-1], dtype=np.int64))
    _core.gemm(out, x, w, 1, M, N, K, False, trans_w, False, False, 1.0, 0.0, bias, mode, act, param)
    return out


def _linear_cuda(x, weight, bias, activation, out):
    """linear on device arrays: fastlayers.cuda.linear with the same activation spelling."""
    from .. import cuda
    name, param = (activation, None) if not isinstance(activation, tuple) else activation
    if name == "gelu" and param == "tanh":
        name, param = "gelu_tanh", None
    elif name == "gelu" and param == "none":
        param = None
    return cuda.linear(x, weight, bias, name, activation_param=param, out=out)


def _linear_backward_cuda(grad_out, x, weight, need_bias: bool, need_input: bool, grad_weight, grad_bias):
    """linear_backward on device arrays: the same transposed GEMMs, and grad_bias as ones @ grad_out;
    gradients to accumulate are added with _cuda_nn.accumulate."""
    from .. import cuda
    from .._cuda_nn import _ones_row, accumulate  # _ones_row: cached per (rows, device), no upload per call
    K = weight.shape[1]
    g2 = grad_out.reshape(-1, weight.shape[0])
    x2 = x.reshape(-1, K)
    grad_x = cuda.matmul(g2, weight).reshape(*x.shape) if need_input else None
    grad_w = cuda.matmul(g2, x2, trans_a=True)
    if grad_weight is not None:
        accumulate(grad_weight, grad_w)
        grad_w = grad_weight
    grad_b = None
    if need_bias:
        grad_b = cuda.matmul(_ones_row(g2.shape[0], g2.device), g2).reshape(weight.shape[0])
        if grad_bias is not None:
            accumulate(grad_bias, grad_b)
            grad_b = grad_bias
    return grad_x, grad_w, grad_b


def linear_backward(grad_out, x, weight, *, need_bias: bool = True, need_input: bool = True, grad_weight=None,
                    grad_bias=None):
    """Gradients of y = x @ weight.T + bias: (grad_x, grad_weight, grad_bias).

    grad_out: (..., out_features); x: (..., in_features); weight: (out_features, in_features).
    grad_x = grad_out @ weight and grad_weight = grad_out^T @ x are GEMMs on the arrays as they
    are (the transpose is a flag of the GEMM, not a copy); grad_bias = grad_out summed over all
    leading axes, or None when need_bias is False; grad_x is None when need_input is False (a
    first layer: a third of the work saved). (An activation fused into linear is undone first
    with its own backward, e.g. functional.relu_backward.)

    grad_weight / grad_bias: arrays the gradients are added into, in place, and returned, as
    PyTorch accumulates into .grad: float32, C-contiguous, of weight's shape / (out_features,),
    not overlapping an input. The weight gradient's GEMM then runs with beta = 1 on grad_weight,
    so no temporary is written and no separate addition is made.
    """
    on_gpu = device_of(grad_out=grad_out, x=x, weight=weight, grad_weight=grad_weight, grad_bias=grad_bias) is not None
    if not on_gpu:
        grad_out = as_f32(grad_out, "grad_out")
        x = as_f32(x, "x")
        weight = as_f32(weight, "weight")
    if weight.ndim != 2:
        raise ValueError(f"weight: expected a 2-D array (out_features, in_features), got shape {weight.shape}")
    N, K = weight.shape
    if x.ndim < 1 or x.shape[-1] != K:
        raise ValueError(f"x: expected shape (..., {K}) for weight {weight.shape}, got {x.shape}")
    if grad_out.shape != x.shape[:-1] + (N,):
        raise ValueError(f"grad_out: expected shape {x.shape[:-1] + (N,)} for x {x.shape} and weight "
                         f"{weight.shape}, got {grad_out.shape}")
    if grad_bias is not None and not need_bias:
        raise ValueError("grad_bias: given with need_bias=False")
    if on_gpu:
        for name, arr, shape in (("grad_weight", grad_weight, weight.shape), ("grad_bias", grad_bias, (N,))):
            if arr is not None and tuple(arr.shape) != tuple(shape):
                raise ValueError(f"{name}: expected shape {tuple(shape)}, got {tuple(arr.shape)}")
        return _linear_backward_cuda(grad_out, x, weight, need_bias, need_input, grad_weight, grad_bias)
    inputs = (grad_out, x, weight)
    accumulate_w = grad_weight is not None
    grad_w = check_out(grad_weight, weight.shape, "grad_weight")
    if grad_bias is not None:
        check_out(grad_bias, (N,), "grad_bias")
    for name, arr in (("grad_weight", grad_weight), ("grad_bias", grad_bias)):
        if arr is not None and any(np.may_share_memory(arr, a) for a in inputs):
            raise ValueError(f"{name}: shares memory with an input; pass a separate array")
    if grad_weight is not None and grad_bias is not None and np.may_share_memory(grad_weight, grad_bias):
        raise ValueError("grad_bias: shares memory with grad_weight")
    M = int(np.prod(x.shape[:-1], dtype=np.int64))
    grad_x = None
    if need_input:
        grad_x = np.empty(x.shape, dtype=np.float32)
        # grad_x (M, K) = grad_out (M, N) @ weight (N, K)
        _core.gemm(grad_x, grad_out, weight, 1, M, K, N, False, False, False, False, 1.0, 0.0, None, _BIAS_NONE, -1, 0.0)
    # grad_weight (N, K) (+)= grad_out^T (N, M) @ x (M, K): grad_out is read as op(A) with trans_a
    _core.gemm(grad_w, grad_out, x, 1, N, K, M, True, False, False, False, 1.0, 1.0 if accumulate_w else 0.0, None,
               _BIAS_NONE, -1, 0.0)
    grad_b = None
    if need_bias:
        grad_b = grad_out.reshape(M, N).sum(axis=0, dtype=np.float32)
        if grad_bias is not None:
            np.add(grad_bias, grad_b, out=grad_bias)
            grad_b = grad_bias
    return grad_x, grad_w, grad_b
