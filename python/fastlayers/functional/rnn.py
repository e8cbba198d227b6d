"""The RNN family: Elman RNN (tanh / relu), LSTM and GRU over whole sequences, and their cells.

PyTorch's equations, gate orders (LSTM i, f, g, o; GRU r, z, n with ``b_hn`` inside the reset
product ``n = tanh(x W_in + b_in + r * (h W_hn + b_hn))``) and weight layouts (``w_ih``
(G*H, I), ``w_hh`` (G*H, H)). The C++ driver (csrc/cpu/rnn.cpp) runs each layer as one GEMM
for the input projection of every timestep, then per timestep one recurrent GEMM and one fused
gate kernel; backward runs one fused gate-gradient kernel per step and the weight gradients as
one GEMM over all timesteps.

Sequences: ``input`` is (B, T, I) with ``batch_first=True`` (this API's default, as the rest of
fastlayers.functional) or (T, B, I); a 2-D input is one unbatched sequence (T, I).
``weights`` is a flat list in PyTorch's order (``torch.nn.LSTM._flat_weights``): for each layer,
for each direction, ``w_ih, w_hh`` and, when the layer has biases, ``b_ih, b_hh``.
``lengths`` (B positive integers, at most T) gives PyTorch's packed-sequence semantics: outputs
past a sequence's length are zero, h_n / c_n are its states at its last valid step, and no
gradient flows through the padding. ``dropout`` applies between layers in training, with
counter-based masks (functional.dropout).

Backward: pass ``cache=RnnCache()`` to the forward, then ``lstm_backward(grad_out, grad_hx,
cache)`` (likewise rnn / gru and the cells) returns the input, initial-state and weight gradients.
The initial-state gradient is returned even when the forward started from zeros.
"""
from __future__ import annotations

import numbers
import threading

import numpy as np

from .. import _core
from .._backend.host import as_f32, check_out
from .._random import next_seed
from .dropout import _check_p, _check_seed, dropout, dropout_backward

RnnCell = _core.RnnCell


class RnnCache:
    """What a forward saves for its backward. Passed to a later forward again, it is overwritten,
    and that forward reuses its internal arrays (no fresh pages to fault in)."""

    def __init__(self):
        self.ready = False

    def _require(self, cell):
        if not self.ready:
            raise ValueError("cache: empty; pass cache=RnnCache() to the forward first")
        if self.cell != cell:
            raise ValueError(f"cache: holds a {self.cell.name} forward, not a {cell.name} one")


class _Buffers:
    """The internal arrays of a forward and its backward (states, saved gates, inner layers'
    outputs, time-major copies), kept for the next call that needs the same shapes: in the cache
    (the same RnnCache passed to the next forward again, as the nn modules do) or, without one,
    in this thread's last forward. Fresh arrays of several MB cost a page fault per 4 KiB when
    written (LSTM T=100 B=32 H=256: 8% of the forward): the allocator returns freed ones to the
    system."""

    _eval = threading.local()

    def __init__(self, cache):
        if cache is not None:
            self.d = cache.__dict__.setdefault("buffers", {})
        else:
            self.d = getattr(self._eval, "d", None)
            if self.d is None:
                self.d = self._eval.d = {}

    def get(self, key, shape) -> np.ndarray:
        a = self.d.get(key)
        if a is None or a.shape != shape:
            a = self.d[key] = np.empty(shape, np.float32)
        return a


