"""layer_norm forward and backward (csrc/cpu/layer_norm.cpp, csrc/cuda/layer_norm.cu): the float64
oracle on every backend (each ISA level: row lengths around the vector widths and the unrolled body;
CUDA: rows on either side of the kernel's warp / block split), finite differences, PyTorch parity,
a large common offset, and bad input."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers.functional as F
import fastlayers.nn
import reference as R
from helpers import assert_close, numeric_grad

# (input shape, trailing dimensions normalised)
SHAPES = [((7,), 1), ((3, 1), 1), ((5, 17), 1), ((4, 8, 33), 2), ((2, 3, 256), 1), ((300, 48), 1), ((2, 9, 65), 1),
          ((70, 1000), 1), ((3, 2, 5, 7), 3), ((3, 1024), 1), ((2, 2, 1500), 1)] + [((6, n), 1) for n in (8, 9, 15, 16, 31, 32, 33, 63, 64, 129)]


@pytest.mark.parametrize("shape,k", SHAPES, ids=lambda v: str(v))
@pytest.mark.parametrize("affine", [False, True])
def test_against_oracle(backend, shape, k, affine, rng):
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    ns = shape[len(shape) - k:]
    w = (rng.standard_normal(ns) + 1).astype(np.float32) if affine else None
    b = rng.standard_normal(ns).astype(np.float32) if affine else None
    y, mean, rstd = backend.F.layer_norm(x, ns, w, b, return_stats=True)
    assert mean.shape == shape[:len(shape) - k]
    assert_close(y, R.layer_norm(x, k, w, b), rtol=1e-5, atol=2e-5, what="y")
    axes = tuple(range(len(shape) - k, len(shape)))
    assert_close(mean, x.astype(np.float64).mean(axis=axes), rtol=1e-6, atol=1e-6)
    assert_close(rstd, 1 / np.sqrt(x.astype(np.float64).var(axis=axes) + 1e-5), rtol=1e-5, atol=1e-6)
    dx_ref, dw_ref, db_ref = R.layer_norm_backward(g, x, k, w)
    for stats in ({}, {"save_mean": mean, "save_rstd": rstd}):
        dx, dw, db = backend.F.layer_norm_backward(g, x, ns, w, **stats)
        assert_close(dx, dx_ref, rtol=1e-4, atol=5e-5, what="dx")
        scale = np.sqrt(np.prod(shape[:len(shape) - k]))  # column sums over the rows
        assert_close(dw, dw_ref, rtol=1e-4, atol=1e-5 * scale, what="dweight")
        assert_close(db, db_ref, rtol=1e-4, atol=1e-5 * scale, what="dbias")


def test_finite_differences(backend, rng):
    x = rng.standard_normal((3, 2, 5))
    g = rng.standard_normal((3, 2, 5))
    w = rng.standard_normal((2, 5)) + 1
    dx, dw, db = backend.F.layer_norm_backward(g, x, (2, 5), w)
    assert_close(dx, numeric_grad(lambda a: R.layer_norm(a, 2, w), x, g, 1e-5), rtol=1e-4, atol=1e-5)
    assert_close(dw, numeric_grad(lambda a: R.layer_norm(x, 2, a), w, g, 1e-5), rtol=1e-4, atol=1e-5)
    assert_close(db, g.sum(axis=0), rtol=1e-5, atol=1e-5)


def test_torch_parity(torch, isa, rng):
    x = rng.standard_normal((4, 10, 96)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    w, b = rng.standard_normal(96).astype(np.float32), rng.standard_normal(96).astype(np.float32)
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    ty = torch.nn.functional.layer_norm(tx, (96,), tw, tb, eps=1e-3)
    ty.backward(torch.from_numpy(g))
    y = F.layer_norm(x, 96, w, b, eps=1e-3)
    assert_close(y, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    for ours, ref in zip(F.layer_norm_backward(g, x, 96, w, eps=1e-3), (tx.grad, tw.grad, tb.grad)):
        assert_close(ours, ref.numpy(), rtol=1e-4, atol=1e-4)


def test_large_offset(backend, rng):
    """The variance is centred (two passes over a cached row): a common offset of 1e4 costs nothing."""
    x = (rng.standard_normal((8, 300)) + 1e4).astype(np.float32)
    assert_close(backend.F.layer_norm(x, 300), R.layer_norm(x, 1), rtol=1e-3, atol=2e-3)


def test_out_and_zero_rows(backend, rng):
    x = rng.standard_normal((0, 5)).astype(np.float32)
    y, mean, rstd = backend.F.layer_norm(x, 5, return_stats=True)
    assert y.shape == (0, 5) and mean.shape == (0,)
    dx, dw, db = backend.F.layer_norm_backward(x, x, 5)
    assert dx.shape == (0, 5) and np.all(dw == 0) and np.all(db == 0)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    out = np.empty_like(x)
    assert backend.F.layer_norm(x, [5], out=out) is out or backend.device  # a device copy, copied back
    assert_close(out, R.layer_norm(x, 1), rtol=1e-5, atol=1e-5)


def test_bad_input(rng):
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    with pytest.raises(ValueError, match=r"input: expected a shape ending in normalized_shape \(4,\)"):
        F.layer_norm(x, 4)
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(x, ())
    with pytest.raises(TypeError, match="normalized_shape"):
        F.layer_norm(x, None)
    with pytest.raises(ValueError, match=r"weight: expected shape \(4, 5\)"):
        F.layer_norm(x, (4, 5), np.ones(5, np.float32))
    with pytest.raises(ValueError, match="grad_out"):
        F.layer_norm_backward(x[0], x, 5)
    with pytest.raises(ValueError, match="save_mean, save_rstd"):
        F.layer_norm_backward(x, x, 5, save_mean=np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"save_rstd: expected shape \(3, 4\)"):
        F.layer_norm_backward(x, x, 5, save_mean=np.zeros((3, 4), np.float32), save_rstd=np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="input"):
        F.layer_norm(x.astype(np.complex64), 5)


@pytest.mark.parametrize("bad", [(float("inf"),), (float("nan"),), (5.0,), (5.5,), ("5",), (4, True), (4.0, 5)])
def test_normalized_shape_of_non_ints_is_a_type_error(bad):
    """int(d) per element truncated 5.5 to 5 and took '5' (both ran), and made inf an OverflowError."""
    x = np.ones((3, 4, 5), np.float32)
    with pytest.raises(TypeError, match="normalized_shape: expected an int or a tuple of ints"):
        F.layer_norm(x, bad)
    with pytest.raises(TypeError, match="normalized_shape"):
        F.layer_norm_backward(x, x, bad)
    np.testing.assert_array_equal(F.layer_norm(x, (np.int64(4), 5)), F.layer_norm(x, (4, 5)))
    with pytest.raises(TypeError, match="normalized_shape"):
        fastlayers.nn.LayerNorm(bad)
