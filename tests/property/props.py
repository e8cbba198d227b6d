"""Shared strategies and checks of the property tests: array values (small integers, normal
floats, NaN/inf sprinkled in), memory layouts (C order, transposed, sliced, Fortran), the
non-float32 input dtypes, ISA levels, and the rule that bad input raises only TypeError,
ValueError or IndexError."""
from __future__ import annotations

import contextlib

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

import fastlayers

ISAS = fastlayers.available_isas()
CLEAN_ERRORS = (TypeError, ValueError, IndexError)
# inputs fastlayers converts to float32 once (DESIGN.md "dtype"); complex and object raise TypeError
OTHER_DTYPES = (np.float16, np.float64, np.int8, np.int32, np.int64, np.uint8, np.bool_)


def budget(fraction: float = 1.0) -> settings:
    """The current profile with max_examples scaled by fraction (ci: a few hundred per family)."""
    return settings(settings.default, max_examples=max(5, int(settings.default.max_examples * fraction)))


@contextlib.contextmanager
def on_isa(level: str):
    before = fastlayers.get_isa()
    fastlayers.set_isa(level)
    try:
        yield
    finally:
        fastlayers.set_isa(before)


isas = st.sampled_from(ISAS)
dims = st.integers(0, 5)        # sizes, 0 and 1 included
pos_dims = st.integers(1, 5)


def shapes(min_dims: int = 1, max_dims: int = 4, min_side: int = 0, max_side: int = 5):
    return st.lists(st.integers(min_side, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


@st.composite
def values(draw, shape, kind=None, special: bool = False):
    """A float32 array of `shape`: small integers (exact results), or normal floats; with
    special, NaN and +-inf at a few positions."""
    kind = kind or draw(st.sampled_from(["ints", "normal"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "ints":
        x = rng.integers(-3, 4, size=shape).astype(np.float32)
    else:
        x = rng.standard_normal(shape).astype(np.float32)
    if special and x.size and draw(st.booleans()):
        flat = x.reshape(-1)
        for v in draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), min_size=1, max_size=3)):
            flat[draw(st.integers(0, flat.size - 1))] = v
    return x


@st.composite
def laid_out(draw, x: np.ndarray):
    """x's values in a drawn memory layout: C order, transposed, sliced (every other element of
    a larger array along one axis) or Fortran order."""
    how = draw(st.sampled_from(["c", "transposed", "sliced", "fortran"]))
    if how == "c" or x.ndim == 0:
        return x
    if how == "fortran":
        return np.asfortranarray(x)
    if how == "transposed":
        perm = draw(st.permutations(range(x.ndim)))
        inv = np.argsort(perm)
        return np.transpose(np.ascontiguousarray(np.transpose(x, perm)), inv)
    ax = draw(st.integers(0, x.ndim - 1))
    big_shape = list(x.shape)
    big_shape[ax] *= 2
    big = np.full(big_shape, 7.5, dtype=x.dtype)
    sl = [slice(None)] * x.ndim
    sl[ax] = slice(None, None, 2)
    big[tuple(sl)] = x
    view = big[tuple(sl)]
    assert np.array_equal(view, x, equal_nan=True)
    return view


@st.composite
def arrays(draw, shape, kind=None, special: bool = False):
    """values() in a drawn layout."""
    return draw(laid_out(draw(values(shape, kind, special))))


other_dtypes = st.sampled_from(OTHER_DTYPES)


def as_dtype(x: np.ndarray, dtype) -> np.ndarray:
    """x cast to dtype with values that dtype holds exactly (x holds small integers)."""
    if np.dtype(dtype) == np.bool_:
        return x != 0
    if np.dtype(dtype).kind == "u":
        return np.abs(x).astype(dtype)
    return x.astype(dtype)


def clean_errors(fn, *args, **kwargs):
    """Calls fn; returns its result, or the exception when it is TypeError/ValueError/IndexError
    (any other exception propagates and fails the test)."""
    try:
        return fn(*args, **kwargs)
    except CLEAN_ERRORS as exc:
        return exc


def close(actual, expected, rtol, atol, what=""):
    """assert_allclose in float64 with NaN matching NaN, shapes equal."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def assert_adjoint(y, g, x, dx, what=""):
    """<y, g> = <x, dx>: the backward of a linear op (pool, pad, interpolate) is its adjoint."""
    lhs, rhs = float(np.sum(np.asarray(y, np.float64) * g)), float(np.sum(np.asarray(x, np.float64) * dx))
    assert abs(lhs - rhs) <= 1e-4 * max(1.0, abs(lhs)), f"{what}: <y, g> = {lhs}, <x, dx> = {rhs}"


def oracle(fn, *args, **kwargs):
    """A tests/reference.py oracle with NumPy's floating-point warnings off (NaN/inf inputs)."""
    with np.errstate(all="ignore"):
        return fn(*args, **kwargs)
