"""The resample family: interpolate (nearest, nearest-exact, linear, bilinear) and pad
(constant, reflect, replicate, circular), each with a backward.

Arguments, output sizes, index maps and error rules follow torch.nn.functional.interpolate and
torch.nn.functional.pad. interpolate takes (N, C, L) inputs (nearest modes, 'linear') or
(N, C, H, W) ones (nearest modes, 'bilinear'), and either ``size`` or ``scale_factor``; the
output size is floor(input size * scale_factor), and a given scale factor (not
``recompute_scale_factor``) also sets the coordinate map, as PyTorch's. pad takes PyTorch's
``pad`` tuple (left, right[, top, bottom[, front, back]]) for the last one to three dimensions;
negative padding crops (constant mode). The backwards take the forward's arguments again (they
need no saved tensor). GPU inputs run the CUDA kernels through the device backend.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _core
from .._backend import backend_of
from .._backend.host import as_float_param, shape_tuple

_MODES = {"nearest": _core.InterpMode.nearest, "nearest-exact": _core.InterpMode.nearest_exact,
          "linear": _core.InterpMode.linear, "bilinear": _core.InterpMode.linear}
_SPATIAL = {"linear": 1, "bilinear": 2}  # the modes tied to one input rank
_PAD_MODES = {"constant": _core.PadMode.constant, "reflect": _core.PadMode.reflect,
              "replicate": _core.PadMode.replicate, "circular": _core.PadMode.circular}


def _per_dim(v, dims: int, name: str, kind) -> tuple:
    t = tuple(v) if isinstance(v, (tuple, list)) else (v,) * dims
    if len(t) != dims:
        raise ValueError(f"{name}: expected {dims} values for a {dims + 2}-D input, got {v!r}")
    for e in t:
        if isinstance(e, bool) or not isinstance(e, kind):
            raise TypeError(f"{name}: expected {'ints' if kind is numbers.Integral else 'numbers'}, got {v!r}")
    return t


def _interp_args(in_shape: tuple, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias):
    """(planes, (H, W, P, Q), mode, align_corners, (scale_h, scale_w), output shape)."""
    if mode not in _MODES:
        raise ValueError(f"mode: expected one of {sorted(_MODES)}, got {mode!r}")
    if len(in_shape) not in (3, 4):
        raise ValueError(f"input: expected a 3-D (N, C, L) or 4-D (N, C, H, W) array, got shape {tuple(in_shape)}")
    dims = len(in_shape) - 2
    if mode in _SPATIAL and _SPATIAL[mode] != dims:
        raise ValueError(f"mode: {mode!r} needs a {_SPATIAL[mode] + 2}-D input, got shape {tuple(in_shape)}")
    linear = _MODES[mode] == _core.InterpMode.linear
    if align_corners is not None and not linear:
        raise ValueError("align_corners: can only be set with the interpolating modes linear | bilinear")
    if antialias:
        raise ValueError("antialias: not supported")
    if (size is None) == (scale_factor is None):
        raise ValueError("size, scale_factor: give exactly one of them")
    spatial = tuple(int(v) for v in in_shape[2:])
    if size is not None:
        out = _per_dim(size, dims, "size", numbers.Integral)
        scales = (0.0,) * dims
    else:
        scales = tuple(float(v) for v in _per_dim(scale_factor, dims, "scale_factor", numbers.Real))
        if not all(math.isfinite(v) and v > 0 for v in scales):
            raise ValueError(f"scale_factor: expected positive finite numbers, got {scale_factor!r}")
        out = tuple(math.floor(n * sc) for n, sc in zip(spatial, scales))
        if recompute_scale_factor:
            scales = (0.0,) * dims
    if any(o < 1 or o > 2**40 for o in out) or min(spatial) < 1:
        raise ValueError(f"input and output sizes should be greater than 0, got input {tuple(in_shape)} and output "
                         f"size {tuple(out)}")
    out = tuple(int(o) for o in out)
    planes = int(np.prod(in_shape[:2], dtype=np.int64))
    if dims == 1:
        hw, sc = (1, spatial[0], 1, out[0]), (0.0, scales[0])
    else:
        hw, sc = (spatial[0], spatial[1], out[0], out[1]), scales
    return planes, hw, _MODES[mode], bool(align_corners), sc, tuple(in_shape[:2]) + out


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False, *, out=None):
    """Resamples the planes of (N, C, L) or (N, C, H, W) to ``size`` or by ``scale_factor``, as
    torch.nn.functional.interpolate ('nearest', 'nearest-exact', 'linear', 'bilinear')."""
    be = backend_of(input=input, out=out)
    x = be.operand(input, "input")
    planes, hw, m, ac, sc, out_shape = _interp_args(x.shape, size, scale_factor, mode, align_corners,
                                                    recompute_scale_factor, antialias)
    out = be.out(out, out_shape, x, inputs=(x,), separate=True)
    be.ops.interp_forward(be.raw(out), be.raw(x), planes, *hw, m, ac, *sc)
    return out


def interpolate_backward(grad_out, input_size, size=None, scale_factor=None, mode: str = "nearest",
                         align_corners=None, recompute_scale_factor=None, *, out=None):
    """dL/dinput of interpolate (input_size: the input's shape): each grad_out value spread over
    the inputs its output was made of, with the forward's weights."""
    be = backend_of(grad_out=grad_out, out=out)
    g = be.operand(grad_out, "grad_out")
    input_size = shape_tuple(input_size, "input_size")
    planes, hw, m, ac, sc, out_shape = _interp_args(input_size, size, scale_factor, mode, align_corners,
                                                    recompute_scale_factor, False)
    if g.shape != out_shape:
        raise ValueError(f"grad_out: expected shape {out_shape} for input size {input_size}, got {g.shape}")
    out = be.out(out, input_size, g, inputs=(g,), separate=True)
    be.ops.interp_backward(be.raw(out), be.raw(g), planes, *hw, m, ac, *sc)
    return out


def _pad_args(in_shape: tuple, pad, mode: str, value):
    """(planes, (D, H, W), (d0, d1, h0, h1, w0, w1), mode, value, output shape)."""
    if mode not in _PAD_MODES:
        raise ValueError(f"mode: expected one of {sorted(_PAD_MODES)}, got {mode!r}")
    try:
        p = tuple(pad)
    except TypeError:
        raise TypeError(f"pad: expected a tuple of ints, got {type(pad).__name__}") from None
    if any(isinstance(e, bool) or not isinstance(e, numbers.Integral) for e in p):
        raise TypeError(f"pad: expected ints, got {pad!r}")
    p = tuple(int(e) for e in p)
    k = len(p) // 2
    if len(p) % 2 or k == 0 or k > len(in_shape):
        raise ValueError(f"pad: expected an even number of values, at most twice the input's {len(in_shape)} "
                         f"dimensions, got {pad!r}")
    if k > 3:
        raise ValueError(f"pad: padding more than the last 3 dimensions is not supported, got {pad!r}")
    if mode != "constant":
        if value not in (None, 0, 0.0):
            raise ValueError(f"value: padding mode {mode!r} doesn't take a value, got {value!r}")
        if not k + 1 <= len(in_shape) <= k + 2:
            raise ValueError(f"input: {mode} padding of {k} dimension(s) needs a {k + 1}-D or {k + 2}-D input, "
                             f"got shape {tuple(in_shape)}")
        if min(p) < 0:
            raise ValueError(f"pad: negative padding is supported in constant mode only, got {pad!r}")
    value = 0.0 if value is None else as_float_param(value, "value")
    lead = tuple(in_shape[:len(in_shape) - k])
    dims = tuple(int(v) for v in in_shape[len(in_shape) - k:])
    pairs = [(p[2 * i], p[2 * i + 1]) for i in range(k)][::-1]  # outermost padded dimension first
    for j, (n, (lo, hi)) in enumerate(zip(dims, pairs)):
        axis = len(lead) + j
        if n + lo + hi < 0:
            raise ValueError(f"pad: padding ({lo}, {hi}) of dimension {axis} (size {n}) leaves a negative size")
        if mode == "reflect" and (lo >= n or hi >= n):
            raise ValueError(f"pad: padding size should be less than the corresponding input dimension, but got: "
                             f"padding ({lo}, {hi}) at dimension {axis} of input {tuple(in_shape)}")
        if mode == "circular" and (lo > n or hi > n):
            raise ValueError(f"pad: padding value causes wrapping around more than once: padding ({lo}, {hi}) at "
                             f"dimension {axis} of input {tuple(in_shape)}")
        if mode in ("replicate", "reflect", "circular") and n == 0 and lo + hi > 0:
            raise ValueError(f"input: cannot pad the empty dimension {axis} in {mode} mode")
    full = [(1, 0, 0)] * (3 - k) + [(n, lo, hi) for n, (lo, hi) in zip(dims, pairs)]
    out_shape = lead + tuple(n + lo + hi for n, lo, hi in full[3 - k:])
    planes = int(np.prod(lead, dtype=np.int64))
    return planes, tuple(n for n, _, _ in full), sum(((lo, hi) for _, lo, hi in full), ()), _PAD_MODES[mode], \
        value, out_shape


def pad(input, pad, mode: str = "constant", value=None, *, out=None):
    """Pads the last len(pad) // 2 dimensions, as torch.nn.functional.pad: pad = (left, right,
    top, bottom, front, back) from the last dimension inwards. constant: ``value`` (default 0),
    negative values crop; reflect: mirrored without the edge (padding below the size);
    replicate: the edge repeated; circular: wrapped around (padding at most the size)."""
    be = backend_of(input=input, out=out)
    x = be.operand(input, "input")
    planes, dhw, pads, m, value, out_shape = _pad_args(x.shape, pad, mode, value)
    out = be.out(out, out_shape, x, inputs=(x,), separate=True)
    be.ops.pad_forward(be.raw(out), be.raw(x), planes, *dhw, *pads, m, value)
    return out


def pad_backward(grad_out, input_shape, pad, mode: str = "constant", *, out=None):
    """dL/dinput of pad: for every input, the sum of grad_out over the outputs that copy it."""
    be = backend_of(grad_out=grad_out, out=out)
    g = be.operand(grad_out, "grad_out")
    input_shape = shape_tuple(input_shape, "input_shape")
    planes, dhw, pads, m, _, out_shape = _pad_args(input_shape, pad, mode, None)
    if g.shape != out_shape:
        raise ValueError(f"grad_out: expected shape {out_shape} for input shape {input_shape} and pad {tuple(pad)}, "
                         f"got {g.shape}")
    out = be.out(out, input_shape, g, inputs=(g,), separate=True)
    be.ops.pad_backward(be.raw(out), be.raw(g), planes, *dhw, *pads, m)
    return out
