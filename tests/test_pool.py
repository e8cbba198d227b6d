"""Pool family: max/avg/adaptive/global pooling, forward and backward, on every ISA level,
against float64 oracles (tests/reference.py), finite differences and PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers
import fastlayers.functional as F
from fastlayers import nn
import reference as ref
from helpers import assert_close, numeric_grad

# (H, W, kernel, stride, padding, dilation, ceil_mode): strides 1, 2, 3 (the vector paths
# and the scalar one), padding, dilation, ceil_mode, odd sizes 1, 7, 59, windows at the edges.
MAX_CASES = [
    (56, 56, (2, 2), (2, 2), (0, 0), (1, 1), False),
    (7, 7, (3, 3), (2, 2), (1, 1), (1, 1), False),
    (7, 59, (3, 3), (1, 1), (1, 1), (1, 1), False),
    (59, 7, (2, 3), (2, 1), (1, 0), (2, 1), True),
    (9, 40, (3, 3), (3, 3), (1, 1), (1, 1), True),
    (1, 59, (1, 3), (1, 2), (0, 1), (1, 2), False),
    (8, 37, (2, 4), (2, 2), (0, 2), (1, 1), True),
    (1, 1, (1, 1), (1, 1), (0, 0), (1, 1), False),
    # 2 x 2 stride 2 (the vector backward): odd last row and column; Q = 17 (a one-lane tail)
    (7, 9, (2, 2), (2, 2), (0, 0), (1, 1), False),
    (5, 35, (2, 2), (2, 2), (0, 0), (1, 1), False),
]
AVG_CASES = [
    (56, 56, (2, 2), (2, 2), (0, 0), False),
    (7, 7, (3, 3), (2, 2), (1, 1), False),
    (7, 59, (3, 3), (1, 1), (1, 1), True),
    (59, 7, (2, 3), (2, 1), (1, 1), True),
    (9, 40, (4, 4), (3, 3), (2, 2), True),
    (1, 1, (1, 1), (1, 1), (0, 0), False),
]


def small_ints(rng, shape):
    return rng.integers(-8, 9, size=shape).astype(np.float32)


def distinct(rng, shape):
    """Values without ties, so the winner of every window is unique."""
    return rng.permutation(np.prod(shape)).reshape(shape).astype(np.float32) / 7


@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool2d_exact(backend, rng, case):
    H, W, k, s, p, d, cm = case
    x = small_ints(rng, (2, 3, H, W))
    y, idx = backend.F.max_pool2d(x, k, s, p, d, cm, return_indices=True)
    ey, eidx = ref.max_pool2d(x, k, s, p, d, cm)
    np.testing.assert_array_equal(y, ey)
    # ties: any winner holding the maximum is right; with distinct values it is unique
    xd = distinct(rng, (2, 3, H, W))
    yd, idxd = backend.F.max_pool2d(xd, k, s, p, d, cm, return_indices=True)
    eyd, eidxd = ref.max_pool2d(xd, k, s, p, d, cm)
    np.testing.assert_array_equal(yd, eyd)
    np.testing.assert_array_equal(idxd, eidxd)
    assert np.array_equal(np.take_along_axis(x.reshape(2, 3, -1), idx.reshape(2, 3, -1), -1).reshape(y.shape), y)
    # backward: dx[idx] += dy, exactly
    g = small_ints(rng, y.shape)
    dx = backend.F.max_pool2d_backward(g, idxd, xd.shape)
    expect = np.zeros((6, H * W))
    np.add.at(expect, (np.arange(6)[:, None], eidxd.reshape(6, -1)), g.reshape(6, -1))
    np.testing.assert_array_equal(dx, expect.reshape(xd.shape))


@pytest.mark.parametrize("case", AVG_CASES)
@pytest.mark.parametrize("cip", [True, False])
def test_avg_pool2d_oracle(backend, rng, case, cip):
    H, W, k, s, p, cm = case
    x = small_ints(rng, (2, 3, H, W))
    y = backend.F.avg_pool2d(x, k, s, p, cm, cip)
    assert_close(y, ref.avg_pool2d(x, k, s, p, cm, cip), rtol=1e-6, atol=0)
    y = backend.F.avg_pool2d(x, k, s, p, cm, cip, divisor_override=3)
    assert_close(y, ref.avg_pool2d(x, k, s, p, cm, cip, 3), rtol=1e-6, atol=0)


def test_avg_pool2d_backward_numeric(rng):
    x = rng.standard_normal((1, 2, 5, 6))
    g = rng.standard_normal((1, 2, 3, 4))
    args = ((3, 2), (2, 2), (1, 1), True, False)
    dx = F.avg_pool2d_backward(g, x.shape, *args)
    num = numeric_grad(lambda v: ref.avg_pool2d(v, *args[:-1], count_include_pad=False), x, g)
    assert_close(dx, num, rtol=1e-5, atol=1e-5)


def test_max_pool2d_backward_numeric(rng):
    x = distinct(rng, (1, 2, 5, 7)).astype(np.float64)
    y, idx = F.max_pool2d(x, 3, 2, 1, return_indices=True)
    g = rng.standard_normal(y.shape)
    num = numeric_grad(lambda v: ref.max_pool2d(v, (3, 3), (2, 2), (1, 1))[0], x, g, eps=1e-3)
    assert_close(F.max_pool2d_backward(g, idx, x.shape), num, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [(1, 1), (3, 4), (7, 5), (2, 9)])
def test_adaptive_avg_pool2d(backend, rng, size):
    x = small_ints(rng, (2, 3, 7, 9))
    assert_close(backend.F.adaptive_avg_pool2d(x, size), ref.adaptive_avg_pool2d(x, size), rtol=1e-6, atol=1e-7)
    g = rng.standard_normal((2, 3) + size)
    num = numeric_grad(lambda v: ref.adaptive_avg_pool2d(v, size), x[:1, :1].astype(np.float64), g[:1, :1])
    assert_close(backend.F.adaptive_avg_pool2d_backward(g[:1, :1], (1, 1, 7, 9)), num, rtol=1e-5, atol=1e-5)


def test_global_avg_pool2d(backend, rng):
    x = small_ints(rng, (3, 5, 59, 7))
    y = backend.F.global_avg_pool2d(x, keepdim=False)
    assert y.shape == (3, 5)
    assert_close(y, x.astype(np.float64).mean(axis=(2, 3)), rtol=1e-6, atol=1e-7)
    dx = backend.F.global_avg_pool2d_backward(np.ones((3, 5), np.float32), x.shape)
    assert_close(dx, np.full(x.shape, 1 / (59 * 7)), rtol=1e-6, atol=0)


def test_pool1d(backend, rng):
    x = distinct(rng, (2, 3, 59))
    y, idx = backend.F.max_pool1d(x, 3, 2, 1, return_indices=True)
    ey, eidx = ref.max_pool2d(x[:, :, None, :], (1, 3), (1, 2), (0, 1))
    np.testing.assert_array_equal(y, ey[:, :, 0])
    np.testing.assert_array_equal(idx, eidx[:, :, 0])
    a = backend.F.avg_pool1d(x, 4, 3, 2, ceil_mode=True)
    assert_close(a, ref.avg_pool2d(x[:, :, None, :], (1, 4), (1, 3), (0, 2), True)[:, :, 0], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 2, 7, 35)])
def test_max_pool2d_backward_indices_anywhere(backend, rng, shape):
    """Indices need not lie in their own window (any index of the plane is valid): the 2 x 2
    vector kernel must notice and give the scatter's result."""
    N, C, H, W = shape
    P, Q = H // 2, W // 2
    g = small_ints(rng, (N, C, P, Q))
    idx = rng.integers(0, H * W, size=g.shape).astype(np.int64)
    idx[0, 0] = (np.arange(P)[:, None] * 2 * W + np.arange(Q) * 2)  # one plane inside its windows
    dx = backend.F.max_pool2d_backward(g, idx, shape)
    expect = np.zeros((N * C, H * W))
    np.add.at(expect, (np.arange(N * C)[:, None], idx.reshape(N * C, -1)), g.reshape(N * C, -1))
    np.testing.assert_array_equal(dx, expect.reshape(shape))