def _positive_int(v, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{name}: expected a positive integer, got {v!r}")
    return int(v)


def _split_weights(weights, cell, num_layers: int, dirs: int):
    """[layer][direction] -> (w_ih, w_hh, b_ih, b_hh) as float32 arrays (biases None without them), H,
    input_size (from the first w_ih)."""
    if isinstance(weights, np.ndarray) or not hasattr(weights, "__len__"):
        raise TypeError(f"weights: expected a list of arrays, got {type(weights).__name__}")
    n = len(weights)
    per = num_layers * dirs
    if n not in (2 * per, 4 * per):
        raise ValueError(f"weights: expected {4 * per} arrays (w_ih, w_hh, b_ih, b_hh per layer and direction) "
                         f"or {2 * per} without biases for num_layers={num_layers}, "
                         f"bidirectional={dirs == 2}, got {n}")
    k = n // per
    G = _core.rnn_gates(cell)
    arrs = [as_f32(w, f"weights[{i}]") for i, w in enumerate(weights)]
    w_hh0 = arrs[1]
    if w_hh0.ndim != 2 or w_hh0.shape[0] % G or w_hh0.shape[0] != G * w_hh0.shape[1]:
        raise ValueError(f"weights[1] (w_hh): expected shape ({G} * hidden_size, hidden_size), got {w_hh0.shape}")
    H = w_hh0.shape[1]
    if arrs[0].ndim != 2:
        raise ValueError(f"weights[0] (w_ih): expected shape ({G * H}, input_size), got {arrs[0].shape}")
    input_size = arrs[0].shape[1]
    layers = []
    for layer in range(num_layers):
        in_size = input_size if layer == 0 else dirs * H
        row = []
        for d in range(dirs):
            base = (layer * dirs + d) * k
            expect = [(G * H, in_size), (G * H, H)] + ([(G * H,), (G * H,)] if k == 4 else [])
            for j, shape in enumerate(expect):
                if arrs[base + j].shape != shape:
                    name = ("w_ih", "w_hh", "b_ih", "b_hh")[j]
                    raise ValueError(f"weights[{base + j}] ({name} of layer {layer}{', reverse' if d else ''}): "
                                     f"expected shape {shape}, got {arrs[base + j].shape}")
            w = arrs[base:base + k]
            row.append((w[0], w[1], w[2], w[3]) if k == 4 else (w[0], w[1], None, None))
        layers.append(row)
    return layers, H, input_size


def _lengths(lengths, B: int, T: int):
    """(perm or None, batch_sizes) for PyTorch's packed semantics; perm sorts by length, longest first."""
    if isinstance(lengths, np.ndarray):
        arr = lengths
    elif hasattr(lengths, "detach"):  # a torch tensor
        arr = lengths.detach().cpu().numpy()
    else:
        arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"lengths: expected integers, got dtype {arr.dtype}")
    if arr.shape != (B,):
        raise ValueError(f"lengths: expected shape ({B},) (one length per sequence), got {arr.shape}")
    if B and (arr.min() < 1 or arr.max() > T):
        raise ValueError(f"lengths: every length must be in [1, T={T}], got min {arr.min()}, max {arr.max()}")
    arr = arr.astype(np.int64)
    perm = np.argsort(-arr, kind="stable")
    batch_sizes = (arr[None, :] > np.arange(T, dtype=np.int64)[:, None]).sum(axis=1).astype(np.int64)
    if np.all(perm == np.arange(B)):
        perm = None
    return perm, batch_sizes


def _state(v, name: str, shape: tuple, perm):
    """An initial state (or its gradient) as float32 (L*D, B, H) in the driver's batch order."""
    if v is None:
        return np.zeros(shape, np.float32)
    v = as_f32(v, name)
    if v.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {v.shape}")
    return np.ascontiguousarray(v[:, perm]) if perm is not None else v


def _unpermute(a, inv, axis: int):
    return a if inv is None else np.ascontiguousarray(np.take(a, inv, axis=axis))


def _time_major(x, batch_first: bool, perm, batch_sizes, buf: _Buffers, key):
    """(T, B, C) C-contiguous float32 in the driver's batch order, with the padding rows zeroed
    (into a buffer of buf when it must be rearranged or zeroed: the caller's array is never
    written)."""
    if not batch_first and perm is None and batch_sizes is None:
        return np.ascontiguousarray(x)
    src = x.transpose(1, 0, 2) if batch_first else x
    out = buf.get(key, (src.shape[0], src.shape[1], src.shape[2]))
    if perm is not None:
        np.take(src, perm, axis=1, out=out)
    else:
        np.copyto(out, src)
    if batch_sizes is not None:
        for t, nb in enumerate(batch_sizes):
            out[t, nb:] = 0.0
    return out


def _copied_on_way_out(batch_first: bool, perm, T: int, B: int) -> bool:
    """Whether a (T, B, C) result is copied into a fresh array on its way to the caller (so that
    it may live in a reused buffer): reordered by perm, or transposed for batch_first (when that
    is not already contiguous, with T or B of 1)."""
    return perm is not None or (batch_first and T > 1 and B > 1)


