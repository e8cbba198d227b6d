"""Property tests of the pool family: max_pool2d (values and indices, NaN/inf), avg_pool2d
(ceil_mode, count_include_pad, divisor_override), max/avg_pool1d, adaptive_avg_pool2d, and their
backward (max: a scatter of grad_out to the indices; avg and adaptive: the adjoint of the
forward), over drawn geometry, layouts and ISA levels, against tests/reference.py; bad geometry
(window past the padded input, padding over half the window, negative sizes) answered cleanly."""
from __future__ import annotations

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

import fastlayers.functional as F
import reference as R
from props import (CLEAN_ERRORS, arrays, as_dtype, assert_adjoint, budget, clean_errors, close, isas, on_isa, oracle,
                   other_dtypes, values)


@st.composite
def pool_case(draw, avg: bool):
    lead = tuple(draw(st.lists(st.integers(0, 2), min_size=1, max_size=2)))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (1, 1) if avg else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = tuple(draw(st.integers(0, (k[i] if avg else (k[i] - 1) * d[i] + 1) // 2)) for i in range(2))
    hw = tuple(draw(st.integers(max(1, d[i] * (k[i] - 1) + 1 - 2 * p[i]), 8)) for i in range(2))
    return lead + hw, k, s, p, d, draw(st.booleans())


def _scatter(g, idx, shape):
    dx = np.zeros(shape[:-2] + (shape[-2] * shape[-1],))
    flat_g, flat_i = g.reshape(-1, g.shape[-2] * g.shape[-1]), idx.reshape(-1, idx.shape[-2] * idx.shape[-1])
    flat_dx = dx.reshape(-1, dx.shape[-1])
    for row in range(flat_dx.shape[0]):
        np.add.at(flat_dx[row], flat_i[row], flat_g[row])
    return dx.reshape(shape)


@budget(2)
@given(case=pool_case(avg=False), isa=isas, data=st.data())
def test_max_pool2d_matches_oracle(case, isa, data):
    shape, k, s, p, d, ceil = case
    x = data.draw(arrays(shape, special=True))
    with on_isa(isa):
        y, idx = F.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
    ey, eidx = oracle(R.max_pool2d, x, k, s, p, d, ceil)
    close(y, ey, rtol=0, atol=0, what=f"{case} {isa}")
    np.testing.assert_array_equal(idx, eidx, err_msg=f"indices {case} {isa}")
    g = data.draw(arrays(y.shape, "normal"))
    with on_isa(isa):
        dx = clean_errors(F.max_pool2d_backward, g, idx, x.shape)
    if ((eidx < 0) | (eidx >= shape[-2] * shape[-1])).any():
        # a window over padding only: -inf at PyTorch's index past the plane, refused by backward
        assert isinstance(dx, ValueError), f"backward {case} took an index outside the plane"
        return
    close(dx, _scatter(g.astype(np.float64), eidx, x.shape), rtol=1e-6, atol=1e-6, what=f"backward {case}")


@budget(2)
@given(case=pool_case(avg=True), cip=st.booleans(), div=st.one_of(st.none(), st.integers(-3, 5).filter(bool)),
       isa=isas, data=st.data())
def test_avg_pool2d_matches_oracle_and_backward_is_its_adjoint(case, cip, div, isa, data):
    shape, k, s, p, _, ceil = case
    x = data.draw(arrays(shape))
    with on_isa(isa):
        y = F.avg_pool2d(x, k, s, p, ceil, cip, div)
    close(y, R.avg_pool2d(x, k, s, p, ceil, cip, div), rtol=1e-6, atol=1e-6, what=f"{case} cip={cip} div={div}")
    g = data.draw(arrays(y.shape, "normal"))
    with on_isa(isa):
        dx = F.avg_pool2d_backward(g, x.shape, k, s, p, ceil, cip, div)
    assert dx.shape == x.shape
    assert_adjoint(y, g, x, dx, str(case))


@budget(1)
@given(case=pool_case(avg=False), avg=st.booleans(), isa=isas, data=st.data())
def test_pool1d_is_pool2d_with_one_row(case, avg, isa, data):
    shape, k, s, p, d, ceil = case
    shape, k, s, p, d = shape[:-2] + shape[-1:], k[1], s[1], p[1], d[1]
    if avg:
        assume(p <= k // 2)
    x = data.draw(arrays(shape, special=not avg))
    x2 = x[..., None, :]
    with on_isa(isa):
        if avg:
            y = F.avg_pool1d(x, k, s, p, ceil)
            e = R.avg_pool2d(x2, (1, k), (1, s), (0, p), ceil)[..., 0, :]
        else:
            y = F.max_pool1d(x, k, s, p, d, ceil)
            e = oracle(R.max_pool2d, x2, (1, k), (1, s), (0, p), (1, d), ceil)[0][..., 0, :]
    close(y, e, rtol=1e-6, atol=1e-6 if avg else 0, what=f"{shape} k={k} s={s} p={p} d={d} {isa}")


@budget(1)
@given(lead=st.lists(st.integers(0, 2), min_size=1, max_size=2).map(tuple), H=st.integers(1, 9),
       W=st.integers(1, 9), P=st.integers(1, 6), Q=st.integers(1, 6), isa=isas, data=st.data())
def test_adaptive_avg_pool2d_and_adjoint(lead, H, W, P, Q, isa, data):
    x = data.draw(arrays(lead + (H, W)))
    with on_isa(isa):
        y = F.adaptive_avg_pool2d(x, (P, Q))
    close(y, R.adaptive_avg_pool2d(x, (P, Q)), rtol=1e-6, atol=1e-6, what=f"{x.shape} -> {(P, Q)}")
    g = data.draw(arrays(y.shape, "normal"))
    with on_isa(isa):
        dx = F.adaptive_avg_pool2d_backward(g, x.shape)
    assert_adjoint(y, g, x, dx, f"{x.shape} -> {(P, Q)}")


@budget(1)
@given(case=pool_case(avg=True), dtype=other_dtypes, data=st.data())
def test_pool_other_dtypes_convert(case, dtype, data):
    shape, k, s, p, _, ceil = case
    x = as_dtype(data.draw(values(shape, "ints")), dtype)
    np.testing.assert_array_equal(F.max_pool2d(x, k, s, p), F.max_pool2d(x.astype(np.float32), k, s, p))
    np.testing.assert_array_equal(F.avg_pool2d(x, k, s, p, ceil), F.avg_pool2d(x.astype(np.float32), k, s, p, ceil))


_ints = st.integers(-2, 6)
_param = st.one_of(_ints, st.tuples(_ints, _ints), st.tuples(_ints, _ints, _ints), st.floats(allow_nan=True),
                   st.just(2**62), st.just(-2**70), st.none(), st.just("2"))


@budget(2)
@given(shape=st.lists(st.integers(0, 6), min_size=0, max_size=5).map(tuple), k=_param, s=_param, p=_param, d=_param,
       ceil=st.booleans(), which=st.sampled_from(["max2d", "avg2d", "max1d", "avg1d", "adaptive"]), data=st.data())
def test_pool_any_arguments_answer_cleanly(shape, k, s, p, d, ceil, which, data):
    x = data.draw(values(shape))
    calls = {
        "max2d": lambda: F.max_pool2d(x, k, s, p, d, ceil),
        "avg2d": lambda: F.avg_pool2d(x, k, s, p, ceil, True, data.draw(st.one_of(st.none(), _ints))),
        "max1d": lambda: F.max_pool1d(x, k, s, p, d, ceil),
        "avg1d": lambda: F.avg_pool1d(x, k, s, p, ceil),
        "adaptive": lambda: F.adaptive_avg_pool2d(x, k),
    }
    try:
        y = calls[which]()
    except CLEAN_ERRORS:
        return
    assert y.dtype == np.float32


@budget(1)
@given(case=pool_case(avg=False), data=st.data())
def test_max_pool2d_backward_bad_indices_answer_cleanly(case, data):
    shape, k, s, p, d, ceil = case
    x = data.draw(values(shape))
    y, idx = F.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
    bad = idx.copy()
    if bad.size:
        bad.reshape(-1)[data.draw(st.integers(0, bad.size - 1))] = data.draw(
            st.sampled_from([-1, shape[-2] * shape[-1], 2**40, -2**40]))
    res = clean_errors(F.max_pool2d_backward, y, bad, x.shape)
    if bad.size:
        assert isinstance(res, Exception), "an index outside the plane was accepted"
    wrong_shape = clean_errors(F.max_pool2d_backward, y, idx[..., :0], x.shape)
    assert isinstance(wrong_shape, Exception) or y.shape[-1] == 0
