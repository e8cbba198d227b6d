"""Pieces every demo shares: a terminal progress bar (tqdm when installed), a classifier
training loop, accuracy, the options and the closing ``result`` line of the application
demos, and the optional-dependency check for plotting."""
from __future__ import annotations

import sys
import time

import numpy as np

from .. import nn
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


class ProgressBar:
    """One line per epoch (or per ``unit``): redrawn in place on a terminal, printed every ~10%
    of the total otherwise."""

    def __init__(self, total: int, stream=None, width: int = 24, unit: str = "epoch"):
        self.total, self.width, self.unit = max(int(total), 1), width, unit
        self.stream = stream or sys.stdout
        self.live = getattr(self.stream, "isatty", lambda: False)()
        self._every = max(1, self.total // 10)

    def update(self, done: int, **fields) -> None:
        filled = int(self.width * done / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        info = "  ".join(f"{k} {v}" for k, v in fields.items())
        line = f"{self.unit} {done:>{len(str(self.total))}}/{self.total} [{bar}] {info}"
        if self.live:
            self.stream.write("\r" + line + "\033[K")
            if done == self.total:
                self.stream.write("\n")
            self.stream.flush()
        elif done % self._every == 0 or done == self.total:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        """Nothing to release; the same interface as the tqdm bar."""


class _TqdmBar:
    """ProgressBar's interface over tqdm: update(done, **fields) sets the position and the postfix."""

    def __init__(self, tqdm, total: int, stream, unit: str):
        self._bar = tqdm(total=total, file=stream, unit=unit, dynamic_ncols=True, leave=True)

    def update(self, done: int, **fields) -> None:
        self._bar.set_postfix(fields, refresh=False)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        self._bar.close()


def progress(total: int, unit: str = "epoch", enabled: bool = True, stream=None):
    """The training progress bar of the application demos, on stderr: tqdm when it is
    installed, else ProgressBar; None when not enabled. Call update(done, **fields), then close()."""
    if not enabled:
        return None
    stream = stream or sys.stderr
    try:
        from tqdm import tqdm
    except ImportError:
        return ProgressBar(total, stream=stream, unit=unit)
    return _TqdmBar(tqdm, total, stream, unit)


def add_demo_arguments(p, plot_help: str) -> None:
    """--seed, --quick and --plot, the options every application demo takes."""
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a short run (under 30 s; what the tests use)")
    p.add_argument("--plot", metavar="FILE.png", help=f"{plot_help} (needs matplotlib)")


def resolve(args, defaults: dict, quick: dict, *names: str) -> dict:
    """Each named setting: its flag when given, else the --quick value (when --quick and quick
    has one), else the default; then every one must be a positive integer (ValueError naming
    the flag)."""
    out = {}
    for name in names:
        v = getattr(args, name)
        if v is None:
            v = quick.get(name, defaults[name]) if args.quick else defaults[name]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"--{name.replace('_', '-')}: expected a positive integer, got {v}")
        out[name] = v
    return out


def save_figure(fig, path: str) -> None:
    import matplotlib.pyplot as plt
    fig.savefig(path, dpi=80)
    plt.close(fig)


def format_result(**metrics) -> str:
    """The closing stdout line scripts read: 'result <metric> <value> [<metric> <value> ...]'."""
    cells = []
    for k, v in metrics.items():
        cells += [k, f"{v:.4f}" if isinstance(v, float) else str(v)]
    return "result " + " ".join(cells)


class Clock:
    """Wall and process-CPU seconds since creation (the CPU figure shows how much of a wall time
    on a shared machine was this run's own work)."""

    def __init__(self):
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()

    def summary(self) -> str:
        wall, cpu = time.perf_counter() - self.wall0, time.process_time() - self.cpu0
        return f"wall time {wall:.2f} s (process cpu {cpu:.2f} s)"


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
    """Trains with cross-entropy; returns {'loss', 'train_acc', 'seconds', 'samples_per_s'}.
    progress: True (a ProgressBar on stdout), False, or a bar made by progress()."""
    crit = nn.CrossEntropyLoss()
    bar = progress if hasattr(progress, "update") else (ProgressBar(epochs) if progress else None)
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
            bar.update(epoch, loss=f"{loss_avg:.4f}", acc=f"{100 * acc:5.1f}%", samples_s=f"{rate:,.0f}")
    if bar:
        bar.close()
    dt = time.perf_counter() - t0
    return {"loss": loss_avg, "train_acc": acc, "seconds": dt, "samples_per_s": seen / dt if dt else 0.0}