def _forward(cell, input, weights, h0, c0, num_layers, bidirectional, batch_first, lengths, dropout_p, training,
             seed, cache):
    """The shared forward of rnn / lstm / gru and the cells: (out, h_n, c_n)."""
    num_layers = _positive_int(num_layers, "num_layers")
    dirs = 2 if bidirectional else 1
    p = _check_p(dropout_p)
    x = as_f32(input, "input")
    if x.ndim not in (2, 3):
        raise ValueError(f"input: expected a 3-D ({'B, T' if batch_first else 'T, B'}, input_size) array "
                         f"or a 2-D unbatched (T, input_size) one, got shape {x.shape}")
    unbatched = x.ndim == 2
    if unbatched:
        x = x[:, None, :] if not batch_first else x[None, :, :]
    T, B = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    layers, H, I = _split_weights(weights, cell, num_layers, dirs)
    if x.shape[2] != I:
        raise ValueError(f"input: expected input_size {I} (weights[0] is {layers[0][0][0].shape}) in the last "
                         f"dimension, got shape {tuple(input.shape) if hasattr(input, 'shape') else x.shape}")
    perm, batch_sizes = (None, None)
    if lengths is not None:
        if unbatched:
            raise ValueError("lengths: given for an unbatched input")
        perm, batch_sizes = _lengths(lengths, B, T)
    inv = None if perm is None else np.argsort(perm)
    LD = num_layers * dirs
    sshape = (LD, B, H)
    if unbatched:
        h0 = None if h0 is None else _unbatched_state(h0, "hx", (LD, H))
        c0 = None if c0 is None else _unbatched_state(c0, "cx", (LD, H))
    h0 = _state(h0, "hx" if cell != RnnCell.lstm else "h0", sshape, perm)
    lstm = cell == RnnCell.lstm
    c0 = _state(c0, "c0", sshape, perm) if lstm else None
    if training and p > 0.0 and num_layers > 1:
        base = next_seed() if seed is None else _check_seed(seed)
        seeds = [(base + layer) % 2**64 for layer in range(num_layers - 1)]
    else:
        seeds = [None] * (num_layers - 1)
    buf = _Buffers(cache)
    layer_in = _time_major(x, batch_first, perm, batch_sizes, buf, "x")
    S = _core.rnn_saved_parts(cell)
    h_n = np.empty(sshape, np.float32)
    c_n = np.empty(sshape, np.float32) if lstm else None
    saved = []
    # Keys: with a cache every layer keeps its own arrays; without, the layers take turns.
    copied_out = _copied_on_way_out(batch_first, perm, T, B)
    for layer in range(num_layers):
        key = layer if cache is not None else layer % 2
        last_layer = layer + 1 == num_layers
        shape_y = (T, B, dirs * H)
        y = buf.get(("y", key), shape_y) if not last_layer or copied_out else np.empty(shape_y, np.float32)
        hs = buf.get(("h", key), (dirs, T + 1, B, H))
        cs = buf.get(("c", key), (dirs, T + 1, B, H)) if lstm else None
        gates = buf.get(("gates", key), (dirs, T, B, S * H)) if cache is not None and S else None
        for d in range(dirs):
            first = 0 if d == 0 else T
            hs[d, first] = h0[layer * dirs + d]
            if lstm:
                cs[d, first] = c0[layer * dirs + d]
        _core.rnn_layer_forward(cell, y, hs, cs, gates, layer_in, layers[layer], batch_sizes)
        for d in range(dirs):
            last = T if d == 0 else 0
            h_n[layer * dirs + d] = hs[d, last]
            if lstm:
                c_n[layer * dirs + d] = cs[d, last]
        if cache is not None:
            saved.append((layer_in, hs, cs, gates))
        if not last_layer and seeds[layer] is not None:
            y = dropout(y, p, True, seed=seeds[layer], out=buf.get(("dropped", key), shape_y))
        layer_in = y
    out = layer_in
    if cache is not None:
        kept = cache.buffers
        cache.__dict__.clear()
        cache.__dict__.update(buffers=kept, cell=cell, layers=layers, saved=saved, seeds=seeds, p=p, perm=perm,
                              inv=inv, batch_sizes=batch_sizes, batch_first=batch_first, unbatched=unbatched,
                              shape=(T, B, I, H, dirs, num_layers), n_weights=len(weights), ready=True)
    out = _unpermute(out, inv, 1)
    if batch_first:
        out = np.ascontiguousarray(out.transpose(1, 0, 2))
    h_n = _unpermute(h_n, inv, 1)
    c_n = _unpermute(c_n, inv, 1) if lstm else None
    if unbatched:
        out = out[0] if batch_first else out[:, 0]
        h_n = h_n[:, 0]
        c_n = c_n[:, 0] if lstm else None
    return out, h_n, c_n


