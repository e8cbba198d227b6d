"""Scaled dot-product attention (fused, csrc/cpu/attention.cpp) forward and backward: against the
float64 oracle at every ISA level (error at most twice that of the same formulation in float32
NumPy), PyTorch parity, finite differences, masks, broadcasting, edge sizes and bad input."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers
import fastlayers.functional as F
from fastlayers import _core
import reference as R
import reference_attention as RA
from helpers import assert_close, numeric_grad

SDPA, SDPA_BW = F.scaled_dot_product_attention, F.scaled_dot_product_attention_backward


def _inputs(rng, batch, L, S, E, Ev, spread=1.0):
    q = (rng.standard_normal(batch + (L, E)) * spread).astype(np.float32)
    k = (rng.standard_normal(batch + (S, E)) * spread).astype(np.float32)
    v = rng.standard_normal(batch + (S, Ev)).astype(np.float32)
    g = rng.standard_normal(batch + (L, Ev)).astype(np.float32)
    return q, k, v, g


def _mask(rng, kind, batch, L, S):
    """(attn_mask, is_causal) of one kind; explicit masks broadcast over the head dimension."""
    if kind == "causal":
        return None, True
    if kind == "bool":
        m = rng.random(tuple(batch[:-1]) + (1,) * bool(batch) + (L, S)) < 0.8
        m[..., 0] = True  # every row attends to a key
        return m, False
    if kind == "float":
        return (rng.standard_normal((L, S)) * 2).astype(np.float32), False
    return None, False


def _err(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - b))) if np.size(b) else 0.0


def _check_baseline(ours, f32, f64, what, ulps=1):
    """The fused result's max error at most twice the float32 NumPy formulation's, plus `ulps`
    float32 epsilons of the largest magnitude."""
    e_ours, e_np = _err(ours, f64), _err(f32, f64)
    floor = ulps * np.finfo(np.float32).eps * (float(np.max(np.abs(f64))) if np.size(f64) else 0.0)
    assert e_ours <= 2 * e_np + floor, f"{what}: error {e_ours:.3g} vs float32 NumPy's {e_np:.3g}"


# (batch, L, S, E, Ev): odd lengths, L != S, the head dims of the issue, tiles' edges
SHAPES = [((2, 3), 97, 97, 59, 59), ((1,), 1025, 130, 64, 64), ((2,), 33, 1025, 128, 111), ((3,), 65, 97, 1, 7),
          ((), 49, 200, 16, 48), ((1, 1), 300, 301, 111, 128)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[0] + s[1:])))
@pytest.mark.parametrize("kind", ["none", "causal", "bool", "float"])
def test_against_oracle(isa, shape, kind, rng):
    batch, L, S, E, Ev = shape
    if isa == "scalar" and L * S * (E + Ev) * max(1, int(np.prod(batch))) > 1 << 26:
        pytest.skip("the reference runs single-threaded; the large shapes run at the vector levels")
    q, k, v, g = _inputs(rng, batch, L, S, E, Ev, spread=1.5)
    mask, causal = _mask(rng, kind, batch, L, S)
    out, lse = SDPA(q, k, v, attn_mask=mask, is_causal=causal, return_lse=True)
    _check_baseline(out, RA.sdpa(q, k, v, mask, causal, dtype=np.float32), RA.sdpa(q, k, v, mask, causal), "out")
    grads = SDPA_BW(g, q, k, v, out, lse, attn_mask=mask, is_causal=causal)
    g64 = RA.sdpa_backward(g, q, k, v, mask, causal)
    g32 = RA.sdpa_backward(g, q, k, v, mask, causal, dtype=np.float32)
    for name, ours, b32, b64 in zip(("grad_query", "grad_key", "grad_value"), grads, g32, g64):
        assert ours.shape == b64.shape and ours.dtype == np.float32
        # P is recomputed from the float32 lse, whose rounding (an ulp of |lse|) the one-pass
        # NumPy formulation does not have: 8 epsilons more.
        _check_baseline(ours, b32, b64, name, ulps=8)


@pytest.mark.parametrize("batch_heads", [1, 3])
def test_threads_split_keys(batch_heads, rng):
    """Fewer batch-heads than threads: the backward splits the keys into chunks (partial dQ)."""
    before = fastlayers.get_num_threads()
    try:
        for threads in (1, 2, 4):
            fastlayers.set_num_threads(threads)
            q, k, v, g = _inputs(rng, (batch_heads,), 200, 700, 32, 32)
            out, lse = SDPA(q, k, v, is_causal=True, return_lse=True)
            assert_close(out, RA.sdpa(q, k, v, is_causal=True), rtol=1e-5, atol=1e-5)
            for ours, ref in zip(SDPA_BW(g, q, k, v, out, lse, is_causal=True),
                                 RA.sdpa_backward(g, q, k, v, is_causal=True)):
                assert_close(ours, ref, rtol=1e-4, atol=1e-5, what=f"{threads} threads")
    finally:
        fastlayers.set_num_threads(before)


@pytest.mark.parametrize("kind", ["none", "causal", "bool", "float"])
def test_finite_differences(isa, kind, rng):
    q, k, v, g = _inputs(rng, (2,), 5, 7, 3, 4)
    mask, causal = _mask(rng, kind, (2,), 5, 7)
    out, lse = SDPA(q, k, v, attn_mask=mask, is_causal=causal, return_lse=True)
    dq, dk, dv = SDPA_BW(g, q, k, v, out, lse, attn_mask=mask, is_causal=causal)
    def f(i):
        return lambda x: RA.sdpa(*[x if j == i else a for j, a in enumerate((q, k, v))], mask, causal)
    for i, ours in enumerate((dq, dk, dv)):
        assert_close(ours, numeric_grad(f(i), (q, k, v)[i], g, eps=1e-5), rtol=1e-4, atol=1e-5, what=f"input {i}")


@pytest.mark.parametrize("case", ["causal", "causal L>S", "causal L<S", "bool", "float", "key padding", "broadcast"])
def test_torch_parity(torch, isa, case, rng):
    batch, L, S, E, Ev = (2, 4), 97, 97, 59, 40
    if case == "causal L>S":
        L, S = 150, 61
    if case == "causal L<S":
        L, S = 61, 150
    q, k, v, g = _inputs(rng, batch, L, S, E, Ev, spread=2.0)
    mask, causal = None, case.startswith("causal")
    if case == "bool":
        mask = rng.random(batch + (L, S)) < 0.5
    if case == "float":
        mask = (rng.standard_normal((4, 1, S)) * 3).astype(np.float32)
        mask[1, 0, ::3] = -np.inf
    if case == "key padding":
        mask = np.ones((2, 1, 1, S), dtype=bool)
        mask[1, ..., 50:] = False
    if case == "broadcast":  # key and value shared by every head
        k, v = k[:, :1], v[:, :1]
    tq, tk, tv = (torch.from_numpy(a).requires_grad_() for a in (q, k, v))
    tm = None if mask is None else torch.from_numpy(mask)
    t_out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm, is_causal=causal)
    t_out.backward(torch.from_numpy(g))
    out, lse = SDPA(q, k, v, attn_mask=mask, is_causal=causal, return_lse=True)
    assert_close(out, t_out.detach().numpy(), rtol=1e-4, atol=1e-5, what="out")
    for name, ours, ref in zip(("q", "k", "v"), SDPA_BW(g, q, k, v, out, lse, attn_mask=mask, is_causal=causal),
                               (tq.grad, tk.grad, tv.grad)):
        assert_close(ours, ref.numpy(), rtol=1e-4, atol=3e-5, what=name)


def test_scale_and_2d(torch, rng):
    q, k, v, g = _inputs(rng, (), 20, 30, 8, 5)
    t = [torch.from_numpy(a) for a in (q, k, v)]
    ref = torch.nn.functional.scaled_dot_product_attention(*t, scale=0.3).numpy()
    assert_close(SDPA(q, k, v, scale=0.3), ref, rtol=1e-5, atol=1e-6)
    out, lse = SDPA(q.astype(np.float64), k, v.tolist(), scale=0.3, return_lse=True)
    assert out.dtype == np.float32 and lse.shape == (20,)
    s = q.astype(np.float64) @ k.T.astype(np.float64) * 0.3
    assert_close(lse, np.log(np.exp(s).sum(-1)), rtol=1e-6, atol=1e-6)
    for ours, ref in zip(SDPA_BW(g, q, k, v, out, lse, scale=0.3), RA.sdpa_backward(g, q, k, v, scale=0.3)):
        assert_close(ours, ref, rtol=1e-5, atol=1e-6)


def test_fully_masked_rows(isa, torch, rng):
    """Rows that attend to no key give 0 and zero gradients (PyTorch 2.13 on the CPU); lse is +inf."""
    q, k, v, g = _inputs(rng, (2,), 9, 300, 16, 8)
    mask = np.ones((9, 300), dtype=bool)
    mask[3] = False
    fmask = np.where(mask, 0.0, -np.inf).astype(np.float32)
    for m in (mask, fmask):
        out, lse = SDPA(q, k, v, attn_mask=m, return_lse=True)
        tq, tk, tv = (torch.from_numpy(a).requires_grad_() for a in (q, k, v))
        t_out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=torch.from_numpy(m))
        t_out.backward(torch.from_numpy(g))
        assert np.all(out[:, 3] == 0) and np.all(np.isposinf(lse[:, 3]))
        assert_close(out, t_out.detach().numpy(), rtol=1e-5, atol=1e-6)
        dq, dk, dv = SDPA_BW(g, q, k, v, out, lse, attn_mask=m)
        assert np.all(dq[:, 3] == 0)
        for ours, ref in zip((dq, dk, dv), (tq.grad, tk.grad, tv.grad)):
            assert_close(ours, ref.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("batch,L,S,E,Ev", [((0, 2), 5, 6, 4, 3), ((2,), 0, 6, 4, 3), ((2,), 5, 0, 4, 3),
                                            ((2,), 5, 6, 0, 3), ((2,), 5, 6, 4, 0)])
def test_zero_sizes(isa, batch, L, S, E, Ev, rng):
    q, k, v, g = _inputs(rng, batch, L, S, E, Ev)
    out, lse = SDPA(q, k, v, return_lse=True)
    assert out.shape == batch + (L, Ev)
    assert_close(out, RA.sdpa(q, k, v))  # no keys: zeros; no head dimension: the mean of the values
    if S > 0 and L > 0:
        assert_close(lse, np.full(batch + (L,), np.log(S)) if E == 0 else RA.sdpa_lse(q, k), rtol=1e-6)
    grads = SDPA_BW(g, q, k, v, out, lse)
    for ours, ref in zip(grads, RA.sdpa_backward(g, q, k, v)):
        assert ours.shape == ref.shape
        assert_close(ours, ref, atol=1e-6)


def test_bad_input(rng):
    q, k, v, g = _inputs(rng, (2,), 5, 6, 4, 3)
    with pytest.raises(ValueError, match="key: expected head dimension 4"):
        SDPA(q, k[..., :3], v)
    with pytest.raises(ValueError, match="value: expected the 6 keys"):
        SDPA(q, k, v[:, :5])
    with pytest.raises(ValueError, match=r"attn_mask: expected a shape that broadcasts to \(2, 5, 6\)"):
        SDPA(q, k, v, attn_mask=np.ones((5, 5), dtype=bool))
    with pytest.raises(ValueError, match="attn_mask: expected a shape"):
        SDPA(q, k, v, attn_mask=np.zeros((3, 5, 6), np.float32))
    with pytest.raises(ValueError, match="is_causal"):
        SDPA(q, k, v, attn_mask=np.ones((5, 6), dtype=bool), is_causal=True)
    with pytest.raises(ValueError, match="do not broadcast"):
        SDPA(q, k[:1].repeat(3, 0), v[:1].repeat(3, 0))
    with pytest.raises(ValueError, match="query: expected an array of shape"):
        SDPA(q[0, 0], k, v)
    with pytest.raises(TypeError, match="query"):
        SDPA(q.astype(np.complex64), k, v)
    with pytest.raises(ValueError, match="dropout_p"):
        SDPA(q, k, v, dropout_p=1.5)
    with pytest.raises(TypeError, match="dropout_p"):
        SDPA(q, k, v, dropout_p="0.1")
    with pytest.raises(ValueError, match="seed: required"):
        SDPA(q, k, v, dropout_p=0.1, return_lse=True)
    with pytest.raises(ValueError, match="seed"):
        SDPA(q, k, v, dropout_p=0.1, seed=-1)
    out, lse = SDPA(q, k, v, return_lse=True)
    with pytest.raises(ValueError, match=r"lse: expected shape \(2, 5\)"):
        SDPA_BW(g, q, k, v, out, lse[:, :4])
    with pytest.raises(ValueError, match="grad_out: expected shape"):
        SDPA_BW(g[..., :2], q, k, v, out, lse)
    with pytest.raises(ValueError, match="seed: required when dropout_p > 0 in the backward"):
        SDPA_BW(g, q, k, v, out, lse, dropout_p=0.1)


def _drop(seed, p, shape):
    """The dropout factors of weights of `shape` (functional.dropout's mask, keep / (1 - p))."""
    return R.dropout_keep(seed, int(np.prod(shape)), p).reshape(shape) / (1 - p)


@pytest.mark.parametrize("kind", ["none", "causal", "bool"])
def test_dropout(isa, kind, rng):
    """The weights' dropout is functional.dropout's mask over (..., L, S); the backward re-derives it."""
    batch, L, S, E = (2, 2), 70, 203, 24
    q, k, v, g = _inputs(rng, batch, L, S, E, E)
    mask, causal = _mask(rng, kind, batch, L, S)
    drop = _drop(77, 0.3, batch + (L, S))
    out, lse = SDPA(q, k, v, attn_mask=mask, is_causal=causal, dropout_p=0.3, seed=77, return_lse=True)
    assert_close(out, RA.sdpa(q, k, v, mask, causal, drop=drop), rtol=1e-5, atol=1e-5, what="out")
    assert_close(lse, RA.sdpa_lse(q, k, mask, causal), rtol=1e-6, atol=1e-6, what="lse (undropped)")
    grads = SDPA_BW(g, q, k, v, out, lse, attn_mask=mask, is_causal=causal, dropout_p=0.3, seed=77)
    for name, ours, ref in zip("qkv", grads, RA.sdpa_backward(g, q, k, v, mask, causal, drop=drop)):
        assert_close(ours, ref, rtol=1e-4, atol=1e-5, what=name)
    # a drawn seed gives another mask; p = 1 drops every weight
    assert not np.allclose(SDPA(q, k, v, dropout_p=0.3), SDPA(q, k, v, dropout_p=0.3, seed=77))
    out1, lse1 = SDPA(q, k, v, dropout_p=1.0, seed=1, return_lse=True)
    assert np.all(out1 == 0)
    assert not any(np.any(a) for a in SDPA_BW(g, q, k, v, out1, lse1, dropout_p=1.0, seed=1))


def test_dropout_finite_differences(rng):
    q, k, v, g = _inputs(rng, (2,), 5, 9, 3, 4)
    drop = _drop(5, 0.4, (2, 5, 9))
    out, lse = SDPA(q, k, v, dropout_p=0.4, seed=5, return_lse=True)
    grads = SDPA_BW(g, q, k, v, out, lse, dropout_p=0.4, seed=5)
    def f(i):
        return lambda x: RA.sdpa(*[x if j == i else a for j, a in enumerate((q, k, v))], drop=drop)
    for i, ours in enumerate(grads):
        assert_close(ours, numeric_grad(f(i), (q, k, v)[i], g, eps=1e-5), rtol=1e-4, atol=1e-5, what=f"input {i}")


def test_core_checks_bounds(rng):
    """A direct call into _core with sizes, offsets or strides that would read past an array raises."""
    q, k, v, _ = _inputs(rng, (2,), 5, 6, 4, 3)
    o, lse = np.empty((2, 5, 3), np.float32), np.empty((2, 5), np.float32)
    none, add = _core.AttnMask.none, _core.AttnMask.additive
    nodrop = (0, 0, 1.0)  # dropout seed, threshold, scale
    with pytest.raises(ValueError, match="key: expected 48 elements"):
        k5 = np.ascontiguousarray(k[:, :5])
        _core.attention_forward(o, lse, q, k5, v, 2, 5, 6, 4, 3, none, None, None, 0, 0, 0.5, *nodrop)
    m = np.zeros((5, 6), np.float32)
    offs = np.zeros(2, np.int64)
    _core.attention_forward(o, lse, q, k, v, 2, 5, 6, 4, 3, add, m, offs, 6, 1, 0.5, *nodrop)
    with pytest.raises(ValueError, match="attn_mask: batch-head 1 reads"):
        _core.attention_forward(o, lse, q, k, v, 2, 5, 6, 4, 3, add, m, np.array([0, 1], np.int64), 6, 1, 0.5, *nodrop)
    with pytest.raises(ValueError, match="attn_mask"):
        _core.attention_forward(o, lse, q, k, v, 2, 5, 6, 4, 3, add, m, offs, 7, 1, 0.5, *nodrop)
    with pytest.raises(ValueError, match="offsets: expected 2 entries"):
        _core.attention_forward(o, lse, q, k, v, 2, 5, 6, 4, 3, add, m, offs[:1], 6, 1, 0.5, *nodrop)
    with pytest.raises(TypeError):
        _core.attention_forward(o, lse, q, k, v, 2, 5, 6, 4, 3, _core.AttnMask.boolean, m, offs, 6, 1, 0.5, *nodrop)
