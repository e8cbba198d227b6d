"""Train an MLP on a playground dataset (circle, xor, gaussian, spiral) or the 8x8 digits,
with a live progress bar; print test accuracy and wall time; optionally draw the decision
boundary (matplotlib, an optional extra)."""
from __future__ import annotations

import sys
import time

import numpy as np

HELP = "train an MLP on a 2-D playground dataset or the 8x8 digits"

# Per-dataset defaults: epochs, hidden widths, learning rate.
_DEFAULTS = {"spiral": (150, "64,64", 0.01), "circle": (40, "16,16", 0.01), "xor": (40, "16,16", 0.01),
             "gaussian": (20, "8,8", 0.01), "digits": (40, "64,64", 0.003)}


def add_arguments(p) -> None:
    from ..data import DATASETS
    from ..models.mlp import ACTIVATIONS
    from .common import add_distributed_argument
    p.add_argument("--dataset", default="spiral", choices=sorted(DATASETS) + ["digits"])
    p.add_argument("--epochs", type=int, help="training epochs (default per dataset: spiral 150, digits 40, ...)")
    p.add_argument("--hidden", help="hidden layer widths, comma-separated (default per dataset, e.g. 64,64)")
    p.add_argument("--activation", default="relu", choices=sorted(ACTIVATIONS))
    p.add_argument("--dropout", type=float, default=0.0, help="dropout after each hidden layer")
    p.add_argument("--lr", type=float, help="Adam learning rate (default per dataset)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--samples", type=int, default=1000, help="playground datasets: number of points")
    p.add_argument("--noise", type=float, default=0.2, help="playground datasets: jitter standard deviation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", metavar="FILE.png", help="write the decision boundary and the points (needs matplotlib)")
    add_distributed_argument(p)


def _load(args):
    from .. import data
    if args.dataset == "digits":
        X, y = data.load_digits()
    else:
        X, y = data.make_dataset(args.dataset, args.samples, args.noise, seed=args.seed)
    return data.train_test_split(X, y, test_size=0.2, seed=args.seed)


def _plot(path, model, Xtr, ytr, Xte, yte, title) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .. import functional as F
    fig, ax = plt.subplots(figsize=(6, 6))
    if Xtr.shape[1] == 2:
        lo, hi = np.minimum(Xtr.min(0), Xte.min(0)) - 0.5, np.maximum(Xtr.max(0), Xte.max(0)) + 0.5
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 300), np.linspace(lo[1], hi[1], 300))
        grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
        model.eval()
        p1 = F.softmax(model(grid))[:, 1].reshape(gx.shape)
        ax.contourf(gx, gy, p1, levels=20, cmap="RdBu", alpha=0.6, vmin=0, vmax=1)
        ax.contour(gx, gy, p1, levels=[0.5], colors="k", linewidths=1)
        ax.scatter(Xtr[:, 0], Xtr[:, 1], c=ytr, cmap="RdBu", edgecolors="k", s=14, vmin=0, vmax=1, label="train")
        ax.scatter(Xte[:, 0], Xte[:, 1], c=yte, cmap="RdBu", edgecolors="w", marker="s", s=18, vmin=0, vmax=1,
                   label="test")
        ax.legend(loc="upper right")
    else:  # digits: a grid of test images with predicted labels
        ax.axis("off")
        model.eval()
        pred = model(Xte[:32]).argmax(axis=1)
        for i in range(min(32, len(Xte))):
            sub = fig.add_subplot(4, 8, i + 1)
            sub.imshow(Xte[i].reshape(8, 8), cmap="gray_r")
            sub.set_title(f"{pred[i]}", color="g" if pred[i] == yte[i] else "r", fontsize=9)
            sub.axis("off")
    fig.suptitle(title)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args) -> int:
    import fastlayers
    from .. import optim
    from ..models import MLP
    from .common import PLOT_HINT, accuracy, have_matplotlib, start_distributed, train_classifier

    if args.plot and not have_matplotlib():
        print(f"--plot needs matplotlib, which is not installed: {PLOT_HINT}", file=sys.stderr)
        return 2
    if not start_distributed(args):
        return 2
    t_start = time.perf_counter()
    epochs, hidden, lr = _DEFAULTS[args.dataset]
    epochs = args.epochs if args.epochs is not None else epochs
    lr = args.lr if args.lr is not None else lr
    try:
        widths = tuple(int(h) for h in (args.hidden or hidden).split(",") if h.strip())
    except ValueError:
        print(f"--hidden: expected comma-separated integers, got {args.hidden!r}", file=sys.stderr)
        return 2
    try:
        Xtr, Xte, ytr, yte = _load(args)
    except ImportError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    fastlayers.manual_seed(args.seed)
    n_classes = int(max(ytr.max(), yte.max())) + 1
    model = MLP(Xtr.shape[1], widths, n_classes, activation=args.activation, dropout=args.dropout)
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.CosineAnnealingLR(opt, T_max=epochs, eta_min=lr * 0.05)
    print(f"dataset {args.dataset}: {len(Xtr)} train / {len(Xte)} test, {Xtr.shape[1]} features, {n_classes} classes")
    print(f"model {args.activation} MLP {Xtr.shape[1]}-{'-'.join(map(str, widths))}-{n_classes} "
          f"({model.num_parameters():,} parameters), Adam lr {lr}, batch {args.batch_size}, {epochs} epochs, "
          f"isa {fastlayers.get_isa()}, {fastlayers.get_num_threads()} threads")
    stats = train_classifier(model, opt, Xtr, ytr, epochs=epochs, batch_size=args.batch_size, seed=args.seed,
                             scheduler=sched, distributed=args.distributed)
    test_acc = accuracy(model, Xte, yte)
    print(f"train accuracy {100 * stats['train_acc']:.1f}%  test accuracy {100 * test_acc:.1f}%  "
          f"({stats['samples_per_s']:,.0f} samples/s)")
    if args.plot:
        _plot(args.plot, model, Xtr, ytr, Xte, yte,
              f"{args.dataset}: test accuracy {100 * test_acc:.1f}% ({args.activation} MLP {widths})")
        print(f"decision boundary written to {args.plot}")
    print(f"wall time {time.perf_counter() - t_start:.2f} s")
    return 0
