"""fastlayers.data.make_scenes (seeded, masks agree with boxes and labels, no overlaps, bad
arguments), the box arithmetic of demo/boxes.py (IoU, NMS, VOC AP on hand-worked cases) and the
grid detector's pieces (targets round-trip through decode at mAP 1; the loss's gradient
against finite differences)."""
from __future__ import annotations

import numpy as np
import pytest

from fastlayers import data
from fastlayers.demo import detect
from fastlayers.demo.boxes import average_precision, box_iou, mean_average_precision, nms

from helpers import numeric_grad


def test_scenes_seeded_and_consistent():
    sc = data.make_scenes(40, seed=3)
    assert sc.images.shape == (40, 3, 64, 64) and sc.images.dtype == np.float32
    assert 0.0 <= sc.images.min() and sc.images.max() <= 1.0
    assert sc.masks.shape == (40, 64, 64) and sc.masks.dtype == np.uint8
    again = data.make_scenes(40, seed=3)
    assert np.array_equal(sc.images, again.images) and all(np.array_equal(a, b) for a, b in zip(sc.boxes, again.boxes))
    assert not np.array_equal(sc.images, data.make_scenes(40, seed=4).images)
    counts = [len(b) for b in sc.boxes]
    assert min(counts) >= 1 and max(counts) <= 4
    for i in range(len(sc)):
        b, lab, col = sc.boxes[i], sc.labels[i], sc.colours[i]
        assert b.shape == (len(lab), 4) and len(col) == len(lab)
        assert np.all(b[:, :2] >= 0) and np.all(b[:, 2:] <= 64) and np.all(b[:, 2:] - b[:, :2] >= 10 - 1e-4)
        iou = box_iou(b, b)
        assert np.allclose(iou[~np.eye(len(b), dtype=bool)], 0.0)  # no overlaps
        for box, k in zip(b, lab):  # the mask inside each box is that shape's class
            x0, y0, x1, y1 = np.floor(box[:2]).astype(int).tolist() + np.ceil(box[2:]).astype(int).tolist()
            inside = sc.masks[i, y0:y1, x0:x1]
            assert set(np.unique(inside)) <= {0, k + 1} and (inside == k + 1).sum() > 0.3 * inside.size
        assert set(np.unique(sc.masks[i])) <= {0} | {int(k) + 1 for k in lab}
    sub = sc.subset(np.array([5, 2]))
    assert len(sub) == 2 and np.array_equal(sub.images[1], sc.images[2]) and sub.labels[0] is sc.labels[5]


def test_scene_shapes_are_what_they_say():
    """Mask area over box area: a circle pi/4, a square 1, a triangle 1/2."""
    sc = data.make_scenes(60, min_size=20, max_size=24, seed=1)
    ratio = {0: [], 1: [], 2: []}
    for i in range(len(sc)):
        for box, k in zip(sc.boxes[i], sc.labels[i]):
            area = (box[2] - box[0]) * (box[3] - box[1])
            x0, y0 = np.floor(box[:2]).astype(int)
            x1, y1 = np.ceil(box[2:]).astype(int)
            ratio[int(k)].append((sc.masks[i, y0:y1, x0:x1] == k + 1).sum() / area)
    assert abs(np.mean(ratio[0]) - np.pi / 4) < 0.05
    assert abs(np.mean(ratio[1]) - 1.0) < 0.08
    assert abs(np.mean(ratio[2]) - 0.5) < 0.06


@pytest.mark.parametrize("kwargs,msg", [(dict(n=-1), "n"), (dict(n=2, max_size=80), "max_size"),
                                        (dict(n=2, min_size=30, max_size=20), "max_size"),
                                        (dict(n=2, noise=2.0), "noise"), (dict(n=2, size=4), "size")])
def test_scenes_bad_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        data.make_scenes(**kwargs)


def test_box_iou_and_nms():
    a = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)
    iou = box_iou(a, a)
    assert np.allclose(iou, [[1, 50 / 150], [50 / 150, 1]])
    assert box_iou(a, np.zeros((0, 4))).shape == (2, 0)
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [30, 30, 40, 40], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    labels = np.array([0, 0, 0, 1])
    assert nms(boxes, scores, labels, 0.5).tolist() == [3, 0, 2]  # box 1 suppressed by box 0, same class only
    assert nms(boxes[:0], scores[:0], labels[:0]).tolist() == []