@pytest.mark.parametrize("bad", [2**40 + 10, 2**32 + 11, -2**40 + 14, 2**36 + 15, 16, -1])
def test_max_pool2d_backward_index_outside_the_plane_is_refused(isa, bad):
    """The 2 x 2 vector kernel took an index's offset from its window through int32: 2^40 + 10
    (window 3 starts at input 10) wrapped to offset 0 and was scattered into input 10 instead
    of refused."""
    g = np.ones((1, 1, 2, 2), np.float32)
    idx = np.array([[[[0, 2], [8, 10]]]], np.int64)
    idx[0, 0, 1, 1] = bad
    with pytest.raises(ValueError, match="outside the input plane"):
        F.max_pool2d_backward(g, idx, (1, 1, 4, 4))


def test_vector_kernels_match_reference(rng):
    """Each ISA's kernels against the scalar reference on realistic random shapes, bit for bit."""
    x = rng.standard_normal((4, 16, 33, 61)).astype(np.float32)

    def gy(y):
        return np.random.default_rng(7).standard_normal(y.shape).astype(np.float32)
    before = fastlayers.get_isa()
    try:
        results = {}
        for level in fastlayers.available_isas():
            fastlayers.set_isa(level)
            y2, i2 = F.max_pool2d(x, 2, return_indices=True)
            results[level] = (F.max_pool2d(x, 3, 2, 1, return_indices=True), F.avg_pool2d(x, 3, 1, 1),
                              F.max_pool2d(x, (2, 2), 1, ceil_mode=True),
                              F.max_pool2d_backward(gy(y2), i2, x.shape),
                              F.avg_pool2d_backward(gy(F.avg_pool2d(x, 3, 1, 1)), x.shape, 3, 1, 1),
                              F.avg_pool2d_backward(gy(F.avg_pool2d(x, 3, 2, 1, True, False)), x.shape, 3, 2, 1,
                                                    True, False),
                              F.avg_pool2d_backward(gy(F.avg_pool2d(x, 2)), x.shape, 2),
                              F.avg_pool2d_backward(gy(F.avg_pool2d(x, (2, 4), (1, 3))), x.shape, (2, 4), (1, 3)))
    finally:
        fastlayers.set_isa(before)
    base = results["scalar"]
    for level, r in results.items():
        for a, b in zip(r, base):
            a, b = (a, b) if isinstance(a, tuple) else ((a,), (b,))
            for u, v in zip(a, b):
                np.testing.assert_array_equal(u, v, err_msg=level)


