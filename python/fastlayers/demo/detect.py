"""Train a YOLO-style grid detector on synthetic 64x64 scenes of circles, squares and triangles
(fastlayers.data.make_scenes) and report its VOC-style mAP@0.5 on held-out scenes; optionally
draw test scenes with the predicted boxes and labels (matplotlib).

The model: three stages of Conv 3x3 + BatchNorm2d + ReLU + 2x2 max pool (64 -> 8), one more
Conv 3x3 stage, and a 1x1 Conv to 5 + 3 maps over the 8x8 grid of 8-pixel cells. Per cell:
an objectness logit, the box centre's offset in the cell (tx, ty in [0, 1), regressed), its
log-size against a 16-pixel anchor (tw, th), and three class logits. The cell holding an
object's centre is responsible for it. Loss per image: binary cross-entropy of objectness on
every cell (logits), + 5 x squared error of the four box numbers and cross-entropy of the
class on the responsible cells. Detections: score = sigmoid(objectness) x the class
probability, non-maximum suppression per class at IoU 0.45. Training scenes are flipped left
to right at random (every shape is symmetric that way).
"""
from __future__ import annotations

import numpy as np

HELP = "train a YOLO-style grid detector on synthetic shape scenes; VOC mAP@0.5"

GRID, ANCHOR, BOX_WEIGHT = 8, 16.0, 5.0
DEFAULTS = dict(epochs=6, train=3000, test=500, batch_size=32, lr=3e-3, width=16)
QUICK = dict(epochs=4, train=700, test=200, batch_size=16)


def add_scene_arguments(p, d: dict, q: dict) -> None:
    """--epochs, --train, --test, --lr and --batch-size of the scene demos (detect, segment), with
    their defaults d and --quick values q."""
    p.add_argument("--epochs", type=int, help=f"training epochs (default {d['epochs']}, --quick {q['epochs']})")
    p.add_argument("--train", type=int, help=f"training scenes (default {d['train']}, --quick {q['train']})")
    p.add_argument("--test", type=int, help=f"held-out scenes (default {d['test']}, --quick {q['test']})")
    p.add_argument("--lr", type=float, default=d["lr"], help="Adam learning rate, cosine-annealed (default %(default)s)")
    p.add_argument("--batch-size", type=int, help=f"default {d['batch_size']}, --quick {q['batch_size']}")


def add_arguments(p) -> None:
    from .common import add_demo_arguments
    add_scene_arguments(p, DEFAULTS, QUICK)
    add_demo_arguments(p, "write test scenes with the predicted boxes and labels")


def build_model(width: int = DEFAULTS["width"]):
    from ..data import SHAPES
    from ..nn import BatchNorm2d, Conv2d, MaxPool2d, ReLU, Sequential
    layers, c = [], 3
    for k in (width, 2 * width, 4 * width):
        layers += [Conv2d(c, k, 3, padding=1, bias=False), BatchNorm2d(k), ReLU(), MaxPool2d(2)]
        c = k
    layers += [Conv2d(c, c, 3, padding=1, bias=False), BatchNorm2d(c), ReLU(), Conv2d(c, 5 + len(SHAPES), 1)]
    return Sequential(*layers)


def encode(boxes, labels, size: int):
    """Training targets on the GRID x GRID cells: (cells (P,) flat indices n * GRID^2 + gy * GRID
    + gx of the responsible cells, box targets (P, 4), classes (P,)); a later object whose
    centre falls in a taken cell replaces the earlier one."""
    cell = size / GRID
    found = {}
    for n, (bx, lb) in enumerate(zip(boxes, labels)):
        for b, c in zip(bx, lb):
            cx, cy, w, h = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1]
            gx, gy = min(int(cx / cell), GRID - 1), min(int(cy / cell), GRID - 1)
            found[n * GRID * GRID + gy * GRID + gx] = (cx / cell - gx, cy / cell - gy, np.log(w / ANCHOR),
                                                       np.log(h / ANCHOR), c)
    cells = np.array(sorted(found), np.int64)
    rows = np.array([found[k] for k in cells], np.float64).reshape(-1, 5)
    return cells, rows[:, :4].astype(np.float32), rows[:, 4].astype(np.int64)


