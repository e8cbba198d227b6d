"""The application demos (`fastlayers demo gan | denoise | detect | explain | segment`) and the closing
`result` line every demo prints: each runs with --quick (and --plot) and its metric must clear
a lower bound that --quick reaches on every seed tried (the figures beside each bound: seeds
0, 1, 2); the explain demo's saliency, Grad-CAM and deletion pieces against autograd / torch;
the progress bar without tqdm; bad arguments."""
from __future__ import annotations


import numpy as np
import pytest

import fastlayers
from fastlayers.cli import main
from fastlayers.demo import common, explain

# demo -> (metric name -> lower bound); --quick figures for seeds 0, 1, 2 in the comments
QUICK_BOUNDS = {
    "gan": {"confident_fraction": 0.15, "classes": 7},   # see the commit message for the figures
    "denoise": {"psnr_gain_db": 4.0},
    "detect": {"map50": 0.4},   # 0.60, 0.74, 0.64 (700 scenes)
    "explain": {"drop_salient": 0.3},
    "segment": {"miou": 0.45},  # 0.66, 0.62, 0.66
}


def result_line(out: str) -> dict:
    """The metrics of the last stdout line, 'result <metric> <value> ...'."""
    last = out.strip().splitlines()[-1].split()
    assert last[0] == "result" and len(last) % 2 == 1, out
    return {k: float(v) for k, v in zip(last[1::2], last[2::2])}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(QUICK_BOUNDS))
def test_demo_quick_reaches_its_bound(name, tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    png = tmp_path / f"{name}.png"
    assert main(["demo", name, "--quick", "--seed", "0", "--plot", str(png)]) == 0
    captured = capsys.readouterr()
    metrics = result_line(captured.out)
    for key, bound in QUICK_BOUNDS[name].items():
        assert metrics[key] >= bound, (key, metrics, captured.out)
    if name == "explain":
        assert metrics["drop_salient"] > metrics["drop_random"], metrics
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wall time" in captured.out and "written to" in captured.out
    assert captured.err.strip(), "the training progress goes to stderr"


@pytest.mark.parametrize("argv", [["mlp", "--dataset", "gaussian", "--epochs", "2"],
                                  ["cnn", "--epochs", "1", "--channels", "4", "--hidden", ""]])
def test_classic_demos_end_with_accuracy(argv, capsys):
    if argv[0] == "cnn":
        pytest.importorskip("sklearn")
    assert main(["demo"] + argv) == 0
    out = capsys.readouterr().out
    acc = result_line(out)["accuracy"]
    assert float(out.split("test accuracy ")[1].split("%")[0]) == pytest.approx(100 * acc, abs=0.06)


@pytest.mark.parametrize("argv,msg", [(["gan", "--arithmetic", "3,3"], "--arithmetic"),
                                      (["gan", "--steps", "0"], "--steps"),
                                      (["denoise", "--noise", "0"], "--noise"),
                                      (["detect", "--train", "0"], "--train"),
                                      (["explain", "--fraction", "1.5"], "--fraction"),
                                      (["segment", "--base", "0"], "--base")])
def test_bad_arguments(argv, msg, capsys):
    assert main(["demo"] + argv) == 2
    assert msg in capsys.readouterr().err


def test_plot_without_matplotlib(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(common, "have_matplotlib", lambda: False)
    for name in QUICK_BOUNDS:
        assert main(["demo", name, "--quick", "--plot", str(tmp_path / "x.png")]) == 2
        assert "pip install matplotlib" in capsys.readouterr().err


def test_format_result():
    assert common.format_result(map50=0.71234, classes=10) == "result map50 0.7123 classes 10"


def test_progress_bar_counts_done(capsys):
    """ProgressBar (over fastlayers._progress) takes the count done so far; off a terminal it
    prints a line every ~10% on stderr, nothing on stdout; close() after the end is harmless."""
    bar = common.ProgressBar(20, unit="step")
    for i in range(1, 21):
        bar.update(i, loss="0.5")
    bar.close()
    captured = capsys.readouterr()
    assert captured.out == "" and 10 <= captured.err.count("\n") <= 11 and "step 20/20" in captured.err


def _tiny_cnn():
    from fastlayers.models import CNN
    fastlayers.manual_seed(2)
    return CNN(1, 10, 8, channels=(3, 4), kernel_size=3, padding="same", hidden=(8,))


def test_saliency_is_the_input_gradient(torch):
    model = _tiny_cnn()
    X = np.random.default_rng(0).random((5, 1, 8, 8)).astype(np.float32)
    sal, cls = explain.saliency(model, X)
    assert all(p.grad is None for p in model.parameters())  # the parameter grads are cleared
    tm = model.to_torch().double()
    xt = torch.from_numpy(X.astype(np.float64)).requires_grad_(True)
    logits = tm(xt)
    assert np.array_equal(cls, logits.argmax(1).numpy())
    logits[torch.arange(5), torch.from_numpy(cls)].sum().backward()
    assert np.allclose(sal, xt.grad.abs().numpy()[:, 0], rtol=1e-3, atol=1e-6)


def test_grad_cam_matches_autograd(torch):
    model = _tiny_cnn()
    X = np.random.default_rng(1).random((4, 1, 8, 8)).astype(np.float32)
    a_idx = explain.last_conv_activation(model)
    assert type(model[a_idx]).__name__ == "ReLU" and type(model[a_idx - 1]).__name__ == "Conv2d"
    cam, cls = explain.grad_cam(model, X)
    tm = model.to_torch().double()
    feats = tm[:a_idx + 1](torch.from_numpy(X.astype(np.float64)))
    feats.retain_grad()
    logits = tm[a_idx + 1:](feats)
    logits[torch.arange(4), torch.from_numpy(cls)].sum().backward()
    alpha = feats.grad.mean(dim=(2, 3), keepdim=True)
    ref = torch.relu((alpha * feats).sum(1, keepdim=True))
    ref = torch.nn.functional.interpolate(ref, size=(8, 8), mode="bilinear", align_corners=False)[:, 0]
    assert np.allclose(cam, ref.detach().numpy(), rtol=1e-3, atol=1e-6)


def test_bilinear_resize_matches_torch(torch):
    m = np.random.default_rng(0).random((2, 3, 5)).astype(np.float32)
    ref = torch.nn.functional.interpolate(torch.from_numpy(m)[:, None], size=(7, 10), mode="bilinear",
                                          align_corners=False)[:, 0].numpy()
    assert np.allclose(explain.bilinear_resize(m, (7, 10)), ref, atol=1e-6)


def test_delete_top_and_deletion_test():
    X = np.arange(2 * 16, dtype=np.float32).reshape(2, 1, 4, 4) + 1
    maps = np.zeros((2, 4, 4), np.float32)
    maps[0, 0, :3] = [3, 2, 1]
    maps[1, 3, 3] = 5
    out = explain.delete_top(X, maps, 0.125)  # 2 of 16 pixels
    assert (out == 0).sum(axis=(1, 2, 3)).tolist() == [2, 2]
    assert out[0, 0, 0, 0] == 0 and out[0, 0, 0, 1] == 0 and out[0, 0, 0, 2] == X[0, 0, 0, 2]
    assert out[1, 0, 3, 3] == 0
    assert np.array_equal(X, np.arange(32, dtype=np.float32).reshape(2, 1, 4, 4) + 1)  # input untouched
