"""The loss family's PyTorch shapes and keywords: cross_entropy over (N, C, d1, ..., dk) logits
with class indices or probabilities, class weights with ignore_index and label smoothing under
every reduction; nll_loss with weights and K-dimensional inputs; BCE with logits with weight and
pos_weight; the nn modules with the same. Float64 oracles (reference.py) on every backend,
finite differences of the oracle for the backward, PyTorch parity, bad input."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers.functional as F
from fastlayers import nn

import reference as ref
from helpers import assert_close, numeric_grad

# (input shape); D = 300 and 600 split an image's positions over several tasks (256 per task)
SHAPES = [(6, 5), (4,), (3, 4, 7), (2, 3, 5, 6), (2, 5, 300), (1, 3, 600), (5, 1), (2, 3, 1)]
REDUCTIONS = ["mean", "sum", "none"]


def _rows(shape):
    return () if len(shape) == 1 else (shape[0],) + shape[2:]


def _case(rng, shape, weighted, soft):
    C = shape[0] if len(shape) == 1 else shape[1]
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    w = (rng.random(C) + 0.25).astype(np.float32) if weighted else None
    if soft:
        t = rng.random(shape).astype(np.float32)
        t /= t.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)
    else:
        t = rng.integers(0, C, _rows(shape))
        if t.size > 2:
            t.reshape(-1)[1] = -100
    return x, t, w


def _grad(f, x, g):
    return numeric_grad(lambda z: np.asarray(f(z), np.float64), x.astype(np.float64), g, eps=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_matches_oracle(backend, rng, shape, weighted, soft, smoothing):
    x, t, w = _case(rng, shape, weighted, soft)
    kw = dict(weight=w, label_smoothing=smoothing)
    ign = -5 if soft else -100  # (a negative ignore_index is accepted with probabilities, and unused)
    for red in REDUCTIONS:
        want = ref.cross_entropy(x, t, w, ign, red, smoothing)
        got = backend.F.cross_entropy(x, t, w, None, ign, None, red, smoothing)
        assert np.shape(got) == np.shape(want)
        assert_close(got, want, 2e-6, 2e-6, red)
        g = 1.5 if red != "none" else rng.standard_normal(np.shape(want)).astype(np.float32)
        if x.size <= 200:  # finite differences of the float64 oracle
            num = _grad(lambda z: ref.cross_entropy(z, t, w, ign, red, smoothing), x, np.asarray(g, np.float64))
            dx = backend.F.cross_entropy_backward(g, x, t, ign, red, smoothing, weight=w)
            assert_close(dx, num, 1e-5, 1e-6, red)
    # the backward from the forward's lse and divisor equals the recomputing one
    _, lse, _, count = F.cross_entropy_forward(x, t, ign, smoothing, weight=w)
    assert_close(F.cross_entropy_backward(1.0, x, t, ign, "mean", smoothing, weight=w, lse=lse, count=count),
                 F.cross_entropy_backward(1.0, x, t, ign, "mean", smoothing, weight=w), 0, 0)


@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 7), (2, 3, 5, 6), (2, 4, 300)])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_ignore_index_with_weights(backend, rng, shape, weighted):
    x, t, w = _case(rng, shape, weighted, False)
    t = np.where(t == -100, 2, t)
    t.reshape(-1)[::3] = 2  # ignore_index is a real class here
    for red in REDUCTIONS:
        for eps in (0.0, 0.3):
            assert_close(backend.F.cross_entropy(x, t, w, ignore_index=2, reduction=red, label_smoothing=eps),
                         ref.cross_entropy(x, t, w, 2, red, eps), 2e-6, 2e-6)


def test_cross_entropy_torch_parity(torch, rng):
    tf = torch.nn.functional
    for shape in [(8, 5), (3, 5, 4, 2), (5,), (2, 4, 9)]:
        for soft in (False, True):
            x, t, w = _case(rng, shape, True, soft)
            for kw in [dict(), dict(weight=w), dict(weight=w, label_smoothing=0.3), dict(reduction="sum"),
                       dict(weight=w, reduction="none", label_smoothing=0.1), dict(label_smoothing=1.0)]:
                tt = t
                if not soft and t.size > 2 and "weight" in kw:  # ignore a real class, weighted
                    kw = dict(kw, ignore_index=int(t.reshape(-1)[0]))
                    tt = np.where(t == -100, kw["ignore_index"], t)
                tkw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
                tx = torch.tensor(x, requires_grad=True)
                tl = tf.cross_entropy(tx, torch.from_numpy(tt), **tkw)
                g = torch.ones_like(tl) if tl.ndim else torch.tensor(1.0)
                tl.backward(g)
                crit = nn.CrossEntropyLoss(**kw)
                what = f"{shape} soft={soft} {sorted(kw)}"
                assert_close(crit(x, tt), tl.detach().numpy(), 1e-5, 1e-6, what)
                assert_close(F.cross_entropy(x, tt, **kw), tl.detach().numpy(), 1e-5, 1e-6, what)
                assert_close(crit.backward(g.numpy() if tl.ndim else 1.0), tx.grad.numpy(), 1e-5, 1e-6, what)


@pytest.mark.parametrize("shape", [(6, 5), (4,), (3, 4, 7), (2, 3, 5, 6), (2, 5, 300)])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_kdim_and_weights(backend, rng, shape, weighted, torch):
    x, t, w = _case(rng, shape, weighted, False)
    lp = F.log_softmax(x, dim=0 if len(shape) == 1 else 1)
    for red in REDUCTIONS:
        want = ref.nll_loss(lp, t, w, -100, red)
        assert_close(backend.F.nll_loss(lp, t, w, reduction=red), want, 1e-6, 1e-6, red)
        g = 0.5 if red != "none" else rng.standard_normal(np.shape(want)).astype(np.float32)
        tx = torch.tensor(lp, requires_grad=True)
        tl = torch.nn.functional.nll_loss(tx, torch.from_numpy(t), None if w is None else torch.from_numpy(w),
                                          reduction=red)
        tl.backward(torch.tensor(g))
        assert_close(backend.F.nll_loss_backward(g, lp, t, reduction=red, weight=w), tx.grad.numpy(), 1e-6, 1e-7)
    crit = nn.NLLLoss(w)
    assert_close(crit(lp, t), ref.nll_loss(lp, t, w), 1e-6, 1e-6)
    tx = torch.tensor(lp, requires_grad=True)
    torch.nn.functional.nll_loss(tx, torch.from_numpy(t), None if w is None else torch.from_numpy(w)).backward()
    assert_close(crit.backward(), tx.grad.numpy(), 1e-6, 1e-7)


@pytest.mark.parametrize("shape,wshape,pshape", [((7, 5), None, (5,)), ((7, 5), (7, 1), None), ((4, 3, 6), (6,), (6,)),
                                                 ((3, 4), (3, 4), (1, 4)), ((1000,), (1000,), (1,)), ((2, 3), (), ())])
def test_bce_with_logits_weights(backend, rng, shape, wshape, pshape, torch):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    y = rng.random(shape).astype(np.float32)
    w = None if wshape is None else np.asarray(rng.random(wshape) * 2, np.float32)
    pw = None if pshape is None else np.asarray(rng.random(pshape) * 3 + 0.1, np.float32)
    rows = ref.bce_with_logits_weighted(x, y, w, pw)
    for red, want in (("none", rows), ("sum", rows.sum()), ("mean", rows.mean())):
        assert_close(backend.F.binary_cross_entropy_with_logits(x, y, w, reduction=red, pos_weight=pw), want,
                     2e-6, 2e-6, red)
        tx = torch.tensor(x, requires_grad=True)
        tl = torch.nn.functional.binary_cross_entropy_with_logits(
            tx, torch.from_numpy(y), None if w is None else torch.from_numpy(w), reduction=red,
            pos_weight=None if pw is None else torch.from_numpy(pw))
        g = np.ones(np.shape(want), np.float32) * 0.5 if red == "none" else 0.5
        tl.backward(torch.tensor(g))
        dx = backend.F.binary_cross_entropy_with_logits_backward(g, x, y, red, weight=w, pos_weight=pw)
        assert_close(dx, tx.grad.numpy(), 1e-5, 1e-7, red)
    if x.size <= 50:
        num = _grad(lambda z: ref.bce_with_logits_weighted(z, y, w, pw).sum(), x, np.float64(1.0))
        assert_close(backend.F.binary_cross_entropy_with_logits_backward(1.0, x, y, "sum", weight=w, pos_weight=pw),
                     num, 1e-5, 1e-6)
    crit = nn.BCEWithLogitsLoss(w, pos_weight=pw)
    assert_close(crit(x, y), rows.mean(), 2e-6, 2e-6)
    assert crit.backward().shape == x.shape


def test_loss_modules_with_weights_on_the_device(device_backend, rng):
    x, t, w = _case(rng, (4, 5, 3), True, False)
    for crit in (nn.CrossEntropyLoss(w, label_smoothing=0.1), nn.CrossEntropyLoss(w, reduction="sum")):
        want, want_dx = crit(x, t), crit.backward()
        crit.to("cuda")
        assert crit.weight is not None and not isinstance(crit.weight, np.ndarray)
        got = crit(device_backend.put(x), device_backend.put_like(t))
        assert_close(got, want, 1e-6, 1e-6)
        assert_close(crit.backward().numpy(), want_dx, 1e-6, 1e-7)
        assert "weight" in crit.state_dict()
    xs, ts, _ = _case(rng, (4, 5, 3), False, True)
    crit = nn.CrossEntropyLoss(w)
    want, want_dx = crit(xs, ts), crit.backward()
    crit.to("cuda")
    assert_close(crit(device_backend.put(xs), device_backend.put(ts)), want, 1e-6, 1e-6)
    assert_close(crit.backward().numpy(), want_dx, 1e-6, 1e-7)
    y = rng.random((4, 5)).astype(np.float32)
    bce = nn.BCEWithLogitsLoss(pos_weight=np.arange(1, 6, dtype=np.float32))
    want, want_dx = bce(x[:, :, 0], y), bce.backward()
    bce.to("cuda")
    assert_close(bce(device_backend.put(x[:, :, 0].copy()), device_backend.put(y)), want, 1e-6, 1e-6)
    assert_close(bce.backward().numpy(), want_dx, 1e-6, 1e-7)


def test_legacy_reduction_arguments(rng, torch):
    x, t, _ = _case(rng, (5, 4), False, False)
    for sa, rd, want in [(None, None, "mean"), (False, None, "sum"), (None, False, "none"), (True, True, "mean")]:
        assert_close(F.cross_entropy(x, t, None, sa, -100, rd), F.cross_entropy(x, t, reduction=want), 0, 0)
        assert nn.MSELoss(sa, rd).reduction == want
    with pytest.raises(TypeError, match="size_average"):
        F.mse_loss(x, x, "sum")  # PyTorch's third positional argument is size_average


def test_bad_input():
    x = np.zeros((4, 3, 5), np.float32)
    with pytest.raises(ValueError, match=r"target: expected shape \(4, 5\)"):
        F.cross_entropy(x, np.zeros((4, 3), np.int64))
    with pytest.raises(TypeError, match="floating-point class probabilities"):
        F.cross_entropy(x, np.zeros((4, 3, 5), np.int64))
    with pytest.raises(ValueError, match=r"weight: expected shape \(3,\)"):
        F.cross_entropy(x, np.zeros((4, 5), np.int64), np.ones(4))
    with pytest.raises(ValueError, match="ignore_index: not supported for probability targets"):
        F.cross_entropy(x, np.zeros((4, 3, 5), np.float32), ignore_index=0)
    with pytest.raises(TypeError, match="integer class indices"):
        F.nll_loss(x, np.zeros((4, 3, 5), np.float32))
    bad = np.zeros((4, 5), np.int64)
    bad[1, 2] = 3
    with pytest.raises(ValueError, match=r"class index 3 at position 7"):  # the row n * d + j
        F.nll_loss(x, bad)
    with pytest.raises(ValueError, match="out of range"):
        F.cross_entropy(x, np.full((4, 5), 3))
    with pytest.raises(ValueError, match=r"pos_weight: shape \(2,\) does not broadcast"):
        F.binary_cross_entropy_with_logits(np.zeros((4, 3)), np.zeros((4, 3)), pos_weight=np.ones(2))
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(4, 5\)"):
        F.cross_entropy_backward(np.ones(4), x, np.zeros((4, 5), np.int64), reduction="none")
    assert np.isnan(F.cross_entropy(np.zeros((0, 3)), np.zeros((0, 3), np.float32)))
    assert F.cross_entropy(np.zeros((2, 3, 0)), np.zeros((2, 0), np.int64), reduction="none").shape == (2, 0)
