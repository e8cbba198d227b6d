"""Tests of matmul: exact on small integers at the micro-tile's edges and across K blocks and
thread counts, alpha/beta, NaN/Inf, batches with broadcasting, random data against float64,
layouts and dtypes, empty shapes, concurrent callers, the native entry, bad input, the bench rows.

Small-integer inputs must give exact results (every product and partial sum is an integer
below 2^24), which finds tiling, packing and indexing bugs a tolerance would hide. The blocking,
packing, swapped and shared paths and their tuning hooks are in test_gemm_paths.py; linear and
linear_backward in test_linear.py."""
from __future__ import annotations

import inspect
import itertools
import threading

import numpy as np
import pytest

import fastlayers
import fastlayers.functional as F
import reference as ref
from helpers import assert_close
from gemm_cases import TRANS, blocks, ints, stored, tile_sizes
from helpers import assert_close


# ---- matmul: exact on small integers ----


@pytest.mark.parametrize("trans_a,trans_b", TRANS)
def test_matmul_exact_at_tile_edges(backend, rng, trans_a, trans_b):
    bs = blocks()
    ms, ns = tile_sizes(bs["mr"]), tile_sizes(bs["nr"])
    ks = [1, 7, 8, 9, 97, 129]
    for m, n, k in itertools.product(ms, ns, ks):
        if m * n * k > 129 * 129 * 97 and (m, n) != (129, 129):
            continue  # the largest combinations add time, not coverage
        a, b = ints(rng, (m, k)), ints(rng, (k, n))
        got = backend.F.matmul(stored(a, trans_a), stored(b, trans_b), trans_a=trans_a, trans_b=trans_b)
        np.testing.assert_array_equal(got, a @ b, err_msg=f"{backend} m={m} n={n} k={k} ta={trans_a} tb={trans_b}")


@pytest.mark.parametrize("trans_a,trans_b", TRANS)
def test_matmul_exact_across_k_blocks_and_threads(isa, rng, trans_a, trans_b):
    kc = max(blocks()["kc"], 64)
    for threads in (1, 2):
        before = fastlayers.get_num_threads()
        fastlayers.set_num_threads(threads)
        try:
            for m, n, k in [(37, 53, kc + 5), (130, 70, 2 * kc + 1), (200, 150, 64)]:
                a, b = ints(rng, (m, k), -2, 3), ints(rng, (k, n), -2, 3)
                got = F.matmul(stored(a, trans_a), stored(b, trans_b), trans_a=trans_a, trans_b=trans_b)
                np.testing.assert_array_equal(got, a @ b, err_msg=f"{isa} threads={threads} {m}x{n}x{k}")
        finally:
            fastlayers.set_num_threads(before)


def test_matmul_fast_call_falls_back(rng):
    """Flags and scalars of other types, and non-contiguous operands, take the general path."""
    a, b = ints(rng, (5, 7)), ints(rng, (7, 3))
    np.testing.assert_array_equal(F.matmul(a.T.copy(), b, trans_a=1), a @ b)
    np.testing.assert_array_equal(F.matmul(a, b, alpha=2), 2 * (a @ b))
    np.testing.assert_array_equal(F.matmul(a, b[:, ::-1].copy()[:, ::-1]), a @ b)
    np.testing.assert_array_equal(F.matmul(a.astype(np.float64), b), a @ b)
    out = np.ones((5, 3), np.float32)
    F.matmul(a, b, beta=1.0, out=out)
    np.testing.assert_array_equal(out, a @ b + 1)
    with pytest.raises(ValueError, match="shares memory"):
        sq = ints(rng, (4, 4))
        F.matmul(sq, sq.copy(), out=sq)


def test_matmul_native_entry_arguments(rng):
    """matmul is a native function (_core.matmul): keywords in any order or from a dict, and
    calls it does not run itself (other spellings, bad arguments) reach the Python implementation."""
    a, b = ints(rng, (5, 7)), ints(rng, (3, 7))
    out = np.ones((5, 3), np.float32)
    r = F.matmul(a, b, out=out, beta=2.0, alpha=3.0, trans_b=True)
    assert r is out
    np.testing.assert_array_equal(out, 3 * (a @ b.T) + 2)
    np.testing.assert_array_equal(F.matmul(a, b, **{"trans_" + "b": True}), a @ b.T)
    with pytest.raises(TypeError, match="matmul"):
        F.matmul(a, b, True)
    with pytest.raises(TypeError, match="bogus"):
        F.matmul(a, b, bogus=1)
    with pytest.raises(ValueError, match="beta"):
        F.matmul(a, b, trans_b=True, beta=1.0)
    assert str(inspect.signature(F.matmul)) == "(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None)"


