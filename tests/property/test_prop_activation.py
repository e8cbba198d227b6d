"""Property tests of the activation family: the elementwise activations, softmax/log_softmax and
maxout on drawn shapes (0 and 1 sizes, 0-d), layouts, NaN/inf, other dtypes and ISA levels,
against the float64 oracles of tests/reference.py; backward against the analytic derivatives."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import fastlayers.functional as F
import reference as R
from props import (arrays, as_dtype, budget, clean_errors, close, isas, on_isa, oracle, other_dtypes, shapes,
                   values)

UNARY = {
    "sigmoid": (F.sigmoid, R.sigmoid),
    "tanh": (F.tanh, R.tanh),
    "relu": (F.relu, R.relu),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda x: R.leaky_relu(x, 0.2)),
    "elu": (lambda x: F.elu(x, 0.7), lambda x: R.elu(x, 0.7)),
    "gelu": (F.gelu, R.gelu),
    "gelu_tanh": (lambda x: F.gelu(x, "tanh"), lambda x: R.gelu(x, "tanh")),
    "silu": (F.silu, R.silu),
}
names = st.sampled_from(sorted(UNARY))


@budget(2)
@given(name=names, shape=shapes(0, 4), isa=isas, data=st.data())
def test_unary_forward_matches_oracle(name, shape, isa, data):
    f, o = UNARY[name]
    x = data.draw(arrays(shape, special=True))
    with on_isa(isa):
        y = f(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    close(y, oracle(o, x), rtol=2e-6, atol=1e-7, what=f"{name} {shape} {isa}")


@budget(1)
@given(name=names, shape=shapes(0, 3), dtype=other_dtypes, data=st.data())
def test_unary_other_dtypes_convert_to_float32(name, shape, dtype, data):
    f, _ = UNARY[name]
    x = as_dtype(data.draw(values(shape, "ints")), dtype)
    y = f(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(y, f(x.astype(np.float32)))


@budget(1)
@given(name=names, shape=shapes(0, 3), data=st.data())
def test_unary_rejects_complex_and_objects(name, shape, data):
    f, _ = UNARY[name]
    x = data.draw(values(shape))
    bad = data.draw(st.sampled_from([x.astype(np.complex64), x.astype(object), np.full(shape, "a")]))
    assert isinstance(clean_errors(f, bad), TypeError)


@budget(1)
@given(shape=shapes(1, 4, min_side=1), isa=isas, data=st.data())
def test_unary_backward_matches_derivative(shape, isa, data):
    x = data.draw(arrays(shape, "normal"))
    g = data.draw(arrays(shape, "normal"))
    s = R.sigmoid(x)
    cases = [
        (lambda: F.sigmoid_backward(g, F.sigmoid(x)), g * s * (1 - s)),
        (lambda: F.tanh_backward(g, F.tanh(x)), g * (1 - np.tanh(x.astype(np.float64)) ** 2)),
        (lambda: F.relu_backward(g, x), g * (x > 0)),
        (lambda: F.elu_backward(g, x, 0.7), g * np.where(x > 0, 1.0, 0.7 * np.exp(np.minimum(x, 0)))),
        (lambda: F.silu_backward(g, x), g * s * (1 + x * (1 - s))),
    ]
    with on_isa(isa):
        for run, expected in cases:
            close(run(), expected, rtol=2e-5, atol=2e-6, what=f"{shape} {isa}")


@budget(2)
@given(shape=shapes(0, 4), log=st.booleans(), isa=isas, data=st.data())
def test_softmax_forward_and_backward(shape, log, isa, data):
    x = data.draw(arrays(shape, special=data.draw(st.booleans())))
    ndim = max(len(shape), 1)
    axis = data.draw(st.integers(-ndim, ndim - 1))
    f, o = (F.log_softmax, R.log_softmax) if log else (F.softmax, R.softmax)
    with on_isa(isa):
        y = f(x, dim=axis)
    assert y.shape == x.shape and y.dtype == np.float32
    yd = oracle(o, x.reshape(x.shape or (1,)), axis).reshape(x.shape) if x.size else x.astype(np.float64)
    close(y, yd, rtol=2e-6, atol=1e-6, what=f"{shape} dim={axis} log={log} {isa}")
    if not np.isfinite(x).all():
        return
    g = data.draw(arrays(shape, "normal"))
    gs = g.reshape(g.shape or (1,)).astype(np.float64)
    yd1 = yd.reshape(gs.shape)
    expected = (gs - np.exp(yd1) * gs.sum(axis, keepdims=True)) if log else \
        yd1 * (gs - (gs * yd1).sum(axis, keepdims=True))
    fb = F.log_softmax_backward if log else F.softmax_backward
    with on_isa(isa):
        dx = fb(g, y, dim=axis)
    close(dx, expected.reshape(x.shape), rtol=1e-5, atol=1e-6, what=f"backward {shape} dim={axis} log={log}")


@budget(1)
@given(shape=shapes(0, 3), data=st.data())
def test_softmax_bad_dim_is_clean(shape, data):
    x = data.draw(values(shape))
    dim = data.draw(st.one_of(st.integers(-8, 8), st.floats(allow_nan=True), st.just("1"), st.none()))
    res = clean_errors(F.softmax, x, dim=dim)
    ndim = max(len(shape), 1)
    if dim is None or (isinstance(dim, int) and -ndim <= dim < ndim):
        assert isinstance(res, np.ndarray)
    else:
        assert isinstance(res, Exception), f"dim={dim!r} accepted for shape {shape}"


@budget(1)
@given(shape=shapes(1, 4), pieces=st.integers(-1, 4), isa=isas, data=st.data())
def test_maxout(shape, pieces, isa, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    x = data.draw(arrays(shape, special=True))
    with on_isa(isa):
        res = clean_errors(F.maxout, x, pieces, dim=axis)
    if pieces < 1 or shape[axis] % pieces:
        assert isinstance(res, ValueError)
        return
    assert not isinstance(res, Exception), res
    moved = np.moveaxis(x.astype(np.float64), axis, -1)
    grouped = moved.reshape(moved.shape[:-1] + (moved.shape[-1] // pieces, pieces))
    with np.errstate(invalid="ignore"):
        expected = np.moveaxis(np.where(np.isnan(grouped).any(-1), np.nan, grouped.max(-1, initial=-np.inf)), -1, axis)
    close(res, expected, rtol=0, atol=0, what=f"{shape} pieces={pieces} axis={axis}")
