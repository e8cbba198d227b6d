"""Synthetic scenes for detection, segmentation and captioning: RGB images of 1-4 circles,
squares and triangles of random size and named colour on a noise background, drawn with NumPy.

``make_scenes(n, seed=...)`` returns a Scenes record: images (n, 3, H, W) float32 in [0, 1];
per image the objects' boxes (k, 4) as (x0, y0, x1, y1) in pixels (x to the right, y down,
the shape's geometric extent), class labels (k,) indexing SHAPES, colour indices (k,) into
COLOURS; and masks (n, H, W) uint8, 0 for background and 1 + label where an object covers
the pixel. Objects do not overlap (their boxes keep a pixel apart), so every object is
wholly visible and every mask pixel belongs to one object. A fixed seed gives the same scenes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._random import default_generator

SHAPES = ("circle", "square", "triangle")
# Named colours (RGB in [0, 1]); each object's colour is one of these with a small jitter, so
# a caption can name it.
COLOURS = {"red": (0.9, 0.15, 0.1), "green": (0.15, 0.8, 0.2), "blue": (0.15, 0.35, 0.95),
           "yellow": (0.95, 0.85, 0.1), "magenta": (0.85, 0.2, 0.85), "cyan": (0.1, 0.85, 0.9),
           "white": (0.95, 0.95, 0.95)}
COLOUR_NAMES = tuple(COLOURS)
_PALETTE = np.array([COLOURS[c] for c in COLOUR_NAMES], np.float32)


@dataclass
class Scenes:
    images: np.ndarray   # (n, 3, H, W) float32 in [0, 1]
    boxes: list          # n arrays (k, 4) float32: x0, y0, x1, y1 in pixels
    labels: list         # n arrays (k,) int64 indexing SHAPES
    colours: list        # n arrays (k,) int64 indexing COLOUR_NAMES
    masks: np.ndarray    # (n, H, W) uint8: 0 background, 1 + label on an object

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, idx) -> "Scenes":
        """The scenes at the given indices (an index array or a slice), as a new Scenes."""
        ids = np.arange(len(self))[idx]
        return Scenes(self.images[ids], [self.boxes[i] for i in ids], [self.labels[i] for i in ids],
                      [self.colours[i] for i in ids], self.masks[ids])


def _shape_mask(kind: int, cx: float, cy: float, s: float, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Pixels (sampled at their centres xs, ys) inside a shape of side / diameter s centred at (cx, cy)."""
    h = s / 2.0
    if kind == 0:  # circle
        return (xs - cx) ** 2 + (ys - cy) ** 2 <= h * h
    if kind == 1:  # axis-aligned square
        return (np.abs(xs - cx) <= h) & (np.abs(ys - cy) <= h)
    # upright isosceles triangle: apex (cx, cy - h), base from (cx - h, cy + h) to (cx + h, cy + h)
    t = (ys - (cy - h)) / s  # 0 at the apex, 1 at the base
    return (t >= 0) & (t <= 1) & (np.abs(xs - cx) <= h * t)


def _check_int(v, name: str, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {v!r}")
    return int(v)


def make_scenes(n: int, size: int = 64, min_objects: int = 1, max_objects: int = 4, min_size: int = 10,
                max_size: int = 24, noise: float = 0.35, seed=None) -> Scenes:
    """n scenes of size x size pixels with min_objects..max_objects shapes each (fewer when the
    non-overlapping placements run out), sides / diameters min_size..max_size pixels. The
    background is uniform noise in [0, noise] per pixel and channel; every pixel then gets a
    little uniform noise (+-0.05). seed: an int, or None for fastlayers' generator."""
    n = _check_int(n, "n", 0)
    size = _check_int(size, "size", 8)
    min_objects = _check_int(min_objects, "min_objects", 0)
    max_objects = _check_int(max_objects, "max_objects", max(min_objects, 1))
    min_size = _check_int(min_size, "min_size", 3)
    max_size = _check_int(max_size, "max_size", min_size)
    if max_size > size:
        raise ValueError(f"max_size: expected at most the image size {size}, got {max_size}")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise: expected a level in [0, 1], got {noise!r}")
    rng = default_generator() if seed is None else np.random.default_rng(seed)
    images = rng.random((n, 3, size, size), dtype=np.float32)
    images *= np.float32(noise)
    masks = np.zeros((n, size, size), np.uint8)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    all_boxes, all_labels, all_colours = [], [], []
    for i in range(n):
        boxes, labels, colours = [], [], []
        want = int(rng.integers(min_objects, max_objects + 1))
        for _ in range(30 * max(want, 1)):
            if len(boxes) == want:
                break
            s = float(rng.uniform(min_size, max_size))
            cx, cy = rng.uniform(s / 2, size - s / 2, 2)
            box = (cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2)
            if any(box[0] < b[2] + 1 and b[0] < box[2] + 1 and box[1] < b[3] + 1 and b[1] < box[3] + 1
                   for b in boxes):
                continue
            kind, colour = int(rng.integers(len(SHAPES))), int(rng.integers(len(COLOUR_NAMES)))
            r0, r1 = int(box[1]), min(int(np.ceil(box[3])) + 1, size)  # the rows and columns the box touches
            c0, c1 = int(box[0]), min(int(np.ceil(box[2])) + 1, size)
            inside = _shape_mask(kind, cx, cy, s, xs[r0:r1, c0:c1], ys[r0:r1, c0:c1])
            rgb = np.clip(_PALETTE[colour] + rng.uniform(-0.08, 0.08, 3), 0.0, 1.0).astype(np.float32)
            images[i, :, r0:r1, c0:c1][:, inside] = rgb[:, None]
            masks[i, r0:r1, c0:c1][inside] = kind + 1
            boxes.append(box)
            labels.append(kind)
            colours.append(colour)
        all_boxes.append(np.array(boxes, np.float32).reshape(-1, 4))
        all_labels.append(np.array(labels, np.int64))
        all_colours.append(np.array(colours, np.int64))
    grain = rng.random(images.shape, dtype=np.float32)
    grain -= np.float32(0.5)
    grain *= np.float32(0.1)
    images += grain
    np.clip(images, 0.0, 1.0, out=images)
    return Scenes(images, all_boxes, all_labels, all_colours, masks)
