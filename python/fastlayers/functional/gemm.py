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
from .._backend import HOST, backend_of
from .._backend.host import as_f32, as_float_param, check_out

_Op = _core.ActOp
# activation name -> ActOp ('gelu' with approximate='tanh' is gelu_tanh)
_ACT_OPS = {"sigmoid": _Op.sigmoid, "tanh": _Op.tanh, "relu": _Op.relu, "leaky_relu": _Op.leaky_relu,
            "elu": _Op.elu, "gelu": _Op.gelu, "silu": _Op.silu}
# Default parameters, as the activation family's functions (PyTorch's): leaky_relu slope 0.01, elu alpha 1.
_ACT_DEFAULT = {"leaky_relu": 0.01, "elu": 1.0}
_NO_BIAS, _BIAS_COL = _core.GemmBias.none, _core.GemmBias.per_col
_PRECISIONS = {"float32": _core.GemmPrecision.fp32, "highest": _core.GemmPrecision.fp32,
               "tf32": _core.GemmPrecision.tf32, "high": _core.GemmPrecision.tf32}
_precision = _core.GemmPrecision.fp32  # of products on a GPU (fastlayers.cuda.set_matmul_precision)

_F32 = np.dtype(np.float32)


def set_matmul_precision(precision: str) -> None:
    """'float32' (default, also 'highest'): FP32 FMA, as accurate as a float32 BLAS. 'tf32' (also
    'high'): on a GPU, tensor cores with inputs rounded to TF32 (10-bit mantissa), FP32
    accumulation; each product has a relative error up to about 1e-3, so results differ from
    float32 by about 1e-3 * sqrt(K) relative. The CPU computes in float32 either way. Applies to
    every later matmul / linear."""
    global _precision
    if precision not in _PRECISIONS:
        raise ValueError(f"precision: expected one of {sorted(_PRECISIONS)}, got {precision!r}")
    _precision = _PRECISIONS[precision]


def get_matmul_precision() -> str:
    """The current matmul precision: 'float32' or 'tf32'."""
    return "tf32" if _precision == _core.GemmPrecision.tf32 else "float32"


def _operand(be, x, name: str, trans: bool, like=None):
    """(C-contiguous float32 array, trans flag); on the host, 2-D Fortran-order arrays flip the
    flag instead of copying."""
    if be is HOST:
        if type(x) is np.ndarray and x.dtype == _F32:  # the common case, kept cheap for small products
            flags = x.flags
            if flags.c_contiguous:
                return x, trans
            if x.ndim == 2 and flags.f_contiguous:
                return x.T, not trans
        return as_f32(x, name), trans
    return be.operand(x, name, like), trans


def _scalar(v, name: str) -> float:
    return v if type(v) is float else as_float_param(v, name)


def _mat_dims(shape: tuple, trans: bool) -> tuple[int, int]:
    """(rows, cols) of op(X) for the last two axes of `shape`."""
    r, c = shape[-2], shape[-1]
    return (c, r) if trans else (r, c)


def _batched(be, x, rows_cols: tuple, batch: tuple, B: int):
    """(x as (B or 1, rows, cols), whether its one matrix is broadcast over the B of the batch):
    a batch that is the whole batch or a single matrix costs nothing; another broadcast (a
    (2, 1, M, K) against a (1, 3, K, N)) is materialised once."""
    own = x.shape[:-2]
    n = int(np.prod(own, dtype=np.int64))
    if n == 1:
        return x.reshape((1,) + rows_cols), B != 1
    if n == B:
        return x.reshape((B,) + rows_cols), False
    return be.broadcast(x, batch + rows_cols).reshape((B,) + rows_cols), False


