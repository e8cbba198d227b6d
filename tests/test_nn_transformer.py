"""nn.TransformerEncoderLayer / DecoderLayer / Encoder / Decoder against torch.nn: state_dict keys,
forward and backward (input and parameter gradients) for norm_first both ways, relu and gelu,
masks (causal, key padding), batch_first both ways; eval mode; bad input."""
from __future__ import annotations

import numpy as np
import pytest

from fastlayers import nn

from helpers import assert_close


def _load_random(torch, m, tm, rng):
    assert list(m.state_dict()) == list(tm.state_dict())
    with torch.no_grad():
        for name, p in tm.named_parameters():
            scale = 0.2 if p.ndim > 1 else 0.1
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32) * scale)
                    + (1.0 if "norm" in name and name.endswith("weight") else 0.0))
    m.load_state_dict(tm.state_dict())


def _grads_match(m, tm, rtol=2e-4, atol=2e-4):
    tparams = dict(tm.named_parameters())
    names = [n for n, _ in m.named_parameters()]
    assert names == list(tparams)
    for name, p in m.named_parameters():
        assert_close(p.grad, tparams[name].grad.numpy(), rtol=rtol, atol=atol, what=f"grad {name}")


def _masks(torch, T, N, kind):
    """(ours, torch's) keyword masks of an encoder layer."""
    if kind == "none":
        return {}, {}
    causal = np.triu(np.ones((T, T), np.bool_), 1)
    kpm = np.zeros((N, T), np.bool_)
    kpm[0, T - 2:] = True
    if kind == "causal":
        return {"is_causal": True}, {"src_mask": torch.from_numpy(causal), "is_causal": True}
    ours = {"src_mask": causal, "src_key_padding_mask": kpm}
    return ours, {k: torch.from_numpy(v) for k, v in ours.items()}


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first,masks", [(False, "none"), (True, "causal"), (True, "kpm")])
def test_encoder_layer_matches_torch(torch, rng, norm_first, activation, batch_first, masks):
    d, H, ff, N, T = 16, 4, 24, 3, 7
    kw = dict(dim_feedforward=ff, dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first)
    tm = torch.nn.TransformerEncoderLayer(d, H, **kw)
    m = nn.TransformerEncoderLayer(d, H, **kw)
    _load_random(torch, m, tm, rng)
    x = rng.standard_normal((N, T, d) if batch_first else (T, N, d)).astype(np.float32)
    ours, theirs = _masks(torch, T, N, masks)
    tx = torch.from_numpy(x).requires_grad_()
    ty = tm(tx, **theirs)
    y = m(x, **ours)
    assert_close(y, ty.detach().numpy(), rtol=1e-4, atol=3e-5, what="y")
    g = rng.standard_normal(y.shape).astype(np.float32)
    (ty * torch.from_numpy(g)).sum().backward()
    assert_close(m.backward(g), tx.grad.numpy(), rtol=2e-4, atol=1e-4, what="dx")
    _grads_match(m, tm)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_layer_matches_torch(torch, rng, norm_first, activation):
    d, H, ff, N, T, S = 16, 2, 20, 2, 6, 9
    kw = dict(dim_feedforward=ff, dropout=0.0, activation=activation, batch_first=True, norm_first=norm_first)
    tm = torch.nn.TransformerDecoderLayer(d, H, **kw)
    m = nn.TransformerDecoderLayer(d, H, **kw)
    _load_random(torch, m, tm, rng)
    x = rng.standard_normal((N, T, d)).astype(np.float32)
    mem = rng.standard_normal((N, S, d)).astype(np.float32)
    causal = np.triu(np.ones((T, T), np.bool_), 1)
    mkpm = np.zeros((N, S), np.bool_)
    mkpm[1, 6:] = True
    tx, tmem = torch.from_numpy(x).requires_grad_(), torch.from_numpy(mem).requires_grad_()
    ty = tm(tx, tmem, tgt_mask=torch.from_numpy(causal), memory_key_padding_mask=torch.from_numpy(mkpm),
            tgt_is_causal=True)
    y = m(x, mem, tgt_is_causal=True, memory_key_padding_mask=mkpm)
    assert_close(y, ty.detach().numpy(), rtol=1e-4, atol=3e-5, what="y")
    g = rng.standard_normal(y.shape).astype(np.float32)
    (ty * torch.from_numpy(g)).sum().backward()
    dx, dmem = m.backward(g)
    assert_close(dx, tx.grad.numpy(), rtol=2e-4, atol=1e-4, what="d tgt")
    assert_close(dmem, tmem.grad.numpy(), rtol=2e-4, atol=1e-4, what="d memory")
    _grads_match(m, tm)


