"""RNN family: cells and whole sequences (rnn, lstm, gru) forward and backward against the
float64 oracle (reference_rnn.py), finite differences, every ISA against the reference
kernels, PyTorch parity (torch.nn.RNN / LSTM / GRU and the cells), bad input."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers
from fastlayers import functional as F

import reference_rnn as R
from helpers import assert_close, numeric_grad

CELLS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def make_weights(rng, cell, I, H, num_layers=1, dirs=1, bias=True, scale=None):
    """PyTorch's flat weight list and the oracle's layers[l][d] view of it."""
    G = GATES[cell]
    s = 1.0 / np.sqrt(H) if scale is None else scale
    flat, layers = [], []
    for layer in range(num_layers):
        row = []
        for _ in range(dirs):
            in_size = I if layer == 0 else dirs * H
            w = [rng.uniform(-s, s, (G * H, in_size)), rng.uniform(-s, s, (G * H, H))]
            if bias:
                w += [rng.uniform(-s, s, G * H), rng.uniform(-s, s, G * H)]
            w = [a.astype(np.float32) for a in w]
            flat += w
            row.append(tuple(w) if bias else (w[0], w[1], None, None))
        layers.append(row)
    return flat, layers


def run_seq(cell, x, flat, h0=None, c0=None, **kw):
    """(out, h_n, c_n) of the functional op of `cell`."""
    if cell == "lstm":
        out, (h, c) = F.lstm(x, flat, None if h0 is None else (h0, c0), **kw)
        return out, h, c
    if cell == "gru":
        out, h = F.gru(x, flat, h0, **kw)
    else:
        out, h = F.rnn(x, flat, h0, nonlinearity=cell[4:], **kw)
    return out, h, None


def back_seq(cell, dy, dh, dc, cache):
    if cell == "lstm":
        dx, (gh, gc), gw = F.lstm_backward(dy, (dh, dc), cache)
        return dx, gh, gc, gw
    fn = F.gru_backward if cell == "gru" else F.rnn_backward
    dx, gh, gw = fn(dy, dh, cache)
    return dx, gh, None, gw


CELL_FN = {"rnn_tanh": F.rnn_tanh_cell, "rnn_relu": F.rnn_relu_cell, "lstm": F.lstm_cell, "gru": F.gru_cell}


def run_cell(cell, x, h, c, w, cache=None):
    hx = (h, c) if cell == "lstm" and h is not None else h
    r = CELL_FN[cell](x, hx, *w, cache=cache)
    return r if cell == "lstm" else (r, None)


# ---- cells ----

@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bias", [True, False])
def test_cell_forward_matches_oracle(isa, rng, cell, bias):
    B, I, H = 5, 19, 37
    _, layers = make_weights(rng, cell, I, H, bias=bias)
    w = [a for a in layers[0][0] if a is not None]
    x = rng.standard_normal((B, I)).astype(np.float32)
    h = rng.standard_normal((B, H)).astype(np.float32)
    c = rng.standard_normal((B, H)).astype(np.float32)
    got_h, got_c = run_cell(cell, x, h, c, w)
    want_h, want_c = R.cell_step(cell, x, h, c, *layers[0][0])
    assert_close(got_h, want_h, rtol=1e-5, atol=2e-6, what=f"{cell} h")
    if cell == "lstm":
        assert_close(got_c, want_c, rtol=1e-5, atol=2e-6, what="lstm c")


@pytest.mark.parametrize("cell", CELLS)
def test_cell_unbatched_and_zero_state(rng, cell):
    I, H = 6, 5
    _, layers = make_weights(rng, cell, I, H)
    w = layers[0][0]
    x = rng.standard_normal(I).astype(np.float32)
    got_h, _ = run_cell(cell, x, None, None, w)
    want_h, _ = R.cell_step(cell, x[None], np.zeros((1, H)), np.zeros((1, H)), *w)
    assert got_h.shape == (H,)
    assert_close(got_h, want_h[0], rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_cell_gradients_finite_differences(isa, rng, cell):
    B, I, H = 3, 4, 5
    _, layers = make_weights(rng, cell, I, H, scale=0.8)
    w = list(layers[0][0])
    x = rng.standard_normal((B, I)).astype(np.float32)
    h = rng.standard_normal((B, H)).astype(np.float32)
    c = rng.standard_normal((B, H)).astype(np.float32)
    gh = rng.standard_normal((B, H))
    gc = rng.standard_normal((B, H))
    cache = F.RnnCache()
    run_cell(cell, x, h, c, w, cache)
    if cell == "lstm":
        dx, (dh, dc), gw = F.lstm_cell_backward(gh, gc, cache)
    else:
        fn = {"rnn_tanh": F.rnn_tanh_cell_backward, "rnn_relu": F.rnn_relu_cell_backward,
              "gru": F.gru_cell_backward}[cell]
        dx, dh, gw = fn(gh, cache)
        dc = None

    def loss_of(i):
        def f(v):
            args = [x, h, c] + w
            args = args[:i] + [v] + args[i + 1:]
            hh, cc = R.cell_step(cell, *args)
            return np.concatenate([hh.ravel(), cc.ravel()]) if cell == "lstm" else hh.ravel()
        return f

    go = np.concatenate([gh.ravel(), gc.ravel()]) if cell == "lstm" else gh.ravel()
    got = [dx, dh, dc] + list(gw)
    for i, (arr, name) in enumerate(zip([x, h, c] + w, ["x", "h", "c", "w_ih", "w_hh", "b_ih", "b_hh"])):
        if name == "c" and cell != "lstm":
            continue
        want = numeric_grad(loss_of(i), arr.astype(np.float64), go, eps=1e-4)
        assert_close(got[i], want, rtol=2e-3, atol=2e-4, what=f"{cell} d{name}")


# ---- whole sequences ----

SEQ_CASES = [  # (num_layers, bidirectional, batch_first, with lengths)
    (1, False, True, False), (2, True, False, False), (2, False, True, True), (3, True, True, True),
]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers_n,bidi,batch_first,use_len", SEQ_CASES)
def test_sequence_forward_matches_oracle(isa, rng, cell, layers_n, bidi, batch_first, use_len):
    T, B, I, H = 6, 4, 19, 37
    D = 2 if bidi else 1
    flat, layers = make_weights(rng, cell, I, H, layers_n, D)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    h0 = rng.standard_normal((layers_n * D, B, H)).astype(np.float32)
    c0 = rng.standard_normal((layers_n * D, B, H)).astype(np.float32)
    lengths = np.array([3, 6, 1, 4]) if use_len else None
    xin = x.transpose(1, 0, 2).copy() if batch_first else x
    out, hn, cn = run_seq(cell, xin, flat, h0, c0, num_layers=layers_n, bidirectional=bidi,
                          batch_first=batch_first, lengths=lengths)
    want_out, want_h, want_c = R.rnn_sequence(cell, x, layers, h0, c0, lengths)
    if batch_first:
        want_out = want_out.transpose(1, 0, 2)
    assert_close(out, want_out, rtol=1e-4, atol=1e-5, what="out")
    assert_close(hn, want_h, rtol=1e-4, atol=1e-5, what="h_n")
    if cell == "lstm":
        assert_close(cn, want_c, rtol=1e-4, atol=1e-5, what="c_n")


@pytest.mark.parametrize("cell", CELLS)
def test_sequence_gradients_finite_differences(isa, rng, cell):
    T, B, I, H, L = 4, 3, 3, 4, 2
    flat, layers = make_weights(rng, cell, I, H, L, 2, scale=0.7)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    h0 = rng.standard_normal((2 * L, B, H)).astype(np.float32)
    c0 = rng.standard_normal((2 * L, B, H)).astype(np.float32)
    lengths = np.array([2, 4, 3])
    gy = rng.standard_normal((T, B, 2 * H))
    for t in range(T):  # the output past a length is constant zero: its gradient is irrelevant
        gy[t, lengths <= t] = 0.0
    gh = rng.standard_normal((2 * L, B, H))
    gc = rng.standard_normal((2 * L, B, H))
    kw = dict(num_layers=L, bidirectional=True, batch_first=False, lengths=lengths)
    cache = F.RnnCache()
    run_seq(cell, x, flat, h0, c0, cache=cache, **kw)
    dx, dh, dc, gw = back_seq(cell, gy, gh, gc, cache)

    def total(out, hn, cn):
        parts = [out.ravel(), hn.ravel()] + ([cn.ravel()] if cell == "lstm" else [])
        return np.concatenate(parts)

    go = np.concatenate([gy.ravel(), gh.ravel()] + ([gc.ravel()] if cell == "lstm" else []))

    def with_layers(flat_w):
        k = 4
        return [[tuple(flat_w[(la * 2 + d) * k:(la * 2 + d + 1) * k]) for d in range(2)] for la in range(L)]

    checks = [("x", x, lambda v: total(*R.rnn_sequence(cell, v, layers, h0, c0, lengths)), dx),
              ("h0", h0, lambda v: total(*R.rnn_sequence(cell, x, layers, v, c0, lengths)), dh)]
    if cell == "lstm":
        checks.append(("c0", c0, lambda v: total(*R.rnn_sequence(cell, x, layers, h0, v, lengths)), dc))
    for i in (0, 1, 6, 11, 13):  # a sample of weights: layer 0 and 1, both directions, biases
        def f(v, i=i):
            fw = list(flat)
            fw[i] = v
            return total(*R.rnn_sequence(cell, x, with_layers(fw), h0, c0, lengths))
        checks.append((f"weights[{i}]", flat[i], f, gw[i]))
    for name, arr, f, got in checks:
        want = numeric_grad(f, arr.astype(np.float64), go, eps=1e-4)
        assert_close(got, want, rtol=3e-3, atol=3e-4, what=f"{cell} d{name}")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("threads", [1, 2])
def test_isa_backward_matches_reference_kernels(isa, rng, cell, threads):
    """Realistic shapes: every ISA's forward and backward against the scalar (reference) kernels."""
    T, B, I, H, L = 9, 16, 19, 300, 2
    flat, _ = make_weights(rng, cell, I, H, L, 2)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    lengths = rng.integers(1, T + 1, B)
    gy = rng.standard_normal((B, T, 2 * H)).astype(np.float32)
    gh = rng.standard_normal((2 * L, B, H)).astype(np.float32)
    kw = dict(num_layers=L, bidirectional=True, lengths=lengths)
    before_threads = fastlayers.get_num_threads()
    results = []
    try:
        for level in (isa, "scalar"):
            fastlayers.set_isa(level)
            fastlayers.set_num_threads(threads if level == isa else 1)
            cache = F.RnnCache()
            out, hn, cn = run_seq(cell, x, flat, cache=cache, **kw)
            results.append((out, hn, cn) + back_seq(cell, gy, gh, gh if cell == "lstm" else None, cache))
    finally:
        fastlayers.set_isa(isa)
        fastlayers.set_num_threads(before_threads)
    got, want = results
    for name, a, b in zip(["out", "h_n", "c_n", "dx", "dh0", "dc0"], got[:6], want[:6]):
        if b is not None:
            assert_close(a, b, rtol=1e-4, atol=2e-5, what=f"{cell} {name}")
    for i, (a, b) in enumerate(zip(got[6], want[6])):
        assert_close(a, b, rtol=1e-4, atol=1e-4, what=f"{cell} grad weights[{i}]")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("B,use_len", [(8, False), (40, False), (40, True)])
