"""Recurrent layers: RNN, LSTM, GRU over whole sequences and the cells RNNCell, LSTMCell,
GRUCell, on fastlayers.functional.rnn.

PyTorch's constructors, parameter names (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``,
``bias_hh_l0``, ``..._reverse`` for the second direction; the cells' ``weight_ih`` ...),
initialisation (uniform in +-1/sqrt(hidden_size)) and layouts, so ``load_state_dict`` takes a
torch module's ``state_dict()`` as is. The explicit layer style: forward caches what backward
needs (training mode only); backward mirrors forward and accumulates every parameter's grad::

    out, h_n = gru(x, h0=None, lengths=None)          dx, dh0 = gru.backward(d_out, d_h_n=None)
    out, (h_n, c_n) = lstm(x, None, lengths=None)     dx, (dh0, dc0) = lstm.backward(d_out, (d_h_n, d_c_n))

The initial-state gradient is returned even when forward started from zeros. ``d_out`` may be
None when only the final state has a gradient (many-to-one models).
"""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .._random import default_generator
from ..functional.dropout import _check_p
from ..functional.rnn import RnnCell, _rnn_cell_kind
from .linear import _accumulable, _features
from .module import Module, Parameter, factory_device

_GATES = {RnnCell.rnn_tanh: 1, RnnCell.rnn_relu: 1, RnnCell.lstm: 4, RnnCell.gru: 3}


def _uniform_init(params, hidden_size: int) -> None:
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    gen = default_generator()
    for p in params:
        p.data[...] = gen.uniform(-bound, bound, p.data.shape).astype(np.float32)


def _accumulate_grads(params, grads_fn):
    """Runs grads_fn(into) with the parameters' grads to add into in place (when every one can
    take it), else with None and adds the fresh gradients it returns."""
    into = [p.grad for p in params]
    if all(_accumulable(g, p.data) for g, p in zip(into, params)):
        return grads_fn(into)
    out = grads_fn(None)
    for p, g in zip(params, out[-1]):
        p.accumulate(g)
    return out


class _RNNBase(Module):
    def __init__(self, cell: RnnCell, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False):
        super().__init__()
        self.cell = cell
        self.input_size = _features(input_size, "input_size")
        self.hidden_size = _features(hidden_size, "hidden_size")
        if isinstance(num_layers, bool) or not isinstance(num_layers, (int, np.integer)) or num_layers < 1:
            raise ValueError(f"num_layers: expected a positive integer, got {num_layers!r}")
        self.num_layers = int(num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = _check_p(dropout)
        self.bidirectional = bool(bidirectional)
        G, H = _GATES[cell], self.hidden_size
        dirs = 2 if bidirectional else 1
        names = []
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else dirs * H
            for sfx in ("", "_reverse")[:dirs]:
                shapes = [("weight_ih", (G * H, in_size)), ("weight_hh", (G * H, H))]
                if self.bias:
                    shapes += [("bias_ih", (G * H,)), ("bias_hh", (G * H,))]
                for base, shape in shapes:
                    name = f"{base}_l{layer}{sfx}"
                    setattr(self, name, Parameter(np.empty(shape, np.float32)))
                    names.append(name)
        self._flat_names = names
        self.reset_parameters()
        self._cache = None

    @property
    def _flat(self):
        return [getattr(self, n) for n in self._flat_names]

    def reset_parameters(self) -> None:
        _uniform_init(self._flat, self.hidden_size)

    def _kw(self, lengths):
        return dict(num_layers=self.num_layers, bidirectional=self.bidirectional, batch_first=self.batch_first,
                    lengths=lengths, dropout=self.dropout, training=self.training)

    def _run(self, fn, x, hx, lengths, **extra):
        # The previous forward's cache, passed again, lends its arrays to this one (F.RnnCache).
        cache = (self._cache or F.RnnCache()) if self.training else None
        r = fn(x, [p.data for p in self._flat], hx, cache=cache, **self._kw(lengths), **extra)
        self._cache = cache
        return r

    def _run_backward(self, fn, grad_out, grad_state):
        cache = self._saved(self._cache, "forward state")
        return _accumulate_grads(self._flat, lambda into: fn(grad_out, grad_state, cache, grad_weights=into))

    def clear_cache(self) -> None:
        self._cache = None

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_RNNBase):
    """Elman RNN: h_t = tanh (or relu)(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        dev = factory_device(device, dtype)
        super().__init__(_rnn_cell_kind(nonlinearity), input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional)
        self.nonlinearity = nonlinearity
        self._placed(dev)

    def forward(self, x, hx=None, lengths=None):
        """(output, h_n)."""
        return self._run(F.rnn, x, hx, lengths, nonlinearity=self.nonlinearity)

    def backward(self, grad_out, grad_h_n=None):
        """(dx, dh0)."""
        dx, dh, _ = self._run_backward(F.rnn_backward, grad_out, grad_h_n)
        return dx, dh

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")


class LSTM(_RNNBase):
    """LSTM (gates i, f, g, o); forward(x, (h0, c0) or None, lengths) -> (output, (h_n, c_n))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        dev = factory_device(device, dtype)
        if proj_size:
            raise ValueError(f"proj_size: projections are not supported, got {proj_size}")
        super().__init__(RnnCell.lstm, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional)
        self._placed(dev)

    def forward(self, x, hx=None, lengths=None):
        return self._run(F.lstm, x, hx, lengths)

    def backward(self, grad_out, grad_hx=None):
        """(dx, (dh0, dc0)); grad_hx: (d_h_n, d_c_n) (either may be None) or None."""
        dx, dhc, _ = self._run_backward(F.lstm_backward, grad_out, grad_hx)
        return dx, dhc


