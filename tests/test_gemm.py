"""Tests of the GEMM family: matmul, linear (fused bias + activation), linear_backward.

Small-integer inputs must give exact results (every product and partial sum is an integer
below 2^24), which finds tiling, packing and indexing bugs a tolerance would hide. Sizes are
taken around the current ISA's micro-tile (MR x NR), its K block (KC) and the direct-path
threshold, on the thread counts the machine has."""
from __future__ import annotations

import inspect
import itertools
import threading

import numpy as np
import pytest

import fastlayers
import fastlayers.functional as F
import reference as ref
from fastlayers import _core
from helpers import assert_close, numeric_grad

TRANS = list(itertools.product([False, True], repeat=2))


def ints(rng, shape, lo=-3, hi=4):
    return rng.integers(lo, hi, size=shape).astype(np.float32)


def stored(x, trans):
    """The C-contiguous array whose op() is x (its transpose when trans)."""
    return np.ascontiguousarray(np.swapaxes(x, -1, -2)) if trans else x


def tile_sizes(n_tile):
    """1, tile - 1, tile, tile + 1, several tiles (+ an edge), 97, 129."""
    return sorted({1, max(1, n_tile - 1), n_tile, n_tile + 1, 3 * n_tile + 5, 97, 129})


def blocks():
    return _core.gemm_block_sizes()


@pytest.fixture
def shared_from_2_29(isa):
    """The shared-B path from 2^29 multiply-adds at the test's ISA level, whatever this CPU's
    tuning (Intel AVX-512 starts it at 2^32), so that the shared-path tests' shapes take it;
    restores the level's own setting after."""
    before = _core._gemm_set_shared(-1, 2.0**29)
    yield
    _core._gemm_set_shared(-1, before[1])


@pytest.fixture
def no_swap(isa):
    """A B^T with few rows of A runs unswapped at the test's ISA level (test_matmul_exact_swapped_*
    cover the swapped product); restores the level's setting after."""
    before = _core._gemm_set_swap_max_m(0)
    yield
    _core._gemm_set_swap_max_m(before)


@pytest.fixture(params=["sliver_by_sliver", "rows_outer", "narrow_panels"])
def panel_order(request, isa):
    """Both loop orders of the macro-kernel at the test's ISA level: every packed B panel sliver by
    sliver (rows_outer_panel 0), or row tile by row tile (any panel size; on by default only for
    panels up to 1 MiB on Intel), or row tile by row tile on panels of at most 4 * NR * 512
    floats, which the block path narrows to fit (several panels of the tests' shapes); restores
    the level's setting after."""
    nr = _core.gemm_block_sizes()["nr"]
    limit = {"sliver_by_sliver": 0, "rows_outer": 2**40, "narrow_panels": 4 * nr * 512}[request.param]
    before = _core._gemm_set_rows_outer_panel(limit)
    yield request.param
    _core._gemm_set_rows_outer_panel(before)


# ---- matmul: exact on small integers ----


@pytest.mark.parametrize("trans_a,trans_b", TRANS)
def test_matmul_exact_at_tile_edges(isa, rng, trans_a, trans_b):
    bs = blocks()
    ms, ns = tile_sizes(bs["mr"]), tile_sizes(bs["nr"])
    ks = [1, 7, 8, 9, 97, 129]
    for m, n, k in itertools.product(ms, ns, ks):
        if m * n * k > 129 * 129 * 97 and (m, n) != (129, 129):
            continue  # the largest combinations add time, not coverage
        a, b = ints(rng, (m, k)), ints(rng, (k, n))
        got = F.matmul(stored(a, trans_a), stored(b, trans_b), trans_a=trans_a, trans_b=trans_b)
        np.testing.assert_array_equal(got, a @ b, err_msg=f"{isa} m={m} n={n} k={k} ta={trans_a} tb={trans_b}")


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


