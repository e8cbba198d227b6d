"""Whole models: an MLP against PyTorch (outputs, gradients, 20 optimizer steps), training to
target accuracy on spiral and digits, the data helpers, and `fastlayers demo mlp`."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import fastlayers
from fastlayers import data, nn, optim
from fastlayers.cli import main
from fastlayers.demo import common
from fastlayers.models import MLP

from helpers import assert_close


def _torch_mlp(torch, sizes, act):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "gelu", "leaky_relu"])
def test_mlp_forward_backward_parity(torch, rng, activation):
    acts = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "gelu": torch.nn.GELU,
            "leaky_relu": torch.nn.LeakyReLU}
    tm = _torch_mlp(torch, [13, 32, 17, 5], acts[activation])
    m = MLP(13, (32, 17), 5, activation=activation)
    m.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((37, 13)).astype(np.float32)
    y = rng.integers(0, 5, 37)
    tx = torch.tensor(x, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tm(tx), torch.tensor(y))
    tl.backward()
    crit = nn.CrossEntropyLoss()
    out = m(x)
    assert_close(out, tm(tx).detach().numpy(), 1e-5, 1e-6, "output")
    assert_close(crit(out, y), tl.item(), 1e-6, 1e-6, "loss")
    dx = m.backward(crit.backward())
    assert_close(dx, tx.grad.numpy(), 1e-4, 1e-7, "dx")
    tgrads = {k: p.grad.numpy() for k, p in tm.named_parameters()}
    for k, p in m.named_parameters():
        assert_close(p.grad, tgrads[k], 1e-4, 1e-7, k)


@pytest.mark.parametrize("name", ["sgd_momentum", "adam", "adamw"])
def test_mlp_training_parity_20_steps(torch, rng, name):
    make = {"sgd_momentum": (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
            "adam": (optim.Adam, torch.optim.Adam, dict(lr=1e-3)),
            "adamw": (optim.AdamW, torch.optim.AdamW, dict(lr=1e-3, weight_decay=0.05))}[name]
    torch.manual_seed(0)
    tm = _torch_mlp(torch, [20, 64, 64, 4], torch.nn.ReLU)
    m = MLP(20, (64, 64), 4)
    m.load_state_dict(tm.state_dict())
    opt, topt = make[0](m.parameters(), **make[2]), make[1](tm.parameters(), **make[2])
    crit = nn.CrossEntropyLoss()
    for step in range(20):
        x = rng.standard_normal((32, 20)).astype(np.float32)
        y = rng.integers(0, 4, 32)
        opt.zero_grad()
        crit(m(x), y)
        m.backward(crit.backward())
        opt.step()
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tm(torch.tensor(x)), torch.tensor(y)).backward()
        topt.step()
    theirs = tm.state_dict()
    for k, v in m.state_dict().items():
        assert_close(v, theirs[k].numpy(), 1e-5, 2e-6, k)


def test_mlp_structure_and_bad_input():
    m = MLP(2, (8, 8), 3, dropout=0.2)
    assert [type(l).__name__ for l in m] == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert list(m.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias"]
    assert [type(l).__name__ for l in MLP(4, (6,), 2, activation="maxout")] == ["Maxout", "Linear"]
    with pytest.raises(ValueError, match="activation"):
        MLP(2, (4,), 2, activation="swish")
    with pytest.raises(ValueError, match="in_features=2"):
        m(np.ones((5, 3), np.float32))


def _fit(X, y, hidden, epochs, lr, seed=0):
    Xtr, Xte, ytr, yte = data.train_test_split(X, y, 0.2, seed=seed)
    fastlayers.manual_seed(seed)
    m = MLP(X.shape[1], hidden, int(y.max()) + 1)
    opt = optim.Adam(m.parameters(), lr=lr)
    common.train_classifier(m, opt, Xtr, ytr, epochs=epochs, batch_size=32, seed=seed, progress=False)
    return common.accuracy(m, Xte, yte)


def test_spiral_default_demo_reaches_95(capsys):
    assert main(["demo", "mlp"]) == 0
    cap = capsys.readouterr()
    out = cap.out
    acc = float(out.split("test accuracy ")[1].split("%")[0])
    assert acc >= 95.0, out
    assert "wall time" in out and "samples_s" in cap.err and "epoch 150/150" in cap.err  # the bar is on stderr


def test_digits_reaches_95():
    pytest.importorskip("sklearn")
    X, y = data.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32 and 0 <= X.min() and X.max() <= 1
    assert _fit(X, y, (64, 64), 30, 3e-3) >= 0.95


@pytest.mark.parametrize("name", ["circle", "xor", "gaussian"])
def test_playground_datasets_learnable(name):
    X, y = data.make_dataset(name, 600, noise=0.1, seed=1)
    assert _fit(X, y, (16, 16), 30, 1e-2) >= 0.95


def test_datasets_seeded_and_shaped():
    for name in data.DATASETS:
        X, y = data.make_dataset(name, 101, 0.3, seed=5)
        assert X.shape == (101, 2) and X.dtype == np.float32 and y.dtype == np.int64
        assert set(np.unique(y)) == {0, 1}
        if name != "xor":  # the others draw the two classes in equal halves
            assert abs(int(y.sum()) - 50) <= 1
        X2, y2 = data.make_dataset(name, 101, 0.3, seed=5)
        assert np.array_equal(X, X2) and np.array_equal(y, y2)
        assert not np.array_equal(X, data.make_dataset(name, 101, 0.3, seed=6)[0])
    with pytest.raises(ValueError, match="name"):
        data.make_dataset("moons")
    with pytest.raises(ValueError, match="noise"):
        data.spiral(100, noise=-1)


def test_batches_and_loader():
    X, y = np.arange(20).reshape(10, 2), np.arange(10)
    got = list(data.batches(X, y, 4, shuffle=True, seed=3))
    assert [len(b[1]) for b in got] == [4, 4, 2]
    ys = np.concatenate([b[1] for b in got])
    assert sorted(ys) == list(range(10)) and not np.array_equal(ys, np.arange(10))
    assert all(np.array_equal(xb[:, 0] // 2, yb) for xb, yb in got)
    assert np.array_equal(np.concatenate([b[1] for b in data.batches(X, y, 4, seed=3)]), ys)
    assert [len(b[1]) for b in data.batches(X, y, 4, shuffle=False, drop_last=True)] == [4, 4]
    loader = data.DataLoader(X, y, 3, seed=1)
    e1, e2 = [np.concatenate([b[1] for b in loader]) for _ in range(2)]
    assert len(loader) == 4 and not np.array_equal(e1, e2)
    again = data.DataLoader(X, y, 3, seed=1)
    assert np.array_equal(np.concatenate([b[1] for b in again]), e1)
    with pytest.raises(ValueError, match="labels"):
        list(data.batches(X, y[:5]))


def test_load_digits_without_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install scikit-learn"):
        data.load_digits()


def test_demo_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "b.png"
    assert main(["demo", "mlp", "--dataset", "gaussian", "--epochs", "3", "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "decision boundary written" in capsys.readouterr().out


def test_demo_plot_without_matplotlib(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(common, "have_matplotlib", lambda: False)
    assert main(["demo", "mlp", "--plot", str(tmp_path / "x.png")]) == 2
    assert "pip install matplotlib" in capsys.readouterr().err


def test_demo_bad_hidden(capsys):
    assert main(["demo", "mlp", "--hidden", "8,x"]) == 2
    assert "--hidden" in capsys.readouterr().err


def test_train_bench_cases_run():
    from fastlayers._bench import FAMILIES
    from fastlayers._bench.train import cases
    assert "train" in FAMILIES
    for c in cases(quick=True):
        assert c.flops > 0
        c.ours()
        if c.torch is not None:
            c.torch()
