"""nn.LayerNorm, the position embeddings and nn.MultiheadAttention: PyTorch's parameter names,
state_dicts, forward and backward (gradients accumulated into .grad), both attention paths
(need_weights explicit, need_weights=False fused), masks, batch_first, kdim / vdim, unbatched
input, eval mode, and bad input."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers.functional as F
from fastlayers import nn

from helpers import assert_close, numeric_grad


def _grads_match(m, tm, rtol=1e-4, atol=1e-4):
    tparams = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        assert_close(p.grad, tparams[name].grad.numpy(), rtol=rtol, atol=atol, what=f"grad {name}")


# ---- LayerNorm ----
@pytest.mark.parametrize("shape,ns,affine,bias", [((4, 7, 33), (33,), True, True), ((3, 5, 6), (5, 6), True, False),
                                                   ((2, 9, 16), 16, False, True)])
def test_layer_norm_matches_torch(torch, rng, shape, ns, affine, bias):
    tm = torch.nn.LayerNorm(ns, eps=1e-5, elementwise_affine=affine, bias=bias)
    m = nn.LayerNorm(ns, eps=1e-5, elementwise_affine=affine, bias=bias)
    assert list(m.state_dict()) == list(tm.state_dict())
    if affine:
        with torch.no_grad():
            tm.weight.normal_()
            if bias:
                tm.bias.normal_()
    m.load_state_dict(tm.state_dict())
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_()
    ty = tm(tx)
    y = m(x)
    assert_close(y, ty.detach().numpy(), rtol=1e-5, atol=2e-5, what="y")
    (ty * torch.from_numpy(g)).sum().backward()
    assert_close(m.backward(g), tx.grad.numpy(), rtol=1e-4, atol=5e-5, what="dx")
    if affine:
        _grads_match(m, tm)
    m.backward(g)  # a second backward accumulates
    if affine:
        assert_close(m.weight.grad, 2 * tm.weight.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_layer_norm_eval_and_bad_input(rng):
    m = nn.LayerNorm(8).eval()
    m(rng.standard_normal((2, 8)))
    with pytest.raises(RuntimeError, match="no saved"):
        m.backward(np.ones((2, 8), np.float32))
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.LayerNorm(8)(np.ones((2, 7), np.float32))
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.LayerNorm(())
    with pytest.raises(TypeError, match="normalized_shape"):
        nn.LayerNorm("8")


# ---- position embeddings ----
def test_sinusoidal_table_layout():
    pe = F.sinusoidal_position_encoding(50, 7)
    assert pe.shape == (50, 7) and pe.dtype == np.float32
    p = np.arange(50)[:, None]
    for i in range(7):
        freq = 10000.0 ** (-(i - i % 2) / 7)
        want = np.sin(p * freq) if i % 2 == 0 else np.cos(p * freq)
        assert_close(pe[:, i:i + 1], want, rtol=1e-6, atol=1e-6, what=f"column {i}")
    assert F.sinusoidal_position_encoding(0, 4).shape == (0, 4)
    with pytest.raises(ValueError, match="embedding_dim"):
        F.sinusoidal_position_encoding(4, -1)
    with pytest.raises(ValueError, match="base"):
        F.sinusoidal_position_encoding(4, 4, base=1.0)


@pytest.mark.parametrize("batch_first", [True, False])
def test_position_modules(rng, batch_first):
    B, T, C = 3, 5, 8
    x = rng.standard_normal((B, T, C) if batch_first else (T, B, C)).astype(np.float32)
    s = nn.SinusoidalPositionalEncoding(C, max_len=16, batch_first=batch_first)
    assert not s.state_dict()
    pe = F.sinusoidal_position_encoding(16, C)
    table = pe[2:2 + T] if batch_first else pe[2:2 + T, None]
    assert_close(s(x, offset=2), x + table, rtol=0, atol=1e-7)
    m = nn.LearnedPositionalEmbedding(16, C, batch_first=batch_first)
    assert list(m.state_dict()) == ["weight"] and abs(float(m.weight.data.std()) - 0.02) < 0.01
    y = m(x, offset=3)
    w = m.weight.data[3:3 + T] if batch_first else m.weight.data[3:3 + T, None]
    assert_close(y, x + w, rtol=0, atol=1e-7)
    g = rng.standard_normal(x.shape).astype(np.float32)
    assert m.backward(g) is g
    want = np.zeros((16, C))
    want[3:3 + T] = g.sum(axis=0 if batch_first else 1)
    assert_close(m.weight.grad, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="exceed"):
        m(x, offset=14)
    with pytest.raises(ValueError, match="C = 8"):
        s(np.ones((2, 3, 4), np.float32))


# ---- MultiheadAttention ----
def _mha_pair(torch, E, H, rng, **kw):
    tm = torch.nn.MultiheadAttention(E, H, **kw)
    m = nn.MultiheadAttention(E, H, **kw)
    assert list(m.state_dict()) == list(tm.state_dict())
    for (a, pa), (b, pb) in zip(m.named_parameters(), tm.named_parameters()):
        assert a == b and pa.shape == tuple(pb.shape)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.3))
    m.load_state_dict(tm.state_dict())
    return m, tm


def _mha_check(torch, m, tm, q, k, v, rng, same=False, kw_t=None, kw_m=None, weights=True):
    """Runs both modules; compares outputs, weights, input and parameter gradients."""
    kw_t, kw_m = kw_t or {}, kw_m or {}
    tq = torch.from_numpy(q).requires_grad_()
    tk, tv = (tq, tq) if same else (torch.from_numpy(k).requires_grad_(), torch.from_numpy(v).requires_grad_())
    tout, tw = tm(tq, tk, tv, **kw_t)
    out, w = m(q, q if same else k, q if same else v, **kw_m)
    assert_close(out, tout.detach().numpy(), rtol=1e-4, atol=2e-5, what="out")
    if weights:
        assert_close(w, tw.detach().numpy(), rtol=1e-4, atol=1e-5, what="weights")
    else:
        assert w is None and tw is None
    g = rng.standard_normal(out.shape).astype(np.float32)
    (tout * torch.from_numpy(g)).sum().backward()
    dq, dk, dv = m.backward(g)
    if same:
        assert_close(dq + dk + dv, tq.grad.numpy(), rtol=1e-4, atol=5e-5, what="d x")
    else:
        for name, a, t in (("dq", dq, tq), ("dk", dk, tk), ("dv", dv, tv)):
            assert_close(a, t.grad.numpy(), rtol=1e-4, atol=5e-5, what=name)
    _grads_match(m, tm)
    return out


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("same", [True, False])
def test_mha_matches_torch(torch, rng, need_weights, batch_first, same):
    E, H, N, L, S = 24, 4, 3, 7, 7 if same else 11
    m, tm = _mha_pair(torch, E, H, rng, batch_first=batch_first)
    shape = (lambda T: (N, T, E)) if batch_first else (lambda T: (T, N, E))
    q, k, v = (rng.standard_normal(shape(T)).astype(np.float32) for T in (L, S, S))
    kw = {"need_weights": need_weights}
    _mha_check(torch, m, tm, q, k, v, rng, same=same, kw_t=kw, kw_m=kw, weights=need_weights)


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")  # PyTorch, on "mixed"
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("masks", ["kpm_bool", "kpm_float", "attn_float", "attn_bool3d", "both_bool", "mixed"])
def test_mha_masks_match_torch(torch, rng, need_weights, masks):
    E, H, N, L, S = 16, 2, 3, 5, 9
    m, tm = _mha_pair(torch, E, H, rng, batch_first=True)
    q = rng.standard_normal((N, L, E)).astype(np.float32)
    k, v = (rng.standard_normal((N, S, E)).astype(np.float32) for _ in range(2))
    kpm = np.zeros((N, S), np.bool_)
    kpm[0, 6:] = True
    kpm[2, 1:4] = True
    am2 = rng.standard_normal((L, S)).astype(np.float32)
    am3 = rng.random((N * H, L, S)) < 0.3
    am3[..., 0] = False  # every query keeps a key (PyTorch's explicit path gives NaN rows otherwise)
    kw = {"need_weights": need_weights}
    if "kpm" in masks:
        kw["key_padding_mask"] = kpm if masks == "kpm_bool" else np.where(kpm, -1e4, 0.0).astype(np.float32)
    if masks == "attn_float":
        kw["attn_mask"] = am2
    if masks == "attn_bool3d":
        kw["attn_mask"] = am3
    if masks in ("both_bool", "mixed"):
        kw["key_padding_mask"] = kpm
        kw["attn_mask"] = am3 if masks == "both_bool" else am2
    kw_t = {k_: torch.from_numpy(a) if isinstance(a, np.ndarray) else a for k_, a in kw.items()}
    _mha_check(torch, m, tm, q, k, v, rng, kw_t=kw_t, kw_m=kw, weights=need_weights)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("with_kpm", [False, True])
def test_mha_causal(torch, rng, need_weights, with_kpm):
    E, H, N, L = 16, 4, 2, 9
    m, tm = _mha_pair(torch, E, H, rng)
    x = rng.standard_normal((L, N, E)).astype(np.float32)
    causal = torch.from_numpy(np.triu(np.ones((L, L), np.bool_), 1))
    kw = {"need_weights": need_weights, "is_causal": True}
    kw_t = dict(kw, attn_mask=causal)
    if with_kpm:
        kpm = np.zeros((N, L), np.bool_)
        kpm[1, 5:] = True
        kw["key_padding_mask"], kw_t["key_padding_mask"] = kpm, torch.from_numpy(kpm)
    _mha_check(torch, m, tm, x, x, x, rng, same=True, kw_t=kw_t, kw_m=kw, weights=need_weights)
    # is_causal with the mask given too (PyTorch's form) gives the same result
    m.zero_grad()
    out2, _ = m(x, x, x, attn_mask=causal.numpy(), **kw)
    assert_close(out2, m(x, x, x, **kw)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_kdim_vdim_and_no_bias(torch, rng, need_weights):
    E, H, N, L, S = 12, 3, 2, 4, 6
    m, tm = _mha_pair(torch, E, H, rng, kdim=5, vdim=7, bias=False)
    assert "q_proj_weight" in m.state_dict() and "in_proj_weight" not in m.state_dict()
    q = rng.standard_normal((L, N, E)).astype(np.float32)
    k = rng.standard_normal((S, N, 5)).astype(np.float32)
    v = rng.standard_normal((S, N, 7)).astype(np.float32)
    kw = {"need_weights": need_weights}
    _mha_check(torch, m, tm, q, k, v, rng, kw_t=kw, kw_m=kw, weights=need_weights)


def test_mha_unbatched_and_per_head_weights(torch, rng):
    E, H, L, S = 8, 2, 3, 5
    m, tm = _mha_pair(torch, E, H, rng)
    q = rng.standard_normal((L, E)).astype(np.float32)
    k, v = (rng.standard_normal((S, E)).astype(np.float32) for _ in range(2))
    kw = {"average_attn_weights": False, "key_padding_mask": np.array([False, False, True, False, True])}
    kw_t = dict(kw, key_padding_mask=torch.from_numpy(kw["key_padding_mask"]))
    out = _mha_check(torch, m, tm, q, k, v, rng, kw_t=kw_t, kw_m=kw)
    assert out.shape == (L, E) and m(q, k, v, **kw)[1].shape == (H, L, S)


def test_mha_dropout_masks_agree_between_paths(rng):
    """With dropout in training, both paths draw one mask from the seed: their outputs agree."""
    import fastlayers
    m = nn.MultiheadAttention(16, 4, dropout=0.3)
    x = rng.standard_normal((6, 2, 16)).astype(np.float32)
    fastlayers.manual_seed(7)
    a, w = m(x, x, x, average_attn_weights=False)
    fastlayers.manual_seed(7)
    b, _ = m(x, x, x, need_weights=False)
    assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert (w == 0).any()
    m.eval()
    c, _ = m(x, x, x)
    assert not np.allclose(a, c)


def test_mha_finite_differences(rng):
    """The explicit and fused backward against central differences on a tiny case (float64 forward
    through the module's own float32 kernels is enough at this tolerance)."""
    E, H, L = 4, 2, 3
    m = nn.MultiheadAttention(E, H)
    x = rng.standard_normal((L, 1, E)).astype(np.float32)
    g = rng.standard_normal((L, 1, E)).astype(np.float32)
    for need in (True, False):
        m.zero_grad()
        m(x, x, x, need_weights=need, is_causal=True)
        dx = m._backward_summed(g)
        num = numeric_grad(lambda z: m(z.astype(np.float32), z.astype(np.float32), z.astype(np.float32),
                                       need_weights=need, is_causal=True)[0].astype(np.float64), x, g, eps=1e-2)
        assert_close(dx, num, rtol=2e-2, atol=2e-3, what=f"need_weights={need}")


def test_mha_bad_input(rng):
    with pytest.raises(ValueError, match="divisible by num_heads"):
        nn.MultiheadAttention(10, 3)
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    x = np.ones((2, 3, 8), np.float32)
    with pytest.raises(ValueError, match="query"):
        m(np.ones((2, 3, 7), np.float32), x, x)
    with pytest.raises(ValueError, match="key"):
        m(x, np.ones((2, 3, 6), np.float32), x)
    with pytest.raises(ValueError, match="batch size"):
        m(x, np.ones((3, 3, 8), np.float32), np.ones((3, 3, 8), np.float32))
    with pytest.raises(ValueError, match="value"):
        m(x, x, np.ones((2, 4, 8), np.float32))
    with pytest.raises(ValueError, match="attn_mask"):
        m(x, x, x, attn_mask=np.zeros((3, 4), np.bool_))
    with pytest.raises(ValueError, match="key_padding_mask"):
        m(x, x, x, key_padding_mask=np.zeros((2, 4), np.bool_))
    with pytest.raises(TypeError, match="attn_mask"):
        m(x, x, x, attn_mask=np.zeros((3, 3), np.int32))
    with pytest.raises(RuntimeError, match="no saved"):
        nn.MultiheadAttention(8, 2).backward(x)