def _path_shapes(bs):
    """(m, n, k, trans_b, expected path) crossing MC, NC, KC and the direct-path bounds."""
    mr, nr, mc, kc, nc = bs["mr"], bs["nr"], bs["mc"], bs["kc"], bs["nc"]
    return [
        (2 * mc + mr + 1, 2 * nr + 3, kc + 9, False, "packed"),   # two MC blocks + an edge, two K blocks
        (2 * mc + 1, 2 * nr + 3, max(bs["direct_max_a"] // (2 * mc) + 1, 200), False, "packed"),  # A past the direct bound
        (2 * mr + 1, nc + 17, kc + 5, True, "swapped-packed"),    # few rows of A B^T: C^T = B A^T, two NC blocks of it
        (2 * mc + 1, 2 * nr + 3, kc + 9, True, "packed"),         # trans_b packs B^T, two K blocks
        (3 * mr + 1, nr + 5, 4100, False, "packed"),              # K past the direct bound
        (2 * mc + 1, 2 * nr, 300, False, "direct"),               # few B slivers: direct
        (40, 4 * nr + 1, bs["direct_max_a"] // 40, False, "direct"),  # A rows fit L2: direct
    ]


@pytest.mark.parametrize("trans_a", [False, True])
def test_matmul_exact_on_both_paths(isa, rng, trans_a):
    if isa == "scalar":
        pytest.skip("the reference has no packing or direct path")
    for m, n, k, trans_b, path in _path_shapes(blocks()):
        if trans_a:  # only A B^T (A not transposed) runs swapped
            path = path.removeprefix("swapped-")
        assert _core.gemm_path(m, n, k, trans_a, trans_b) == path, (m, n, k, trans_b)
        a, b = ints(rng, (m, k), -2, 3), ints(rng, (k, n), -2, 3)
        got = F.matmul(stored(a, trans_a), stored(b, trans_b), trans_a=trans_a, trans_b=trans_b)
        np.testing.assert_array_equal(got, a @ b, err_msg=f"{isa} {path} m={m} n={n} k={k} tb={trans_b}")


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_matmul_exact_large_shared_b(isa, rng, threads, shared_from_2_29):
    """Past ~800^3 multiply-adds the threads pack each panel of B together and take row units of
    C from a counter (the "shared" path); one thread runs the grid's single block."""
    if isa == "scalar":
        pytest.skip("a 2^29 multiply-add product is slow on the reference")
    bs = blocks()
    before = fastlayers.get_num_threads()
    fastlayers.set_num_threads(threads)
    try:
        plan = _core.gemm_plan(1031, 1013, 520, False, False)
        if threads == 1:
            assert plan == {"path": "packed", "threads": 1, "blocks": 1}
        else:
            rows = min(bs["mc"], -(-(-(-1031 // (4 * threads))) // bs["mr"]) * bs["mr"])
            assert plan == {"path": "shared", "threads": threads, "blocks": -(-1031 // rows)}
        a, b = ints(rng, (1031, 520), -2, 3), ints(rng, (520, 1013), -2, 3)
        np.testing.assert_array_equal(F.matmul(a, b), a @ b)
        np.testing.assert_array_equal(F.matmul(a, stored(b, True), trans_b=True), a @ b)
    finally:
        fastlayers.set_num_threads(before)


@pytest.mark.parametrize("pack_rows_shared", [False, True])
@pytest.mark.parametrize("trans_a,trans_b", TRANS)
def test_matmul_exact_shared_b_across_panels(isa, rng, trans_a, trans_b, pack_rows_shared, shared_from_2_29, no_swap,
                                             panel_order):
    """The shared path over several K blocks (each row unit waits for its previous K block) and
    NC panels (the two B buffers are packed over in turn), in both loop orders of the
    macro-kernel (panel_order), with row edges, alpha/beta and the
    fused bias + relu; A packed when transposed, at a row stride of pack_rows_lda_shared, or at any
    stride with pack_rows_shared (off by default on every CPU so far), else read in place."""
    if isa == "scalar":
        pytest.skip("2^29 multiply-add products are slow on the reference")
    if pack_rows_shared and trans_a:
        pytest.skip("transposed A is packed either way")
    before_p = _core._gemm_set_shared(int(pack_rows_shared), -1)[0]
    bs = blocks()
    n2 = bs["nc"] + 3 * bs["nr"] + 5                       # two NC panels
    shapes = [(601, bs["nc"] // 2 + 37, 2 * bs["kc"] + 211),  # three K blocks
              (2**29 // (n2 * 2 * bs["kc"]) + 7, n2, 2 * bs["kc"] + 3)]  # 2 x 3 panels
    before = fastlayers.get_num_threads()
    try:
        assert bs["pack_rows_shared"] == pack_rows_shared
        for m, n, k in shapes:
            a, b, c = ints(rng, (m, k), -2, 3), ints(rng, (k, n), -2, 3), ints(rng, (m, n), -2, 3)
            A, B, ab = stored(a, trans_a), stored(b, trans_b), a @ b
            for threads in (2, 3):
                fastlayers.set_num_threads(threads)
                assert _core.gemm_plan(m, n, k, trans_a, trans_b)["path"] == "shared", (m, n, k)
                err = f"{isa} {m}x{n}x{k} ta={trans_a} tb={trans_b} threads={threads}"
                out = c.copy()
                F.matmul(A, B, trans_a=trans_a, trans_b=trans_b, alpha=2.0, beta=-1.0, out=out)
                np.testing.assert_array_equal(out, 2 * ab - c, err_msg=err)
                if not trans_a and not trans_b and bs["pack_rows_lda_shared"]:
                    lda = -(-k // bs["pack_rows_lda_shared"]) * bs["pack_rows_lda_shared"]
                    buf = np.zeros((m, lda), np.float32)
                    buf[:, :k] = a
                    np.testing.assert_array_equal(F.matmul(buf[:, :k], b), ab, err_msg=err + " lda")
                if not trans_a and trans_b:  # linear: weight (out, in) is op(B) stored transposed
                    bias = ints(rng, (n,), -2, 3)
                    np.testing.assert_array_equal(F.linear(a, B, bias, activation="relu"),
                                                  np.maximum(ab + bias, 0), err_msg=err + " linear")
    finally:
        fastlayers.set_num_threads(before)
        _core._gemm_set_shared(int(before_p), -1)


def test_matmul_shared_b_from_concurrent_callers(isa, rng, shared_from_2_29):
    """Two Python threads multiplying at once: the one that finds the pool busy runs every range
    of the shared path itself, one after another, and must neither wait forever nor go wrong."""
    if isa == "scalar":
        pytest.skip("2^29 multiply-add products are slow on the reference")
    m, n, k = 1031, 1013, 520
    a, b = ints(rng, (m, k), -2, 3), ints(rng, (k, n), -2, 3)
    want = a @ b
    before = fastlayers.get_num_threads()
    fastlayers.set_num_threads(2)
    bad, errors = [], []

    def work():
        try:
            for _ in range(3):
                if not np.array_equal(F.matmul(a, b), want):
                    bad.append(1)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    try:
        assert _core.gemm_plan(m, n, k, False, False)["path"] == "shared"
        ts = [threading.Thread(target=work) for _ in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in ts), "a matmul hung"
        assert not errors and not bad
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


@pytest.mark.parametrize("threads", [1, 2])
def test_matmul_exact_packed_rows_of_a(isa, rng, threads):
    """A with rows a multiple of pack_rows_lda_blocks apart is packed on the block path (not read
    in place): row edges, K blocks whose length is not a multiple of 4 (the hand-scheduled
    four-step groups and their remainder), column edges. The rule is set to 1024 floats here,
    whatever this CPU's tuning (AVX2 packs at it, AVX-512 on Intel never on this path)."""
    if isa == "scalar":
        pytest.skip("the reference packs nothing")
    lda = 1024
    before_lda = _core._gemm_set_pack_rows_lda(lda, -1)
    bs = blocks()
    before = fastlayers.get_num_threads()
    fastlayers.set_num_threads(threads)
    try:
        assert bs["pack_rows_lda_blocks"] == lda
        nr = bs["nr"]  # N past 2 NR, where narrow products go direct whatever their A
        for m, k, n in [(103, 998, max(50, 2 * nr + 2)), (600, 130, max(70, 2 * nr + 22)), (bs["mc"] + 7, lda, 2 * nr + 5),
                        (97, 3, 129)]:
            buf = ints(rng, (m, max(lda, k)), -2, 3)
            a = buf[:, :k]  # rows lda floats apart
            assert a.strides[0] == 4 * buf.shape[1] and buf.shape[1] % lda == 0
            b = ints(rng, (k, n), -2, 3)
            if m * k > bs["direct_max_a"] and m * n * k > 96**3 and n > 2 * nr:  # past every direct-path rule
                assert _core.gemm_path(m, n, k, False, False) == "packed", (m, n, k)
            np.testing.assert_array_equal(F.matmul(a, b), a @ b, err_msg=f"{isa} {m}x{n}x{k} threads={threads}")
            bias = ints(rng, (n,), -2, 3)
            np.testing.assert_array_equal(F.linear(a, np.ascontiguousarray(b.T), bias, activation="relu"),
                                          np.maximum(a @ b + bias, 0), err_msg=f"{isa} linear {m}x{n}x{k}")
    finally:
        fastlayers.set_num_threads(before)
        _core._gemm_set_pack_rows_lda(before_lda[0], -1)


@pytest.mark.parametrize("pack_rows_blocks", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_matmul_exact_block_path_a_packed_or_in_place(isa, rng, pack_rows_blocks, threads, panel_order):
    """The per-thread block path with contiguous A read in place and packed at any stride
    (pack_rows_blocks, off by default on every CPU so far), in both loop orders (panel_order): row
    edges of MR (packed panels zero-padded), K blocks, column edges, alpha/beta, the fused bias +
    relu, and tanh on the finished tiles."""
    bs = blocks()
    if not bs["blocked"]:
        pytest.skip("the reference has no packing")
    mr, nr, mc, kc = bs["mr"], bs["nr"], bs["mc"], bs["kc"]
    before_t, before_p = fastlayers.get_num_threads(), _core._gemm_set_pack_rows_blocks(pack_rows_blocks)
    fastlayers.set_num_threads(threads)
    try:
        assert _core.gemm_block_sizes()["pack_rows_blocks"] == pack_rows_blocks
        for m, n, k in [(2 * mc + mr + 3, 2 * nr + 7, 301), (3 * mr + 1, 7 * nr + 1, kc + 37), (mc - 1, 4 * nr, 2 * kc + 9),
                        (3 * mc + 5, 8 * nr + 3, 4 * mr + 3)]:
            if m * k <= bs["direct_max_a"]:
                k = bs["direct_max_a"] // m + 3  # past the direct path's bound on A
            a, b, c = ints(rng, (m, k), -2, 3), ints(rng, (k, n), -2, 3), ints(rng, (m, n), -2, 3)
            assert _core.gemm_path(m, n, k, False, False) == "packed", (m, n, k)
            err = f"{isa} {m}x{n}x{k} threads={threads} pack_rows_blocks={pack_rows_blocks}"
            out = c.copy()
            F.matmul(a, b, alpha=2.0, beta=-1.0, out=out)
            np.testing.assert_array_equal(out, 2 * (a @ b) - c, err_msg=err)
            buf = ints(rng, (m, k + 5), -2, 3)  # rows k + 5 floats apart
            np.testing.assert_array_equal(F.matmul(buf[:, :k], b), buf[:, :k] @ b, err_msg=err + " lda")
            bias = ints(rng, (n,), -2, 3)
            np.testing.assert_array_equal(F.linear(a, np.ascontiguousarray(b.T), bias, activation="relu"),
                                          np.maximum(a @ b + bias, 0), err_msg=err + " linear")
            want = np.tanh(a.astype(np.float64) @ b + bias)
            assert_close(F.linear(a, np.ascontiguousarray(b.T), bias, activation="tanh"), want, 2e-6, 2e-6)
    finally:
        fastlayers.set_num_threads(before_t)
        _core._gemm_set_pack_rows_blocks(before_p)


def test_thread_plan(isa):
    """Small products stay on one thread; larger ones use every thread, one block each."""
    if isa == "scalar":
        pytest.skip("the reference runs on one thread")
    before = fastlayers.get_num_threads()
    fastlayers.set_num_threads(2)
    try:
        assert _core.gemm_plan(48, 48, 48, False, False)["threads"] == 1
        assert _core.gemm_plan(64, 64, 64, False, False)["threads"] == 2
        assert _core.gemm_plan(300, 300, 300, False, False) == {"path": "packed", "threads": 2, "blocks": 2}
        assert _core.gemm_plan(256, 512, 784, False, True)["threads"] == 2
        assert _core.gemm_plan(4, 4096, 4096, False, True) == {"path": "dot", "threads": 2, "blocks": 2}
    finally:
        fastlayers.set_num_threads(before)


def test_matmul_exact_dot_path(isa, rng):
    """A B^T with few rows of A (linear on a small batch) reads B in place along K."""
    for m, n, k in itertools.product([1, 2, 3, 4, 5, 8, 9], [1, 3, 4, 5, 17, 33], [1, 7, 16, 17, 100]):
        if isa != "scalar" and m <= 8:
            assert _core.gemm_path(m, n, k, False, True) == "dot"
        a, b = ints(rng, (m, k)), ints(rng, (n, k))
        np.testing.assert_array_equal(F.matmul(a, b, trans_b=True), a @ b.T, err_msg=f"{isa} m={m} n={n} k={k}")
        bias = ints(rng, (n,))
        np.testing.assert_array_equal(F.linear(a, b, bias, "relu"), np.maximum(a @ b.T + bias, 0))
    c = ints(rng, (3, 40))
    out = c.copy()
    a, b = ints(rng, (3, 50)), ints(rng, (40, 50))
    F.matmul(a, b, trans_b=True, alpha=2.0, beta=-1.0, out=out)
    np.testing.assert_array_equal(out, 2 * (a @ b.T) - c)
    if isa != "scalar":
        assert _core.gemm_path(8, 512, 784, False, True) == "dot"
        assert _core.gemm_path(9, 512, 784, False, True) == "swapped-packed"


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_matmul_exact_swapped_path(isa, rng, threads):
    """A B^T with few rows of A (linear on a small batch) runs as C^T = B A^T with its tiles stored
    transposed: row and column edges of the tile (ROWS below 8, widths not a multiple of 8), K
    blocks (the later ones accumulate onto C read transposed), alpha and beta, bias + relu, other
    activations against a float64 oracle, a 3-D x, and NaN through the fused relu."""
    if isa == "scalar":
        pytest.skip("the reference has no swapped path")
    bs = blocks()
    before = fastlayers.get_num_threads()
    fastlayers.set_num_threads(threads)
    try:
        shapes = [(9, 4 * 9, 256), (13, 101, 300), (64, 512, 784), (33, 4 * 33 + 5, bs["kc"] + 37),
                  (bs["swap_max_m"], 4 * bs["swap_max_m"] + 3, 2 * bs["kc"] + 11)]
        for m, n, k in shapes:
            err = f"{isa} threads={threads} {m}x{n}x{k}"
            assert _core.gemm_path(m, n, k, False, True) == "swapped-packed", err
            a, w, bias = ints(rng, (m, k), -2, 3), ints(rng, (n, k), -2, 3), ints(rng, (n,), -3, 4)
            ab = a @ w.T
            np.testing.assert_array_equal(F.matmul(a, w, trans_b=True), ab, err_msg=err)
            np.testing.assert_array_equal(F.linear(a, w, bias, activation="relu"), np.maximum(ab + bias, 0), err_msg=err)
            c = ints(rng, (m, n), -2, 3)
            out = c.copy()
            F.matmul(a, w, trans_b=True, alpha=2.0, beta=-1.0, out=out)
            np.testing.assert_array_equal(out, 2 * ab - c, err_msg=err + " alpha/beta")
            x, wf = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((n, k)).astype(np.float32)
            want = np.tanh(x.astype(np.float64) @ wf.T.astype(np.float64) + bias)
            np.testing.assert_allclose(F.linear(x, wf, bias, activation="tanh"), want, rtol=1e-4, atol=1e-4, err_msg=err)
        m, n, k = 24, 200, 300  # x of shape (2, 12, k): 24 rows
        a, w = ints(rng, (2, 12, k), -2, 3), ints(rng, (n, k), -2, 3)
        assert _core.gemm_path(m, n, k, False, True) == "swapped-packed"
        np.testing.assert_array_equal(F.linear(a, w, None, activation="relu"), np.maximum(a @ w.T, 0))
        a[1, 3, 7] = np.nan
        got = F.linear(a, w, None, activation="relu")
        assert np.isnan(got[1, 3]).all() and not np.isnan(got[0]).any() and not np.isnan(np.delete(got[1], 3, 0)).any()
    finally:
        fastlayers.set_num_threads(before)


def test_matmul_exact_swapped_shared_path(isa, rng, shared_from_2_29):
    """The swapped product (C^T = B A^T) large enough for the shared-B path, which then stores
    transposed tiles too."""
    if isa == "scalar":
        pytest.skip("2^29 multiply-add products are slow on the reference")
    m, n, k = 100, 5 * 1031, 1100
    before = fastlayers.get_num_threads()
    fastlayers.set_num_threads(2)
    try:
        assert _core.gemm_path(m, n, k, False, True) == "swapped-shared"
        a, w, bias = ints(rng, (m, k), -2, 3), ints(rng, (n, k), -2, 3), ints(rng, (n,), -3, 4)
        np.testing.assert_array_equal(F.linear(a, w, bias, activation="relu"), np.maximum(a @ w.T + bias, 0))
    finally:
        fastlayers.set_num_threads(before)


@pytest.mark.parametrize("m,n,k", [(13, 21, 19), (129, 97, 300)])
def test_matmul_alpha_beta(isa, rng, m, n, k):
    a, b, c = ints(rng, (m, k)), ints(rng, (k, n)), ints(rng, (m, n))
    out = np.full((m, n), np.nan, np.float32)  # beta == 0: C is not read, NaN included (BLAS)
    F.matmul(a, b, alpha=2.0, out=out)
    np.testing.assert_array_equal(out, 2 * (a @ b))
    out[...] = c
    F.matmul(a, b, alpha=-1.0, beta=3.0, out=out)
    np.testing.assert_array_equal(out, ref.matmul(a, b, alpha=-1.0, beta=3.0, c=c))
    out[...] = c
    F.matmul(stored(a, True), b, trans_a=True, alpha=0.5, beta=-2, out=out)
    np.testing.assert_array_equal(out, ref.matmul(a, b, alpha=0.5, beta=-2.0, c=c))


def test_matmul_nan_and_inf_propagate(isa, rng):
    a, b = ints(rng, (20, 30)), ints(rng, (30, 40))
    a[3, 5] = np.nan
    b[7, 11] = np.inf
    got = F.matmul(a, b)
    with np.errstate(invalid="ignore"):
        expected = ref.matmul(a, b)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(got[~np.isnan(got)], expected[~np.isnan(expected)])


@pytest.mark.parametrize("shape_a,shape_b", [((4, 6, 5), (5, 7)), ((4, 6, 5), (1, 5, 7)), ((6, 5), (3, 5, 7)),
                                             ((1, 6, 5), (3, 5, 7)), ((3, 6, 5), (3, 5, 7)),
                                             ((5, 70, 90), (90, 60)), ((2, 200, 130), (2, 130, 150)),
                                             ((3, 200, 130), (130, 150)), ((9, 33, 17), (9, 17, 40))])
@pytest.mark.parametrize("trans_a,trans_b", TRANS)
def test_matmul_batched_broadcast(isa, rng, shape_a, shape_b, trans_a, trans_b):
    a, b = ints(rng, shape_a), ints(rng, shape_b)
    got = F.matmul(stored(a, trans_a), stored(b, trans_b), trans_a=trans_a, trans_b=trans_b)
    np.testing.assert_array_equal(got, ref.matmul(a, b))


def test_matmul_batched_out_and_beta(isa, rng):
    a, b, c = ints(rng, (3, 9, 11)), ints(rng, (11, 13)), ints(rng, (3, 9, 13))
    out = c.copy()
    r = F.matmul(a, b, alpha=2.0, beta=1.0, out=out)
    assert r is out
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
def test_matmul_random_against_float64(isa, rng, m, n, k, trans_a, trans_b):
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    expected = ref.matmul(a, b)
    got = F.matmul(stored(a, trans_a), stored(b, trans_b), trans_a=trans_a, trans_b=trans_b)
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
def test_matmul_zero_size(isa, m, n, k):
    got = F.matmul(np.ones((m, k), np.float32), np.ones((k, n), np.float32))
    assert got.shape == (m, n)
    np.testing.assert_array_equal(got, np.zeros((m, n), np.float32))
    out = np.full((m, n), 2.0, np.float32)
    F.matmul(np.ones((m, k), np.float32), np.ones((k, n), np.float32), beta=0.5, out=out)
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


# ---- linear ----

ACTIVATIONS = [None, "relu", "leaky_relu", ("leaky_relu", 0.2), "elu", ("elu", 0.5), "gelu", ("gelu", "tanh"),
               "sigmoid", "tanh"]


def _oracle_act(activation):
    if activation is None or isinstance(activation, str):
        name, param = activation, {"leaky_relu": 0.1, "elu": 1.0}.get(activation)
    else:
        name, param = activation
    if name == "gelu":
        return lambda y: ref.gelu(y, param or "none")
    return lambda y: ref._LINEAR_ACTS[name](y) if param is None else ref._LINEAR_ACTS[name](y, param)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("m,k,n", [(5, 37, 23), (64, 1100, 100)])
def test_linear_matches_oracle(isa, rng, activation, m, k, n):
    x = rng.standard_normal((m, k), dtype=np.float32)
    w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)
    bias = rng.standard_normal(n, dtype=np.float32)
    got = F.linear(x, w, bias, activation)
    expected = _oracle_act(activation)(ref.linear(x, w, bias))
    assert_close(got, expected, rtol=2e-5, atol=2e-5, what=str(activation))
    if activation is None:
        assert_close(F.linear(x, w), ref.linear(x, w), rtol=2e-5, atol=2e-5, what="no bias")


def test_linear_exact_bias_relu_at_tile_edges(isa, rng):
    bs = blocks()
    for m, n in itertools.product(tile_sizes(bs["mr"]), tile_sizes(bs["nr"])):
        x, w, bias = ints(rng, (m, 19)), ints(rng, (n, 19)), ints(rng, (n,))
        got = F.linear(x, w, bias, "relu")
        np.testing.assert_array_equal(got, np.maximum(x @ w.T + bias, 0), err_msg=f"{isa} m={m} n={n}")


def test_linear_shapes_and_out(isa, rng):
    w, bias = ints(rng, (6, 4)), ints(rng, (6,))
    x1 = ints(rng, (4,))
    np.testing.assert_array_equal(F.linear(x1, w, bias), w @ x1 + bias)
    x3 = ints(rng, (2, 3, 4))
    out = np.empty((2, 3, 6), np.float32)
    assert F.linear(x3, w, bias, "relu", out=out) is out
    np.testing.assert_array_equal(out, np.maximum(x3 @ w.T + bias, 0))
    # in_features == 0: the output is the bias, through the activation
    np.testing.assert_array_equal(F.linear(np.ones((3, 0), np.float32), np.ones((2, 0), np.float32),
                                           np.array([-1, 2], np.float32), "relu"), [[0, 2]] * 3)


def test_linear_fortran_order_weight(isa, rng):
    """A weight that is the transpose of an (in, out) array is read in place (trans_b off)."""
    x, wt, bias = ints(rng, (70, 33)), ints(rng, (33, 130)), ints(rng, (130,))
    w = wt.T  # (out, in), Fortran order
    assert w.flags.f_contiguous and not w.flags.c_contiguous
    np.testing.assert_array_equal(F.linear(x, w, bias, "relu"), np.maximum(x @ wt + bias, 0))
    with pytest.raises(ValueError, match=r"\(130, 33\)"):
        F.linear(ints(rng, (4, 34)), w)


def test_linear_relu_keeps_nan(isa):
    x = np.array([[np.nan, 1.0], [1.0, 1.0]], np.float32)
    got = F.linear(x, np.ones((3, 2), np.float32), None, "relu")
    assert np.isnan(got[0]).all() and (got[1] == 2).all()


def test_per_row_bias_native(isa, rng):
    """bias_mode 2 (one value per row of C, as convolution uses it) through the native entry."""
    a, b, bias = ints(rng, (37, 29)), ints(rng, (29, 53)), ints(rng, (37,))
    out = np.empty((37, 53), np.float32)
    _core.gemm(out, a, b, 1, 37, 53, 29, False, False, False, False, 1.0, 0.0, bias, 2, 2, 0.0)
    np.testing.assert_array_equal(out, np.maximum(a @ b + bias[:, None], 0))


# ---- linear_backward ----


def test_linear_backward_matches_oracle(isa, rng):
    x = rng.standard_normal((3, 40, 131), dtype=np.float32)
    w = rng.standard_normal((70, 131), dtype=np.float32)
    g = rng.standard_normal((3, 40, 70), dtype=np.float32)
    gx, gw, gb = F.linear_backward(g, x, w)
    ex, ew, eb = ref.linear_backward(g, x, w)
    assert_close(gx, ex, rtol=1e-4, atol=1e-4, what="grad_x")
    assert_close(gw, ew, rtol=1e-4, atol=1e-4, what="grad_weight")
    assert_close(gb, eb, rtol=1e-4, atol=1e-4, what="grad_bias")
    assert F.linear_backward(g, x, w, need_bias=False)[2] is None


def test_linear_backward_exact(isa, rng):
    x, w, g = ints(rng, (33, 57)), ints(rng, (49, 57)), ints(rng, (33, 49))
    gx, gw, gb = F.linear_backward(g, x, w)
    np.testing.assert_array_equal(gx, g @ w)
    np.testing.assert_array_equal(gw, g.T @ x)
    np.testing.assert_array_equal(gb, g.sum(axis=0))


def test_linear_backward_finite_difference(rng):
    x = rng.standard_normal((3, 4))
    w = rng.standard_normal((5, 4))
    b = rng.standard_normal(5)
    g = rng.standard_normal((3, 5))
    gx, gw, gb = F.linear_backward(g, x, w)
    assert_close(gx, numeric_grad(lambda v: v @ w.T + b, x, g), rtol=1e-3, atol=1e-3, what="grad_x")
    assert_close(gw, numeric_grad(lambda v: x @ v.T + b, w, g), rtol=1e-3, atol=1e-3, what="grad_weight")
    assert_close(gb, numeric_grad(lambda v: x @ w.T + v, b, g), rtol=1e-3, atol=1e-3, what="grad_bias")


def test_linear_backward_accumulates_in_place(isa, rng):
    """grad_weight / grad_bias given: the gradients are added into them (the weight GEMM runs
    with beta = 1 on grad_weight) and they are returned; need_input=False skips grad_x."""
    x, w, g = ints(rng, (3, 11, 57)), ints(rng, (49, 57)), ints(rng, (3, 11, 49))
    g2, x2 = g.reshape(-1, 49), x.reshape(-1, 57)
    gw0, gb0 = ints(rng, (49, 57)), ints(rng, (49,))
    into_w, into_b = gw0.copy(), gb0.copy()
    gx, gw, gb = F.linear_backward(g, x, w, grad_weight=into_w, grad_bias=into_b)
    assert gw is into_w and gb is into_b
    np.testing.assert_array_equal(gx, g @ w)
    np.testing.assert_array_equal(gw, gw0 + g2.T @ x2)
    np.testing.assert_array_equal(gb, gb0 + g2.sum(axis=0))
    gx, gw, gb = F.linear_backward(g, x, w, need_input=False, need_bias=False, grad_weight=into_w)
    assert gx is None and gb is None and gw is into_w
    np.testing.assert_array_equal(gw, gw0 + 2 * (g2.T @ x2))
    # a large product (the packed and shared paths' beta = 1) against a float64 oracle
    x, w, g = (rng.standard_normal(s, dtype=np.float32) for s in ((300, 700), (650, 700), (300, 650)))
    base = rng.standard_normal((650, 700), dtype=np.float32)
    into = base.copy()
    F.linear_backward(g, x, w, need_input=False, grad_weight=into)
    assert_close(into, base.astype(np.float64) + g.astype(np.float64).T @ x, rtol=1e-4, atol=1e-3, what="grad_weight")


def test_linear_backward_accumulate_bad_input(rng):
    x, w, g = (np.ones(s, np.float32) for s in ((4, 3), (2, 3), (4, 2)))
    with pytest.raises(ValueError, match=r"grad_weight: expected shape \(2, 3\), got \(3, 2\)"):
        F.linear_backward(g, x, w, grad_weight=np.zeros((3, 2), np.float32))
    with pytest.raises(TypeError, match="grad_weight: expected dtype float32, got float64"):
        F.linear_backward(g, x, w, grad_weight=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="grad_weight: expected a C-contiguous array"):
        F.linear_backward(g, x, w, grad_weight=np.zeros((3, 2), np.float32).T)
    with pytest.raises(ValueError, match=r"grad_bias: expected shape \(2,\), got \(3,\)"):
        F.linear_backward(g, x, w, grad_bias=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="grad_bias: given with need_bias=False"):
        F.linear_backward(g, x, w, need_bias=False, grad_bias=np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="grad_weight: shares memory with an input"):
        F.linear_backward(g, x, w, grad_weight=w)
    buf = np.zeros(8, np.float32)
    with pytest.raises(ValueError, match="grad_bias: shares memory with grad_weight"):
        F.linear_backward(g, x, w, grad_weight=buf[:6].reshape(2, 3), grad_bias=buf[4:6])


# ---- PyTorch parity ----

_TORCH_ACTS = {None: lambda t, y: y, "relu": lambda t, y: t.relu(y),
               "leaky_relu": lambda t, y: t.nn.functional.leaky_relu(y, 0.1), "elu": lambda t, y: t.nn.functional.elu(y),
               "gelu": lambda t, y: t.nn.functional.gelu(y), "sigmoid": lambda t, y: t.sigmoid(y),
               "tanh": lambda t, y: t.tanh(y)}


@pytest.mark.parametrize("activation", list(_TORCH_ACTS))
def test_linear_against_torch(torch, rng, activation):
    x = rng.standard_normal((8, 5, 96), dtype=np.float32)
    w = (rng.standard_normal((50, 96)) / 10).astype(np.float32)
    bias = rng.standard_normal(50, dtype=np.float32)
    expected = _TORCH_ACTS[activation](torch, torch.nn.functional.linear(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(bias))).numpy()
    assert_close(F.linear(x, w, bias, activation), expected, rtol=1e-5, atol=1e-5, what=str(activation))


def test_linear_backward_against_torch(torch, rng):
    x = torch.from_numpy(rng.standard_normal((4, 6, 33), dtype=np.float32)).requires_grad_()
    w = torch.from_numpy(rng.standard_normal((21, 33), dtype=np.float32)).requires_grad_()
    b = torch.from_numpy(rng.standard_normal(21, dtype=np.float32)).requires_grad_()
    g = rng.standard_normal((4, 6, 21), dtype=np.float32)
    torch.nn.functional.linear(x, w, b).backward(torch.from_numpy(g))
    gx, gw, gb = F.linear_backward(g, x.detach().numpy(), w.detach().numpy())
    assert_close(gx, x.grad.numpy(), rtol=1e-5, atol=1e-5, what="grad_x")
    assert_close(gw, w.grad.numpy(), rtol=1e-5, atol=1e-5, what="grad_weight")
    assert_close(gb, b.grad.numpy(), rtol=1e-5, atol=1e-5, what="grad_bias")


# ---- bad input ----


def test_matmul_bad_shapes():
    a, b = np.ones((3, 4), np.float32), np.ones((5, 6), np.float32)
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5, 6\)"):
        F.matmul(a, b)
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(5, 6\)"):
        F.matmul(a.T.copy(), b, trans_a=True)
    with pytest.raises(ValueError, match=r"2-D or 3-D.*\(4,\).*\(5, 6\)"):
        F.matmul(np.ones(4, np.float32), b)
    with pytest.raises(ValueError, match=r"2-D or 3-D.*\(1, 2, 3, 4\)"):
        F.matmul(a, np.ones((1, 2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"batch sizes 2 and 3.*\(2, 3, 4\).*\(3, 4, 5\)"):
        F.matmul(np.ones((2, 3, 4), np.float32), np.ones((3, 4, 5), np.float32))
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


def test_linear_bad_input():
    x, w = np.ones((3, 4), np.float32), np.ones((5, 4), np.float32)
    with pytest.raises(ValueError, match=r"\(3, 7\).*\(5, 4\)"):
        F.linear(np.ones((3, 7), np.float32), w)
    with pytest.raises(ValueError, match=r"weight.*\(4,\)"):
        F.linear(x, np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"bias: expected shape \(5,\).*\(4,\)"):
        F.linear(x, w, np.ones(4, np.float32))
    with pytest.raises(ValueError, match="activation"):
        F.linear(x, w, None, "softplus")
    with pytest.raises(ValueError, match="takes no parameter"):
        F.linear(x, w, None, ("relu", 0.3))
    with pytest.raises(TypeError, match="activation"):
        F.linear(x, w, None, 3)
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(3, 5\).*\(3, 4\)"):
        F.linear_backward(np.ones((3, 4), np.float32), x, w)
    with pytest.raises(ValueError, match=r"x: expected shape \(\.\.\., 4\).*\(3, 6\)"):
        F.linear_backward(np.ones((3, 5), np.float32), np.ones((3, 6), np.float32), w)


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
