"""Train a convolutional denoising autoencoder on scikit-learn's 8x8 digits with additive
Gaussian noise and report the PSNR it gains on held-out digits; optionally draw noisy,
denoised and clean rows (matplotlib).

Images are in [0, 1]; the noisy input is clean + N(0, sigma^2) per pixel, not clipped, drawn
afresh every epoch (the test set's noise is drawn once, from the seed). PSNR = 10 log10(1 / MSE)
with the MSE over every pixel of the test set; the gain is PSNR(denoised) - PSNR(noisy).
The model: Conv 3x3 (32) ReLU, Conv 3x3 stride 2 (64) ReLU -- a 4x4 code --, ConvTranspose2d
4x4 stride 2 (32) ReLU, Conv 3x3 (1), Sigmoid; MSE loss, Adam.
"""
from __future__ import annotations

import numpy as np

HELP = "train a convolutional denoising autoencoder on noisy 8x8 digits; PSNR gain over the noisy input"

DEFAULTS = dict(epochs=40, lr=2e-3, batch_size=32, noise=0.3)
QUICK = dict(epochs=6)


def add_arguments(p) -> None:
    from .common import add_demo_arguments
    d = DEFAULTS
    p.add_argument("--epochs", type=int, help=f"training epochs (default {d['epochs']}, --quick {QUICK['epochs']})")
    p.add_argument("--noise", type=float, default=d["noise"], help="noise standard deviation (default %(default)s)")
    p.add_argument("--lr", type=float, default=d["lr"], help="Adam learning rate, cosine-annealed (default %(default)s)")
    p.add_argument("--batch-size", type=int, help=f"default {d['batch_size']}")
    add_demo_arguments(p, "write noisy / denoised / clean rows of test digits")


def build_model():
    from ..nn import Conv2d, ConvTranspose2d, ReLU, Sequential, Sigmoid
    return Sequential(Conv2d(1, 32, 3, padding=1), ReLU(), Conv2d(32, 64, 3, stride=2, padding=1), ReLU(),
                      ConvTranspose2d(64, 32, 4, stride=2, padding=1), ReLU(), Conv2d(32, 1, 3, padding=1), Sigmoid())


def psnr(a, b) -> float:
    """10 log10(1 / mean squared error) for images in [0, 1]."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def denoise(model, X, batch_size: int = 512) -> np.ndarray:
    was = model.training
    model.eval()
    try:
        return np.concatenate([model(X[i:i + batch_size]) for i in range(0, len(X), batch_size)])
    finally:
        model.train(was)


def train_denoiser(*, seed: int = 0, epochs: int = DEFAULTS["epochs"], lr: float = DEFAULTS["lr"],
                   batch_size: int = DEFAULTS["batch_size"], noise: float = DEFAULTS["noise"],
                   progress: bool = True) -> dict:
    """Trains on an 80/20 split of the digits; returns the model, the test images (clean, noisy,
    denoised) and their PSNRs."""
    import fastlayers
    from .. import data, nn, optim
    from .common import ProgressBar

    fastlayers.manual_seed(seed)
    model = build_model()
    X, y = data.load_digits()
    Xtr, Xte, _, yte = data.train_test_split(X.reshape(-1, 1, 8, 8), y, test_size=0.2, seed=seed)
    rng = np.random.default_rng(seed)
    noisy_te = (Xte + rng.normal(0.0, noise, Xte.shape)).astype(np.float32)
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.CosineAnnealingLR(opt, T_max=epochs, eta_min=lr * 0.05)
    crit = nn.MSELoss()
    bar = ProgressBar(epochs, unit="epoch") if progress else None
    for epoch in range(1, epochs + 1):
        total, n = 0.0, 0
        order = rng.permutation(len(Xtr))
        for i in range(0, len(order), batch_size):
            clean = Xtr[order[i:i + batch_size]]
            noisy = (clean + rng.normal(0.0, noise, clean.shape)).astype(np.float32)
            opt.zero_grad()
            loss = crit(model(noisy), clean)
            model.backward(crit.backward(), need_input_grad=False)
            opt.step()
            total, n = total + loss * len(clean), n + len(clean)
        sched.step()
        if bar:
            bar.update(epoch, mse=f"{total / n:.5f}", train_psnr=f"{10 * np.log10(n / total):.2f}dB")
    if bar:
        bar.close()
    out = denoise(model, noisy_te)
    return {"model": model, "clean": Xte, "noisy": noisy_te, "denoised": out, "labels": yte,
            "psnr_noisy": psnr(noisy_te, Xte), "psnr_denoised": psnr(out, Xte)}


def _plot(path: str, res: dict, n: int = 12) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .common import save_figure
    rows = [("noisy", res["noisy"], res["psnr_noisy"]), ("denoised", res["denoised"], res["psnr_denoised"]),
            ("clean", res["clean"], None)]
    fig, axes = plt.subplots(3, n, figsize=(n * 0.8, 3 * 0.95 + 0.5))
    for r, (name, imgs, db) in enumerate(rows):
        for k in range(n):
            ax = axes[r, k]
            ax.imshow(np.clip(imgs[k, 0], 0, 1), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(name if db is None else f"{name}\n{db:.1f} dB", fontsize=8)
    fig.suptitle(f"denoising autoencoder on the 8x8 digits: +{res['psnr_denoised'] - res['psnr_noisy']:.1f} dB "
                 f"PSNR on {len(res['clean'])} test digits", fontsize=10)
    save_figure(fig, path)


def run(args) -> int:
    import fastlayers
    from .common import resolve, run_demo

    def setup():
        cfg = resolve(args, DEFAULTS, QUICK, "epochs", "batch_size")
        if not args.noise > 0:
            raise ValueError(f"--noise: expected a positive standard deviation, got {args.noise}")
        print(f"digits with Gaussian noise sigma {args.noise}; conv autoencoder, Adam lr {args.lr}, batch "
              f"{cfg['batch_size']}, {cfg['epochs']} epochs, isa {fastlayers.get_isa()}, "
              f"{fastlayers.get_num_threads()} threads")
        return train_denoiser(seed=args.seed, lr=args.lr, noise=args.noise, **cfg)

    def finish(res):
        gain = res["psnr_denoised"] - res["psnr_noisy"]
        print(f"{res['model'].num_parameters():,} parameters; {len(res['clean'])} test digits: PSNR noisy "
              f"{res['psnr_noisy']:.2f} dB, denoised {res['psnr_denoised']:.2f} dB, gain {gain:.2f} dB")
        if args.plot:
            _plot(args.plot, res)
            print(f"noisy, denoised and clean digits written to {args.plot}")
        return {"psnr_gain_db": gain}

    return run_demo(args, setup, finish)
