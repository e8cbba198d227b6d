"""CNN layers (nn.Conv1d/2d, ConvTranspose2d, pooling, BatchNorm1d/2d): PyTorch parity of
outputs, input and parameter gradients from a loaded state_dict; a small CNN through a few
SGD steps against PyTorch; state_dict keys and running statistics."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers.nn as nn
from fastlayers.optim import SGD
from helpers import assert_close


def _pair(torch, ours, theirs, x, rng, train=True):
    """Loads theirs' state into ours, runs forward + backward on both, compares everything."""
    ours.load_state_dict(theirs.state_dict())
    ours.train(train)
    theirs.train(train)
    tx = torch.from_numpy(x).requires_grad_()
    ty = theirs(tx)
    y = ours(x)
    assert_close(y, ty.detach().numpy(), rtol=1e-4, atol=1e-4, what="output")
    if not train:
        return
    g = rng.standard_normal(y.shape).astype(np.float32)
    ty.backward(torch.from_numpy(g))
    dx = ours.backward(g)
    assert_close(dx, tx.grad.numpy(), rtol=1e-4, atol=1e-4, what="input grad")
    tparams = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad, tparams[name].grad.numpy(), rtol=1e-4, atol=1e-3, what=name)


@pytest.mark.parametrize("make", [
    lambda m: m.Conv2d(4, 6, 3, stride=2, padding=1),
    lambda m: m.Conv2d(4, 8, (3, 2), padding="same", dilation=2, groups=2, bias=False),
    lambda m: m.Conv2d(4, 4, 3, padding=1, groups=4),
    lambda m: m.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1),
    lambda m: m.MaxPool2d(3, 2, 1),
    lambda m: m.AvgPool2d(2, ceil_mode=True, count_include_pad=False),
    lambda m: m.AdaptiveAvgPool2d((3, 2)),
    lambda m: m.BatchNorm2d(4),
])
def test_layer_2d(torch, rng, make):
    x = rng.standard_normal((3, 4, 9, 10)).astype(np.float32)
    _pair(torch, make(nn), make(torch.nn), x, rng)
    _pair(torch, make(nn), make(torch.nn), x, rng, train=False)


@pytest.mark.parametrize("make", [
    lambda m: m.Conv1d(4, 6, 5, stride=2, padding=2),
    lambda m: m.MaxPool1d(3, 2, 1),
    lambda m: m.AvgPool1d(3, 2, 1),
    lambda m: m.BatchNorm1d(4),
])
def test_layer_1d(torch, rng, make):
    _pair(torch, make(nn), make(torch.nn), rng.standard_normal((3, 4, 17)).astype(np.float32), rng)


def test_batchnorm_running_stats_and_state_dict(torch, rng):
    ours, theirs = nn.BatchNorm1d(5, momentum=None), torch.nn.BatchNorm1d(5, momentum=None)
    for _ in range(3):
        x = (rng.standard_normal((8, 5)) * 2 + 1).astype(np.float32)
        ours(x)
        theirs(torch.from_numpy(x))
    sd = ours.state_dict()
    assert list(sd) == list(theirs.state_dict())  # weight, bias, running_mean, running_var, num_batches_tracked
    assert int(sd["num_batches_tracked"]) == 3
    for k, v in theirs.state_dict().items():
        assert_close(sd[k], v.numpy(), rtol=1e-5, atol=1e-6, what=k)


def test_small_cnn_trains_like_torch(torch, rng):
    def build(m):
        return m.Sequential(m.Conv2d(1, 4, 3, padding=1), m.BatchNorm2d(4), m.ReLU(), m.MaxPool2d(2),
                            m.Conv2d(4, 6, 3), m.ReLU(), m.AvgPool2d(2), m.Flatten(), m.Linear(6, 3))
    ours, theirs = build(nn), build(torch.nn)
    ours.load_state_dict(theirs.state_dict())
    opt = SGD(ours.parameters(), lr=0.05, momentum=0.9)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.9)
    crit, tcrit = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    for _ in range(4):
        x = rng.standard_normal((8, 1, 10, 10)).astype(np.float32)
        t = rng.integers(0, 3, 8)
        opt.zero_grad()
        loss = crit(ours(x), t)
        ours.backward(crit.backward())
        opt.step()
        topt.zero_grad()
        tloss = tcrit(theirs(torch.from_numpy(x)), torch.from_numpy(t))
        tloss.backward()
        topt.step()
        assert abs(float(loss) - tloss.item()) < 1e-4
    for k, v in theirs.state_dict().items():
        assert_close(ours.state_dict()[k], v.numpy(), rtol=1e-3, atol=1e-4, what=k)


def test_bad_input():
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(6, 4, 3, groups=4)
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected a 4-D input with 3 channels.*\(2, 4, 5, 5\)"):
        nn.BatchNorm2d(3)(np.zeros((2, 4, 5, 5), np.float32))
    with pytest.raises(RuntimeError, match="no saved"):
        nn.Conv2d(1, 1, 1).backward(np.zeros((1, 1, 2, 2), np.float32))
