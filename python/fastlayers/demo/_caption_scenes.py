"""Synthetic captioned scenes for `fastlayers demo caption`, and corpus BLEU.

A scene is a 32x32 RGB image (float32, channels first) on dark noise with one or two shapes
(circle, square, triangle) in one of four colours (red, green, blue, yellow), and its caption:
  * one shape:   "a red circle"
  * two shapes side by side:  "a red circle left of a blue square"  (the left one named first)
  * two shapes one over the other: "a green triangle above a yellow circle"  (the upper one first)
Two shapes are separated by at least 12 pixels along the named direction and at most half as far
across it, so every caption is unambiguous. Words are ids of VOCAB (0 = padding).
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

SIZE = 32
COLOURS = {"red": (0.95, 0.15, 0.1), "green": (0.15, 0.85, 0.2), "blue": (0.2, 0.35, 1.0), "yellow": (0.95, 0.9, 0.1)}
SHAPES = ("circle", "square", "triangle")
VOCAB = ("<pad>", "<bos>", "<eos>", "a", *COLOURS, *SHAPES, "left", "of", "above")
WORD = {w: i for i, w in enumerate(VOCAB)}
PAD, BOS, EOS = 0, 1, 2
MAX_WORDS = 8  # "a red circle left of a blue square"


def _draw(img: np.ndarray, shape: str, colour: str, cx: float, cy: float, r: float, rng) -> None:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    if shape == "circle":
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    elif shape == "square":
        s = r * 0.85
        mask = (np.abs(xx - cx) <= s) & (np.abs(yy - cy) <= s)
    else:  # an upward triangle: apex at the top, base at the bottom
        dy = yy - (cy - r)
        mask = (dy >= 0) & (dy <= 2 * r) & (np.abs(xx - cx) <= 0.58 * dy)
    rgb = np.clip(np.array(COLOURS[colour]) + rng.normal(0, 0.05, 3), 0, 1).astype(np.float32)
    img[:, mask] = rgb[:, None]


def make_scenes(n: int, seed) -> tuple:
    """n scenes: (images (n, 3, 32, 32) float32 in [0, 1], captions: lists of words)."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 0.15, (n, 3, SIZE, SIZE)).astype(np.float32)
    captions = []
    for i in range(n):
        objs = [(str(rng.choice(SHAPES)), str(rng.choice(list(COLOURS)))) for _ in range(2)]
        r = rng.uniform(3.5, 5.5, 2)
        if rng.random() < 0.25:
            cx, cy = rng.uniform(7, SIZE - 7, 2)
            _draw(images[i], objs[0][0], objs[0][1], cx, cy, r[0], rng)
            captions.append(["a", objs[0][1], objs[0][0]])
            continue
        along = rng.uniform([6.5, SIZE - 12.5], [12.5, SIZE - 6.5])  # first shape's and second's coordinate
        if along[1] - along[0] < 12:
            along[1] = along[0] + 12
        across = rng.uniform(8, SIZE - 8) + rng.uniform(-1, 1, 2) * (along[1] - along[0]) / 4
        across = np.clip(across, 6.5, SIZE - 6.5)
        horizontal = rng.random() < 0.5
        for k in range(2):
            cx, cy = (along[k], across[k]) if horizontal else (across[k], along[k])
            _draw(images[i], objs[k][0], objs[k][1], cx, cy, r[k], rng)
        rel = ["left", "of"] if horizontal else ["above"]
        captions.append(["a", objs[0][1], objs[0][0], *rel, "a", objs[1][1], objs[1][0]])
    return images, captions


def encode(captions) -> tuple:
    """(inputs, targets), each (n, MAX_WORDS + 1) int64: <bos> w1 .. wk and w1 .. wk <eos>, padded with 0."""
    n = len(captions)
    x = np.zeros((n, MAX_WORDS + 1), np.int64)
    y = np.zeros((n, MAX_WORDS + 1), np.int64)
    for i, words in enumerate(captions):
        ids = [WORD[w] for w in words]
        x[i, :len(ids) + 1] = [BOS, *ids]
        y[i, :len(ids) + 1] = [*ids, EOS]
    return x, y


def decode(ids) -> list:
    """Words of one id sequence, up to the first <eos> (padding and <bos> dropped)."""
    out = []
    for t in ids:
        if t == EOS:
            break
        if t not in (PAD, BOS):
            out.append(VOCAB[int(t)])
    return out


def corpus_bleu(references, hypotheses, max_n: int = 4) -> float:
    """Corpus BLEU-max_n (one reference per hypothesis; uniform weights, brevity penalty), as
    Papineni et al. define it: clipped n-gram precisions summed over the corpus."""
    matched, total = [0] * max_n, [0] * max_n
    ref_len = hyp_len = 0
    for ref, hyp in zip(references, hypotheses):
        ref_len, hyp_len = ref_len + len(ref), hyp_len + len(hyp)
        for n in range(1, max_n + 1):
            rc = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
            hc = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
            matched[n - 1] += sum(min(c, rc[g]) for g, c in hc.items())
            total[n - 1] += max(len(hyp) - n + 1, 0)
    if min(matched) == 0:
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(matched, total)) / max_n
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / max(hyp_len, 1))
    return bp * math.exp(log_p)
