"""CycleGAN style transfer (models.CycleGAN) between two unpaired digit domains built from
scikit-learn's 8x8 digits upsampled to 16x16: domain A thin strokes (the minimum over each pixel
and its 4 neighbours), domain B bold ones (the 3x3 maximum). The digits are split in two halves
with no image in both: A's come from one half, B's from the other, so no pair exists.

A digit classifier (models.CNN) trained on domain B alone judges the translations: the share of
held-out A digits whose translation G_AB(a) it labels with the digit a shows
(`label_preserved`), beside its accuracy on untranslated A digits (how far the domains differ for
it); `cycle_error` is the mean |G_BA(G_AB(a)) - a| over held-out A pixels in [0, 1]. The last line
reads `result label_preserved X cycle_error Y`."""
from __future__ import annotations

import sys
import time

import numpy as np

HELP = "CycleGAN: thin <-> bold digits without pairs; label preserved by translation, cycle error"

DEFAULTS = dict(steps=1200, batch_size=16, lr=2e-3, width=16, depth=3, identity=5.0)
QUICK = dict(steps=200, batch_size=16, lr=2e-3, width=8, depth=3)


def _upsample(images: np.ndarray) -> np.ndarray:
    """(N, 8, 8) -> (N, 16, 16) by bilinear interpolation at pixel centres (edges clamped)."""
    n = images.shape[-1]
    pos = (np.arange(2 * n) + 0.5) / 2 - 0.5
    lo = np.clip(np.floor(pos).astype(int), 0, n - 1)
    hi = np.clip(lo + 1, 0, n - 1)
    w = np.clip(pos - lo, 0, 1).astype(np.float32)
    rows = images[:, lo, :] * (1 - w)[None, :, None] + images[:, hi, :] * w[None, :, None]
    return rows[:, :, lo] * (1 - w) + rows[:, :, hi] * w


def _filter(images: np.ndarray, offsets, reduce) -> np.ndarray:
    """reduce (np.max or np.min) over the 3x3 neighbours at `offsets` of (N, H, W) images (zero outside)."""
    p = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    H, W = images.shape[1:]
    return reduce([p[:, i:i + H, j:j + W] for i, j in offsets], axis=0)


def _bold(images: np.ndarray) -> np.ndarray:
    """Strokes thickened: the 3x3 maximum filter."""
    return _filter(images, [(i, j) for i in range(3) for j in range(3)], np.max)


def _thin(images: np.ndarray) -> np.ndarray:
    """Strokes thinned: the minimum over the pixel and its 4 neighbours."""
    return _filter(images, [(0, 1), (1, 0), (1, 1), (1, 2), (2, 1)], np.min)


def make_domains(seed: int) -> dict:
    """Unpaired domains A (thin) and B (bold), 16x16 in [0, 1] with labels; A split into train / test."""
    from .. import data
    X, y = data.load_digits()
    order = np.random.default_rng(seed).permutation(len(y))
    half = len(y) // 2
    ia, ib = order[:half], order[half:]
    A = _thin(_upsample(X[ia].reshape(-1, 8, 8)))[:, None]
    B = _bold(_upsample(X[ib].reshape(-1, 8, 8)))[:, None]
    n_test = len(ia) // 4
    return {"A_train": A[n_test:], "A_test": A[:n_test], "ya_test": y[ia][:n_test], "ya_train": y[ia][n_test:],
            "B": B, "yb": y[ib]}


def train_b_classifier(B, yb, seed: int, progress: bool = True):
    """models.CNN on domain B alone (16x16 inputs), 12 epochs; returns the model."""
    from .. import optim
    from ..models import CNN
    from .common import train_classifier
    model = CNN(1, 10, 16, channels=(16, 32), kernel_size=3, padding="same", batch_norm=True, hidden=(64,))
    opt = optim.Adam(model.parameters(), lr=3e-3)
    train_classifier(model, opt, B, yb, epochs=12, batch_size=32, seed=seed, progress=progress)
    return model


