"""A character-level GPT (models.GPT: causal self-attention, pre-norm blocks, learned positions,
tied head) trained on the English text that ships with Python (pydoc_data.topics, the help()
pages), predicting every next character of random windows. A progress bar on stderr; prints the
validation loss in bits per character on the held-out last 10% of the text and a sampled
continuation of --sample; the last line reads ``result bpc X``. --quick: a small model and few
steps, under half a minute."""
from __future__ import annotations

import math
import sys
import time

import numpy as np

HELP = "a character-level GPT on Python's help text: bits per character and a sampled continuation"

DEFAULTS = dict(steps=1200, block_size=128, batch_size=16, n_layer=4, n_head=4, n_embd=128, lr=2e-3, warmup=100,
                dropout=0.0, clip=1.0, tie_weights=True)
QUICK = dict(steps=250, block_size=64, batch_size=16, n_layer=2, n_head=4, n_embd=64, lr=3e-3, warmup=20)
ROUNDS = 12  # progress updates (and validation points) per run


def evaluate_bpc(model, codes: np.ndarray, max_chars=None, batch: int = 16) -> float:
    """Bits per character of predicting codes[1:]: windows of block_size with a stride of half of it,
    each character scored once, with at least half a window of context (the first window: all).
    Eval mode; the previous mode is restored."""
    from .. import functional as F
    codes = codes if max_chars is None else codes[:max_chars + 1]
    n = min(model.block_size, len(codes) - 1)
    stride = max(n // 2, 1)
    starts = np.arange(0, len(codes) - n, stride)
    was = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for i in range(0, len(starts), batch):
            rows = starts[i:i + batch]
            x = codes[rows[:, None] + np.arange(n)]
            keep = np.zeros(x.shape, np.bool_)
            keep[:, n - stride:] = True
            keep[rows == 0] = True
            lp = F.log_softmax(model(x)[keep])
            total -= float(lp[np.arange(len(lp)), codes[rows[:, None] + np.arange(1, n + 1)][keep]].sum(dtype=np.float64))
            count += len(lp)
    finally:
        model.train(was)
    return total / max(count, 1) / math.log(2.0)


def train_gpt(*, seed: int = 0, progress: bool = True, val_chars=None, **overrides) -> dict:
    """Trains models.GPT on data.CharCorpus.pydoc(); returns the model, the corpus, the validation
    bits per character, the curve and the time (keyword overrides: DEFAULTS)."""
    import fastlayers
    from .. import nn, optim
    from ..data import CharCorpus
    from ..models import GPT
    from .common import ProgressBar

    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"train_gpt: unknown settings {sorted(unknown)}, expected some of {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **overrides}
    for key in ("steps", "block_size", "batch_size", "n_layer", "n_head", "n_embd"):
        if cfg[key] < 1:
            raise ValueError(f"--{key.replace('_', '-')}: expected a positive integer, got {cfg[key]}")
    corpus = CharCorpus.pydoc()
    fastlayers.manual_seed(seed)
    model = GPT(corpus.vocab_size, cfg["block_size"], cfg["n_layer"], cfg["n_head"], cfg["n_embd"],
                dropout=cfg["dropout"], tie_weights=cfg["tie_weights"])
    opt = optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.01)
    crit = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    B, T, steps = cfg["batch_size"], cfg["block_size"], cfg["steps"]
    bar = ProgressBar(ROUNDS, stream=sys.stderr) if progress else None
    curve, t0, run_loss, n_loss = [], time.perf_counter(), 0.0, 0
    val_probe = corpus.val[:20001] if val_chars is None else corpus.val[:min(val_chars, 20000) + 1]
    model.train()
    for step in range(1, steps + 1):
        warm = min(1.0, step / max(cfg["warmup"], 1))
        decay = 0.5 * (1 + math.cos(math.pi * (step - 1) / steps))
        for group in opt.param_groups:
            group["lr"] = cfg["lr"] * warm * (0.1 + 0.9 * decay)
        window = corpus.windows(rng, B, T)
        opt.zero_grad()
        logits = model(window[:, :-1])
        loss = crit(logits.reshape(B * T, -1), window[:, 1:].reshape(-1))
        model.backward(crit.backward().reshape(B, T, -1))
        if cfg["clip"] > 0:
            optim.clip_grad_norm_(model.parameters(), cfg["clip"])
        opt.step()
        run_loss, n_loss = run_loss + loss, n_loss + 1
        if step * ROUNDS // steps != (step - 1) * ROUNDS // steps:  # a progress point
            curve.append((step, run_loss / n_loss / math.log(2.0), evaluate_bpc(model, val_probe)))
            run_loss, n_loss = 0.0, 0
            if bar:
                chars_s = step * B * T / (time.perf_counter() - t0)
                bar.update(len(curve), step=step, **{k: f"{v:.3f}" for k, v in zip(("train_bpc", "val_bpc"),
                                                                                   curve[-1][1:])},
                           chars_s=f"{chars_s:,.0f}")
    seconds = time.perf_counter() - t0
    val = corpus.val if val_chars is None else corpus.val[:val_chars + 1]
    return {"model": model, "corpus": corpus, "config": cfg, "val_bpc": evaluate_bpc(model, val), "curve": curve,
            "seconds": seconds, "n_val": len(val) - 1}


