"""Image captioning: a CNN encoder and an LSTM decoder (Show and Tell) trained on synthetic
scenes of one or two coloured shapes with generated captions ("a red circle left of a blue
square"; demo/_caption_scenes.py), greedy decoding; prints exact-match accuracy and corpus
BLEU-4 on held-out scenes and a few captions. The last line reads
`result exact_match X bleu4 Y`.

The model: Conv2d 3x3 + ReLU + MaxPool2d x 3 (32 -> 4 pixels), Flatten, Linear + ReLU -> an
image feature vector; the LSTM reads [Embedding(word), features] at every step and Linear(vocabulary)
predicts each next word with teacher forcing (cross-entropy, padding ignored)."""
from __future__ import annotations

import sys
import time

import numpy as np

from .. import nn
from . import _caption_scenes as scenes

HELP = "image captioning: CNN encoder + LSTM decoder on synthetic shape scenes, exact match and BLEU-4"

DEFAULTS = dict(train=8000, test=1000, steps=2000, batch_size=32, lr=2e-3, hidden=128, channels=(16, 32, 64))
QUICK = dict(train=3000, test=400, steps=500, batch_size=32, lr=3e-3, hidden=96, channels=(16, 32, 32))


class Captioner(nn.Module):
    """images (N, 3, 32, 32) and word ids (N, T) -> next-word logits (N, T, vocab). The image's
    feature vector is concatenated to every step's word embedding (the LSTM starts from zeros)."""

    def __init__(self, vocab: int, hidden: int = 128, channels=(16, 32, 64), embed: int = 32, size: int = 32,
                 features: int = 64):
        super().__init__()
        layers, c = [], 3
        for k in channels:
            layers += [nn.Conv2d(c, k, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c, size = k, size // 2
        self.encoder = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * size * size, features), nn.ReLU())
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed + features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)
        self.hidden, self.embed_dim = hidden, embed

    def _inputs(self, feats, words):
        e = self.embed(words)  # (N, T, E)
        f = np.broadcast_to(feats[:, None, :], (len(e), e.shape[1], feats.shape[1]))
        return np.ascontiguousarray(np.concatenate([e, f], axis=2))

    def forward(self, images, words):
        out, _ = self.lstm(self._inputs(self.encoder(images), words))
        N, T, H = out.shape
        return self.head(out.reshape(N * T, H)).reshape(N, T, -1)

    def backward(self, grad_logits):
        N, T, V = grad_logits.shape
        d_out = self.head.backward(grad_logits.reshape(N * T, V)).reshape(N, T, self.hidden)
        d_in, _ = self.lstm.backward(d_out)
        self.embed.backward(np.ascontiguousarray(d_in[:, :, :self.embed_dim]))
        self.encoder.backward(np.ascontiguousarray(d_in[:, :, self.embed_dim:].sum(axis=1)), need_input_grad=False)
        return None

    def generate(self, images, max_len: int = scenes.MAX_WORDS + 1, batch_size: int = 500) -> np.ndarray:
        """Greedy decoding from <bos>, eval mode: (N, max_len) word ids (after <eos>: anything)."""
        was = self.training
        self.eval()
        try:
            out = []
            for i in range(0, len(images), batch_size):
                feats = self.encoder(images[i:i + batch_size])
                tok = np.full((len(feats), 1), scenes.BOS, np.int64)
                seq, state = [], None
                for _ in range(max_len):
                    o, state = self.lstm(self._inputs(feats, tok), state)
                    tok = self.head(o[:, 0]).argmax(axis=1)[:, None].astype(np.int64)
                    seq.append(tok[:, 0])
                out.append(np.stack(seq, axis=1))
            return np.concatenate(out)
        finally:
            self.train(was)


