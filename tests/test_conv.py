"""Conv family: conv1d, conv2d, conv_transpose2d forward and backward on every ISA level,
exact on small integers against float64 oracles (tests/reference.py), finite differences,
PyTorch parity and bad input."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastlayers
import fastlayers.functional as F
import reference as ref
from helpers import assert_close, numeric_grad

# (input shape, weight shape, stride, padding, dilation, groups). Covers: 1 x 1 (straight
# GEMM), strided 1 x 1, 3 x 3 / 5 x 5 with padding, dilation, groups, depthwise (vector
# kernel, strides 1 and 2), depthwise with a multiplier, the direct and Winograd kernels,
# several im2col column tiles, odd sizes 1, 7, 59, one image (tasks fewer than threads) and many.
CASES = [
    ((2, 3, 7, 7), (4, 3, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    ((2, 6, 9, 8), (4, 6, 1, 1), (2, 2), (0, 0), (1, 1), 1),
    ((3, 1, 28, 28), (8, 1, 5, 5), (1, 1), (2, 2), (1, 1), 1),
    ((2, 4, 9, 11), (6, 2, 3, 3), (2, 2), (1, 1), (1, 1), 2),
    ((1, 3, 7, 59), (5, 3, 3, 2), (1, 2), (1, 0), (2, 1), 1),
    ((2, 8, 59, 7), (8, 1, 3, 3), (1, 1), (1, 1), (1, 1), 8),
    # depthwise on the padded plane: output rows past the row tile, columns past whole vectors
    # (a tile of two vectors with its second past Q), stride 2 across vectors, dilation with
    # pads, stride and pad per axis, a 5 x 5 filter (its taps counted at run time)
    ((1, 3, 37, 70), (3, 1, 3, 3), (1, 1), (1, 1), (1, 1), 3),
    ((1, 4, 41, 67), (4, 1, 3, 3), (2, 2), (1, 1), (1, 1), 4),
    ((1, 3, 20, 35), (3, 1, 3, 3), (1, 1), (2, 2), (2, 2), 3),
    ((1, 3, 15, 33), (3, 1, 3, 5), (2, 1), (0, 2), (1, 1), 3),
    ((1, 2, 19, 40), (2, 1, 5, 5), (1, 1), (2, 2), (1, 1), 2),
    # depthwise input gradient gathered by column phase: pads past the filter (no flipped
    # forward), column stride 2 with a dilated 5-wide filter and output rows that skip dx rows
    ((1, 2, 9, 20), (2, 1, 3, 3), (1, 1), (3, 2), (1, 1), 2),
    ((2, 3, 23, 71), (3, 1, 3, 5), (3, 2), (1, 3), (1, 2), 3),
    ((2, 8, 13, 40), (8, 1, 3, 3), (2, 2), (1, 1), (1, 1), 8),
    ((1, 5, 17, 33), (5, 1, 5, 3), (1, 1), (2, 1), (1, 2), 5),
    ((2, 4, 6, 6), (8, 1, 3, 3), (1, 1), (1, 1), (1, 1), 4),
    ((1, 80, 17, 19), (6, 80, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((2, 2, 1, 1), (3, 2, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    ((2, 3, 1, 59), (4, 3, 1, 7), (1, 3), (0, 3), (1, 1), 1),
    # small images side by side in one GEMM (blocks of 3 and 2 images)
    ((5, 8, 6, 7), (6, 8, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((5, 6, 9, 8), (4, 6, 1, 1), (2, 2), (0, 0), (1, 1), 1),
    # im2col over two column tiles (C R S = 1600: tiles of 640 columns, 729 outputs)
    ((1, 64, 27, 27), (6, 64, 5, 5), (1, 1), (2, 2), (1, 1), 1),
    # direct kernel (stride 1, C R S <= 64): dilation, K not a multiple of the register tile, Q > 32
    ((2, 2, 9, 45), (13, 2, 3, 5), (1, 1), (1, 3), (2, 1), 1),
    # direct forward and weight gradient: C R S = 9 (tap blocks of 5 and 4), K = 7 (a filter
    # block and single filters), Q = 16 (one whole vector) and Q = 33 (a one-lane tail)
    ((3, 1, 12, 16), (7, 1, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((2, 1, 5, 33), (7, 1, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    # Winograd F(2x2, 3x3): 3 x 3, stride 1, >= 8 channels per group, >= 14 x 14 outputs;
    # odd sizes, pads 0-2
    ((2, 8, 15, 17), (8, 8, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((1, 16, 59, 7), (12, 16, 3, 3), (1, 1), (0, 0), (1, 1), 1),
    ((1, 8, 9, 40), (16, 8, 3, 3), (1, 1), (2, 2), (1, 1), 1),
    ((2, 16, 15, 17), (16, 8, 3, 3), (1, 1), (1, 0), (1, 1), 2),
    ((1, 8, 3, 3), (8, 8, 3, 3), (1, 1), (0, 0), (1, 1), 1),
]


def ints(rng, shape, lo=-3, hi=3):
    return rng.integers(lo, hi + 1, size=shape).astype(np.float32)


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}x{c[1]}" for c in CASES])
def test_conv2d_exact(backend, rng, case):
    xs, ws, s, p, d, g = case
    x, w, b = ints(rng, xs), ints(rng, ws), ints(rng, ws[0])
    y = backend.F.conv2d(x, w, b, s, p, d, g)
    np.testing.assert_array_equal(y, ref.conv2d(x, w, b, s, p, d, g))
    dy = ints(rng, y.shape)
    dx, dw, db = backend.F.conv2d_backward(dy, x, w, s, p, d, g)
    np.testing.assert_array_equal(dx, ref.conv2d_backward_input(dy, w, xs, s, p, d, g))
    np.testing.assert_array_equal(dw, ref.conv2d_backward_weight(dy, x, ws, s, p, d, g))
    np.testing.assert_array_equal(db, dy.astype(np.float64).sum(axis=(0, 2, 3)))


@pytest.mark.parametrize("case", [((2, 4, 5, 6), (4, 3, 3, 3), (2, 2), (1, 1), (1, 1), 1, (1, 1)),
                                  ((2, 4, 5, 7), (4, 2, 3, 2), (2, 1), (1, 0), (0, 0), 2, (1, 2)),
                                  ((1, 6, 7, 1), (6, 1, 4, 1), (3, 1), (0, 0), (2, 0), 6, (1, 1)),
                                  ((2, 3, 7, 7), (3, 5, 1, 1), (1, 1), (0, 0), (0, 0), 1, (1, 1))])
def test_conv_transpose2d_exact(backend, rng, case):
    xs, ws, s, p, op, g, d = case
    x, w, b = ints(rng, xs), ints(rng, ws), ints(rng, ws[1] * g)
    y = backend.F.conv_transpose2d(x, w, b, s, p, op, g, d)
    np.testing.assert_array_equal(y, ref.conv_transpose2d(x, w, b, s, p, op, g, d))
    dy = ints(rng, y.shape)
    dx, dw, db = backend.F.conv_transpose2d_backward(dy, x, w, s, p, op, g, d)
    # conv_transpose2d(x) = A^T x with A = conv2d on the output's shape: dx = A dy, dw by the same identity
    np.testing.assert_array_equal(dx, ref.conv2d(dy, w, None, s, p, d, g))
    np.testing.assert_array_equal(dw, ref.conv2d_backward_weight(x, dy, ws, s, p, d, g))
    np.testing.assert_array_equal(db, dy.astype(np.float64).sum(axis=(0, 2, 3)))


def test_conv1d_exact(backend, rng):
    x, w, b = ints(rng, (3, 4, 59)), ints(rng, (6, 2, 4)), ints(rng, 6)
    y = backend.F.conv1d(x, w, b, 2, 3, 2, 2)
    np.testing.assert_array_equal(y, ref.conv2d(x[:, :, None], w[:, :, None], b, (1, 2), (0, 3), (1, 2), 2)[:, :, 0])
    dy = ints(rng, y.shape)
    dx, dw, db = backend.F.conv1d_backward(dy, x, w, 2, 3, 2, 2)
    np.testing.assert_array_equal(dx, ref.conv2d_backward_input(dy[:, :, None], w[:, :, None], (3, 4, 1, 59), (1, 2),
                                                                (0, 3), (1, 2), 2)[:, :, 0])
    np.testing.assert_array_equal(dw, ref.conv2d_backward_weight(dy[:, :, None], x[:, :, None], (6, 2, 1, 4),
                                                                 (1, 2), (0, 3), (1, 2), 2)[:, :, 0])
    assert y.shape == (3, 6, 30)
    np.testing.assert_array_equal(db, dy.sum(axis=(0, 2)))


def test_vector_paths_match_reference(rng):
    """Realistic random shapes: every ISA's GEMM / depthwise path against the reference kernels."""
    cases = [((4, 32, 20, 22), (48, 32, 3, 3), 1, 1, 1), ((4, 32, 20, 22), (32, 1, 3, 3), 2, 1, 32),
             ((4, 64, 9, 9), (64, 64, 1, 1), 1, 0, 1),
             ((1, 64, 56, 55), (64, 64, 3, 3), 1, 1, 1)]  # Winograd over two tile blocks
    before = fastlayers.get_isa()
    try:
        for xs, ws, s, p, g in cases:
            x = rng.standard_normal(xs).astype(np.float32)
            w = rng.standard_normal(ws).astype(np.float32)
            dy = rng.standard_normal(F.conv2d(x, w, None, s, p, 1, g).shape).astype(np.float32)
            res = {}
            for level in fastlayers.available_isas():
                fastlayers.set_isa(level)
                res[level] = (F.conv2d(x, w, None, s, p, 1, g),) + F.conv2d_backward(dy, x, w, s, p, 1, g)[:2]
            for level, r in res.items():
                for a, e in zip(r, res["scalar"]):
                    assert_close(a, e, rtol=1e-4, atol=1e-4 * np.abs(e).max(), what=f"{level} {xs} {ws}")
    finally:
        fastlayers.set_isa(before)


