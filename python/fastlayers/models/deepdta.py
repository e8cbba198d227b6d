"""DeepDTA (Öztürk et al. 2018): drug-target binding affinity from two 1-D CNNs over characters.

Each input is a padded integer sequence (0 = padding): a protein's amino acids and a drug's
SMILES characters. Each goes through its own SequenceCNN, Embedding -> [Conv1d, ReLU] x k ->
max over positions (a motif detector's strongest match anywhere in the sequence); the two
feature vectors are concatenated and a dense head regresses one affinity per pair::

    model = DeepDTA(protein_vocab=21, drug_vocab=24)
    y = model(protein_ids, drug_ids)        # (N, Lp), (N, Ld) int64 -> (N,) float32
    model.backward(dL_dy)                   # accumulates every parameter's grad

state_dict keys follow the attribute names (protein.embedding.weight, protein.convs.0.weight,
drug.convs.2.bias, head.0.weight, ...), as a torch module with the same attributes would have.
"""
from __future__ import annotations

import numpy as np

from ..nn import Conv1d, Dropout, Embedding, Linear, Module, ReLU, Sequential


class GlobalMaxPool1d(Module):
    """(N, C, L) -> (N, C): the maximum over L; backward routes each gradient to its argmax."""

    def __init__(self):
        super().__init__()
        self._idx = self._shape = None

    def forward(self, x):
        x = np.asarray(x)
        idx = x.argmax(axis=2)
        if self.training:
            self._idx, self._shape = idx, x.shape
        return np.take_along_axis(x, idx[:, :, None], axis=2)[:, :, 0]

    def backward(self, grad_out):
        idx, shape = self._take("_idx", "argmax indices"), self._shape
        dx = np.zeros(shape, np.float32)
        np.put_along_axis(dx, idx[:, :, None], np.asarray(grad_out, np.float32)[:, :, None], axis=2)
        return dx

    def clear_cache(self) -> None:
        self._idx = None


class SequenceCNN(Module):
    """Integer sequences (N, L) -> features (N, filters[-1]): Embedding(vocab, embed_dim,
    padding_idx=0), then Conv1d(kernel_size, no padding) + ReLU for each entry of `filters`,
    then the maximum over positions. L must be at least the receptive field,
    1 + len(filters) * (kernel_size - 1)."""

    def __init__(self, vocab_size: int, embed_dim: int = 32, filters=(32, 64), kernel_size: int = 6):
        super().__init__()
        if not filters:
            raise ValueError("filters: expected at least one conv layer")
        self.embedding = Embedding(vocab_size, embed_dim, padding_idx=0)
        layers, c = [], embed_dim
        for f in filters:
            layers += [Conv1d(c, f, kernel_size), ReLU()]
            c = f
        self.convs = Sequential(*layers)
        self.pool = GlobalMaxPool1d()
        self.out_features = c
        self.receptive_field = 1 + len(filters) * (kernel_size - 1)

    def forward(self, ids):
        ids = np.asarray(ids, np.int64)
        if ids.ndim != 2 or ids.shape[1] < self.receptive_field:
            raise ValueError(f"ids: expected (N, L) with L >= {self.receptive_field}, got shape {ids.shape}")
        x = self.embedding(ids)                        # (N, L, E)
        x = np.ascontiguousarray(x.transpose(0, 2, 1))  # (N, E, L)
        return self.pool(self.convs(x))

    def backward(self, grad_out):
        g = self.convs.backward(self.pool.backward(grad_out))
        self.embedding.backward(np.ascontiguousarray(g.transpose(0, 2, 1)))
        return None


class DeepDTA(Module):
    """Affinity (N,) of pairs (protein ids (N, Lp), drug ids (N, Ld)); see the module docstring."""

    def __init__(self, protein_vocab: int, drug_vocab: int, embed_dim: int = 32, protein_filters=(32, 64, 96),
                 drug_filters=(32, 64, 96), protein_kernel: int = 8, drug_kernel: int = 4, hidden=(256, 128),
                 dropout: float = 0.1):
        super().__init__()
        self.protein = SequenceCNN(protein_vocab, embed_dim, protein_filters, protein_kernel)
        self.drug = SequenceCNN(drug_vocab, embed_dim, drug_filters, drug_kernel)
        layers, c = [], self.protein.out_features + self.drug.out_features
        for h in hidden:
            layers += [Linear(c, h), ReLU()] + ([Dropout(dropout)] if dropout > 0 else [])
            c = h
        self.head = Sequential(*layers, Linear(c, 1))
        self._split = self.protein.out_features

    def forward(self, protein_ids, drug_ids):
        p, d = self.protein(protein_ids), self.drug(drug_ids)
        if len(p) != len(d):
            raise ValueError(f"drug_ids: expected {len(p)} rows (one per protein), got {len(d)}")
        return self.head(np.concatenate([p, d], axis=1))[:, 0]

    def backward(self, grad_out):
        g = self.head.backward(np.asarray(grad_out, np.float32).reshape(-1, 1))
        self.protein.backward(np.ascontiguousarray(g[:, :self._split]))
        self.drug.backward(np.ascontiguousarray(g[:, self._split:]))
        return None

    def predict(self, protein_ids, drug_ids, batch_size: int = 1024) -> np.ndarray:
        """Affinities in eval mode (the previous mode is restored), in batches."""
        was = self.training
        self.eval()
        try:
            return np.concatenate([self(protein_ids[i:i + batch_size], drug_ids[i:i + batch_size])
                                   for i in range(0, len(protein_ids), batch_size)])
        finally:
            self.train(was)


def concordance_index(y_true, y_pred) -> float:
    """The fraction of pairs (i, j) with y_true[i] > y_true[j] that the predictions order the same
    way (a tie in the prediction counts one half), as DeepDTA reports it."""
    y, p = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    num = den = 0.0
    for i in range(0, len(y), 512):  # blocks of rows: (512, n) at a time
        gt = y[i:i + 512, None] > y[None, :]
        dp = p[i:i + 512, None] - p[None, :]
        num += float((gt & (dp > 0)).sum()) + 0.5 * float((gt & (dp == 0)).sum())
        den += float(gt.sum())
    return num / den if den else 0.0