class GridLoss:
    """The detector's loss over outputs (N, 5 + C, GRID, GRID): forward returns (total, parts);
    backward returns dL/doutputs, from fastlayers' BCE-with-logits, MSE and cross-entropy."""

    def __init__(self):
        from ..nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
        self.bce, self.mse, self.ce = BCEWithLogitsLoss(reduction="sum"), MSELoss(reduction="sum"), \
            CrossEntropyLoss(reduction="sum")

    def forward(self, out, cells, box_t, cls_t):
        n, k = out.shape[0], out.shape[1]
        flat = np.ascontiguousarray(out.transpose(0, 2, 3, 1)).reshape(-1, k)
        obj_t = np.zeros(len(flat), np.float32)
        obj_t[cells] = 1.0
        self._shape, self._cells = (n, GRID, GRID, k), cells
        l_obj = self.bce(flat[:, 0].copy(), obj_t)
        l_box = self.mse(flat[cells, 1:5], box_t) if len(cells) else 0.0
        l_cls = self.ce(flat[cells, 5:], cls_t) if len(cells) else 0.0
        return (l_obj + BOX_WEIGHT * l_box + l_cls) / n, {"obj": l_obj / n, "box": l_box / n, "cls": l_cls / n}

    __call__ = forward

    def backward(self):
        n, _, _, k = self._shape
        g = np.zeros((n * GRID * GRID, k), np.float32)
        g[:, 0] = self.bce.backward(1.0 / n)
        if len(self._cells):
            g[self._cells, 1:5] = self.mse.backward(BOX_WEIGHT / n)
            g[self._cells, 5:] = self.ce.backward(1.0 / n)
        return np.ascontiguousarray(g.reshape(self._shape).transpose(0, 3, 1, 2))


def decode(out, size: int, min_score: float = 0.01, iou_threshold: float = 0.45, max_det: int = 50) -> list:
    """Per image (boxes (k, 4), scores (k,), labels (k,)) from outputs (N, 5 + C, GRID, GRID)."""
    from .. import functional as F
    from .boxes import nms
    cell = size / GRID
    n, k = out.shape[0], out.shape[1]
    flat = np.ascontiguousarray(out.transpose(0, 2, 3, 1)).reshape(n, GRID * GRID, k)
    obj = F.sigmoid(np.ascontiguousarray(flat[..., 0]))
    prob = F.softmax(np.ascontiguousarray(flat[..., 5:]).reshape(-1, k - 5)).reshape(n, GRID * GRID, k - 5)
    gy, gx = np.divmod(np.arange(GRID * GRID), GRID)
    cx, cy = (gx + flat[..., 1]) * cell, (gy + flat[..., 2]) * cell
    w, h = ANCHOR * np.exp(np.clip(flat[..., 3], -3, 3)), ANCHOR * np.exp(np.clip(flat[..., 4], -3, 3))
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)
    labels, scores = prob.argmax(axis=-1), obj * prob.max(axis=-1)
    result = []
    for i in range(n):
        idx = np.flatnonzero(scores[i] >= min_score)
        keep = idx[nms(boxes[i, idx], scores[i, idx], labels[i, idx], iou_threshold)][:max_det]
        result.append((boxes[i, keep], scores[i, keep], labels[i, keep]))
    return result