def test_gradients_numeric(rng):
    x = rng.standard_normal((2, 4, 5, 6))
    w = rng.standard_normal((6, 2, 3, 2))
    args = ((2, 1), (1, 1), (1, 2), 2)
    y = ref.conv2d(x, w, None, *args)
    dy = rng.standard_normal(y.shape)
    dx, dw, _ = F.conv2d_backward(dy, x, w, *args)
    assert_close(dx, numeric_grad(lambda v: ref.conv2d(v, w, None, *args), x, dy), rtol=1e-4, atol=1e-4)
    assert_close(dw, numeric_grad(lambda v: ref.conv2d(x, v, None, *args), w, dy), rtol=1e-4, atol=1e-4)
    xt = rng.standard_normal((1, 4, 3, 4))
    wt = rng.standard_normal((4, 3, 3, 3))
    targs = ((2, 2), (1, 1), (1, 0), 1, (1, 1))
    yt = ref.conv_transpose2d(xt, wt, None, *targs)
    dyt = rng.standard_normal(yt.shape)
    dxt, dwt, _ = F.conv_transpose2d_backward(dyt, xt, wt, *targs)
    assert_close(dxt, numeric_grad(lambda v: ref.conv_transpose2d(v, wt, None, *targs), xt, dyt), rtol=1e-4, atol=1e-4)
    assert_close(dwt, numeric_grad(lambda v: ref.conv_transpose2d(xt, v, None, *targs), wt, dyt), rtol=1e-4,
                 atol=1e-4)


