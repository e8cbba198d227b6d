"""nn.RNN / LSTM / GRU and the cells: PyTorch's parameter names and state_dict, forward and
backward parity with torch.nn (gradients accumulated into .grad), eval mode, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from fastlayers import nn

from helpers import assert_close

KINDS = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {})]


def _pair(torch, m, tm, x, hx, lengths, batch_first):
    """Forward and backward of both modules with the same upstream gradients."""
    lstm = isinstance(m, nn.LSTM)
    rng = np.random.default_rng(5)
    tx = torch.from_numpy(x).requires_grad_()
    if lstm:
        th = tuple(torch.from_numpy(a).requires_grad_() for a in hx)
    else:
        th = torch.from_numpy(hx).requires_grad_()
    if lengths is not None:
        packed = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.tensor(lengths), batch_first=batch_first,
                                                         enforce_sorted=False)
        tout, tstate = tm(packed, th)
        tout, _ = torch.nn.utils.rnn.pad_packed_sequence(tout, batch_first=batch_first,
                                                         total_length=x.shape[1 if batch_first else 0])
    else:
        tout, tstate = tm(tx, th)
    out, state = m(x, hx, lengths=lengths)
    assert_close(out, tout.detach().numpy(), rtol=1e-4, atol=2e-5, what="output")
    gy = rng.standard_normal(out.shape).astype(np.float32)
    if lstm:
        gs = tuple(rng.standard_normal(s.shape).astype(np.float32) for s in state)
        for a, b in zip(state, tstate):
            assert_close(a, b.detach().numpy(), rtol=1e-4, atol=2e-5, what="state")
        loss = (tout * torch.from_numpy(gy)).sum() + sum((b * torch.from_numpy(g)).sum() for b, g in zip(tstate, gs))
    else:
        gs = rng.standard_normal(state.shape).astype(np.float32)
        assert_close(state, tstate.detach().numpy(), rtol=1e-4, atol=2e-5, what="h_n")
        loss = (tout * torch.from_numpy(gy)).sum() + (tstate * torch.from_numpy(gs)).sum()
    loss.backward()
    dx, dstate = m.backward(gy, gs)
    assert_close(dx, tx.grad.numpy(), rtol=1e-4, atol=3e-5, what="dx")
    if lstm:
        for a, b in zip(dstate, th):
            assert_close(a, b.grad.numpy(), rtol=1e-4, atol=3e-5, what="d state")
    else:
        assert_close(dstate, th.grad.numpy(), rtol=1e-4, atol=3e-5, what="dh0")
    tparams = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        assert_close(p.grad, tparams[name].grad.numpy(), rtol=1e-4, atol=1e-4, what=f"grad {name}")


@pytest.mark.parametrize("kind,kw", KINDS)
@pytest.mark.parametrize("batch_first,bidi,use_len", [(False, False, False), (True, True, True), (False, True, True)])
def test_modules_match_torch(torch, rng, kind, kw, batch_first, bidi, use_len):
    T, B, I, H, L = 6, 4, 19, 37, 2
    tm = getattr(torch.nn, kind)(I, H, num_layers=L, batch_first=batch_first, bidirectional=bidi, **kw)
    m = getattr(nn, kind)(I, H, num_layers=L, batch_first=batch_first, bidirectional=bidi, **kw)
    assert list(m.state_dict()) == list(tm.state_dict())
    for (a, pa), (b, pb) in zip(m.named_parameters(), tm.named_parameters()):
        assert a == b and pa.shape == tuple(pb.shape)
    m.load_state_dict(tm.state_dict())
    D = 2 if bidi else 1
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(np.float32)
    h0 = rng.standard_normal((L * D, B, H)).astype(np.float32)
    hx = (h0, rng.standard_normal((L * D, B, H)).astype(np.float32)) if kind == "LSTM" else h0
    _pair(torch, m, tm, x, hx, [2, 6, 5, 1] if use_len else None, batch_first)


def test_many_to_one_backward_and_accumulation(rng):
    m = nn.LSTM(5, 7, batch_first=True)
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    out, (h, c) = m(x)
    dx, (dh0, dc0) = m.backward(None, (np.ones_like(h), None))
    assert dx.shape == x.shape and dh0.shape == h.shape and dc0.shape == c.shape
    first = {n: p.grad.copy() for n, p in m.named_parameters()}
    m(x)
    m.backward(None, (np.ones_like(h), None))
    for n, p in m.named_parameters():
        assert_close(p.grad, 2 * first[n], rtol=1e-6, atol=1e-6, what=n)


def test_eval_caches_nothing_and_dropout_only_in_training(rng):
    m = nn.GRU(4, 6, num_layers=2, dropout=0.5)
    x = rng.standard_normal((5, 2, 4)).astype(np.float32)
    m.eval()
    a, _ = m(x)
    b, _ = m(x)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(RuntimeError, match="no saved"):
        m.backward(a)
    m.train()
    c, _ = m(x)
    assert not np.allclose(a, c)
    dx, dh0 = m.backward(np.ones_like(c))
    assert dx.shape == x.shape and dh0.shape == (2, 2, 6)


@pytest.mark.parametrize("kind,kw", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}),
                                     ("GRUCell", {})])
def test_cells_match_torch(torch, rng, kind, kw):
    B, I, H = 5, 19, 37
    tm = getattr(torch.nn, kind)(I, H, **kw)
    m = getattr(nn, kind)(I, H, **kw)
    assert list(m.state_dict()) == list(tm.state_dict())
    m.load_state_dict(tm.state_dict())
    x = rng.standard_normal((B, I)).astype(np.float32)
    h = rng.standard_normal((B, H)).astype(np.float32)
    tx, th = torch.from_numpy(x).requires_grad_(), torch.from_numpy(h).requires_grad_()
    gh = rng.standard_normal((B, H)).astype(np.float32)
    if kind == "LSTMCell":
        c = rng.standard_normal((B, H)).astype(np.float32)
        tc = torch.from_numpy(c).requires_grad_()
        th2, tc2 = tm(tx, (th, tc))
        h2, c2 = m(x, (h, c))
        assert_close(c2, tc2.detach().numpy(), rtol=1e-5, atol=2e-6)
        (th2 * torch.from_numpy(gh)).sum().add(tc2.sum()).backward()
        dx, (dh, dc) = m.backward((gh, np.ones_like(c)))
        assert_close(dc, tc.grad.numpy(), rtol=1e-5, atol=1e-5)
    else:
        th2 = tm(tx, th)
        h2 = m(x, h)
        (th2 * torch.from_numpy(gh)).sum().backward()
        dx, dh = m.backward(gh)
    assert_close(h2, th2.detach().numpy(), rtol=1e-5, atol=2e-6)
    assert_close(dx, tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    assert_close(dh, th.grad.numpy(), rtol=1e-5, atol=1e-5)
    tparams = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        assert_close(p.grad, tparams[name].grad.numpy(), rtol=1e-5, atol=1e-5, what=name)


def test_no_bias_and_bad_arguments(torch, rng):
    tm = torch.nn.GRU(3, 4, bias=False)
    m = nn.GRU(3, 4, bias=False)
    assert list(m.state_dict()) == list(tm.state_dict())
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="num_layers"):
        nn.LSTM(3, 4, num_layers=0)
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="input_size 3"):
        m(np.zeros((2, 1, 5), np.float32))
    with pytest.raises(ValueError, match="expected shape \\(1, 1, 4\\)"):
        m(np.zeros((2, 1, 3), np.float32), np.zeros((1, 2, 4), np.float32))
    assert "bias=False" in repr(m) and "GRU(3, 4" in repr(m)