@pytest.mark.parametrize("m,n,k", [(13, 21, 19), (129, 97, 300)])
def test_matmul_alpha_beta(backend, rng, m, n, k):
    a, b, c = ints(rng, (m, k)), ints(rng, (k, n)), ints(rng, (m, n))
    out = np.full((m, n), np.nan, np.float32)  # beta == 0: C is not read, NaN included (BLAS)
    backend.F.matmul(a, b, alpha=2.0, out=out)
    np.testing.assert_array_equal(out, 2 * (a @ b))
    out[...] = c
    backend.F.matmul(a, b, alpha=-1.0, beta=3.0, out=out)
    np.testing.assert_array_equal(out, ref.matmul(a, b, alpha=-1.0, beta=3.0, c=c))
    out[...] = c
    backend.F.matmul(stored(a, True), b, trans_a=True, alpha=0.5, beta=-2, out=out)
    np.testing.assert_array_equal(out, ref.matmul(a, b, alpha=0.5, beta=-2.0, c=c))


def test_matmul_nan_and_inf_propagate(backend, rng):
    a, b = ints(rng, (20, 30)), ints(rng, (30, 40))
    a[3, 5] = np.nan
    b[7, 11] = np.inf
    got = backend.F.matmul(a, b)
    with np.errstate(invalid="ignore"):
        expected = ref.matmul(a, b)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(got[~np.isnan(got)], expected[~np.isnan(expected)])


@pytest.mark.parametrize("shape_a,shape_b", [((4, 6, 5), (5, 7)), ((4, 6, 5), (1, 5, 7)), ((6, 5), (3, 5, 7)),
                                             ((1, 6, 5), (3, 5, 7)), ((3, 6, 5), (3, 5, 7)),
                                             ((5, 70, 90), (90, 60)), ((2, 200, 130), (2, 130, 150)),
                                             ((3, 200, 130), (130, 150)), ((9, 33, 17), (9, 17, 40))])
@pytest.mark.parametrize("trans_a,trans_b", TRANS)
def test_matmul_batched_broadcast(backend, rng, shape_a, shape_b, trans_a, trans_b):
    a, b = ints(rng, shape_a), ints(rng, shape_b)
    got = backend.F.matmul(stored(a, trans_a), stored(b, trans_b), trans_a=trans_a, trans_b=trans_b)
    np.testing.assert_array_equal(got, ref.matmul(a, b))


# np.matmul's shapes: 1-D operands (their dimension dropped) and batches broadcast beyond 3-D
@pytest.mark.parametrize("shape_a,shape_b", [((5,), (5,)), ((3, 5), (5,)), ((5,), (5, 4)), ((2, 3, 5), (5,)),
                                             ((5,), (2, 5, 4)), ((7, 1, 3, 5), (4, 5, 2)),
                                             ((2, 1, 3, 5), (1, 4, 5, 2)), ((3, 5), (2, 2, 5, 4)),
                                             ((1, 1, 3, 5), (5, 2)), ((2, 3, 1, 4, 6), (3, 2, 6, 5)),
                                             ((0, 3, 5), (5, 2)), ((2, 3, 0), (0, 4)), ((0,), (0,)),
                                             ((1, 2, 1, 40, 33), (2, 1, 33, 70))])
def test_matmul_numpy_shapes(backend, rng, shape_a, shape_b):
    a, b = ints(rng, shape_a), ints(rng, shape_b)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    got = backend.F.matmul(a, b)
    assert np.shape(got) == want.shape
    np.testing.assert_array_equal(got, want)
    if len(shape_a) >= 2 and len(shape_b) >= 2:  # transposed operands, and out= with beta
        got = backend.F.matmul(np.swapaxes(a, -1, -2).copy(), b, trans_a=True)
        np.testing.assert_array_equal(got, want)
        c = ints(rng, want.shape)
        out = c.copy()
        backend.F.matmul(a, np.swapaxes(b, -1, -2).copy(), trans_b=True, alpha=2.0, beta=-1.0, out=out)
        np.testing.assert_array_equal(out, 2 * want - c)


