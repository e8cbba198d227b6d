"""Explain a digits CNN's decisions with saliency maps and Grad-CAM, and test them by deletion:
set the 20% most salient pixels of each test digit to 0 (the background) and compare the
accuracy drop with deleting 20% of the pixels at random; optionally overlay the maps on the
digits (matplotlib).

Saliency: |d score / d input| per pixel, score = the logit of the predicted class, from the
modules' explicit backward fed a one-hot gradient. Grad-CAM (Selvaraju et al. 2017): the
children's backward called in reverse from the logits down to the output of the last conv
stage's activation (the feature maps A, before pooling); channel weights alpha_k = the mean of
d score / d A_k, map = ReLU(sum_k alpha_k A_k), bilinearly upsampled to 8x8.

The CNN is demo cnn's (fastlayers.models.CNN on the 8x8 digits) without BatchNorm: a module
caches what backward needs only in training mode, where BatchNorm would use the batch's
statistics; without it (and without dropout) training mode computes what eval mode does.
"""
from __future__ import annotations

import numpy as np

HELP = "saliency and Grad-CAM on a digits CNN; deleting the most salient pixels vs random ones"

DEFAULTS = dict(epochs=20, fraction=0.2, random_repeats=5)
QUICK = dict(epochs=6)


def add_arguments(p) -> None:
    from .common import add_demo_arguments
    p.add_argument("--epochs", type=int, help=f"CNN training epochs (default {DEFAULTS['epochs']}, "
                                              f"--quick {QUICK['epochs']})")
    p.add_argument("--fraction", type=float, default=DEFAULTS["fraction"],
                   help="fraction of each digit's pixels deleted (default %(default)s)")
    add_demo_arguments(p, "overlay the saliency and Grad-CAM maps on test digits")


def _one_hot(cls, n: int) -> np.ndarray:
    g = np.zeros((len(cls), n), np.float32)
    g[np.arange(len(cls)), cls] = 1.0
    return g


def saliency(model, X, cls=None):
    """(|d score / d X| (N, H, W), the class explained (N,)); score = the logit of cls, by default
    the predicted class. The model runs in training mode (it must behave as in eval there)."""
    model.train()
    logits = model(X)
    cls = logits.argmax(axis=1) if cls is None else np.asarray(cls)
    dx = model.backward(_one_hot(cls, logits.shape[1]))
    model.zero_grad()
    return np.abs(dx).max(axis=1), cls


def last_conv_activation(model) -> int:
    """Index, in the Sequential, of the activation right after the last Conv2d (or of that
    Conv2d when no activation follows)."""
    from ..nn import Conv2d
    mods = list(model)
    i = max(k for k, m in enumerate(mods) if isinstance(m, Conv2d))
    while i + 1 < len(mods) and type(mods[i + 1]).__name__ in ("ReLU", "LeakyReLU", "ELU", "GELU", "Tanh",
                                                                 "Sigmoid", "BatchNorm2d"):
        i += 1
    return i


def bilinear_resize(maps, size) -> np.ndarray:
    """(N, h, w) -> (N, H, W), align_corners=False (pixel centres), edges clamped."""
    n, h, w = maps.shape
    H, W = size

    def weights(src, dst):
        pos = np.clip((np.arange(dst) + 0.5) * src / dst - 0.5, 0, src - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, src - 1)
        m = np.zeros((dst, src))
        np.add.at(m, (np.arange(dst), lo), 1 - (pos - lo))
        np.add.at(m, (np.arange(dst), hi), pos - lo)
        return m

    return np.einsum("yh,nhw,xw->nyx", weights(h, H), maps, weights(w, W)).astype(np.float32)


def grad_cam(model, X, cls=None):
    """(Grad-CAM maps (N, H, W) of the input's size, the class explained (N,))."""
    mods = list(model)
    a_idx = last_conv_activation(model)
    model.train()
    h = X
    for i, m in enumerate(mods):
        h = m(h)
        if i == a_idx:
            feats = h
    cls = h.argmax(axis=1) if cls is None else np.asarray(cls)
    g = _one_hot(cls, h.shape[1])
    for m in reversed(mods[a_idx + 1:]):
        g = m.backward(g)
    model.zero_grad()
    alpha = g.mean(axis=(2, 3))
    cam = np.maximum(np.einsum("nk,nkhw->nhw", alpha, feats), 0.0)
    return bilinear_resize(cam, X.shape[2:]), cls


