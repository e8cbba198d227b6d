"""Tests of linear (matmul with fused bias and activation) and linear_backward: every activation
against a float64 oracle, exact on small integers at the micro-tile's edges, shapes and out=,
weight layouts, gradients (oracle, exact, finite differences, accumulated in place), PyTorch
parity, bad input."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import fastlayers.functional as F
import reference as ref
from gemm_cases import blocks, ints, tile_sizes
from helpers import assert_close, numeric_grad


# ---- linear ----

ACTIVATIONS = [None, "relu", "leaky_relu", ("leaky_relu", 0.2), "elu", ("elu", 0.5), "gelu", ("gelu", "tanh"),
               "sigmoid", "tanh", "silu"]


def _oracle_act(activation):
    if activation is None or isinstance(activation, str):
        name, param = activation, {"leaky_relu": 0.01, "elu": 1.0}.get(activation)
    else:
        name, param = activation
    if name == "gelu":
        return lambda y: ref.gelu(y, param or "none")
    return lambda y: ref._LINEAR_ACTS[name](y) if param is None else ref._LINEAR_ACTS[name](y, param)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("m,k,n", [(5, 37, 23), (64, 1100, 100)])
def test_linear_matches_oracle(backend, rng, activation, m, k, n):
    x = rng.standard_normal((m, k), dtype=np.float32)
    w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)
    bias = rng.standard_normal(n, dtype=np.float32)
    got = backend.F.linear(x, w, bias, activation)
    expected = _oracle_act(activation)(ref.linear(x, w, bias))
    assert_close(got, expected, rtol=2e-5, atol=2e-5, what=str(activation))
    if activation is None:
        assert_close(backend.F.linear(x, w), ref.linear(x, w), rtol=2e-5, atol=2e-5, what="no bias")


def test_linear_exact_bias_relu_at_tile_edges(backend, rng):
    bs = blocks()
    for m, n in itertools.product(tile_sizes(bs["mr"]), tile_sizes(bs["nr"])):
        x, w, bias = ints(rng, (m, 19)), ints(rng, (n, 19)), ints(rng, (n,))
        got = backend.F.linear(x, w, bias, "relu")
        np.testing.assert_array_equal(got, np.maximum(x @ w.T + bias, 0), err_msg=f"{backend} m={m} n={n}")


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


def test_linear_relu_keeps_nan(backend):
    x = np.array([[np.nan, 1.0], [1.0, 1.0]], np.float32)
    got = backend.F.linear(x, np.ones((3, 2), np.float32), None, "relu")
    assert np.isnan(got[0]).all() and (got[1] == 2).all()


# ---- linear_backward ----


def test_linear_backward_matches_oracle(backend, rng):
    x = rng.standard_normal((3, 40, 131), dtype=np.float32)
    w = rng.standard_normal((70, 131), dtype=np.float32)
    g = rng.standard_normal((3, 40, 70), dtype=np.float32)
    gx, gw, gb = backend.F.linear_backward(g, x, w)
    ex, ew, eb = ref.linear_backward(g, x, w)
    assert_close(gx, ex, rtol=1e-4, atol=1e-4, what="grad_x")
    assert_close(gw, ew, rtol=1e-4, atol=1e-4, what="grad_weight")
    assert_close(gb, eb, rtol=1e-4, atol=1e-4, what="grad_bias")
    assert backend.F.linear_backward(g, x, w, need_bias=False)[2] is None


def test_linear_backward_exact(backend, rng):
    x, w, g = ints(rng, (33, 57)), ints(rng, (49, 57)), ints(rng, (33, 49))
    gx, gw, gb = backend.F.linear_backward(g, x, w)
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
               "leaky_relu": lambda t, y: t.nn.functional.leaky_relu(y), "elu": lambda t, y: t.nn.functional.elu(y),
               "gelu": lambda t, y: t.nn.functional.gelu(y), "sigmoid": lambda t, y: t.sigmoid(y),
               "tanh": lambda t, y: t.tanh(y), "silu": lambda t, y: t.nn.functional.silu(y)}


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
