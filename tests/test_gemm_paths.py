"""Tests of the GEMM driver's paths: the direct and packed block paths (A packed or read in
place, both loop orders of the macro-kernel), the shared-B path (threads packing B together),
the dot and swapped (C^T = B A^T) paths for few rows of A B^T, the thread plan, the per-row bias
of the native entry, and the tuning hooks (_core._gemm_set_*) that steer a shape onto a path.

All on small integers, where results must be exact. Sizes are taken around the current ISA's
micro-tile (MR x NR), its K block (KC) and the direct-path threshold, on the thread counts the
machine has."""
from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

import fastlayers
import fastlayers.functional as F
from fastlayers import _core
from gemm_cases import TRANS, blocks, ints, stored
from helpers import assert_close


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


# ---- the direct, packed and shared paths, the dot and swapped paths ----


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


# ---- the native entry ----


def test_per_row_bias_native(isa, rng):
    """GemmBias.per_row (one value per row of C, as convolution uses it) through the native entry."""
    a, b, bias = ints(rng, (37, 29)), ints(rng, (29, 53)), ints(rng, (37,))
    out = np.empty((37, 53), np.float32)
    _core.gemm(out, a, b, 1, 37, 53, 29, False, False, False, False, 1.0, 0.0, bias, _core.GemmBias.per_row,
               _core.ActOp.relu, 0.0)
    np.testing.assert_array_equal(out, np.maximum(a @ b + bias[:, None], 0))
