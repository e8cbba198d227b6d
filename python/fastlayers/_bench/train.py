"""Training-step benchmark cases: forward + cross-entropy + backward + Adam on an MLP and on
LeNet-5 (fastlayers.models.CNN), and + AdamW on GPT-mini (models.GPT: 4 layers, width 256, T 128,
batch 16), fastlayers against the same model (same weights, same batch) in PyTorch CPU.

FLOPs per step: 6 * batch * (multiply-adds of the Linear and Conv2d layers per sample) (the
forward product, and two backward products per layer); element-wise work, pooling and the
optimizer are memory-bound extras. The 2-8-8-2 case is overhead-bound: it measures the Python
and binding cost of one step.
"""
from __future__ import annotations

import numpy as np

from .common import Case, rng, try_torch


def _macs(model, x1) -> int:
    """Multiply-adds per sample of model's Linear and Conv2d layers (one eval pass over x1, a batch of 1)."""
    from .. import nn
    macs = 0
    model.eval()
    for m in model:
        y = m(x1)
        if isinstance(m, nn.Linear):
            macs += m.in_features * m.out_features
        elif isinstance(m, nn.Conv2d):
            macs += y.size * int(np.prod(m.weight.shape[1:]))
        x1 = y
    model.train()
    return macs


def _step_pair(model, torch_model, x, y):
    """(ours_step, torch_step or None, flops): one Adam step of model and of torch_model(torch)
    (a torch.nn.Sequential built by the caller and loaded with model's state_dict)."""
    from .. import nn, optim
    opt = optim.Adam(model.parameters(), lr=1e-4)
    crit = nn.CrossEntropyLoss()

    def ours():
        opt.zero_grad()
        crit(model(x), y)
        model.backward(crit.backward(), need_input_grad=False)  # the input is data, as in torch
        opt.step()

    flops = 6.0 * len(x) * _macs(model, x[:1])
    torch = try_torch()
    if not torch:
        return ours, None, flops
    tm = torch_model(torch)
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    topt = torch.optim.Adam(tm.parameters(), lr=1e-4)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def theirs():
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tm(tx), ty).backward()
        topt.step()

    return ours, theirs, flops


def _mlp_case(sizes, batch: int, seed: int = 0) -> Case:
    import fastlayers
    from ..models import MLP

    fastlayers.manual_seed(seed)
    r = rng(seed)
    x = r.standard_normal((batch, sizes[0]), dtype=np.float32)
    y = r.integers(0, sizes[-1], batch)
    model = MLP(sizes[0], tuple(sizes[1:-1]), sizes[-1])

    def torch_model(torch):
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        return torch.nn.Sequential(*layers)

    ours, theirs, flops = _step_pair(model, torch_model, x, y)
    return Case("train", f"train step MLP {'-'.join(map(str, sizes))}", f"batch {batch}, Adam", ours, None, theirs,
                flops=flops, note="forward + cross-entropy + backward + Adam")


def _lenet5_case(batch: int, seed: int = 0) -> Case:
    """LeNet-5 on 28x28 (ReLU, max pooling): conv 6@5x5 pad 2, pool, conv 16@5x5, pool, 120, 84, 10."""
    import fastlayers
    from ..models import CNN

    fastlayers.manual_seed(seed)
    r = rng(seed)
    x = r.random((batch, 1, 28, 28), dtype=np.float32)
    y = r.integers(0, 10, batch)
    model = CNN(1, 10, 28, channels=(6, 16), kernel_size=5, padding=(2, 0), hidden=(120, 84))
    ours, theirs, flops = _step_pair(model, lambda torch: model.to_torch(), x, y)
    return Case("train", "train step LeNet-5 28x28", f"batch {batch}, Adam", ours, None, theirs, flops=flops,
                note="forward + cross-entropy + backward + Adam")


def _gpt_case(n_layer: int, width: int, T: int, batch: int, vocab: int = 96, seed: int = 0) -> Case:
    """models.GPT (pre-norm, GELU, tied head, causal) against the same network built from
    torch.nn.TransformerEncoderLayer (the causal mask passed with is_causal=True: PyTorch's SDPA)."""
    import fastlayers
    from .. import nn, optim
    from ..models import GPT

    fastlayers.manual_seed(seed)
    r = rng(seed)
    idx = r.integers(0, vocab, (batch, T))
    tgt = r.integers(0, vocab, batch * T)
    model = GPT(vocab, T, n_layer=n_layer, n_head=max(width // 64, 1), n_embd=width)
    opt = optim.AdamW(model.parameters(), lr=1e-4)
    crit = nn.CrossEntropyLoss()

    def ours():
        opt.zero_grad()
        crit(model(idx).reshape(batch * T, vocab), tgt)
        model.backward(crit.backward().reshape(batch, T, vocab))
        opt.step()

    # per token: 6 multiply-add passes (forward 2 FLOPs, backward 4) over the blocks' and the head's
    # weights, plus attention's 4 T D (forward) + 8 T D (backward) per layer, halved by the mask
    weights = n_layer * 12 * width * width + width * vocab
    flops = batch * T * (6.0 * weights + n_layer * 12.0 * width * (T + 1) / 2)
    torch = try_torch()
    theirs = None
    if torch:
        tm = _torch_gpt(torch, model, vocab, T, n_layer, width)
        topt = torch.optim.AdamW(tm.parameters(), lr=1e-4)
        tidx, ttgt = torch.from_numpy(idx), torch.from_numpy(tgt)

        def theirs():
            topt.zero_grad()
            torch.nn.functional.cross_entropy(tm(tidx).reshape(batch * T, vocab), ttgt).backward()
            topt.step()

    return Case("train", f"train step GPT {n_layer}x{width}", f"T {T}, batch {batch}, vocab {vocab}, AdamW", ours,
                None, theirs, flops=flops, note="forward + cross-entropy + backward + AdamW")


def _torch_gpt(torch, model, vocab: int, T: int, n_layer: int, width: int):
    class TorchGPT(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tok_emb = torch.nn.Embedding(vocab, width)
            self.pos_emb = torch.nn.Module()
            self.pos_emb.weight = torch.nn.Parameter(torch.zeros(T, width))
            self.blocks = torch.nn.ModuleList(
                torch.nn.TransformerEncoderLayer(width, model.n_head, 4 * width, 0.0, activation="gelu",
                                                 batch_first=True, norm_first=True) for _ in range(n_layer))
            self.ln_f = torch.nn.LayerNorm(width)
            self.head = torch.nn.Linear(width, vocab, bias=False)
            self.head.weight = self.tok_emb.weight
            self.register_buffer("mask", torch.nn.Transformer.generate_square_subsequent_mask(T))

        def forward(self, idx):
            n = idx.shape[1]
            x = self.tok_emb(idx) + self.pos_emb.weight[:n]
            for b in self.blocks:
                x = b(x, src_mask=self.mask[:n, :n], is_causal=True)
            return self.head(self.ln_f(x))

    tm = TorchGPT()
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()}, strict=False)
    return tm


def cases(quick: bool = False) -> list[Case]:
    gpt = _gpt_case(2, 128, 64, 8) if quick else _gpt_case(4, 256, 128, 16)
    return [_mlp_case((784, 512, 512, 10), 256), _mlp_case((2, 8, 8, 2), 32), _lenet5_case(64), gpt]
