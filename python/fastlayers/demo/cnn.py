"""Train a LeNet-style CNN on scikit-learn's 8x8 digits with a live progress bar; print test
accuracy, the confusion matrix and wall time; optionally write a picture of the first
layer's filters and of the misclassified test digits (matplotlib, an optional extra)."""
from __future__ import annotations

import sys
import time

import numpy as np

HELP = "train a CNN on the 8x8 digits (conv, batch norm, pooling)"


def add_arguments(p) -> None:
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--channels", default="16,32", help="channels of the conv blocks, comma-separated")
    p.add_argument("--hidden", type=int, default=64, help="width of the hidden linear layer")
    p.add_argument("--no-batch-norm", action="store_true", help="leave out BatchNorm2d")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", metavar="FILE.png", help="write first-layer filters and misclassified digits")


def confusion_matrix(y_true, y_pred, n: int) -> np.ndarray:
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (y_true, y_pred), 1)
    return m


def format_confusion(m: np.ndarray) -> str:
    w = max(3, len(str(m.max())) + 1)
    head = " " * 8 + "".join(f"{j:>{w}}" for j in range(len(m)))
    rows = [f"true {i:>2} " + "".join(f"{v:>{w}}" for v in row) for i, row in enumerate(m)]
    return "predicted ->\n" + head + "\n" + "\n".join(rows)


def _plot(path, model, Xte, yte, pred, title) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    filters = model[0].weight.data[:, 0]  # (K, R, S) of the first conv layer
    wrong = np.flatnonzero(pred != yte)[:16]
    cols = 8
    rows_f = -(-len(filters) // cols)
    rows_w = max(1, -(-len(wrong) // cols))
    fig = plt.figure(figsize=(cols * 1.1, (rows_f + rows_w) * 1.2 + 0.8))
    for i, f in enumerate(filters):
        ax = fig.add_subplot(rows_f + rows_w, cols, i + 1)
        ax.imshow(f, cmap="RdBu", vmin=-np.abs(f).max(), vmax=np.abs(f).max())
        ax.set_title(f"filter {i}", fontsize=7)
        ax.axis("off")
    for i, k in enumerate(wrong):
        ax = fig.add_subplot(rows_f + rows_w, cols, rows_f * cols + i + 1)
        ax.imshow(Xte[k, 0], cmap="gray_r")
        ax.set_title(f"{yte[k]} as {pred[k]}", color="r", fontsize=7)
        ax.axis("off")
    fig.suptitle(title + ("" if len(wrong) else "  (no misclassified digits)"))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args) -> int:
    import fastlayers
    from .. import data, optim
    from ..models import CNN
    from .common import PLOT_HINT, accuracy, have_matplotlib, train_classifier

    if args.plot and not have_matplotlib():
        print(f"--plot needs matplotlib, which is not installed: {PLOT_HINT}", file=sys.stderr)
        return 2
    try:
        channels = tuple(int(c) for c in args.channels.split(",") if c.strip())
    except ValueError:
        print(f"--channels: expected comma-separated integers, got {args.channels!r}", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    try:
        X, y = data.load_digits()
    except ImportError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    Xtr, Xte, ytr, yte = data.train_test_split(X.reshape(-1, 1, 8, 8), y, test_size=0.2, seed=args.seed)
    fastlayers.manual_seed(args.seed)
    model = CNN(1, 8, 10, channels=channels, hidden=args.hidden, batch_norm=not args.no_batch_norm)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    sched = optim.CosineAnnealingLR(opt, T_max=args.epochs, eta_min=args.lr * 0.05)
    print(f"digits: {len(Xtr)} train / {len(Xte)} test images of 8x8, 10 classes")
    print(f"model CNN channels {channels}, hidden {args.hidden}, batch norm {not args.no_batch_norm} "
          f"({model.num_parameters():,} parameters), Adam lr {args.lr}, batch {args.batch_size}, "
          f"{args.epochs} epochs, isa {fastlayers.get_isa()}, {fastlayers.get_num_threads()} threads")
    stats = train_classifier(model, opt, Xtr, ytr, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                             scheduler=sched)
    test_acc = accuracy(model, Xte, yte)
    pred = model.predict(Xte)
    print(f"train accuracy {100 * stats['train_acc']:.1f}%  test accuracy {100 * test_acc:.1f}%  "
          f"({stats['samples_per_s']:,.0f} samples/s)")
    print(format_confusion(confusion_matrix(yte, pred, 10)))
    if args.plot:
        _plot(args.plot, model, Xte, yte, pred, f"digits CNN: test accuracy {100 * test_acc:.1f}%")
        print(f"first-layer filters and misclassified digits written to {args.plot}")
    print(f"wall time {time.perf_counter() - t_start:.2f} s")
    return 0
