"""Pieces every demo shares: a classifier training loop with a progress bar on stderr
(fastlayers._progress: tqdm when installed), accuracy, and the optional-dependency check for
plotting."""
from __future__ import annotations

import sys
import time

import numpy as np

from .. import nn
from .._progress import progress as progress_bar
from ..data import batches

PLOT_HINT = "pip install matplotlib   (or: pip install 'fastlayers[demo]')"


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_unavailable(path) -> bool:
    """True (after printing the install hint to stderr) when a plot was asked for without matplotlib."""
    if path and not have_matplotlib():
        print(f"--plot needs matplotlib, which is not installed: {PLOT_HINT}", file=sys.stderr)
        return True
    return False


def accuracy(model, X, y, batch_size: int = 4096) -> float:
    """Fraction of argmax(model(X)) == y, in eval mode (the previous mode is restored)."""
    was = model.training
    model.eval()
    try:
        hits = sum(int((model(X[i:i + batch_size]).argmax(axis=-1) == y[i:i + batch_size]).sum())
                   for i in range(0, len(X), batch_size))
    finally:
        model.train(was)
    return hits / max(len(X), 1)


def train_classifier(model, opt, X, y, *, epochs: int, batch_size: int, seed: int, scheduler=None,
                     progress: bool = True) -> dict:
    """Trains with cross-entropy; returns {'loss', 'train_acc', 'seconds', 'samples_per_s'}."""
    crit = nn.CrossEntropyLoss()
    bar = progress_bar(epochs, "epoch", "epoch") if progress else None
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    seen, loss_avg, acc = 0, float("nan"), 0.0
    model.train()
    for epoch in range(1, epochs + 1):
        tot_loss, hits, n = 0.0, 0, 0
        for xb, yb in batches(X, y, batch_size, shuffle=True, seed=int(rng.integers(2**63 - 1))):
            opt.zero_grad()
            out = model(xb)
            loss = crit(out, yb)
            model.backward(crit.backward(), need_input_grad=False)
            opt.step()
            tot_loss += loss * len(yb)
            hits += int((out.argmax(axis=1) == yb).sum())
            n += len(yb)
        if scheduler is not None:
            scheduler.step()
        seen += n
        loss_avg, acc = tot_loss / n, hits / n
        if bar:
            rate = seen / (time.perf_counter() - t0)
            bar.update(1, loss=f"{loss_avg:.4f}", acc=f"{100 * acc:5.1f}%", samples_s=f"{rate:,.0f}")
    if bar:
        bar.close()
    dt = time.perf_counter() - t0
    return {"loss": loss_avg, "train_acc": acc, "seconds": dt, "samples_per_s": seen / dt if dt else 0.0}
