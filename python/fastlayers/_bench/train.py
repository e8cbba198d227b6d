"""Training-step benchmark cases: forward + cross-entropy + backward + Adam on an MLP,
fastlayers against the same model (same weights, same batch) in PyTorch CPU.

FLOPs per step: 6 * batch * (sum of in*out over the Linear layers) (forward GEMMs, and two
backward GEMMs per layer); element-wise work and the optimizer are memory-bound extras.
The 2-8-8-2 case is overhead-bound: it measures the Python and binding cost of one step.
"""
from __future__ import annotations

import numpy as np

from .common import Case, rng, try_torch


def _step_pair(sizes, batch: int, seed: int = 0):
    """(ours_step, torch_step or None, flops) for an MLP with layer widths `sizes`."""
    import fastlayers
    from .. import nn, optim
    from ..models import MLP

    fastlayers.manual_seed(seed)
    r = rng(seed)
    x = r.standard_normal((batch, sizes[0]), dtype=np.float32)
    y = r.integers(0, sizes[-1], batch)
    model = MLP(sizes[0], tuple(sizes[1:-1]), sizes[-1])
    opt = optim.Adam(model.parameters(), lr=1e-4)
    crit = nn.CrossEntropyLoss()

    def ours():
        opt.zero_grad()
        crit(model(x), y)
        model.backward(crit.backward(), need_input_grad=False)  # the input is data, as in torch
        opt.step()

    torch = try_torch()
    theirs = None
    if torch:
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        tm = torch.nn.Sequential(*layers)
        tm.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
        topt = torch.optim.Adam(tm.parameters(), lr=1e-4)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def theirs():
            topt.zero_grad()
            torch.nn.functional.cross_entropy(tm(tx), ty).backward()
            topt.step()

    flops = 6.0 * batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return ours, theirs, flops


def cases(quick: bool = False) -> list[Case]:
    out = []
    for sizes, batch in (((784, 512, 512, 10), 256), ((2, 8, 8, 2), 32)):
        ours, theirs, flops = _step_pair(sizes, batch)
        name = "-".join(map(str, sizes))
        out.append(Case("train", f"train step MLP {name}", f"batch {batch}, Adam", ours, None, theirs, flops=flops,
                        note="forward + cross-entropy + backward + Adam"))
    return out
