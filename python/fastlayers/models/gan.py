"""DCGAN (Radford et al. 2016): a generator of ConvTranspose2d + BatchNorm2d + ReLU stages ending
in Tanh, a discriminator of strided Conv2d + LeakyReLU(0.2) stages ending in one logit.

For image_size = 4 * 2**k the generator maps z (N, nz) or (N, nz, 1, 1) to images
(N, channels, image_size, image_size) in [-1, 1]: a 4x4 ConvTranspose2d (nz -> ngf * 2**(k-1),
4x4 map), k - 1 stride-2 ConvTranspose2d stages halving the channels, then a stride-2
ConvTranspose2d to ``channels`` and Tanh. The discriminator mirrors it: k stride-2 Conv2d
stages (ndf, 2 ndf, ...) down to 4x4, then a 4x4 Conv2d to one logit per image, (N, 1).
``extra_layers`` adds that many 3x3 stride-1 stages at the largest hidden resolution of each
(the original code's n_extra_layers). No convolution has a bias where a BatchNorm2d follows.

Both are Sequentials, so state_dict keys are those of the equivalent torch.nn.Sequential
(0.weight, 1.weight, 1.bias, 1.running_mean, ...); DCGAN holds the two as ``generator`` and
``discriminator`` (keys generator.0.weight, ..., discriminator.0.weight, ...). ``init_weights``
draws DCGAN's N(0, 0.02) convolution weights and N(1, 0.02) norm scales.
"""
from __future__ import annotations

import numpy as np

from .._backend import operand
from .._random import default_generator
from ..nn import (BatchNorm2d, Conv2d, ConvTranspose2d, Flatten, LeakyReLU, Module, ReLU, Sequential, Tanh)


def _stages(image_size) -> int:
    """k with image_size = 4 * 2**k, k >= 1."""
    k = 1
    if not isinstance(image_size, bool) and isinstance(image_size, (int, np.integer)):
        while 4 * 2 ** k < image_size:
            k += 1
        if image_size == 4 * 2 ** k:
            return k
    raise ValueError(f"image_size: expected 4 * 2**k for some k >= 1 (8, 16, 32, 64, ...), got {image_size!r}")


def _positive(v, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name}: expected a positive integer, got {v!r}")
    return int(v)


