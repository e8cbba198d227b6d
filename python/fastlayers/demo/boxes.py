"""Box arithmetic for the detection demo: IoU, per-class non-maximum suppression and VOC-style
average precision. Boxes are (x0, y0, x1, y1) rows in pixels, x0 <= x1, y0 <= y1."""
from __future__ import annotations

import numpy as np


def box_iou(a, b) -> np.ndarray:
    """(len(a), len(b)) intersection over union of two box arrays (k, 4)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def nms(boxes, scores, labels, iou_threshold: float = 0.45) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression within each class, best score first."""
    boxes, scores, labels = np.asarray(boxes), np.asarray(scores), np.asarray(labels)
    keep = []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        while len(idx):
            best, idx = idx[0], idx[1:]
            keep.append(best)
            if len(idx):
                idx = idx[box_iou(boxes[best], boxes[idx])[0] < iou_threshold]
    keep = np.array(keep, np.int64)
    return keep[np.argsort(-scores[keep], kind="stable")] if len(keep) else keep


def average_precision(detections, ground_truth, cls: int, iou_threshold: float = 0.5) -> float:
    """VOC (2010 and later) AP of one class: the area under the precision-recall curve with
    precision made monotone (each point takes the best precision at that recall or higher).

    detections: per image (boxes (k, 4), scores (k,), labels (k,)); ground_truth: per image
    (boxes (m, 4), labels (m,)). Detections are taken best score first over all images; as in
    the VOC devkit, one is a true positive when its best-overlapping ground-truth box of the
    class has IoU > iou_threshold and is not matched yet (it becomes matched), else a false
    positive. NaN when the class has no ground truth."""
    records, n_gt = [], 0
    for img, ((db, ds, dl), (gb, gl)) in enumerate(zip(detections, ground_truth)):
        n_gt += int(np.sum(np.asarray(gl) == cls))
        for box, score in zip(np.asarray(db)[np.asarray(dl) == cls], np.asarray(ds)[np.asarray(dl) == cls]):
            records.append((-float(score), img, box))
    if n_gt == 0:
        return float("nan")
    records.sort(key=lambda r: r[0])
    matched = [np.zeros(int(np.sum(np.asarray(gl) == cls)), bool) for _, gl in ground_truth]
    tp = np.zeros(len(records))
    for i, (_, img, box) in enumerate(records):
        gb, gl = ground_truth[img]
        gt = np.asarray(gb).reshape(-1, 4)[np.asarray(gl) == cls]
        if not len(gt):
            continue
        iou = box_iou(box, gt)[0]
        j = int(np.argmax(iou))
        if iou[j] > iou_threshold and not matched[img][j]:
            matched[img][j] = True
            tp[i] = 1.0
    ctp = np.cumsum(tp)
    recall = ctp / n_gt
    precision = ctp / np.arange(1, len(tp) + 1)
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def mean_average_precision(detections, ground_truth, n_classes: int, iou_threshold: float = 0.5):
    """(mAP over the classes that have ground truth, [AP per class])."""
    aps = [average_precision(detections, ground_truth, c, iou_threshold) for c in range(n_classes)]
    present = [a for a in aps if not np.isnan(a)]
    return (float(np.mean(present)) if present else float("nan")), aps
