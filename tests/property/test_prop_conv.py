"""Property tests of the conv family: conv2d, conv1d and conv_transpose2d forward, conv2d's
backward (input, weight, bias) over drawn geometry (sizes 0 and 1, stride, padding, dilation,
groups, kernels larger than the padded input), layouts, dtypes and ISA levels, against the float64
oracles of tests/reference.py; bad geometry answered only by TypeError/ValueError/IndexError."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import fastlayers.functional as F
import reference as R
from props import CLEAN_ERRORS, arrays, as_dtype, budget, clean_errors, close, isas, on_isa, other_dtypes, values


def _tol(e) -> dict:
    e = np.asarray(e)
    return dict(rtol=1e-4, atol=1e-4 * max(float(np.abs(e).max()) if e.size else 0.0, 1.0))


@st.composite
def geometry(draw, valid: bool = True):
    """(x shape, w shape, stride, padding, dilation, groups); valid: the dilated kernel fits the
    padded input (else drawn freely, often not)."""
    groups = draw(st.integers(1, 3))
    N = draw(st.integers(0, 2))
    C, K = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    R_, S = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    span = (dilation[0] * (R_ - 1) + 1, dilation[1] * (S - 1) + 1)
    lo = [max(0, span[i] - 2 * padding[i]) if valid else 0 for i in range(2)]
    H, W = draw(st.integers(lo[0], lo[0] + 6)), draw(st.integers(lo[1], lo[1] + 6))
    return (N, C, H, W), (K, C // groups, R_, S), stride, padding, dilation, groups


def _fits(xs, ws, padding, dilation) -> bool:
    return all(xs[2 + i] + 2 * padding[i] >= dilation[i] * (ws[2 + i] - 1) + 1 for i in range(2))


@budget(2)
@given(geo=geometry(valid=False), has_bias=st.booleans(), isa=isas, data=st.data())
def test_conv2d_matches_oracle_or_refuses_cleanly(geo, has_bias, isa, data):
    xs, ws, stride, padding, dilation, groups = geo
    x, w = data.draw(arrays(xs)), data.draw(arrays(ws))
    b = data.draw(arrays((ws[0],))) if has_bias else None
    with on_isa(isa):
        y = clean_errors(F.conv2d, x, w, b, stride, padding, dilation, groups)
    if not _fits(xs, ws, padding, dilation):
        assert isinstance(y, ValueError), f"{geo}: kernel larger than the padded input accepted"
        return
    assert isinstance(y, np.ndarray), f"{geo}: {y!r}"
    e = R.conv2d(x, w, b, stride, padding, dilation, groups)
    close(y, e, **_tol(e), what=f"{geo} {isa}")


@budget(1)
@given(geo=geometry(), isa=isas, data=st.data())
def test_conv2d_backward_matches_oracle(geo, isa, data):
    xs, ws, stride, padding, dilation, groups = geo
    x, w = data.draw(arrays(xs)), data.draw(arrays(ws))
    ys = R.conv2d(x, w, None, stride, padding, dilation, groups).shape
    dy = data.draw(arrays(ys))
    args = (stride, padding, dilation, groups)
    with on_isa(isa):
        dx = F.conv2d_backward_input(dy, w, xs, *args)
        dw = F.conv2d_backward_weight(dy, x, ws, *args)
        db = F.conv2d_backward_bias(dy)
    ex, ew = R.conv2d_backward_input(dy, w, xs, *args), R.conv2d_backward_weight(dy, x, ws, *args)
    close(dx, ex, **_tol(ex), what=f"dx {geo} {isa}")
    close(dw, ew, **_tol(ew), what=f"dw {geo} {isa}")
    close(db, dy.astype(np.float64).sum(axis=(0, 2, 3)), **_tol(dy.size), what="db")


@budget(1)
@given(geo=geometry(), isa=isas, data=st.data())
def test_conv1d_is_conv2d_with_one_row(geo, isa, data):
    (N, C, _, W), (K, Cg, _, S), stride, padding, dilation, groups = geo
    x, w = data.draw(arrays((N, C, W))), data.draw(arrays((K, Cg, S)))
    with on_isa(isa):
        y = F.conv1d(x, w, None, stride[1], padding[1], dilation[1], groups)
    e = R.conv2d(x[:, :, None], w[:, :, None], None, (1, stride[1]), (0, padding[1]), (1, dilation[1]), groups)[:, :, 0]
    close(y, e, **_tol(e), what=f"{geo} {isa}")


@budget(1)
@given(N=st.integers(0, 2), groups=st.integers(1, 2), cg=st.integers(1, 2), kg=st.integers(1, 2),
       H=st.integers(1, 4), W=st.integers(1, 4), R_=st.integers(1, 3), S=st.integers(1, 3),
       stride=st.integers(1, 3), padding=st.integers(0, 2), dilation=st.integers(1, 2), op=st.integers(0, 2),
       isa=isas, data=st.data())
def test_conv_transpose2d_matches_oracle_or_refuses_cleanly(N, groups, cg, kg, H, W, R_, S, stride, padding, dilation,
                                                            op, isa, data):
    x = data.draw(arrays((N, groups * cg, H, W)))
    w = data.draw(arrays((groups * cg, kg, R_, S)))
    args = ((stride,) * 2, (padding,) * 2, (op,) * 2, groups, (dilation,) * 2)
    with on_isa(isa):
        y = clean_errors(F.conv_transpose2d, x, w, None, *args)
    Ho = (H - 1) * stride - 2 * padding + dilation * (R_ - 1) + op + 1
    Wo = (W - 1) * stride - 2 * padding + dilation * (S - 1) + op + 1
    if (op >= stride and op >= dilation) or Ho < 1 or Wo < 1:
        assert isinstance(y, ValueError), f"accepted: output ({Ho}, {Wo}), output_padding={op}"
        return
    assert isinstance(y, np.ndarray), y
    e = R.conv_transpose2d(x, w, None, *args)
    close(y, e, **_tol(e), what=f"{isa}")


@budget(1)
@given(geo=geometry(), dtype=other_dtypes, data=st.data())
def test_conv2d_other_dtypes_convert(geo, dtype, data):
    xs, ws, stride, padding, dilation, groups = geo
    x = as_dtype(data.draw(values(xs, "ints")), dtype)
    w = as_dtype(data.draw(values(ws, "ints")), dtype)
    y = F.conv2d(x, w, None, stride, padding, dilation, groups)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, F.conv2d(x.astype(np.float32), w.astype(np.float32), None, stride, padding,
                                              dilation, groups))


_ints = st.integers(-3, 5)
_param = st.one_of(_ints, st.tuples(_ints, _ints), st.tuples(_ints), st.tuples(_ints, _ints, _ints),
                   st.floats(allow_nan=True), st.just(2**70), st.just("same"), st.just("valid"), st.just("full"),
                   st.none())


@budget(2)
@given(x_shape=st.lists(st.integers(0, 5), min_size=2, max_size=5).map(tuple),
       w_shape=st.lists(st.integers(0, 4), min_size=2, max_size=5).map(tuple),
       stride=_param, padding=_param, dilation=_param, groups=st.one_of(_ints, st.floats(), st.just(True)),
       op=st.sampled_from([F.conv1d, F.conv2d, F.conv_transpose2d]), data=st.data())
def test_conv_any_arguments_answer_cleanly(x_shape, w_shape, stride, padding, dilation, groups, op, data):
    x, w = data.draw(values(x_shape)), data.draw(values(w_shape))
    try:
        y = op(x, w, None, stride, padding, dilation, groups)
    except CLEAN_ERRORS:
        return
    assert np.isfinite(y).all()
