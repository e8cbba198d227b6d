"""`fastlayers demo caption`: the synthetic scenes and captions, corpus BLEU, the captioner's
gradient path, and --quick (held-out exact match and BLEU-4 above a floor, the `result` line)."""
from __future__ import annotations

import numpy as np
import pytest

from fastlayers import nn
from fastlayers.cli import main
from fastlayers.demo import _caption_scenes as scenes
from fastlayers.demo.caption import Captioner


def test_scenes_and_captions_are_seeded_and_encoded():
    X, caps = scenes.make_scenes(40, 3)
    X2, caps2 = scenes.make_scenes(40, 3)
    assert X.shape == (40, 3, 32, 32) and X.dtype == np.float32 and np.array_equal(X, X2) and caps == caps2
    assert {len(c) for c in caps} <= {3, 7, 8}
    assert all(c[0] == "a" and c[1] in scenes.COLOURS and c[2] in scenes.SHAPES for c in caps)
    x, y = scenes.encode(caps)
    assert x[0, 0] == scenes.BOS and scenes.decode(y[0]) == caps[0] and scenes.decode(x[0]) == caps[0]


def test_corpus_bleu():
    ref = [["a", "red", "circle", "left", "of", "a", "blue", "square"]]
    assert scenes.corpus_bleu(ref, ref) == pytest.approx(1.0)
    assert scenes.corpus_bleu(ref, [["a", "red"]]) == 0.0
    one_off = [["a", "red", "circle", "left", "of", "a", "blue", "circle"]]  # 4-grams 4/5, ... 1-grams 7/8
    expected = (7 / 8 * 6 / 7 * 5 / 6 * 4 / 5) ** 0.25
    assert scenes.corpus_bleu(ref, one_off) == pytest.approx(expected)


def test_captioner_gradients_reach_the_image_encoder():
    X, caps = scenes.make_scenes(6, 0)
    x, y = scenes.encode(caps)
    m = Captioner(len(scenes.VOCAB), hidden=16, channels=(4, 4, 4), features=8)
    crit = nn.CrossEntropyLoss(ignore_index=scenes.PAD)
    logits = m(X, x)
    assert logits.shape == (6, x.shape[1], len(scenes.VOCAB))
    crit(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    m.backward(crit.backward().reshape(logits.shape))
    assert all(p.grad is not None and np.abs(p.grad).sum() > 0 for p in m.encoder.parameters())
    assert m.generate(X).shape == (6, scenes.MAX_WORDS + 1)


def test_demo_caption_quick(capsys):
    assert main(["demo", "caption", "--quick"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1].split()
    assert last[0] == "result" and last[1::2] == ["exact_match", "bleu4"]
    assert float(last[2]) >= 0.10 and float(last[4]) >= 0.45
    assert main(["demo", "caption", "--steps", "0"]) == 2
