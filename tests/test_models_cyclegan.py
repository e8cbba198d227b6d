"""models.CycleGAN: its generator and discriminator against torch.nn.Sequential twins loaded with
our state_dicts (outputs and gradients), one training step, bad input, and `fastlayers demo
cyclegan --quick` (label preserved by translation, cycle error, the `result` line)."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers
from fastlayers import optim
from fastlayers.cli import main
from fastlayers.models import CycleGAN

from helpers import assert_close


def _torch_twins(torch, width):
    tnn = torch.nn
    layers, c = [], 1
    for _ in range(3):
        layers += [tnn.Conv2d(c, width, 3, padding=1, padding_mode="reflect"), tnn.InstanceNorm2d(width), tnn.ReLU()]
        c = width
    g = tnn.Sequential(*layers, tnn.Conv2d(width, 1, 3, padding=1, padding_mode="reflect"), tnn.Tanh())
    d = tnn.Sequential(tnn.Conv2d(1, width, 4, stride=2, padding=1), tnn.LeakyReLU(0.2),
                       tnn.Conv2d(width, 2 * width, 4, stride=2, padding=1), tnn.InstanceNorm2d(2 * width),
                       tnn.LeakyReLU(0.2), tnn.Conv2d(2 * width, 1, 3, padding=1))
    return g.double(), d.double()


@pytest.mark.parametrize("part", ["g_ab", "d_b"])
def test_cyclegan_parts_match_torch(torch, rng, part):
    fastlayers.manual_seed(0)
    gan = CycleGAN(1, width=4, depth=3, disc_width=4)
    ours = getattr(gan, part)
    theirs = _torch_twins(torch, 4)[0 if part == "g_ab" else 1]
    theirs.load_state_dict({k: torch.tensor(v, dtype=torch.float64) for k, v in ours.state_dict().items()})
    x = rng.uniform(-1, 1, (3, 1, 8, 8)).astype(np.float32)
    y = ours(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    dx = ours.backward(g)
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ty = theirs(tx)
    (ty * torch.tensor(g, dtype=torch.float64)).sum().backward()
    assert_close(y, ty.detach().numpy(), rtol=1e-4, atol=1e-5, what=f"{part} output")
    assert_close(dx, tx.grad.numpy(), rtol=1e-3, atol=1e-4, what=f"{part} input grad")
    tgrads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad, tgrads[name].grad.numpy(), rtol=1e-3, atol=1e-4, what=f"{part}.{name}.grad")


def test_cyclegan_training_step_and_state_dict(rng):
    fastlayers.manual_seed(1)
    gan = CycleGAN(1, width=4, depth=2, disc_width=4)
    keys = list(gan.state_dict())
    assert keys[0] == "g_ab.0.weight" and any(k.startswith("d_b.") for k in keys)
    opt_g, opt_d = optim.Adam(gan.generators(), lr=1e-3), optim.Adam(gan.discriminators(), lr=1e-3)
    a, b = rng.uniform(-1, 1, (4, 1, 8, 8)).astype(np.float32), rng.uniform(-1, 1, (4, 1, 8, 8)).astype(np.float32)
    before = {k: v.copy() for k, v in gan.state_dict().items()}
    losses = gan.training_step(a, b, opt_g, opt_d)
    assert set(losses) == {"adv", "cycle", "identity", "disc"} and all(np.isfinite(v) for v in losses.values())
    after = gan.state_dict()
    assert all(not np.array_equal(before[k], after[k]) for k in keys if k.endswith("weight"))
    assert gan.translate(a, "ba").shape == a.shape and gan.training
    with pytest.raises(ValueError, match="direction"):
        gan.translate(a, "ca")


def test_demo_cyclegan_quick(capsys):
    pytest.importorskip("sklearn")
    assert main(["demo", "cyclegan", "--quick"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1].split()
    assert last[0] == "result" and last[1::2] == ["label_preserved", "cycle_error"]
    assert float(last[2]) >= 0.7 and float(last[4]) < 0.15
    assert main(["demo", "cyclegan", "--steps", "0"]) == 2
