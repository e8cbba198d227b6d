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

Device arrays (input, weights and states on one GPU) run the CUDA driver (csrc/cuda/rnn.cu: the same
GEMM structure on sgemm_cuda, fused gate kernels); ``lengths`` stays host data. The layout work
around the driver (batch_first transposes, the length-order permutation, padding rows, states) is
one op on either backend, rnn_sequence_copy.
"""
from __future__ import annotations

import numbers
import threading

import numpy as np

from .. import _core
from .._backend import DEVICE, HOST, backend_of
from .._backend.device import is_gpu
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

    def __init__(self, be, cache):
        self.be = be
        if cache is not None:
            self.d = cache.__dict__.setdefault("buffers", {})
        else:
            self.d = getattr(self._eval, "d", None)
            if self.d is None:
                self.d = self._eval.d = {}

    def get(self, key, shape, like):
        """A float32 array of `shape` on like's backend and device, kept under key."""
        a = self.d.get(key)
        if a is None or a.shape != shape or not self._fits(a, like):
            a = self.d[key] = self.be.empty(shape, like)
        return a

    def _fits(self, a, like) -> bool:
        if self.be is HOST:
            return isinstance(a, np.ndarray)
        return not isinstance(a, np.ndarray) and a.device == like.device


def _positive_int(v, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{name}: expected a positive integer, got {v!r}")
    return int(v)


def _split_weights(be, weights, cell, num_layers: int, dirs: int, like=None):
    """[layer][direction] -> (w_ih, w_hh, b_ih, b_hh) as float32 arrays of be (biases None without
    them), H, input_size (from the first w_ih)."""
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
    arrs = [be.operand(w, f"weights[{i}]", like) for i, w in enumerate(weights)]
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
    elif is_gpu(lengths):  # on a GPU: copied to the host (the driver's step loop runs there)
        arr = DEVICE.to_host(DEVICE.as_array(lengths, "lengths"))
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


def _seq_copy(be, dst, src, T: int, B: int, C: int, src_bf=False, dst_bf=False, perm=None, batch_sizes=None):
    """dst (T, B, C) <- src rows through perm, rows past batch_sizes zeroed (src None: zeros); perm
    and batch_sizes are int64 arrays of be (functional arrays in _Order). Returns dst."""
    be.ops.rnn_sequence_copy(be.raw(dst), None if src is None else be.raw(src), T, B, C, src_bf, dst_bf,
                             None if perm is None else be.raw(perm), None if batch_sizes is None else be.raw(batch_sizes))
    return dst


class _Order:
    """The batch order of a call on its backend: perm (driver order <- caller's), inv (its inverse)
    and batch_sizes as int64 arrays of be (None when the order is the caller's / no lengths), and
    batch_sizes as host data for the driver's step loop."""

    def __init__(self, be, like, perm, batch_sizes):
        self.host_sizes = batch_sizes
        self.perm = None if perm is None else be.from_host(perm, like)
        self.inv = None if perm is None else be.from_host(np.argsort(perm), like)
        self.sizes = None if batch_sizes is None else be.from_host(batch_sizes, like)


def _state(be, v, name: str, shape: tuple, order: _Order, like, copy: bool = False):
    """An initial state (or its gradient) as float32 (L*D, B, H) of be in the driver's batch order
    (zeros for None); copy: always a fresh array (the driver writes into it)."""
    if v is None:
        return be.zero_(be.empty(shape, like))
    v = be.operand(v, name, like)
    if v.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {v.shape}")
    if order.perm is None and not copy:
        return v
    return _seq_copy(be, be.empty(shape, like), v, shape[0], shape[1], shape[2], perm=order.perm)


def _time_major(be, x, batch_first: bool, order: _Order, buf: _Buffers, key):
    """(T, B, C) C-contiguous float32 in the driver's batch order, with the padding rows zeroed
    (into a buffer of buf when it must be rearranged or zeroed: the caller's array is never
    written)."""
    if not batch_first and order.perm is None and order.sizes is None:
        return x
    T, B = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    out = buf.get(key, (T, B, x.shape[2]), x)
    return _seq_copy(be, out, x, T, B, x.shape[2], batch_first, False, order.perm, order.sizes)


def _caller_layout(be, a, batch_first: bool, order: _Order):
    """A (T, B, C) time-major array of the driver's batch order in the caller's layout and order."""
    if not batch_first and order.inv is None:
        return a
    T, B, C = a.shape
    out = be.empty((B, T, C) if batch_first else (T, B, C), a)
    return _seq_copy(be, out, a, T, B, C, False, batch_first, order.inv)


def _rows_copy(be, dst, i: int, src, j: int):
    """dst[i] = src[j] for two arrays of (B, H) blocks."""
    d, s_ = be.rows(dst, i, i + 1), be.rows(src, j, j + 1)
    _seq_copy(be, d, s_, 1, d.shape[1], d.shape[2])


def _backend(weights, **arrays):
    """The backend of a call's arrays (the weights, a list, included)."""
    if isinstance(weights, (list, tuple)):
        arrays.update({f"weights[{i}]": w for i, w in enumerate(weights)})
    return backend_of(**arrays)


def _forward(cell, input, weights, h0, c0, num_layers, bidirectional, batch_first, lengths, dropout_p, training,
             seed, cache):
    """The shared forward of rnn / lstm / gru and the cells: (out, h_n, c_n)."""
    num_layers = _positive_int(num_layers, "num_layers")
    dirs = 2 if bidirectional else 1
    p = _check_p(dropout_p)
    be = _backend(weights, input=input, hx=h0, cx=c0)
    x = be.operand(input, "input")
    if x.ndim not in (2, 3):
        raise ValueError(f"input: expected a 3-D ({'B, T' if batch_first else 'T, B'}, input_size) array "
                         f"or a 2-D unbatched (T, input_size) one, got shape {x.shape}")
    unbatched = x.ndim == 2
    if unbatched:
        x = x.reshape((x.shape[0], 1, x.shape[1]) if not batch_first else (1,) + x.shape)
    T, B = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    layers, H, I = _split_weights(be, weights, cell, num_layers, dirs, x)
    if x.shape[2] != I:
        raise ValueError(f"input: expected input_size {I} (weights[0] is {layers[0][0][0].shape}) in the last "
                         f"dimension, got shape {tuple(input.shape) if hasattr(input, 'shape') else x.shape}")
    perm, batch_sizes = (None, None)
    if lengths is not None:
        if unbatched:
            raise ValueError("lengths: given for an unbatched input")
        perm, batch_sizes = _lengths(lengths, B, T)
    order = _Order(be, x, perm, batch_sizes)
    LD = num_layers * dirs
    sshape = (LD, B, H)
    if unbatched:
        h0 = None if h0 is None else _unbatched_state(be, h0, "hx", (LD, H), x)
        c0 = None if c0 is None else _unbatched_state(be, c0, "cx", (LD, H), x)
    h0 = _state(be, h0, "hx" if cell != RnnCell.lstm else "h0", sshape, order, x)
    lstm = cell == RnnCell.lstm
    c0 = _state(be, c0, "c0", sshape, order, x) if lstm else None
    if training and p > 0.0 and num_layers > 1:
        base = next_seed() if seed is None else _check_seed(seed)
        seeds = [(base + layer) % 2**64 for layer in range(num_layers - 1)]
    else:
        seeds = [None] * (num_layers - 1)
    buf = _Buffers(be, cache)
    layer_in = _time_major(be, x, batch_first, order, buf, "x")
    S = _core.rnn_saved_parts(cell)
    h_n = be.empty(sshape, x)
    c_n = be.empty(sshape, x) if lstm else None
    saved = []
    # Keys: with a cache every layer keeps its own arrays; without, the layers take turns.
    copied_out = batch_first or perm is not None  # the last output is copied on the way out (_caller_layout)
    for layer in range(num_layers):
        key = layer if cache is not None else layer % 2
        last_layer = layer + 1 == num_layers
        shape_y = (T, B, dirs * H)
        y = buf.get(("y", key), shape_y, x) if not last_layer or copied_out else be.empty(shape_y, x)
        hs = buf.get(("h", key), (dirs, T + 1, B, H), x)
        cs = buf.get(("c", key), (dirs, T + 1, B, H), x) if lstm else None
        gates = buf.get(("gates", key), (dirs, T, B, S * H), x) if cache is not None and S else None
        blocks = [(hs.reshape(dirs * (T + 1), B, H), h0, h_n)]  # states as (B, H) blocks: (h_seq, h0, h_n)
        if lstm:
            blocks.append((cs.reshape(dirs * (T + 1), B, H), c0, c_n))
        for d in range(dirs):
            for seq, first, _ in blocks:  # direction 0 starts at block 0, the reverse one at block T
                _rows_copy(be, seq, d * (T + 1) + (0 if d == 0 else T), first, layer * dirs + d)
        be.ops.rnn_layer_forward(cell, T, B, layer_in.shape[2], H, be.raw(y), be.raw(hs),
                                 None if cs is None else be.raw(cs), None if gates is None else be.raw(gates),
                                 be.raw(layer_in), _raw_layer(be, layers[layer]), batch_sizes)
        for d in range(dirs):
            for seq, _, last in blocks:
                _rows_copy(be, last, layer * dirs + d, seq, d * (T + 1) + (T if d == 0 else 0))
        if cache is not None:
            saved.append((layer_in, hs, cs, gates))
        if not last_layer and seeds[layer] is not None:
            y = dropout(y, p, True, seed=seeds[layer], out=buf.get(("dropped", key), shape_y, x))
        layer_in = y
    out = layer_in
    if cache is not None:
        kept = cache.buffers
        cache.__dict__.clear()
        cache.__dict__.update(buffers=kept, be=be, cell=cell, layers=layers, saved=saved, seeds=seeds, p=p,
                              order=order, perm=perm, batch_sizes=batch_sizes, batch_first=batch_first,
                              unbatched=unbatched, shape=(T, B, I, H, dirs, num_layers), n_weights=len(weights),
                              ready=True)
    out = _caller_layout(be, out, batch_first, order)
    h_n = _caller_layout(be, h_n, False, order)
    c_n = _caller_layout(be, c_n, False, order) if lstm else None
    if unbatched:
        out = out.reshape(out.shape[1:] if batch_first else (out.shape[0], out.shape[2]))
        h_n = h_n.reshape(LD, H)
        c_n = c_n.reshape(LD, H) if lstm else None
    return out, h_n, c_n


def _raw_layer(be, row):
    """A layer's [(w_ih, w_hh, b_ih, b_hh) per direction] as the binding takes them."""
    return [tuple(None if w is None else be.raw(w) for w in wd) for wd in row]


def _unbatched_state(be, v, name: str, shape: tuple, like):
    v = be.operand(v, name, like)
    if v.shape != shape:
        raise ValueError(f"{name}: expected shape {shape} for an unbatched input, got {v.shape}")
    return v.reshape(shape[0], 1, shape[1])


def _grad_state(g, name: str, c: RnnCache, like):
    T, B, I, H, dirs, L = c.shape
    if g is not None and c.unbatched:
        g = _unbatched_state(c.be, g, name, (L * dirs, H), like)
    return _state(c.be, g, name, (L * dirs, B, H), c.order, like, copy=True)


def _weight_grads(grad_weights, c: RnnCache):
    """Per layer and direction, the 4 arrays the driver writes (or accumulates into) and the flat list."""
    T, B, I, H, dirs, L = c.shape
    be = c.be
    flat_w = [w for row in c.layers for wd in row for w in wd if w is not None]
    if grad_weights is None:
        flat = [be.empty(w.shape, w) for w in flat_w]
        accumulate = False
    else:
        if len(grad_weights) != len(flat_w):
            raise ValueError(f"grad_weights: expected {len(flat_w)} arrays (one per weight), got {len(grad_weights)}")
        flat = [be.out(g, w.shape, w, name=f"grad_weights[{i}]") for i, (g, w) in enumerate(zip(grad_weights, flat_w))]
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
    be = c.be
    T, B, I, H, dirs, L = c.shape
    lstm = cell == RnnCell.lstm
    like = c.saved[0][1]  # the first layer's states: on the forward's device
    backend_of(grad_out=grad_out, grad_h_n=grad_h_n, grad_c_n=grad_c_n, state=like)  # TypeError when mixed
    dy = None
    if grad_out is not None:
        g = be.operand(grad_out, "grad_out", like)
        if c.unbatched:
            want = (T, dirs * H)
            if g.shape != want:
                raise ValueError(f"grad_out: expected shape {want}, got {g.shape}")
            g = g.reshape((1,) + want if c.batch_first else (T, 1, dirs * H))
        want = (B, T, dirs * H) if c.batch_first else (T, B, dirs * H)
        if g.shape != want:
            raise ValueError(f"grad_out: expected shape {want} (the output's), got {g.shape}")
        dy = _time_major(be, g, c.batch_first, c.order, _Buffers(be, c), "dy")
    dh = _grad_state(grad_h_n, "grad_h_n", c, like)
    dc = _grad_state(grad_c_n, "grad_c_n", c, like) if lstm else None
    per, flat, accumulate = _weight_grads(grad_weights, c)
    buf = _Buffers(be, c)
    copied_dx = c.batch_first or c.perm is not None  # the input gradient is copied on the way out
    for layer in range(L - 1, -1, -1):
        x, hs, cs, gates = c.saved[layer]
        dx = buf.get(("dx", layer), x.shape, x) if layer > 0 or copied_dx else be.empty(x.shape, x)
        dhl = be.rows(dh, layer * dirs, (layer + 1) * dirs)  # views: the driver writes dh0, dc0 there
        dcl = be.rows(dc, layer * dirs, (layer + 1) * dirs) if lstm else None
        be.ops.rnn_layer_backward(cell, T, B, x.shape[2], H, be.raw(dx), be.raw(dhl),
                                  None if dcl is None else be.raw(dcl), _raw_layer(be, per[layer]), accumulate,
                                  None if dy is None else be.raw(dy), be.raw(x), _raw_layer(be, c.layers[layer]),
                                  be.raw(hs), None if cs is None else be.raw(cs),
                                  None if gates is None else be.raw(gates), c.batch_sizes)
        if layer > 0 and c.seeds[layer - 1] is not None:
            dx = dropout_backward(dx, c.p, c.seeds[layer - 1], out=dx)
        dy = dx
    dx = _caller_layout(be, dy, c.batch_first, c.order)
    dh = _caller_layout(be, dh, False, c.order)
    dc = _caller_layout(be, dc, False, c.order) if lstm else None
    if c.unbatched:
        dx = dx.reshape(dx.shape[1:] if c.batch_first else (dx.shape[0], dx.shape[2]))
        dh = dh.reshape(L * dirs, H)
        dc = dc.reshape(L * dirs, H) if lstm else None
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

def _cell_state(be, v, name: str, shape: tuple, like):
    """A cell's state (B, H) or unbatched (H,) (or its gradient) as the (1, B, H) of a one-layer sequence."""
    if v is None:
        return None
    v = be.operand(v, name, like)
    if v.shape != shape:
        raise ValueError(f"{name}: expected shape {shape} (the state's), got {v.shape}")
    return v.reshape((1,) + (shape if len(shape) == 2 else (1,) + shape))


def _cell_forward(cell, input, h0, c0, w_ih, w_hh, b_ih, b_hh, cache):
    """A cell is a one-layer sequence of T = 1 (time-major), through the same driver."""
    if (b_ih is None) != (b_hh is None):
        raise ValueError("b_ih, b_hh: give both or neither")
    weights = [w_ih, w_hh] + ([] if b_ih is None else [b_ih, b_hh])
    be = _backend(weights, input=input, hx=h0, cx=c0)
    x = be.operand(input, "input")
    if x.ndim not in (1, 2):
        raise ValueError(f"input: expected a 2-D (batch, input_size) or 1-D (input_size,) array, got shape {x.shape}")
    _, H, _ = _split_weights(be, weights, cell, 1, 1, x)
    B = x.shape[0] if x.ndim == 2 else 1
    shape = (B, H) if x.ndim == 2 else (H,)
    _, h, c = _forward(cell, x.reshape(1, B, x.shape[-1]), weights, _cell_state(be, h0, "hx", shape, x),
                       _cell_state(be, c0, "cx", shape, x), 1, False, False, None, 0.0, False, None, cache)
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
    be, like = cache.be, cache.saved[0][1]
    dx, dh, dc, gw = _backward(cell, None, _cell_state(be, grad_h, "grad_h", shape, like),
                               _cell_state(be, grad_c, "grad_c", shape, like), cache, None)
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
