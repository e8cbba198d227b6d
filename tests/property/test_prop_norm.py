"""Property tests of the norm families: batch_norm (training with running statistics, eval),
group_norm, instance_norm and layer_norm, forward and backward, on drawn shapes (zero-size
batches, one-element channels), layouts, NaN/inf, dtypes and ISA levels, against the float64
oracles of tests/reference.py; bad shapes and arguments answered cleanly."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import fastlayers.functional as F
import reference as R
from props import CLEAN_ERRORS, arrays, as_dtype, budget, clean_errors, close, isas, on_isa, oracle, other_dtypes, \
    values

TOL = dict(rtol=1e-5, atol=2e-5)
GRAD_TOL = dict(rtol=1e-4, atol=1e-4)


def nc_shapes(min_n: int = 0):
    return st.tuples(st.integers(min_n, 3), st.integers(1, 4),
                     st.lists(st.integers(1, 4), min_size=0, max_size=2).map(tuple)).map(lambda t: (t[0], t[1]) + t[2])


def _counts(shape) -> int:
    return shape[0] * int(np.prod(shape[2:], dtype=np.int64))


def _grad_atol(ex, x, axes, g, w=None, eps: float = 1e-5) -> float:
    """1e-4 of the gradient's scale plus the float32 statistics' share: the mean's rounding
    (2^-23 max|x|) against deviations scaled by invstd, which dx multiplies by invstd |g w| again
    (ill-conditioned when the deviations are small against |x|)."""
    if not ex.size:
        return 1e-4
    x = x.astype(np.float64)
    invstd = float((1 / np.sqrt(x.var(axis=axes) + eps)).max())
    gw = float(np.abs(g).max()) * (1.0 if w is None else float(np.abs(w).max()))
    return 1e-4 * max(1.0, float(np.abs(ex).max())) + 4 * 2.0**-23 * float(np.abs(x).max()) * invstd**2 * gw


@budget(2)
@given(shape=nc_shapes(), affine=st.booleans(), momentum=st.sampled_from([0.1, 0.5, 1.0]), isa=isas,
       data=st.data())
def test_batch_norm_training_matches_oracle(shape, affine, momentum, isa, data):
    x = data.draw(arrays(shape, special=True))
    C = shape[1]
    w, b = (data.draw(arrays((C,))), data.draw(arrays((C,)))) if affine else (None, None)
    rm0, rv0 = data.draw(values((C,), "normal")), np.abs(data.draw(values((C,), "normal"))) + 0.5
    rm, rv = rm0.copy(), rv0.copy()
    with on_isa(isa):
        res = clean_errors(F.batch_norm, x, rm, rv, w, b, True, momentum)
    m = _counts(shape)
    if m == 1:
        assert isinstance(res, ValueError)
        return
    assert isinstance(res, np.ndarray), res
    if m == 0:
        assert res.shape == shape
        np.testing.assert_array_equal(rm, rm0)  # an empty batch leaves the running statistics
        return
    axes = (0,) + tuple(range(2, len(shape)))
    with np.errstate(all="ignore"):
        x64 = x.astype(np.float64)
        close(rm, (1 - momentum) * rm0 + momentum * x64.mean(axis=axes), **TOL, what="running_mean")
        close(rv, (1 - momentum) * rv0 + momentum * x64.var(axis=axes) * m / (m - 1), **TOL, what="running_var")


@budget(1)
@given(shape=nc_shapes(), isa=isas, data=st.data())
def test_batch_norm_eval_matches_oracle(shape, isa, data):
    x = data.draw(arrays(shape, special=True))
    C = shape[1]
    rm, rv = data.draw(values((C,), "normal")), np.abs(data.draw(values((C,), "normal"))) + 0.1
    w, b = data.draw(arrays((C,))), data.draw(arrays((C,)))
    with on_isa(isa):
        y = F.batch_norm(x, rm, rv, w, b, False)
    close(y, oracle(R.batch_norm, x, rm, rv, w, b), **TOL, what=f"{shape} {isa}")


@budget(1)
@given(shape=nc_shapes(min_n=1), training=st.booleans(), isa=isas, data=st.data())
def test_batch_norm_backward_matches_oracle(shape, training, isa, data):
    if training and _counts(shape) < 2:
        shape = (shape[0] + 1,) + shape[1:]
    x, g = data.draw(arrays(shape, "normal")), data.draw(arrays(shape))
    C = shape[1]
    w = data.draw(arrays((C,)))
    rm, rv = data.draw(values((C,), "normal")), np.abs(data.draw(values((C,), "normal"))) + 0.5
    with on_isa(isa):
        dx, dw, db = F.batch_norm_backward(g, x, w, rm, rv, training)
    ex, ew, eb = R.batch_norm_backward(g, x, w, None if training else rm, None if training else rv)
    atol = _grad_atol(ex, x, (0,) + tuple(range(2, len(shape))), g, w)
    close(dx, ex, rtol=1e-4, atol=atol, what=f"dx {shape} training={training} {isa}")
    close(dw, ew, **GRAD_TOL, what="dw")
    close(db, eb, **GRAD_TOL, what="db")


@st.composite
def group_case(draw):
    N = draw(st.integers(0, 3))
    G = draw(st.integers(1, 3))
    C = G * draw(st.integers(1, 3))
    spatial = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=2)))
    return (N, C) + spatial, G


@budget(2)
@given(case=group_case(), affine=st.booleans(), isa=isas, data=st.data())
def test_group_norm_forward_and_backward(case, affine, isa, data):
    shape, G = case
    x = data.draw(arrays(shape, "normal"))
    C = shape[1]
    w, b = (data.draw(arrays((C,))), data.draw(arrays((C,)))) if affine else (None, None)
    with on_isa(isa):
        y = F.group_norm(x, G, w, b)
    if x.size == 0:
        assert y.shape == shape
        return
    close(y, oracle(R.group_norm, x, G, w, b), 2e-5, 2e-5, what=f"{case} {isa}")
    g = data.draw(arrays(shape, "normal"))
    with on_isa(isa):
        dx, dw, db = F.group_norm_backward(g, x, G, w)
    # group norm is layer norm over each sample's groups: the oracle's (N G, C/G * L) rows
    rows = x.reshape(shape[0] * G, -1)
    grow = (g * (1.0 if w is None else w.reshape((1, C) + (1,) * (len(shape) - 2)))).reshape(rows.shape)
    ex, _, _ = R.layer_norm_backward(grow, rows, 1)
    xhat = oracle(R.group_norm, x, G)
    atol = _grad_atol(ex, rows, (1,), g, w)
    close(dx, ex.reshape(shape), rtol=1e-4, atol=atol, what=f"dx {case} {isa}")
    axes = (0,) + tuple(range(2, len(shape)))
    close(dw, (g * xhat).sum(axis=axes), **GRAD_TOL, what="dw")
    close(db, g.astype(np.float64).sum(axis=axes), **GRAD_TOL, what="db")


@budget(1)
@given(shape=nc_shapes(), isa=isas, data=st.data())
def test_instance_norm_is_group_norm_per_channel(shape, isa, data):
    x = data.draw(arrays(shape, "normal"))
    with on_isa(isa):
        y = clean_errors(F.instance_norm, x)
    if int(np.prod(shape[2:], dtype=np.int64)) == 1:
        assert isinstance(y, ValueError)
        return
    if x.size == 0:
        assert y.shape == shape
        return
    close(y, oracle(R.group_norm, x, shape[1]), 2e-5, 2e-5, what=f"{shape} {isa}")


@budget(2)
@given(shape=st.lists(st.integers(0, 4), min_size=1, max_size=4).map(tuple), affine=st.booleans(), isa=isas,
       data=st.data())
def test_layer_norm_forward_and_backward(shape, affine, isa, data):
    k = data.draw(st.integers(1, len(shape)))
    norm_shape = shape[len(shape) - k:]
    x = data.draw(arrays(shape, special=True))
    w, b = (data.draw(arrays(norm_shape)), data.draw(arrays(norm_shape))) if affine else (None, None)
    with on_isa(isa):
        y = clean_errors(F.layer_norm, x, norm_shape, w, b)
    if 0 in norm_shape:
        assert isinstance(y, ValueError)
        return
    close(y, oracle(R.layer_norm, x, k, w, b), **TOL, what=f"{shape} k={k} {isa}")
    x = data.draw(arrays(shape, "normal"))
    g = data.draw(arrays(shape))
    with on_isa(isa):
        dx, dw, db = F.layer_norm_backward(g, x, norm_shape, w)
    ex, ew, eb = R.layer_norm_backward(g, x, k, w)
    atol = _grad_atol(ex, x.reshape((-1,) + norm_shape) if x.size else x, tuple(range(1, k + 1)), g, w)
    close(dx, ex, rtol=1e-4, atol=atol, what=f"dx {shape} k={k}")
    if affine:
        close(dw, ew, **GRAD_TOL, what="dw")
        close(db, eb, **GRAD_TOL, what="db")


@budget(1)
@given(case=group_case(), dtype=other_dtypes, data=st.data())
def test_norm_other_dtypes_convert(case, dtype, data):
    shape, G = case
    x = as_dtype(data.draw(values(shape, "ints")), dtype)
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(F.group_norm(x, G), F.group_norm(x32, G))
    np.testing.assert_array_equal(F.layer_norm(x, shape[-1:]), F.layer_norm(x32, shape[-1:]))
    rm, rv = np.zeros(shape[1], np.float32), np.ones(shape[1], np.float32)
    np.testing.assert_array_equal(F.batch_norm(x, rm, rv), F.batch_norm(x32, rm, rv))


_size = st.integers(-2, 5)
_any = st.one_of(_size, st.tuples(_size), st.tuples(_size, _size), st.floats(allow_nan=True), st.just(2**70),
                 st.just("2"), st.none(), st.just(True))


@budget(2)
@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple), arg=_any,
       wshape=st.one_of(st.none(), st.lists(st.integers(0, 4), min_size=0, max_size=2).map(tuple)),
       stat_dtype=st.sampled_from([np.float32, np.float64, np.int32]), training=st.booleans(),
       which=st.sampled_from(["batch", "group", "instance", "layer"]), data=st.data())
def test_norm_any_arguments_answer_cleanly(shape, arg, wshape, stat_dtype, training, which, data):
    x = data.draw(values(shape))
    w = None if wshape is None else data.draw(values(wshape))
    C = shape[1] if len(shape) > 1 else 1
    rm, rv = np.zeros(C, stat_dtype), np.ones(C, stat_dtype)
    calls = {
        "batch": lambda: F.batch_norm(x, rm, rv, w, None, training, eps=arg if isinstance(arg, float) else 1e-5),
        "group": lambda: F.group_norm(x, arg, w),
        "instance": lambda: F.instance_norm(x, rm if training else None, rv if training else None, w),
        "layer": lambda: F.layer_norm(x, arg, w),
    }
    try:
        calls[which]()
    except CLEAN_ERRORS:
        pass


@budget(1)
@given(lead=st.lists(st.integers(0, 3), min_size=0, max_size=2).map(tuple),
       sizes=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), as_int=st.booleans(), data=st.data())
def test_layer_norm_normalized_shape_answers_cleanly(lead, sizes, as_int, data):
    """x's shape ends in `sizes`; normalized_shape gives them with one element swapped for a
    float, string, bool, inf or NaN twin: only a true int (or tuple of them) is accepted."""
    x = data.draw(values(lead + sizes))
    arg = list(sizes)
    if not as_int:
        at = data.draw(st.integers(0, len(arg) - 1))
        arg[at] = data.draw(st.sampled_from([float(arg[at]), arg[at] + 0.5, str(arg[at]), np.inf, np.nan, True,
                                             np.float32(arg[at])]))
    arg = arg[0] if len(arg) == 1 and data.draw(st.booleans()) else tuple(arg)
    res = clean_errors(F.layer_norm, x, arg)
    assert isinstance(res, Exception) != as_int, f"normalized_shape={arg!r}: {res!r}"
