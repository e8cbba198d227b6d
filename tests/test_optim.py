"""fastlayers.optim: the fused SGD / Adam / AdamW kernels on every ISA level against float64
oracles, PyTorch parity over 20 steps, state_dict round trips, clip_grad_norm_, schedulers."""
from __future__ import annotations

import math

import numpy as np
import pytest

import fastlayers
from fastlayers import nn, optim

import reference as ref
from helpers import assert_close

SIZES = [1, 7, 16, 17, 129, 70001]  # 70001 > one thread grain: runs split over threads

SGD_CONFIGS = [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
               dict(lr=0.02, momentum=0.8, dampening=0.3, weight_decay=0.01)]
ADAM_CONFIGS = [dict(lr=1e-2), dict(lr=1e-2, weight_decay=0.1), dict(lr=3e-3, betas=(0.8, 0.99), amsgrad=True)]


def _run(opt_cls, kw, p0, grads, backend=None):
    put = (lambda a: a) if backend is None else backend.put
    p = nn.Parameter(put(p0))
    opt = opt_cls([p], **kw)
    for g in grads:
        p.grad = put(g.copy())
        opt.step()
    return p.data if backend is None else backend.get(p.data)


@pytest.mark.parametrize("n", SIZES)
def test_sgd_matches_oracle(backend, rng, n):
    p0 = rng.standard_normal(n).astype(np.float32)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(4)]
    for kw in SGD_CONFIGS:
        assert_close(_run(optim.SGD, kw, p0, grads, backend), ref.sgd_steps(p0, grads, **kw), 1e-5, 1e-6, str(kw))


@pytest.mark.parametrize("n", SIZES)
def test_adam_matches_oracle(backend, rng, n):
    p0 = rng.standard_normal(n).astype(np.float32)
    grads = [rng.standard_normal(n).astype(np.float32) * (i + 1) for i in range(4)]
    for kw in ADAM_CONFIGS:
        assert_close(_run(optim.Adam, kw, p0, grads, backend), ref.adam_steps(p0, grads, **kw), 1e-5, 1e-6, str(kw))
        wkw = {**kw, "weight_decay": kw.get("weight_decay", 0.05)}
        assert_close(_run(optim.AdamW, wkw, p0, grads, backend), ref.adam_steps(p0, grads, decoupled=True, **wkw),
                     1e-5, 1e-6, "AdamW " + str(wkw))


def test_sgd_exact_on_small_integers():
    # lr 0.5, momentum 0.5 and integer gradients: every intermediate is exact in float32
    p0 = np.array([4.0, -8.0, 0.0], np.float32)
    grads = [np.array([2.0, -4.0, 6.0], np.float32)] * 3
    assert np.array_equal(_run(optim.SGD, dict(lr=0.5, momentum=0.5), p0, grads),
                          ref.sgd_steps(p0, grads, 0.5, 0.5).astype(np.float32))