def test_threads_match_one_thread(isa, rng, cell, B, use_len):
    """A single direction on 2 threads: steps split by unit slices (few rows) or the batch split
    into row groups that run on their own (B = 40, with and without lengths) give the one-thread
    results."""
    T, I, H = 7, 16, 256
    flat, _ = make_weights(rng, cell, I, H)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    lengths = rng.integers(1, T + 1, B) if use_len else None
    before = fastlayers.get_num_threads()
    res = []
    try:
        for nt in (1, 2):
            fastlayers.set_num_threads(nt)
            cache = F.RnnCache()
            out, hn, cn = run_seq(cell, x, flat, lengths=lengths, cache=cache)
            dx, dh, dc, gw = back_seq(cell, np.ones_like(out), np.ones_like(hn), None, cache)
            res.append([out, hn, dx, dh] + gw + ([cn, dc] if cell == "lstm" else []))
    finally:
        fastlayers.set_num_threads(before)
    for a, b in zip(*res):
        assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_dropout_between_layers(rng):
    T, B, I, H = 5, 3, 4, 6
    flat, _ = make_weights(rng, "gru", I, H, 2, 1)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    a, _ = F.gru(x, flat, num_layers=2, dropout=0.5, seed=7)
    b, _ = F.gru(x, flat, num_layers=2, dropout=0.5, seed=7)
    c, _ = F.gru(x, flat, num_layers=2, dropout=0.5, seed=8)
    e, _ = F.gru(x, flat, num_layers=2, dropout=0.5, training=False)
    n, _ = F.gru(x, flat, num_layers=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(e, n)
    # backward through the same masks, by finite differences of the float32 op in float64 steps
    cache = F.RnnCache()
    F.gru(x, flat, num_layers=2, dropout=0.5, seed=7, cache=cache)
    gy = rng.standard_normal((B, T, H))
    dx, _, _ = F.gru_backward(gy, None, cache)

    def f(v):
        return F.gru(v.astype(np.float32), flat, num_layers=2, dropout=0.5, seed=7)[0].astype(np.float64)

    want = numeric_grad(f, x, gy, eps=1e-2)
    assert_close(dx, want, rtol=2e-2, atol=2e-3)


def test_lengths_outputs_and_no_gradient_through_padding(rng):
    T, B, I, H = 6, 3, 4, 5
    flat, _ = make_weights(rng, "lstm", I, H, 1, 2)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    lengths = [2, 6, 4]
    x2 = x.copy()
    x2[0, 2:] = 1e3  # garbage in the padding changes nothing
    x2[2, 4:] = np.nan
    cache = F.RnnCache()
    out, (h, c) = F.lstm(x2, flat, bidirectional=True, lengths=lengths, cache=cache)
    ref, (hr, cr) = F.lstm(x, flat, bidirectional=True, lengths=lengths)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(h, hr)
    assert np.all(out[0, 2:] == 0) and np.all(out[2, 4:] == 0)
    dx, _, gw = F.lstm_backward(np.ones_like(out), None, cache)
    assert np.all(dx[0, 2:] == 0) and np.all(dx[2, 4:] == 0)
    assert all(np.all(np.isfinite(g)) for g in gw)


@pytest.mark.parametrize("B,T", [(1, 5), (4, 1), (3, 4)])
def test_results_are_not_reused_buffers(rng, B, T):
    """Outputs and input gradients survive the next call (internal buffers are reused)."""
    flat, _ = make_weights(rng, "lstm", 3, 4, 2, 1)
    x1 = rng.standard_normal((B, T, 3)).astype(np.float32)
    x2 = rng.standard_normal((B, T, 3)).astype(np.float32)
    out1, _ = F.lstm(x1, flat, num_layers=2)
    keep = out1.copy()
    cache = F.RnnCache()
    o, _ = F.lstm(x1, flat, num_layers=2, cache=cache)
    dx1, _, _ = F.lstm_backward(np.ones_like(o), None, cache)
    keep_dx = dx1.copy()
    F.lstm(x2, flat, num_layers=2)
    o, _ = F.lstm(x2, flat, num_layers=2, cache=cache)
    F.lstm_backward(np.ones_like(o), None, cache)
    np.testing.assert_array_equal(out1, keep)
    np.testing.assert_array_equal(dx1, keep_dx)


def test_grad_weights_accumulate(rng):
    T, B, I, H = 4, 2, 3, 5
    flat, _ = make_weights(rng, "gru", I, H)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    cache = F.RnnCache()
    out, _ = F.gru(x, flat, cache=cache)
    _, _, fresh = F.gru_backward(np.ones_like(out), None, cache)
    into = [np.ones_like(w) for w in flat]
    _, _, got = F.gru_backward(np.ones_like(out), None, cache, grad_weights=into)
    assert all(g is i for g, i in zip(got, into))
    for g, f in zip(got, fresh):
        assert_close(g, f + 1.0, rtol=1e-6, atol=1e-6)


# ---- PyTorch parity ----

TORCH_MODULE = {"rnn_tanh": "RNN", "rnn_relu": "RNN", "lstm": "LSTM", "gru": "GRU"}


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers_n,bidi,batch_first,use_len", SEQ_CASES)
def test_torch_parity_sequences(isa, torch, rng, cell, layers_n, bidi, batch_first, use_len):
    T, B, I, H = 7, 5, 19, 37
    D = 2 if bidi else 1
    kw = {"nonlinearity": cell[4:]} if cell.startswith("rnn") else {}
    m = getattr(torch.nn, TORCH_MODULE[cell])(I, H, num_layers=layers_n, bidirectional=bidi,
                                              batch_first=batch_first, **kw)
    flat = [p.detach().numpy() for p in m._flat_weights]
    shape = (B, T, I) if batch_first else (T, B, I)
    x = rng.standard_normal(shape).astype(np.float32)
    h0 = rng.standard_normal((layers_n * D, B, H)).astype(np.float32)
    c0 = rng.standard_normal((layers_n * D, B, H)).astype(np.float32)
    lengths = np.array([3, 7, 1, 5, 7]) if use_len else None
    cache = F.RnnCache()
    out, hn, cn = run_seq(cell, x, flat, h0, c0, num_layers=layers_n, bidirectional=bidi, batch_first=batch_first,
                          lengths=lengths, cache=cache)
    tx = torch.from_numpy(x).requires_grad_()
    th0 = torch.from_numpy(h0).requires_grad_()
    tc0 = torch.from_numpy(c0).requires_grad_()
    hx = (th0, tc0) if cell == "lstm" else th0
    if use_len:
        packed = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.from_numpy(lengths), batch_first=batch_first,
                                                         enforce_sorted=False)
        tout, th = m(packed, hx)
        tout, _ = torch.nn.utils.rnn.pad_packed_sequence(tout, batch_first=batch_first, total_length=T)
    else:
        tout, th = m(tx, hx)
    th_n = th[0] if cell == "lstm" else th
    assert_close(out, tout.detach().numpy(), rtol=1e-4, atol=2e-5, what="out")
    assert_close(hn, th_n.detach().numpy(), rtol=1e-4, atol=2e-5, what="h_n")
    gy = rng.standard_normal(out.shape).astype(np.float32)
    gh = rng.standard_normal(hn.shape).astype(np.float32)
    gc = rng.standard_normal(hn.shape).astype(np.float32)
    loss = (tout * torch.from_numpy(gy)).sum() + (th_n * torch.from_numpy(gh)).sum()
    if cell == "lstm":
        assert_close(cn, th[1].detach().numpy(), rtol=1e-4, atol=2e-5, what="c_n")
        loss = loss + (th[1] * torch.from_numpy(gc)).sum()
    loss.backward()
    dx, dh, dc, gw = back_seq(cell, gy, gh, gc if cell == "lstm" else None, cache)
    assert_close(dx, tx.grad.numpy(), rtol=1e-4, atol=3e-5, what="dx")
    assert_close(dh, th0.grad.numpy(), rtol=1e-4, atol=3e-5, what="dh0")
    if cell == "lstm":
        assert_close(dc, tc0.grad.numpy(), rtol=1e-4, atol=3e-5, what="dc0")
    for i, p in enumerate(m._flat_weights):
        assert_close(gw[i], p.grad.numpy(), rtol=1e-4, atol=1e-4, what=f"grad of {m._flat_weights_names[i]}")