def test_torch_parity(isa, rng, torch):
    tf = torch.nn.functional

    def check(fn_t, fn_ours, bwd_ours, x, w, b, **kw):
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        with warnings.catch_warnings():  # torch warns that even kernels with 'same' copy the input
            warnings.simplefilter("ignore", UserWarning)
            ty = fn_t(tx, tw, tb, **kw)
        y = fn_ours(x, w, b, **kw)
        assert_close(y, ty.detach().numpy(), rtol=1e-4, atol=1e-4)
        g = rng.standard_normal(y.shape).astype(np.float32)
        ty.backward(torch.from_numpy(g))
        for ours, theirs in zip(bwd_ours(g, x, w, **kw), (tx.grad, tw.grad, tb.grad)):
            assert_close(ours, theirs.numpy(), rtol=1e-4, atol=1e-3)

    def r(*shape):
        return rng.standard_normal(shape).astype(np.float32)
    check(tf.conv2d, F.conv2d, F.conv2d_backward, r(2, 6, 11, 10), r(4, 3, 4, 2), r(4), padding="same",
          dilation=2, groups=2)
    check(tf.conv2d, F.conv2d, F.conv2d_backward, r(2, 5, 9, 9), r(7, 5, 3, 3), r(7), stride=2, padding="valid")
    check(tf.conv2d, F.conv2d, F.conv2d_backward, r(1, 16, 12, 12), r(16, 1, 3, 3), r(16), padding=1, groups=16)
    check(tf.conv1d, F.conv1d, F.conv1d_backward, r(3, 4, 30), r(6, 4, 4), r(6), padding="same")
    check(tf.conv1d, F.conv1d, F.conv1d_backward, r(3, 4, 30), r(8, 2, 3), r(8), stride=3, padding=2, groups=2)
    check(tf.conv_transpose2d, F.conv_transpose2d, F.conv_transpose2d_backward, r(2, 4, 5, 6), r(4, 3, 3, 3),
          r(3), stride=2, padding=1, output_padding=1)
    check(tf.conv_transpose2d, F.conv_transpose2d, F.conv_transpose2d_backward, r(2, 4, 5, 6), r(4, 2, 2, 3),
          r(4), stride=(1, 2), groups=2, dilation=(2, 1))
    # unbatched input
    x, w = r(3, 8, 8), r(5, 3, 3, 3)
    assert_close(F.conv2d(x, w, None, padding=1), tf.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1),
                 rtol=1e-4, atol=1e-4)


