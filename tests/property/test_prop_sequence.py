"""Property tests of the attention, embedding and resample families: scaled_dot_product_attention
(broadcast batches, boolean / float / causal masks, rows with no key, E = 0) forward and backward,
embedding and its scatter-add backward (padding_idx, indices out of range), pad (all four modes,
negative constant pads) and interpolate (sizes and scale factors, every mode) with the adjoint
property of their backward, against the float64 oracles; bad arguments answered cleanly."""
from __future__ import annotations

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

import fastlayers.functional as F
import reference as R
import reference_attention as RA
import reference_rnn as RR
from props import (CLEAN_ERRORS, arrays, as_dtype, assert_adjoint, budget, clean_errors, close, isas, on_isa,
                   other_dtypes, values)


@st.composite
def attention_case(draw):
    batch = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    L, S, E, Ev = (draw(st.integers(0, 5)) for _ in range(4))
    mask = draw(st.sampled_from(["none", "bool", "float", "causal"]))
    return batch, L, S, E, Ev, mask


@budget(2)
@given(case=attention_case(), scale=st.sampled_from([None, 0.5]), isa=isas, data=st.data())
def test_attention_forward_and_backward(case, scale, isa, data):
    batch, L, S, E, Ev, kind = case
    q, k, v = (data.draw(arrays(batch + s, "normal")) for s in ((L, E), (S, E), (S, Ev)))
    mask = None
    if kind == "bool":
        mask = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).random((L, S)) < 0.7
    elif kind == "float":
        mask = data.draw(arrays((L, S), "normal"))
    causal = kind == "causal"
    if causal:
        assume(L <= S or S == 0)
    with on_isa(isa):
        res = clean_errors(F.scaled_dot_product_attention, q, k, v, mask, 0.0, causal, scale, return_lse=True)
    assert not isinstance(res, Exception), res
    out, lse = res
    close(out, RA.sdpa(q, k, v, mask, causal, scale), rtol=1e-4, atol=1e-5, what=f"{case} {isa}")
    if out.size == 0 or not np.isfinite(lse).all():
        return
    g = data.draw(arrays(out.shape, "normal"))
    with on_isa(isa):
        dq, dk, dv = F.scaled_dot_product_attention_backward(g, q, k, v, out, lse, mask, 0.0, causal, scale)
    eq, ek, ev = RA.sdpa_backward(g, q, k, v, mask, causal, scale)
    for got, want, name in ((dq, eq, "dq"), (dk, ek, "dk"), (dv, ev, "dv")):
        close(got, want, rtol=1e-4, atol=1e-4, what=f"{name} {case} {isa}")


@budget(1)
@given(q_shape=st.lists(st.integers(0, 3), min_size=0, max_size=4).map(tuple),
       k_shape=st.lists(st.integers(0, 3), min_size=0, max_size=4).map(tuple),
       v_shape=st.lists(st.integers(0, 3), min_size=0, max_size=4).map(tuple),
       m_shape=st.one_of(st.none(), st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple)),
       causal=st.booleans(), dropout=st.sampled_from([0.0, 0.5, 1.0, -0.1, 2.0, np.nan]), data=st.data())
def test_attention_any_shapes_answer_cleanly(q_shape, k_shape, v_shape, m_shape, causal, dropout, data):
    q, k, v = (data.draw(values(s)) for s in (q_shape, k_shape, v_shape))
    mask = None if m_shape is None else data.draw(values(m_shape))
    try:
        F.scaled_dot_product_attention(q, k, v, mask, dropout, causal, seed=3)
    except CLEAN_ERRORS:
        pass


@budget(2)
@given(idx_shape=st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple), V=st.integers(0, 6),
       D=st.integers(0, 4), padding=st.one_of(st.none(), st.integers(-7, 7)),
       bad=st.one_of(st.none(), st.sampled_from([-1, 6, 7, 2**31, 2**40, -2**40])),
       idx_dtype=st.sampled_from([np.int64, np.int32, np.uint8, np.int16]), isa=isas, data=st.data())
def test_embedding_forward_backward_and_bad_indices(idx_shape, V, D, padding, bad, idx_dtype, isa, data):
    w = data.draw(arrays((V, D), "normal"))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    idx = rng.integers(0, max(V, 1), size=idx_shape).astype(np.int64)
    if bad is not None and idx.size:
        idx.reshape(-1)[rng.integers(idx.size)] = bad
    in_range = idx.size == 0 or (V > 0 and idx.min() >= 0 and idx.max() < V)
    fits = np.array_equal(idx.astype(idx_dtype).astype(np.int64), idx)
    idx = idx.astype(idx_dtype) if fits else idx
    with on_isa(isa):
        y = clean_errors(F.embedding, idx, w, padding)
    pad_ok = padding is None or -V <= padding < V
    if not (in_range and pad_ok):
        assert isinstance(y, (ValueError, IndexError)), f"indices {idx} of {V} rows, padding_idx={padding}: {y!r}"
        return
    assert not isinstance(y, Exception), y
    close(y, RR.embedding(idx, w), rtol=0, atol=0, what=f"{idx_shape} V={V} D={D}")
    g = data.draw(arrays(idx_shape + (D,), "normal"))
    with on_isa(isa):
        dw = F.embedding_backward(g, idx, V, padding)
    pidx = None if padding is None else padding % V
    close(dw, RR.embedding_backward(g, idx, V, pidx), rtol=1e-6, atol=1e-6, what="backward")


