"""Float64 NumPy oracles, one section per op family."""
from __future__ import annotations

import math

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])

# ---- activation ----


def sigmoid(x):
    x = np.asarray(x, np.float64)
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def tanh(x):
    return np.tanh(np.asarray(x, np.float64))


def relu(x):
    x = np.asarray(x, np.float64)
    return np.where(np.isnan(x), x, np.maximum(x, 0))


def leaky_relu(x, slope=0.01):
    x = np.asarray(x, np.float64)
    return np.where(x > 0, x, slope * x)


def elu(x, alpha=1.0):
    x = np.asarray(x, np.float64)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def gelu(x, approximate="none"):
    x = np.asarray(x, np.float64)
    if approximate == "tanh":  # 0.5 x (1 + tanh(u)) = x sigmoid(2u), without cancellation
        return x * sigmoid(2 * math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))
    with np.errstate(invalid="ignore"):
        return x * 0.5 * _erfc(-x / math.sqrt(2))


def silu(x):
    x = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore"):
        return x * sigmoid(x)


def softmax(x, axis=-1):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    x = np.asarray(x, np.float64)
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def maxout(x, pieces, axis=1):
    x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    y = x.reshape(x.shape[:-1] + (x.shape[-1] // pieces, pieces)).max(axis=-1)
    return np.moveaxis(y, -1, axis)


# ---- pool (planes are the leading dims; windows follow PyTorch, ceil_mode included) ----


def pool_out_size(n, k, s, p, d, ceil_mode):
    num = n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = num // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _windows(n, k, s, p, d, ceil_mode):
    """Per output index, the list of valid input positions."""
    return [[o * s - p + t * d for t in range(k) if 0 <= o * s - p + t * d < n]
            for o in range(pool_out_size(n, k, s, p, d, ceil_mode))]


def max_pool2d(x, k, s=None, p=(0, 0), d=(1, 1), ceil_mode=False):
    """(y, flat indices) in float64 / int64; the first maximum wins, or the last NaN (PyTorch's)."""
    x = np.asarray(x, np.float64)
    s = s or k
    H, W = x.shape[-2:]
    rows = _windows(H, k[0], s[0], p[0], d[0], ceil_mode)
    cols = _windows(W, k[1], s[1], p[1], d[1], ceil_mode)
    y = np.empty(x.shape[:-2] + (len(rows), len(cols)))
    idx = np.empty(y.shape, np.int64)

    def first_tap(o, ax):  # PyTorch's index of a window over padding only: its first tap past the padding
        start = o * s[ax] - p[ax]
        return start + (-(start // d[ax]) * d[ax] if start < 0 else 0)

    for i, rs in enumerate(rows):
        for j, cs in enumerate(cols):
            flat = np.array([h * W + w for h in rs for w in cs], np.int64)
            if flat.size == 0:
                y[..., i, j], idx[..., i, j] = -np.inf, first_tap(i, 0) * W + first_tap(j, 1)
                continue
            vals = x.reshape(x.shape[:-2] + (H * W,))[..., flat]
            a = np.argmax(vals, axis=-1)
            # PyTorch takes a NaN whenever it meets one: the window's last NaN wins
            nan = np.isnan(vals)
            a = np.where(nan.any(-1), flat.size - 1 - np.argmax(nan[..., ::-1], axis=-1), a)
            y[..., i, j] = np.take_along_axis(vals, a[..., None], -1)[..., 0]
            idx[..., i, j] = flat[a]
    return y, idx


def avg_pool2d(x, k, s=None, p=(0, 0), ceil_mode=False, count_include_pad=True, divisor_override=None):
    x = np.asarray(x, np.float64)
    s = s or k
    H, W = x.shape[-2:]
    P, Q = (pool_out_size(H, k[0], s[0], p[0], 1, ceil_mode), pool_out_size(W, k[1], s[1], p[1], 1, ceil_mode))
    y = np.empty(x.shape[:-2] + (P, Q))
    for i in range(P):
        for j in range(Q):
            h0, w0 = i * s[0] - p[0], j * s[1] - p[1]
            h1, w1 = min(h0 + k[0], H + p[0]), min(w0 + k[1], W + p[1])
            n_pad = (h1 - h0) * (w1 - w0)
            ha, hb, wa, wb = max(h0, 0), min(h1, H), max(w0, 0), min(w1, W)
            total = x[..., ha:hb, wa:wb].sum(axis=(-2, -1))
            div = divisor_override or (n_pad if count_include_pad else (hb - ha) * (wb - wa))
            y[..., i, j] = total / div
    return y


def adaptive_avg_pool2d(x, size):
    x = np.asarray(x, np.float64)
    H, W = x.shape[-2:]
    P, Q = size
    y = np.empty(x.shape[:-2] + (P, Q))
    for i in range(P):
        for j in range(Q):
            ha, hb = (i * H) // P, -(-((i + 1) * H) // P)
            wa, wb = (j * W) // Q, -(-((j + 1) * W) // Q)
            y[..., i, j] = x[..., ha:hb, wa:wb].mean(axis=(-2, -1))
    return y


# ---- norm: batch_norm over axis 1 of (N, C, ...) ----


def batch_norm(x, mean=None, var=None, weight=None, bias=None, eps=1e-5):
    """Normalises with the given statistics, or the batch's (biased variance) when None."""
    x = np.asarray(x, np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    shp = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes) if mean is None else np.asarray(mean, np.float64)
    var = x.var(axis=axes) if var is None else np.asarray(var, np.float64)
    w = np.ones(x.shape[1]) if weight is None else np.asarray(weight, np.float64)
    b = np.zeros(x.shape[1]) if bias is None else np.asarray(bias, np.float64)
    return (x - mean.reshape(shp)) / np.sqrt(var.reshape(shp) + eps) * w.reshape(shp) + b.reshape(shp)


def batch_norm_backward(g, x, weight=None, mean=None, var=None, eps=1e-5):
    """(dx, dweight, dbias); training statistics when mean/var are None, constants otherwise."""
    x, g = np.asarray(x, np.float64), np.asarray(g, np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    shp = (1, -1) + (1,) * (x.ndim - 2)
    training = mean is None
    mean = x.mean(axis=axes) if training else np.asarray(mean, np.float64)
    var = x.var(axis=axes) if training else np.asarray(var, np.float64)
    inv = 1 / np.sqrt(var + eps)
    xhat = (x - mean.reshape(shp)) * inv.reshape(shp)
    w = np.ones(x.shape[1]) if weight is None else np.asarray(weight, np.float64)
    dxhat = g * w.reshape(shp)
    if training:
        dx = inv.reshape(shp) * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                                 - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))
    else:
        dx = dxhat * inv.reshape(shp)
    return dx, (g * xhat).sum(axis=axes), g.sum(axis=axes)
# ---- gemm ----


def group_norm(x, groups, weight=None, bias=None, eps=1e-5):
    """torch.nn.functional.group_norm in float64 (instance norm: groups = C)."""
    x = np.asarray(x, np.float64)
    N, C = x.shape[:2]
    xg = x.reshape(N, groups, -1)
    y = ((xg - xg.mean(-1, keepdims=True)) / np.sqrt(xg.var(-1, keepdims=True) + eps)).reshape(x.shape)
    shape = (1, C) + (1,) * (x.ndim - 2)
    if weight is not None:
        y = y * np.asarray(weight, np.float64).reshape(shape)
    if bias is not None:
        y = y + np.asarray(bias, np.float64).reshape(shape)
    return y


def _interp_axis(n_in, n_out, scale, mode, align_corners):
    """Per output position: (input indices, weights) along one axis, with PyTorch's float32 maps."""
    f32 = np.float32
    if align_corners and mode == "linear":
        ratio = f32(n_in - 1) / f32(n_out - 1) if n_out > 1 else f32(0)
    else:
        ratio = f32(1.0 / scale) if scale else f32(n_in) / f32(n_out)
    taps = []
    for o in range(n_out):
        if mode == "nearest-exact":
            taps.append(([min(int(np.floor(f32(np.float64(o + 0.5) * np.float64(ratio)))), n_in - 1)], [1.0]))
        elif mode == "nearest":
            i = o if n_out == n_in else (o >> 1 if n_out == 2 * n_in else min(int(np.floor(f32(o) * ratio)), n_in - 1))
            taps.append(([i], [1.0]))
        elif n_out == n_in:
            taps.append(([o], [1.0]))
        else:
            # PyTorch's src is one fused multiply-add: exact in float64, rounded once
            src = ratio * f32(o) if align_corners else max(f32(np.float64(ratio) * (o + 0.5) - 0.5), f32(0))
            i0 = min(int(np.floor(src)), n_in - 1)
            l1 = min(max(float(src - f32(i0)), 0.0), 1.0)
            taps.append(([i0, i0 + (1 if i0 < n_in - 1 else 0)], [1.0 - l1, l1]))
    return taps


def interpolate(x, out_size, scales=None, mode="nearest", align_corners=False):
    """torch.nn.functional.interpolate over the last len(out_size) axes, float64 blends."""
    x = np.asarray(x, np.float64)
    lin = "linear" if mode in ("linear", "bilinear") else mode
    scales = scales or (None,) * len(out_size)
    for ax, (n_out, sc) in enumerate(zip(out_size, scales), start=x.ndim - len(out_size)):
        taps = _interp_axis(x.shape[ax], n_out, sc, lin, align_corners)
        x = np.moveaxis(x, ax, -1)
        x = np.stack([sum(w * x[..., i] for i, w in zip(idx, ws)) for idx, ws in taps], -1)
        x = np.moveaxis(x, -1, ax)
    return x


def pad(x, p, mode="constant", value=0.0):
    """torch.nn.functional.pad (p from the last axis inwards; negative constant pads crop)."""
    x = np.asarray(x, np.float64)
    k = len(p) // 2
    pairs = [(0, 0)] * (x.ndim - k) + [(p[2 * i], p[2 * i + 1]) for i in range(k)][::-1]
    crop = tuple(slice(max(-lo, 0), x.shape[a] - max(-hi, 0)) for a, (lo, hi) in enumerate(pairs))
    x = x[crop]
    pos = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
    np_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    return np.pad(x, pos, np_mode, **({"constant_values": value} if mode == "constant" else {}))


def matmul(a, b, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, c=None):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if trans_a:
        a = np.swapaxes(a, -1, -2)
    if trans_b:
        b = np.swapaxes(b, -1, -2)
    r = alpha * np.matmul(a, b)
    if beta != 0.0:
        r = r + beta * np.asarray(c, np.float64)
    return r


_LINEAR_ACTS = {None: lambda v: v, "relu": relu, "leaky_relu": leaky_relu, "elu": elu,
                "gelu": gelu, "sigmoid": sigmoid, "tanh": tanh, "silu": silu}


def linear(x, weight, bias=None, activation=None, param=None):
    y = np.asarray(x, np.float64) @ np.asarray(weight, np.float64).T
    if bias is not None:
        y = y + np.asarray(bias, np.float64)
    f = _LINEAR_ACTS[activation]
    return f(y) if param is None else f(y, param)


def linear_backward(grad_out, x, weight):
    g = np.asarray(grad_out, np.float64)
    x = np.asarray(x, np.float64)
    g2 = g.reshape(math.prod(g.shape[:-1]), g.shape[-1])  # (not -1: a zero-size g has no -1)
    x2 = x.reshape(math.prod(x.shape[:-1]), x.shape[-1])
    return g @ np.asarray(weight, np.float64), g2.T @ x2, g2.sum(axis=0)


# ---- conv: NCHW, weight (K, C/groups, R, S), symmetric padding ----


def _conv_taps(x, w, stride, padding, dilation, out_hw=None):
    """Padded input, output size and the (r, s) -> strided view function of conv2d. out_hw: the
    output size when it is given (a transposed convolution's input, output_padding >= stride)."""
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    P = (H + 2 * padding[0] - dilation[0] * (R - 1) - 1) // stride[0] + 1
    Q = (W + 2 * padding[1] - dilation[1] * (S - 1) - 1) // stride[1] + 1
    if out_hw is not None:
        P, Q = out_hw

    def view(a, r, s):
        h0, w0 = r * dilation[0], s * dilation[1]
        return a[:, :, h0:h0 + stride[0] * (P - 1) + 1:stride[0], w0:w0 + stride[1] * (Q - 1) + 1:stride[1]]
    return xp, P, Q, view


def conv2d(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    xp, P, Q, view = _conv_taps(x, w, stride, padding, dilation)
    K, Cg, R, S = w.shape
    Kg = K // groups
    y = np.zeros((x.shape[0], K, P, Q))
    for g in range(groups):
        xg, wg = xp[:, g * Cg:(g + 1) * Cg], w[g * Kg:(g + 1) * Kg]
        for r in range(R):
            for s in range(S):
                y[:, g * Kg:(g + 1) * Kg] += np.einsum("ncpq,kc->nkpq", view(xg, r, s), wg[:, :, r, s])
    return y if b is None else y + np.asarray(b, np.float64)[None, :, None, None]


def conv2d_backward_input(dy, w, x_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    dy, w = np.asarray(dy, np.float64), np.asarray(w, np.float64)
    dxp, P, Q, view = _conv_taps(np.zeros(x_shape), w, stride, padding, dilation, dy.shape[2:])
    K, Cg, R, S = w.shape
    Kg = K // groups
    for g in range(groups):
        dyg, wg = dy[:, g * Kg:(g + 1) * Kg], w[g * Kg:(g + 1) * Kg]
        for r in range(R):
            for s in range(S):
                view(dxp[:, g * Cg:(g + 1) * Cg], r, s)[...] += np.einsum("nkpq,kc->ncpq", dyg, wg[:, :, r, s])
    H, W = x_shape[2:]
    return dxp[:, :, padding[0]:padding[0] + H, padding[1]:padding[1] + W]


def conv2d_backward_weight(dy, x, w_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    dy, x = np.asarray(dy, np.float64), np.asarray(x, np.float64)
    xp, P, Q, view = _conv_taps(x, np.zeros(w_shape), stride, padding, dilation)
    K, Cg, R, S = w_shape
    Kg = K // groups
    dw = np.zeros(w_shape)
    for g in range(groups):
        for r in range(R):
            for s in range(S):
                dw[g * Kg:(g + 1) * Kg, :, r, s] = np.einsum("nkpq,ncpq->kc", dy[:, g * Kg:(g + 1) * Kg],
                                                             view(xp[:, g * Cg:(g + 1) * Cg], r, s))
    return dw


def conv_transpose2d(x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), groups=1,
                     dilation=(1, 1)):
    """The adjoint of conv2d: weight (C_in, C_out/groups, R, S)."""
    N, Cin, Hin, Win = x.shape
    _, Cog, R, S = w.shape
    H = (Hin - 1) * stride[0] - 2 * padding[0] + dilation[0] * (R - 1) + output_padding[0] + 1
    W = (Win - 1) * stride[1] - 2 * padding[1] + dilation[1] * (S - 1) + output_padding[1] + 1
    y = conv2d_backward_input(x, w, (N, Cog * groups, H, W), stride, padding, dilation, groups)
    return y if b is None else y + np.asarray(b, np.float64)[None, :, None, None]
# ---- loss ----


def cross_entropy_rows(x, t, ignore_index=-100, label_smoothing=0.0):
    """Per-row loss (0 on ignored rows) and the gradient of sum(rows) in float64."""
    x = np.asarray(x, np.float64)
    t = np.asarray(t)
    n, c = x.shape
    m = x.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(x - m).sum(axis=1))
    keep = t != ignore_index
    tc = np.where(keep, t, 0)
    logp = x - lse[:, None]
    rows = -(1 - label_smoothing) * logp[np.arange(n), tc] - label_smoothing * logp.mean(axis=1)
    onehot = np.zeros_like(x)
    onehot[np.arange(n), tc] = 1.0
    grad = np.exp(logp) - (1 - label_smoothing) * onehot - label_smoothing / c
    return np.where(keep, rows, 0.0), np.where(keep[:, None], grad, 0.0)


def _class_last(x):
    """Logits (C,), (N, C) or (N, C, d...) as rows (R, C) in float64, and the rows' shape."""
    x = np.asarray(x, np.float64)
    if x.ndim == 1:
        return x[None, :], ()
    rows = np.moveaxis(x, 1, -1)
    return rows.reshape(-1, x.shape[1]), rows.shape[:-1]


def cross_entropy(x, t, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """torch.nn.functional.cross_entropy in float64: class indices (t of the rows' shape) or
    class probabilities (t of x's shape, floats), class weights, smoothing, every reduction."""
    xr, shape = _class_last(x)
    n, c = xr.shape
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    logp = xr - (xr.max(1, keepdims=True) + np.log(np.exp(xr - xr.max(1, keepdims=True)).sum(1, keepdims=True)))
    eps = label_smoothing
    t = np.asarray(t)
    if t.shape == np.shape(x) and t.dtype.kind == "f":
        tr, _ = _class_last(t)
        tr = (1 - eps) * tr + eps / c
        rows = -(w * tr * logp).sum(1)
        if reduction == "none":
            return rows.reshape(shape)
        return rows.sum() if reduction == "sum" else (rows.sum() / n if n else np.nan)
    tf = t.reshape(-1)
    keep = tf != ignore_index
    tc = np.where(keep, tf, 0)
    wt = np.where(keep, w[tc], 0.0)
    nll = -wt * logp[np.arange(n), tc]
    smooth = np.where(keep, -(w * logp).sum(1), 0.0)
    rows = (1 - eps) * nll + eps / c * smooth
    if reduction == "none":
        return rows.reshape(shape)
    return rows.sum() if reduction == "sum" else rows.sum() / wt.sum()


def nll_loss(x, t, weight=None, ignore_index=-100, reduction="mean"):
    """torch.nn.functional.nll_loss in float64 over (C,), (N, C) or (N, C, d...) log-probabilities."""
    xr, shape = _class_last(x)
    n, c = xr.shape
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    tf = np.asarray(t).reshape(-1)
    keep = tf != ignore_index
    tc = np.where(keep, tf, 0)
    wt = np.where(keep, w[tc], 0.0)
    rows = -wt * xr[np.arange(n), tc]
    if reduction == "none":
        return rows.reshape(shape)
    return rows.sum() if reduction == "sum" else rows.sum() / wt.sum()


def bce_with_logits_weighted(x, y, weight=None, pos_weight=None):
    """PyTorch's per-element BCE with logits, weight and pos_weight broadcast to x, float64."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    sp = np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)
    lw = 1.0 if pos_weight is None else 1 + (np.asarray(pos_weight, np.float64) - 1) * y
    loss = (1 - y) * x + lw * sp
    return loss if weight is None else loss * np.asarray(weight, np.float64)


def mse(x, y):
    return (np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2


def bce_with_logits(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))


# ---- dropout ----


def _mix32(x):
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def dropout_keep(seed: int, n: int, p: float, start: int = 0):
    """The keep mask of elements start .. start + n - 1 (within one 2^32 chunk), as csrc/ops/dropout.h."""
    hi = np.uint32(start >> 32)
    s_lo, s_hi = np.uint32(seed & 0xFFFFFFFF), np.uint32(seed >> 32)
    with np.errstate(over="ignore"):
        k1 = _mix32(s_lo ^ _mix32(s_hi ^ _mix32(np.uint32(hi + np.uint32(0x9E3779B9)))))
        k2 = _mix32(k1 ^ np.uint32(0x85EBCA6B))
        lo = (np.arange(n, dtype=np.uint64) + np.uint64(start & 0xFFFFFFFF)).astype(np.uint32)
        bits = _mix32((_mix32(lo ^ k1) + k2).astype(np.uint32))
    return bits >= np.uint32(min(int(round(p * 2.0**32)), 2**32 - 1))


# ---- optim ----


def sgd_steps(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """Parameter after one SGD step per gradient in `grads`, in float64."""
    p = np.asarray(p, np.float64).copy()
    buf = None
    for g in grads:
        d = np.asarray(g, np.float64) + weight_decay * p
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p -= lr * d
    return p


def adam_steps(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False, amsgrad=False):
    """Parameter after one Adam (decoupled: AdamW) step per gradient, in float64."""
    p = np.asarray(p, np.float64).copy()
    m, v, vmax = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    b1, b2 = betas
    for t, g in enumerate(grads, 1):
        g = np.asarray(g, np.float64)
        if decoupled:
            p *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        vd = vmax if amsgrad else v
        p -= lr / (1 - b1**t) * m / (np.sqrt(vd) / np.sqrt(1 - b2**t) + eps)
    return p


# ---- layer norm ----


def layer_norm(x, k, weight=None, bias=None, eps=1e-5):
    """Normalises the last k dimensions of x (biased variance), then weight and bias, in float64."""
    x = np.asarray(x, np.float64)
    axes = tuple(range(x.ndim - k, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=axes, keepdims=True) + eps)
    if weight is not None:
        y = y * np.asarray(weight, np.float64)
    if bias is not None:
        y = y + np.asarray(bias, np.float64)
    return y


def layer_norm_backward(g, x, k, weight=None, eps=1e-5):
    """(dx, dweight, dbias) of sum(layer_norm(x) * g), float64."""
    x, g = np.asarray(x, np.float64), np.asarray(g, np.float64)
    axes = tuple(range(x.ndim - k, x.ndim))
    lead = tuple(range(x.ndim - k))
    mu = x.mean(axis=axes, keepdims=True)
    rstd = 1 / np.sqrt(((x - mu) ** 2).mean(axis=axes, keepdims=True) + eps)
    xhat = (x - mu) * rstd
    gw = g * (np.asarray(weight, np.float64) if weight is not None else 1.0)
    dx = rstd * (gw - gw.mean(axis=axes, keepdims=True) - xhat * (gw * xhat).mean(axis=axes, keepdims=True))
    return dx, (g * xhat).sum(axis=lead), g.sum(axis=lead)
