"""Train a DCGAN (fastlayers.models.Generator / Discriminator) on scikit-learn's 8x8 digits and
judge its samples with a digits CNN trained here: of 1000 samples, the fraction the CNN
classifies with probability >= 0.9 and how many of the 10 classes those cover. Optionally
draw a sample grid, a latent interpolation and a latent-arithmetic row (matplotlib).

One training step, in the explicit backward style: D.zero_grad(); D sees a real batch (target
0.9, one-sided label smoothing) and a fake batch G(z) (target 0), each forward followed by its
backward; D steps. Then G.zero_grad(); D scores the same fake batch again with its new
weights, the loss targets 1 (the non-saturating generator loss), D.backward returns dL/dfake
and G.backward takes it; G steps. The discriminator gradients that this second backward
accumulates are never applied: D.zero_grad() clears them before D's next step.
"""
from __future__ import annotations

import numpy as np

HELP = "train a DCGAN on the 8x8 digits; samples judged by a digits CNN, latent interpolation and arithmetic"

# Defaults: 5000 steps of 64, Adam 6e-4 (betas 0.5, 0.999), linear decay over the second half.
DEFAULTS = dict(steps=5000, batch_size=64, nz=32, ngf=32, ndf=32, extra_layers=1, lr=6e-4, classifier_epochs=15)
QUICK = dict(steps=300, classifier_epochs=5)
CONFIDENCE = 0.9


def add_arguments(p) -> None:
    from .common import add_demo_arguments
    d = DEFAULTS
    p.add_argument("--steps", type=int, help=f"training steps (default {d['steps']}, --quick {QUICK['steps']})")
    p.add_argument("--batch-size", type=int, default=d["batch_size"])
    p.add_argument("--lr", type=float, default=d["lr"], help="Adam learning rate of both models (default %(default)s)")
    p.add_argument("--nz", type=int, default=d["nz"], help="latent size (default %(default)s)")
    p.add_argument("--samples", type=int, default=1000, help="samples the CNN judges (default %(default)s)")
    p.add_argument("--arithmetic", default="0,7", metavar="A,C",
                   help="digits of the arithmetic row: thick A - thin A + thin C (default %(default)s)")
    add_demo_arguments(p, "write a sample grid, a latent interpolation and the arithmetic row")


def _digits_pm1():
    from .. import data
    X, y = data.load_digits()
    return (X.reshape(-1, 1, 8, 8) * 2.0 - 1.0).astype(np.float32), y