def test_encoder_layer_every_isa(isa, torch, rng):
    """One pre-norm GELU layer with a key-padding mask, forward and backward, at each ISA level."""
    test_encoder_layer_matches_torch(torch, rng, True, "gelu", True, "kpm")


def test_encoder_and_decoder_stacks_match_torch(torch, rng):
    d, H, N, T, S = 8, 2, 2, 5, 4
    layer_kw = dict(dim_feedforward=12, dropout=0.0, batch_first=True, norm_first=True)
    tm = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(d, H, **layer_kw), 3,
                                     norm=torch.nn.LayerNorm(d), enable_nested_tensor=False)
    m = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, H, **layer_kw), 3, norm=nn.LayerNorm(d))
    _load_random(torch, m, tm, rng)
    assert "layers.2.self_attn.in_proj_weight" in m.state_dict()
    x = rng.standard_normal((N, T, d)).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_()
    mask = torch.nn.Transformer.generate_square_subsequent_mask(T)
    ty = tm(tx, mask=mask, is_causal=True)
    y = m(x, is_causal=True)
    assert_close(y, ty.detach().numpy(), rtol=1e-4, atol=3e-5, what="encoder")
    g = rng.standard_normal(y.shape).astype(np.float32)
    (ty * torch.from_numpy(g)).sum().backward()
    assert_close(m.backward(g), tx.grad.numpy(), rtol=2e-4, atol=1e-4, what="encoder dx")
    _grads_match(m, tm)

    td = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(d, H, **layer_kw), 2)
    dm = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, H, **layer_kw), 2)
    _load_random(torch, dm, td, rng)
    mem = rng.standard_normal((N, S, d)).astype(np.float32)
    tmem = torch.from_numpy(mem).requires_grad_()
    tx = torch.from_numpy(x).requires_grad_()
    ty = td(tx, tmem)
    y = dm(x, mem)
    assert_close(y, ty.detach().numpy(), rtol=1e-4, atol=3e-5, what="decoder")
    (ty * torch.from_numpy(g)).sum().backward()
    dx, dmem = dm.backward(g)
    assert_close(dx, tx.grad.numpy(), rtol=2e-4, atol=1e-4, what="decoder d tgt")
    assert_close(dmem, tmem.grad.numpy(), rtol=2e-4, atol=1e-4, what="decoder d memory")
    _grads_match(dm, td)


def test_eval_mode_matches_torch_and_caches_nothing(torch, rng):
    d, H = 16, 4
    tm = torch.nn.TransformerEncoderLayer(d, H, dim_feedforward=32).eval()
    m = nn.TransformerEncoderLayer(d, H, dim_feedforward=32).eval()
    _load_random(torch, m, tm, rng)
    x = rng.standard_normal((5, 2, d)).astype(np.float32)
    with torch.no_grad():
        ty = tm(torch.from_numpy(x))
    assert_close(m(x), ty.numpy(), rtol=1e-4, atol=3e-5)
    with pytest.raises(RuntimeError, match="no saved"):
        m.backward(np.ones_like(x))


def test_dropout_in_training_changes_the_output(rng):
    m = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.5)
    x = rng.standard_normal((4, 2, 8)).astype(np.float32)
    a, b = m(x), m(x)
    assert not np.allclose(a, b)
    assert m.backward(np.ones_like(a)).shape == x.shape
    m.eval()
    assert_close(m(x), m(x), rtol=0, atol=0)


def test_bad_input():
    with pytest.raises(ValueError, match="activation"):
        nn.TransformerEncoderLayer(8, 2, activation="swish")
    with pytest.raises(ValueError, match="divisible"):
        nn.TransformerDecoderLayer(10, 4)
    m = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    with pytest.raises(ValueError, match="query"):
        m(np.ones((3, 2, 7), np.float32))
    with pytest.raises(ValueError, match="key_padding_mask"):
        m(np.ones((3, 2, 8), np.float32), src_key_padding_mask=np.zeros((3, 3), np.bool_))