def train_cyclegan(*, seed: int = 0, progress: bool = True, **overrides) -> dict:
    """Trains models.CycleGAN on make_domains(seed) and the domain-B judge; returns the model, the
    held-out A digits, their translations and cycles, label_preserved, cycle_error, the judge's
    accuracy on untranslated A, the loss curve and the time (keyword overrides: DEFAULTS)."""
    import fastlayers
    from .. import optim
    from ..models import CycleGAN
    from ._steps import merge_config, run_steps

    cfg = merge_config("train_cyclegan", DEFAULTS, overrides, ("steps", "batch_size", "width", "depth"))
    dom = make_domains(seed)
    fastlayers.manual_seed(seed)
    judge = train_b_classifier(dom["B"], dom["yb"], seed, progress)
    gan = CycleGAN(1, cfg["width"], cfg["depth"], disc_width=cfg["width"], lambda_identity=cfg["identity"])
    opt_g = optim.Adam(gan.generators(), lr=cfg["lr"], betas=(0.5, 0.999))
    opt_d = optim.Adam(gan.discriminators(), lr=cfg["lr"], betas=(0.5, 0.999))
    rng = np.random.default_rng(seed)
    A, B = dom["A_train"] * 2 - 1, dom["B"] * 2 - 1

    def step(_):
        ia, ib = rng.integers(0, len(A), cfg["batch_size"]), rng.integers(0, len(B), cfg["batch_size"])
        return gan.training_step(A[ia], B[ib], opt_g, opt_d)

    curve, seconds = run_steps(cfg["steps"], step, progress=progress, every=20, shown=("cycle", "adv", "disc"))
    a = dom["A_test"]
    fake_b = (gan.translate(a * 2 - 1, "ab") + 1) / 2
    cycled = (gan.translate(fake_b * 2 - 1, "ba") + 1) / 2
    y = dom["ya_test"]
    return {"model": gan, "judge": judge, "config": cfg, "A_test": a, "y_test": y, "fake_b": fake_b, "cycled": cycled,
            "B": dom["B"], "label_preserved": float((judge.predict(fake_b) == y).mean()),
            "judge_on_a": float((judge.predict(a) == y).mean()),
            "cycle_error": float(np.abs(cycled - a).mean()), "curve": curve, "seconds": seconds}


def _plot(path: str, res: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a, fb, cyc, B, y = res["A_test"], res["fake_b"], res["cycled"], res["B"], res["y_test"]
    pred = res["judge"].predict(fb)
    cols = [int(np.flatnonzero(y == k)[0]) for k in range(10)]
    fig, axes = plt.subplots(4, 10, figsize=(10, 4.8))
    for j, i in enumerate(cols):
        for r, (img, title) in enumerate(((a[i], f"A: {y[i]}"), (fb[i], f"-> B: {pred[i]}"), (cyc[i], "-> A"),
                                          (B[j], "real B"))):
            ax = axes[r, j]
            ax.imshow(img[0], cmap="gray_r", vmin=0, vmax=1)
            ax.set_title(title, fontsize=8, color="r" if r == 1 and pred[i] != y[i] else "k")
            ax.axis("off")
    fig.suptitle(f"CycleGAN thin -> bold digits, unpaired: label preserved {100 * res['label_preserved']:.1f}%, "
                 f"cycle error {res['cycle_error']:.3f}  (rows: held-out A, G_AB(A), G_BA(G_AB(A)), real B)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def add_arguments(p) -> None:
    from ._steps import add_step_arguments
    add_step_arguments(p, DEFAULTS, QUICK, "narrower networks, fewer steps",
                       "held-out digits, their translations and cycles")


def run(args) -> int:
    import fastlayers
    from ._steps import step_config
    from .common import plot_unavailable

    if plot_unavailable(args.plot):
        return 2
    t_start = time.perf_counter()
    cfg = step_config(args, QUICK)
    full = {**DEFAULTS, **cfg}
    print(f"domains: thin (A) and bold (B) 16x16 digits from disjoint halves of the 8x8 digits; generators width "
          f"{full['width']}, depth {full['depth']}; Adam lr {full['lr']}, batch {full['batch_size']}, {full['steps']} "
          f"steps, isa {fastlayers.get_isa()}, {fastlayers.get_num_threads()} threads")
    try:
        res = train_cyclegan(seed=args.seed, **cfg)
    except (ImportError, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"{res['model'].num_parameters():,} parameters, {res['seconds']:.1f} s training")
    print(f"domain-B classifier on held-out A digits: translated {100 * res['label_preserved']:.1f}% right, "
          f"untranslated {100 * res['judge_on_a']:.1f}%")
    print(f"cycle error |G_BA(G_AB(a)) - a|: {res['cycle_error']:.4f} per pixel (in [0, 1])")
    if args.plot:
        _plot(args.plot, res)
        print(f"translations written to {args.plot}")
    print(f"wall time {time.perf_counter() - t_start:.2f} s")
    print(f"result label_preserved {res['label_preserved']:.4f} cycle_error {res['cycle_error']:.4f}")
    return 0