def train_gan(*, seed: int = 0, steps: int = DEFAULTS["steps"], batch_size: int = DEFAULTS["batch_size"],
              lr: float = DEFAULTS["lr"], nz: int = DEFAULTS["nz"], progress: bool = True) -> dict:
    """Trains a DCGAN on all 1797 digits scaled to [-1, 1]; returns {'generator', 'discriminator',
    'd_loss', 'g_loss', 'steps'} (the losses averaged over the last 10% of steps)."""
    import fastlayers
    from .. import nn, optim
    from ..models import Discriminator, Generator
    from ..models.gan import init_weights
    from .common import ProgressBar

    d = DEFAULTS
    fastlayers.manual_seed(seed)
    G = init_weights(Generator(nz, d["ngf"], 1, 8, d["extra_layers"]))
    D = init_weights(Discriminator(d["ndf"], 1, 8, d["extra_layers"]))
    X, _ = _digits_pm1()
    opt_g = optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(seed)
    real_t = np.full((batch_size, 1), 0.9, np.float32)
    fake_t, gen_t = np.zeros((batch_size, 1), np.float32), np.ones((batch_size, 1), np.float32)
    bar = ProgressBar(steps, unit="step") if progress else None
    tail, d_hist, g_hist = max(1, steps // 10), [], []
    for step in range(1, steps + 1):
        scale = min(1.0, 2.0 * (1.0 - (step - 1) / steps))  # constant, then linear decay to 0
        for opt in (opt_g, opt_d):
            opt.param_groups[0]["lr"] = lr * scale
        real = X[rng.integers(0, len(X), batch_size)]
        fake = G(rng.standard_normal((batch_size, nz)).astype(np.float32))
        D.zero_grad()
        loss_d = bce(D(real), real_t)
        D.backward(bce.backward(), need_input_grad=False)
        loss_d += bce(D(fake), fake_t)
        D.backward(bce.backward(), need_input_grad=False)
        opt_d.step()
        G.zero_grad()  # D's grads from here on are cleared by the D.zero_grad() above, next step
        loss_g = bce(D(fake), gen_t)
        G.backward(D.backward(bce.backward()))
        opt_g.step()
        d_hist.append(loss_d)
        g_hist.append(loss_g)
        if bar and (step % 50 == 0 or step == steps):
            bar.update(step, D=f"{np.mean(d_hist[-50:]):.3f}", G=f"{np.mean(g_hist[-50:]):.3f}")
    if bar:
        bar.close()
    return {"generator": G, "discriminator": D, "steps": steps,
            "d_loss": float(np.mean(d_hist[-tail:])), "g_loss": float(np.mean(g_hist[-tail:]))}


def judge(classifier, images_pm1) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class, its probability) of the digits CNN for images in [-1, 1]."""
    from .. import functional as F
    classifier.eval()
    p = F.softmax(classifier((images_pm1 + 1.0) / 2.0))
    return p.argmax(axis=1), p.max(axis=1)


def confidence_metrics(pred, prob) -> tuple[float, int]:
    """(fraction with probability >= CONFIDENCE, number of classes among those)."""
    sure = prob >= CONFIDENCE
    return float(sure.mean()), int(len(np.unique(pred[sure])))


def arithmetic(G, z, pred, prob, images, a: int, c: int):
    """Latent arithmetic on stroke weight: mean z of thick a's - mean z of thin a's + mean z of thin
    c's, where thick / thin are the inkiest / faintest third of the confident samples of a digit.
    Returns None when a kind has fewer than 3 samples, else a dict of the four latents' images,
    their inks (mean pixel value in [0, 1]) and the class the CNN gives the result."""
    ink = (images.reshape(len(images), -1).mean(axis=1) + 1.0) / 2.0
    kinds = {}
    for name, digit, thick in (("thick", a, True), ("thin", a, False), ("thin_c", c, False)):
        idx = np.flatnonzero((pred == digit) & (prob >= CONFIDENCE))
        if len(idx) < 9:
            return None
        order = idx[np.argsort(ink[idx])]
        third = order[-(len(order) // 3):] if thick else order[:len(order) // 3]
        kinds[name] = z[third].mean(axis=0)
    result = kinds["thick"] - kinds["thin"] + kinds["thin_c"]
    zs = np.stack([kinds["thick"], kinds["thin"], kinds["thin_c"], result]).astype(np.float32)
    out = G.generate(zs)
    return {"images": out, "ink": (out.reshape(4, -1).mean(axis=1) + 1.0) / 2.0, "z": zs}


def _interpolation(G, z, pred, prob, n: int = 10) -> np.ndarray:
    """n images along the straight line between the latents of two confident samples of different digits."""
    sure = np.flatnonzero(prob >= CONFIDENCE)
    first = sure[0] if len(sure) else 0
    other = next((i for i in sure if pred[i] != pred[first]), (first + 1) % len(z))
    t = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None]
    return G.generate((1 - t) * z[first] + t * z[other])


def _plot(path: str, images, pred, prob, interp, arith, a: int, c: int, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .common import save_figure
    ncol = 10
    fig = plt.figure(figsize=(ncol * 0.8, 10.2))
    grid, rows = fig.subfigures(2, 1, height_ratios=[6.2, 3.0])
    grid.suptitle(title, fontsize=10)
    for k, ax in enumerate(grid.subplots(6, ncol).ravel()):
        ax.axis("off")
        ax.imshow(images[k, 0], cmap="gray_r", vmin=-1, vmax=1)
        ax.set_title(f"{pred[k]}" if prob[k] >= CONFIDENCE else "?", fontsize=8,
                     color="k" if prob[k] >= CONFIDENCE else "r")
    interp_fig, arith_fig = rows.subfigures(2, 1)
    interp_fig.suptitle("latent interpolation between two samples", fontsize=9)
    for k, ax in enumerate(interp_fig.subplots(1, ncol)):
        ax.axis("off")
        ax.imshow(interp[k, 0], cmap="gray_r", vmin=-1, vmax=1)
    axes = arith_fig.subplots(1, ncol)
    for ax in axes:
        ax.axis("off")
    if arith is None:
        arith_fig.suptitle(f"latent arithmetic: too few confident samples of {a} or {c}", fontsize=9)
    else:
        arith_fig.suptitle(f"latent arithmetic on stroke weight: thick {a} - thin {a} + thin {c} = thick {c}?",
                           fontsize=9)
        labels = [f"thick {a}", "-", f"thin {a}", "+", f"thin {c}", "=", "result"]
        panels = [0, None, 1, None, 2, None, 3]
        for ax, lab, k in zip(axes[1:8], labels, panels):
            if k is None:
                ax.text(0.5, 0.5, lab, fontsize=16, ha="center", va="center")
            else:
                ax.imshow(arith["images"][k, 0], cmap="gray_r", vmin=-1, vmax=1)
                ax.set_title(f"{lab}\nink {arith['ink'][k]:.2f}", fontsize=7)
    save_figure(fig, path)


def _parse_pair(text: str) -> tuple[int, int]:
    try:
        a, c = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--arithmetic: expected two digits A,C, got {text!r}") from None
    if not (0 <= a <= 9 and 0 <= c <= 9) or a == c:
        raise ValueError(f"--arithmetic: expected two different digits 0-9, got {text!r}")
    return a, c


def run(args) -> int:
    import fastlayers
    from .cnn import train_digits
    from .common import resolve, run_demo

    def setup():
        a, c = _parse_pair(args.arithmetic)
        steps = resolve(args, DEFAULTS, QUICK, "steps", "batch_size", "nz", "samples")["steps"]
        epochs = (QUICK if args.quick else DEFAULTS)["classifier_epochs"]
        print(f"digits CNN (the judge): {epochs} epochs; DCGAN nz {args.nz}, ngf/ndf {DEFAULTS['ngf']}, "
              f"extra layers {DEFAULTS['extra_layers']}, Adam lr {args.lr}, batch {args.batch_size}, {steps} steps, "
              f"isa {fastlayers.get_isa()}, {fastlayers.get_num_threads()} threads")
        return a, c, steps, train_digits(seed=args.seed, epochs=epochs, progress=True)

    def finish(setup_result):
        a, c, steps, clf = setup_result
        print(f"judge: test accuracy {100 * clf['test_acc']:.1f}%")
        res = train_gan(seed=args.seed, steps=steps, batch_size=args.batch_size, lr=args.lr, nz=args.nz)
        G = res["generator"]
        print(f"DCGAN: generator {G.num_parameters():,} / discriminator {res['discriminator'].num_parameters():,} "
              f"parameters; last 10% of steps: D loss {res['d_loss']:.3f}, G loss {res['g_loss']:.3f}")
        z, images = G.sample(args.samples, seed=args.seed + 1)
        pred, prob = judge(clf["model"], images)
        frac, classes = confidence_metrics(pred, prob)
        sure = prob >= CONFIDENCE
        counts = np.bincount(pred[sure], minlength=10)
        print(f"{args.samples} samples: {100 * frac:.1f}% classified with probability >= {CONFIDENCE}, "
              f"{classes} of 10 classes; per class {counts.tolist()}")
        arith = arithmetic(G, z, pred, prob, images, a, c)
        if arith is None:
            print(f"latent arithmetic: fewer than 9 confident samples of {a} or {c}")
        else:
            got, gp = judge(clf["model"], arith["images"][3:])
            print(f"latent arithmetic thick {a} - thin {a} + thin {c}: ink {arith['ink'][2]:.3f} (thin {c}) -> "
                  f"{arith['ink'][3]:.3f} (result), the CNN reads the result as {got[0]} (p {gp[0]:.2f})")
        if args.plot:
            _plot(args.plot, images, pred, prob, _interpolation(G, z, pred, prob), arith, a, c,
                  f"DCGAN samples (title: the CNN's digit, ? below p {CONFIDENCE}): {100 * frac:.0f}% confident, "
                  f"{classes} classes")
            print(f"samples, interpolation and arithmetic written to {args.plot}")
        return {"confident_fraction": frac, "classes": classes}

    return run_demo(args, setup, finish)
