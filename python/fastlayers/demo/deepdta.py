"""DeepDTA (models.DeepDTA): drug-target binding affinity from a protein sequence and a SMILES-like
drug string, two 1-D CNNs over characters and a dense head, trained with MSE on synthetic pairs
whose affinity follows a planted rule; the metric is the concordance index on held-out pairs.

The planted rule (fixed, independent of --seed; the sequences are drawn from --seed):
  * proteins are random strings of the 20 amino-acid letters, length 100 - 120 (padded to 120);
    drugs random strings over 20 SMILES characters, length 40 - 50 (padded to 50);
  * 6 protein motifs (5 letters) and 6 drug motifs (4 characters), drawn once; each protein
    carries each protein motif with probability 0.4, each drug each drug motif with probability
    0.4, written at random non-overlapping places (p, d: the 0/1 presence vectors);
  * affinity = 6 + p . a + d . b + p^T W d + noise,  a, b ~ N(0, 0.5^2), W ~ N(0, 1) (6 x 6),
    noise ~ N(0, 0.3^2): the binding depends on which motif pairs meet, as pocket and ligand.
Held-out pairs are new proteins and new drugs (none of them seen in training), so the score
measures the rule learned, not the sequences memorised. The last line reads `result ci X`."""
from __future__ import annotations

import sys
import time

import numpy as np

HELP = "DeepDTA: drug-target affinity from sequences (two 1-D CNNs), concordance index on held-out pairs"

AMINO = "ACDEFGHIKLMNPQRSTVWY"
SMILES = "CNOSFPclnos()[]=#123"
PROTEIN_LEN, DRUG_LEN = (100, 120), (40, 50)
N_MOTIFS, PROTEIN_MOTIF, DRUG_MOTIF, P_MOTIF = 6, 5, 4, 0.4
RULE_SEED = 2018

DEFAULTS = dict(train_pairs=12000, test_pairs=2000, steps=2400, batch_size=64, lr=2e-3, embed_dim=32,
                filters=(32, 64), hidden=(128,))
QUICK = dict(train_pairs=4000, test_pairs=1000, steps=500, batch_size=64, lr=3e-3, embed_dim=16,
             filters=(16, 32), hidden=(64,))


def planted_rule() -> dict:
    """The motifs and weights of the affinity rule (the same for every seed)."""
    rng = np.random.default_rng(RULE_SEED)
    return {"protein_motifs": ["".join(rng.choice(list(AMINO), PROTEIN_MOTIF)) for _ in range(N_MOTIFS)],
            "drug_motifs": ["".join(rng.choice(list(SMILES), DRUG_MOTIF)) for _ in range(N_MOTIFS)],
            "a": rng.normal(0, 0.5, N_MOTIFS), "b": rng.normal(0, 0.5, N_MOTIFS),
            "W": rng.normal(0, 1.0, (N_MOTIFS, N_MOTIFS)), "bias": 6.0, "noise": 0.3}