def add_arguments(p) -> None:
    d = DEFAULTS
    p.add_argument("--quick", action="store_true", help="a small model and few steps (under 30 s)")
    p.add_argument("--steps", type=int, help=f"training steps (default {d['steps']})")
    p.add_argument("--block-size", type=int, help=f"context length in characters (default {d['block_size']})")
    p.add_argument("--batch-size", type=int, help=f"windows per step (default {d['batch_size']})")
    p.add_argument("--layers", dest="n_layer", type=int, metavar="N", help=f"Transformer blocks (default {d['n_layer']})")
    p.add_argument("--heads", dest="n_head", type=int, metavar="N", help=f"attention heads (default {d['n_head']})")
    p.add_argument("--width", dest="n_embd", type=int, metavar="C", help=f"model width (default {d['n_embd']})")
    p.add_argument("--lr", type=float, help=f"AdamW peak learning rate (default {d['lr']}), warm-up then cosine")
    p.add_argument("--dropout", type=float, help="dropout (default 0)")
    p.add_argument("--untied", action="store_true", help="a separate output head (default: tied to the embedding)")
    p.add_argument("--sample", default="def ", help="seed string of the sampled text (default %(default)r)")
    p.add_argument("--length", type=int, default=300, help="characters to sample (0: none)")
    p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature")
    p.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    import fastlayers

    t_start = time.perf_counter()
    cfg = dict(QUICK) if args.quick else {}
    for key in ("steps", "block_size", "batch_size", "n_layer", "n_head", "n_embd", "lr", "dropout"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.untied:
        cfg["tie_weights"] = False
    c = {**DEFAULTS, **cfg}
    print(f"text: pydoc_data.topics (Python's help pages); GPT {c['n_layer']} blocks, width {c['n_embd']}, "
          f"{c['n_head']} heads, context {c['block_size']}, batch {c['batch_size']}, {c['steps']} steps, "
          f"AdamW lr {c['lr']}, isa {fastlayers.get_isa()}, {fastlayers.get_num_threads()} threads")
    try:
        res = train_gpt(seed=args.seed, val_chars=20000 if args.quick else None, **cfg)
        corpus, model = res["corpus"], res["model"]
        text = None
        if args.length > 0:
            start = corpus.encode(args.sample)[None, -model.block_size:]
            codes = model.generate(start, args.length, args.temperature, rng=np.random.default_rng(args.seed))
            text = args.sample + corpus.decode(codes[0, start.shape[1]:])
    except (ImportError, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"{model.num_parameters():,} parameters, vocabulary {corpus.vocab_size}, {len(corpus.train):,} train "
          f"characters, {res['seconds']:.1f} s training")
    print(f"validation {res['val_bpc']:.3f} bits per character ({res['n_val']:,} characters)")
    if text is not None:
        print(f"sample (temperature {args.temperature}):")
        print(text)
    print(f"wall time {time.perf_counter() - t_start:.2f} s")
    print(f"result bpc {res['val_bpc']:.4f}")
    return 0
