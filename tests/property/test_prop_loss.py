"""Property tests of the loss family: cross_entropy (class indices with ignore_index, class
weights and label smoothing, class probabilities, K-dimensional inputs, every reduction),
nll_loss, mse_loss and binary_cross_entropy_with_logits (broadcast weight / pos_weight), forward
against tests/reference.py and backward against central differences of the float64 oracles;
targets out of range, of the wrong dtype or shape answered cleanly."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import fastlayers.functional as F
import reference as R
from helpers import numeric_grad
from props import CLEAN_ERRORS, arrays, as_dtype, budget, clean_errors, close, isas, on_isa, oracle, other_dtypes, \
    values

reductions = st.sampled_from(["none", "mean", "sum"])


@st.composite
def class_case(draw):
    """(input shape, rows' shape): (C,), (N, C) or (N, C, d...)."""
    C = draw(st.integers(1, 5))
    kind = draw(st.sampled_from(["single", "rows", "kdim"]))
    if kind == "single":
        return (C,), ()
    N = draw(st.integers(0, 3))
    extra = tuple(draw(st.lists(st.integers(0, 3), min_size=1, max_size=2))) if kind == "kdim" else ()
    return (N, C) + extra, (N,) + extra


@st.composite
def hard_targets(draw, rows_shape, C, ignore_index):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t = rng.integers(0, C, size=rows_shape).astype(np.int64)
    if t.size and draw(st.booleans()):
        t.reshape(-1)[rng.random(t.size) < 0.3] = ignore_index
    return t


def _loss_close(got, want, what):
    close(got, want, rtol=1e-5, atol=1e-5, what=what)


@budget(2)
@given(case=class_case(), weighted=st.booleans(), reduction=reductions, smoothing=st.sampled_from([0.0, 0.1, 1.0]),
       ignore_index=st.sampled_from([-100, 0, 2]), isa=isas, data=st.data())
def test_cross_entropy_class_indices(case, weighted, reduction, smoothing, ignore_index, isa, data):
    shape, rows = case
    C = shape[0] if len(shape) == 1 else shape[1]
    x = data.draw(arrays(shape, "normal"))
    t = data.draw(hard_targets(rows, C, ignore_index))
    w = np.abs(data.draw(values((C,), "normal"))) + 0.1 if weighted else None
    kw = dict(weight=w, ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing)
    with on_isa(isa):
        got = F.cross_entropy(x, t, **kw)
    _loss_close(got, oracle(R.cross_entropy, x, t, **kw), f"{shape} {kw} {isa}")
    if x.size == 0 or x.size > 40:
        return
    g = data.draw(values(np.shape(got), "normal")) if reduction == "none" else np.float64(1.0)
    with on_isa(isa):
        dx = F.cross_entropy_backward(g if reduction == "none" else 1.0, x, t, ignore_index, reduction, smoothing,
                                      weight=w)
    if reduction == "mean" and not np.isfinite(got):  # every row ignored: no defined gradient
        return
    num = numeric_grad(lambda v: R.cross_entropy(v, t, **kw), x, g, eps=1e-5)
    close(dx, num, rtol=1e-4, atol=1e-5, what=f"backward {shape} {kw}")


@budget(1)
@given(case=class_case(), weighted=st.booleans(), reduction=reductions, smoothing=st.sampled_from([0.0, 0.2]),
       isa=isas, data=st.data())
def test_cross_entropy_probabilities(case, weighted, reduction, smoothing, isa, data):
    shape, _ = case
    C = shape[0] if len(shape) == 1 else shape[1]
    x = data.draw(arrays(shape, "normal"))
    p = np.abs(data.draw(values(shape, "normal")))
    ax = 0 if len(shape) == 1 else 1
    with np.errstate(invalid="ignore"):
        p = (p / np.maximum(p.sum(axis=ax, keepdims=True), 1e-3)).astype(np.float32)
    p = data.draw(st.just(p).flatmap(lambda a: st.sampled_from([a, a.astype(np.float64)])))
    w = np.abs(data.draw(values((C,), "normal"))) + 0.1 if weighted else None
    kw = dict(weight=w, reduction=reduction, label_smoothing=smoothing)
    with on_isa(isa):
        got = F.cross_entropy(x, p, **kw)
    _loss_close(got, oracle(R.cross_entropy, x, p, **kw), f"{shape} {kw} {isa}")


@budget(1)
@given(case=class_case(), weighted=st.booleans(), reduction=reductions, ignore_index=st.sampled_from([-100, 1]),
       isa=isas, data=st.data())
def test_nll_loss(case, weighted, reduction, ignore_index, isa, data):
    shape, rows = case
    C = shape[0] if len(shape) == 1 else shape[1]
    x = data.draw(arrays(shape, "normal"))
    t = data.draw(hard_targets(rows, C, ignore_index))
    w = np.abs(data.draw(values((C,), "normal"))) + 0.1 if weighted else None
    kw = dict(weight=w, ignore_index=ignore_index, reduction=reduction)
    with on_isa(isa):
        got = F.nll_loss(x, t, **kw)
    _loss_close(got, oracle(R.nll_loss, x, t, **kw), f"{shape} {kw} {isa}")


def _reduce(rows, reduction):
    if reduction == "none":
        return rows
    if reduction == "sum":
        return rows.sum()
    return rows.mean() if rows.size else np.nan


@budget(2)
@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple), reduction=reductions,
       which=st.sampled_from(["mse", "bce", "bce_weighted"]), isa=isas, data=st.data())
