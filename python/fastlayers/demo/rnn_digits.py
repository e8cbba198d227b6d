"""Many-to-one: an LSTM reads each 8x8 digit row by row (8 timesteps of 8 pixels) and a linear
layer classifies its final hidden state. Live progress bar; prints test accuracy, a confusion
matrix and wall time; optionally draws how the hidden state evolves while a digit is read and
the misclassified test digits (matplotlib)."""
from __future__ import annotations

import sys
import time

import numpy as np

from .. import nn

HELP = "many-to-one: an LSTM reads the 8x8 digits row by row and classifies them"

DEFAULTS = dict(epochs=25, hidden=64, num_layers=1, lr=1e-2, batch_size=32)


class RowLSTMClassifier(nn.Module):
    """Images (N, rows * cols) or (N, rows, cols) read as `rows` timesteps of `cols` features by
    an LSTM; logits = Linear(h_n of the last layer)."""

    _skips_input_grad = True

    def __init__(self, rows: int, cols: int, hidden: int, classes: int, num_layers: int = 1):
        super().__init__()
        self.rows, self.cols = rows, cols
        self.lstm = nn.LSTM(cols, hidden, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden, classes)
        self._h_shape = None

    def forward(self, x):
        x = np.asarray(x, np.float32).reshape(-1, self.rows, self.cols)
        _, (h, _) = self.lstm(x)
        self._h_shape = h.shape
        return self.head(h[-1])

    def backward(self, grad_out, need_input_grad: bool = True):
        dh_last = self.head.backward(grad_out)
        dh = np.zeros(self._h_shape, np.float32)
        dh[-1] = dh_last
        dx, _ = self.lstm.backward(None, (dh, None))
        return dx.reshape(len(dx), -1) if need_input_grad else None

    def predict(self, x, batch_size: int = 4096) -> np.ndarray:
        was = self.training
        self.eval()
        try:
            return np.concatenate([self(x[i:i + batch_size]).argmax(axis=-1) for i in range(0, len(x), batch_size)])
        finally:
            self.train(was)


def add_arguments(p) -> None:
    d = DEFAULTS
    p.add_argument("--epochs", type=int, default=d["epochs"], help="training epochs (default %(default)s)")
    p.add_argument("--hidden", type=int, default=d["hidden"], help="LSTM hidden size (default %(default)s)")
    p.add_argument("--num-layers", type=int, default=d["num_layers"], help="stacked LSTM layers (default 1)")
    p.add_argument("--lr", type=float, default=d["lr"], help="Adam learning rate, cosine-annealed")
    p.add_argument("--batch-size", type=int, default=d["batch_size"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", metavar="FILE.png", help="write hidden states while reading and the misclassified "
                                                     "test digits (needs matplotlib)")


def train_rnn_digits(*, seed: int = 0, progress: bool = True, **overrides) -> dict:
    """Trains RowLSTMClassifier on an 80/20 split of the digits; returns the model, the test
    split, predictions, test_acc and the training stats (keyword overrides: keys of DEFAULTS)."""
    import fastlayers
    from .. import data, optim
    from .common import train_classifier

    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"train_rnn_digits: unknown settings {sorted(unknown)}, expected some of {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **overrides}
    for key in ("epochs", "hidden", "num_layers", "batch_size"):
        if cfg[key] < 1:
            raise ValueError(f"--{key.replace('_', '-')}: expected a positive integer, got {cfg[key]}")
    fastlayers.manual_seed(seed)
    model = RowLSTMClassifier(8, 8, cfg["hidden"], 10, cfg["num_layers"])
    X, y = data.load_digits()
    Xtr, Xte, ytr, yte = data.train_test_split(X, y, test_size=0.2, seed=seed)
    opt = optim.Adam(model.parameters(), lr=cfg["lr"])
    sched = optim.CosineAnnealingLR(opt, T_max=cfg["epochs"], eta_min=cfg["lr"] * 0.05)
    stats = train_classifier(model, opt, Xtr, ytr, epochs=cfg["epochs"], batch_size=cfg["batch_size"], seed=seed,
                             scheduler=sched, progress=progress)
    pred = model.predict(Xte)
    return {"model": model, "config": cfg, "X_test": Xte, "y_test": yte, "pred": pred,
            "test_acc": float((pred == yte).mean()), "n_train": len(Xtr), **stats}


def _plot(path: str, res: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model, X, y, pred = res["model"], res["X_test"], res["y_test"], res["pred"]
    model.eval()
    shown = [int(np.flatnonzero(y == k)[0]) for k in range(4)]
    wrong = np.flatnonzero(pred != y)[:8]
    fig, axes = plt.subplots(3, 8, figsize=(11, 5), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for j, i in enumerate(shown):  # a digit and the first 32 hidden units after each row
        out, _ = model.lstm(X[i].reshape(1, 8, 8))
        axes[0, 2 * j].imshow(X[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        axes[0, 2 * j].set_title(f"digit {y[i]}", fontsize=9)
        axes[0, 2 * j + 1].imshow(out[0, :, :32].T, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
        axes[0, 2 * j + 1].set_title("h after rows 1-8", fontsize=9)
    for j, i in enumerate(wrong):
        ax = axes[1 + j // axes.shape[1], j % axes.shape[1]]
        ax.imshow(X[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"{y[i]} -> {pred[i]}", fontsize=9, color="r")
    fig.suptitle(f"LSTM reading 8x8 digits row by row; misclassified: {int((pred != y).sum())} of {len(y)}")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args) -> int:
    import fastlayers
    from .cnn import report_digits
    from .common import plot_unavailable

    if plot_unavailable(args.plot):
        return 2
    t_start = time.perf_counter()
    cfg = dict(epochs=args.epochs, hidden=args.hidden, num_layers=args.num_layers, lr=args.lr,
               batch_size=args.batch_size)
    print(f"dataset digits: 8x8 images read as 8 timesteps of 8 pixels, 10 classes; LSTM hidden {cfg['hidden']}, "
          f"{cfg['num_layers']} layer(s); Adam lr {cfg['lr']}, batch {cfg['batch_size']}, {cfg['epochs']} epochs, "
          f"isa {fastlayers.get_isa()}, {fastlayers.get_num_threads()} threads")
    try:
        res = train_rnn_digits(seed=args.seed, **cfg)
    except (ImportError, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    report_digits(res, args.plot, _plot, "hidden states and misclassified digits", t_start)
    return 0