def predict(model, images, batch_size: int = 256):
    was = model.training
    model.eval()
    try:
        return np.concatenate([model(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    finally:
        model.train(was)


def _flip(images, boxes, size: int, flip):
    """Mirrors the flagged images left to right, and their boxes."""
    images = images.copy()
    images[flip] = images[flip][..., ::-1]
    out = []
    for b, f in zip(boxes, flip):
        out.append(np.stack([size - b[:, 2], b[:, 1], size - b[:, 0], b[:, 3]], axis=1) if f else b)
    return images, out


def train_detector(*, seed: int = 0, epochs: int = DEFAULTS["epochs"], train: int = DEFAULTS["train"],
                   test: int = DEFAULTS["test"], lr: float = DEFAULTS["lr"], batch_size: int = DEFAULTS["batch_size"],
                   progress: bool = True) -> dict:
    """Trains on `train` fresh scenes and evaluates on `test` others; returns the model, the test
    scenes, their detections, mAP@0.5 and the AP per class."""
    import fastlayers
    from .. import data, optim
    from .boxes import mean_average_precision
    from .common import ProgressBar

    fastlayers.manual_seed(seed)
    model = build_model()
    scenes = data.make_scenes(train + test, seed=seed)
    tr, te = scenes.subset(slice(0, train)), scenes.subset(slice(train, train + test))
    size = scenes.images.shape[-1]
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.CosineAnnealingLR(opt, T_max=epochs, eta_min=lr * 0.02)
    crit = GridLoss()
    rng = np.random.default_rng(seed)
    bar = ProgressBar(epochs, unit="epoch") if progress else None
    for epoch in range(1, epochs + 1):
        sums, n = {"loss": 0.0, "obj": 0.0, "box": 0.0, "cls": 0.0}, 0
        order = rng.permutation(train)
        for i in range(0, train, batch_size):
            idx = order[i:i + batch_size]
            images, boxes = _flip(tr.images[idx], [tr.boxes[j] for j in idx], size, rng.random(len(idx)) < 0.5)
            cells, box_t, cls_t = encode(boxes, [tr.labels[j] for j in idx], size)
            opt.zero_grad()
            loss, parts = crit(model(images), cells, box_t, cls_t)
            model.backward(crit.backward(), need_input_grad=False)
            opt.step()
            for key, v in (("loss", loss), *parts.items()):
                sums[key] += v * len(idx)
            n += len(idx)
        sched.step()
        if bar:
            bar.update(epoch, **{k: f"{v / n:.3f}" for k, v in sums.items()})
    if bar:
        bar.close()
    dets = decode(predict(model, te.images), size)
    m_ap, aps = mean_average_precision(dets, list(zip(te.boxes, te.labels)), len(data.SHAPES))
    return {"model": model, "test": te, "detections": dets, "map50": m_ap, "ap": aps}


def _plot(path: str, res: dict, n: int = 8, min_score: float = 0.5) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.patches as patches
    import matplotlib.pyplot as plt

    from ..data import SHAPES
    from .common import save_figure
    te, dets = res["test"], res["detections"]
    colours = {0: "#ff7f0e", 1: "#ffffff", 2: "#17becf"}
    fig, axes = plt.subplots(2, n // 2, figsize=(n // 2 * 2.3, 5.2))
    for ax, i in zip(axes.ravel(), range(n)):
        ax.imshow(te.images[i].transpose(1, 2, 0), interpolation="nearest")
        ax.axis("off")
        for b in te.boxes[i]:
            ax.add_patch(patches.Rectangle((b[0] - 0.5, b[1] - 0.5), b[2] - b[0], b[3] - b[1], fill=False,
                                           ec="#aaaaaa", lw=0.8, ls="--"))
        boxes, scores, labels = dets[i]
        for b, s, c in zip(boxes, scores, labels):
            if s < min_score:
                continue
            ax.add_patch(patches.Rectangle((b[0] - 0.5, b[1] - 0.5), b[2] - b[0], b[3] - b[1], fill=False,
                                           ec=colours[int(c)], lw=1.5))
            ax.text(b[0], b[1] - 1.5, f"{SHAPES[int(c)]} {s:.2f}", color=colours[int(c)], fontsize=7,
                    bbox=dict(facecolor="black", alpha=0.6, pad=0.5, lw=0))
    aps = ", ".join(f"{name} {ap:.2f}" for name, ap in zip(SHAPES, res["ap"]))
    fig.suptitle(f"grid detector on held-out scenes (dashed: truth; boxes with score >= {min_score})\n"
                 f"mAP@0.5 {res['map50']:.3f} (AP {aps})", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def run(args) -> int:
    import fastlayers
    from ..data import SHAPES
    from .common import resolve, run_demo

    def setup():
        cfg = resolve(args, DEFAULTS, QUICK, "epochs", "train", "test", "batch_size")
        print(f"scenes 64x64 with 1-4 of {', '.join(SHAPES)}: {cfg['train']} train / {cfg['test']} test; grid "
              f"detector {GRID}x{GRID}, Adam lr {args.lr}, batch {cfg['batch_size']}, {cfg['epochs']} epochs, "
              f"isa {fastlayers.get_isa()}, {fastlayers.get_num_threads()} threads")
        return train_detector(seed=args.seed, lr=args.lr, **cfg)

    def finish(res):
        n_obj = sum(len(b) for b in res["test"].boxes)
        aps = "  ".join(f"{name} {ap:.3f}" for name, ap in zip(SHAPES, res["ap"]))
        print(f"{res['model'].num_parameters():,} parameters; {n_obj} objects in {len(res['test'])} test scenes: "
              f"AP@0.5 {aps}; mAP@0.5 {res['map50']:.3f}")
        if args.plot:
            _plot(args.plot, res)
            print(f"test scenes with detections written to {args.plot}")
        return {"map50": res["map50"]}

    return run_demo(args, setup, finish)