@pytest.mark.parametrize("cell", CELLS)
def test_torch_parity_cells(torch, rng, cell):
    B, I, H = 6, 19, 37
    name = {"rnn_tanh": "RNNCell", "rnn_relu": "RNNCell", "lstm": "LSTMCell", "gru": "GRUCell"}[cell]
    kw = {"nonlinearity": cell[4:]} if cell.startswith("rnn") else {}
    m = getattr(torch.nn, name)(I, H, **kw)
    w = [m.weight_ih.detach().numpy(), m.weight_hh.detach().numpy(), m.bias_ih.detach().numpy(),
         m.bias_hh.detach().numpy()]
    x = rng.standard_normal((B, I)).astype(np.float32)
    h = rng.standard_normal((B, H)).astype(np.float32)
    c = rng.standard_normal((B, H)).astype(np.float32)
    cache = F.RnnCache()
    got_h, got_c = run_cell(cell, x, h, c, w, cache)
    tx, th, tc = (torch.from_numpy(a).requires_grad_() for a in (x, h, c))
    r = m(tx, (th, tc)) if cell == "lstm" else m(tx, th)
    rh = r[0] if cell == "lstm" else r
    assert_close(got_h, rh.detach().numpy(), rtol=1e-5, atol=2e-6)
    gh = rng.standard_normal((B, H)).astype(np.float32)
    loss = (rh * torch.from_numpy(gh)).sum()
    if cell == "lstm":
        assert_close(got_c, r[1].detach().numpy(), rtol=1e-5, atol=2e-6)
        loss = loss + r[1].sum()
        dx, (dh, dc), gw = F.lstm_cell_backward(gh, np.ones((B, H), np.float32), cache)
    loss.backward()
    if cell == "lstm":
        assert_close(dc, tc.grad.numpy(), rtol=1e-5, atol=1e-5, what="dc")
    else:
        fn = {"rnn_tanh": F.rnn_tanh_cell_backward, "rnn_relu": F.rnn_relu_cell_backward,
              "gru": F.gru_cell_backward}[cell]
        dx, dh, gw = fn(gh, cache)
    assert_close(dx, tx.grad.numpy(), rtol=1e-5, atol=1e-5, what="dx")
    assert_close(dh, th.grad.numpy(), rtol=1e-5, atol=1e-5, what="dh")
    for g, p in zip(gw, [m.weight_ih, m.weight_hh, m.bias_ih, m.bias_hh]):
        assert_close(g, p.grad.numpy(), rtol=1e-5, atol=1e-5)


