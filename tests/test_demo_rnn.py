"""The RNN demos: `fastlayers demo rnn-digits` (many-to-one, test accuracy >= 95%) and
`fastlayers demo char-rnn` (many-to-many training, bits per character, one-to-many sampling)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fastlayers.cli import main
from fastlayers.demo import char_rnn, rnn_digits


def test_rnn_digits_default_demo_reaches_95(capsys, tmp_path):
    pytest.importorskip("sklearn")
    plot = tmp_path / "digits.png"
    args = ["demo", "rnn-digits"] + (["--plot", str(plot)] if char_rnn_has_matplotlib() else [])
    assert main(args) == 0
    out = capsys.readouterr().out
    acc = float(out.split("test accuracy ")[1].split("%")[0])
    assert acc >= 95.0, out
    assert "confusion matrix" in out and "wall time" in out
    if char_rnn_has_matplotlib():
        assert plot.stat().st_size > 0


def char_rnn_has_matplotlib() -> bool:
    from fastlayers.demo.common import have_matplotlib
    return have_matplotlib()


def test_char_rnn_learns_and_samples():
    res = char_rnn.train_char_rnn(steps=60, hidden=64, embed=16, batch_size=16, progress=False)
    assert math.isfinite(res["val_bpc"]) and res["val_bpc"] < math.log2(len(res["vocab"]))
    assert res["curve"][-1][1] < res["curve"][0][1]  # the training loss went down
    text = char_rnn.sample(res["model"], res["vocab"], "def ", 50, 0.7, np.random.default_rng(0))
    assert text.startswith("def ") and len(text) == 54


def test_char_rnn_cli_and_bad_arguments(capsys):
    assert main(["demo", "char-rnn", "--steps", "12", "--hidden", "32", "--embed", "8", "--length", "20"]) == 0
    out = capsys.readouterr().out
    assert "bits per character" in out and "sample (temperature" in out
    assert main(["demo", "char-rnn", "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err
    assert main(["demo", "char-rnn", "--steps", "12", "--hidden", "8", "--sample", "\x01"]) == 2
    assert "--sample" in capsys.readouterr().err
    assert main(["demo", "rnn-digits", "--epochs", "0"]) == 2


def test_row_lstm_classifier_backward_shapes(rng):
    m = rnn_digits.RowLSTMClassifier(8, 8, 16, 10, num_layers=2)
    x = rng.random((5, 64)).astype(np.float32)
    y = m(x)
    assert y.shape == (5, 10)
    dx = m.backward(np.ones_like(y))
    assert dx.shape == (5, 64)
    y = m(x)   # backward consumes what forward saved: a second backward needs a second forward
    assert m.backward(np.ones_like(y), need_input_grad=False) is None
    with pytest.raises(RuntimeError, match="backward once per forward"):
        m.backward(np.ones_like(y))