def _unbatched_state(v, name: str, shape: tuple):
    v = as_f32(v, name)
    if v.shape != shape:
        raise ValueError(f"{name}: expected shape {shape} for an unbatched input, got {v.shape}")
    return v[:, None, :]


def _grad_state(g, name: str, c: RnnCache):
    T, B, I, H, dirs, L = c.shape
    if g is not None and c.unbatched:
        g = _unbatched_state(g, name, (L * dirs, H))
    return _state(g, name, (L * dirs, B, H), c.perm).copy()


def _weight_grads(grad_weights, c: RnnCache):
    """Per layer and direction, the 4 arrays the driver writes (or accumulates into) and the flat list."""
    T, B, I, H, dirs, L = c.shape
    flat_w = [w for row in c.layers for wd in row for w in wd if w is not None]
    if grad_weights is None:
        flat = [np.empty(w.shape, np.float32) for w in flat_w]
        accumulate = False
    else:
        if len(grad_weights) != len(flat_w):
            raise ValueError(f"grad_weights: expected {len(flat_w)} arrays (one per weight), got {len(grad_weights)}")
        flat = [check_out(g, w.shape, f"grad_weights[{i}]") for i, (g, w) in enumerate(zip(grad_weights, flat_w))]
        accumulate = True
    k = len(flat) // (L * dirs)
    per = []
    for layer in range(L):
        row = []
        for d in range(dirs):
            g = flat[(layer * dirs + d) * k:(layer * dirs + d + 1) * k]
            row.append(tuple(g) if k == 4 else (g[0], g[1], None, None))
        per.append(row)
    return per, flat, accumulate


def _backward(cell, grad_out, grad_h_n, grad_c_n, cache, grad_weights):
    """(grad_input, grad_h0, grad_c0, grad_weights) of the shared forward."""
    if not isinstance(cache, RnnCache):
        raise TypeError(f"cache: expected an RnnCache, got {type(cache).__name__}")
    cache._require(cell)
    c = cache
    T, B, I, H, dirs, L = c.shape
    lstm = cell == RnnCell.lstm
    dy = None
    if grad_out is not None:
        g = as_f32(grad_out, "grad_out")
        if c.unbatched:
            want = (T, dirs * H)
            if g.shape != want:
                raise ValueError(f"grad_out: expected shape {want}, got {g.shape}")
            g = g[None] if c.batch_first else g[:, None]
        want = (B, T, dirs * H) if c.batch_first else (T, B, dirs * H)
        if g.shape != want:
            raise ValueError(f"grad_out: expected shape {want} (the output's), got {g.shape}")
        dy = _time_major(g, c.batch_first, c.perm, c.batch_sizes, _Buffers(c), "dy")
    dh = _grad_state(grad_h_n, "grad_h_n", c)
    dc = _grad_state(grad_c_n, "grad_c_n", c) if lstm else None
    per, flat, accumulate = _weight_grads(grad_weights, c)
    buf = _Buffers(c)
    copied_dx = _copied_on_way_out(c.batch_first, c.perm, T, B)
    for layer in range(L - 1, -1, -1):
        x, hs, cs, gates = c.saved[layer]
        dx = buf.get(("dx", layer), x.shape) if layer > 0 or copied_dx else np.empty(x.shape, np.float32)
        dhl = np.ascontiguousarray(dh[layer * dirs:(layer + 1) * dirs])
        dcl = np.ascontiguousarray(dc[layer * dirs:(layer + 1) * dirs]) if lstm else None
        _core.rnn_layer_backward(cell, dx, dhl, dcl, per[layer], accumulate, dy, x, c.layers[layer], hs, cs, gates,
                                 c.batch_sizes)
        dh[layer * dirs:(layer + 1) * dirs] = dhl
        if lstm:
            dc[layer * dirs:(layer + 1) * dirs] = dcl
        if layer > 0 and c.seeds[layer - 1] is not None:
            dx = dropout_backward(dx, c.p, c.seeds[layer - 1], out=dx)
        dy = dx
    dx = _unpermute(dy, c.inv, 1)
    if c.batch_first:
        dx = np.ascontiguousarray(dx.transpose(1, 0, 2))
    dh = _unpermute(dh, c.inv, 1)
    dc = _unpermute(dc, c.inv, 1) if lstm else None
    if c.unbatched:
        dx = dx[0] if c.batch_first else dx[:, 0]
        dh = dh[:, 0]
        dc = dc[:, 0] if lstm else None
    return dx, dh, dc, flat