# ---- bad input ----

def test_bad_input(rng):
    T, B, I, H = 4, 3, 5, 6
    flat, _ = make_weights(rng, "lstm", I, H)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    with pytest.raises(ValueError, match="input_size 5"):
        F.lstm(x[..., :4], flat)
    with pytest.raises(ValueError, match="h0: expected shape \\(1, 3, 6\\)"):
        F.lstm(x, flat, (np.zeros((1, 2, H)), np.zeros((1, 3, H))))
    with pytest.raises(ValueError, match="c0"):
        F.lstm(x, flat, (np.zeros((1, B, H)), np.zeros((2, B, H))))
    with pytest.raises(ValueError, match="lengths: every length must be in \\[1, T=4\\]"):
        F.lstm(x, flat, lengths=[1, 5, 2])
    with pytest.raises(ValueError, match="lengths"):
        F.lstm(x, flat, lengths=[0, 2, 2])
    with pytest.raises(ValueError, match="lengths: expected shape \\(3,\\)"):
        F.lstm(x, flat, lengths=[1, 2])
    with pytest.raises(TypeError, match="lengths: expected integers"):
        F.lstm(x, flat, lengths=[1.0, 2.0, 2.0])
    with pytest.raises(ValueError, match="weights: expected 12 arrays"):
        F.lstm(x, flat, num_layers=3)
    with pytest.raises(ValueError, match="weights\\[1\\]"):
        F.gru(x, flat)  # lstm weights are 4H rows, not 3H
    with pytest.raises(ValueError, match="input: expected a 3-D"):
        F.gru(x[0, 0], flat)
    with pytest.raises(TypeError, match="input"):
        F.rnn(x.astype(np.complex64), flat[:0])
    with pytest.raises(ValueError, match="nonlinearity"):
        F.rnn(x, flat, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hx: expected shape \\(3, 6\\)"):
        F.gru_cell(x[:, 0], np.zeros((2, H)), *make_weights(rng, "gru", I, H)[0])
    with pytest.raises(ValueError, match="cache: empty"):
        F.lstm_backward(np.zeros((B, T, H)), None, F.RnnCache())
    cache = F.RnnCache()
    out, _ = F.lstm(x, flat, cache=cache)
    with pytest.raises(ValueError, match="cache: holds a lstm"):
        F.gru_backward(out, None, cache)
    with pytest.raises(ValueError, match="grad_out: expected shape \\(3, 4, 6\\)"):
        F.lstm_backward(out[:, :2], None, cache)


def test_core_rejects_inconsistent_arrays(rng):
    """Direct calls into _core are validated too: no out-of-bounds read or write."""
    from fastlayers import _core
    T, B, I, H = 3, 2, 4, 5
    flat, layers = make_weights(rng, "gru", I, H)
    x = np.zeros((T, B, I), np.float32)
    y = np.empty((T, B, H), np.float32)
    hs = np.zeros((1, T + 1, B, H), np.float32)
    with pytest.raises(ValueError):
        _core.rnn_layer_forward(_core.RnnCell.gru, y[:2], hs, None, None, x, layers[0], None)
    with pytest.raises(ValueError):
        _core.rnn_layer_forward(_core.RnnCell.gru, y, hs[:, :T], None, None, x, layers[0], None)
    with pytest.raises(ValueError):
        _core.rnn_layer_forward(_core.RnnCell.gru, y, hs, None, None, x, layers[0], np.array([2, 3, 1]))
    with pytest.raises(ValueError):
        _core.rnn_layer_forward(_core.RnnCell.lstm, y, hs, None, None, x, layers[0], None)
    with pytest.raises(ValueError):
        _core.rnn_layer_backward(_core.RnnCell.gru, None, np.zeros((1, B, H), np.float32), None, [(None,) * 4],
                                 False, None, x, layers[0], hs, None, None, None)
