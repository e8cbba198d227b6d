"""Pieces every demo shares: a classifier training loop with a progress bar on stderr
(fastlayers._progress: tqdm when installed), accuracy, and the optional-dependency check for
plotting."""
from __future__ import annotations

import os
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


def add_distributed_argument(p) -> None:
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI: run under `mpirun -n N`; --batch-size is the global batch")


def start_distributed(args) -> bool:
    """With --distributed: initialises MPI and silences stdout on every rank but 0. False (after
    printing the install hint) when mpi4py or an MPI library is missing."""
    if not getattr(args, "distributed", False):
        return True
    from .. import distributed as dist
    try:
        dist.init()
    except ImportError as exc:
        print(str(exc), file=sys.stderr)
        return False
    if dist.rank() != 0:  # rank 0 reports and plots for all
        sys.stdout = open(os.devnull, "w")
        args.plot = None
    return True


class ProgressBar:
    """A bar over `total` rounds whose update(done, **fields) takes the rounds done so far (the
    demos that report every few steps); drawn by fastlayers._progress on stderr, closed at total."""

    def __init__(self, total: int, stream=None, unit: str = "round"):
        self._bar, self._done, self._total = progress_bar(total, unit, unit, stream=stream), 0, total

    def update(self, done: int, **fields) -> None:
        self._bar.update(done - self._done, **fields)
        self._done = done
        if done >= self._total:
            self._bar.close()


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
                     progress: bool = True, distributed: bool = False) -> dict:
    """Trains with cross-entropy; returns {'loss', 'train_acc', 'seconds', 'samples_per_s'}.

    distributed=True (under mpirun): data-parallel over MPI; batch_size is the global batch,
    split over the ranks (it must be a multiple of the world size), so that the run follows
    the single-process one; the loss, accuracy and rate are over all ranks."""
    crit = nn.CrossEntropyLoss()
    net, world, me, sync = model, 1, 0, None
    if distributed:
        from .. import distributed as dist
        dist.init()
        world, me = dist.world_size(), dist.rank()
        if batch_size % world:
            raise ValueError(f"batch_size: expected a multiple of the world size {world}, got {batch_size}")
        net, sync = dist.DistributedDataParallel(model), dist.allreduce
    bar = progress_bar(epochs, "epoch", "epoch") if progress and me == 0 else None
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    seen, loss_avg, acc = 0, float("nan"), 0.0
    model.train()
    for epoch in range(1, epochs + 1):
        tot_loss, hits, n = 0.0, 0, 0
        for xb, yb in batches(X, y, batch_size // world, shuffle=True, seed=int(rng.integers(2**63 - 1)),
                              num_replicas=world, rank=me):
            opt.zero_grad()
            if len(yb) == 0:  # this rank's share of a short last batch: it still joins the sums
                net.reduce_gradients(weight=0.0)
                opt.step()
                continue
            out = net(xb)
            loss = crit(out, yb)
            if sync is None:
                model.backward(crit.backward(), need_input_grad=False)
            else:
                net.backward(crit.backward(), need_input_grad=False, weight=len(yb))
            opt.step()
            tot_loss += loss * len(yb)
            hits += int((out.argmax(axis=1) == yb).sum())
            n += len(yb)
        if sync is not None:
            tot_loss, hits, n = sync(np.array([tot_loss, hits, n], np.float64), what="epoch statistics")
        if scheduler is not None:
            scheduler.step()
        seen += n
        loss_avg, acc = tot_loss / n, hits / n
        if bar:
            rate = seen / (time.perf_counter() - t0)
            bar.update(1, loss=f"{loss_avg:.4f}", acc=f"{100 * acc:5.1f}%", samples_s=f"{rate:,.0f}")
    if bar:
        bar.close()
    if sync is not None:
        net.detach()
    dt = time.perf_counter() - t0
    return {"loss": loss_avg, "train_acc": acc, "seconds": dt, "samples_per_s": seen / dt if dt else 0.0}
