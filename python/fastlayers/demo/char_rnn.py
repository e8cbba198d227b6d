"""Many-to-many and one-to-many: a character-level LSTM language model trained on the English
text that ships with Python (pydoc_data.topics, the help() pages), predicting every next
character of random windows. Live progress bar; prints the validation loss in bits per character
on held-out text, then samples text from a seed string (--sample "def "); optionally plots the
training and validation curves (matplotlib)."""
from __future__ import annotations

import math
import sys
import time

import numpy as np

from .. import nn

HELP = "many-to-many / one-to-many: a character LSTM on Python's help text; bits per char, sampling"

DEFAULTS = dict(steps=1200, seq_len=64, batch_size=32, embed=64, hidden=256, num_layers=1, lr=3e-3, clip=5.0)
ROUNDS = 12  # progress lines (and validation points) per run


def load_text() -> str:
    """The help() pages of this Python (pydoc_data.topics), in a fixed order."""
    from pydoc_data.topics import topics
    return "".join(topics[k] for k in sorted(topics))


class CharLSTM(nn.Module):
    """Embedding -> LSTM (batch_first) -> Linear over the vocabulary, at every position."""

    def __init__(self, vocab: int, embed: int, hidden: int, num_layers: int = 1):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)
        self._bt = None

    def forward(self, idx, hx=None):
        """idx (B, T) ints -> (logits (B, T, vocab), (h_n, c_n))."""
        out, state = self.lstm(self.embedding(idx), hx)
        B, T, H = out.shape
        self._bt = (B, T, H)
        return self.head(out.reshape(B * T, H)).reshape(B, T, -1), state

    def backward(self, grad_logits):
        B, T, H = self._saved(self._bt, "shape")
        d_out = self.head.backward(grad_logits.reshape(B * T, -1)).reshape(B, T, H)
        dx, _ = self.lstm.backward(d_out)
        self.embedding.backward(dx)


def add_arguments(p) -> None:
    d = DEFAULTS
    p.add_argument("--steps", type=int, default=d["steps"], help="training steps (default %(default)s)")
    p.add_argument("--seq-len", type=int, default=d["seq_len"], help="characters per training window")
    p.add_argument("--batch-size", type=int, default=d["batch_size"])
    p.add_argument("--embed", type=int, default=d["embed"], help="character embedding size")
    p.add_argument("--hidden", type=int, default=d["hidden"], help="LSTM hidden size (default %(default)s)")
    p.add_argument("--num-layers", type=int, default=d["num_layers"])
    p.add_argument("--lr", type=float, default=d["lr"], help="Adam learning rate, cosine-annealed")
    p.add_argument("--clip", type=float, default=d["clip"], help="gradient norm clipping (0: none)")
    p.add_argument("--sample", default="def ", help="seed string of the sampled text (default %(default)r)")
    p.add_argument("--length", type=int, default=300, help="characters to sample (0: none)")
    p.add_argument("--temperature", type=float, default=0.7, help="sampling temperature")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", metavar="FILE.png", help="write the loss curves (needs matplotlib)")


def evaluate_bpc(model, data: np.ndarray, seq_len: int = 128, streams: int = 16) -> float:
    """Bits per character of predicting data[1:] from data[:-1], the state carried along
    `streams` parallel slices of the text (eval mode; the previous mode is restored)."""
    from .. import functional as F
    was = model.training
    model.eval()
    n = (len(data) - 1) // streams
    x = data[:n * streams].reshape(streams, n)
    t = data[1:n * streams + 1].reshape(streams, n)
    state, total, count = None, 0.0, 0
    try:
        for i in range(0, n, seq_len):
            logits, state = model(x[:, i:i + seq_len], state)
            k = logits.shape[1]
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t[:, i:i + k].reshape(-1)) * streams * k
            count += streams * k
    finally:
        model.train(was)
    return total / max(count, 1) / math.log(2.0)


def sample(model, vocab: list, seed_text: str, length: int, temperature: float, rng) -> str:
    """seed_text followed by `length` characters drawn one at a time (one-to-many)."""
    from .. import functional as F
    index = {ch: i for i, ch in enumerate(vocab)}
    unknown = sorted(set(seed_text) - set(index))
    if unknown:
        raise ValueError(f"--sample: characters {unknown!r} do not occur in the training text")
    was = model.training
    model.eval()
    out = list(seed_text)
    try:
        logits, state = model(np.array([[index[c] for c in seed_text]]))
        for _ in range(length):
            p = F.softmax(logits[0, -1].astype(np.float64) / max(temperature, 1e-3))
            nxt = int(rng.choice(len(vocab), p=p / p.sum()))
            out.append(vocab[nxt])
            logits, state = model(np.array([[nxt]]), state)
    finally:
        model.train(was)
    return "".join(out)


