"""models.CNN (LeNet-style) and `fastlayers demo cnn`: PyTorch parity from a state_dict, and
the demo reaching >= 97% test accuracy on the 8x8 digits with a confusion matrix."""
from __future__ import annotations

import argparse
import re

import numpy as np
import pytest

import fastlayers
from fastlayers.models import CNN
from helpers import assert_close


def test_cnn_matches_torch(torch, rng):
    ours = CNN(1, 12, 5, channels=(4, 6), hidden=16)
    tnn = torch.nn
    theirs = tnn.Sequential(tnn.Conv2d(1, 4, 3, padding="same", bias=False), tnn.BatchNorm2d(4), tnn.ReLU(),
                            tnn.MaxPool2d(2), tnn.Conv2d(4, 6, 3, padding="same", bias=False), tnn.BatchNorm2d(6),
                            tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(6 * 3 * 3, 16), tnn.ReLU(),
                            tnn.Linear(16, 5))
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    x = rng.standard_normal((7, 1, 12, 12)).astype(np.float32)
    y = ours(x)
    ty = theirs(torch.from_numpy(x))
    assert_close(y, ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    ours.eval()
    theirs.eval()
    assert_close(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-4)
    assert ours.predict(x).shape == (7,)


def test_cnn_bad_size():
    with pytest.raises(ValueError, match="image_size"):
        CNN(1, 2, channels=(4, 4, 4))


def test_demo_cnn_learns_digits(capsys):
    pytest.importorskip("sklearn")
    from fastlayers.demo import cnn
    p = argparse.ArgumentParser()
    cnn.add_arguments(p)
    before = fastlayers.get_num_threads()
    fastlayers.set_num_threads(1)  # tiny batches: one thread is fastest
    try:
        assert cnn.run(p.parse_args(["--epochs", "15"])) == 0
    finally:
        fastlayers.set_num_threads(before)
    out = capsys.readouterr().out
    acc = float(re.search(r"test accuracy ([\d.]+)%", out).group(1))
    assert acc >= 97.0, out
    assert "true  9" in out and "predicted" in out