def train_captioner(*, seed: int = 0, progress: bool = True, **overrides) -> dict:
    """Trains Captioner on make_scenes(train); returns the model, the test scenes, the decoded
    captions, exact_match, bleu4, the loss curve and the time (keyword overrides: DEFAULTS)."""
    import fastlayers
    from .. import optim
    from ._steps import merge_config, run_steps

    cfg = merge_config("train_captioner", DEFAULTS, overrides, ("train", "test", "steps", "batch_size", "hidden"))
    Xtr, cap_tr = scenes.make_scenes(cfg["train"], seed)
    Xte, cap_te = scenes.make_scenes(cfg["test"], seed + 10_000)
    win, wout = scenes.encode(cap_tr)
    fastlayers.manual_seed(seed)
    model = Captioner(len(scenes.VOCAB), cfg["hidden"], cfg["channels"])
    crit = nn.CrossEntropyLoss(ignore_index=scenes.PAD)
    opt = optim.Adam(model.parameters(), lr=cfg["lr"])
    sched = optim.CosineAnnealingLR(opt, T_max=cfg["steps"], eta_min=cfg["lr"] * 0.05)
    rng = np.random.default_rng(seed)
    model.train()

    def step(_):
        b = rng.integers(0, len(Xtr), cfg["batch_size"])
        opt.zero_grad()
        logits = model(Xtr[b], win[b])
        loss = crit(logits.reshape(-1, logits.shape[-1]), wout[b].reshape(-1))
        model.backward(crit.backward().reshape(logits.shape))
        opt.step()
        sched.step()
        return loss

    curve, seconds = run_steps(cfg["steps"], step, progress=progress)
    hyp = [scenes.decode(s) for s in model.generate(Xte)]
    exact = float(np.mean([h == r for h, r in zip(hyp, cap_te)]))
    return {"model": model, "config": cfg, "X_test": Xte, "captions": cap_te, "generated": hyp, "curve": curve,
            "exact_match": exact, "bleu4": scenes.corpus_bleu(cap_te, hyp), "seconds": seconds}


def _plot(path: str, res: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, ref, hyp = res["X_test"], res["captions"], res["generated"]
    wrong = [i for i in range(len(ref)) if hyp[i] != ref[i]][:4]
    shown = [i for i in range(len(ref)) if hyp[i] == ref[i]][:12 - len(wrong)] + wrong
    fig, axes = plt.subplots(3, 4, figsize=(11, 9))
    for ax, i in zip(axes.ravel(), shown):
        ax.imshow(X[i].transpose(1, 2, 0), interpolation="nearest")
        ok = hyp[i] == ref[i]
        text = " ".join(hyp[i]) if ok else f"{' '.join(hyp[i])}\n(true: {' '.join(ref[i])})"
        ax.set_title(text, fontsize=8, color="k" if ok else "r", wrap=True)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(f"greedy captions of held-out scenes (mistakes in red, last): exact match "
                 f"{100 * res['exact_match']:.1f}%, BLEU-4 {res['bleu4']:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def add_arguments(p) -> None:
    from ._steps import add_step_arguments
    add_step_arguments(p, DEFAULTS, QUICK, "a smaller model, fewer scenes and steps",
                       "held-out scenes with their generated captions", extra=[("--train", int, "training scenes")])


def run(args) -> int:
    import fastlayers
    from ._steps import step_config
    from .common import plot_unavailable

    if plot_unavailable(args.plot):
        return 2
    t_start = time.perf_counter()
    cfg = step_config(args, QUICK, ("steps", "train", "batch_size", "lr"))
    full = {**DEFAULTS, **cfg}
    print(f"{full['train']} training scenes, {full['test']} held-out (32x32, 1-2 shapes, {len(scenes.VOCAB)} words); "
          f"CNN channels {full['channels']}, LSTM hidden {full['hidden']}; Adam lr {full['lr']}, batch "
          f"{full['batch_size']}, {full['steps']} steps, isa {fastlayers.get_isa()}, {fastlayers.get_num_threads()} threads")
    try:
        res = train_captioner(seed=args.seed, **cfg)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"{res['model'].num_parameters():,} parameters, {res['seconds']:.1f} s training")
    for ref, hyp in list(zip(res["captions"], res["generated"]))[:6]:
        print(f"  {'ok  ' if hyp == ref else 'MISS'} {' '.join(hyp):<40} (true: {' '.join(ref)})")
    print(f"held-out scenes: exact match {100 * res['exact_match']:.1f}%, BLEU-4 {res['bleu4']:.4f}")
    if args.plot:
        _plot(args.plot, res)
        print(f"captioned scenes written to {args.plot}")
    print(f"wall time {time.perf_counter() - t_start:.2f} s")
    print(f"result exact_match {res['exact_match']:.4f} bleu4 {res['bleu4']:.4f}")
    return 0
