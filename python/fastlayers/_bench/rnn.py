"""RNN benchmark cases: LSTM and GRU layers (T=100, B=32, I=128, H=256, time-major) forward
(inference: nothing cached) and forward + backward (training: the states cached, then the
gradient of every output back through time into the input, h0 and the weights), and a
character-LSTM training step (Embedding 96x64, LSTM 64->256, Linear 256->96, cross-entropy,
Adam; T=64, batch 32), fastlayers against the same modules (same weights) in PyTorch CPU.

FLOPs: a layer's forward is 2 * T * B * G*H * (I + H) (the input projection and the recurrent
products); forward + backward three times that (the two backward products per weight). The gate
arithmetic is extra.
"""
from __future__ import annotations

import numpy as np

from .common import Case, rng, try_torch


def _layer_cases(kind: str, T: int, B: int, I: int, H: int) -> list[Case]:
    import fastlayers
    from .. import nn

    fastlayers.manual_seed(0)
    G = {"LSTM": 4, "GRU": 3}[kind]
    m = getattr(nn, kind)(I, H)
    x = rng(0).standard_normal((T, B, I), dtype=np.float32)
    dy = np.ones((T, B, H), np.float32)
    flops = 2.0 * T * B * G * H * (I + H)
    shape = f"T={T} B={B} I={I} H={H}"

    def fwd():
        m.eval()
        m(x)

    def fwd_bwd():
        m.train()
        m(x)
        m.backward(dy)
        m.zero_grad()

    torch = try_torch()
    t_fwd = t_fwd_bwd = None
    if torch:
        tm = getattr(torch.nn, kind)(I, H)
        tm.load_state_dict({k: torch.from_numpy(v) for k, v in m.state_dict().items()})
        tx = torch.from_numpy(x)
        txg = tx.clone().requires_grad_()
        tdy = torch.from_numpy(dy)

        def t_fwd():
            with torch.no_grad():
                tm(tx)

        def t_fwd_bwd():
            out, _ = tm(txg)
            out.backward(tdy)
            tm.zero_grad()
            txg.grad = None

    note = "gradients of the input, h0 and the weights"
    return [Case("rnn", f"{kind.lower()} forward", shape, fwd, None, t_fwd, flops=flops, note="inference"),
            Case("rnn", f"{kind.lower()} forward+backward", shape, fwd_bwd, None, t_fwd_bwd, flops=3 * flops,
                 note=note)]


def _char_lstm_case(T: int = 64, B: int = 32, V: int = 96, E: int = 64, H: int = 256) -> Case:
    import fastlayers
    from .. import nn, optim

    fastlayers.manual_seed(0)
    emb, lstm, head = nn.Embedding(V, E), nn.LSTM(E, H, batch_first=True), nn.Linear(H, V)
    params = list(emb.parameters()) + list(lstm.parameters()) + list(head.parameters())
    opt = optim.Adam(params, lr=1e-3)
    crit = nn.CrossEntropyLoss()
    r = rng(1)
    idx = r.integers(0, V, (B, T))
    target = r.integers(0, V, B * T)

    def ours():
        opt.zero_grad()
        out, _ = lstm(emb(idx))
        crit(head(out.reshape(B * T, H)), target)
        d_out, _ = lstm.backward(head.backward(crit.backward()).reshape(B, T, H))
        emb.backward(d_out)
        opt.step()

    flops = 6.0 * B * T * (4 * H * (E + H) + H * V)
    torch = try_torch()
    theirs = None
    if torch:
        temb, tlstm, thead = torch.nn.Embedding(V, E), torch.nn.LSTM(E, H, batch_first=True), torch.nn.Linear(H, V)
        for t, o in ((temb, emb), (tlstm, lstm), (thead, head)):
            t.load_state_dict({k: torch.from_numpy(v) for k, v in o.state_dict().items()})
        tparams = list(temb.parameters()) + list(tlstm.parameters()) + list(thead.parameters())
        topt = torch.optim.Adam(tparams, lr=1e-3)
        tidx, tt = torch.from_numpy(idx), torch.from_numpy(target)

        def theirs():
            topt.zero_grad()
            out, _ = tlstm(temb(tidx))
            torch.nn.functional.cross_entropy(thead(out.reshape(B * T, H)), tt).backward()
            topt.step()

    return Case("rnn", "char-lstm train step", f"T={T} B={B} V={V} E={E} H={H}", ours, None, theirs, flops=flops,
                note="embedding + lstm + linear + cross-entropy + backward + Adam")


def cases(quick: bool = False) -> list[Case]:
    T = 20 if quick else 100
    return _layer_cases("LSTM", T, 32, 128, 256) + _layer_cases("GRU", T, 32, 128, 256) + [
        _char_lstm_case(T=16 if quick else 64)]