_NONLINEARITY = {"tanh": RnnCell.rnn_tanh, "relu": RnnCell.rnn_relu}


def _rnn_cell_kind(nonlinearity) -> RnnCell:
    if nonlinearity not in _NONLINEARITY:
        raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
    return _NONLINEARITY[nonlinearity]


def rnn(input, weights, hx=None, *, nonlinearity: str = "tanh", num_layers: int = 1, bidirectional: bool = False,
        batch_first: bool = True, lengths=None, dropout: float = 0.0, training: bool = True, seed=None, cache=None):
    """Elman RNN h_t = act(x_t w_ih^T + b_ih + h_{t-1} w_hh^T + b_hh): returns (output, h_n).

    output (B, T, D*H) (or (T, B, D*H)), h_n (num_layers * D, B, H); hx: h0 of that shape or None
    (zeros). See the module docstring for weights, lengths, dropout and cache."""
    cell = _rnn_cell_kind(nonlinearity)
    out, h_n, _ = _forward(cell, input, weights, hx, None, num_layers, bidirectional, batch_first, lengths,
                           dropout, training, seed, cache)
    return out, h_n


def rnn_backward(grad_out, grad_h_n, cache: RnnCache, *, grad_weights=None):
    """(grad_input, grad_h0, grad_weights) of rnn; grad_out / grad_h_n may be None (no gradient).

    grad_weights: None (fresh arrays are returned) or arrays, in the order of ``weights``, that the
    gradients are added into in place (and returned)."""
    if not isinstance(cache, RnnCache):
        raise TypeError(f"cache: expected an RnnCache, got {type(cache).__name__}")
    cell = cache.cell if cache.ready and cache.cell in (RnnCell.rnn_tanh, RnnCell.rnn_relu) else RnnCell.rnn_tanh
    dx, dh, _, gw = _backward(cell, grad_out, grad_h_n, None, cache, grad_weights)
    return dx, dh, gw


def lstm(input, weights, hx=None, *, num_layers: int = 1, bidirectional: bool = False, batch_first: bool = True,
         lengths=None, dropout: float = 0.0, training: bool = True, seed=None, cache=None):
    """LSTM (gates i, f, g, o): returns (output, (h_n, c_n)); hx: (h0, c0) or None (zeros)."""
    h0, c0 = _pair(hx, "hx")
    out, h_n, c_n = _forward(RnnCell.lstm, input, weights, h0, c0, num_layers, bidirectional, batch_first, lengths,
                             dropout, training, seed, cache)
    return out, (h_n, c_n)


def lstm_backward(grad_out, grad_hx, cache: RnnCache, *, grad_weights=None):
    """(grad_input, (grad_h0, grad_c0), grad_weights) of lstm; grad_hx: (grad_h_n, grad_c_n) or None."""
    gh, gc = _pair(grad_hx, "grad_hx")
    dx, dh, dc, gw = _backward(RnnCell.lstm, grad_out, gh, gc, cache, grad_weights)
    return dx, (dh, dc), gw


def gru(input, weights, hx=None, *, num_layers: int = 1, bidirectional: bool = False, batch_first: bool = True,
        lengths=None, dropout: float = 0.0, training: bool = True, seed=None, cache=None):
    """GRU (gates r, z, n; b_hn inside the reset product): returns (output, h_n)."""
    out, h_n, _ = _forward(RnnCell.gru, input, weights, hx, None, num_layers, bidirectional, batch_first, lengths,
                           dropout, training, seed, cache)
    return out, h_n


def gru_backward(grad_out, grad_h_n, cache: RnnCache, *, grad_weights=None):
    """(grad_input, grad_h0, grad_weights) of gru."""
    dx, dh, _, gw = _backward(RnnCell.gru, grad_out, grad_h_n, None, cache, grad_weights)
    return dx, dh, gw


def _pair(hx, name: str):
    if hx is None:
        return None, None
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise TypeError(f"{name}: expected a (h, c) pair or None, got {type(hx).__name__}")
    return hx[0], hx[1]


# ---- cells: one timestep, input (B, I) or unbatched (I,), state (B, H) or (H,) ----