def matmul(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None):
    """alpha * op(a) @ op(b) + beta * out, with np.matmul's / torch.matmul's shapes.

    2-D a (M, K) ((K, M) when trans_a) and b (K, N) ((N, K) when trans_b) give (M, N). A 1-D
    a (K,) is a row vector and a 1-D b (K,) a column vector, whose dimension is dropped from the
    result (vector . vector is 0-d; trans has no meaning for them and is ignored). Leading axes
    are batches of matrices, broadcast by NumPy's rule ((7, 1, M, K) @ (3, K, N) is (7, 3, M, N));
    each product is one batched GEMM. beta != 0 needs ``out=`` (it is C); ``out`` must not share
    memory with a or b. Device operands run on the GPU (precision:
    fastlayers.cuda.set_matmul_precision).
    """
    # The common call (2-D float32 C-contiguous NumPy operands, bool flags, float alpha and beta)
    # is checked and run by one native call; it answers None for anything else.
    r = _core.matmul2d(a, b, trans_a, trans_b, alpha, beta, out)
    if r is not None:
        return r
    ta, tb = bool(trans_a), bool(trans_b)  # as the caller gave them, for messages
    be = backend_of(a=a, b=b, out=out)
    shape_a = tuple(a.shape if hasattr(a, "shape") else np.shape(a))
    shape_b = tuple(b.shape if hasattr(b, "shape") else np.shape(b))
    a, trans_a = _operand(be, a, "a", ta)
    b, trans_b = _operand(be, b, "b", tb, a)
    if a.ndim == 0 or b.ndim == 0:
        name, shp = ("a", shape_a) if a.ndim == 0 else ("b", shape_b)
        raise ValueError(f"{name}: matmul needs at least 1-D operands, got shape {shp} "
                         f"(a: {shape_a}, b: {shape_b})")
    vec_a, vec_b = a.ndim == 1, b.ndim == 1
    if vec_a:
        a, trans_a = a.reshape(1, -1), False
    if vec_b:
        b, trans_b = b.reshape(-1, 1), False
    alpha = _scalar(alpha, "alpha")
    beta = _scalar(beta, "beta")
    M, K = _mat_dims(a.shape, trans_a)
    Kb, N = _mat_dims(b.shape, trans_b)
    if K != Kb:
        raise ValueError(f"matmul: inner dimensions disagree: op(a) is {M}x{K} (a: {shape_a}, "
                         f"trans_a={ta}), op(b) is {Kb}x{N} (b: {shape_b}, trans_b={tb})")
    try:
        batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    except ValueError:
        raise ValueError(f"matmul: batch dimensions {a.shape[:-2]} and {b.shape[:-2]} cannot be broadcast "
                         f"(a: {shape_a}, b: {shape_b})") from None
    B = int(np.prod(batch, dtype=np.int64))
    out_shape = batch + (() if vec_a else (M,)) + (() if vec_b else (N,))
    if beta != 0.0 and out is None:
        raise ValueError("beta: a non-zero beta scales out=, which was not given")
    a3, bcast_a = _batched(be, a, a.shape[-2:], batch, B)
    b3, bcast_b = _batched(be, b, b.shape[-2:], batch, B)
    # be.out, then gemm raises ValueError when out shares memory with an operand
    out = be.out(out, out_shape, a)
    be.ops.gemm(be.raw(out.reshape(B, M, N)), be.raw(a3), be.raw(b3), B, M, N, K, trans_a, trans_b, bcast_a,
                bcast_b, alpha, beta, None, _NO_BIAS, None, 0.0, _precision)
    return out


def _parse_activation(activation):
    """(ActOp or None, parameter) from None, 'name' or ('name', param)."""
    if activation is None:
        return None, 0.0
    if isinstance(activation, str):
        name, param = activation, None
    elif isinstance(activation, tuple) and len(activation) == 2 and isinstance(activation[0], str):
        name, param = activation
    else:
        raise TypeError(f"activation: expected None, a name or a (name, parameter) tuple, got {activation!r}")
    if name == "gelu_tanh" and param is None:
        name, param = "gelu", "tanh"
    if name not in _ACT_OPS:
        raise ValueError(f"activation: expected one of {sorted(_ACT_OPS)}, got {name!r}")
    if name == "gelu":
        if param not in (None, "none", "tanh"):
            raise ValueError(f"activation: gelu's approximate must be 'none' or 'tanh', got {param!r}")
        return (_Op.gelu_tanh if param == "tanh" else _Op.gelu), 0.0
    if param is None:
        return _ACT_OPS[name], _ACT_DEFAULT.get(name, 0.0)
    if name not in _ACT_DEFAULT:
        raise ValueError(f"activation: {name} takes no parameter, got {param!r}")
    if not isinstance(param, numbers.Real) or isinstance(param, bool):
        raise TypeError(f"activation: the parameter of {name} must be a real number, got {type(param).__name__}")
    return _ACT_OPS[name], float(param)


