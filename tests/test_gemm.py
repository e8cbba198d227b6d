"""Tests of the GEMM family: matmul, linear (fused bias + activation), linear_backward.

Small-integer inputs must give exact results (every product and partial sum is an integer
below 2^24), which finds tiling and indexing bugs a tolerance would hide."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers.functional as F
import reference as ref
from helpers import assert_close, numeric_grad


def ints(rng, shape, lo=-3, hi=4):
    return rng.integers(lo, hi, size=shape).astype(np.float32)


def operand(x, trans):
    """The stored array whose op() is x (for trans: a C-contiguous transpose)."""
    return np.ascontiguousarray(np.swapaxes(x, -1, -2)) if trans else x


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (7, 9, 5), (33, 17, 65), (97, 129, 59)])
def test_matmul_exact_small_ints(isa, rng, m, n, k, trans_a, trans_b):
    a, b = ints(rng, (m, k)), ints(rng, (k, n))
    got = F.matmul(operand(a, trans_a), operand(b, trans_b), trans_a=trans_a, trans_b=trans_b)
    np.testing.assert_array_equal(got, ref.matmul(a, b))


def test_matmul_alpha_beta_ignores_nan_when_beta_zero(isa, rng):
    a, b = ints(rng, (13, 21)), ints(rng, (21, 19))
    out = np.full((13, 19), np.nan, np.float32)
    F.matmul(a, b, alpha=2.0, out=out)
    np.testing.assert_array_equal(out, 2 * ref.matmul(a, b))
    c = ints(rng, (13, 19))
    out[...] = c
    F.matmul(a, b, alpha=-1.0, beta=3.0, out=out)
    np.testing.assert_array_equal(out, ref.matmul(a, b, alpha=-1.0, beta=3.0, c=c))


def test_matmul_batched_broadcast(isa, rng):
    a, b = ints(rng, (4, 6, 5)), ints(rng, (5, 7))
    np.testing.assert_array_equal(F.matmul(a, b), ref.matmul(a, b))
    b1 = ints(rng, (1, 5, 7))
    np.testing.assert_array_equal(F.matmul(a, b1), ref.matmul(a, b1))
    a2 = ints(rng, (6, 5))
    b3 = ints(rng, (3, 5, 7))
    np.testing.assert_array_equal(F.matmul(a2, b3), ref.matmul(a2, b3))


@pytest.mark.parametrize("activation", [None, "relu", ("leaky_relu", 0.2), "elu", "gelu", "sigmoid", "tanh"])
def test_linear_matches_oracle(isa, rng, activation):
    x = rng.standard_normal((5, 37), dtype=np.float32)
    w = rng.standard_normal((23, 37), dtype=np.float32)
    bias = rng.standard_normal(23, dtype=np.float32)
    name, param = (activation if isinstance(activation, tuple) else (activation, None))
    got = F.linear(x, w, bias, activation)
    assert_close(got, ref.linear(x, w, bias, name, param), rtol=1e-5, atol=1e-5, what=str(activation))


def test_linear_backward_matches_oracle(isa, rng):
    x = rng.standard_normal((3, 4, 11), dtype=np.float32)
    w = rng.standard_normal((6, 11), dtype=np.float32)
    g = rng.standard_normal((3, 4, 6), dtype=np.float32)
    gx, gw, gb = F.linear_backward(g, x, w)
    ex, ew, eb = ref.linear_backward(g, x, w)
    assert_close(gx, ex, rtol=1e-5, atol=1e-5, what="grad_x")
    assert_close(gw, ew, rtol=1e-5, atol=1e-5, what="grad_weight")
    assert_close(gb, eb, rtol=1e-5, atol=1e-5, what="grad_bias")


def test_linear_backward_finite_difference(rng):
    x = rng.standard_normal((3, 4))
    w = rng.standard_normal((5, 4))
    g = rng.standard_normal((3, 5))
    gx, gw, _ = F.linear_backward(g, x, w)
    assert_close(gx, numeric_grad(lambda v: v @ w.T, x, g), rtol=1e-4, atol=1e-4, what="grad_x")
    assert_close(gw, numeric_grad(lambda v: x @ v.T, w, g), rtol=1e-4, atol=1e-4, what="grad_weight")


def test_bad_input():
    a, b = np.ones((3, 4), np.float32), np.ones((5, 6), np.float32)
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5, 6\)"):
        F.matmul(a, b)
    with pytest.raises(ValueError, match="2-D or 3-D"):
        F.matmul(np.ones(4, np.float32), b)
    with pytest.raises(TypeError):
        F.matmul(a.astype(np.complex64), np.ones((4, 2), np.float32))
    out = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="shares memory"):
        F.matmul(out, np.ones((4, 4), np.float32), out=out)
