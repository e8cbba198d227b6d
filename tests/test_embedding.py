"""Embedding: gather forward and scatter-add backward against the float64 oracle
(reference_rnn.py) on every backend, exact under repeated indices on every ISA, thread count and
the CUDA backend, PyTorch parity of the functional op and of nn.Embedding, bad input."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers
from fastlayers import functional as F
from fastlayers import nn

import reference_rnn as R
from helpers import assert_close


@pytest.mark.parametrize("D", [1, 7, 16, 64, 129, 300])
def test_forward_and_backward_match_oracle(backend, rng, D):
    V = 50
    w = rng.standard_normal((V, D)).astype(np.float32)
    idx = rng.integers(0, V, (6, 9))
    y = backend.F.embedding(idx, w)
    assert y.shape == (6, 9, D)
    np.testing.assert_array_equal(y, R.embedding(idx, w).astype(np.float32))
    g = rng.standard_normal((6, 9, D)).astype(np.float32)
    dw = backend.F.embedding_backward(g, idx, V)
    assert_close(dw, R.embedding_backward(g, idx, V), rtol=1e-6, atol=1e-6)


def test_backend_exact_and_matches_the_reference_bit_for_bit(backend, rng):
    """Small integers: exact sums; random floats: the reference kernels' result bit for bit (each
    row adds its positions in increasing order on every backend), also for a row hit more than
    1024 times (the CUDA kernel's in-order scan instead of its shared-memory sort)."""
    V, D = 13, 37
    idx = rng.integers(0, 4, 3000)
    idx[::2] = 5
    g = rng.integers(-8, 9, (3000, D)).astype(np.float32)
    np.testing.assert_array_equal(backend.F.embedding_backward(g, idx, V), R.embedding_backward(g, idx, V))
    gf = rng.standard_normal((3000, D)).astype(np.float32)
    got = backend.F.embedding_backward(gf, idx, V, padding_idx=2)
    before = fastlayers.get_isa()
    try:
        fastlayers.set_isa("scalar")
        want = F.embedding_backward(gf, idx, V, padding_idx=2)
    finally:
        fastlayers.set_isa(before)
    np.testing.assert_array_equal(got, want)


def test_out_of_range_on_every_backend(backend, rng):
    w = rng.standard_normal((4, 3)).astype(np.float32)
    with pytest.raises(IndexError, match="index 4 .*out of range for num_embeddings 4"):
        backend.F.embedding(np.array([0, 4, 1]), w)
    with pytest.raises(IndexError, match="index -1 .*out of range"):
        backend.F.embedding_backward(np.zeros((2, 3), np.float32), np.array([-1, 2]), 4)


@pytest.mark.parametrize("threads", [1, 2])
def test_backward_exact_under_repeated_indices(isa, rng, threads):
    """Small integers: every sum is exact, so any order of additions would agree; the result is
    also bit-identical across thread counts and ISA levels for random floats."""
    V, D = 13, 37
    idx = rng.integers(0, 4, 5000)  # most rows hit many times, some never
    g = rng.integers(-8, 9, (5000, D)).astype(np.float32)
    before = fastlayers.get_num_threads()
    try:
        fastlayers.set_num_threads(threads)
        dw = F.embedding_backward(g, idx, V)
        np.testing.assert_array_equal(dw, R.embedding_backward(g, idx, V))
        gf = rng.standard_normal((5000, D)).astype(np.float32)
        a = F.embedding_backward(gf, idx, V)
        fastlayers.set_num_threads(1)
        fastlayers.set_isa("scalar")
        b = F.embedding_backward(gf, idx, V)
    finally:
        fastlayers.set_isa(isa)
        fastlayers.set_num_threads(before)
    np.testing.assert_array_equal(a, b)


def test_padding_idx_and_accumulate(backend, rng):
    V, D = 10, 5
    idx = np.array([[0, 3, 3, 9], [9, 2, 0, 0]])
    g = rng.standard_normal((2, 4, D)).astype(np.float32)
    dw = backend.F.embedding_backward(g, idx, V, padding_idx=3)
    want = R.embedding_backward(g, idx, V, padding_idx=3)
    assert_close(dw, want, rtol=1e-6, atol=1e-6)
    assert np.all(dw[3] == 0)
    into = np.ones((V, D), np.float32)
    got = backend.F.embedding_backward(g, idx, V, padding_idx=-1, grad_weight=into)
    assert got is into or backend.device  # on a device, into is its copy's result, copied back
    want = R.embedding_backward(g, idx, V, padding_idx=9) + 1.0
    assert_close(into, want, rtol=1e-6, atol=1e-6)
    assert np.all(into[9] == 1.0)


def test_empty_and_large_index_dtypes(rng):
    w = rng.standard_normal((4, 3)).astype(np.float32)
    assert F.embedding(np.zeros((0, 2), np.int64), w).shape == (0, 2, 3)
    np.testing.assert_array_equal(F.embedding(np.array([3, 1], np.uint8), w), w[[3, 1]])
    np.testing.assert_array_equal(F.embedding(2, w), w[2])
    dw = F.embedding_backward(np.zeros((0, 3), np.float32), np.zeros(0, np.int64), 4)
    np.testing.assert_array_equal(dw, np.zeros((4, 3), np.float32))


def test_bad_input(rng):
    w = rng.standard_normal((4, 3)).astype(np.float32)
    with pytest.raises(IndexError, match="index 4 is out of range for num_embeddings 4"):
        F.embedding([0, 4], w)
    with pytest.raises(IndexError, match="index -1"):
        F.embedding([-1, 2], w)
    with pytest.raises(TypeError, match="integer indices"):
        F.embedding(np.array([0.0, 1.0]), w)
    with pytest.raises(TypeError, match="integer indices"):
        F.embedding(np.array([True]), w)
    with pytest.raises(ValueError, match="weight: expected a 2-D"):
        F.embedding([0], w[0])
    with pytest.raises(ValueError, match="padding_idx"):
        F.embedding([0], w, padding_idx=4)
    with pytest.raises(ValueError, match="grad_out: expected shape"):
        F.embedding_backward(np.zeros((3, 3), np.float32), [0, 1], 4)
    with pytest.raises(IndexError):
        F.embedding_backward(np.zeros((2, 3), np.float32), [0, 7], 4)
    from fastlayers import _core
    with pytest.raises(IndexError):  # the driver checks too: a direct call never reads out of bounds
        _core.embedding_forward(np.empty((1, 3), np.float32), w, np.array([9], np.int64), 4, 3)
    with pytest.raises(TypeError):
        _core.embedding_forward(np.empty((1, 3), np.float32), w, np.array([1], np.int32), 4, 3)
    with pytest.raises(ValueError):
        _core.embedding_forward(np.empty((2, 3), np.float32), w, np.array([1], np.int64), 4, 3)
    with pytest.raises(ValueError):  # the weight's shape must match its size
        _core.embedding_forward(np.empty((1, 3), np.float32), w, np.array([1], np.int64), 5, 3)


def test_module_and_torch_parity(torch, rng):
    V, D = 20, 8
    tm = torch.nn.Embedding(V, D, padding_idx=2)
    m = nn.Embedding(V, D, padding_idx=2)
    assert np.all(m.weight.data[2] == 0)
    m.load_state_dict(tm.state_dict())
    idx = rng.integers(0, V, (4, 7))
    idx[0, :3] = 2
    y = m(idx)
    ty = tm(torch.from_numpy(idx))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    g = rng.standard_normal(y.shape).astype(np.float32)
    ty.backward(torch.from_numpy(g))
    assert m.backward(g) is None
    assert_close(m.weight.grad, tm.weight.grad.numpy(), rtol=1e-6, atol=1e-6)
    m(idx)
    m.backward(g)  # accumulates into .grad
    assert_close(m.weight.grad, 2 * tm.weight.grad.numpy(), rtol=1e-6, atol=1e-6)
    tf = torch.nn.functional.embedding(torch.from_numpy(idx), torch.from_numpy(m.weight.data))
    np.testing.assert_array_equal(F.embedding(idx, m.weight.data), tf.numpy())
    assert "padding_idx=2" in repr(m)
