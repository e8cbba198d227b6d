"""Property tests of the gemm family: matmul (1-D, 2-D and broadcast batches, trans flags,
alpha/beta with out=), linear (bias, fused activations, leading dims) and their backward, on
drawn sizes (0 and 1 included), layouts, dtypes and ISA levels, against tests/reference.py."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import fastlayers.functional as F
import reference as R
from props import arrays, as_dtype, budget, clean_errors, close, dims, isas, on_isa, oracle, other_dtypes, values

batches = st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple)


def _tol(K: int) -> dict:
    return dict(rtol=1e-5, atol=1e-5 * max(K, 1))


@st.composite
def matmul_case(draw):
    M, K, N = draw(dims), draw(dims), draw(dims)
    vec_a, vec_b = draw(st.booleans()), draw(st.booleans())
    ta, tb = draw(st.booleans()), draw(st.booleans())
    ba, bb = draw(batches), draw(batches)
    if draw(st.booleans()):  # broadcast a size-1 batch axis against the other operand's
        bb = tuple(1 if draw(st.booleans()) else s for s in bb)
    a_shape = (K,) if vec_a else ba + ((K, M) if ta else (M, K))
    b_shape = (K,) if vec_b else bb + ((N, K) if tb else (K, N))
    return a_shape, b_shape, ta and not vec_a, tb and not vec_b


@budget(2)
@given(case=matmul_case(), isa=isas, data=st.data())
def test_matmul_matches_oracle(case, isa, data):
    a_shape, b_shape, ta, tb = case
    a, b = data.draw(arrays(a_shape)), data.draw(arrays(b_shape))
    alpha = data.draw(st.sampled_from([1.0, -0.5, 2.0]))
    try:
        expected = R.matmul(a, b, ta, tb, alpha)
    except ValueError:  # batch axes NumPy cannot broadcast
        assert isinstance(clean_errors(F.matmul, a, b, trans_a=ta, trans_b=tb), ValueError)
        return
    with on_isa(isa):
        y = F.matmul(a, b, trans_a=ta, trans_b=tb, alpha=alpha)
    assert y.dtype == np.float32
    close(y, expected, **_tol(a_shape[-1]), what=f"{a_shape} {b_shape} ta={ta} tb={tb} {isa}")


@budget(1)
@given(M=dims, K=dims, N=dims, isa=isas, data=st.data())
def test_matmul_beta_accumulates_and_beta0_ignores_out(M, K, N, isa, data):
    a, b = data.draw(values((M, K))), data.draw(values((K, N)))
    c = data.draw(values((M, N)))
    beta = data.draw(st.sampled_from([0.0, 1.0, -2.0]))
    out = np.full((M, N), np.nan, np.float32) if beta == 0.0 else c.copy()
    with on_isa(isa):
        y = F.matmul(a, b, alpha=1.5, beta=beta, out=out)
    assert y is out
    close(y, R.matmul(a, b, alpha=1.5, beta=beta, c=c), **_tol(K), what=f"beta={beta} {M}x{K}x{N}")


@budget(1)
@given(M=dims, K=dims, N=dims, dtype=other_dtypes, data=st.data())
def test_matmul_other_dtypes_convert(M, K, N, dtype, data):
    a = as_dtype(data.draw(values((M, K), "ints")), dtype)
    b = as_dtype(data.draw(values((K, N), "ints")), dtype)
    y = F.matmul(a, b)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, F.matmul(a.astype(np.float32), b.astype(np.float32)))


@budget(1)
@given(a_shape=st.lists(dims, min_size=0, max_size=3).map(tuple),
       b_shape=st.lists(dims, min_size=0, max_size=3).map(tuple),
       ta=st.booleans(), tb=st.booleans(), data=st.data())
def test_matmul_any_shapes_answer_cleanly(a_shape, b_shape, ta, tb, data):
    a, b = data.draw(values(a_shape)), data.draw(values(b_shape))
    res = clean_errors(F.matmul, a, b, trans_a=ta, trans_b=tb)
    if isinstance(res, Exception):
        return
    aa = np.swapaxes(a, -1, -2) if ta and a.ndim > 1 else a
    bb = np.swapaxes(b, -1, -2) if tb and b.ndim > 1 else b
    close(res, np.matmul(aa.astype(np.float64), bb.astype(np.float64)), **_tol(a_shape[-1] if a_shape else 1))


ACTS = [None, "relu", ("leaky_relu", 0.2), ("elu", 0.7), "gelu", ("gelu", "tanh"), "sigmoid", "tanh", "silu"]


@budget(2)
@given(lead=st.lists(dims, min_size=0, max_size=2).map(tuple), K=dims, N=dims, has_bias=st.booleans(),
       act=st.sampled_from(ACTS), isa=isas, data=st.data())
def test_linear_matches_oracle(lead, K, N, has_bias, act, isa, data):
    x = data.draw(arrays(lead + (K,)))
    w = data.draw(arrays((N, K)))
    b = data.draw(arrays((N,))) if has_bias else None
    name, param = (act if isinstance(act, tuple) else (act, None))
    if name == "gelu" and param == "tanh":
        expected = R.gelu(R.linear(x, w, b), "tanh")
    else:
        expected = oracle(R.linear, x, w, b, name, param)
    with on_isa(isa):
        y = F.linear(x, w, b, activation=act)
    close(y, expected, rtol=2e-5, atol=2e-5 * max(K, 1), what=f"{lead} K={K} N={N} {act} {isa}")


@budget(1)
@given(lead=st.lists(dims, min_size=1, max_size=2).map(tuple), K=dims, N=dims, isa=isas, data=st.data())
def test_linear_backward_matches_oracle(lead, K, N, isa, data):
    x, w = data.draw(arrays(lead + (K,))), data.draw(arrays((N, K)))
    g = data.draw(arrays(lead + (N,)))
    with on_isa(isa):
        gx, gw, gb = F.linear_backward(g, x, w)
    ex, ew, eb = R.linear_backward(g, x, w)
    M = int(np.prod(lead))
    close(gx, ex, rtol=1e-4, atol=1e-4 * max(N, 1), what="grad_x")
    close(gw, ew, rtol=1e-4, atol=1e-4 * max(M, 1), what="grad_weight")
    close(gb, eb, rtol=1e-4, atol=1e-4 * max(M, 1), what="grad_bias")


@budget(1)
@given(x_shape=st.lists(dims, min_size=0, max_size=3).map(tuple),
       w_shape=st.lists(dims, min_size=0, max_size=3).map(tuple),
       b_shape=st.one_of(st.none(), st.lists(dims, min_size=0, max_size=2).map(tuple)),
       act=st.one_of(st.sampled_from(ACTS), st.just("nope"), st.just(("relu", 1.0)), st.just(3)), data=st.data())
def test_linear_bad_shapes_answer_cleanly(x_shape, w_shape, b_shape, act, data):
    x, w = data.draw(values(x_shape)), data.draw(values(w_shape))
    b = None if b_shape is None else data.draw(values(b_shape))
    res = clean_errors(F.linear, x, w, b, activation=act)
    good = (len(w_shape) == 2 and len(x_shape) >= 1 and x_shape[-1] == w_shape[1]
            and (b_shape is None or b_shape == (w_shape[0],)) and act in ACTS)
    assert isinstance(res, Exception) != good, (x_shape, w_shape, b_shape, act, res)