def test_nan_propagates(backend):
    x = np.arange(2 * 16 * 16, dtype=np.float32).reshape(2, 1, 16, 16)
    x[0, 0, 3, 5] = np.nan
    y = backend.F.max_pool2d(x, 2)
    assert np.isnan(y[0, 0, 1, 2]) and np.isnan(y).sum() == 1


def test_torch_parity(isa, rng, torch):
    tf = torch.nn.functional
    x = rng.standard_normal((2, 3, 13, 17)).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_()
    for kw in [dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), dict(kernel_size=(2, 3), dilation=(2, 1))]:
        ty, ti = tf.max_pool2d(tx, return_indices=True, **kw)
        y, idx = F.max_pool2d(x, return_indices=True, **kw)
        np.testing.assert_array_equal(y, ty.detach().numpy())
        np.testing.assert_array_equal(idx, ti.numpy())
        g = rng.standard_normal(y.shape).astype(np.float32)
        (tg,) = torch.autograd.grad(ty, tx, torch.from_numpy(g))
        assert_close(F.max_pool2d_backward(g, idx, x.shape), tg.numpy(), rtol=1e-6, atol=1e-6)
    for kw in [dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
               dict(kernel_size=(4, 2), stride=(3, 1), padding=(2, 1), divisor_override=5)]:
        ty = tf.avg_pool2d(tx, **kw)
        y = F.avg_pool2d(x, **kw)
        assert_close(y, ty.detach().numpy(), rtol=1e-5, atol=1e-6)
        g = rng.standard_normal(y.shape).astype(np.float32)
        (tg,) = torch.autograd.grad(ty, tx, torch.from_numpy(g))
        assert_close(F.avg_pool2d_backward(g, x.shape, **kw), tg.numpy(), rtol=1e-5, atol=1e-6)
    ty = tf.adaptive_avg_pool2d(tx, (4, 5))
    assert_close(F.adaptive_avg_pool2d(x, (4, 5)), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    (tg,) = torch.autograd.grad(ty, tx, torch.from_numpy(g))
    assert_close(F.adaptive_avg_pool2d_backward(g, x.shape), tg.numpy(), rtol=1e-5, atol=1e-6)
    x1 = x.reshape(2, 3, -1)[:, :, :59]
    ty, ti = tf.max_pool1d(torch.from_numpy(x1), 4, 3, 2, 2, True, True)
    y, idx = F.max_pool1d(x1, 4, 3, 2, 2, True, True)
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(idx, ti.numpy())
    assert_close(F.avg_pool1d(x1, 5, 2, 2, True, False), tf.avg_pool1d(torch.from_numpy(x1), 5, 2, 2, True, False),
                 rtol=1e-5, atol=1e-6)
    # unbatched input
    np.testing.assert_array_equal(F.max_pool2d(x[0], 2), tf.max_pool2d(torch.from_numpy(x[0]), 2).numpy())


def test_bad_input():
    x = np.zeros((1, 1, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"\(1, 1, 3, 3\).*too small"):
        F.max_pool2d(x, 5)
    with pytest.raises(ValueError, match="padding"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="padding"):
        F.avg_pool2d(x, 3, padding=2)
    with pytest.raises(ValueError, match="4-D"):
        F.max_pool2d(np.zeros(5, np.float32), 2)
    with pytest.raises(ValueError, match="stride"):
        F.max_pool2d(x, 2, stride=0)
    with pytest.raises(TypeError):
        F.max_pool2d(x.astype(np.complex64), 2)
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    with pytest.raises(ValueError, match="indices"):
        F.max_pool2d_backward(y, idx + 100, x.shape)
    with pytest.raises(ValueError, match="grad_out"):
        F.avg_pool2d_backward(np.zeros((1, 1, 2, 2), np.float32), x.shape, 2)
    assert F.max_pool2d(np.zeros((0, 2, 4, 4), np.float32), 2).shape == (0, 2, 2, 2)


@pytest.mark.parametrize("divisor", [1, 3, -2, -7, 1000003, 2**40])
def test_avg_pool2d_any_nonzero_divisor_override(backend, rng, divisor, torch):
    """PyTorch divides by any non-zero divisor_override (negative ones included)."""
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, divisor_override=divisor)
    want = torch.nn.functional.avg_pool2d(torch.from_numpy(x), **kw).numpy()
    assert_close(backend.F.avg_pool2d(x, **kw), want, 1e-6, 1e-7)
    assert_close(backend.F.avg_pool2d(x, **kw), ref.avg_pool2d(x, (3, 3), (2, 2), (1, 1), True, True, divisor),
                 1e-6, 1e-7)
    g = rng.standard_normal(want.shape).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_()
    torch.nn.functional.avg_pool2d(tx, **kw).backward(torch.from_numpy(g))
    assert_close(backend.F.avg_pool2d_backward(g, x.shape, **kw), tx.grad.numpy(), 1e-6, 1e-7)
    m = nn.AvgPool2d(**kw)
    assert_close(m(x), want, 1e-6, 1e-7)