def test_matmul_1d_trans_is_ignored_and_torch_agrees(torch, rng):
    a, b = rng.standard_normal(7).astype(np.float32), rng.standard_normal((2, 3, 7, 4)).astype(np.float32)
    assert_close(F.matmul(a, b, trans_a=True), torch.matmul(torch.from_numpy(a), torch.from_numpy(b)).numpy(),
                 1e-6, 1e-6)
    m = rng.standard_normal((5, 1, 3, 7)).astype(np.float32)
    assert_close(F.matmul(m, b[0]), torch.matmul(torch.from_numpy(m), torch.from_numpy(b[0])).numpy(), 1e-6, 1e-6)
    assert_close(F.matmul(b[0, 0].T.copy(), a), torch.matmul(torch.from_numpy(b[0, 0].T.copy()),
                                                             torch.from_numpy(a)).numpy(), 1e-6, 1e-6)


def test_matmul_batched_out_and_beta(backend, rng):
    a, b, c = ints(rng, (3, 9, 11)), ints(rng, (11, 13)), ints(rng, (3, 9, 13))
    out = c.copy()
    r = backend.F.matmul(a, b, alpha=2.0, beta=1.0, out=out)
    assert backend.device or r is out  # (on a device the result comes back as a copy)
    np.testing.assert_array_equal(out, ref.matmul(a, b, alpha=2.0, beta=1.0, c=c))


@pytest.mark.parametrize("threads", [1, 2])
def test_matmul_batched_exact_own_and_shared_b(isa, rng, threads):
    """Products of a batch with their own B take the packed path where a single one would run
    direct (sgemm_batched's b_cold); a shared (broadcast) B keeps the direct path. Both exact,
    with row and column edges and a K not a multiple of 4."""
    before = fastlayers.get_num_threads()
    fastlayers.set_num_threads(threads)
    try:
        for (bt, m, k, n) in [(4, 128, 64, 128), (3, 97, 66, 131), (5, 256, 61, 200)]:
            a, b = ints(rng, (bt, m, k), -2, 3), ints(rng, (bt, k, n), -2, 3)
            np.testing.assert_array_equal(F.matmul(a, b), a @ b, err_msg=f"{isa} own B {bt}x{m}x{n}x{k}")
            np.testing.assert_array_equal(F.matmul(a, b[0]), a @ b[0], err_msg=f"{isa} shared B {bt}x{m}x{n}x{k}")
    finally:
        fastlayers.set_num_threads(before)


# ---- matmul: random data against float64 ----


@pytest.mark.parametrize("m,n,k", [(1, 1, 300), (64, 64, 64), (97, 129, 59), (255, 257, 1100), (17, 513, 700)])
@pytest.mark.parametrize("trans_a,trans_b", TRANS)
def test_matmul_random_against_float64(backend, rng, m, n, k, trans_a, trans_b):
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    expected = ref.matmul(a, b)
    got = backend.F.matmul(stored(a, trans_a), stored(b, trans_b), trans_a=trans_a, trans_b=trans_b)
    # at most twice NumPy's float32 error against the same oracle, plus a little slack
    np_err = np.abs(np.matmul(a, b).astype(np.float64) - expected).max()
    err = np.abs(got.astype(np.float64) - expected).max()
    assert err <= 2 * np_err + 1e-6 * np.sqrt(k), f"error {err} vs NumPy float32 {np_err}"


def test_matmul_layouts_and_dtypes(isa, rng):
    a64 = rng.standard_normal((30, 40))
    b = rng.standard_normal((40, 20)).astype(np.float32)
    assert_close(F.matmul(a64, b), ref.matmul(a64.astype(np.float32), b), rtol=1e-5, atol=1e-5, what="float64 in")
    af = np.asfortranarray(a64.astype(np.float32))  # a transposed view: used in place, flag flipped
    assert_close(F.matmul(af, b), ref.matmul(af, b), rtol=1e-5, atol=1e-5, what="Fortran order")
    assert_close(F.matmul(af, af, trans_b=True), ref.matmul(af, af.T), rtol=1e-5, atol=1e-5, what="F order, trans")
    strided = a64.astype(np.float32)[:, ::2]
    assert_close(F.matmul(strided, b[:20]), ref.matmul(strided, b[:20]), rtol=1e-5, atol=1e-5, what="strided")
    ai = rng.integers(-3, 4, (5, 6))
    np.testing.assert_array_equal(F.matmul(ai, ai.T), ai @ ai.T)
    assert F.matmul(ai, ai.T).dtype == np.float32
    assert F.matmul([[1, 2]], [[3], [4]]).tolist() == [[11.0]]