def _sequences(rng, n: int, alphabet: str, lengths: tuple, motifs: list):
    """n random strings with each motif planted with probability P_MOTIF (non-overlapping):
    (ids (n, max_len) int64, 0 = padding, letters 1..len(alphabet); presence (n, len(motifs)))."""
    m = len(motifs[0])
    ids = np.zeros((n, lengths[1]), np.int64)
    present = rng.random((n, len(motifs))) < P_MOTIF
    for i in range(n):
        L = int(rng.integers(lengths[0], lengths[1] + 1))
        ids[i, :L] = rng.integers(1, len(alphabet) + 1, L)
        which = np.flatnonzero(present[i])
        slots = rng.choice(L // m, len(which), replace=False)  # motif-sized slots: no overlap
        for k, s in zip(which, slots):
            ids[i, s * m:(s + 1) * m] = [alphabet.index(ch) + 1 for ch in motifs[k]]
    return ids, present.astype(np.float64)


def make_pairs(n_pairs: int, n_proteins: int, n_drugs: int, rng, rule: dict):
    """n_pairs (protein, drug) pairs drawn from n_proteins fresh proteins and n_drugs fresh drugs:
    (protein ids, drug ids, affinity float32)."""
    P, p = _sequences(rng, n_proteins, AMINO, PROTEIN_LEN, rule["protein_motifs"])
    D, d = _sequences(rng, n_drugs, SMILES, DRUG_LEN, rule["drug_motifs"])
    i, j = rng.integers(0, n_proteins, n_pairs), rng.integers(0, n_drugs, n_pairs)
    y = (rule["bias"] + p[i] @ rule["a"] + d[j] @ rule["b"] + np.einsum("nk,kl,nl->n", p[i], rule["W"], d[j])
         + rng.normal(0, rule["noise"], n_pairs))
    return P[i], D[j], y.astype(np.float32)


def train_deepdta(*, seed: int = 0, progress: bool = True, **overrides) -> dict:
    """Trains models.DeepDTA on planted-rule pairs; returns the model, the test pairs, predictions,
    the concordance index, the MSE, the loss curve and the time (keyword overrides: DEFAULTS)."""
    import fastlayers
    from .. import nn, optim
    from ..models import DeepDTA
    from ..models.deepdta import concordance_index
    from ._steps import merge_config, run_steps

    cfg = merge_config("train_deepdta", DEFAULTS, overrides, ("train_pairs", "test_pairs", "steps", "batch_size"))
    rule, rng = planted_rule(), np.random.default_rng(seed)
    Ptr, Dtr, ytr = make_pairs(cfg["train_pairs"], max(50, cfg["train_pairs"] // 4), max(50, cfg["train_pairs"] // 4),
                               rng, rule)
    Pte, Dte, yte = make_pairs(cfg["test_pairs"], max(50, cfg["test_pairs"] // 10), max(50, cfg["test_pairs"] // 10),
                               rng, rule)
    fastlayers.manual_seed(seed)
    model = DeepDTA(len(AMINO) + 1, len(SMILES) + 1, embed_dim=cfg["embed_dim"], protein_filters=cfg["filters"],
                    drug_filters=cfg["filters"], protein_kernel=8, drug_kernel=4, hidden=cfg["hidden"], dropout=0.0)
    mean, std = float(ytr.mean()), float(ytr.std())
    crit = nn.MSELoss()
    opt = optim.Adam(model.parameters(), lr=cfg["lr"])
    sched = optim.CosineAnnealingLR(opt, T_max=cfg["steps"], eta_min=cfg["lr"] * 0.05)
    model.train()

    def step(_):
        b = rng.integers(0, len(ytr), cfg["batch_size"])
        opt.zero_grad()
        loss = crit(model(Ptr[b], Dtr[b]), (ytr[b] - mean) / std)  # standardised target
        model.backward(crit.backward())
        opt.step()
        sched.step()
        return loss

    curve, seconds = run_steps(cfg["steps"], step, progress=progress, every=50)
    pred = model.predict(Pte, Dte) * std + mean
    return {"model": model, "config": cfg, "rule": rule, "y_test": yte, "pred": pred, "curve": curve,
            "ci": concordance_index(yte, pred), "mse": float(np.mean((pred - yte) ** 2)),
            "ci_train": concordance_index(ytr[:2000], model.predict(Ptr[:2000], Dtr[:2000]) * std + mean),
            "seconds": seconds, "n_train": len(ytr)}


def _plot(path: str, res: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a0, a1) = plt.subplots(1, 2, figsize=(10, 4.3))
    y, p = res["y_test"], res["pred"]
    a0.scatter(y, p, s=4, alpha=0.4)
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    a0.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    a0.set_xlabel("planted affinity")
    a0.set_ylabel("predicted")
    a0.set_title(f"held-out pairs (new proteins, new drugs): CI {res['ci']:.3f}, MSE {res['mse']:.3f}", fontsize=10)
    steps, loss = zip(*res["curve"])
    a1.plot(steps, loss)
    a1.set_yscale("log")
    a1.set_xlabel("step")
    a1.set_title("training loss (MSE on the standardised affinity)", fontsize=10)
    fig.suptitle("DeepDTA: Embedding + Conv1d + global max pool per sequence, dense head")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def add_arguments(p) -> None:
    from ._steps import add_step_arguments
    add_step_arguments(p, DEFAULTS, QUICK, "a smaller model and data set, fewer steps",
                       "predicted against planted affinity, and the loss curve",
                       extra=[("--train-pairs", int, "training pairs")])


def run(args) -> int:
    import fastlayers
    from ._steps import step_config
    from .common import plot_unavailable

    if plot_unavailable(args.plot):
        return 2
    t_start = time.perf_counter()
    cfg = step_config(args, QUICK, ("steps", "train_pairs", "batch_size", "lr"))
    full = {**DEFAULTS, **cfg}
    rule = planted_rule()
    print(f"planted rule: protein motifs {' '.join(rule['protein_motifs'])}, drug motifs {' '.join(rule['drug_motifs'])}")
    print(f"{full['train_pairs']} training pairs, {full['test_pairs']} held-out pairs of new proteins and drugs; "
          f"filters {full['filters']}, hidden {full['hidden']}; Adam lr {full['lr']}, batch {full['batch_size']}, "
          f"{full['steps']} steps, isa {fastlayers.get_isa()}, {fastlayers.get_num_threads()} threads")
    try:
        res = train_deepdta(seed=args.seed, **cfg)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"{res['model'].num_parameters():,} parameters, {res['seconds']:.1f} s training")
    print(f"concordance index: held-out {res['ci']:.4f} (train {res['ci_train']:.4f}); held-out MSE {res['mse']:.4f}, "
          f"affinity variance {float(res['y_test'].var()):.4f}")
    if args.plot:
        _plot(args.plot, res)
        print(f"predictions and loss curve written to {args.plot}")
    print(f"wall time {time.perf_counter() - t_start:.2f} s")
    print(f"result ci {res['ci']:.4f}")
    return 0
