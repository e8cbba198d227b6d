"""Train a small U-Net (fastlayers.models.UNet) to segment synthetic 64x64 scenes of circles,
squares and triangles (fastlayers.data.make_scenes, the detect demo's scenes) into background
and the three shapes, and report the mean IoU on held-out scenes; optionally draw test
scenes beside their true and predicted masks (matplotlib).

Per-pixel cross-entropy over 4 classes (0 background, 1 + the shape's index in SHAPES), Adam
with cosine annealing; training scenes are flipped left to right at random. The metric: one
confusion matrix over every pixel of the test scenes; IoU of a class = TP / (TP + FP + FN);
mean IoU = the mean over the 4 classes (background included, as VOC counts it).
"""
from __future__ import annotations

import numpy as np

HELP = "train a small U-Net to segment synthetic shape scenes; mean IoU"

DEFAULTS = dict(epochs=4, train=1500, test=300, batch_size=16, base=8, lr=4e-3)
QUICK = dict(epochs=3, train=400, test=100, batch_size=8)


def add_arguments(p) -> None:
    from .common import add_demo_arguments
    from .detect import add_scene_arguments
    add_scene_arguments(p, DEFAULTS, QUICK)
    p.add_argument("--base", type=int, help=f"U-Net width of the first level (default {DEFAULTS['base']})")
    add_demo_arguments(p, "write test scenes with their true and predicted masks")


def confusion(pred, truth, n: int) -> np.ndarray:
    """(n, n) pixel counts: row = true class, column = predicted class."""
    return np.bincount(np.asarray(truth, np.int64).ravel() * n + np.asarray(pred, np.int64).ravel(),
                       minlength=n * n).reshape(n, n)


def iou_per_class(cm: np.ndarray) -> np.ndarray:
    """TP / (TP + FP + FN) per class of a confusion matrix; nan for a class absent from both."""
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(axis=0) + cm.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)


def train_segmenter(*, seed: int = 0, epochs: int = DEFAULTS["epochs"], train: int = DEFAULTS["train"],
                    test: int = DEFAULTS["test"], batch_size: int = DEFAULTS["batch_size"],
                    base: int = DEFAULTS["base"], lr: float = DEFAULTS["lr"], progress: bool = True) -> dict:
    """Trains on `train` scenes and evaluates on `test` others; returns the model, the test
    scenes, the predicted masks, the confusion matrix, IoU per class and miou."""
    import fastlayers
    from .. import data, nn, optim
    from ..models import UNet
    from .common import ProgressBar

    fastlayers.manual_seed(seed)
    model = UNet(3, 1 + len(data.SHAPES), base=base, depth=3)
    scenes = data.make_scenes(train + test, seed=seed)
    tr, te = scenes.subset(slice(0, train)), scenes.subset(slice(train, train + test))
    targets = tr.masks.astype(np.int64)
    steps = epochs * -(-train // batch_size)
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.02)
    crit = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    bar = ProgressBar(epochs, unit="epoch") if progress else None
    model.train()
    for epoch in range(1, epochs + 1):
        total, hits, n = 0.0, 0, 0
        order = rng.permutation(train)
        for i in range(0, train, batch_size):
            idx = order[i:i + batch_size]
            flip = rng.random(len(idx)) < 0.5
            images, masks = tr.images[idx], targets[idx]
            images[flip], masks[flip] = images[flip][..., ::-1], masks[flip][..., ::-1]
            opt.zero_grad()
            out = model(np.ascontiguousarray(images))
            loss = crit(out, np.ascontiguousarray(masks))
            model.backward(crit.backward(), need_input_grad=False)
            opt.step()
            sched.step()
            total, n = total + loss * len(idx), n + len(idx)
            hits += int((out.argmax(axis=1) == masks).sum())
        if bar:
            bar.update(epoch, loss=f"{total / n:.4f}", pixel_acc=f"{100 * hits / (n * masks[0].size):.2f}%")
    if bar:
        bar.close()
    pred = model.predict(te.images)
    cm = confusion(pred, te.masks, 1 + len(data.SHAPES))
    ious = iou_per_class(cm)
    return {"model": model, "test": te, "pred": pred, "confusion": cm, "iou": ious, "miou": float(np.nanmean(ious))}


def _plot(path: str, res: dict, n: int = 6) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from ..data import SHAPES
    from .common import save_figure
    te, pred = res["test"], res["pred"]
    cmap = ListedColormap(["#202020", "#ff7f0e", "#1f9bff", "#2ca02c"])
    fig, axes = plt.subplots(3, n, figsize=(n * 1.6, 3 * 1.6 + 0.8))
    for k in range(n):
        axes[0, k].imshow(te.images[k].transpose(1, 2, 0), interpolation="nearest")
        axes[1, k].imshow(te.masks[k], cmap=cmap, vmin=0, vmax=3, interpolation="nearest")
        axes[2, k].imshow(pred[k], cmap=cmap, vmin=0, vmax=3, interpolation="nearest")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    for r, name in enumerate(("scene", "true mask", "U-Net")):
        axes[r, 0].set_ylabel(name, fontsize=9)
    ious = ", ".join(f"{name} {v:.2f}" for name, v in zip(("background",) + SHAPES, res["iou"]))
    fig.suptitle(f"U-Net on held-out scenes (orange circle, blue square, green triangle)\n"
                 f"mean IoU {res['miou']:.3f} ({ious})", fontsize=9)
    save_figure(fig, path)


def run(args) -> int:
    import fastlayers
    from ..data import SHAPES
    from .common import resolve, run_demo

    def setup():
        cfg = resolve(args, DEFAULTS, QUICK, "epochs", "train", "test", "batch_size", "base")
        print(f"scenes 64x64 with 1-4 of {', '.join(SHAPES)}: {cfg['train']} train / {cfg['test']} test; U-Net "
              f"base {cfg['base']}, depth 3, Adam lr {args.lr}, batch {cfg['batch_size']}, {cfg['epochs']} epochs, "
              f"isa {fastlayers.get_isa()}, {fastlayers.get_num_threads()} threads")
        return train_segmenter(seed=args.seed, lr=args.lr, **cfg)

    def finish(res):
        ious = "  ".join(f"{name} {v:.3f}" for name, v in zip(("background",) + SHAPES, res["iou"]))
        print(f"{res['model'].num_parameters():,} parameters; IoU on {len(res['test'])} test scenes: {ious}; "
              f"mean IoU {res['miou']:.3f}")
        if args.plot:
            _plot(args.plot, res)
            print(f"test scenes with true and predicted masks written to {args.plot}")
        return {"miou": res["miou"]}

    return run_demo(args, setup, finish)