def delete_top(X, maps, fraction: float) -> np.ndarray:
    """X with the fraction of each image's pixels that rank highest in maps set to 0."""
    n = X.shape[0]
    k = int(round(fraction * maps[0].size))
    flat = X.reshape(n, X.shape[1], -1).copy()
    top = np.argsort(-maps.reshape(n, -1), axis=1, kind="stable")[:, :k]
    flat[np.arange(n)[:, None], :, top] = 0.0
    return flat.reshape(X.shape)


def deletion_test(model, X, y, maps: dict, fraction: float, repeats: int, seed: int) -> dict:
    """Accuracy drops (points of accuracy in [0, 1]) after deleting by each map, and at random
    (the mean over `repeats` draws)."""
    base = float((model.predict(X) == y).mean())
    out = {"accuracy": base}
    for name, m in maps.items():
        out[name] = base - float((model.predict(delete_top(X, m, fraction)) == y).mean())
    rng = np.random.default_rng(seed)
    drops = [base - float((model.predict(delete_top(X, rng.random(X.shape[:1] + X.shape[2:]), fraction)) == y)
                          .mean()) for _ in range(repeats)]
    out["random"] = float(np.mean(drops))
    return out


def _plot(path: str, X, y, sal, cam, cls, drops: dict, fraction: float, n: int = 10) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .common import save_figure
    fig, axes = plt.subplots(4, n, figsize=(n * 0.95, 4 * 1.0 + 0.9))
    deleted = delete_top(X[:n], sal[:n], fraction)
    for k in range(n):
        img = X[k, 0]
        axes[0, k].imshow(img, cmap="gray_r", vmin=0, vmax=1)
        axes[0, k].set_title(f"{y[k]} -> {cls[k]}", fontsize=8, color="k" if y[k] == cls[k] else "r")
        for r, m in ((1, sal[k]), (2, cam[k])):
            axes[r, k].imshow(img, cmap="gray", vmin=0, vmax=1)
            axes[r, k].imshow(m / (m.max() or 1.0), cmap="jet", alpha=0.55, vmin=0, vmax=1,
                              interpolation="bilinear" if r == 2 else "nearest")
        axes[3, k].imshow(deleted[k, 0], cmap="gray_r", vmin=0, vmax=1)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    for r, name in enumerate(("digit\n(true -> pred)", "saliency", "Grad-CAM", f"top {fraction:.0%}\nsalient\ndeleted")):
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.suptitle(f"deleting {fraction:.0%} of the pixels: accuracy {100 * drops['accuracy']:.1f}% drops by "
                 f"{100 * drops['saliency']:.1f} points (most salient), {100 * drops['grad_cam']:.1f} (Grad-CAM), "
                 f"{100 * drops['random']:.1f} (random)", fontsize=9)
    save_figure(fig, path)


def run(args) -> int:
    import fastlayers
    from .cnn import train_digits
    from .common import resolve, run_demo

    def setup():
        epochs = resolve(args, DEFAULTS, QUICK, "epochs")["epochs"]
        if not 0.0 < args.fraction < 1.0:
            raise ValueError(f"--fraction: expected a fraction in (0, 1), got {args.fraction}")
        print(f"digits CNN without batch norm, {epochs} epochs, isa {fastlayers.get_isa()}, "
              f"{fastlayers.get_num_threads()} threads")
        return train_digits(seed=args.seed, epochs=epochs, batch_norm=False, progress=True)

    def finish(res):
        model, X, y = res["model"], res["X_test"], res["y_test"]
        sal, cls = saliency(model, X)
        cam, _ = grad_cam(model, X)
        drops = deletion_test(model, X, y, {"saliency": sal, "grad_cam": cam}, args.fraction,
                              DEFAULTS["random_repeats"], args.seed)
        model.eval()
        k = int(round(args.fraction * X[0, 0].size))
        print(f"test accuracy {100 * drops['accuracy']:.1f}% on {len(y)} digits; deleting {k} of {X[0, 0].size} "
              f"pixels per digit drops it by {100 * drops['saliency']:.1f} points (most salient), "
              f"{100 * drops['grad_cam']:.1f} (Grad-CAM), {100 * drops['random']:.1f} (random, mean of "
              f"{DEFAULTS['random_repeats']})")
        if args.plot:
            _plot(args.plot, X, y, sal, cam, cls, drops, args.fraction)
            print(f"saliency and Grad-CAM overlays written to {args.plot}")
        return {"drop_salient": drops["saliency"], "drop_random": drops["random"]}

    return run_demo(args, setup, finish)