class GRU(_RNNBase):
    """GRU (gates r, z, n; b_hn inside the reset product); forward(x, h0, lengths) -> (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        dev = factory_device(device, dtype)
        super().__init__(RnnCell.gru, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional)
        self._placed(dev)

    def forward(self, x, hx=None, lengths=None):
        return self._run(F.gru, x, hx, lengths)

    def backward(self, grad_out, grad_h_n=None):
        """(dx, dh0)."""
        dx, dh, _ = self._run_backward(F.gru_backward, grad_out, grad_h_n)
        return dx, dh


# ---- cells ----

class _CellBase(Module):
    def __init__(self, cell: RnnCell, input_size, hidden_size, bias=True):
        super().__init__()
        self.cell = cell
        self.input_size = _features(input_size, "input_size")
        self.hidden_size = _features(hidden_size, "hidden_size")
        self.bias = bool(bias)
        G, H = _GATES[cell], self.hidden_size
        self.weight_ih = Parameter(np.empty((G * H, self.input_size), np.float32))
        self.weight_hh = Parameter(np.empty((G * H, H), np.float32))
        self.bias_ih = Parameter(np.empty(G * H, np.float32)) if bias else None
        self.bias_hh = Parameter(np.empty(G * H, np.float32)) if bias else None
        self.reset_parameters()
        self._cache = None

    @property
    def _params(self):
        return [p for p in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh) if p is not None]

    def reset_parameters(self) -> None:
        _uniform_init(self._params, self.hidden_size)

    def _step(self, fn, x, hx):
        b = (None, None) if not self.bias else (self.bias_ih.data, self.bias_hh.data)
        cache = F.RnnCache() if self.training else None
        r = fn(x, hx, self.weight_ih.data, self.weight_hh.data, *b, cache=cache)
        self._cache = cache
        return r

    def _step_backward(self, fn, *grads):
        cache = self._saved(self._cache, "forward state")
        dx, dstate, gw = fn(*grads, cache)
        for p, g in zip(self._params, gw):
            p.accumulate(g)
        return dx, dstate

    def clear_cache(self) -> None:
        self._cache = None

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """h' = tanh (or relu)(x W_ih^T + b_ih + h W_hh^T + b_hh); forward(x, hx=None) -> h'."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        dev = factory_device(device, dtype)
        super().__init__(_rnn_cell_kind(nonlinearity), input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity
        self._placed(dev)

    def forward(self, x, hx=None):
        fn = F.rnn_tanh_cell if self.nonlinearity == "tanh" else F.rnn_relu_cell
        return self._step(fn, x, hx)

    def backward(self, grad_h):
        """(dx, dhx)."""
        fn = F.rnn_tanh_cell_backward if self.nonlinearity == "tanh" else F.rnn_relu_cell_backward
        return self._step_backward(fn, grad_h)


class LSTMCell(_CellBase):
    """One LSTM step; forward(x, (h, c) or None) -> (h', c')."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        dev = factory_device(device, dtype)
        super().__init__(RnnCell.lstm, input_size, hidden_size, bias)
        self._placed(dev)

    def forward(self, x, hx=None):
        return self._step(F.lstm_cell, x, hx)

    def backward(self, grad_out):
        """grad_out: (dh', dc') (either may be None) or dh' alone; returns (dx, (dh, dc))."""
        gh, gc = grad_out if isinstance(grad_out, (tuple, list)) else (grad_out, None)
        return self._step_backward(F.lstm_cell_backward, gh, gc)


class GRUCell(_CellBase):
    """One GRU step; forward(x, h=None) -> h'."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        dev = factory_device(device, dtype)
        super().__init__(RnnCell.gru, input_size, hidden_size, bias)
        self._placed(dev)

    def forward(self, x, hx=None):
        return self._step(F.gru_cell, x, hx)

    def backward(self, grad_h):
        """(dx, dhx)."""
        return self._step_backward(F.gru_cell_backward, grad_h)