def test_bad_input():
    x = np.zeros((2, 6, 5, 5), np.float32)
    with pytest.raises(ValueError, match=r"padded input size \(5, 5\).*smaller than the dilated kernel size \(7, 7\)"):
        F.conv2d(x, np.zeros((4, 6, 7, 7), np.float32))
    with pytest.raises(ValueError, match=r"input channels 6 .*\(2, 6, 5, 5\).*groups=4"):
        F.conv2d(x, np.zeros((4, 1, 3, 3), np.float32), groups=4)
    with pytest.raises(ValueError, match=r"weight: expected shape \(4, 3, 3, 3\).*\(2, 6, 5, 5\).*\(4, 6, 3, 3\)"):
        F.conv2d(x, np.zeros((4, 6, 3, 3), np.float32), groups=2)
    with pytest.raises(ValueError, match="weight: expected a 4-D"):
        F.conv2d(x, np.zeros((4, 6, 3), np.float32))
    with pytest.raises(ValueError, match="bias"):
        F.conv2d(x, np.zeros((4, 6, 3, 3), np.float32), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="strided"):
        F.conv2d(x, np.zeros((4, 6, 3, 3), np.float32), stride=2, padding="same")
    with pytest.raises(ValueError, match="grad_out"):
        F.conv2d_backward_input(np.zeros((2, 4, 5, 5), np.float32), np.zeros((4, 6, 3, 3), np.float32), x.shape)
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(x, np.zeros((6, 2, 3, 3), np.float32), stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"weight: expected shape \(6, "):
        F.conv_transpose2d(x, np.zeros((5, 2, 3, 3), np.float32))
    with pytest.raises(TypeError):
        F.conv2d(x.astype(np.complex64), np.zeros((4, 6, 3, 3), np.float32))
    assert F.conv2d(np.zeros((0, 6, 5, 5), np.float32), np.zeros((4, 6, 3, 3), np.float32)).shape == (0, 4, 3, 3)


def test_out_must_not_alias_input():
    x = np.ones((1, 2, 5, 5), np.float32)
    with pytest.raises(ValueError, match="out: must not share memory"):
        F.conv2d(x, np.ones((2, 2, 3, 3), np.float32), padding=1, out=x)
    with pytest.raises(ValueError, match="out: must not share memory"):
        F.avg_pool2d(x, 3, 1, 1, out=x)
    y = np.empty((1, 2, 5, 5), np.float32)
    assert F.conv2d(x, np.ones((2, 2, 3, 3), np.float32), padding=1, out=y) is y


_ALLOC_FAILURE = r"""
import resource, sys
import numpy as np
import fastlayers
import fastlayers.functional as F
fastlayers.set_num_threads(2)
F.conv2d(np.ones((8, 64, 32, 32), np.float32), np.ones((64, 64, 1, 1), np.float32))  # threads up, no im2col
x = np.ones((8, 64, 32, 32), np.float32)
w = np.ones((64, 64, 5, 5), np.float32)
out = np.empty((8, 64, 32, 32), np.float32)
with open("/proc/self/statm") as f:
    vm = int(f.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 20), resource.RLIM_INFINITY))
try:
    F.conv2d(x, w, None, 1, 2, out=out)  # im2col tiles of 4 MB per thread
except MemoryError:
    print("MemoryError")
"""


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="RLIMIT_AS and /proc: Linux")
def test_scratch_allocation_failure_is_memory_error():
    """A per-thread buffer that cannot be allocated inside a parallel region raises MemoryError
    in the caller instead of ending the process (std::terminate)."""
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "FASTLAYERS_ISA"}  # the im2col path, not the reference
    r = subprocess.run([sys.executable, "-c", _ALLOC_FAILURE], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "MemoryError" in r.stdout
