"""fastlayers.models.CNN against a hand-built torch.nn.Sequential loaded with the same state_dict
(outputs, loss, input and parameter gradients, SGD / Adam steps incl. BatchNorm running
statistics), state_dict round trips, bad input, and `fastlayers demo cnn` (digits >= 97%,
confusion matrix, plot)."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers
from fastlayers import nn, optim
from fastlayers.cli import main
from fastlayers.demo import cnn as demo_cnn
from fastlayers.demo import common
from fastlayers.models import CNN

from helpers import assert_close

LENET5 = dict(in_channels=1, num_classes=10, input_size=28, channels=(6, 16), kernel_size=5, padding=(2, 0),
              hidden=(120, 84))
CONFIGS = {
    "lenet5": LENET5,
    "bn_avg_tanh": dict(in_channels=3, num_classes=4, input_size=(12, 10), channels=(5, 7), kernel_size=3,
                        pool="avg", activation="tanh", batch_norm=True, hidden=(16,)),
    "nopool_gelu": dict(in_channels=2, num_classes=3, input_size=7, channels=(4,), kernel_size=(3, 5),
                        padding="valid", pool="none", activation="gelu", hidden=()),
}


def _torch_cnn(torch, in_channels, num_classes, input_size, channels, kernel_size, padding="same", pool="max",
               activation="relu", batch_norm=False, hidden=(120, 84)):
    """The torch.nn.Sequential a CNN(**cfg) documents, written out independently of CNN.to_torch."""
    tnn = torch.nn
    act = {"relu": tnn.ReLU, "tanh": tnn.Tanh, "gelu": tnn.GELU}[activation]
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    pads = padding if isinstance(padding, tuple) else (padding,) * len(channels)
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    layers, c = [], in_channels
    for k, p in zip(channels, pads):
        p = {"same": (kh // 2, kw // 2), "valid": (0, 0)}.get(p, (p, p))
        layers.append(tnn.Conv2d(c, k, (kh, kw), padding=p, bias=not batch_norm))
        h, w = h + 2 * p[0] - kh + 1, w + 2 * p[1] - kw + 1
        layers += [tnn.BatchNorm2d(k)] if batch_norm else []
        layers.append(act())
        if pool != "none":
            layers.append({"max": tnn.MaxPool2d, "avg": tnn.AvgPool2d}[pool](2))
            h, w = h // 2, w // 2
        c = k
    layers.append(tnn.Flatten())
    width = c * h * w
    for n in hidden:
        layers += [tnn.Linear(width, n), act()]
        width = n
    layers.append(tnn.Linear(width, num_classes))
    return tnn.Sequential(*layers)


def _pair(torch, name):
    cfg = CONFIGS[name]
    torch.manual_seed(0)
    theirs = _torch_cnn(torch, **cfg)
    ours = CNN(**cfg)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    return cfg, ours, theirs


def _batch(rng, cfg, n):
    size = cfg["input_size"] if isinstance(cfg["input_size"], tuple) else (cfg["input_size"],) * 2
    x = rng.standard_normal((n, cfg["in_channels"]) + size).astype(np.float32)
    return x, rng.integers(0, cfg["num_classes"], n)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_forward_backward_parity(torch, rng, name):
    cfg, ours, theirs = _pair(torch, name)
    x, y = _batch(rng, cfg, 9)
    tx = torch.from_numpy(x).requires_grad_()
    tout = theirs(tx)
    tloss = torch.nn.functional.cross_entropy(tout, torch.from_numpy(y))
    tloss.backward()
    crit = nn.CrossEntropyLoss()
    out = ours(x)
    assert out.shape == (9, cfg["num_classes"])
    assert_close(out, tout.detach().numpy(), 1e-4, 1e-5, "output")
    assert_close(crit(out, y), tloss.item(), 1e-5, 1e-6, "loss")
    dx = ours.backward(crit.backward())
    assert_close(dx, tx.grad.numpy(), 1e-3, 1e-6, "dx")
    tgrads = {k: p.grad.numpy() for k, p in theirs.named_parameters()}
    names = [k for k, _ in ours.named_parameters()]
    assert names == list(tgrads)
    for k, p in ours.named_parameters():
        assert_close(p.grad, tgrads[k], 1e-3, 1e-6, k)
    ours.eval()
    theirs.eval()
    assert_close(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), 1e-4, 1e-5, "eval output")


@pytest.mark.parametrize("name,opt", [("lenet5", "sgd"), ("lenet5", "adam"), ("bn_avg_tanh", "adam"),
                                      ("bn_avg_tanh", "sgd")])
def test_optimizer_steps_parity(torch, rng, name, opt):
    make = {"sgd": (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
            "adam": (optim.Adam, torch.optim.Adam, dict(lr=2e-3))}[opt]
    cfg, ours, theirs = _pair(torch, name)
    o, to = make[0](ours.parameters(), **make[2]), make[1](theirs.parameters(), **make[2])
    crit = nn.CrossEntropyLoss()
    losses = []
    for _ in range(5):
        x, y = _batch(rng, cfg, 16)
        o.zero_grad()
        loss = crit(ours(x), y)
        ours.backward(crit.backward(), need_input_grad=False)
        o.step()
        to.zero_grad()
        tloss = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        tloss.backward()
        to.step()
        assert abs(float(loss) - tloss.item()) < 1e-4
        losses.append(float(loss))
    assert len(set(losses)) == 5  # the weights did move
    # Adam moves a weight whose gradient is ~0 (a dead ReLU, a pooling tie) by up to lr in a
    # direction set by rounding noise: allow that on single elements, but not on average.
    atol = make[2]["lr"] / 2 if opt == "adam" else 1e-5
    theirs_sd = theirs.state_dict()
    for k, v in ours.state_dict().items():  # parameters, running_mean/var, num_batches_tracked
        assert_close(v, theirs_sd[k].numpy(), 1e-3, atol, k)
        assert np.abs(v - theirs_sd[k].numpy()).mean() < 1e-5, k


def test_to_torch_matches(torch, rng):
    cfg = CONFIGS["bn_avg_tanh"]
    fastlayers.manual_seed(3)
    m = CNN(**cfg, dropout=0.3)
    m.eval()
    t = m.to_torch()
    assert not t.training and [type(l).__name__ for l in t][:4] == ["Conv2d", "BatchNorm2d", "Tanh", "AvgPool2d"]
    x, _ = _batch(rng, cfg, 4)
    assert_close(m(x), t(torch.from_numpy(x)).detach().numpy(), 1e-4, 1e-5, "to_torch output")


def test_structure_and_state_dict_round_trip(rng, tmp_path):
    m = CNN(**LENET5)
    assert [type(l).__name__ for l in m] == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten",
                                             "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert m.feature_shape == (16, 5, 5) and m[7].in_features == 400
    assert m.num_parameters() == 61706  # LeNet-5's classic count
    bn = CNN(1, 10, 8, channels=(4, 8), kernel_size=3, batch_norm=True, hidden=(12,), dropout=0.5)
    assert list(bn.state_dict())[:7] == ["0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                         "1.num_batches_tracked", "4.weight"]
    assert bn[0].bias is None and type(bn[11]).__name__ == "Dropout"
    x = rng.random((5, 1, 8, 8), dtype=np.float32)
    bn(x)  # one training step moves the running statistics
    bn.eval()
    want = bn(x)
    fastlayers.manual_seed(99)
    other = CNN(1, 10, 8, channels=(4, 8), kernel_size=3, batch_norm=True, hidden=(12,), dropout=0.5).eval()
    assert not np.allclose(other(x), want)
    other.load_state_dict(bn.state_dict())
    assert np.array_equal(other(x), want)
    fastlayers.save(bn, tmp_path / "cnn.npz")
    third = CNN(1, 10, 8, channels=(4, 8), kernel_size=3, batch_norm=True, hidden=(12,), dropout=0.5).eval()
    third.load_state_dict(fastlayers.load(tmp_path / "cnn.npz"))
    assert np.array_equal(third(x), want) and int(third.state_dict()["1.num_batches_tracked"]) == 1
    assert np.array_equal(bn.predict(x), want.argmax(1))
    with pytest.raises(ValueError, match=r"0.weight has shape \(4, 1, 3, 3\), the model expects \(6, 1, 3, 3\)"):
        CNN(1, 10, 8, channels=(6, 8), kernel_size=3, batch_norm=True, hidden=(12,), dropout=0.5).load_state_dict(
            bn.state_dict())


def test_bad_input():
    m = CNN(**LENET5)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 1, 28, 28\).*got \(2, 3, 28, 28\)"):
        m(np.zeros((2, 3, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"input_size=\(28, 28\).*got \(2, 1, 32, 32\)"):
        m(np.zeros((2, 1, 32, 32), np.float32))
    with pytest.raises(ValueError, match=r"got \(2, 784\)"):
        m(np.zeros((2, 784), np.float32))
    with pytest.raises(ValueError, match=r"input_size \(8, 8\) is too small: conv stage 1.*leaves a 0x0 map"):
        CNN(1, 10, 8, channels=(6, 16), kernel_size=5, padding=(2, 0))
    with pytest.raises(ValueError, match="activation"):
        CNN(activation="maxout")
    with pytest.raises(ValueError, match="pool"):
        CNN(pool="lp")
    with pytest.raises(ValueError, match="one per conv stage"):
        CNN(padding=(1, 1, 1))
    with pytest.raises(ValueError, match="odd kernel_size"):
        CNN(kernel_size=4)
    with pytest.raises(ValueError, match="kernel_size"):
        CNN(kernel_size=0)
    with pytest.raises(ValueError, match="channels"):
        CNN(channels=())
    with pytest.raises(ValueError, match="dropout"):
        CNN(dropout=1.0)


def test_demo_training_reaches_97():
    pytest.importorskip("sklearn")
    res = demo_cnn.train_digits(seed=1, epochs=6, progress=False)  # 98.3-99.7% over seeds 0-9
    assert res["test_acc"] >= 0.97, res["test_acc"]
    assert res["X_test"].shape == (len(res["y_test"]), 1, 8, 8) and len(res["y_test"]) == 360 - 1
    cm = demo_cnn.confusion_matrix(res["y_test"], res["pred"], 10)
    assert cm.sum() == len(res["y_test"]) and np.trace(cm) == int((res["pred"] == res["y_test"]).sum())
    with pytest.raises(ValueError, match="unknown settings"):
        demo_cnn.train_digits(epoch=3)


def test_confusion_matrix_format():
    cm = demo_cnn.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    lines = demo_cnn.format_confusion(cm).splitlines()
    assert lines[0].split() == ["true\\pred", "0", "1", "2", "recall"]
    assert lines[3].split() == ["2", "1", ".", "2", "66.7%"]


def test_demo_cli_and_plot(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    png = tmp_path / "cnn.png"
    assert main(["demo", "cnn", "--epochs", "2", "--channels", "4,8", "--hidden", "", "--pool", "avg",
                 "--lr", "0.01", "--plot", str(png)]) == 0
    cap = capsys.readouterr()
    out = cap.out
    assert "confusion matrix" in out and "samples_s" in cap.err and "wall time" in out  # the bar is on stderr
    assert "batch norm on" in out and "hidden ()" in out
    assert float(out.split("test accuracy ")[1].split("%")[0]) > 50.0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_plot_without_matplotlib(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(common, "have_matplotlib", lambda: False)
    assert main(["demo", "cnn", "--plot", str(tmp_path / "x.png")]) == 2
    assert "pip install matplotlib" in capsys.readouterr().err


@pytest.mark.parametrize("args,msg", [(["--channels", "8,x"], "--channels"), (["--channels", ""], "--channels"),
                                      (["--kernel-size", "4"], "odd kernel_size"), (["--epochs", "0"], "--epochs"),
                                      (["--batch-size", "-1"], "--batch-size"), (["--dropout", "1.5"], "dropout")])
def test_demo_bad_arguments(capsys, args, msg):
    assert main(["demo", "cnn"] + args) == 2
    assert msg in capsys.readouterr().err


def test_lenet5_train_bench_case():
    from fastlayers._bench.train import cases
    case = next(c for c in cases(quick=True) if "LeNet-5" in c.op)
    # per sample: conv1 6*28*28*25 + conv2 16*10*10*150 + 400*120 + 120*84 + 84*10 multiply-adds
    assert case.flops == 6.0 * 64 * (117600 + 240000 + 58920)
    case.ours()
    if case.torch is not None:
        case.torch()