def _extra(v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise ValueError(f"extra_layers: expected a non-negative integer, got {v!r}")
    return int(v)


def init_weights(model: Module, std: float = 0.02) -> Module:
    """DCGAN's initialisation, in place: convolution weights N(0, std), BatchNorm2d scales
    N(1, std) and shifts 0 (from fastlayers' generator). Returns the model."""
    rng = default_generator()
    for m in model.modules():
        if isinstance(m, (Conv2d, ConvTranspose2d)):
            m.weight.data[...] = rng.normal(0.0, std, m.weight.shape)
            if m.bias is not None:
                m.bias.data[...] = 0.0
        elif isinstance(m, BatchNorm2d) and m.weight is not None:
            m.weight.data[...] = rng.normal(1.0, std, m.weight.shape)
            m.bias.data[...] = 0.0
    return model


class Generator(Sequential):
    """z (N, nz) or (N, nz, 1, 1) -> images (N, channels, image_size, image_size) in [-1, 1]."""

    def __init__(self, nz: int = 32, ngf: int = 32, channels: int = 1, image_size: int = 8, extra_layers: int = 0):
        nz, ngf, channels = _positive(nz, "nz"), _positive(ngf, "ngf"), _positive(channels, "channels")
        k, extra = _stages(image_size), _extra(extra_layers)
        c = ngf * 2 ** (k - 1)
        layers = [ConvTranspose2d(nz, c, 4, 1, 0, bias=False), BatchNorm2d(c), ReLU()]
        for _ in range(k - 1):
            layers += [ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), BatchNorm2d(c // 2), ReLU()]
            c //= 2
        for _ in range(extra):
            layers += [ConvTranspose2d(c, c, 3, 1, 1, bias=False), BatchNorm2d(c), ReLU()]
        layers += [ConvTranspose2d(c, channels, 4, 2, 1, bias=False), Tanh()]
        super().__init__(*layers)
        self.nz, self.ngf, self.channels, self.image_size, self.extra_layers = nz, ngf, channels, image_size, extra

    def forward(self, z):
        z = operand(z, "z")
        shape = tuple(z.shape)
        if len(shape) == 2 and shape[1] == self.nz:
            z = z.reshape(shape[0], self.nz, 1, 1)
        elif len(shape) != 4 or tuple(shape[1:]) != (self.nz, 1, 1):
            raise ValueError(f"Generator: expected z of shape (N, {self.nz}) or (N, {self.nz}, 1, 1), got {shape}")
        return super().forward(z)

    def backward(self, grad_out, need_input_grad: bool = False):
        """Accumulates the parameter gradients; dL/dz (N, nz, 1, 1) only when need_input_grad."""
        return super().backward(grad_out, need_input_grad=need_input_grad)

    def sample(self, n: int, seed=None):
        """(z (n, nz), images) for n latents drawn from N(0, 1), in eval mode (the mode is restored)."""
        rng = default_generator() if seed is None else np.random.default_rng(seed)
        z = rng.standard_normal((int(n), self.nz)).astype(np.float32)
        return z, self.generate(z)

    def generate(self, z, batch_size: int = 1000):
        """Images for the latents z (N, nz), in eval mode (the running BatchNorm statistics), batched."""
        was = self.training
        self.eval()
        try:
            out = [self(z[i:i + batch_size]) for i in range(0, len(z), batch_size)]
        finally:
            self.train(was)
        size = (0, self.channels, self.image_size, self.image_size)
        return np.concatenate(out) if out else np.empty(size, np.float32)

    def extra_repr(self) -> str:
        return (f"nz={self.nz}, ngf={self.ngf}, channels={self.channels}, image_size={self.image_size}, "
                f"extra_layers={self.extra_layers}")


class Discriminator(Sequential):
    """images (N, channels, image_size, image_size) -> logits (N, 1) (real > 0)."""

    def __init__(self, ndf: int = 32, channels: int = 1, image_size: int = 8, extra_layers: int = 0,
                 negative_slope: float = 0.2):
        ndf, channels = _positive(ndf, "ndf"), _positive(channels, "channels")
        k, extra = _stages(image_size), _extra(extra_layers)
        layers, c = [Conv2d(channels, ndf, 4, 2, 1), LeakyReLU(negative_slope)], ndf
        for _ in range(extra):
            layers += [Conv2d(c, c, 3, 1, 1), LeakyReLU(negative_slope)]
        for _ in range(k - 1):
            layers += [Conv2d(c, 2 * c, 4, 2, 1), LeakyReLU(negative_slope)]
            c *= 2
        layers += [Conv2d(c, 1, 4, 1, 0), Flatten()]
        super().__init__(*layers)
        self.ndf, self.channels, self.image_size, self.extra_layers = ndf, channels, image_size, extra
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        shape = np.shape(x)
        want = (self.channels, self.image_size, self.image_size)
        if len(shape) != 4 or tuple(shape[1:]) != want:
            raise ValueError(f"Discriminator: expected images of shape (N, {', '.join(map(str, want))}), got {shape}")
        return super().forward(x)

    def extra_repr(self) -> str:
        return f"ndf={self.ndf}, channels={self.channels}, image_size={self.image_size}, extra_layers={self.extra_layers}"


class DCGAN(Module):
    """The pair, as attributes ``generator`` and ``discriminator`` (one state_dict for both).
    Training is the caller's: see ``fastlayers demo gan`` (fastlayers.demo.gan) for the loop."""

    def __init__(self, nz: int = 32, ngf: int = 32, ndf: int = 32, channels: int = 1, image_size: int = 8,
                 extra_layers: int = 0):
        super().__init__()
        self.generator = Generator(nz, ngf, channels, image_size, extra_layers)
        self.discriminator = Discriminator(ndf, channels, image_size, extra_layers)

    def forward(self, z):
        """D(G(z)): the discriminator's logits for generated images."""
        return self.discriminator(self.generator(z))

    def backward(self, grad_out):
        """Through D into G: accumulates both models' gradients (zero D's before its own step)."""
        return self.generator.backward(self.discriminator.backward(grad_out))