def test_average_precision_hand_cases():
    gt = [(np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32), np.array([0, 0]))]
    perfect = [(gt[0][0], np.array([0.9, 0.8]), np.array([0, 0]))]
    assert average_precision(perfect, gt, 0) == pytest.approx(1.0)
    # a false positive ranked between the two hits: recall 0.5 at precision 1, recall 1 at 2/3
    mixed = [(np.array([[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30]], np.float32), np.array([0.9, 0.8, 0.7]),
              np.array([0, 0, 0]))]
    assert average_precision(mixed, gt, 0) == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    # a duplicate of a matched box is a false positive; the second object is missed: AP 0.5
    dup = [(np.array([[0, 0, 10, 10], [0, 0, 10, 10]], np.float32), np.array([0.9, 0.8]), np.array([0, 0]))]
    assert average_precision(dup, gt, 0) == pytest.approx(0.5)
    # IoU exactly 0.5 is not a match (VOC: overlap > 0.5)
    one = [(gt[0][0][:1], gt[0][1][:1])]
    half = [(np.array([[0, 0, 10, 20]], np.float32), np.array([0.9]), np.array([0]))]
    assert box_iou(half[0][0], one[0][0])[0, 0] == 0.5
    assert average_precision(half, one, 0) == 0.0
    assert average_precision(half, one, 0, iou_threshold=0.49) == pytest.approx(1.0)
    assert average_precision([(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int))], gt, 0) == 0.0
    assert np.isnan(average_precision(perfect, gt, 1))
    m, aps = mean_average_precision(mixed, gt, 2)
    assert m == pytest.approx(aps[0]) and np.isnan(aps[1])


def test_targets_decode_back_to_the_truth():
    sc = data.make_scenes(30, seed=5)
    cells, box_t, cls_t = detect.encode(sc.boxes, sc.labels, 64)
    out = np.full((30, 8, 8, 8), -8.0, np.float32)  # (N, S, S, 5 + C) first, then to NCHW
    flat = out.reshape(-1, 8)
    flat[cells, 0] = 8.0
    flat[cells, 1:5] = box_t
    flat[cells, 5 + cls_t] = 8.0
    dets = detect.decode(np.ascontiguousarray(out.transpose(0, 3, 1, 2)), 64)
    m, _ = mean_average_precision(dets, list(zip(sc.boxes, sc.labels)), 3)
    shared = len(cells) < sum(len(b) for b in sc.boxes)  # two centres in one cell: one object is lost
    assert m == pytest.approx(1.0) or (shared and m > 0.9)
    best = dets[0][0][np.argsort(-dets[0][1])][:len(sc.boxes[0])]
    assert np.allclose(np.sort(best, axis=0), np.sort(sc.boxes[0], axis=0), atol=1e-3)


def test_grid_loss_gradient():
    rng = np.random.default_rng(0)
    boxes = [np.array([[3, 4, 17, 20], [40, 40, 60, 58]], np.float32), np.array([[10, 30, 22, 42]], np.float32)]
    labels = [np.array([0, 2]), np.array([1])]
    cells, box_t, cls_t = detect.encode(boxes, labels, 64)
    assert cells.tolist() == [8 * 1 + 1, 8 * 6 + 6, 64 + 8 * 4 + 2]
    out = rng.standard_normal((2, 8, 8, 8)).astype(np.float32)
    crit = detect.GridLoss()
    loss, parts = crit(out, cells, box_t, cls_t)
    assert loss == pytest.approx(parts["obj"] + detect.BOX_WEIGHT * parts["box"] + parts["cls"], rel=1e-6)
    g = crit.backward()
    num = numeric_grad(lambda x: np.array(crit(x.astype(np.float32), cells, box_t, cls_t)[0]), out.astype(np.float64),
                       np.ones(()), eps=1e-2)
    assert np.allclose(g, num, atol=2e-3), np.abs(g - num).max()