@pytest.mark.parametrize("m,n,k", [(0, 5, 4), (5, 0, 4), (5, 4, 0), (0, 0, 0)])
def test_matmul_zero_size(backend, m, n, k):
    got = backend.F.matmul(np.ones((m, k), np.float32), np.ones((k, n), np.float32))
    assert got.shape == (m, n)
    np.testing.assert_array_equal(got, np.zeros((m, n), np.float32))
    out = np.full((m, n), 2.0, np.float32)
    backend.F.matmul(np.ones((m, k), np.float32), np.ones((k, n), np.float32), beta=0.5, out=out)
    np.testing.assert_array_equal(out, np.full((m, n), 1.0, np.float32))


def test_matmul_concurrent_python_threads(rng):
    """The GIL is released and packing buffers are per thread: concurrent calls stay correct."""
    pairs = [(ints(rng, (150, 170)), ints(rng, (170, 130))) for _ in range(4)]
    errors = []

    def work(a, b):
        for _ in range(5):
            if not np.array_equal(F.matmul(a, b), a @ b):
                errors.append("mismatch")

    threads = [threading.Thread(target=work, args=p) for p in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# ---- bad input ----


def test_matmul_bad_shapes():
    a, b = np.ones((3, 4), np.float32), np.ones((5, 6), np.float32)
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5, 6\)"):
        F.matmul(a, b)
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(5, 6\)"):
        F.matmul(a.T.copy(), b, trans_a=True)
    with pytest.raises(ValueError, match=r"inner dimensions.*\(4,\).*\(5, 6\)"):
        F.matmul(np.ones(4, np.float32), b)
    with pytest.raises(ValueError, match=r"at least 1-D.*\(\)"):
        F.matmul(np.float32(2.0), b)
    with pytest.raises(ValueError, match=r"batch dimensions \(2,\) and \(3,\).*\(2, 3, 4\).*\(3, 4, 5\)"):
        F.matmul(np.ones((2, 3, 4), np.float32), np.ones((3, 4, 5), np.float32))
    with pytest.raises(ValueError, match=r"batch dimensions \(2, 2\) and \(3,\)"):
        F.matmul(np.ones((2, 2, 3, 4), np.float32), np.ones((3, 4, 5), np.float32))
    with pytest.raises(ValueError, match=r"out: expected shape \(\)"):
        F.matmul(np.ones(4, np.float32), np.ones(4, np.float32), out=np.empty(1, np.float32))
    with pytest.raises(ValueError, match=r"out: expected shape \(3, 6\)"):
        F.matmul(a, np.ones((4, 6), np.float32), out=np.empty((6, 3), np.float32))
    with pytest.raises(ValueError, match="beta"):
        F.matmul(a, np.ones((4, 6), np.float32), beta=1.0)


def test_matmul_out_aliasing_an_input():
    a = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match=r"shares memory with a.*\(4, 4\)"):
        F.matmul(a, np.ones((4, 4), np.float32), out=a)
    big = np.ones((8, 4), np.float32)
    with pytest.raises(ValueError, match=r"shares memory with b.*\(8, 4\)"):
        F.matmul(np.ones((4, 8), np.float32), big, out=big[4:])
    with pytest.raises(ValueError, match="shares memory"):
        F.linear(big, np.ones((4, 4), np.float32), out=big)


def test_bad_dtypes():
    a = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match="complex64"):
        F.matmul(a.astype(np.complex64), np.ones((4, 2), np.float32))
    with pytest.raises(TypeError):
        F.matmul(np.array([["x"]]), a)
    with pytest.raises(TypeError, match="float32"):
        F.matmul(a, np.ones((4, 2), np.float32), out=np.empty((3, 2), np.float64))
    with pytest.raises(TypeError):
        F.matmul(a, np.ones((4, 2), np.float32), alpha="2")


def test_gemm_bench_cases_run():
    """Every row of `fastlayers bench --family gemm` runs; the gradient-accumulating row adds the
    same sums into its buffers as its NumPy counterpart."""
    from fastlayers._bench import gemm as bench
    cases = bench.cases(quick=True)
    assert {"matmul", "linear+bias+relu", "linear_backward", "linear_backward into .grad"} <= {c.op for c in cases}
    for c in cases:
        for fn in (c.ours, c.numpy, c.torch):
            if fn is not None:
                fn()
        if c.op == "linear_backward into .grad":  # each called twice now, from zero
            ours, theirs = c.ours(), c.numpy()
            for name, o, t in zip(("grad_x", "grad_weight", "grad_bias"), ours, theirs):
                assert_close(o, t, rtol=1e-4, atol=1e-2, what=name)
            assert ours[1].any()