def linear(x, weight, bias=None, activation=None, *, out=None):
    """activation(x @ weight.T + bias), in one pass over the output.

    x: (..., in_features); weight: (out_features, in_features); bias: (out_features,) or None.
    activation: None, 'relu', 'leaky_relu', 'elu', 'gelu', 'silu', 'sigmoid', 'tanh', or a tuple
    with a parameter: ('leaky_relu', slope) (default 0.01, as functional.leaky_relu),
    ('elu', alpha) (default 1.0), ('gelu', 'tanh') for the tanh approximation.
    Returns (..., out_features), on the device the arguments live on.
    """
    be = backend_of(x=x, weight=weight, bias=bias, out=out)
    x = be.operand(x, "x")
    # A weight in Fortran order (e.g. the transpose of an (in, out) array) is read as it is.
    w, trans_w = _operand(be, weight, "weight", True, x)
    if w.ndim != 2:
        raise ValueError(f"weight: expected a 2-D array (out_features, in_features), got shape {w.shape}")
    if x.ndim < 1:
        raise ValueError("x: expected an array of shape (..., in_features), got a 0-d array")
    N, K = _mat_dims(w.shape, not trans_w)
    wshape = (N, K)  # (out_features, in_features), for messages
    if x.shape[-1] != K:
        raise ValueError(f"linear: x's last dimension {x.shape[-1]} (x: {x.shape}) does not match "
                         f"in_features {K} of weight {wshape}")
    mode = _NO_BIAS
    if bias is not None:
        bias = be.operand(bias, "bias", x)
        if bias.shape != (N,):
            raise ValueError(f"bias: expected shape ({N},) for weight {wshape}, got {bias.shape}")
        mode = _BIAS_COL
    act, param = _parse_activation(activation)
    out = be.out(out, x.shape[:-1] + (N,), x)
    M = x.size // K if K else int(np.prod(x.shape[:-1], dtype=np.int64))
    be.ops.gemm(be.raw(out), be.raw(x), be.raw(w), 1, M, N, K, False, trans_w, False, False, 1.0, 0.0,
                None if bias is None else be.raw(bias), mode, act, param, _precision)
    return out


def _bias_grad(be, g2, M: int, N: int, grad_bias):
    """grad_out summed over its rows, added into grad_bias when given: a NumPy sum on the host, a
    ones-row GEMM (beta = 1 to accumulate) on a GPU."""
    if be is HOST:
        gb = g2.sum(axis=0, dtype=np.float32)
        if grad_bias is not None:
            np.add(grad_bias, gb, out=grad_bias)
            return grad_bias
        return gb
    out = grad_bias if grad_bias is not None else be.empty((N,), g2)
    be.ops.gemm(be.raw(out), be.raw(be._ones(M, g2.device)), be.raw(g2), 1, 1, N, M, False, False, False, False, 1.0,
                1.0 if grad_bias is not None else 0.0, None, _NO_BIAS, None, 0.0, _core.GemmPrecision.fp32)
    return out


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
    be = backend_of(grad_out=grad_out, x=x, weight=weight, grad_weight=grad_weight, grad_bias=grad_bias)
    grad_out = be.operand(grad_out, "grad_out")
    x = be.operand(x, "x", grad_out)
    weight = be.operand(weight, "weight", grad_out)
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
    inputs = (grad_out, x, weight)
    accumulate_w = grad_weight is not None
    grad_w = be.out(grad_weight, weight.shape, grad_out, inputs=inputs, name="grad_weight")
    if grad_bias is not None:
        grad_bias = be.out(grad_bias, (N,), grad_out, inputs=inputs, name="grad_bias")
    if be is HOST:
        for name, arr in (("grad_weight", grad_weight), ("grad_bias", grad_bias)):
            if arr is not None and any(np.may_share_memory(arr, a) for a in inputs):
                raise ValueError(f"{name}: shares memory with an input; pass a separate array")
        if grad_weight is not None and grad_bias is not None and np.may_share_memory(grad_weight, grad_bias):
            raise ValueError("grad_bias: shares memory with grad_weight")
    M = int(np.prod(x.shape[:-1], dtype=np.int64))
    fp32 = _core.GemmPrecision.fp32  # gradients in float32 whatever the forward's precision
    grad_x = None
    if need_input:
        grad_x = be.empty(x.shape, x)
        # grad_x (M, K) = grad_out (M, N) @ weight (N, K)
        be.ops.gemm(be.raw(grad_x), be.raw(grad_out), be.raw(weight), 1, M, K, N, False, False, False, False, 1.0,
                    0.0, None, _NO_BIAS, None, 0.0, fp32)
    # grad_weight (N, K) (+)= grad_out^T (N, M) @ x (M, K): grad_out is read as op(A) with trans_a
    be.ops.gemm(be.raw(grad_w), be.raw(grad_out), be.raw(x), 1, N, K, M, True, False, False, False, 1.0,
                1.0 if accumulate_w else 0.0, None, _NO_BIAS, None, 0.0, fp32)
    grad_b = _bias_grad(be, grad_out.reshape(M, N), M, N, grad_bias) if need_bias else None
    return grad_x, grad_w, grad_b
