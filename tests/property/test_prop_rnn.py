"""Property tests of the RNN family: rnn (tanh, relu), lstm and gru over drawn sequences (T, B
and input sizes 0 and 1 included, stacked and bidirectional layers, with and without biases,
packed lengths, batch_first either way, given or zero initial states), against the float64
sequence oracle of tests/reference_rnn.py; bad weights, states and lengths answered cleanly."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import fastlayers.functional as F
import reference_rnn as RR
from props import CLEAN_ERRORS, arrays, budget, close, isas, on_isa, values

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _run(cell, x, weights, h0, c0, **kw):
    if cell == "lstm":
        out, (h, c) = F.lstm(x, weights, None if h0 is None else (h0, c0), **kw)
        return out, h, c
    if cell == "gru":
        out, h = F.gru(x, weights, h0, **kw)
    else:
        out, h = F.rnn(x, weights, h0, nonlinearity=cell[4:], **kw)
    return out, h, None


@st.composite
def rnn_case(draw):
    cell = draw(st.sampled_from(sorted(GATES)))
    T, B, I, H = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(0, 4)), draw(st.integers(1, 4))
    return cell, T, B, I, H, draw(st.integers(1, 2)), draw(st.booleans()), draw(st.booleans())


@budget(2)
@given(case=rnn_case(), batch_first=st.booleans(), with_state=st.booleans(), packed=st.booleans(), isa=isas,
       data=st.data())
def test_sequence_matches_oracle(case, batch_first, with_state, packed, isa, data):
    cell, T, B, I, H, L, bidir, bias = case
    D, G = 2 if bidir else 1, GATES[cell]
    flat, layers = [], []
    for layer in range(L):
        dirs = []
        for _ in range(D):
            w = [data.draw(values((G * H, I if layer == 0 else D * H), "normal")) * 0.5,
                 data.draw(values((G * H, H), "normal")) * 0.5]
            b = [data.draw(values((G * H,), "normal")) * 0.5 for _ in range(2)] if bias else [None, None]
            flat += w + ([b[0], b[1]] if bias else [])
            dirs.append(tuple(w + b))
        layers.append(dirs)
    x_tm = data.draw(arrays((T, B, I), "normal"))
    h0 = data.draw(arrays((L * D, B, H), "normal")) if with_state else None
    c0 = data.draw(arrays((L * D, B, H), "normal")) if with_state and cell == "lstm" else None
    lengths = None
    if packed:
        lengths = np.asarray(data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B)))
    x = np.ascontiguousarray(np.swapaxes(x_tm, 0, 1)) if batch_first else x_tm
    with on_isa(isa):
        out, h, c = _run(cell, x, flat, h0, c0, num_layers=L, bidirectional=bidir, batch_first=batch_first,
                         lengths=lengths)
    e_out, e_h, e_c = RR.rnn_sequence(cell, x_tm, layers, h0, c0, lengths)
    if batch_first:
        e_out = np.swapaxes(e_out, 0, 1)
    what = f"{case} batch_first={batch_first} lengths={lengths} {isa}"
    close(out, e_out, rtol=1e-4, atol=1e-5, what=what)
    close(h, e_h, rtol=1e-4, atol=1e-5, what="h_n " + what)
    if cell == "lstm":
        close(c, e_c, rtol=1e-4, atol=1e-5, what="c_n " + what)


@budget(2)
@given(cell=st.sampled_from(sorted(GATES)), x_shape=st.lists(st.integers(0, 3), min_size=0, max_size=4).map(tuple),
       w_shapes=st.lists(st.lists(st.integers(0, 8), min_size=0, max_size=3).map(tuple), min_size=0, max_size=5),
       h_shape=st.one_of(st.none(), st.lists(st.integers(0, 3), min_size=0, max_size=4).map(tuple)),
       lengths=st.one_of(st.none(), st.lists(st.integers(-1, 5), min_size=0, max_size=4)),
       num_layers=st.integers(-1, 3), bidir=st.booleans(), data=st.data())
def test_sequence_any_arguments_answer_cleanly(cell, x_shape, w_shapes, h_shape, lengths, num_layers, bidir, data):
    x = data.draw(values(x_shape))
    weights = [data.draw(values(s)) for s in w_shapes]
    h0 = None if h_shape is None else data.draw(values(h_shape))
    c0 = None if h_shape is None else data.draw(values(h_shape))
    try:
        _run(cell, x, weights, h0, c0, num_layers=num_layers, bidirectional=bidir,
             lengths=None if lengths is None else np.asarray(lengths, np.int64))
    except CLEAN_ERRORS:
        pass
