"""GPT: a decoder-only, causal Transformer language model (GPT-2's layout) on fastlayers.nn.

    idx (B, T) token ids -> tok_emb (Embedding) -> pos_emb (LearnedPositionalEmbedding) -> drop
      -> blocks: n_layer nn.TransformerEncoderLayer(norm_first=True, activation="gelu",
         batch_first=True), each run with is_causal=True (pre-norm blocks, as GPT-2)
      -> ln_f (LayerNorm) -> head (Linear(n_embd, vocab_size, bias=False)) -> logits (B, T, vocab)

tie_weights=True (default) makes head.weight the very Parameter tok_emb.weight (so it is trained
once, counted once by parameters(), and appears under both names in state_dict, as PyTorch does).
Initialisation as GPT-2: weights N(0, 0.02^2), the projections into the residual stream
(self_attn.out_proj, linear2) N(0, (0.02 / sqrt(2 n_layer))^2), biases zero, LayerNorms (1, 0).

backward(grad_logits) accumulates every parameter's gradient and returns None (the input is
token ids). generate() samples a continuation, one token at a time, from the last block_size
tokens (no key/value cache: each step recomputes the window).
"""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .._random import default_generator
from ..nn import (Dropout, Embedding, LayerNorm, LearnedPositionalEmbedding, Linear, Module, ModuleList,
                  TransformerEncoderLayer)
from ..nn.linear import _features


class GPT(Module):
    def __init__(self, vocab_size: int, block_size: int, n_layer: int = 4, n_head: int = 4, n_embd: int = 256,
                 dim_feedforward=None, dropout: float = 0.0, tie_weights: bool = True, bias: bool = True):
        super().__init__()
        self.vocab_size = _features(vocab_size, "vocab_size")
        self.block_size = _features(block_size, "block_size")
        self.n_layer, self.n_head, self.n_embd = _features(n_layer, "n_layer"), n_head, _features(n_embd, "n_embd")
        ff = 4 * n_embd if dim_feedforward is None else dim_feedforward
        self.tok_emb = Embedding(self.vocab_size, n_embd)
        self.pos_emb = LearnedPositionalEmbedding(self.block_size, n_embd, batch_first=True)
        self.drop = Dropout(dropout)
        self.blocks = ModuleList(TransformerEncoderLayer(n_embd, n_head, ff, dropout, activation="gelu",
                                                         batch_first=True, norm_first=True, bias=bias)
                                 for _ in range(self.n_layer))
        self.ln_f = LayerNorm(n_embd, bias=bias)
        self.head = Linear(n_embd, self.vocab_size, bias=False)
        self.tie_weights = bool(tie_weights)
        self.reset_parameters()
        if self.tie_weights:
            self.head.weight = self.tok_emb.weight
        self._shape = None

    def reset_parameters(self) -> None:
        gen = default_generator()

        def normal(p, std):
            p.data[...] = gen.standard_normal(p.data.shape) * std

        normal(self.tok_emb.weight, 0.02)
        normal(self.pos_emb.weight, 0.02)
        normal(self.head.weight, 0.02)
        residual = 0.02 / math.sqrt(2 * self.n_layer)
        for block in self.blocks:
            normal(block.self_attn.in_proj_weight, 0.02)
            normal(block.self_attn.out_proj.weight, residual)
            normal(block.linear1.weight, 0.02)
            normal(block.linear2.weight, residual)
            for lin in (block.self_attn, block.self_attn.out_proj, block.linear1, block.linear2):
                for name in ("in_proj_bias", "bias"):
                    b = lin._parameters.get(name)
                    if b is not None:
                        b.data[...] = 0.0

    def forward(self, idx):
        idx = np.asarray(idx)
        if idx.ndim != 2:
            raise ValueError(f"idx: expected token ids of shape (B, T), got shape {idx.shape}")
        if idx.shape[1] > self.block_size:
            raise ValueError(f"idx: {idx.shape[1]} tokens exceed block_size {self.block_size}")
        x = self.drop(self.pos_emb(self.tok_emb(idx)))
        for block in self.blocks:
            x = block(x, is_causal=True)
        if self.training:
            self._shape = idx.shape
        return self.head(self.ln_f(x))

    def backward(self, grad_logits):
        """Accumulates the gradients of every parameter from dL/dlogits (B, T, vocab); returns None."""
        self._saved(self._shape, "forward state")
        g = self.ln_f.backward(self.head.backward(grad_logits))
        for block in reversed(list(self.blocks)):
            g = block.backward(g)
        self.tok_emb.backward(self.pos_emb.backward(self.drop.backward(g)))
        return None

    def clear_cache(self) -> None:
        self._shape = None

    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, top_k=None, rng=None) -> np.ndarray:
        """idx (B, T) followed by max_new_tokens sampled tokens, (B, T + max_new_tokens), in eval mode
        (the previous mode is restored). temperature scales the logits; top_k keeps the k likeliest."""
        rng = np.random.default_rng() if rng is None else rng
        out = np.array(idx, dtype=np.int64, ndmin=2)
        was = self.training
        self.eval()
        try:
            for _ in range(max_new_tokens):
                logits = self(out[:, -self.block_size:])[:, -1].astype(np.float64) / max(temperature, 1e-6)
                if top_k is not None and top_k < logits.shape[-1]:
                    kth = np.sort(logits, axis=-1)[:, -top_k][:, None]
                    logits = np.where(logits < kth, -np.inf, logits)
                p = F.softmax(logits.astype(np.float32), -1).astype(np.float64)
                nxt = [rng.choice(p.shape[-1], p=row / row.sum()) for row in p]
                out = np.concatenate([out, np.array(nxt, np.int64)[:, None]], axis=1)
        finally:
            self.train(was)
        return out

    def extra_repr(self) -> str:
        return (f"vocab_size={self.vocab_size}, block_size={self.block_size}, n_layer={self.n_layer}, "
                f"n_head={self.n_head}, n_embd={self.n_embd}, tie_weights={self.tie_weights}")
