"""Training-step benchmark cases: forward + cross-entropy + backward + Adam on an MLP and on
LeNet-5 (fastlayers.models.CNN), fastlayers against the same model (same weights, same batch)
in PyTorch CPU.

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


def cases(quick: bool = False) -> list[Case]:
    return [_mlp_case((784, 512, 512, 10), 256), _mlp_case((2, 8, 8, 2), 32), _lenet5_case(64)]
