"""CycleGAN (Zhu et al. 2017) for small single-channel images: two generators (A -> B, B -> A) and
two PatchGAN discriminators, trained with least-squares adversarial losses, the cycle-consistency
loss |G_BA(G_AB(a)) - a|_1 (and its mirror) and the identity loss |G_AB(b) - b|_1.

    gan = CycleGAN(channels=1, width=16)
    losses = gan.training_step(real_a, real_b, opt_g, opt_d)     # (N, C, H, W) in [-1, 1]
    fake_b = gan.g_ab.eval()(real_a)

The generator: Conv2d 3x3 + InstanceNorm2d + ReLU (x `depth`), then Conv2d 3x3 + Tanh, at full
resolution, its convolutions padded by reflection as the paper's (padding_mode='reflect'). The
discriminator: Conv2d 4x4 stride 2 + LeakyReLU(0.2), Conv2d 4x4
stride 2 + InstanceNorm2d + LeakyReLU(0.2), Conv2d 3x3 -> one score per patch (H/4 x W/4).
state_dict keys: g_ab.0.weight, g_ba.3.weight, d_a.0.bias, d_b.5.weight, ... (torch's names for
modules with those attributes).
"""
from __future__ import annotations

import numpy as np

from ..nn import Conv2d, InstanceNorm2d, LeakyReLU, Module, ReLU, Sequential, Tanh


def cycle_generator(channels: int = 1, width: int = 16, depth: int = 3) -> Sequential:
    """(N, channels, H, W) -> the same shape in [-1, 1] (any H, W)."""
    layers, c = [], channels
    for _ in range(depth):
        layers += [Conv2d(c, width, 3, padding=1, padding_mode="reflect"), InstanceNorm2d(width), ReLU()]
        c = width
    return Sequential(*layers, Conv2d(c, channels, 3, padding=1, padding_mode="reflect"), Tanh())


def patch_discriminator(channels: int = 1, width: int = 16) -> Sequential:
    """(N, channels, H, W) -> (N, 1, H/4, W/4) real-vs-fake scores (H, W multiples of 4)."""
    return Sequential(Conv2d(channels, width, 4, stride=2, padding=1), LeakyReLU(0.2),
                      Conv2d(width, 2 * width, 4, stride=2, padding=1), InstanceNorm2d(2 * width), LeakyReLU(0.2),
                      Conv2d(2 * width, 1, 3, padding=1))


def _l1(x, target):
    """mean |x - target| and its gradient with respect to x."""
    d = x - target
    return float(np.abs(d).mean()), (np.sign(d) / d.size).astype(np.float32)


def _ls(score, target: float):
    """Least-squares GAN loss mean (score - target)^2 and its gradient."""
    d = score - target
    return float((d * d).mean()), (2.0 * d / d.size).astype(np.float32)


class CycleGAN(Module):
    def __init__(self, channels: int = 1, width: int = 16, depth: int = 3, disc_width: int = 16,
                 lambda_cycle: float = 10.0, lambda_identity: float = 5.0):
        super().__init__()
        self.g_ab, self.g_ba = cycle_generator(channels, width, depth), cycle_generator(channels, width, depth)
        self.d_a, self.d_b = patch_discriminator(channels, disc_width), patch_discriminator(channels, disc_width)
        self.lambda_cycle, self.lambda_identity = float(lambda_cycle), float(lambda_identity)

    def generators(self):
        """The generators' parameters (for the generator optimiser)."""
        return [*self.g_ab.parameters(), *self.g_ba.parameters()]

    def discriminators(self):
        return [*self.d_a.parameters(), *self.d_b.parameters()]

    def forward(self, real_a):
        """A -> B."""
        return self.g_ab(real_a)

    def _translate_and_back(self, real, g, g_back, d_other) -> tuple:
        """One direction of the generator step: fake = g(real) fooling d_other, g_back(fake) ~ real;
        backward into g. Returns (fake, adversarial loss, cycle loss)."""
        fake = g(real)
        adv, g_score = _ls(d_other(fake), 1.0)
        d_fake = d_other.backward(g_score)
        cyc, g_rec = _l1(g_back(fake), real)
        d_fake += g_back.backward(self.lambda_cycle * g_rec)
        g.backward(d_fake, need_input_grad=False)
        return fake, adv, cyc

    def training_step(self, real_a, real_b, opt_g, opt_d) -> dict:
        """One generator step (opt_g over generators()) then one discriminator step (opt_d over
        discriminators()) on batches real_a, real_b (N, C, H, W) in [-1, 1]; returns the losses."""
        real_a, real_b = np.asarray(real_a, np.float32), np.asarray(real_b, np.float32)
        self.train()
        opt_g.zero_grad()
        fake_b, adv_ab, cyc_a = self._translate_and_back(real_a, self.g_ab, self.g_ba, self.d_b)
        fake_a, adv_ba, cyc_b = self._translate_and_back(real_b, self.g_ba, self.g_ab, self.d_a)
        idt = 0.0
        if self.lambda_identity > 0:
            for g, real in ((self.g_ab, real_b), (self.g_ba, real_a)):
                loss, grad = _l1(g(real), real)
                g.backward(self.lambda_identity * grad, need_input_grad=False)
                idt += loss
        opt_g.step()
        opt_d.zero_grad()  # drops what the generator step left in the discriminators' grads
        d_loss = 0.0
        for d, real, fake in ((self.d_b, real_b, fake_b), (self.d_a, real_a, fake_a)):
            for x, target in ((real, 1.0), (fake, 0.0)):
                loss, grad = _ls(d(x), target)
                d.backward(0.5 * grad, need_input_grad=False)
                d_loss += 0.5 * loss
        opt_d.step()
        return {"adv": adv_ab + adv_ba, "cycle": cyc_a + cyc_b, "identity": idt, "disc": d_loss}

    def translate(self, x, direction: str = "ab", batch_size: int = 512) -> np.ndarray:
        """x translated A -> B ("ab") or B -> A ("ba") in eval mode (the previous mode is restored)."""
        if direction not in ("ab", "ba"):
            raise ValueError(f"direction: expected 'ab' or 'ba', got {direction!r}")
        g = self.g_ab if direction == "ab" else self.g_ba
        was = self.training
        self.eval()
        try:
            return np.concatenate([g(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
        finally:
            self.train(was)