@pytest.mark.parametrize("name", ["sgd_momentum", "sgd_nesterov_wd", "adam", "adam_amsgrad_wd", "adamw"])
def test_torch_parity_20_steps(torch, rng, name):
    cfg = {"sgd_momentum": (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
           "sgd_nesterov_wd": (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True,
                                                                weight_decay=1e-3)),
           "adam": (optim.Adam, torch.optim.Adam, dict(lr=1e-2)),
           "adam_amsgrad_wd": (optim.Adam, torch.optim.Adam, dict(lr=1e-2, amsgrad=True, weight_decay=1e-2)),
           "adamw": (optim.AdamW, torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.1))}[name]
    ours_cls, theirs_cls, kw = cfg
    shapes = [(5, 3), (3,), (200, 97)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ps = [nn.Parameter(a) for a in init]
    ts = [torch.tensor(a, requires_grad=True) for a in init]
    opt, topt = ours_cls(ps, **kw), theirs_cls(ts, **kw)
    for step in range(20):
        for p, t in zip(ps, ts):
            g = rng.standard_normal(p.shape).astype(np.float32)
            p.grad, t.grad = g, torch.tensor(g)
        opt.step()
        topt.step()
    for p, t in zip(ps, ts):
        assert_close(p.data, t.detach().numpy(), 1e-5, 1e-6, name)


def test_skips_parameters_without_grad(rng):
    a, b = nn.Parameter(np.ones(3)), nn.Parameter(np.ones(3))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = np.ones(3, np.float32)
    opt.step()
    assert np.array_equal(b.data, np.ones(3)) and b not in opt.state
    assert opt.state[a]["step"] == 1
    opt.zero_grad()
    assert a.grad is None


def test_state_dict_round_trip(tmp_path, rng):
    def make():
        fastlayers.manual_seed(0)
        m = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
        return m, optim.Adam(m.parameters(), lr=0.01, amsgrad=True)

    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = rng.integers(0, 2, 8)
    crit = nn.CrossEntropyLoss()

    def steps(m, opt, k):
        for _ in range(k):
            opt.zero_grad()
            crit(m(x), y)
            m.backward(crit.backward())
            opt.step()

    m1, o1 = make()
    steps(m1, o1, 3)
    fastlayers.save({"model": m1.state_dict(), "optim": o1.state_dict()}, tmp_path / "ckpt.npz")
    ck = fastlayers.load(tmp_path / "ckpt.npz")
    m2, o2 = make()
    m2.load_state_dict(ck["model"])
    o2.load_state_dict(ck["optim"])
    assert o2.param_groups[0]["betas"] == (0.9, 0.999) and o2.state[next(m2.parameters())]["step"] == 3
    steps(m1, o1, 3)
    steps(m2, o2, 3)
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert np.array_equal(a, b), k


def test_load_state_dict_mismatch():
    a = nn.Parameter(np.ones(3))
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    a.grad = np.ones(3, np.float32)
    opt.step()
    sd = opt.state_dict()
    other = optim.SGD([nn.Parameter(np.ones(3)), nn.Parameter(np.ones(2))], lr=0.1)
    with pytest.raises(ValueError, match="has 1 parameters"):
        other.load_state_dict(sd)
    wrong = optim.SGD([nn.Parameter(np.ones(4))], lr=0.1)
    with pytest.raises(ValueError, match=r"momentum_buffer of parameter 0 has shape \(3,\)"):
        wrong.load_state_dict(sd)


def test_bad_hyperparameters():
    p = [nn.Parameter(np.ones(2))]
    with pytest.raises(ValueError, match="lr"):
        optim.SGD(p, lr=-1.0)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(TypeError, match="Parameter"):
        optim.Adam([np.ones(3)])


def test_param_groups(rng):
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad = b.grad = np.ones(2, np.float32)
    opt.step()
    assert_close(a.data, [0.9, 0.9], 1e-7)
    assert_close(b.data, [0.0, 0.0], 0, 1e-7)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm(torch, rng, norm_type):
    shapes = [(4, 3), (7,)]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ps = [nn.Parameter(np.zeros(s)) for s in shapes]
    ts = [torch.zeros(s, requires_grad=True) for s in shapes]
    for p, t, g in zip(ps, ts, grads):
        p.grad, t.grad = g.copy(), torch.tensor(g)
    total = optim.clip_grad_norm_(ps, 0.5, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(ts, 0.5, norm_type)
    assert_close(total, ttotal.item(), 1e-6)
    for p, t in zip(ps, ts):
        assert_close(p.grad, t.grad.numpy(), 1e-6, 1e-7)
    assert optim.clip_grad_norm_(ps, 1e6, norm_type) <= 0.5 + 1e-5  # no change below the limit


def test_schedulers_match_torch(torch):
    p = torch.zeros(1, requires_grad=True)
    for ours_cls, theirs_cls, kw in [(optim.StepLR, torch.optim.lr_scheduler.StepLR, dict(step_size=3, gamma=0.5)),
                                     (optim.CosineAnnealingLR, torch.optim.lr_scheduler.CosineAnnealingLR,
                                      dict(T_max=10, eta_min=0.01))]:
        opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1)
        topt = torch.optim.SGD([p], lr=0.1)
        s, ts = ours_cls(opt, **kw), theirs_cls(topt, **kw)
        for epoch in range(12):
            assert_close(s.get_last_lr()[0], ts.get_last_lr()[0], 1e-6, 1e-9, f"{ours_cls.__name__} {epoch}")
            opt.step()
            topt.step()
            s.step()
            ts.step()
        sd = s.state_dict()
        s2 = ours_cls(optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1), **kw)
        s2.load_state_dict(sd)
        assert s2.last_epoch == 12
