"""Character-level text data: the English help pages that ship with Python (pydoc_data.topics),
a character vocabulary, a train / validation split and random training windows.

``CharCorpus.pydoc(val_fraction=0.1)`` reads the topics in sorted order and codes each character
by its rank in the sorted vocabulary (int64); the last val_fraction of the text is validation.
``windows(rng, batch_size, length)`` draws (batch_size, length + 1) windows of the training codes:
inputs are [:, :-1], next-character targets [:, 1:].
"""
from __future__ import annotations

import numpy as np


def pydoc_text() -> str:
    """The help() pages of this Python (pydoc_data.topics), concatenated in sorted topic order."""
    from pydoc_data.topics import topics
    return "".join(topics[k] for k in sorted(topics))


class CharCorpus:
    def __init__(self, text: str, val_fraction: float = 0.1):
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction: expected a fraction in (0, 1), got {val_fraction}")
        self.vocab = sorted(set(text))
        self._index = {ch: i for i, ch in enumerate(self.vocab)}
        codes = self.encode(text)
        split = int((1.0 - val_fraction) * len(codes))
        self.train, self.val = codes[:split], codes[split:]

    @classmethod
    def pydoc(cls, val_fraction: float = 0.1) -> "CharCorpus":
        return cls(pydoc_text(), val_fraction)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> np.ndarray:
        unknown = sorted(set(text) - set(self._index))
        if unknown:
            raise ValueError(f"text: characters {unknown!r} do not occur in the corpus")
        return np.fromiter((self._index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, codes) -> str:
        return "".join(self.vocab[int(i)] for i in np.asarray(codes).reshape(-1))

    def windows(self, rng, batch_size: int, length: int) -> np.ndarray:
        """(batch_size, length + 1) random windows of the training codes."""
        if len(self.train) < length + 2:
            raise ValueError(f"length: {length} does not fit the {len(self.train)} training characters")
        starts = rng.integers(0, len(self.train) - length - 1, batch_size)
        return self.train[starts[:, None] + np.arange(length + 1)]