def train_char_rnn(*, seed: int = 0, progress: bool = True, **overrides) -> dict:
    """Trains CharLSTM on the first 90% of load_text(); returns the model, vocabulary, the
    validation bits per character (the last 10%) and the curves (keyword overrides: DEFAULTS)."""
    import fastlayers
    from .. import optim
    from .common import ProgressBar

    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"train_char_rnn: unknown settings {sorted(unknown)}, expected some of {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **overrides}
    for key in ("steps", "seq_len", "batch_size", "embed", "hidden", "num_layers"):
        if cfg[key] < 1:
            raise ValueError(f"--{key.replace('_', '-')}: expected a positive integer, got {cfg[key]}")
    text = load_text()
    vocab = sorted(set(text))
    codes = np.searchsorted(np.array(vocab), np.array(list(text))).astype(np.int64)
    split = int(0.9 * len(codes))
    train, val = codes[:split], codes[split:]
    fastlayers.manual_seed(seed)
    model = CharLSTM(len(vocab), cfg["embed"], cfg["hidden"], cfg["num_layers"])
    opt = optim.Adam(model.parameters(), lr=cfg["lr"])
    sched = optim.CosineAnnealingLR(opt, T_max=cfg["steps"], eta_min=cfg["lr"] * 0.05)
    crit = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    B, T = cfg["batch_size"], cfg["seq_len"]
    bar = ProgressBar(ROUNDS) if progress else None
    curve, t0, run_loss, n_loss = [], time.perf_counter(), 0.0, 0
    model.train()
    for step in range(1, cfg["steps"] + 1):
        starts = rng.integers(0, len(train) - T - 1, B)
        window = train[starts[:, None] + np.arange(T + 1)]
        opt.zero_grad()
        logits, _ = model(window[:, :-1])
        loss = crit(logits.reshape(B * T, -1), window[:, 1:].reshape(-1))
        model.backward(crit.backward().reshape(B, T, -1))
        if cfg["clip"] > 0:
            optim.clip_grad_norm_(model.parameters(), cfg["clip"])
        opt.step()
        sched.step()
        run_loss, n_loss = run_loss + loss, n_loss + 1
        if step * ROUNDS // cfg["steps"] != (step - 1) * ROUNDS // cfg["steps"]:
            val_bpc = evaluate_bpc(model, val[:20000])
            train_bpc = run_loss / n_loss / math.log(2.0)
            curve.append((step, train_bpc, val_bpc))
            run_loss, n_loss = 0.0, 0
            if bar:
                rate = step * B * T / (time.perf_counter() - t0)
                bar.update(len(curve), step=step, train_bpc=f"{train_bpc:.3f}", val_bpc=f"{val_bpc:.3f}",
                           chars_s=f"{rate:,.0f}")
    seconds = time.perf_counter() - t0
    return {"model": model, "vocab": vocab, "config": cfg, "val_bpc": evaluate_bpc(model, val), "curve": curve,
            "seconds": seconds, "n_train": len(train), "n_val": len(val)}


def _plot(path: str, res: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = np.asarray(res["curve"])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(c[:, 0], c[:, 1], label="train (running mean)")
    ax.plot(c[:, 0], c[:, 2], label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("bits per character")
    ax.set_title("character LSTM on pydoc_data.topics")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args) -> int:
    import fastlayers
    from .common import plot_unavailable

    if plot_unavailable(args.plot):
        return 2
    t_start = time.perf_counter()
    cfg = dict(steps=args.steps, seq_len=args.seq_len, batch_size=args.batch_size, embed=args.embed,
               hidden=args.hidden, num_layers=args.num_layers, lr=args.lr, clip=args.clip)
    print(f"text: pydoc_data.topics (Python's help pages); Embedding {cfg['embed']}, LSTM hidden {cfg['hidden']} x "
          f"{cfg['num_layers']}, windows of {cfg['seq_len']}, batch {cfg['batch_size']}, {cfg['steps']} steps, "
          f"Adam lr {cfg['lr']}, isa {fastlayers.get_isa()}, {fastlayers.get_num_threads()} threads")
    try:
        res = train_char_rnn(seed=args.seed, **cfg)
        text = sample(res["model"], res["vocab"], args.sample, args.length, args.temperature,
                      np.random.default_rng(args.seed)) if args.length > 0 else None
    except (ImportError, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"{res['model'].num_parameters():,} parameters, vocabulary {len(res['vocab'])}, "
          f"{res['n_train']:,} train / {res['n_val']:,} validation characters, {res['seconds']:.1f} s training")
    print(f"validation {res['val_bpc']:.3f} bits per character")
    if text is not None:
        print(f"sample (temperature {args.temperature}):")
        print(text)
    if args.plot:
        _plot(args.plot, res)
        print(f"loss curves written to {args.plot}")
    print(f"wall time {time.perf_counter() - t_start:.2f} s")
    return 0
