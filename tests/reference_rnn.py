"""Float64 NumPy oracles of the RNN family (PyTorch's equations) and of embedding.

Kept apart from reference.py, which would pass 600 lines with them.
"""
from __future__ import annotations

import numpy as np


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def cell_step(cell, x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step of `cell` ('rnn_tanh', 'rnn_relu', 'lstm', 'gru'): (h', c') in float64.

    x (B, I), h, c (B, H) (c ignored but for lstm); weights as PyTorch lays them out."""
    x, h = np.asarray(x, np.float64), np.asarray(h, np.float64)
    w_ih, w_hh = np.asarray(w_ih, np.float64), np.asarray(w_hh, np.float64)
    gi = x @ w_ih.T + (0.0 if b_ih is None else np.asarray(b_ih, np.float64))
    gh = h @ w_hh.T + (0.0 if b_hh is None else np.asarray(b_hh, np.float64))
    H = h.shape[-1]
    if cell == "rnn_tanh":
        return np.tanh(gi + gh), None
    if cell == "rnn_relu":
        return np.maximum(gi + gh, 0.0), None
    if cell == "lstm":
        a = gi + gh
        i, f, g, o = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), _sigmoid(a[:, 3 * H:])
        c2 = f * np.asarray(c, np.float64) + i * g
        return o * np.tanh(c2), c2
    if cell == "gru":
        r = _sigmoid(gi[:, :H] + gh[:, :H])
        z = _sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        return (1.0 - z) * n + z * h, None
    raise ValueError(cell)


def rnn_sequence(cell, x, layers, h0=None, c0=None, lengths=None):
    """A whole stacked (bi)directional layer sequence without dropout, time-major, in float64.

    x (T, B, I); layers[l][d] = (w_ih, w_hh, b_ih, b_hh) (biases may be None); h0, c0
    (L * D, B, H) or None; lengths: B ints or None (packed semantics: outputs past a length are 0,
    the final states are those of the last valid step). Returns (out (T, B, D*H), h_n, c_n)."""
    x = np.asarray(x, np.float64)
    T, B, _ = x.shape
    L, D = len(layers), len(layers[0])
    H = np.asarray(layers[0][0][1]).shape[1]
    lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
    h0 = np.zeros((L * D, B, H)) if h0 is None else np.asarray(h0, np.float64)
    c0 = np.zeros((L * D, B, H)) if c0 is None else np.asarray(c0, np.float64)
    h_n, c_n = np.zeros((L * D, B, H)), np.zeros((L * D, B, H))
    inp = x
    for layer in range(L):
        out = np.zeros((T, B, D * H))
        for d in range(D):
            w = layers[layer][d]
            k = layer * D + d
            for b in range(B):
                h, c = h0[k, b:b + 1], c0[k, b:b + 1]
                steps = range(lengths[b]) if d == 0 else range(lengths[b] - 1, -1, -1)
                for t in steps:
                    h, c2 = cell_step(cell, inp[t, b:b + 1], h, c, *w)
                    c = c2 if c2 is not None else c
                    out[t, b, d * H:(d + 1) * H] = h[0]
                h_n[k, b], c_n[k, b] = h[0], c[0]
        inp = out
    return inp, h_n, c_n


def embedding(indices, weight):
    """weight[indices] in float64."""
    return np.asarray(weight, np.float64)[np.asarray(indices)]


def embedding_backward(grad_out, indices, num_embeddings: int, padding_idx=None):
    """Scatter-add of grad_out rows into a (num_embeddings, D) float64 gradient; padding_idx gets none."""
    g = np.asarray(grad_out, np.float64)
    idx = np.asarray(indices).reshape(-1)
    out = np.zeros((num_embeddings, g.shape[-1]))
    np.add.at(out, idx, g.reshape(idx.size, g.shape[-1]))  # (not -1: zero-size g)
    if padding_idx is not None:
        out[padding_idx] = 0.0
    return out