def _cell_state(v, name: str, shape: tuple):
    """A cell's state (B, H) or unbatched (H,) (or its gradient) as the (1, B, H) of a one-layer sequence."""
    if v is None:
        return None
    v = as_f32(v, name)
    if v.shape != shape:
        raise ValueError(f"{name}: expected shape {shape} (the state's), got {v.shape}")
    return v.reshape((1,) + (shape if len(shape) == 2 else (1,) + shape))


def _cell_forward(cell, input, h0, c0, w_ih, w_hh, b_ih, b_hh, cache):
    """A cell is a one-layer sequence of T = 1 (time-major), through the same driver."""
    x = as_f32(input, "input")
    if x.ndim not in (1, 2):
        raise ValueError(f"input: expected a 2-D (batch, input_size) or 1-D (input_size,) array, got shape {x.shape}")
    if (b_ih is None) != (b_hh is None):
        raise ValueError("b_ih, b_hh: give both or neither")
    weights = [w_ih, w_hh] + ([] if b_ih is None else [b_ih, b_hh])
    _, H, _ = _split_weights(weights, cell, 1, 1)
    B = x.shape[0] if x.ndim == 2 else 1
    shape = (B, H) if x.ndim == 2 else (H,)
    _, h, c = _forward(cell, x.reshape(1, B, x.shape[-1]), weights, _cell_state(h0, "hx", shape),
                       _cell_state(c0, "cx", shape), 1, False, False, None, 0.0, False, None, cache)
    if cache is not None:
        cache.cell_shapes = (shape, x.shape)
    return h.reshape(shape), (None if c is None else c.reshape(shape))


def _cell_backward(cell, grad_h, grad_c, cache):
    if not isinstance(cache, RnnCache):
        raise TypeError(f"cache: expected an RnnCache, got {type(cache).__name__}")
    cache._require(cell)
    if not hasattr(cache, "cell_shapes"):
        raise ValueError("cache: holds a sequence's forward, not a cell's")
    shape, x_shape = cache.cell_shapes
    dx, dh, dc, gw = _backward(cell, None, _cell_state(grad_h, "grad_h", shape), _cell_state(grad_c, "grad_c", shape),
                               cache, None)
    grads = tuple(gw) + ((None, None) if len(gw) == 2 else ())
    return dx.reshape(x_shape), dh.reshape(shape), (None if dc is None else dc.reshape(shape)), grads


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, *, cache=None):
    """h' = tanh(x w_ih^T + b_ih + h w_hh^T + b_hh); hx None is zeros."""
    return _cell_forward(RnnCell.rnn_tanh, input, hx, None, w_ih, w_hh, b_ih, b_hh, cache)[0]


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, *, cache=None):
    """h' = relu(x w_ih^T + b_ih + h w_hh^T + b_hh)."""
    return _cell_forward(RnnCell.rnn_relu, input, hx, None, w_ih, w_hh, b_ih, b_hh, cache)[0]


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, *, cache=None):
    """One LSTM step: returns (h', c'); hx: (h, c) or None."""
    h0, c0 = _pair(hx, "hx")
    return _cell_forward(RnnCell.lstm, input, h0, c0, w_ih, w_hh, b_ih, b_hh, cache)


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, *, cache=None):
    """One GRU step: returns h'."""
    return _cell_forward(RnnCell.gru, input, hx, None, w_ih, w_hh, b_ih, b_hh, cache)[0]


def rnn_tanh_cell_backward(grad_h, cache: RnnCache):
    """(grad_input, grad_hx, (grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh)) of rnn_tanh_cell."""
    dx, dh, _, gw = _cell_backward(RnnCell.rnn_tanh, grad_h, None, cache)
    return dx, dh, gw


def rnn_relu_cell_backward(grad_h, cache: RnnCache):
    """(grad_input, grad_hx, weight gradients) of rnn_relu_cell."""
    dx, dh, _, gw = _cell_backward(RnnCell.rnn_relu, grad_h, None, cache)
    return dx, dh, gw


def lstm_cell_backward(grad_h, grad_c, cache: RnnCache):
    """(grad_input, (grad_h, grad_c), weight gradients) of lstm_cell; either gradient may be None."""
    dx, dh, dc, gw = _cell_backward(RnnCell.lstm, grad_h, grad_c, cache)
    return dx, (dh, dc), gw


def gru_cell_backward(grad_h, cache: RnnCache):
    """(grad_input, grad_hx, weight gradients) of gru_cell."""
    dx, dh, _, gw = _cell_backward(RnnCell.gru, grad_h, None, cache)
    return dx, dh, gw