@st.composite
def pad_case(draw):
    mode = draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    k = draw(st.integers(1, 3))
    lead = tuple(draw(st.lists(st.integers(1, 2), min_size=1 if mode == "constant" else 2, max_size=2)))
    spatial = tuple(draw(st.lists(st.integers(1, 4), min_size=k, max_size=k)))
    pads = []
    for n in reversed(spatial):
        if mode == "constant":
            lo, hi = draw(st.integers(-n, 3)), draw(st.integers(-n, 3))
            if lo + hi < -n + 1:
                hi = -n + 1 - lo
        else:
            top = n - 1 if mode == "reflect" else (n if mode == "circular" else 3)
            lo, hi = draw(st.integers(0, top)), draw(st.integers(0, top))
        pads += [lo, hi]
    return lead + spatial, tuple(pads), mode


@budget(2)
@given(case=pad_case(), value=st.sampled_from([None, 0.0, -1.5, np.inf]), isa=isas, data=st.data())
def test_pad_matches_oracle_and_backward_is_its_adjoint(case, value, isa, data):
    shape, pads, mode = case
    if mode == "constant" and len(shape) - len(pads) // 2 < 1:
        return
    x = data.draw(arrays(shape, special=True))
    kw = dict(value=value) if mode == "constant" else {}
    with on_isa(isa):
        res = clean_errors(F.pad, x, pads, mode, **kw)
    if mode != "constant" and len(shape) - len(pads) // 2 not in (1, 2):
        # reflect/replicate/circular pad 1 to 3 trailing dims of a batched or unbatched input
        if isinstance(res, Exception):
            return
    assert not isinstance(res, Exception), f"{case}: {res!r}"
    want = R.pad(x, pads, mode, 0.0 if value is None else value)
    close(res, want, rtol=0, atol=0, what=f"{case} value={value} {isa}")
    x = data.draw(arrays(shape, "normal"))
    y = F.pad(x, pads, mode)
    g = data.draw(arrays(y.shape, "normal"))
    with on_isa(isa):
        dx = F.pad_backward(g, x.shape, pads, mode)
    assert_adjoint(y, g, x, dx, str(case))


@st.composite
def interp_case(draw):
    dims = draw(st.integers(1, 2))
    mode = draw(st.sampled_from(["nearest", "nearest-exact", "linear" if dims == 1 else "bilinear"]))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + tuple(draw(st.integers(1, 5)) for _ in range(dims))
    ac = draw(st.booleans()) if mode in ("linear", "bilinear") else None
    if draw(st.booleans()):
        size = tuple(draw(st.integers(1, 7)) for _ in range(dims))
        kw = dict(size=size)
        out, scales = size, None
    else:
        sc = tuple(draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 2.5, 3.0])) for _ in range(dims))
        out = tuple(int(np.floor(n * f)) for n, f in zip(shape[2:], sc))
        assume(min(out) >= 1)
        kw = dict(scale_factor=sc)
        scales = sc
    return shape, dict(kw, mode=mode, align_corners=ac), out, scales


@budget(2)
@given(case=interp_case(), isa=isas, data=st.data())
def test_interpolate_matches_oracle_and_backward_is_its_adjoint(case, isa, data):
    shape, kw, out_size, scales = case
    x = data.draw(arrays(shape, "normal"))
    with on_isa(isa):
        y = F.interpolate(x, **kw)
    close(y, R.interpolate(x, out_size, scales, kw["mode"], bool(kw["align_corners"])), 1e-6, 1e-6,
          what=f"{shape} {kw} {isa}")
    g = data.draw(arrays(y.shape, "normal"))
    with on_isa(isa):
        dx = F.interpolate_backward(g, x.shape, **kw)
    assert_adjoint(y, g, x, dx, str(case))


@budget(1)
@given(case=pad_case(), dtype=other_dtypes, data=st.data())
def test_resample_other_dtypes_convert(case, dtype, data):
    shape, pads, mode = case
    assume(mode == "constant" or len(shape) - len(pads) // 2 in (1, 2))
    x = as_dtype(data.draw(values(shape, "ints")), dtype)
    np.testing.assert_array_equal(F.pad(x, pads, mode), F.pad(x.astype(np.float32), pads, mode))
    if len(shape) in (3, 4):
        np.testing.assert_array_equal(F.interpolate(x, scale_factor=2), F.interpolate(x.astype(np.float32),
                                                                                      scale_factor=2))


_p = st.integers(-6, 6)
_sizes = st.one_of(_p, st.tuples(_p), st.tuples(_p, _p), st.floats(allow_nan=True), st.just(2**70), st.none(),
                   st.just("2"))


@budget(2)
@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=5).map(tuple),
       pads=st.one_of(st.lists(_p, min_size=0, max_size=7).map(tuple), st.just((1.5, 1)), st.just((2**70, 0)),
                      st.just(3)),
       mode=st.sampled_from(["constant", "reflect", "replicate", "circular", "wrap"]),
       size=_sizes, scale=st.one_of(st.none(), st.floats(allow_nan=True), st.tuples(st.floats(-2, 4))),
       imode=st.sampled_from(["nearest", "nearest-exact", "linear", "bilinear", "bicubic", "area"]), data=st.data())
def test_resample_any_arguments_answer_cleanly(shape, pads, mode, size, scale, imode, data):
    x = data.draw(values(shape))
    for call in (lambda: F.pad(x, pads, mode), lambda: F.interpolate(x, size, scale, imode)):
        try:
            call()
        except CLEAN_ERRORS:
            pass