def test_pointwise_losses_forward_and_backward(shape, reduction, which, isa, data):
    x = data.draw(arrays(shape, special=which == "mse"))
    y = data.draw(arrays(shape, "normal"))
    kw = {}
    if which == "mse":
        f, fb, rows = F.mse_loss, F.mse_loss_backward, oracle(R.mse, x, y)
    else:
        y = np.clip(np.abs(y), 0, 1).astype(np.float32)
        if which == "bce_weighted" and shape:
            bshape = shape[data.draw(st.integers(0, len(shape))):]  # a trailing part broadcasts
            kw = dict(weight=data.draw(arrays(bshape, "normal")),
                      pos_weight=np.abs(data.draw(arrays(bshape, "normal"))))
        f, fb = F.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits_backward
        rows = R.bce_with_logits_weighted(x, y, kw.get("weight"), kw.get("pos_weight"))
    with on_isa(isa):
        got = f(x, y, reduction=reduction, **kw)
    close(got, oracle(_reduce, rows, reduction), rtol=1e-5, atol=1e-5, what=f"{which} {shape} {reduction} {isa}")
    if which == "mse" or not 0 < x.size <= 40:
        return
    g = data.draw(values(shape, "normal")) if reduction == "none" else 1.0
    with on_isa(isa):
        dx = fb(g, x, y, reduction, **kw)
    num = numeric_grad(lambda v: _reduce(R.bce_with_logits_weighted(v, y, kw.get("weight"), kw.get("pos_weight")),
                                         reduction), x, np.float64(g) if reduction != "none" else g, eps=1e-5)
    close(dx, num, rtol=1e-4, atol=1e-5, what=f"backward {which} {shape} {reduction}")


@budget(1)
@given(case=class_case(), dtype=other_dtypes, data=st.data())
def test_loss_other_dtypes_convert(case, dtype, data):
    shape, rows = case
    C = shape[0] if len(shape) == 1 else shape[1]
    x = as_dtype(data.draw(values(shape, "ints")), dtype)
    t = data.draw(hard_targets(rows, C, -100))
    np.testing.assert_array_equal(F.cross_entropy(x, t, reduction="none"),
                                  F.cross_entropy(x.astype(np.float32), t, reduction="none"))
    np.testing.assert_array_equal(F.cross_entropy(x, t.astype(np.int32), reduction="sum"),
                                  F.cross_entropy(x.astype(np.float32), t, reduction="sum"))
    np.testing.assert_array_equal(F.mse_loss(x, x.astype(np.float32) * 0.5, reduction="none"),
                                  F.mse_loss(x.astype(np.float32), x.astype(np.float32) * 0.5, reduction="none"))


@budget(2)
@given(case=class_case(), bad=st.sampled_from([-1, -2**40, 2**40, 5, 2**31, 2**32]), ignore_index=st.sampled_from(
       [-100, -1]), which=st.sampled_from(["ce", "nll", "ce_backward"]), data=st.data())
def test_targets_out_of_range_are_refused(case, bad, ignore_index, which, data):
    shape, rows = case
    C = shape[0] if len(shape) == 1 else shape[1]
    x = data.draw(values(shape, "normal"))
    t = data.draw(hard_targets(rows, C, ignore_index))
    if t.size == 0:
        return
    t.reshape(-1)[data.draw(st.integers(0, t.size - 1))] = bad
    calls = {"ce": lambda: F.cross_entropy(x, t, ignore_index=ignore_index),
             "nll": lambda: F.nll_loss(x, t, ignore_index=ignore_index),
             "ce_backward": lambda: F.cross_entropy_backward(1.0, x, t, ignore_index)}
    res = clean_errors(calls[which])
    if bad == ignore_index or 0 <= bad < C:
        assert not isinstance(res, Exception), res
    else:
        assert isinstance(res, (ValueError, IndexError)), f"target {bad} of {C} classes: {res!r}"


_shapes = st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)


@budget(2)
@given(x_shape=_shapes, t_shape=_shapes, t_kind=st.sampled_from(["int64", "float32", "bool", "complex", "uint8"]),
       w_shape=st.one_of(st.none(), _shapes), reduction=st.sampled_from(["none", "mean", "sum", "avg", None]),
       which=st.sampled_from(["ce", "nll", "mse", "bce"]), smoothing=st.sampled_from([0.0, -0.1, 1.5, np.nan]),
       data=st.data())
def test_loss_any_arguments_answer_cleanly(x_shape, t_shape, t_kind, w_shape, reduction, which, smoothing, data):
    x = data.draw(values(x_shape))
    t = data.draw(values(t_shape, "ints")).astype(t_kind) if t_kind != "uint8" else \
        np.abs(data.draw(values(t_shape, "ints"))).astype(np.uint8)
    w = None if w_shape is None else data.draw(values(w_shape))
    calls = {"ce": lambda: F.cross_entropy(x, t, w, reduction=reduction, label_smoothing=smoothing),
             "nll": lambda: F.nll_loss(x, t, w, reduction=reduction),
             "mse": lambda: F.mse_loss(x, t, reduction=reduction),
             "bce": lambda: F.binary_cross_entropy_with_logits(x, t, w, reduction=reduction)}
    try:
        calls[which]()
    except CLEAN_ERRORS:
        pass
