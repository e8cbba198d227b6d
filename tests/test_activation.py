"""The activation family on every ISA level: float64 oracles, the whole float range,
special values, backward (analytic and finite differences), PyTorch parity, bad input."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import fastlayers
import fastlayers.functional as F
import reference as R
from helpers import assert_close, numeric_grad, ulp_error

# Sizes around every vector width (8, 16), the unrolled body (32) and the threading grain.
SIZES = [0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 1000, 70001]

# name -> (forward, backward(grad, x, y), oracle, oracle derivative, saved is the output)
UNARY = {
    "sigmoid": (F.sigmoid, lambda g, x, y: F.sigmoid_backward(g, y), R.sigmoid,
                lambda x: R.sigmoid(x) * (1 - R.sigmoid(x))),
    "tanh": (F.tanh, lambda g, x, y: F.tanh_backward(g, y), R.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "relu": (F.relu, lambda g, x, y: F.relu_backward(g, x), R.relu, lambda x: (x > 0).astype(np.float64)),
    "leaky_relu": (F.leaky_relu, lambda g, x, y: F.leaky_relu_backward(g, x), R.leaky_relu,
                   lambda x: np.where(x > 0, 1.0, 0.01)),
    "elu": (lambda x: F.elu(x, 0.7), lambda g, x, y: F.elu_backward(g, x, 0.7), lambda x: R.elu(x, 0.7),
            lambda x: np.where(x > 0, 1.0, 0.7 * np.exp(np.minimum(x, 0)))),
    "gelu": (F.gelu, lambda g, x, y: F.gelu_backward(g, x), R.gelu,
             lambda x: R._erfc(-x / np.sqrt(2)) / 2 + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)),
    "gelu_tanh": (lambda x: F.gelu(x, "tanh"), lambda g, x, y: F.gelu_backward(g, x, "tanh"),
                  lambda x: R.gelu(x, "tanh"), None),
    "silu": (F.silu, lambda g, x, y: F.silu_backward(g, x), R.silu,
             lambda x: R.sigmoid(x) * (1 + x * (1 - R.sigmoid(x)))),
}
# Max error in float32 ulps over the whole range; gelu's is scaled by max(1, x^2), its
# condition number (the float32 input itself carries that much uncertainty in the tails).
ULP_BOUND = {"sigmoid": 3, "tanh": 4, "elu": 2, "gelu": 8, "gelu_tanh": 8, "silu": 4}


def whole_range(rng, n=400_000):
    bits = rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    x = x[np.isfinite(x)]
    tiny = np.geomspace(1e-45, 1e-3, 4000).astype(np.float32)
    return np.concatenate([x, np.linspace(-110, 110, 44001, dtype=np.float32), tiny, -tiny,
                           np.float32([87.5, 88.7, 88.73, 89.0, -87.3, -88.7, -103.9, -104.5, 9.0, 9.02])])


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("n", SIZES)
def test_forward_matches_oracle(backend, name, n, rng):
    f, _, oracle, _ = UNARY[name]
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    y = backend.get(f(backend.put(x)))
    assert_close(y, oracle(x), rtol=2e-6, atol=1e-7, what=f"{name} n={n} {backend}")


@pytest.mark.parametrize("name", list(ULP_BOUND))
def test_accuracy_over_whole_float_range(isa, name, rng):
    f, _, oracle, _ = UNARY[name]
    x = whole_range(rng)
    with np.errstate(all="ignore"):
        ref = oracle(x)
        got = f(x)
    assert got.dtype == np.float32
    normal = np.isfinite(ref) & (np.abs(ref) >= np.finfo(np.float32).tiny)
    if name == "silu":  # below -87 sigmoid(x) is subnormal: x sigmoid(x) keeps its absolute accuracy only
        tail = normal & (x < -87)
        assert np.all(np.abs(got[tail] - ref[tail]) <= 100 * 1.401298464324817e-45 * np.abs(x[tail]))
        normal &= x >= -87
    scale = np.maximum(1.0, x[normal].astype(np.float64) ** 2) if name.startswith("gelu") else 1.0
    err = ulp_error(got[normal], ref[normal]) / scale
    assert err.max() <= ULP_BOUND[name], f"{name}: {err.max():.2f} ulp at x={x[normal][np.argmax(err)]!r}"
    # Results in the subnormal range: absolute error within a few subnormal steps.
    sub = np.isfinite(ref) & ~normal
    assert np.all(np.abs(got[sub] - ref[sub]) <= 8 * 1.401298464324817e-45 * (1 + x[sub].astype(np.float64) ** 2))
    # Overflow and saturation: where the oracle is +-inf or rounds to +-1, so do we.
    big = np.isinf(ref)
    assert np.array_equal(got[big], ref[big].astype(np.float32))


def test_special_values(isa):
    inf, nan = np.float32(np.inf), np.float32(np.nan)
    x = np.array([-inf, inf, nan, -0.0, 0.0, 1e-40, -1e-40, 88.8, -88.8, -200.0], np.float32)
    s = F.sigmoid(x)
    assert s[0] == 0 and s[1] == 1 and np.isnan(s[2]) and s[3] == 0.5 and s[-1] == 0
    assert 0 < s[8] < 1e-38  # sigmoid(-88.8) is subnormal, not flushed
    t = F.tanh(x)
    assert t[0] == -1 and t[1] == 1 and np.isnan(t[2]) and np.signbit(t[3]) and t[5] == np.float32(1e-40)
    r = F.relu(x)
    assert r[0] == 0 and r[1] == inf and np.isnan(r[2]) and r[7] == np.float32(88.8)
    e = F.elu(x)
    assert e[0] == -1 and e[1] == inf and np.isnan(e[2]) and e[6] == np.float32(-1e-40)
    g = F.gelu(x)
    assert g[1] == inf and np.isnan(g[2]) and np.isnan(g[0]) and g[4] == 0 and g[-1] == 0
    lr = F.leaky_relu(x)
    assert lr[0] == -inf and np.isnan(lr[2]) and lr[-1] == np.float32(-2.0)
    si = F.silu(x)  # -inf * sigmoid(-inf) = -inf * 0: NaN, as PyTorch's
    assert np.isnan(si[0]) and si[1] == inf and np.isnan(si[2]) and si[3] == 0 and si[7] == np.float32(88.8)
    assert -1e-36 < si[-1] <= 0
    with np.errstate(over="ignore"):
        assert np.isinf(F.elu(np.float32([1e30]))[0]) is np.False_


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_tail_into_the_subnormals(isa, approximate):
    # The negative tail where x Phi(x) (or x sigmoid(t(x))) falls through the subnormal range to
    # 0. On AVX-512 a group of vectors with any such lane takes a separate path that builds the
    # subnormal results from integers (vmath_impl.h gelu_avx512); the lanes beside them, positive
    # or not, must come out as the fast path gives them.
    tail = np.linspace(-16.0, -9.0, 70001, dtype=np.float32)
    near = (np.random.default_rng(3).standard_normal(70001) * 2).astype(np.float32)
    x = np.stack([tail, -tail, near, tail[::-1]], 1).ravel()  # tail lanes among ordinary ones
    x = np.concatenate([x, np.float32([-1e30, -np.inf, 1e30, np.inf, -15.0, -20.0, np.nan])])
    with np.errstate(all="ignore"):
        ref = R.gelu(x.astype(np.float64), approximate)
        got = F.gelu(x, approximate)
    fin = np.isfinite(ref)
    normal = fin & (np.abs(ref) >= np.finfo(np.float32).tiny)
    err = ulp_error(got[normal], ref[normal]) / np.maximum(1.0, x[normal].astype(np.float64) ** 2)
    assert err.max() <= ULP_BOUND["gelu" if approximate == "none" else "gelu_tanh"]
    sub = fin & ~normal
    assert np.all(np.abs(got[sub] - ref[sub]) <= 8 * 1.401298464324817e-45 * (1 + x[sub].astype(np.float64) ** 2))
    assert np.all(got[sub & (x < 0)] <= 0)  # negative subnormals, or zeros (-0.0 on AVX-512 and scalar)
    assert np.array_equal(got[x > 9], x[x > 9])
    assert np.isnan(got[-6]) and np.isnan(got[-1]) and got[-5] == np.float32(1e30) and got[-4] == np.inf
    assert got[-7] == 0 and got[-3] == 0 and got[-2] == 0
    # the same numbers one by one (other groupings of the lanes)
    assert np.array_equal(np.concatenate([F.gelu(x[i:i + 5], approximate) for i in range(0, x.size, 5)]), got,
                          equal_nan=True)


@pytest.mark.parametrize("name", list(UNARY))
def test_backward_matches_oracle(backend, name, rng):
    f, b, _, deriv = UNARY[name]
    x = (rng.standard_normal(3001) * 3).astype(np.float32)
    g = rng.standard_normal(x.size).astype(np.float32)
    xd = backend.put(x)
    dx = backend.get(b(backend.put(g), xd, f(xd)))
    if deriv is None:  # gelu_tanh: finite differences of the float64 oracle
        deriv = lambda v: (R.gelu(v + 1e-6, "tanh") - R.gelu(v - 1e-6, "tanh")) / 2e-6  # noqa: E731
    assert_close(dx, g * deriv(x.astype(np.float64)), rtol=2e-5, atol=2e-6, what=f"{name} backward {backend}")


@pytest.mark.parametrize("name", list(UNARY))
def test_backward_finite_differences(name, rng):
    f, b, oracle, _ = UNARY[name]
    x = rng.uniform(-3, 3, size=(3, 5)).astype(np.float32)
    x[np.abs(x) < 0.05] += 0.2  # away from relu's kink
    g = rng.standard_normal(x.shape).astype(np.float32)
    num = numeric_grad(oracle, x, g, eps=1e-4)
    assert_close(b(g, x, f(x)), num, rtol=1e-4, atol=1e-5, what=name)


@pytest.mark.parametrize("shape,axis", [((1,), 0), ((7,), -1), ((5, 33), -1), ((5, 33), 0), ((2, 3, 17), 1),
                                        ((4, 200, 3), 1), ((3, 1000), 1), ((1, 40, 100), 1), ((64, 1), 1)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax(backend, shape, axis, log, rng):
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    f, fb, o = (F.log_softmax, F.log_softmax_backward, R.log_softmax) if log else (F.softmax, F.softmax_backward, R.softmax)
    y = f(backend.put(x), axis=axis)
    assert_close(backend.get(y), o(x, axis), rtol=2e-6, atol=1e-6, what=f"{shape} axis={axis} {backend}")
    g = rng.standard_normal(shape).astype(np.float32)
    yd = o(x, axis)
    ref_dx = (g - np.exp(yd) * g.sum(axis, keepdims=True)) if log else yd * (g - (g * yd).sum(axis, keepdims=True))
    assert_close(backend.get(fb(backend.put(g), y, axis=axis)), ref_dx, rtol=1e-5, atol=1e-6)


def test_large_outputs_stream_bit_identically(isa, rng):
    # Calls of >= 2^22 elements per thread write with non-temporal stores (vmath_impl.h map1 /
    # map2): the same numbers as calls below that size, into an output that is not
    # vector-aligned, with a masked head and tail.
    n = (1 << 23) + 37
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    buf = np.empty(n + 1, np.float32)
    out = buf[1:]
    piece = 1 << 20
    for name, (f, b, _, _) in UNARY.items():
        y = f(x)
        small = np.concatenate([f(x[i:i + piece]) for i in range(0, n, piece)])
        assert np.array_equal(y, small, equal_nan=True), name
        dx = b(g, x, y)
        small = np.concatenate([b(g[i:i + piece], x[i:i + piece], y[i:i + piece]) for i in range(0, n, piece)])
        assert np.array_equal(dx, small, equal_nan=True), name
    assert F.relu(x, out=out) is out and np.array_equal(out, np.maximum(x, 0))


@pytest.mark.parametrize("rows,n", [(8200, 1023), (1200000, 7), (420000, 20)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_streaming_rows(isa, log, rows, n, rng):
    # >= 2^23 elements along the last axis: the kernels' non-temporal-store path (exps in a
    # scratch row, output written once, the vectors that straddle two rows assembled apart),
    # rows not a multiple of the vector width, rows shorter than a vector, an output that is
    # not vector-aligned (a view one float into a buffer), and in place.
    x = (rng.standard_normal((rows, n)) * 5).astype(np.float32)
    x[3, :] = -np.inf
    x[3, n // 2] = 2.0
    o = R.log_softmax if log else R.softmax
    f = F.log_softmax if log else F.softmax
    ref = o(x.astype(np.float64), 1)
    buf = np.empty(rows * n + 1, np.float32)
    out = buf[1:].reshape(rows, n)
    y = f(x, axis=1, out=out)
    assert y is out
    assert_close(y, ref, rtol=2e-6, atol=1e-6, what=f"log={log} isa={isa}")
    # the same values as small (cached, not streamed) calls, row by row and bit for bit
    for lo in (0, rows // 2 - 37, rows - 300):
        assert np.array_equal(y[lo:lo + 300], f(x[lo:lo + 300], axis=1)), lo
    xi = x.copy()
    f(xi, axis=1, out=xi)
    assert np.array_equal(xi, y)


def test_softmax_is_stable_and_propagates_nan(isa):
    x = np.array([[1e4, 1e4 - 1, -1e4], [-1e30, 0, 1e30], [np.nan, 0, 1], [-np.inf, 0, 1]], np.float32)
    y = F.softmax(x)
    assert_close(y[0], R.softmax(x[0].astype(np.float64)), rtol=1e-6, atol=1e-7)
    assert_close(y[1], [0, 0, 1], atol=0)
    assert np.isnan(y[2]).all()
    assert y[3][0] == 0 and abs(y[3].sum() - 1) < 1e-6
    ls = F.log_softmax(np.array([[1e30, 0.0], [-1e30, 1e30]], np.float32))
    assert np.all(np.isfinite(ls[0][0:1])) and ls[1][1] == 0


def test_softmax_backward_finite_differences(rng):
    x = rng.standard_normal((2, 5)).astype(np.float32)
    g = rng.standard_normal((2, 5)).astype(np.float32)
    assert_close(F.softmax_backward(g, F.softmax(x)), numeric_grad(R.softmax, x, g, 1e-5), rtol=1e-4, atol=1e-6)
    assert_close(F.log_softmax_backward(g, F.log_softmax(x)), numeric_grad(R.log_softmax, x, g, 1e-5),
                 rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("shape,pieces,axis", [((4, 6), 2, 1), ((4, 6), 3, -1), ((2, 12, 5, 5), 4, 1),
                                               ((2, 6, 40), 3, 1), ((3, 9, 17), 3, 1), ((10, 4), 2, 0)])
def test_maxout(backend, shape, pieces, axis, rng):
    x = rng.integers(-5, 5, size=shape).astype(np.float32)  # many ties: first maximum wins
    y = backend.get(F.maxout(backend.put(x), pieces, axis=axis))
    assert np.array_equal(y, R.maxout(x, pieces, axis))
    g = rng.standard_normal(y.shape).astype(np.float32)
    dx = backend.get(F.maxout_backward(backend.put(g), backend.put(x), pieces, axis=axis))
    # Oracle: each group's first arg-max receives the gradient.
    xm = np.moveaxis(x, axis, -1)
    grp = xm.reshape(xm.shape[:-1] + (-1, pieces))
    win = grp.argmax(-1)
    ref = np.zeros_like(grp)
    np.put_along_axis(ref, win[..., None], np.moveaxis(g, axis, -1)[..., None], axis=-1)
    assert np.array_equal(dx, np.moveaxis(ref.reshape(xm.shape), -1, axis))


def test_maxout_nan_wins(isa):
    x = np.zeros((1, 4, 20), np.float32)
    x[0, 1, :] = np.nan
    x[0, 2, :] = 5
    y = F.maxout(x, 2, axis=1)
    assert np.isnan(y[0, 0]).all() and (y[0, 1] == 5).all()


def test_parity_with_torch(torch, rng):
    x = (rng.standard_normal((64, 129)) * 3).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_(True)
    nnf = torch.nn.functional
    g = rng.standard_normal(x.shape).astype(np.float32)
    cases = [
        (F.sigmoid(x), lambda: torch.sigmoid(tx), F.sigmoid_backward(g, F.sigmoid(x))),
        (F.tanh(x), lambda: torch.tanh(tx), F.tanh_backward(g, F.tanh(x))),
        (F.relu(x), lambda: torch.relu(tx), F.relu_backward(g, x)),
        (F.leaky_relu(x, 0.01), lambda: nnf.leaky_relu(tx, 0.01), F.leaky_relu_backward(g, x, 0.01)),
        (F.elu(x, 1.3), lambda: nnf.elu(tx, 1.3), F.elu_backward(g, x, 1.3)),
        (F.gelu(x), lambda: nnf.gelu(tx), F.gelu_backward(g, x)),
        (F.gelu(x, "tanh"), lambda: nnf.gelu(tx, approximate="tanh"), F.gelu_backward(g, x, "tanh")),
        (F.softmax(x, 1), lambda: torch.softmax(tx, 1), F.softmax_backward(g, F.softmax(x, 1), 1)),
        (F.log_softmax(x, 0), lambda: torch.log_softmax(tx, 0), F.log_softmax_backward(g, F.log_softmax(x, 0), 0)),
    ]
    for ours, theirs, ours_dx in cases:
        tx.grad = None
        ty = theirs()
        ty.backward(torch.from_numpy(g))
        assert_close(ours, ty.detach().numpy(), rtol=1.3e-6, atol=1e-5)
        assert_close(ours_dx, tx.grad.numpy(), rtol=1.3e-6, atol=1e-5)


# ---- arguments, dtypes, out= ----

def test_dtype_conversion_and_layout(rng):
    x64 = rng.standard_normal((6, 10))
    y = F.tanh(x64)
    assert y.dtype == np.float32 and y.flags.c_contiguous
    assert_close(y, np.tanh(x64.astype(np.float32).astype(np.float64)), rtol=1e-6, atol=1e-7)
    assert np.array_equal(F.relu(np.array([-2, 3], np.int64)), np.float32([0, 3]))
    assert np.array_equal(F.relu([True, False]), np.float32([1, 0]))
    xt = rng.standard_normal((10, 6)).astype(np.float32).T  # non-contiguous: copied once
    assert np.array_equal(F.relu(xt), np.maximum(xt, 0))
    assert F.sigmoid(np.float32(0.0)).shape == ()
    for f in (F.relu, F.gelu, F.softmax):
        assert f(np.zeros((0, 5), np.float32)).shape == (0, 5)
    assert F.maxout(np.zeros((0, 6), np.float32), 3).shape == (0, 2)


@pytest.mark.parametrize("bad", [np.array([1 + 2j]), np.array(["a"]), np.array([object()], dtype=object)])
def test_bad_dtypes_raise_type_error(bad):
    with pytest.raises(TypeError, match="input"):
        F.relu(bad)
    with pytest.raises(TypeError):
        F.softmax(bad)


def test_bad_arguments_raise_value_error():
    x = np.zeros((4, 6), np.float32)
    with pytest.raises(ValueError, match="axis"):
        F.softmax(x, axis=2)
    with pytest.raises(ValueError, match="pieces: 4 does not divide the channel count 6"):
        F.maxout(x, 4)
    with pytest.raises(ValueError, match="pieces"):
        F.maxout(x, 0)
    with pytest.raises(TypeError, match="pieces"):
        F.maxout(x, 2.0)
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(x, "erf")
    with pytest.raises(ValueError, match=r"x: expected the shape of grad_out \(4, 6\), got \(4, 5\)"):
        F.relu_backward(x, np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="grad_out"):
        F.maxout_backward(np.zeros((4, 6), np.float32), x, 2)
    with pytest.raises(TypeError, match="negative_slope"):
        F.leaky_relu(x, "0.1")


def test_out_argument(rng):
    x = rng.standard_normal((5, 7)).astype(np.float32)
    out = np.empty_like(x)
    assert F.sigmoid(x, out=out) is out
    assert_close(out, R.sigmoid(x), rtol=2e-6, atol=1e-7)
    y = x.copy()
    F.relu(y, out=y)  # in place
    assert np.array_equal(y, np.maximum(x, 0))
    F.softmax(y, out=y)
    assert_close(y.sum(-1), np.ones(5), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"out: expected shape \(5, 7\), got \(7, 5\)"):
        F.relu(x, out=np.empty((7, 5), np.float32))
    with pytest.raises(TypeError, match="out: expected dtype float32, got float64"):
        F.relu(x, out=np.empty((5, 7)))
    with pytest.raises(ValueError, match="C-contiguous"):
        F.relu(x, out=np.empty((7, 5), np.float32).T)
    big = np.zeros(20, np.float32)
    with pytest.raises(ValueError, match="overlaps"):
        F.relu(big[:10], out=big[5:15])
    ro = np.empty_like(x)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        F.relu(x, out=ro)


def test_isa_selection_errors():
    with pytest.raises(ValueError, match="isa"):
        fastlayers.set_isa("sse9")


def test_threads_and_concurrent_calls(rng):
    x = rng.standard_normal(300_000).astype(np.float32)
    ref = F.gelu(x)
    before = fastlayers.get_num_threads()
    try:
        for n in (1, 2, 3):
            fastlayers.set_num_threads(n)
            assert fastlayers.get_num_threads() == n
            assert np.array_equal(F.gelu(x), ref)
        with pytest.raises(ValueError):
            fastlayers.set_num_threads(0)
    finally:
        fastlayers.set_num_threads(before)
    results = [None] * 4

    def work(i):
        results[i] = [F.gelu(x) for _ in range(5)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(r, ref) for rs in results for r in rs)


@pytest.mark.large
def test_past_2_31_elements():
    n = 2**31 + 37
    x = np.full(n, -1.0, np.float32)
    x[-5:] = 2.0
    F.relu(x, out=x)
    assert x[0] == 0 and x[2**31 - 1] == 0 and x[2**31 + 1] == 0 and np.all(x[-5:] == 2.0)
    s = F.softmax(x.reshape(1, n)[:, :], axis=1, out=x.reshape(1, n))
    assert s[0, -1] > s[0, 0]
